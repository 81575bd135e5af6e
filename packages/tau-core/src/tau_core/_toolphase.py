"""The tool phase of a turn: decide every call, then run the allowed ones.

All calls of one model turn are decided against the authority before any of them runs, so a
denial blocks the whole batch before a single side effect (fail closed). Side-effecting calls
get an intent in the journal first; interrupted ones are re-run only when idempotent.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attrs import evolve

from ._authority import Capability, PolicyDecision, check_capabilities
from ._hookcontext import RunContext, ToolCallContext
from ._messages import Message, ToolCall, ToolResult
from ._outcome import PluginProblem, ToolCallRecord
from ._runstate import RunSetup, Stop, json_copy
from ._serialization import from_dict, to_dict
from .errors import CredentialError, PolicyDenied, SafetyViolation, ToolError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._events import Event

__all__ = ["ToolPhase"]


class ToolPhase:
    """The tool half of :class:`tau_core._loop.Loop` (a mixin: it shares the loop's state)."""

    s: RunSetup
    workdir: Path
    recorded: dict[str, Event]
    messages: list[Message]
    decisions: list[PolicyDecision]
    records: list[ToolCallRecord]
    notes: list[dict[str, Any]]
    tool_calls_made: int
    durations: dict[str, float]
    _protected: list[Path]
    run_context: RunContext | None

    if TYPE_CHECKING:

        def record(
            self,
            kind: str,
            key: str,
            data: dict[str, Any],
            *,
            durable: bool = False,
            commit: bool = True,
        ) -> None: ...

        async def activity(
            self,
            key: str,
            kind: str,
            fn: Callable[[], Awaitable[dict[str, Any]]],
            *,
            durable: bool = False,
        ) -> dict[str, Any]: ...

        async def _check_wall(self, key: str) -> None: ...

        def _audit(self, kind: str, data: dict[str, Any]) -> None: ...

        def _elapsed(self) -> float: ...

    async def _tools(self, calls: Sequence[ToolCall], turn: int) -> None:
        b = self.s.authority.budgets
        if b.max_tool_calls is not None and self.tool_calls_made + len(calls) > b.max_tool_calls:
            raise Stop(
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
            raise Stop(
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
                raise Stop(
                    "blocked",
                    str(reason),
                    f"{result.name} was stopped: {result.error.message if result.error else ''}",
                )

    def _start_plugins(self) -> None:
        """Give every plugin the run (``tau_run_start``) before anything is recorded."""
        self.run_context = RunContext(
            run_id=self.s.run_id,
            task=self.s.task,
            authority=self.s.authority,
            workdir=self.workdir,
            mode=self.s.mode,
            redactor=self.s.redactor,
            audit=self._audit if self.s.mode == "live" else None,
            history=tuple(sorted(self.recorded.values(), key=lambda e: e.seq)),
        )
        for impl in reversed(self.s.manager.hook.tau_run_start.get_hookimpls()):
            try:
                impl.function(run=self.run_context)
            except Exception as exc:
                problem = PluginProblem(
                    impl.plugin_name,
                    None,
                    None,
                    self.s.redactor.text(f"tau_run_start raised {type(exc).__name__}: {exc}"),
                    self.s.redactor.text(traceback.format_exc()),
                )
                raise Stop(
                    "blocked",
                    "plugin_error",
                    f"plugin {impl.plugin_name!r} could not prepare the run: {problem.error}",
                    problem,
                ) from None

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
        problem = check_arguments(tool.spec.parameters, call.arguments)
        if problem is not None:
            return (
                call,
                tool,
                None,
                ToolResult.failure(
                    call,
                    "bad_arguments",
                    problem,
                    f"the {call.name} tool takes: {_describe(tool.spec.parameters)}",
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
            raise Stop(
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
        self, call: ToolCall, decision: PolicyDecision, turn: int, suffix: str = ""
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
            # Fail closed: only a real True approves ("no", a Mock, 1 … do not).
            return {"approved": answer is True, "by": "approver"}

        data = await self.activity(f"approval:{turn}:{call.id}{suffix}", "approval", ask)
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

        self.s.journal.flush()  # resolving may prompt (a keyring unlock): hold no write lock
        config = load_config()
        secrets: dict[str, str] = {}
        for name in names:
            try:
                cred = self.s.manager.hook.tau_resolve_credential(name=name, config=config)
            except CredentialError as exc:
                raise Stop(
                    "blocked", "missing_credentials", f"credential {name!r}: {exc}"
                ) from None
            if cred is None:
                raise Stop(
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
            try:
                data = json_copy(self.s.redactor.obj(to_dict(result)))
            except (TypeError, ValueError) as exc:
                failure = ToolResult.failure(
                    call,
                    "tool_crashed",
                    f"{call.name} returned a result that is not JSON ({exc})",
                    "the tool failed unexpectedly; try another way",
                )
                data = json_copy(self.s.redactor.obj(to_dict(failure)))
            return {"result": data, "duration": duration}

        data = await self.activity(key, "tool_result", run)
        result = from_dict(data["result"], ToolResult)
        self.durations["tools"] += data["duration"]
        return result, ToolCallRecord(call, decision, result, data["duration"])

    async def _invoke(
        self, turn: int, call: ToolCall, tool: Any, secrets: dict[str, str]
    ) -> ToolResult:
        spec = tool.spec
        timeout = spec.timeout or self.s.tool_timeout
        per_call = getattr(tool, "timeout_for", None)
        if per_call is not None:
            # A tool that takes its own timeout argument (shell) gets that, plus a grace
            # period for cleaning up, so its own limit fires first and keeps partial output.
            asked = per_call(call.arguments)
            if asked is not None:
                timeout = float(asked) + 5.0
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

        async def escalate(rule_id: str, message: str) -> PolicyDecision:
            """A plugin's rail asks for this call to be approved (see ToolCallContext)."""
            decision = PolicyDecision(call.id, call.name, False, rule_id, "policy_denied", message)
            decision = await self._escalate(call, decision, turn, f":{rule_id}")
            self.record("decision", f"decision:{turn}:{call.id}:{rule_id}", to_dict(decision))
            self.decisions.append(decision)
            return decision

        context = ToolCallContext(
            call=call,
            spec=spec,
            run_id=self.s.run_id,
            workdir=self.workdir,
            idempotency_key=f"{self.s.run_id}:{turn}:{call.id}",
            secrets=secrets,
            tool=tool,
            authority=self.s.authority,
            protected=tuple(self._protected),
            original_call=call,
            authorize=authorize,
            run=self.run_context,
            escalate=escalate,
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
        if "stop" in result.metadata:
            # Only core stops a run from a tool call (safety violation, replaced call): a
            # tool's own result cannot smuggle in a reason outside the closed set.
            result = evolve(
                result, metadata={k: v for k, v in result.metadata.items() if k != "stop"}
            )
        return evolve(result, call_id=call.id, name=call.name)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict,),
    "null": (type(None),),
}


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """Check a call's arguments against the top level of its tool's JSON schema.

    Covers what models get wrong most: missing required arguments, unknown arguments when the
    schema forbids them, wrong JSON types and values outside an ``enum``. Deeper validation is
    the tool's own. Returns a message for the model, or None when the arguments fit.
    """
    properties = schema.get("properties") or {}
    missing = [name for name in schema.get("required", ()) if name not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    if schema.get("additionalProperties") is False:
        extra = sorted(set(arguments) - set(properties))
        if extra:
            return f"unknown argument(s): {', '.join(extra)}"
    for name, value in arguments.items():
        spec = properties.get(name)
        if not isinstance(spec, Mapping):
            continue
        wanted = spec.get("type")
        types = [wanted] if isinstance(wanted, str) else list(wanted or [])
        known = [t for t in types if t in _JSON_TYPES]
        if known:
            ok = any(
                isinstance(value, _JSON_TYPES[t])
                and not (t in ("integer", "number") and isinstance(value, bool))
                for t in known
            )
            if not ok:
                return f"argument {name!r} must be {' or '.join(known)}, got {type(value).__name__}"
        if "enum" in spec and value not in spec["enum"]:
            return f"argument {name!r} must be one of {spec['enum']!r}, got {value!r}"
    return None


def _describe(schema: Mapping[str, Any]) -> str:
    properties = schema.get("properties") or {}
    required = set(schema.get("required", ()))
    parts = [
        f"{name}: {spec.get('type', 'any') if isinstance(spec, Mapping) else 'any'}"
        + ("" if name in required else " (optional)")
        for name, spec in properties.items()
    ]
    return "{" + ", ".join(parts) + "}" if parts else "no arguments"
