"""tau-memory's module in the ``tau.plugins`` entry-point group.

Tau's plugin manager imports this module every time it loads plugins, so it stays import-light:
it never opens SQLite or loads an embedder. Memory backends, embedders and the ``memory_*``
tools will be registered here by name with lazy factories through
``tau_register_memory_backends``, ``tau_register_embedders`` and ``tau_register_tools``.

This release implements no hook: it declares the plugin API it speaks, loads cleanly and
registers nothing. The memory features arrive in a later release.
"""

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""
