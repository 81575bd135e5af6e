"""Every outcome status and reason code, with the scripted model and real files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from attrs import evolve

import tau_core
from tau_core import Agent, Authority, Budgets, Task
from tau_core.errors import ProviderConnectionError, ProviderHTTPError, UsageError
from tau_core.testing import (
    AppendLine,
    FakeTool,
    FileEquals,
    ScriptedModel,
    ScriptedVerifier,
    Sleep,
    WriteFile,
    fresh_plugin_manager,
    make_plugin,
)

GREETING = "Hello, Tau\n"


def write_turn(content: str = GREETING, path: str = "greeting.txt") -> dict:
    return {
        "text": "writing",
        "tool_calls": [{"name": "write_file", "arguments": {"path": path, "content": content}}],
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


@pytest.fixture
def plugins(tau_home: Path):
    return fresh_plugin_manager(make_plugin(tools=[WriteFile(), AppendLine(), Sleep()]))


def agent(plugins, turns, *, preset="workspace-write", verifier=None, **kw) -> Agent:
    authority = kw.pop("authority", None) or Authority.from_preset(preset)
    if verifier is None and not kw.get("unverified"):
        verifier = FileEquals("greeting.txt", GREETING)
    return Agent(
        ScriptedModel(turns), authority=authority, verifier=verifier, plugins=plugins, **kw
    )


def test_verified(plugins, workdir):
    outcome = agent(plugins, [write_turn(), {"text": "done"}]).run("greet", workdir=workdir)
    assert outcome.status == "verified"
    assert outcome.reason is None
    assert (workdir / "greeting.txt").read_text() == GREETING
    ev = outcome.evidence
    assert ev.turns == 2
    assert [d.allowed for d in ev.decisions] == [True]
    assert ev.verifier_results[0].status == "green"
    assert ev.changed_files == ("greeting.txt",)
    assert "+Hello, Tau" in ev.diff


def test_red_then_fixed(plugins, workdir):
    model = ScriptedModel(
        [write_turn("Hello\n"), {"text": "done"}, write_turn(), {"text": "fixed"}]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        plugins=plugins,
    ).run("greet", workdir=workdir)
    assert outcome.status == "verified"
    statuses = [v.status for v in outcome.evidence.verifier_results]
    assert statuses == ["red", "green"]
    # The red result's feedback (with the diff) went back to the model before the fix.
    feedback = model.requests[2].messages[-1]
    assert feedback.role == "user"
    assert "not done" in feedback.text and "expected 'Hello, Tau\\n'" in feedback.text
    assert "+Hello" in feedback.text


def test_exhausted_repairs(plugins, workdir):
    turns = [write_turn("wrong\n"), {"text": "done"}] * 5
    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_repairs=2))
    outcome = agent(plugins, turns, authority=authority).run("greet", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("exhausted", "repairs")
    assert [v.status for v in outcome.evidence.verifier_results] == ["red", "red", "red"]


def test_blocked_before_denied_write_leaves_file_untouched(plugins, workdir):
    target = workdir / "greeting.txt"
    target.write_text("original\n")
    before = target.stat()
    outcome = agent(plugins, [write_turn()], preset="read-only").run("greet", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    assert target.read_text() == "original\n"
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    decision = outcome.evidence.decisions[0]
    assert not decision.allowed
    assert decision.rule_id == "grant.write"
    assert decision.needed_grant == f"write:{target.resolve()}"
    assert decision.needed_grant in outcome.summary or "write:" in outcome.summary
    assert outcome.evidence.tool_calls == ()  # nothing ran


def test_denial_blocks_whole_batch_before_any_call_runs(plugins, workdir):
    turn = {
        "tool_calls": [
            {"name": "write_file", "arguments": {"path": "a.txt", "content": "a"}},
            {"name": "write_file", "arguments": {"path": "../outside.txt", "content": "b"}},
        ]
    }
    outcome = agent(plugins, [turn]).run("two writes", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    assert not (workdir / "a.txt").exists()
    assert not (workdir.parent / "outside.txt").exists()


def test_symlink_cannot_smuggle_a_write_out_of_the_grant(plugins, workdir, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (workdir / "link").symlink_to(outside)
    outcome = agent(plugins, [write_turn(path="link/x.txt")]).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    assert not (outside / "x.txt").exists()


def test_verifier_inputs_are_read_only(plugins, workdir):
    verifier = FileEquals("greeting.txt", GREETING, protect=True)
    outcome = agent(plugins, [write_turn()], verifier=verifier).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "policy_denied")
    assert outcome.evidence.decisions[0].rule_id == "verifier.protected"
    assert not (workdir / "greeting.txt").exists()
    # A grant naming the file exactly allows it.
    authority = Authority.from_preset("workspace-write", f"write:{workdir / 'greeting.txt'}")
    outcome = agent(
        plugins, [write_turn(), {"text": "ok"}], verifier=verifier, authority=authority
    ).run("x", workdir=workdir)
    assert outcome.status == "verified"


def test_approval_never_returns_denial_to_the_model(plugins, workdir):
    authority = Authority.from_preset("read-only", approval="never")
    outcome = agent(plugins, [write_turn(), {"text": "I cannot"}], authority=authority).run(
        "x", workdir=workdir
    )
    # The verifier stayed red until the repair budget ran out.
    assert (outcome.status, outcome.reason) == ("exhausted", "repairs")
    # The model saw a structured policy error, nothing was written, the verifier stayed red.
    record = outcome.evidence.tool_calls[0]
    assert record.result.error.code == "policy_denied"
    assert "write:" in record.result.error.hint
    assert not (workdir / "greeting.txt").exists()
    assert outcome.evidence.verifier_results[0].status == "red"


def test_approval_ask_uses_the_approver(plugins, workdir):
    asked = []

    def approver(call, decision):
        asked.append((call.name, decision.needed_grant))
        return True

    authority = Authority.from_preset("read-only", approval="ask")
    outcome = agent(
        plugins, [write_turn(), {"text": "ok"}], authority=authority, approver=approver
    ).run("x", workdir=workdir)
    assert outcome.status == "verified"
    assert asked and asked[0][0] == "write_file"
    assert outcome.evidence.decisions[0].rule_id == "approval.granted"


def test_approval_ask_refused(plugins, workdir):
    authority = Authority.from_preset("read-only", approval="ask")

    async def approver(call, decision):
        return False

    outcome = agent(plugins, [write_turn()], authority=authority, approver=approver).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("blocked", "approval_denied")
    assert not (workdir / "greeting.txt").exists()


def test_missing_verifier(plugins, workdir):
    model = ScriptedModel([write_turn()])
    outcome = Agent(model, authority=Authority.from_preset("workspace-write"), plugins=plugins).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("blocked", "missing_verifier")
    assert model.requests == []  # blocked before spending anything
    assert not (workdir / "greeting.txt").exists()


def test_unverified_only_when_asked(plugins, workdir):
    outcome = agent(plugins, [write_turn(), {"text": "ok"}], unverified=True).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("unverified", None)
    assert outcome.ok


@pytest.mark.parametrize(
    ("budgets", "reason"),
    [
        (Budgets(max_turns=2), "turns"),
        (Budgets(max_tokens=300), "tokens"),
        (Budgets(max_tool_calls=2), "tool_calls"),
    ],
)
def test_budget_exhausted(plugins, workdir, budgets, reason):
    turns = [{"tool_calls": [{"name": "sleep", "arguments": {"seconds": 0}}]}] * 10
    authority = Authority.from_preset("workspace-write", budgets=budgets)
    outcome = agent(plugins, turns, authority=authority).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("exhausted", reason)


def test_token_budget_is_checked_before_the_call(plugins, workdir):
    model = ScriptedModel([{"text": "hi"}])
    authority = Authority.from_preset(
        "workspace-write", budgets=Budgets(max_tokens=10, max_output_tokens=4096)
    )
    outcome = Agent(
        model, authority=authority, verifier=ScriptedVerifier("green"), plugins=plugins
    ).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("exhausted", "tokens")
    assert model.requests == []  # worst case exceeded: the call was never made


def test_wall_time_exhausted(plugins, workdir):
    turns = [{"tool_calls": [{"name": "sleep", "arguments": {"seconds": 0.2}}]}] * 20
    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_wall_time=0.5))
    outcome = agent(plugins, turns, authority=authority).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("exhausted", "wall_time")
    assert outcome.evidence.turns < 20


def test_cost_budget_with_unknown_price_blocks(plugins, workdir):
    class NoPrice:
        async def complete(self, request):  # pragma: no cover - never reached
            raise AssertionError("must not be called")

    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_cost=1.0))
    outcome = Agent(
        NoPrice(), authority=authority, verifier=ScriptedVerifier(), plugins=plugins
    ).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "unknown_price")


def test_cost_budget_exhausted_worst_case(plugins, workdir):
    class Pricey(ScriptedModel):
        def worst_case_cost(self, request):
            return 0.6

    model = Pricey(
        [
            {
                "text": "a",
                "usage": {"cost": 0.5},
                "tool_calls": [{"name": "sleep", "arguments": {}}],
            },
            {"text": "b"},
        ]
    )
    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_cost=1.0))
    outcome = Agent(model, authority=authority, verifier=ScriptedVerifier(), plugins=plugins).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("exhausted", "cost")
    assert len(model.requests) == 1


def test_verifier_that_raises_blocks_with_plugin_error(plugins, workdir):
    verifier = ScriptedVerifier(RuntimeError("verifier exploded"))
    outcome = agent(plugins, [write_turn(), {"text": "ok"}], verifier=verifier).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("blocked", "plugin_error")
    assert "verifier exploded" in outcome.summary
    assert any("verifier exploded" in p.error for p in outcome.evidence.plugin_errors)


def test_verifier_plugin_that_fails_to_build_blocks_with_plugin_error(tau_home, workdir):
    def broken_factory(options):
        raise RuntimeError("cannot build")

    pm = fresh_plugin_manager(
        make_plugin(tools=[WriteFile()], verifiers={"broken": broken_factory})
    )
    model = ScriptedModel([write_turn()])
    outcome = Agent(
        model, authority=Authority.from_preset("workspace-write"), verifier="broken", plugins=pm
    ).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "plugin_error")
    assert model.requests == []


def test_verifier_error_status_blocks(plugins, workdir):
    outcome = agent(plugins, [{"text": "ok"}], verifier=ScriptedVerifier("error")).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("blocked", "plugin_error")


class Failing:
    def __init__(self, exc):
        self.exc, self.calls = exc, 0

    async def complete(self, request):
        self.calls += 1
        raise self.exc


def test_provider_unavailable_and_fallback(tau_home, workdir):
    primary = Failing(ProviderConnectionError("connection refused"))
    backup = ScriptedModel([{"text": "ok"}])
    pm = fresh_plugin_manager(make_plugin(providers={"down": primary, "up": backup}))
    outcome = Agent("down:m", fallback=["up:m"], verifier=ScriptedVerifier(), plugins=pm).run(
        "x", workdir=workdir
    )
    assert outcome.status == "verified"
    assert primary.calls == 1 and len(backup.requests) == 1
    assert outcome.evidence.events[0]["kind"] == "fallback"
    outcome = Agent("down:m", verifier=ScriptedVerifier(), plugins=pm).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "provider_unavailable")


def test_missing_credentials(tau_home, workdir):
    from tau_core.errors import ProviderAuthenticationError

    pm = fresh_plugin_manager(
        make_plugin(
            providers={
                "locked": Failing(
                    ProviderAuthenticationError("set it with `tau keys set locked`", status=401)
                )
            }
        )
    )
    outcome = Agent("locked:m", verifier=ScriptedVerifier(), plugins=pm).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_credentials")


def test_non_retryable_provider_error_fails(tau_home, workdir):
    pm = fresh_plugin_manager(
        make_plugin(providers={"bad": Failing(ProviderHTTPError("bad request", status=400))})
    )
    outcome = Agent("bad:m", fallback=["bad:m2"], verifier=ScriptedVerifier(), plugins=pm).run(
        "x", workdir=workdir
    )
    assert (outcome.status, outcome.reason) == ("failed", "ProviderHTTPError")


def test_tool_failures_go_back_to_the_model(plugins, workdir):
    crash = FakeTool("crash", RuntimeError("boom"))
    pm = fresh_plugin_manager(make_plugin(tools=[crash]))
    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "crash", "arguments": {}}, {"name": "nope", "arguments": {}}]},
            {"text": "ok"},
        ]
    )
    outcome = Agent(model, verifier=ScriptedVerifier(), plugins=pm).run("x", workdir=workdir)
    assert outcome.status == "verified"
    codes = [r.result.error.code for r in outcome.evidence.tool_calls]
    assert sorted(codes) == ["tool_crashed", "unknown_tool"]
    tool_msg = model.requests[1].messages[-1]
    assert tool_msg.role == "tool" and len(tool_msg.tool_results) == 2


def test_per_tool_timeout(tau_home, workdir):
    pm = fresh_plugin_manager(make_plugin(tools=[Sleep()]))
    model = ScriptedModel(
        [{"tool_calls": [{"name": "sleep", "arguments": {"seconds": 5}}]}, {"text": "ok"}]
    )
    outcome = Agent(model, verifier=ScriptedVerifier(), plugins=pm, tool_timeout=0.2).run(
        "x", workdir=workdir
    )
    assert outcome.evidence.tool_calls[0].result.error.code == "timeout"
    assert outcome.evidence.timings["tools"] < 2


def test_parallel_tool_calls_are_bounded(tau_home, workdir):
    active, peak = 0, 0

    class Counting(FakeTool):
        async def run(self, arguments, context):
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.05)
            active -= 1
            return await super().run(arguments, context)

    pm = fresh_plugin_manager(make_plugin(tools=[Counting("count")]))
    calls = [{"name": "count", "arguments": {"i": i}} for i in range(8)]
    outcome = Agent(
        ScriptedModel([{"tool_calls": calls}, {"text": "ok"}]),
        verifier=ScriptedVerifier(),
        plugins=pm,
        max_parallel_tools=3,
    ).run("x", workdir=workdir)
    assert outcome.status == "verified"
    assert peak == 3


def test_cancellation_blocks_with_cancelled(tau_home, workdir):
    pm = fresh_plugin_manager(make_plugin(tools=[Sleep()]))
    turns = [{"tool_calls": [{"name": "sleep", "arguments": {"seconds": 0.05}}]}] * 50
    agent_ = Agent(ScriptedModel(turns), verifier=ScriptedVerifier(), plugins=pm)

    async def main():
        task = asyncio.create_task(agent_.arun("x", workdir=workdir))
        await asyncio.sleep(0.2)
        agent_.cancel()
        return await task

    outcome = asyncio.run(main())
    assert (outcome.status, outcome.reason) == ("blocked", "cancelled")
    assert 0 < outcome.evidence.turns < 50


def test_task_cancelled_from_outside_records_cancelled(tau_home, workdir):
    pm = fresh_plugin_manager(make_plugin(tools=[Sleep()]))
    turns = [{"tool_calls": [{"name": "sleep", "arguments": {"seconds": 10}}]}]
    agent_ = Agent(ScriptedModel(turns), verifier=ScriptedVerifier(), plugins=pm)

    async def main():
        task = asyncio.create_task(agent_.arun("x", workdir=workdir, run_id="cancel-me"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    record = agent_.journal.get_run("cancel-me")
    assert record.outcome["status"] == "blocked"
    assert record.outcome["reason"] == "cancelled"


def test_sync_facade_works_inside_a_running_loop(plugins, workdir):
    async def notebook_cell():
        # A notebook cell runs inside an event loop; the sync call must still work.
        return agent(plugins, [write_turn(), {"text": "ok"}]).run("x", workdir=workdir)

    outcome = asyncio.run(notebook_cell())
    assert outcome.status == "verified"


def test_module_level_run(plugins, workdir):
    outcome = tau_core.run(
        "x",
        model=ScriptedModel([write_turn(), {"text": "ok"}]),
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        workdir=workdir,
        plugins=plugins,
    )
    assert outcome.status == "verified"


def test_bad_inputs_are_usage_errors(plugins, workdir):
    with pytest.raises(UsageError, match="provider:model"):
        Agent("no-colon", verifier=ScriptedVerifier(), plugins=plugins).run("x", workdir=workdir)
    with pytest.raises(UsageError, match="no provider named 'nope'"):
        Agent("nope:x", verifier=ScriptedVerifier(), plugins=plugins).run("x", workdir=workdir)
    with pytest.raises(UsageError, match="does not exist"):
        agent(plugins, []).run("x", workdir=workdir / "missing")
    with pytest.raises(UsageError, match="no script file"):
        Agent("scripted:/nonexistent.json", verifier=ScriptedVerifier(), plugins=plugins).run(
            "x", workdir=workdir
        )
    with pytest.raises(UsageError, match="no verifier named 'nope'"):
        Agent(ScriptedModel([]), verifier="nope", plugins=plugins).run("x", workdir=workdir)
    with pytest.raises(UsageError, match="not KIND:TARGET"):
        Authority.parse(["bogus"])
    with pytest.raises(UsageError, match="unknown preset"):
        Authority.from_preset("everything")


def test_scripted_provider_by_spec(plugins, workdir, tmp_path):
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"turns": [write_turn(), {"text": "ok"}]}))
    outcome = Agent(
        f"scripted:{script}",
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        plugins=plugins,
    ).run(Task("x", workdir=str(workdir)))
    assert outcome.status == "verified"
    assert outcome.evidence.model == f"scripted:{script}"


def test_scripted_script_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.json"
    for content, message in [
        ("not json", "is not JSON"),
        ('{"nope": []}', "must be an object with a 'turns' list"),
        ('{"turns": [{"tool_calls": [{"arguments": {}}]}]}', r"turns\[0\].tool_calls\[0\]"),
        ('{"turns": [{"txt": "typo"}]}', "unknown key"),
    ]:
        bad.write_text(content)
        with pytest.raises(UsageError, match=message):
            ScriptedModel(bad)


def test_outcome_json_roundtrip_and_renderings(plugins, workdir):
    outcome = agent(plugins, [write_turn(), {"text": "done"}]).run("greet", workdir=workdir)
    data = json.loads(outcome.to_json())
    assert {"run_id", "status", "reason", "summary", "evidence", "schema"} <= set(data)
    again = tau_core.Outcome.from_json(outcome.to_json())
    assert again == outcome
    md = outcome.to_markdown()
    assert "## Outcome: verified" in md and "write_file" in md and "+Hello, Tau" in md
    html = outcome._repr_html_()
    assert "<h3" in html and "verified" in html and "&lt;" not in outcome.summary
    assert outcome.evidence._repr_html_().startswith("<div")
    assert outcome.evidence.to_markdown() in md


def test_newer_schema_is_refused():
    with pytest.raises(UsageError, match="upgrade tau-core"):
        tau_core.Outcome.from_json('{"schema": 99, "status": "verified"}')


def test_compaction_during_a_run_keeps_pairs(plugins, workdir):
    big = "x" * 2000
    turns = [
        {"tool_calls": [{"name": "write_file", "arguments": {"path": f"f{i}.txt", "content": big}}]}
        for i in range(6)
    ] + [write_turn(), {"text": "ok"}]
    model = ScriptedModel(turns)
    outcome = Agent(
        model,
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        plugins=plugins,
        context_tokens=1500,
    ).run("x", workdir=workdir)
    assert outcome.status == "verified"
    assert any(e["kind"] == "compacted" for e in outcome.evidence.events)
    for request in model.requests:
        calls = {c.id for m in request.messages for c in m.tool_calls}
        results = {r.call_id for m in request.messages for r in m.tool_results}
        assert calls == results


def test_authority_evolve_keeps_budgets():
    a = Authority.from_preset("read-only", budgets=Budgets(max_turns=3))
    b = a.with_grants("write:.")
    assert b.budgets.max_turns == 3 and evolve(b).grants[-1].kind == "write"


def test_arguments_are_checked_against_the_schema_before_the_tool_runs(plugins, workdir):
    model = ScriptedModel(
        [
            {
                "tool_calls": [
                    {"name": "write_file", "arguments": {"path": "greeting.txt"}},
                    {"name": "write_file", "arguments": {"path": 7, "content": "x"}},
                ]
            },
            write_turn(),
            {"text": "ok"},
        ]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        plugins=plugins,
    ).run("x", workdir=workdir)
    assert outcome.status == "verified"
    first, second = outcome.evidence.tool_calls[:2]
    assert first.result.error.code == second.result.error.code == "bad_arguments"
    assert "missing required argument(s): content" in first.result.error.message
    assert "'path' must be string, got int" in second.result.error.message
    assert "path: string" in first.result.error.hint
    assert first.decision is None  # nothing was decided or run for a malformed call


def test_check_arguments_rules():
    from tau_core._toolphase import check_arguments

    schema = {
        "type": "object",
        "required": ["a"],
        "additionalProperties": False,
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": ["string", "null"]},
            "c": {"enum": ["x", "y"]},
        },
    }
    assert check_arguments(schema, {"a": 1, "b": None, "c": "x"}) is None
    assert "must be integer" in check_arguments(schema, {"a": True})
    assert "must be integer" in check_arguments(schema, {"a": 1.5})
    assert "unknown argument(s): z" in check_arguments(schema, {"a": 1, "z": 0})
    assert "must be one of" in check_arguments(schema, {"a": 1, "c": "q"})
    assert check_arguments({}, {"anything": 1}) is None


def test_verifier_sees_the_runs_baseline_snapshot(plugins, workdir):
    seen = []

    class Recording(ScriptedVerifier):
        async def verify(self, context):
            seen.append(context.baseline)
            return await super().verify(context)

    outcome = agent(plugins, [write_turn(), {"text": "ok"}], verifier=Recording("green")).run(
        "x", workdir=workdir
    )
    assert outcome.status == "verified"
    assert seen[0]["kind"] == "files" and "greeting.txt" not in seen[0]["files"]
