"""Task, verifier results, evidence and the typed outcome of a run."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from attrs import field, frozen

from ._authority import PolicyDecision
from ._messages import JSON, ToolCall, ToolResult, Usage

__all__ = [
    "BLOCKED_REASONS",
    "EXHAUSTED_BUDGETS",
    "Evidence",
    "Outcome",
    "OutcomeStatus",
    "PluginProblem",
    "Task",
    "TestCase",
    "ToolCallRecord",
    "VerifierResult",
]


def _tuple_of_str(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _tuple_of_testcase(items: Iterable[TestCase]) -> tuple[TestCase, ...]:
    return tuple(items)


def _tuple_of_policydecision(items: Iterable[PolicyDecision]) -> tuple[PolicyDecision, ...]:
    return tuple(items)


def _tuple_of_toolcallrecord(items: Iterable[ToolCallRecord]) -> tuple[ToolCallRecord, ...]:
    return tuple(items)


def _tuple_of_verifierresult(items: Iterable[VerifierResult]) -> tuple[VerifierResult, ...]:
    return tuple(items)


def _tuple_of_pluginproblem(items: Iterable[PluginProblem]) -> tuple[PluginProblem, ...]:
    return tuple(items)


def _tuple_of_toolcall(items: Iterable[ToolCall]) -> tuple[ToolCall, ...]:
    return tuple(items)


def _tuple_of_dict_str_json(items: Iterable[dict[str, JSON]]) -> tuple[dict[str, JSON], ...]:
    return tuple(items)


OutcomeStatus = Literal["verified", "blocked", "exhausted", "unverified", "failed"]

BLOCKED_REASONS: dict[str, str] = {
    "missing_authority": "a tool call needed a grant the authority does not give",
    "policy_denied": "a policy rule denied the action (e.g. writing the verifier's inputs)",
    "approval_denied": "the approver refused an action the grants did not cover",
    "missing_verifier": "no verifier was given and the caller did not ask for an unverified run",
    "missing_credentials": "a provider or tool needs a credential that is not set",
    "provider_unavailable": "no model provider route could serve the run",
    "unknown_price": (
        "a cost budget is set but the price of a model that could answer is unknown "
        "(with unknown_price='block')"
    ),
    "unsafe_content": "a safety check blocked content",
    "plugin_error": "a plugin (verifier, provider, policy) failed; the run cannot be trusted",
    "in_doubt": "a non-idempotent side effect was interrupted; it may or may not have happened",
    "cancelled": "the run was cancelled",
}
"""The closed set of reasons a run is ``blocked``."""

EXHAUSTED_BUDGETS: dict[str, str] = {
    "turns": "max_turns model calls were made",
    "tokens": "the next call could exceed max_tokens",
    "cost": "the next call could exceed max_cost",
    "unknown_price_tokens": (
        "the next call to a model with no known price could exceed unknown_price_max_tokens"
    ),
    "wall_time": "max_wall_time seconds of running have passed",
    "tool_calls": "max_tool_calls tool calls were made",
    "repairs": "the verifier stayed red after max_repairs attempts",
}
"""The closed set of budgets an ``exhausted`` run ran out of."""


@frozen
class Task:
    """What to do.

    Attributes:
        goal: The instruction, in words.
        workdir: The working directory (absolute after the run starts).
        context: Extra text for the model (file excerpts, memory hits).
        constraints: Rules the model is told to follow.
        system: Optional system prompt replacing the default.
        inputs: Paths (relative to the working directory, or absolute) the task declares as
            its trusted inputs. With tau-safety installed, files read from elsewhere are
            untrusted content; when empty, the working directory is the trusted input.
        targets: Paths the task is expected to write. With tau-safety installed, a write
            outside them after untrusted content entered the conversation is escalated;
            when empty, the authority's write grants are the targets.
    """

    goal: str
    workdir: str = "."
    context: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    constraints: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    system: str | None = None
    inputs: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    targets: tuple[str, ...] = field(default=(), converter=_tuple_of_str)


@frozen
class TestCase:
    """One test case of a verifier's run (pytest JUnit XML, for example)."""

    __test__ = False  # not a pytest test class

    name: str
    outcome: Literal["passed", "failed", "error", "skipped"]
    message: str = ""
    duration: float | None = None


@frozen
class VerifierResult:
    """What a verifier found.

    Attributes:
        verifier: The verifier's registered name.
        status: ``green`` (done), ``red`` (not done; feedback goes back to the model), or
            ``error`` (the verifier could not decide).
        summary: One line for people and for the model.
        command: The command run, if any.
        exit_code: Its exit code, if any.
        stdout_tail: The last part of its standard output.
        stderr_tail: The last part of its standard error.
        duration: Seconds the verifier took.
        cases: Per-test results, when the verifier knows them.
        details: Anything else worth keeping.
    """

    verifier: str
    status: Literal["green", "red", "error"]
    summary: str = ""
    command: str | None = None
    exit_code: int | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    duration: float | None = None
    cases: tuple[TestCase, ...] = field(default=(), converter=_tuple_of_testcase)
    details: dict[str, JSON] = field(factory=dict)

    def feedback(self) -> str:
        """The text sent back to the model after a red result."""
        lines = [f"The verifier {self.verifier!r} says the work is not done: {self.summary}"]
        if self.command:
            lines.append(f"command: {self.command} (exit code {self.exit_code})")
        failed = [c for c in self.cases if c.outcome in ("failed", "error")]
        for case in failed[:20]:
            lines.append(f"- {case.name}: {case.outcome} {case.message}".rstrip())
        if self.stdout_tail:
            lines.append("stdout (tail):\n" + self.stdout_tail)
        if self.stderr_tail:
            lines.append("stderr (tail):\n" + self.stderr_tail)
        if diff := self.details.get("diff"):
            lines.append("diff of the working tree:\n" + str(diff))
        return "\n".join(lines)


