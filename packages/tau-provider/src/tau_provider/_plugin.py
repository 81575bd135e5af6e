"""tau-provider's module in the ``tau.plugins`` entry-point group.

Tau's plugin manager imports this module every time it loads plugins, so it stays import-light:
it never imports httpx or a vendor SDK. Providers will be registered here by name with lazy
factories (``"tau_provider.openai:OpenAIProvider"``) through ``tau_register_providers``.

This release implements no hook: it declares the plugin API it speaks, loads cleanly and
registers nothing. The providers arrive in a later release.
"""

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""
