"""The model/tool loop, driven through the journal.

Everything the loop learns from outside (model responses, tool results, verifier results,
clock readings, approvals, working-tree snapshots) is an *activity*: recorded in the journal
under a key unique within the run, and read back from the journal when the run is resumed or
replayed. Everything else is computed from activities, so a resumed run reaches exactly the
state it was killed in, and a replay reaches exactly the recorded outcome without calling a
provider or running a tool.

Before a side-effecting tool call an *intent* is committed (fsynced for non-idempotent tools);
its result is committed after. On resume an intent without a result is *in doubt*: re-run when
the tool is idempotent, otherwise the run stops as ``blocked(in_doubt)`` naming the call.
"""

from __future__ import annotations

import asyncio
import functools
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from attrs import define, evolve, field

from ._authority import Authority, Capability, PolicyDecision, check_capabilities
from ._compaction import compact, estimate_tokens
from ._contracts import VerifyContext, protected_paths
from ._events import Event
from ._hookcontext import ModelCallContext, ToolCallContext
from ._messages import Message, ModelRequest, ModelResponse, ToolCall, ToolResult, Usage
from ._outcome import (
    Evidence,
    Outcome,
    PluginProblem,
    Task,
    ToolCallRecord,
    VerifierResult,
)
from ._redact import Redactor
from ._serialization import dumps, from_dict, outcome_to_dict, to_dict
from ._worktree import diff_snapshots, snapshot
from .errors import (
    CredentialError,
    JournalError,
    PluginError,
    PolicyDenied,
    ProviderAuthenticationError,
    ProviderError,
    SafetyViolation,
    ToolError,
)

if TYPE_CHECKING:
    from ._journal import Journal
    from ._plugins import PluginManager

__all__ = ["Approver", "Loop", "Route", "RunSetup"]

Approver = Callable[[ToolCall, PolicyDecision], "bool | Awaitable[bool]"]

DEFAULT_SYSTEM = (
    "You are an agent run by Tau. Work in the directory {workdir} using the tools you are given. "
    "Tool calls outside your authority are refused. When the task is complete, answer without "
    "calling any tool: an independent verifier then checks the work, and if it is not done you "
    "will be told why."
)


class _Stop(Exception):
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
    def from_data(cls, data: Mapping[str, Any]) -> _Stop:
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


