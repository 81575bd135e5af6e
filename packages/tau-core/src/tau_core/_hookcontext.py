"""The mutable contexts the wrapper hooks ``tau_tool_call`` and ``tau_model_request`` receive."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attrs import define, field

from ._authority import Authority
from ._messages import ModelRequest, ToolCall, ToolSpec

__all__ = ["ModelCallContext", "ToolCallContext"]


@define
class ToolCallContext:
    """One allowed tool call on its way to the tool.

    Attributes:
        call: The call; a wrapper may replace it before ``yield``.
        spec: The tool's spec.
        run_id: The run.
        workdir: The task's working directory.
        idempotency_key: Stable across resumes; a tool can use it to make itself idempotent.
        secrets: Credentials granted to this tool (name → value), injected by core.
        tool: The tool object itself.
        authority: The run's authority, read-only: sandboxed tools confine themselves to its
            grants (write paths, network hosts) on top of core's check.
        protected: The verifier's inputs: a sandboxed tool keeps them read-only even inside
            its write grants.
        original_call: The call the authority allowed; if a wrapper replaced ``call``, core
            checks the replacement against the authority again before the tool runs.
        authorize: Core's check for a replaced call (raises :class:`PolicyDenied`).
    """

    call: ToolCall
    spec: ToolSpec
    run_id: str
    workdir: Path
    idempotency_key: str
    secrets: dict[str, str] = field(factory=dict, repr=False)
    tool: Any = field(default=None, repr=False)
    authority: Authority | None = field(default=None, repr=False)
    protected: tuple[Path, ...] = field(default=(), repr=False)
    original_call: ToolCall | None = field(default=None, repr=False)
    authorize: Callable[[ToolCall], None] | None = field(default=None, repr=False)


@define
class ModelCallContext:
    """One model call on its way to the provider.

    Attributes:
        request: The request; a wrapper may replace it before ``yield`` (e.g. to redact it).
        provider: The provider's registered name.
        model: The model spec (``provider:model``).
        run_id: The run.
        client: The provider object.
    """

    request: ModelRequest
    provider: str
    model: str
    run_id: str
    client: Any = field(default=None, repr=False)
