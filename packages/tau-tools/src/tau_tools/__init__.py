"""Tau's tools and built-in verifiers, behind tau-core's tool and verifier contracts.

Tools: ``read``, ``write``, ``edit``, ``write_many``, ``edit_many``, ``apply_patch``, ``ls``,
``glob``, ``grep``, ``shell`` (sandboxed), ``http`` (SSRF-safe) and ``git``. Verifiers:
``command``, ``pytest`` and ``red_green``. They are registered by name with lazy factories in
:mod:`tau_tools._plugin` (the ``tools`` entry point of the ``tau.plugins`` group), so importing
this package loads none of them; use them through :class:`tau_core.Agent`, ``tau run`` or
``tau tools call``. See ``docs/tools.md``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
