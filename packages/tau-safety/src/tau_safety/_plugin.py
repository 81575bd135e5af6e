"""tau-safety's module in the ``tau.plugins`` entry-point group.

Tau's plugin manager imports this module every time it loads plugins, so it stays
import-light: the scanner, the detector and the rails load when a run starts.

* ``tau_run_start`` sets the run up (:func:`tau_safety._guard.start_run`): the credential
  store's values and the pattern filter join the run's redactor, which core applies at every
  sink.
* ``tau_tool_call`` checks the rails before a call runs, then scans its result for secrets and
  injected instructions and marks untrusted content.
* ``tau_model_request`` redacts secrets from what is sent to the provider and scans inbound
  messages.
* ``tau_register_commands`` adds ``tau safety scan`` and ``tau audit``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from tau_core import hookimpl

TAU_PLUGIN_API = 1
"""The ``tau_core.PLUGIN_API`` version this plugin speaks."""


@hookimpl
def tau_register_commands(registry: Any) -> None:
    registry.register(
        "safety",
        "tau_safety._cli:SafetyCommand",
        help="scan files or standard input for secrets (tau safety scan)",
    )
    registry.register(
        "audit",
        "tau_safety._cli:AuditCommand",
        help="verify a run's audit chain or list its entries",
    )


@hookimpl
def tau_run_start(run: Any) -> None:
    from ._guard import start_run

    start_run(run)


def _guard(context: Any) -> Any:
    from ._guard import STATE_KEY

    run = getattr(context, "run", None)
    return None if run is None else run.state.get(STATE_KEY)


@hookimpl(wrapper=True)
def tau_tool_call(context: Any) -> Generator[None, Any, Any]:
    guard = _guard(context)
    inner = yield
    if guard is None:
        return inner
    return guard.tool_call(context, inner)


@hookimpl(wrapper=True)
def tau_model_request(context: Any) -> Generator[None, Any, Any]:
    guard = _guard(context)
    if guard is not None:
        guard.prepare_request(context)
    return (yield)