class Loop:
    """One run of the loop (live, resumed, or replayed)."""

    def __init__(self, setup: RunSetup) -> None:
        self.s = setup
        self.workdir = Path(setup.task.workdir)
        self.recorded: dict[str, Event] = {}
        self.messages: list[Message] = []
        self.usage = Usage()
        self.turns = 0
        self.tool_calls_made = 0
        self.repairs = 0
        self.decisions: list[PolicyDecision] = []
        self.records: list[ToolCallRecord] = []
        self.verifier_results: list[VerifierResult] = []
        self.notes: list[dict[str, Any]] = []
        self.problems: list[PluginProblem] = []
        self.in_doubt: list[ToolCall] = []
        self.durations = {"model": 0.0, "tools": 0.0, "verifier": 0.0}
        self.baseline: dict[str, Any] = {}
        self._segment_start = time.monotonic()
        self._previous_active = 0.0
        self._protected: list[Path] = []

    # -- journal plumbing -------------------------------------------------------------------------

    def _load_recorded(self) -> None:
        events = list(self.s.journal.events(self.s.run_id))
        self.recorded = {e.key: e for e in events}
        # Active time of earlier process lifetimes: from each segment's start to its last event.
        starts = [i for i, e in enumerate(events) if e.kind == "segment"]
        for n, i in enumerate(starts):
            end = starts[n + 1] - 1 if n + 1 < len(starts) else len(events) - 1
            self._previous_active += max(0.0, events[end].at - events[i].at)

    def _elapsed(self) -> float:
        return self._previous_active + (time.monotonic() - self._segment_start)

    def record(
        self,
        kind: str,
        key: str,
        data: dict[str, Any],
        *,
        durable: bool = False,
        commit: bool = True,
    ) -> None:
        """Write a derived event once; on resume or replay the recorded copy stands."""
        if key in self.recorded:
            return
        if self.s.mode == "replay":
            raise JournalError(
                f"run {self.s.run_id}: replay diverged: {kind} {key!r} was never "
                "recorded; the run's code or plugins changed since it ran"
            )
        event = self.s.journal.append(
            self.s.run_id, kind, key, data, durable=durable, commit=commit
        )
        self.recorded[key] = event
        self._notify(event)

    async def activity(
        self,
        key: str,
        kind: str,
        fn: Callable[[], Awaitable[dict[str, Any]]],
        *,
        durable: bool = False,
    ) -> dict[str, Any]:
        """Return the recorded result of *key*, or run *fn*, record its result and return it."""
        if key in self.recorded:
            data = self.recorded[key].data
        else:
            if self.s.mode == "replay":
                raise JournalError(
                    f"run {self.s.run_id}: replay needs {kind} {key!r}, which the journal does not "
                    "hold; the run was not finished (use `tau sessions resume`) or has diverged"
                )
            try:
                data = await fn()
            except _Stop as stop:
                data = stop.to_data()
            self.record(kind, key, data, durable=durable)
        if "stop" in data:
            raise _Stop.from_data(data)
        return data

    def _notify(self, event: Event) -> None:
        for impl in self.s.manager.hook.tau_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception as exc:
                if event.kind == "plugin_problem":
                    continue  # never report a failure to report a failure
                problem = PluginProblem(
                    impl.plugin_name,
                    None,
                    None,
                    self.s.redactor.text(f"tau_event observer raised {type(exc).__name__}: {exc}"),
                    self.s.redactor.text(traceback.format_exc()),
                )
                # Recorded, so a resumed or replayed run reports it too.
                self.record(
                    "plugin_problem", f"observer:{event.key}:{impl.plugin_name}", to_dict(problem)
                )

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> Outcome:
        self._load_recorded()
        if "outcome" in self.recorded and self.s.mode == "live":
            return _recorded_outcome(self.recorded["outcome"].data)
        if "outcome" not in self.recorded and self.s.mode == "replay":
            raise JournalError(
                f"run {self.s.run_id} is not finished (no outcome is recorded), so there is "
                f"nothing to replay; continue it with `tau sessions resume {self.s.run_id}`"
            )
        try:
            await self._run()
        except _Stop as stop:
            return await self._finish(stop)
        except asyncio.CancelledError:
            if self.s.mode == "live" and "outcome" not in self.recorded:
                await self._finish(_Stop("blocked", "cancelled", "the run was cancelled"))
            raise
        except JournalError:
            raise
        except Exception as exc:  # a bug in a plugin or in Tau: record it, never crash the caller
            return await self._finish(
                _Stop(
                    "failed",
                    type(exc).__name__,
                    self.s.redactor.text(f"{type(exc).__name__}: {exc}"),
                )
            )
        raise AssertionError("the loop ended without an outcome")  # pragma: no cover

    async def _run(self) -> None:
        s = self.s
        if s.mode == "live":
            n = sum(1 for e in self.recorded.values() if e.kind == "segment")
            self.record("segment", f"segment:{n}", {"n": n, "resumed": n > 0})
        for event in sorted(self.recorded.values(), key=lambda e: e.seq):
            if event.kind == "segment" and event.data["resumed"]:
                self.notes.append({"kind": "resumed", "segment": event.data["n"]})
        start = await self.activity("start", "run_started", self._start)
        self.baseline = start["snapshot"]
        self.load_problems = [from_dict(p, PluginProblem) for p in start["plugin_errors"]]
        if s.verifier_error is not None:
            raise _Stop(
                "blocked",
                "plugin_error",
                f"the verifier {s.verifier_name!r} could not be created: {s.verifier_error.error}",
                s.verifier_error,
            )
        if s.verifier is None and not s.unverified:
            raise _Stop(
                "blocked",
                "missing_verifier",
                "no verifier was given; pass one (e.g. --verify CMD) or ask for an "
                "unverified run explicitly (--unverified)",
            )
        self._protected = protected_paths(s.verifier, self.workdir) if s.verifier else []
        self.messages = self._initial_messages()
        while True:
            self._check_cancel()
            turn = self.turns
            b = s.authority.budgets
            if b.max_turns is not None and turn >= b.max_turns:
                raise _Stop("exhausted", "turns", f"the run used its {b.max_turns} model turns")
            await self._check_wall(f"clock:model:{turn}")
            sent, dropped = compact(self.messages, s.context_tokens)
            if dropped:
                self.record("compacted", f"compact:{turn}", {"dropped": dropped})
                self.notes.append({"kind": "compacted", "turn": turn, "dropped": dropped})
            request = ModelRequest(
                model=s.routes[0].model,
                messages=tuple(sent),
                tools=tuple(t.spec for t in s.tools.values()),
                max_tokens=b.max_output_tokens,
                metadata={"run_id": s.run_id, "turn": turn},
            )
            await self._check_model_budget(request, turn)
            data = await self.activity(
                f"model:{turn}", "model_response", functools.partial(self._call_model, request)
            )
            response = from_dict(data["response"], ModelResponse)
            self.durations["model"] += data["duration"]
            for f in data.get("fallbacks", []):
                self.notes.append({"kind": "fallback", "turn": turn, **f})
            self.usage += response.usage
            self.turns += 1
            self.messages.append(response.message)
            calls = response.message.tool_calls
            if calls:
                await self._tools(calls, turn)
            else:
                await self._verify()

    async def _start(self) -> dict[str, Any]:
        snap = await asyncio.to_thread(snapshot, self.workdir)
        problems = [
            PluginProblem(r.name, r.dist, r.version, r.error or "", r.traceback)
            for r in self.s.manager.failures()
        ] + self.s.load_problems
        return {"snapshot": snap, "plugin_errors": [to_dict(p) for p in problems]}

    def _initial_messages(self) -> list[Message]:
        task = self.s.task
        system = (task.system or DEFAULT_SYSTEM).format(workdir=task.workdir)
        text = task.goal
        if task.context:
            text += "\n\nContext:\n" + "\n\n".join(task.context)
        if task.constraints:
            text += "\n\nConstraints:\n" + "\n".join(f"- {c}" for c in task.constraints)
        return [Message.system(system), Message.user(text)]

    def _check_cancel(self) -> None:
        if self.s.cancel_event is not None and self.s.cancel_event.is_set():
            raise _Stop("blocked", "cancelled", "the run was cancelled")

    async def _check_wall(self, key: str) -> None:
        limit = self.s.authority.budgets.max_wall_time
        if limit is None:
            return

        async def read() -> dict[str, Any]:
            return {"elapsed": round(self._elapsed(), 6)}

        data = await self.activity(key, "clock", read)
        if data["elapsed"] > limit:
            raise _Stop(
                "exhausted",
                "wall_time",
                f"the run has been running {data['elapsed']:.1f}s, over its {limit:g}s",
            )

    async def _check_model_budget(self, request: ModelRequest, turn: int) -> None:
        b = self.s.authority.budgets
        if b.max_tokens is not None:
            worst = (
                self.usage.total_tokens + estimate_tokens(request.messages) + b.max_output_tokens
            )
            if worst > b.max_tokens:
                raise _Stop(
                    "exhausted",
                    "tokens",
                    f"the next model call could bring the run to {worst} tokens, over its "
                    f"{b.max_tokens}",
                )
        if b.max_cost is not None:

            async def price() -> dict[str, Any]:
                route = self.s.routes[0]
                client = self._client(route)
                fn = getattr(client, "worst_case_cost", None)
                cost = fn(request) if fn is not None else None
                return {"worst_case_cost": cost}

            data = await self.activity(f"price:{turn}", "price", price)
            worst_cost = data["worst_case_cost"]
            if worst_cost is None or self.usage.cost is None:
                raise _Stop(
                    "blocked",
                    "unknown_price",
                    f"a cost budget of ${b.max_cost:g} is set but the price of "
                    f"{self.s.routes[0].spec} is unknown",
                )
            if self.usage.cost + worst_cost > b.max_cost:
                raise _Stop(
                    "exhausted",
                    "cost",
                    f"the next model call could bring the cost to "
                    f"${self.usage.cost + worst_cost:.4f}, over ${b.max_cost:g}",
                )

    # -- model ------------------------------------------------------------------------------------

    def _client(self, route: Route) -> Any:
        if route.client is None:
            route.client = route.factory()
        return route.client

    async def _call_model(self, request: ModelRequest) -> dict[str, Any]:
        failures: list[dict[str, Any]] = []
        reason = "provider_unavailable"
        for route in self.s.routes:
            started = time.perf_counter()
            try:
                client = self._client(route)
                context = ModelCallContext(
                    request=evolve(request, model=route.model),
                    provider=route.provider,
                    model=route.spec,
                    run_id=self.s.run_id,
                    client=client,
                )
                awaitable = self.s.manager.hook.tau_model_request(context=context)
                response = await awaitable
                if not isinstance(response, ModelResponse):
                    raise PluginError(
                        f"provider {route.provider!r} returned "
                        f"{type(response).__name__}, not a ModelResponse"
                    )
            except (CredentialError, ProviderAuthenticationError) as exc:
                reason = "missing_credentials"
                failures.append({"route": route.spec, "error": self.s.redactor.text(str(exc))})
                continue
            except ProviderError as exc:
                failures.append({"route": route.spec, "error": self.s.redactor.text(str(exc))})
                if not exc.retryable:
                    raise _Stop(
                        "failed",
                        type(exc).__name__,
                        f"{route.spec}: {self.s.redactor.text(str(exc))}",
                    ) from None
                continue
            except PluginError as exc:
                problem = PluginProblem(
                    route.provider, None, None, str(exc), traceback.format_exc()
                )
                raise _Stop(
                    "blocked", "plugin_error", f"provider {route.spec}: {exc}", problem
                ) from None
            data = self.s.redactor.obj(to_dict(response))
            return {
                "response": data,
                "route": route.spec,
                "duration": round(time.perf_counter() - started, 6),
                "fallbacks": failures,
            }
        detail = "; ".join(f"{f['route']}: {f['error']}" for f in failures)
        raise _Stop("blocked", reason, f"no model route could answer ({detail})")

    # -- tools ------------------------------------------------------------------------------------

    async def _tools(self, calls: Sequence[ToolCall], turn: int) -> None:
        b = self.s.authority.budgets
        if b.max_tool_calls is not None and self.tool_calls_made + len(calls) > b.max_tool_calls:
            raise _Stop(
                "exhausted",
                "tool_calls",
                f"the model asked for {len(calls)} more tool calls, over the run's "
                f"{b.max_tool_calls}",
            )
        await self._check_wall(f"clock:tools:{turn}")
        # Decide every call of the batch before running any of them: fail closed.
        plan: list[tuple[ToolCall, Any, PolicyDecision | None, ToolResult | None, dict[str, str]]]
        plan = []
        for call in calls:
            plan.append(await self._plan(call, turn))
        self.s.journal.flush()
        self.tool_calls_made += len(calls)
        in_doubt = []
        for call, tool, _, pre, _ in plan:
            if pre is None and tool is not None and tool.spec.has_side_effect:
                intent, done = f"intent:{turn}:{call.id}", f"tool:{turn}:{call.id}"
                rerun = f"rerun:{turn}:{call.id}"
                interrupted = intent in self.recorded and done not in self.recorded
                if interrupted and not tool.spec.idempotent:
                    in_doubt.append(call)
                    continue
                if interrupted:
                    self.record("rerun", rerun, {"call": to_dict(call)})
                if rerun in self.recorded:
                    self.notes.append(
                        {"kind": "rerun_idempotent", "call_id": call.id, "tool": call.name}
                    )
        if in_doubt:
            names = ", ".join(f"{c.name} (call {c.id})" for c in in_doubt)
            raise _Stop(
                "blocked",
                "in_doubt",
                f"the run was interrupted during {names}; the side effect may or may not "
                "have happened, and the tool is not idempotent. Check its effect, then "
                "fork the run before that call to continue",
                in_doubt=in_doubt,
            )
        semaphore = asyncio.Semaphore(self.s.max_parallel_tools)
        outcomes = await asyncio.gather(
            *(
                self._execute(turn, call, tool, decision, pre, secrets, semaphore)
                for call, tool, decision, pre, secrets in plan
            )
        )
        # Evidence lists calls in the model's order, whatever order they finished in.
        self.records.extend(record for _, record in outcomes)
        results = [result for result, _ in outcomes]
        self.messages.append(Message("tool", tuple(results)))
        for result in results:
            reason = result.metadata.get("stop")
            if reason:
                raise _Stop(
                    "blocked",
                    str(reason),
                    f"{result.name} was stopped: {result.error.message if result.error else ''}",
                )

    async def _plan(
        self, call: ToolCall, turn: int
    ) -> tuple[ToolCall, Any, PolicyDecision | None, ToolResult | None, dict[str, str]]:
        tool = self.s.tools.get(call.name)
        if tool is None:
            known = ", ".join(sorted(self.s.tools)) or "none"
            return (
                call,
                None,
                None,
                ToolResult.failure(
                    call,
                    "unknown_tool",
                    f"there is no tool named {call.name!r}",
                    f"available tools: {known}",
                ),
                {},
            )
        try:
            needed = list(tool.capabilities(call.arguments, self.workdir))
        except ToolError as exc:
            return call, tool, None, ToolResult.failure(call, exc.code, str(exc), exc.hint), {}
        except Exception as exc:
            return (
                call,
                tool,
                None,
                ToolResult.failure(
                    call,
                    "bad_arguments",
                    f"{type(exc).__name__}: {exc}",
                    f"check the arguments against the {call.name} tool's schema",
                ),
                {},
            )
        decision = check_capabilities(
            self.s.authority, call.id, call.name, needed, self.workdir, self._protected
        )
        if not decision.allowed:
            decision = await self._escalate(call, decision, turn)
        # Decisions of one batch share a commit (made before any call of the batch runs).
        self.record("decision", f"decision:{turn}:{call.id}", to_dict(decision), commit=False)
        self.decisions.append(decision)
        if not decision.allowed:
            if self.s.authority.approval == "never":
                return (
                    call,
                    tool,
                    decision,
                    ToolResult.failure(
                        call,
                        "policy_denied",
                        decision.message,
                        f"this needs the grant {decision.needed_grant}; try another way"
                        if decision.needed_grant
                        else "try another way",
                    ),
                    {},
                )
            reason = decision.reason_code if decision.reason_code != "allowed" else "policy_denied"
            hint = decision.needed_grant
            raise _Stop(
                "blocked",
                reason,
                f"{call.name} was stopped before it ran: {decision.message}"
                + (
                    f" (the grant {hint} would allow it)"
                    if hint and hint not in decision.message
                    else ""
                ),
            )
        secrets = await self._secrets(call, needed, turn)
        return call, tool, decision, None, secrets

    async def _escalate(
        self, call: ToolCall, decision: PolicyDecision, turn: int
    ) -> PolicyDecision:
        if self.s.authority.approval != "ask":
            return decision
        approver = self.s.approver

        async def ask() -> dict[str, Any]:
            if approver is None:
                return {"approved": False, "by": "nobody (no approver is attached)"}
            answer = approver(call, decision)
            if isinstance(answer, Awaitable):
                answer = await answer
            return {"approved": bool(answer), "by": "approver"}

        data = await self.activity(f"approval:{turn}:{call.id}", "approval", ask)
        if data["approved"]:
            return evolve(
                decision,
                allowed=True,
                rule_id="approval.granted",
                reason_code="allowed",
                message=f"approved by the {data['by']}: {decision.message}",
            )
        return evolve(
            decision,
            rule_id="approval.refused",
            reason_code="approval_denied",
            message=f"not approved ({data['by']}): {decision.message}",
        )

    async def _secrets(
        self, call: ToolCall, needed: Sequence[Capability], turn: int
    ) -> dict[str, str]:
        names = [c.target.partition("@")[0] for c in needed if c.kind == "secret"]
        if not names:
            return {}
        from ._config import load_config

        config = load_config()
        secrets: dict[str, str] = {}
        for name in names:
            try:
                cred = self.s.manager.hook.tau_resolve_credential(name=name, config=config)
            except CredentialError as exc:
                raise _Stop(
                    "blocked", "missing_credentials", f"credential {name!r}: {exc}"
                ) from None
            if cred is None:
                raise _Stop(
                    "blocked",
                    "missing_credentials",
                    f"{call.name} needs the credential {name!r}, which is not set; "
                    f"set it with `tau keys set {name}`",
                )
            value = cred.value if hasattr(cred, "value") else str(cred)
            self.s.redactor.add(value)
            secrets[name] = value
        return secrets

    async def _execute(  # noqa: PLR0917 - one plan row, unpacked
        self,
        turn: int,
        call: ToolCall,
        tool: Any,
        decision: PolicyDecision | None,
        pre: ToolResult | None,
        secrets: dict[str, str],
        semaphore: asyncio.Semaphore,
    ) -> tuple[ToolResult, ToolCallRecord]:
        key = f"tool:{turn}:{call.id}"
        if pre is not None:
            return pre, ToolCallRecord(call, decision, pre, 0.0)

        async def run() -> dict[str, Any]:
            spec = tool.spec
            if spec.has_side_effect:
                self.record(
                    "intent",
                    f"intent:{turn}:{call.id}",
                    {
                        "call": to_dict(call),
                        "idempotent": spec.idempotent,
                        "idempotency_key": f"{self.s.run_id}:{turn}:{call.id}",
                    },
                    durable=not spec.idempotent,
                )
            async with semaphore:
                started = time.perf_counter()
                result = await self._invoke(turn, call, tool, secrets)
                duration = round(time.perf_counter() - started, 6)
            result = self.s.redactor.obj(to_dict(result))
            return {"result": result, "duration": duration}

        data = await self.activity(key, "tool_result", run)
        result = from_dict(data["result"], ToolResult)
        self.durations["tools"] += data["duration"]
        return result, ToolCallRecord(call, decision, result, data["duration"])

    async def _invoke(
        self, turn: int, call: ToolCall, tool: Any, secrets: dict[str, str]
    ) -> ToolResult:
        spec = tool.spec
        timeout = spec.timeout or self.s.tool_timeout
        limit = self.s.authority.budgets.max_wall_time
        if limit is not None:
            timeout = max(0.001, min(timeout, limit - self._elapsed()))

        def authorize(replaced: ToolCall) -> None:
            if replaced.name != call.name:
                raise PolicyDenied(
                    f"a wrapper replaced {call.name} with {replaced.name}",
                    rule_id="wrapper.replaced",
                    reason_code="policy_denied",
                )
            needed = list(tool.capabilities(replaced.arguments, self.workdir))
            d = check_capabilities(
                self.s.authority, call.id, call.name, needed, self.workdir, self._protected
            )
            if not d.allowed:
                raise PolicyDenied(
                    f"a wrapper replaced the call: {d.message}",
                    rule_id=d.rule_id,
                    reason_code=d.reason_code,
                    needed_grant=d.needed_grant,
                )

        context = ToolCallContext(
            call=call,
            spec=spec,
            run_id=self.s.run_id,
            workdir=self.workdir,
            idempotency_key=f"{self.s.run_id}:{turn}:{call.id}",
            secrets=secrets,
            tool=tool,
            original_call=call,
            authorize=authorize,
        )
        try:
            awaitable = self.s.manager.hook.tau_tool_call(context=context)
            result = await asyncio.wait_for(awaitable, timeout)
        except SafetyViolation as exc:
            return ToolResult.failure(
                call,
                "unsafe_content",
                str(exc),
                "a safety check stopped this call",
                stop="unsafe_content",
            )
        except PolicyDenied as exc:
            return ToolResult.failure(
                call,
                "policy_denied",
                str(exc),
                f"needs {exc.needed_grant}" if exc.needed_grant else "",
                stop=exc.reason_code,
                rule_id=exc.rule_id,
            )
        except TimeoutError:
            return ToolResult.failure(
                call, "timeout", f"{call.name} did not finish in {timeout:g}s", "try a smaller step"
            )
        except ToolError as exc:
            return ToolResult.failure(call, exc.code, str(exc), exc.hint)
        except Exception as exc:
            return ToolResult.failure(
                call,
                "tool_crashed",
                f"{type(exc).__name__}: {exc}",
                "the tool failed unexpectedly; try another way",
            )
        if not isinstance(result, ToolResult):
            return ToolResult.failure(
                call,
                "tool_crashed",
                f"{call.name} returned {type(result).__name__}, not a ToolResult",
            )
        if context.call != call:
            result = evolve(
                result, metadata={**result.metadata, "replaced_call": to_dict(context.call)}
            )
        return evolve(result, call_id=call.id, name=call.name)

    # -- verification -----------------------------------------------------------------------------

    async def _verify(self) -> None:
        if self.s.verifier is None:
            raise _Stop(
                "unverified",
                None,
                "the model finished; no verifier ran (an unverified run was asked for)",
            )
        attempt = len(self.verifier_results) + 1
        await self._check_wall(f"clock:verify:{attempt}")
        diff = await self._diff(f"diff:{attempt}")

        async def verify() -> dict[str, Any]:
            context = VerifyContext(
                self.s.run_id, self.s.task, self.workdir, attempt, diff.get("diff", "")
            )
            started = time.perf_counter()
            try:
                result = await self.s.verifier.verify(context)
                if not isinstance(result, VerifierResult):
                    raise PluginError(f"returned {type(result).__name__}, not a VerifierResult")
            except Exception as exc:
                problem = PluginProblem(
                    self.s.verifier_name or "verifier",
                    None,
                    None,
                    f"{type(exc).__name__}: {exc}",
                    traceback.format_exc(),
                )
                raise _Stop(
                    "blocked",
                    "plugin_error",
                    f"the verifier {self.s.verifier_name!r} failed: {type(exc).__name__}: {exc}",
                    problem,
                ) from None
            data = self.s.redactor.obj(to_dict(result))
            return {"result": data, "duration": round(time.perf_counter() - started, 6)}

        data = await self.activity(f"verify:{attempt}", "verifier_result", verify)
        result = from_dict(data["result"], VerifierResult)
        self.durations["verifier"] += data["duration"]
        self.verifier_results.append(result)
        if result.status == "green":
            raise _Stop("verified", None, result.summary or "the verifier is green")
        if result.status == "error":
            raise _Stop(
                "blocked",
                "plugin_error",
                f"the verifier {result.verifier!r} could not decide: {result.summary}",
            )
        self.repairs += 1
        max_repairs = self.s.authority.budgets.max_repairs
        if self.repairs > max_repairs:
            raise _Stop(
                "exhausted",
                "repairs",
                f"the verifier is still red after {max_repairs} repair attempts: {result.summary}",
            )
        feedback = result.feedback()
        if diff.get("diff") and "diff" not in result.details:
            feedback += "\n\nYour changes so far (diff of the working tree):\n" + diff["diff"]
        self.messages.append(Message.user(feedback))

    async def _diff(self, key: str) -> dict[str, Any]:
        async def compute() -> dict[str, Any]:
            after = await asyncio.to_thread(snapshot, self.workdir)
            return await asyncio.to_thread(diff_snapshots, self.workdir, self.baseline, after)

        if not self.baseline:
            return {"diff": "", "changed_files": []}
        return await self.activity(key, "diff", compute)

    # -- the end ----------------------------------------------------------------------------------

    async def _finish(self, stop: _Stop) -> Outcome:
        if stop.problem is not None:
            self.problems.append(stop.problem)
        self.in_doubt.extend(stop.in_doubt)
        diff = await self._diff("diff:final")
        end = await self.activity("clock:end", "clock", self._end_clock)
        # Problems an observer had with the outcome event itself come after it; leave them out.
        recorded_outcome = self.recorded.get("outcome")
        outcome_seq = recorded_outcome.seq if recorded_outcome is not None else 1 << 62
        evidence = Evidence(
            run_id=self.s.run_id,
            task=self.s.task,
            model=self.s.routes[0].spec if self.s.routes else "",
            usage=self.usage,
            turns=self.turns,
            decisions=self.decisions,
            tool_calls=self.records,
            verifier_results=self.verifier_results,
            diff=diff.get("diff", ""),
            changed_files=diff.get("changed_files", []),
            timings={
                **{k: round(v, 6) for k, v in self.durations.items()},
                "total": end["elapsed"],
            },
            plugin_errors=[
                *self.load_problems,
                *self.problems,
                *(
                    from_dict(e.data, PluginProblem)
                    for e in sorted(self.recorded.values(), key=lambda e: e.seq)
                    if e.kind == "plugin_problem" and e.seq < outcome_seq
                ),
            ],
            in_doubt=self.in_doubt,
            events=self.notes,
        )
        outcome = Outcome(stop.status, stop.reason, stop.summary, evidence)  # type: ignore[arg-type]
        data = outcome_to_dict(outcome)
        recorded = self.recorded.get("outcome")
        if recorded is not None:
            if dumps(recorded.data) != dumps(data):
                raise JournalError(
                    f"run {self.s.run_id}: replay diverged: the re-driven outcome differs from the "
                    f"recorded one ({_first_difference(recorded.data, data)})"
                )
            return outcome
        self.record("outcome", "outcome", data, durable=True)
        return outcome

    async def _end_clock(self) -> dict[str, Any]:
        return {"elapsed": round(self._elapsed(), 6)}


def _recorded_outcome(data: Mapping[str, Any]) -> Outcome:
    from ._serialization import loads

    return loads(dumps(data), Outcome)


def _first_difference(recorded: Any, replayed: Any, path: str = "$") -> str:
    """Where two JSON values first differ, for divergence errors."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key in sorted(recorded.keys() | replayed.keys()):
            if recorded.get(key) != replayed.get(key):
                return _first_difference(recorded.get(key), replayed.get(key), f"{path}.{key}")
    if isinstance(recorded, list) and isinstance(replayed, list) and len(recorded) == len(replayed):
        for i, (a, b) in enumerate(zip(recorded, replayed, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{i}]")
    return f"at {path}: recorded {str(recorded)[:120]!r}, replayed {str(replayed)[:120]!r}"