@frozen
class ToolCallRecord:
    """A tool call, the decision on it, and its result (if it ran)."""

    call: ToolCall
    decision: PolicyDecision | None = None
    result: ToolResult | None = None
    duration: float | None = None


@frozen
class PluginProblem:
    """A plugin that failed to load or failed during the run."""

    plugin: str
    dist: str | None
    version: str | None
    error: str
    traceback: str = ""


@frozen
class Evidence:
    """Everything needed to check a run's outcome or to continue it.

    Attributes:
        run_id: The journal id of the run.
        task: The task as run.
        model: The model spec used (``provider:model``).
        usage: Summed tokens and cost; ``usage.cost`` is ``None`` when a call's price was
            unknown (never counted as 0). Under a cost budget an ``unknown_price`` event in
            ``events`` then gives the known part (``priced_cost``) and the tokens of the
            calls with no known price.
        turns: Model calls made.
        decisions: Every authority decision, in order.
        tool_calls: Every tool call with its decision and result.
        verifier_results: Every verifier run, in order.
        diff: The working tree's diff against where the run started (git), when available.
        changed_files: Files the run created, changed or deleted.
        timings: Seconds per phase (``model``, ``tools``, ``verifier``, ``total``).
        plugin_errors: Plugins that failed to load or failed during the run.
        in_doubt: Calls interrupted mid-side-effect, when the run was resumed.
        events: Notable events (fallbacks, compactions, resumes) as short dicts.
    """

    run_id: str
    task: Task
    model: str = ""
    usage: Usage = field(factory=Usage)
    turns: int = 0
    decisions: tuple[PolicyDecision, ...] = field(default=(), converter=_tuple_of_policydecision)
    tool_calls: tuple[ToolCallRecord, ...] = field(default=(), converter=_tuple_of_toolcallrecord)
    verifier_results: tuple[VerifierResult, ...] = field(
        default=(), converter=_tuple_of_verifierresult
    )
    diff: str = ""
    changed_files: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    timings: dict[str, float] = field(factory=dict)
    plugin_errors: tuple[PluginProblem, ...] = field(default=(), converter=_tuple_of_pluginproblem)
    in_doubt: tuple[ToolCall, ...] = field(default=(), converter=_tuple_of_toolcall)
    events: tuple[dict[str, JSON], ...] = field(default=(), converter=_tuple_of_dict_str_json)

    def to_json(self, *, indent: int | None = None) -> str:
        from ._serialization import dumps

        return dumps(self, indent=indent)

    def to_markdown(self) -> str:
        from ._render import evidence_markdown

        return evidence_markdown(self)

    def _repr_html_(self) -> str:
        from ._render import evidence_html

        return evidence_html(self)


@frozen
class Outcome:
    """The typed result of a run: never a bare string.

    Attributes:
        status: ``verified``, ``blocked``, ``exhausted``, ``unverified`` or ``failed``.
        reason: For ``blocked``, a code from :data:`BLOCKED_REASONS`; for ``exhausted``, a budget
            from :data:`EXHAUSTED_BUDGETS`; for ``failed``, the error class; else ``None``.
        summary: One readable line.
        evidence: What the run did and what the verifier found.
    """

    status: OutcomeStatus
    reason: str | None
    summary: str
    evidence: Evidence

    @property
    def run_id(self) -> str:
        return self.evidence.run_id

    @property
    def ok(self) -> bool:
        """True for ``verified`` (and ``unverified``, which only happens when asked for)."""
        return self.status in ("verified", "unverified")

    def to_dict(self) -> dict[str, JSON]:
        """The stable JSON form.

        Keys: ``schema``, ``run_id``, ``status``, ``reason``, ``summary``, ``evidence``.
        """
        from ._serialization import outcome_to_dict

        return outcome_to_dict(self)

    def to_json(self, *, indent: int | None = None) -> str:
        from ._serialization import dumps

        return dumps(self, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        from ._serialization import loads

        return loads(text, cls)

    def to_markdown(self) -> str:
        from ._render import outcome_markdown

        return outcome_markdown(self)

    def _repr_html_(self) -> str:
        from ._render import outcome_html

        return outcome_html(self)

    def __str__(self) -> str:
        head = self.status if self.reason is None else f"{self.status}({self.reason})"
        return f"{head}: {self.summary}"
