"""OpenRouter, and any OpenAI-compatible server as a named endpoint in config.

A named endpoint (Ollama, vLLM, llama.cpp server, LM Studio, a company gateway)::

    [providers.ollama]
    kind = "openai-compatible"
    base_url = "http://localhost:11434/v1"   # or OLLAMA_BASE_URL; known local names have defaults
    credential = "ollama"                    # optional: no key is sent without one
    api = "chat"                             # or "responses" where the server has it
    max_tokens_field = "max_tokens"          # the default here; "max_completion_tokens" for OpenAI

is used as ``--model ollama:llama3.2`` once ``compatible_factory("ollama")`` is registered under
that name. With ``credential`` set (or ``api_key``), the key comes from the option, then the
``NAME_API_KEY`` environment variable (``env_var`` overrides the name), then the credential store.

OpenRouter (``openrouter:anthropic/claude-sonnet-4.5``) is a compatible endpoint with its own
defaults: ``https://openrouter.ai/api/v1``, ``OPENROUTER_API_KEY``, its attribution headers
(``HTTP-Referer`` from ``site_url``, ``X-Title`` from ``app_name``, default ``Tau``) and usage
accounting (``usage.include``), so each response carries its real cost. Its errors arrive as
``{"error": {"code": 402, "message": …, "metadata": …}}``, both as HTTP error bodies and
inside a 200 stream; the integer code is read as the HTTP status (402 and 400 are final, 429
and 5xx are retried or fall back).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from tau_core.errors import ConfigError, UsageError

from ._openai import (
    OpenAIStyleProvider,
    build_endpoint,
    make_provider,
    model_options,
    provider_options,
)

__all__ = ["KNOWN_LOCAL_BASE_URLS", "compatible_factory", "openrouter_factory"]

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"

KNOWN_LOCAL_BASE_URLS = {
    "ollama": "http://localhost:11434/v1",
    "lmstudio": "http://localhost:1234/v1",
    "vllm": "http://localhost:8000/v1",
    "llamacpp": "http://localhost:8080/v1",
}
"""Default base URLs for endpoints named after well-known local servers."""


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def openrouter_factory(model: str, config: Any = None) -> OpenAIStyleProvider:
    """The ``openrouter`` provider (Chat Completions through OpenRouter).

    Options (``[providers.openrouter]``): ``api_key``, ``base_url``, ``site_url`` and
    ``app_name`` (attribution), ``price`` (overrides the cost OpenRouter reports),
    ``extra_body`` (e.g. ``provider = {order = [...]}`` routing), and the common timeouts
    and retry settings.

    Raises:
        CredentialError: No key in the options, ``OPENROUTER_API_KEY`` or the credential store.
    """
    if not model:
        raise UsageError(
            "the openrouter provider needs a model name, e.g. --model openrouter:openai/gpt-4.1"
        )
    options = model_options(provider_options(config, "openrouter"), model)
    headers = {"X-Title": str(options.get("app_name", "Tau"))}
    site = options.get("site_url") or os.environ.get("OPENROUTER_SITE_URL")
    if site:
        headers["HTTP-Referer"] = str(site)
    endpoint = build_endpoint(
        "openrouter",
        options,
        config=config,
        credential=str(options.get("credential", "openrouter")),
        env_key="OPENROUTER_API_KEY",
        env_base="OPENROUTER_BASE_URL",
        default_base=OPENROUTER_BASE_URL,
        headers=headers,
        max_tokens_field="max_tokens",
        extra_body={"usage": {"include": True}},
    )
    return make_provider("openrouter", model, endpoint, options.get("api", "chat"), options)


def compatible_factory(name: str) -> Callable[..., OpenAIStyleProvider]:
    """The provider factory for the named endpoint ``[providers.NAME]``.

    Args:
        name: The endpoint's name, as in the config table and the model spec.

    Returns:
        ``factory(model, config=None)``, as the provider registry calls it.
    """

    def factory(model: str, config: Any = None) -> OpenAIStyleProvider:
        if not model:
            raise UsageError(f"the {name} provider needs a model name: --model {name}:MODEL")
        options = model_options(provider_options(config, name), model)
        kind = options.get("kind", "openai-compatible")
        if kind != "openai-compatible":
            raise ConfigError(
                f'is {kind!r}; this endpoint needs kind = "openai-compatible"',
                key=f"providers.{name}.kind",
            )
        env = _env_name(name)
        credential = options.get("credential")
        env_var = options.get("env_var") or (
            f"{_env_name(str(credential))}_API_KEY" if credential else f"{env}_API_KEY"
        )
        endpoint = build_endpoint(
            name,
            options,
            config=config,
            credential=str(credential or name),
            env_key=str(env_var),
            env_base=f"{env}_BASE_URL",
            default_base=KNOWN_LOCAL_BASE_URLS.get(name),
            key_required=bool(credential),
            max_tokens_field="max_tokens",
        )
        return make_provider(name, model, endpoint, options.get("api", "chat"), options)

    factory.__name__ = f"compatible_factory_{_env_name(name).lower()}"
    factory.__qualname__ = factory.__name__
    return factory
