"""tau-safety's module in the ``tau.plugins`` entry-point group.

Tau's plugin manager imports this module every time it loads plugins, so it stays import-light.
Redaction and injection checks will plug in here as wrapper hooks around ``tau_tool_call`` and
``tau_model_request``, and the audit chain as a ``tau_event`` observer.

This release implements no hook: it declares the plugin API it speaks, loads cleanly and
changes nothing about a run. The safety features arrive in a later release.
"""

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""
