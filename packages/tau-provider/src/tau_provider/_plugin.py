"""tau-provider's plugin: registers the model providers by name with lazy factories.

Tau's plugin manager imports this module every time plugins load, so it stays import-light: it
never imports httpx or a vendor SDK. Named OpenAI-compatible endpoints come from the config
(``[providers.NAME] kind = "openai-compatible"``, ``base_url``, ``credential``) and are
registered under their own names.
"""

from __future__ import annotations

from typing import Any

from tau_core import hookimpl

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""

_PROVIDERS = {
    "openai": (
        "tau_provider._openai:openai_factory",
        'OpenAI: Chat Completions, or the Responses API with api = "responses"',
    ),
    "anthropic": ("tau_provider._anthropic:anthropic_factory", "Anthropic Messages API"),
    "gemini": ("tau_provider._gemini:gemini_factory", "Google Gemini generateContent"),
    "openrouter": ("tau_provider._compatible:openrouter_factory", "OpenRouter"),
    "local": (
        "tau_provider._local:local_factory",
        "a GGUF model in-process through llama-cpp-python (local:smollm2, local:/path.gguf)",
    ),
}


def _named_endpoint(name: str) -> Any:
    def factory(model: str, config: Any = None) -> Any:
        from ._compatible import compatible_factory

        return compatible_factory(name)(model, config=config)

    return factory


@hookimpl
def tau_register_providers(registry: Any) -> None:
    for name, (factory, help_text) in _PROVIDERS.items():
        registry.register(name, factory, help=help_text)
    from tau_core._config import load_config
    from tau_core.errors import ConfigError

    try:
        tables = load_config().get("providers", {}) or {}
    except ConfigError:
        return  # the config error is reported where the config is used
    for name, table in sorted(tables.items()):
        if name in _PROVIDERS or not isinstance(table, dict):
            continue
        if table.get("kind") == "openai-compatible":
            where = table.get("base_url", "")
            registry.register(
                name, _named_endpoint(name), help=f"OpenAI-compatible endpoint {where}".rstrip()
            )


# -- cassettes (TAU_CASSETTE=record|replay, tau_provider.testing) ---------------------------------
# Recording wraps the provider call; replaying answers it. A pluggy wrapper must yield, and the
# yield runs core's innermost implementation, which reads ``context.client``; so replay is a
# plain ``tryfirst`` implementation of the firstresult hook: its answer ends the call before
# the innermost one (and its client) is reached, while every wrapper still wraps it.


@hookimpl(wrapper=True, trylast=True)
def tau_model_request(context: Any) -> Any:
    """Record mode: append what the provider answered to the cassette. Otherwise pass through.

    ``trylast`` makes it the innermost wrapper, so it records the request as other wrappers
    left it and the response before they post-process it.
    """
    from ._cassette import active_cassette

    cassette = active_cassette()
    if cassette is None or cassette.mode != "record":
        return (yield)
    inner = yield
    return cassette.recording(context, inner)


@hookimpl(specname="tau_model_request", tryfirst=True)
def _replay_model_request(context: Any) -> Any:
    """Replay mode: answer from the cassette without calling the provider; otherwise None."""
    from ._cassette import active_cassette

    cassette = active_cassette()
    if cassette is None or cassette.mode != "replay":
        return None
    return cassette.replaying(context)
