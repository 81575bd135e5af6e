"""The pieces of one run that the loop and the agent share: its setup, model routes, and the
control-flow signal that ends it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from attrs import define, field

from ._authority import Authority, PolicyDecision
from ._messages import ToolCall
from ._outcome import Outcome, PluginProblem, Task
from ._redact import Redactor
from ._serialization import dumps, from_dict, to_dict

if TYPE_CHECKING:
    from ._journal import Journal
    from ._plugins import PluginManager

__all__ = ["DEFAULT_SYSTEM", "Approver", "Route", "RunSetup", "Stop", "json_copy"]

Approver = Callable[[ToolCall, PolicyDecision], "bool | Awaitable[bool]"]

DEFAULT_SYSTEM = (
    "You are an agent run by Tau. Work in the directory {workdir} using the tools you are given. "
    "Tool calls outside your authority are refused. When the task is complete, answer without "
    "calling any tool: an independent verifier then checks the work, and if it is not done you "
    "will be told why."
)


class Stop(Exception):
    """Ends a run with an outcome; recorded in the journal when raised inside an activity."""

    def __init__(
        self,
        status: str,
        reason: str | None,
        summary: str,
        problem: PluginProblem | None = None,
        in_doubt: Sequence[ToolCall] = (),
    ) -> None:
        super().__init__(summary)
        self.status, self.reason, self.summary = status, reason, summary
        self.problem = problem
        self.in_doubt = tuple(in_doubt)

    def to_data(self) -> dict[str, Any]:
        return {
            "stop": {
                "status": self.status,
                "reason": self.reason,
                "summary": self.summary,
                "problem": to_dict(self.problem) if self.problem else None,
                "in_doubt": [to_dict(c) for c in self.in_doubt],
            }
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Stop:
        s = data["stop"]
        problem = from_dict(s["problem"], PluginProblem) if s.get("problem") else None
        calls = [from_dict(c, ToolCall) for c in s.get("in_doubt", [])]
        return cls(s["status"], s["reason"], s["summary"], problem, calls)


@define
class Route:
    """One way to reach a model: a spec, and the provider object once created."""

    spec: str
    provider: str
    model: str
    factory: Callable[[], Any]
    client: Any = None


@define
class RunSetup:
    """Everything one run needs; built by :class:`tau_core.Agent`."""

    run_id: str
    task: Task
    authority: Authority
    routes: list[Route]
    verifier_name: str | None
    verifier: Any
    unverified: bool
    tools: dict[str, Any]
    manager: PluginManager
    journal: Journal
    mode: Literal["live", "replay"] = "live"
    approver: Approver | None = None
    max_parallel_tools: int = 4
    tool_timeout: float = 120.0
    context_tokens: int = 100_000
    redactor: Redactor = field(factory=Redactor)
    cancel_event: asyncio.Event | None = None
    load_problems: list[PluginProblem] = field(factory=list)
    verifier_error: PluginProblem | None = None
    on_text: Callable[[str], None] | None = None


def json_copy(data: Any) -> Any:
    """*data* as the journal stores and returns it (a JSON round trip).

    Resumed and replayed runs read activities back from the journal, so a live run must use
    the same JSON form, and learn before recording that a value cannot be journaled at all.

    Raises:
        TypeError: *data* holds a value JSON cannot represent.
        ValueError: *data* is circular.
    """
    return json.loads(json.dumps(data, ensure_ascii=False))


def recorded_outcome(data: Mapping[str, Any]) -> Outcome:
    from ._serialization import loads

    return loads(dumps(data), Outcome)


def first_difference(recorded: Any, replayed: Any, path: str = "$") -> str:
    """Where two JSON values first differ, for divergence errors."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in sorted(recorded.keys() | replayed.keys()):
            if recorded.get(key) != replayed.get(key):
                return first_difference(recorded.get(key), replayed.get(key), f"{path}.{key}")
    if isinstance(recorded, list) and isinstance(replayed, list) and len(recorded) == len(replayed):
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}]")
    return f"at {path}: recorded {str(recorded)[:120]!r}, replayed {str(replayed)[:120]!r}"
