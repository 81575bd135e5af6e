"""Adversarial review of the run loop, journal and authority: each test pins a defect found."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tau_core import Agent, Authority, Task
from tau_core._journal import Journal
from tau_core._messages import ToolResult, ToolSpec
from tau_core._outcome import VerifierResult
from tau_core.testing import (
    FakeTool,
    FileEquals,
    ScriptedModel,
    ScriptedVerifier,
    WriteFile,
    fresh_plugin_manager,
    make_plugin,
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


@pytest.fixture
def plugins(tau_home: Path):
    return fresh_plugin_manager(make_plugin(tools=[WriteFile()]))


def _write(path: str, content: str = "x", call_id: str | None = None) -> dict:
    call: dict = {"name": "write_file", "arguments": {"path": path, "content": content}}
    if call_id is not None:
        call["id"] = call_id
    return call


def test_duplicate_call_ids_do_not_share_one_approval(plugins, workdir, tmp_path):
    """A second call reusing an id must be asked about itself, not ride on the first's yes."""
    outside = tmp_path / "outside.txt"
    asked = []

    def approver(call, decision):
        asked.append(call.arguments["path"])
        return call.arguments["path"] == "a.txt"

    turn = {"tool_calls": [_write("a.txt", call_id="dup"), _write(str(outside), call_id="dup")]}
    authority = Authority.from_preset("read-only", approval="ask")
    outcome = Agent(
        ScriptedModel([turn, {"text": "done"}]),
        authority=authority,
        verifier=ScriptedVerifier(),
        plugins=plugins,
        approver=approver,
    ).run("x", workdir=workdir)
    assert not outside.exists()
    assert asked == ["a.txt", str(outside)]
    assert (outcome.status, outcome.reason) == ("blocked", "approval_denied")


def test_duplicate_call_ids_each_run_and_replay_identically(plugins, workdir):
    """Both calls of a turn that share an id run, are journaled, and replay byte for byte."""
    turn = {"tool_calls": [_write("a.txt", "A", "dup"), _write("b.txt", "B", "dup")]}
    agent = Agent(
        ScriptedModel([turn, {"text": "done"}]),
        authority=Authority.from_preset("workspace-write"),
        verifier=ScriptedVerifier(),
        plugins=plugins,
    )
    outcome = agent.run("x", workdir=workdir)
    assert outcome.status == "verified"
    assert (workdir / "a.txt").read_text() == "A"
    assert (workdir / "b.txt").read_text() == "B"
    records = outcome.evidence.tool_calls
    assert len(records) == 2
    assert len({r.call.id for r in records}) == 2
    assert [r.call.arguments["path"] for r in records] == ["a.txt", "b.txt"]
    assert len(outcome.evidence.decisions) == 2
    kinds = [e.kind for e in agent.journal.get_run(outcome.run_id).events]
    assert kinds.count("tool_result") == 2
    assert agent.replay(outcome.run_id).to_json() == outcome.to_json()


def test_tool_returning_non_json_content_does_not_lose_the_run(tau_home, workdir):
    """A tool result that cannot be journaled becomes a tool error, not a failed run."""
    tool = FakeTool("blob", result=b"\x00bytes", side_effect="write", needs=["write:."])
    pm = fresh_plugin_manager(make_plugin(tools=[tool]))
    agent = Agent(
        ScriptedModel([{"tool_calls": [{"name": "blob", "arguments": {}}]}, {"text": "ok"}]),
        authority=Authority.from_preset("workspace-write"),
        verifier=ScriptedVerifier(),
        plugins=pm,
    )
    outcome = agent.run("x", workdir=workdir)
    assert outcome.status == "verified"
    record = outcome.evidence.tool_calls[0]
    assert record.result.error is not None
    assert record.result.error.code == "tool_crashed"
    kinds = [e.kind for e in agent.journal.get_run(outcome.run_id).events]
    assert "tool_result" in kinds
    assert agent.replay(outcome.run_id).to_json() == outcome.to_json()


class _Returns:
    def __init__(self, result: object) -> None:
        self.result = result

    async def verify(self, context):
        return self.result


@pytest.mark.parametrize(
    "result",
    [
        VerifierResult("odd", "green", details={"blob": b"\x00"}),
        VerifierResult("odd", "passed"),  # type: ignore[arg-type]
    ],
    ids=["non-json-details", "unknown-status"],
)
def test_verifier_returning_bad_results_blocks_with_plugin_error(plugins, workdir, result):
    outcome = Agent(
        ScriptedModel([{"text": "done"}] * 5),
        authority=Authority.from_preset("workspace-write"),
        verifier=_Returns(result),
        plugins=plugins,
    ).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "plugin_error")


