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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from attrs import evolve

from ._authority import PolicyDecision
from ._compaction import compact, estimate_tokens
from ._contracts import VerifyContext, protected_paths
from ._events import Event
from ._hookcontext import ModelCallContext, ModelStream, RunContext
from ._messages import Message, ModelRequest, ModelResponse, Part, ToolCall, Usage
from ._outcome import (
    Evidence,
    Outcome,
    PluginProblem,
    ToolCallRecord,
    VerifierResult,
)
from ._runstate import (
    DEFAULT_SYSTEM,
    Approver,
    Route,
    RunSetup,
    Stop,
    first_difference,
    json_copy,
    recorded_outcome,
)
from ._serialization import dumps, from_dict, outcome_to_dict, to_dict
from ._spend import Spend, as_price, check_cost_budget, price_record
from ._toolphase import ToolPhase
from ._worktree import diff_snapshots, snapshot
from .errors import (
    CredentialError,
    JournalError,
    PluginError,
    ProviderAuthenticationError,
    ProviderError,
)

__all__ = ["Approver", "Loop", "Route", "RunSetup"]


class Loop(ToolPhase):
    """One run of the loop (live, resumed, or replayed)."""

    def __init__(self, setup: RunSetup) -> None:
        self.s = setup
        self.workdir = Path(setup.task.workdir)
        self.recorded: dict[str, Event] = {}
        self.messages: list[Message] = []
        self.usage = Usage()
        self.spend = Spend()  # the known part of the cost, and the tokens with no known price
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
        self._segment = 0
        self._provider_events = 0
        self._audits = 0
        self.load_problems: list[PluginProblem] = []
        self.run_context: RunContext | None = None

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
        # The last line of defence: whatever a caller forgot, nothing reaches the journal (and
        # from it the evidence, observers and resumed runs) before the redactor has seen it.
        if self.s.redactor:
            data = json_copy(self.s.redactor.obj(data))
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
            # Commit pending events first: an activity can wait long (a human approver, a
            # provider, a tool) and must not hold the journal's write lock while it does.
            self.s.journal.flush()
            try:
                data = await fn()
            except Stop as stop:
                data = stop.to_data()
            self.record(kind, key, data, durable=durable)
            # Go on with what was recorded (redacted), exactly as a resumed run would.
            data = self.recorded[key].data
        if "stop" in data:
            raise Stop.from_data(data)
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
            return recorded_outcome(self.recorded["outcome"].data)
        if "outcome" not in self.recorded and self.s.mode == "replay":
            raise JournalError(
                f"run {self.s.run_id} is not finished (no outcome is recorded), so there is "
                f"nothing to replay; continue it with `tau sessions resume {self.s.run_id}`"
            )
        try:
            await self._run()
        except Stop as stop:
            return await self._finish(stop)
        except asyncio.CancelledError:
            if self.s.mode == "live" and "outcome" not in self.recorded:
                # Side effects cut off mid-call may or may not have happened: name them.
                cut = [
                    from_dict(e.data["call"], ToolCall)
                    for e in sorted(self.recorded.values(), key=lambda e: e.seq)
                    if e.kind == "intent" and "tool" + e.key[len("intent") :] not in self.recorded
                ]
                await self._finish(
                    Stop("blocked", "cancelled", "the run was cancelled", in_doubt=cut)
                )
            raise
        except JournalError:
            raise
        except Exception as exc:  # a bug in a plugin or in Tau: record it, never crash the caller
            return await self._finish(
                Stop(
                    "failed",
                    type(exc).__name__,
                    self.s.redactor.text(f"{type(exc).__name__}: {exc}"),
                )
            )
        raise AssertionError("the loop ended without an outcome")  # pragma: no cover

    def _audit(self, kind: str, data: dict[str, Any]) -> None:
        n = self._audits
        self._audits += 1
        try:
            payload = json_copy(self.s.redactor.obj(data))
        except (TypeError, ValueError) as exc:
            payload = {"unrecordable": str(exc)}
        self.record(kind, f"audit:{self._segment}:{n}", payload)

    async def _run(self) -> None:
        s = self.s
        if s.mode == "live":
            self._segment = sum(1 for e in self.recorded.values() if e.kind == "segment")
        self._start_plugins()
        if s.mode == "live":
            n = self._segment
            self.record("segment", f"segment:{n}", {"n": n, "resumed": n > 0})
        for event in sorted(self.recorded.values(), key=lambda e: e.seq):
            if event.kind == "segment" and event.data["resumed"]:
                self.notes.append({"kind": "resumed", "segment": event.data["n"]})
        start = await self.activity("start", "run_started", self._start)
        self.baseline = start["snapshot"]
        self.load_problems = [from_dict(p, PluginProblem) for p in start["plugin_errors"]]
        if s.verifier_error is not None:
            raise Stop(
                "blocked",
                "plugin_error",
                f"the verifier {s.verifier_name!r} could not be created: {s.verifier_error.error}",
                s.verifier_error,
            )
        if s.verifier is None and not s.unverified:
            raise Stop(
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
                raise Stop("exhausted", "turns", f"the run used its {b.max_turns} model turns")
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
            response = evolve(response, message=_unique_call_ids(response.message))
            self.durations["model"] += data["duration"]
            for f in data.get("fallbacks", []):
                self.notes.append({"kind": "fallback", "turn": turn, **f})
            self.usage += response.usage
            price = self.recorded.get(f"price:{turn}")
            note = self.spend.add(
                response.usage,
                turn=turn,
                route=str(data.get("route", "")),
                worst_tokens=estimate_tokens(request.messages) + b.max_output_tokens,
                explain=price is not None and "routes" in price.data,
            )
            if note is not None:
                self.notes.append(note)
            self.turns += 1
            self.messages.append(response.message)
            calls = response.message.tool_calls
            if calls:
                await self._tools(calls, turn)
            else:
                await self._verify()

    def _redacted_snapshot(self) -> dict[str, Any]:
        """A snapshot of the working tree whose file texts are redacted, so the journal never
        holds a secret a file contains, and two snapshots still compare equal where the files
        did not change."""
        snap = snapshot(self.workdir)
        if self.s.redactor and snap.get("texts"):
            snap["texts"] = {k: self.s.redactor.text(v) for k, v in snap["texts"].items()}
        return snap

    async def _start(self) -> dict[str, Any]:
        snap = await asyncio.to_thread(self._redacted_snapshot)
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
            raise Stop("blocked", "cancelled", "the run was cancelled")

    async def _check_wall(self, key: str) -> None:
        limit = self.s.authority.budgets.max_wall_time
        if limit is None:
            return

        async def read() -> dict[str, Any]:
            return {"elapsed": round(self._elapsed(), 6)}

        data = await self.activity(key, "clock", read)
        if data["elapsed"] > limit:
            raise Stop(
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
                raise Stop(
                    "exhausted",
                    "tokens",
                    f"the next model call could bring the run to {worst} tokens, over its "
                    f"{b.max_tokens}",
                )
        if b.max_cost is None:
            return

        async def price() -> dict[str, Any]:
            # Fallback happens inside one model call, so any route may be the one that answers
            # (and bills): price them all; one with an unknown price brings in the policy.
            routes: list[dict[str, Any]] = []
            for route in self.s.routes:
                try:
                    client = self._client(route)
                except Exception as exc:  # it cannot answer; the call reports why if reached
                    routes.append({"route": route.spec, "unavailable": type(exc).__name__})
                    continue
                fn = getattr(client, "worst_case_cost", None)
                cost = fn(evolve(request, model=route.model)) if fn is not None else None
                routes.append({"route": route.spec, "worst_case_cost": as_price(cost)})
            return price_record(routes)

        data = await self.activity(f"price:{turn}", "price", price)
        stop = check_cost_budget(
            b,
            self.spend,
            data,
            primary=self.s.routes[0].spec,
            prompt_tokens=estimate_tokens(request.messages),
        )
        if stop is not None:
            raise stop

    # -- model ------------------------------------------------------------------------------------

    def _client(self, route: Route) -> Any:
        if route.client is None:
            route.client = route.factory()
        return route.client

    async def _call_model(self, request: ModelRequest) -> dict[str, Any]:
        failures: list[dict[str, Any]] = []
        reason = "provider_unavailable"
        turn = request.metadata.get("turn", self.turns)
        for route in self.s.routes:
            started = time.perf_counter()
            stream = ModelStream(
                route.spec,
                on_text=self.s.on_text,
                on_event=functools.partial(self._provider_event, route.spec, turn),
            )
            try:
                context = ModelCallContext(
                    request=evolve(request, model=route.model),
                    provider=route.provider,
                    model=route.spec,
                    run_id=self.s.run_id,
                    client_factory=functools.partial(self._client, route),
                    stream=stream,
                    run=self.run_context,
                )
                awaitable = self.s.manager.hook.tau_model_request(context=context)
                response = await awaitable
                if not isinstance(response, ModelResponse):
                    raise PluginError(
                        f"provider {route.provider!r} returned "
                        f"{type(response).__name__}, not a ModelResponse"
                    )
                try:
                    data = json_copy(self.s.redactor.obj(to_dict(response)))
                except (TypeError, ValueError) as exc:
                    raise PluginError(
                        f"provider {route.provider!r} returned a response that is not JSON: {exc}"
                    ) from None
            except (CredentialError, ProviderAuthenticationError) as exc:
                reason = "missing_credentials"
                failures.append({"route": route.spec, "error": self.s.redactor.text(str(exc))})
                continue
            except ProviderError as exc:
                error = self.s.redactor.text(str(exc))
                failures.append({"route": route.spec, "error": error})
                if not exc.retryable:
                    raise Stop("failed", type(exc).__name__, f"{route.spec}: {error}") from None
                if stream.started or getattr(exc, "output_started", False):
                    # The caller already saw part of this answer; another route would repeat it.
                    raise Stop(
                        "blocked",
                        "provider_unavailable",
                        f"{route.spec} failed after part of its answer had been streamed "
                        f"({error}); not falling back, so the streamed text is not duplicated "
                        f"(resume the run to ask again)",
                    ) from None
                continue
            except PluginError as exc:
                problem = PluginProblem(
                    route.provider, None, None, str(exc), traceback.format_exc()
                )
                raise Stop(
                    "blocked", "plugin_error", f"provider {route.spec}: {exc}", problem
                ) from None
            return {
                "response": data,
                "route": route.spec,
                "duration": round(time.perf_counter() - started, 6),
                "fallbacks": failures,
            }
        detail = "; ".join(f"{f['route']}: {f['error']}" for f in failures)
        raise Stop("blocked", reason, f"no model route could answer ({detail})")

    def _provider_event(self, route: str, turn: Any, kind: str, data: dict[str, Any]) -> None:
        """Journal what a provider reported during a call (retries, breaker changes, …)."""
        n = self._provider_events
        self._provider_events += 1
        try:
            payload = json_copy(self.s.redactor.obj({"route": route, "turn": turn, **data}))
        except (TypeError, ValueError) as exc:
            payload = {"route": route, "turn": turn, "unrecordable": str(exc)}
        payload["event"] = str(kind)
        self.record("provider_event", f"provider:{self._segment}:{n}", payload)

    # -- verification -----------------------------------------------------------------------------

    async def _verify(self) -> None:
        if self.s.verifier is None:
            raise Stop(
                "unverified",
                None,
                "the model finished; no verifier ran (an unverified run was asked for)",
            )
        attempt = len(self.verifier_results) + 1
        await self._check_wall(f"clock:verify:{attempt}")
        diff = await self._diff(f"diff:{attempt}")

        async def verify() -> dict[str, Any]:
            context = VerifyContext(
                self.s.run_id,
                self.s.task,
                self.workdir,
                attempt,
                diff.get("diff", ""),
                baseline=dict(self.baseline),
            )
            started = time.perf_counter()
            try:
                result = await self.s.verifier.verify(context)
                if not isinstance(result, VerifierResult):
                    raise PluginError(f"returned {type(result).__name__}, not a VerifierResult")
                if result.status not in ("green", "red", "error"):
                    raise PluginError(
                        f"returned status {result.status!r}; a verifier answers green, red or error"
                    )
                data = json_copy(self.s.redactor.obj(to_dict(result)))
            except Exception as exc:
                problem = PluginProblem(
                    self.s.verifier_name or "verifier",
                    None,
                    None,
                    f"{type(exc).__name__}: {exc}",
                    traceback.format_exc(),
                )
                raise Stop(
                    "blocked",
                    "plugin_error",
                    f"the verifier {self.s.verifier_name!r} failed: {type(exc).__name__}: {exc}",
                    problem,
                ) from None
            return {"result": data, "duration": round(time.perf_counter() - started, 6)}

        data = await self.activity(f"verify:{attempt}", "verifier_result", verify)
        result = from_dict(data["result"], VerifierResult)
        self.durations["verifier"] += data["duration"]
        self.verifier_results.append(result)
        if result.status == "green":
            raise Stop("verified", None, result.summary or "the verifier is green")
        if result.status == "error":
            raise Stop(
                "blocked",
                "plugin_error",
                f"the verifier {result.verifier!r} could not decide: {result.summary}",
            )
        self.repairs += 1
        max_repairs = self.s.authority.budgets.max_repairs
        if self.repairs > max_repairs:
            raise Stop(
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
            after = await asyncio.to_thread(self._redacted_snapshot)
            return await asyncio.to_thread(diff_snapshots, self.workdir, self.baseline, after)

        if not self.baseline:
            return {"diff": "", "changed_files": []}
        return await self.activity(key, "diff", compute)

    # -- the end ----------------------------------------------------------------------------------

    async def _finish(self, stop: Stop) -> Outcome:
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
            events=[
                *self.notes,
                *(
                    {"kind": "provider", **e.data}
                    for e in sorted(self.recorded.values(), key=lambda e: e.seq)
                    if e.kind == "provider_event" and e.seq < outcome_seq
                ),
            ],
        )
        outcome = Outcome(stop.status, stop.reason, stop.summary, evidence)  # type: ignore[arg-type]
        data = outcome_to_dict(outcome)
        recorded = self.recorded.get("outcome")
        if recorded is not None:
            if dumps(recorded.data) != dumps(data):
                raise JournalError(
                    f"run {self.s.run_id}: replay diverged: the re-driven outcome differs from the "
                    f"recorded one ({first_difference(recorded.data, data)})"
                )
            return outcome
        self.record("outcome", "outcome", data, durable=True)
        return outcome

    async def _end_clock(self) -> dict[str, Any]:
        return {"elapsed": round(self._elapsed(), 6)}


def _unique_call_ids(message: Message) -> Message:
    """*message* with tool-call ids made unique within it.

    Journal keys, approvals and in-doubt checks are per call id, so two calls of one turn
    sharing an id would share one approval and one recorded result. A repeated id becomes
    ``ID_2`` (``ID_3`` …), the same way on every resume and replay.
    """
    calls = message.tool_calls
    taken = {c.id for c in calls}
    if len(taken) == len(calls):
        return message
    seen: set[str] = set()
    parts: list[Part] = []
    for part in message.parts:
        if isinstance(part, ToolCall):
            if part.id in seen:
                n = 2
                while f"{part.id}_{n}" in taken:
                    n += 1
                renamed = evolve(part, id=f"{part.id}_{n}")
                taken.add(renamed.id)
                parts.append(renamed)
                continue
            seen.add(part.id)
        parts.append(part)
    return evolve(message, parts=tuple(parts))
