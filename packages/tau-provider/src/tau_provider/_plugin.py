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
