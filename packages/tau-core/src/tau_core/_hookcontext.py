"""The contexts hooks receive: the run (``tau_run_start``) and one tool or model call
(the wrapper hooks ``tau_tool_call`` and ``tau_model_request``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import define, field

from ._authority import Authority, PolicyDecision
from ._messages import ModelRequest, ToolCall, ToolSpec
from ._redact import Redactor

if TYPE_CHECKING:
    from ._events import Event
    from ._outcome import Task

__all__ = ["AUDIT_KINDS", "ModelCallContext", "ModelStream", "RunContext", "ToolCallContext"]

AUDIT_KINDS = frozenset({"safety_finding", "redaction", "escalation", "taint"})
"""Event kinds a plugin may append to the journal with :meth:`RunContext.audit`."""


@define
class RunContext:
    """One run, as plugins see it (``tau_run_start``, and ``.run`` on every call context).

    Attributes:
        run_id: The run.
        task: The task (its ``inputs`` and ``targets`` declare what it trusts and writes).
        authority: The run's authority, read-only.
        workdir: The task's working directory.
        mode: ``live`` (also when resumed) or ``replay`` (no provider and no tool is called).
        redactor: The run's redactor: register secret values (``add``) and text filters
            (``add_filter``); core applies it before anything is recorded or shown.
        state: Per-plugin state for this run, keyed by the plugin's name.
        history: The events the journal already holds for this run (empty for a new run; a
            resumed run's earlier events), so a plugin can restore what it knew.

    .. versionadded:: 0.1
    """

    run_id: str
    task: Task
    authority: Authority
    workdir: Path
    mode: str
    redactor: Redactor = field(factory=Redactor, repr=False)
    state: dict[str, Any] = field(factory=dict, repr=False)
    history: tuple[Event, ...] = field(default=(), repr=False)
    _audit: Callable[[str, dict[str, Any]], None] | None = field(
        default=None, alias="audit", repr=False
    )

    def audit(self, kind: str, data: dict[str, Any]) -> None:
        """Append an audit entry (one of :data:`AUDIT_KINDS`) to the run's journal.

        Entries are redacted, hash-chained with every other event and listed by
        ``tau audit show``. In replay mode this does nothing: the recorded entries stand.

        Raises:
            ValueError: *kind* is not one of :data:`AUDIT_KINDS`.
        """
        if kind not in AUDIT_KINDS:
            raise ValueError(f"audit kind {kind!r} is not one of {', '.join(sorted(AUDIT_KINDS))}")
        if self._audit is not None:
            self._audit(kind, data)


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
        run: The run this call belongs to.
        escalate: ``await escalate(rule_id, message)`` asks for this call to be approved
            under the authority's approval mode (``ask``: the approver decides; ``deny`` and
            ``never``: refused), records the decision and returns it. A wrapper that gets a
            refusal must not run the call.
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
    run: RunContext | None = field(default=None, repr=False)
    escalate: Callable[[str, str], Awaitable[PolicyDecision]] | None = field(
        default=None, repr=False
    )


@define
class ModelStream:
    """What a provider reports while one model call is under way.

    A provider whose ``complete`` accepts a ``stream`` keyword gets one per call (core passes it
    only to providers that accept it). It passes text deltas on as they arrive and reports what
    happened on the way (retries, circuit-breaker changes); core shows the deltas to the
    caller (``Agent(on_text=...)``) and records the events in the journal and the evidence.

    Once a delta has reached the caller, core does not fall back to another route for this
    call: the caller would see the answer twice.

    Attributes:
        route: The route (``provider:model``) this call goes to.
        started: Whether any text has reached the caller.
    """

    route: str
    _on_text: Callable[[str], None] | None = field(default=None, alias="on_text", repr=False)
    _on_event: Callable[[str, dict[str, Any]], None] | None = field(
        default=None, alias="on_event", repr=False
    )
    started: bool = False

    def delta(self, text: str) -> None:
        """Pass a text delta to the caller; from now on this call is not retried elsewhere."""
        if not text:
            return
        self.started = True
        if self._on_text is not None:
            self._on_text(text)

    def event(self, kind: str, **data: Any) -> None:
        """Report something that happened during the call, e.g. ``event("retry", attempt=1,
        delay=0.5, error="...")``; *data* must be JSON-serialisable. Core redacts it."""
        if self._on_event is not None:
            self._on_event(kind, data)


@define
class ModelCallContext:
    """One model call on its way to the provider.

    Attributes:
        request: The request; a wrapper may replace it before ``yield`` (e.g. to redact it).
        provider: The provider's registered name.
        model: The model spec (``provider:model``).
        run_id: The run.
        client: The provider object, created on first access (a wrapper that answers the call
            itself, such as a cassette in replay mode, never needs its credentials).
        stream: Where the provider reports text deltas and events.
        run: The run this call belongs to (its redactor, e.g. for cassettes).
    """

    request: ModelRequest
    provider: str
    model: str
    run_id: str
    _client: Any = field(default=None, alias="client", repr=False)
    client_factory: Callable[[], Any] | None = field(default=None, repr=False)
    stream: ModelStream | None = field(default=None, repr=False)
    run: RunContext | None = field(default=None, repr=False)

    @property
    def client(self) -> Any:
        if self._client is None and self.client_factory is not None:
            self._client = self.client_factory()
        return self._client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value
