"""tau-tools' module in the ``tau.plugins`` entry-point group.

Tau's plugin manager imports this module every time it loads plugins, so it stays import-light:
it never imports httpx or starts a subprocess. Tools and verifiers will be registered here by
name with lazy factories through ``tau_register_tools`` and ``tau_register_verifiers``.

This release implements no hook: it declares the plugin API it speaks, loads cleanly and
registers nothing. The tools and verifiers arrive in a later release.
"""

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""