def test_truthy_non_bool_approver_answer_is_not_an_approval(plugins, workdir):
    """Fail closed: only ``True`` approves; an answer like ``"no"`` must not."""
    authority = Authority.from_preset("read-only", approval="ask")
    outcome = Agent(
        ScriptedModel([{"tool_calls": [_write("greeting.txt")]}, {"text": "ok"}]),
        authority=authority,
        verifier=FileEquals("greeting.txt", "x"),
        plugins=plugins,
        approver=lambda call, decision: "no",
    ).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "approval_denied")
    assert not (workdir / "greeting.txt").exists()


def test_waiting_for_an_approver_holds_no_journal_write_lock(plugins, workdir, tau_home):
    """Another process's run must be able to write the journal while a human is asked."""
    locked: list[str] = []
    journal = Journal(tau_home / "j.sqlite3")

    def approver(call, decision):
        other = sqlite3.connect(journal.path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            locked.append(str(exc))
        finally:
            other.close()
        return False

    turn = {"tool_calls": [_write("a.txt"), _write("../outside.txt")]}
    outcome = Agent(
        ScriptedModel([turn]),
        authority=Authority.from_preset("workspace-write", approval="ask"),
        verifier=ScriptedVerifier(),
        plugins=plugins,
        approver=approver,
        journal=journal,
    ).run("x", workdir=workdir)
    assert (outcome.status, outcome.reason) == ("blocked", "approval_denied")
    assert locked == []


def test_two_processes_creating_one_journal_at_once(tmp_path, monkeypatch):
    """The loser of the race to create the schema must open the journal, not call it corrupt."""
    path = tmp_path / "journal.sqlite3"
    original = Journal._migrate
    raced = []

    def migrate(self, conn, current):
        if not raced:
            raced.append(True)
            Journal(path).close()  # the other process wins the race and creates the schema
        return original(self, conn, current)

    monkeypatch.setattr(Journal, "_migrate", migrate)
    journal = Journal(path)
    run_id = journal.create_run({"task": {"goal": "g"}})
    journal.append(run_id, "note", "k", {})
    assert [e.key for e in journal.events(run_id)] == ["k"]
    journal.close()


def test_cancelled_tool_batch_reports_the_interrupted_side_effect(tau_home, workdir):
    """A side-effecting call cut off by cancellation is named as in doubt in the evidence."""
    started = asyncio.Event()

    class Hang:
        spec = ToolSpec("hang", "Hangs.", side_effect="write")

        def capabilities(self, arguments, workdir):
            return []

        async def run(self, arguments, context) -> ToolResult:
            started.set()
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    pm = fresh_plugin_manager(make_plugin(tools=[Hang()]))
    agent = Agent(
        ScriptedModel([{"tool_calls": [{"name": "hang", "arguments": {}, "id": "h1"}]}]),
        verifier=ScriptedVerifier(),
        plugins=pm,
        authority=Authority.from_preset("full"),
    )

    async def main() -> None:
        task = asyncio.create_task(agent.arun(Task("x", workdir=workdir), run_id="cut"))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    outcome = agent.journal.get_run("cut").outcome
    assert outcome is not None
    assert (outcome["status"], outcome["reason"]) == ("blocked", "cancelled")
    assert [c["id"] for c in outcome["evidence"]["in_doubt"]] == ["h1"]


def test_a_tool_cannot_stop_the_run_through_its_own_metadata(tau_home, tmp_path):
    from tau_core import Agent, ToolResult
    from tau_core.testing import (
        FakeTool,
        ScriptedModel,
        ScriptedVerifier,
        fresh_plugin_manager,
        make_plugin,
    )

    class Stopper(FakeTool):
        async def run(self, arguments, context):
            return ToolResult(context.call.id, "stopper", "ok", metadata={"stop": "made_up"})

    pm = fresh_plugin_manager(make_plugin(tools=[Stopper("stopper")]))
    model = ScriptedModel(
        [{"tool_calls": [{"name": "stopper", "arguments": {}}]}, {"text": "done"}]
    )
    outcome = Agent(model, verifier=ScriptedVerifier(), plugins=pm).run("x", workdir=tmp_path)
    assert outcome.status == "verified"
    assert "stop" not in outcome.evidence.tool_calls[0].result.metadata
