"""The contracts plugins implement: tools, providers and verifiers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen

from ._authority import Capability
from ._hookcontext import ToolCallContext
from ._messages import JSON, ModelRequest, ModelResponse, ToolResult, ToolSpec
from ._outcome import Task, VerifierResult

__all__ = ["Provider", "Tool", "Verifier", "VerifyContext"]


@runtime_checkable
class Tool(Protocol):
    """A tool the model can call.

    ``capabilities`` is called by core *before* ``run`` and must list every grant the call
    needs (paths it reads or writes, programs it runs, hosts it reaches, secrets it uses);
    core checks them against the authority and only then calls ``run``.
    """

    spec: ToolSpec

    def capabilities(
        self, arguments: Mapping[str, JSON], workdir: Path
    ) -> Sequence[Capability]: ...

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult: ...


@runtime_checkable
class Provider(Protocol):
    """A model provider: one async call from request to response.

    Optional: ``worst_case_cost(request) -> float | None`` for cost budgets (``None``: unknown).
    """

    async def complete(self, request: ModelRequest) -> ModelResponse: ...


@frozen
class VerifyContext:
    """What a verifier gets.

    Attributes:
        run_id: The run.
        task: The task (its ``workdir`` is absolute).
        workdir: The working directory as a path.
        attempt: 1 for the first verification, 2 after the first repair, …
        diff: The working tree's diff since the run started, when available.
        baseline: The working-tree snapshot taken when the run started: ``{"kind": "git",
            "tree": TREE_ID}`` in a git work tree (untracked files included), else a file
            manifest; lets a verifier rebuild the starting state (RED before the change).
    """

    run_id: str
    task: Task
    workdir: Path
    attempt: int
    diff: str = ""
    baseline: dict[str, Any] = field(factory=dict)


@runtime_checkable
class Verifier(Protocol):
    """Decides whether the work is done. The model never does.

    Optional: ``protected_paths(workdir) -> Sequence[Path]``: the verifier's inputs (test files,
    scripts), kept read-only to the agent unless a grant names them exactly.
    """

    async def verify(self, context: VerifyContext) -> VerifierResult: ...


def protected_paths(verifier: Any, workdir: Path) -> list[Path]:
    fn = getattr(verifier, "protected_paths", None)
    return [Path(p) for p in fn(workdir)] if fn is not None else []
