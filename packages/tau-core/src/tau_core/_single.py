"""One tool call outside a run, decided and executed exactly as the loop would.

:func:`call_tool` reuses the loop's tool phase: the arguments are checked against the tool's
schema, the tool lists the capabilities the call needs, core decides against the authority
(fail closed; ``ask`` uses the approver), granted secrets are resolved, the ``tau_tool_call``
wrappers run, the per-tool timeout applies, and injected secrets are redacted from the result.
Nothing is journaled: there is no run to journal it in. ``tau tools call`` is built on it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from attrs import frozen

from ._authority import Authority, PolicyDecision
from ._events import Event
from ._messages import ToolCall, ToolResult
from ._outcome import Task, ToolCallRecord
from ._runstate import Approver, RunSetup, Stop
from ._serialization import to_dict
from ._toolphase import ToolPhase
from .errors import UsageError

__all__ = ["SingleCall", "call_tool"]


@frozen
class SingleCall:
    """What happened to one tool call.

    Attributes:
        result: The tool's result, or None when the call was not run.
        decision: The authority's decision (None when the call was malformed or unknown).
        stopped: Why the call was stopped before running (a blocked reason code), else None.
        message: A readable explanation when stopped.
    """

    result: ToolResult | None
    decision: PolicyDecision | None
    stopped: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.error is None

    def to_dict(self) -> dict[str, Any]:
        """``{"ok", "content", "error": {code, message, hint} | None, "decision"}``."""
        error: dict[str, Any] | None = None
        if self.result is not None and self.result.error is not None:
            error = to_dict(self.result.error)
        elif self.result is None:
            decision = self.decision
            error = {
                "code": self.stopped or "not_run",
                "message": self.message,
                "hint": f"the grant {decision.needed_grant} would allow it"
                if decision is not None and decision.needed_grant
                else "",
            }
        return {
            "ok": self.ok,
            "content": self.result.content if self.result is not None else None,
            "error": error,
            "decision": to_dict(self.decision) if self.decision is not None else None,
            "metadata": dict(self.result.metadata) if self.result is not None else {},
        }


class _OneCall(ToolPhase):
    """The loop's tool phase with an in-memory record instead of a journal."""

    def __init__(self, setup: RunSetup) -> None:
        self.s = setup
        self.workdir = Path(setup.task.workdir)
        self.recorded: dict[str, Event] = {}
        self.messages = []
        self.decisions: list[PolicyDecision] = []
        self.records: list[ToolCallRecord] = []
        self.notes: list[dict[str, Any]] = []
        self.tool_calls_made = 0
        self.durations = {"model": 0.0, "tools": 0.0, "verifier": 0.0}
        self._protected: list[Path] = []
        self.run_context = None
        self._audits = 0

    def _audit(self, kind: str, data: dict[str, Any]) -> None:
        self._audits += 1
        self.record(kind, f"audit:0:{self._audits}", self.s.redactor.obj(data))

    def record(
        self,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        durable: bool = False,
        commit: bool = True,
    ) -> None:
        self.recorded[key] = Event(self.s.run_id, len(self.recorded) + 1, kind, key, data, 0.0)

    async def activity(
        self,
        key: str,
        kind: str,
        fn: Callable[[], Awaitable[dict[str, Any]]],
        *,
        durable: bool = False,
    ) -> dict[str, Any]:
        try:
            data = await fn()
        except Stop as stop:
            data = stop.to_data()
        if "stop" in data:
            raise Stop.from_data(data)
        return data

    async def _check_wall(self, key: str) -> None:
        return None

    def _elapsed(self) -> float:
        return 0.0


async def acall_tool(
    name: str,
    arguments: Mapping[str, Any],
    *,
    authority: Authority,
    workdir: str | Path = ".",
    plugins: Any = None,
    approver: Approver | None = None,
    timeout: float = 120.0,
) -> SingleCall:
    """Decide and run one call of tool *name* (async). See the module docs.

    Raises:
        UsageError: No tool *name* is registered, or *workdir* is not a directory.
    """
    if plugins is None:
        from ._plugins import get_plugin_manager

        plugins = get_plugin_manager()
    wd = Path(workdir).expanduser().resolve()
    if not wd.is_dir():
        raise UsageError(f"working directory {str(wd)!r} does not exist or is not a directory")
    tool = plugins.registries["tools"].load(name)()
    setup = RunSetup(
        run_id=f"tool-call-{uuid.uuid4().hex[:12]}",
        task=Task(goal=f"tool call {name}", workdir=str(wd)),
        authority=authority,
        routes=[],
        verifier_name=None,
        verifier=None,
        unverified=True,
        tools={tool.spec.name: tool},
        manager=plugins,
        journal=None,  # type: ignore[arg-type]
        approver=approver,
        tool_timeout=timeout,
    )
    phase = _OneCall(setup)
    call = ToolCall("call_1", tool.spec.name, dict(arguments))
    try:
        phase._start_plugins()
    except Stop as stop:
        return SingleCall(None, None, stop.reason, stop.summary)
    try:
        _, _, decision, pre, secrets = await phase._plan(call, 0)
    except Stop as stop:
        decision = phase.decisions[-1] if phase.decisions else None
        return SingleCall(None, decision, stop.reason, stop.summary)
    semaphore = asyncio.Semaphore(1)
    result, _ = await phase._execute(0, call, tool, decision, pre, secrets, semaphore)
    return SingleCall(result, decision)


def call_tool(name: str, arguments: Mapping[str, Any], **options: Any) -> SingleCall:
    """Decide and run one call of tool *name* (sync; also inside a running loop)."""
    from ._run import run_sync

    return run_sync(acall_tool(name, arguments, **options))
