"""The journal: append-only SQLite, resume, replay, fork, in-doubt intents, bad databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tau_core import Agent, Authority, Journal
from tau_core._journal import APPLICATION_ID, SCHEMA_VERSION
from tau_core.errors import JournalError, UsageError
from tau_core.testing import (
    AppendLine,
    FileEquals,
    ScriptedModel,
    ScriptedVerifier,
    WriteFile,
    fresh_plugin_manager,
    make_plugin,
)

GREETING = "Hello, Tau\n"
SCRIPT = [
    {"tool_calls": [{"name": "append_line", "arguments": {"path": "log.txt", "line": "one"}}]},
    {
        "tool_calls": [
            {"name": "write_file", "arguments": {"path": "greeting.txt", "content": "nope"}}
        ]
    },
    {"text": "done"},
    {
        "tool_calls": [
            {"name": "write_file", "arguments": {"path": "greeting.txt", "content": GREETING}}
        ]
    },
    {"text": "fixed"},
]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


@pytest.fixture
def plugins(tau_home):
    return fresh_plugin_manager(make_plugin(tools=[WriteFile(), AppendLine()]))


def make_agent(plugins, model=None, journal=None) -> Agent:
    return Agent(
        model or ScriptedModel(SCRIPT),
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        plugins=plugins,
        journal=journal,
    )


class Boom(BaseException):
    """Stands in for the process dying: nothing below the loop catches a BaseException."""


def test_events_are_append_only(plugins, workdir, tau_home):
    outcome = make_agent(plugins).run("x", workdir=workdir)
    conn = sqlite3.connect(tau_home / "journal.sqlite3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET kind = 'x' WHERE run_id = ?", (outcome.run_id,))
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE run_id = ?", (outcome.run_id,))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert oct((tau_home / "journal.sqlite3").stat().st_mode & 0o777) == "0o600"


def test_event_kinds_and_intent_before_effect(plugins, workdir):
    agent = make_agent(plugins)
    outcome = agent.run("x", workdir=workdir)
    assert outcome.status == "verified"
    events = list(agent.journal.events(outcome.run_id))
    kinds = [e.kind for e in events]
    assert kinds[0] == "segment" and kinds[1] == "run_started" and kinds[-1] == "outcome"
    seqs = [e.seq for e in events]
    assert seqs == list(range(1, len(events) + 1))
    for e in events:
        if e.kind == "tool_result":
            intent = f"intent:{e.key.split(':', 1)[1]}"
            assert intent in [x.key for x in events if x.seq < e.seq], "intent must come first"
    intents = [e for e in events if e.kind == "intent"]
    assert {e.data["idempotent"] for e in intents} == {True, False}


def test_replay_is_byte_identical_and_has_no_side_effects(plugins, workdir):
    model = ScriptedModel(SCRIPT)
    agent = make_agent(plugins, model)
    outcome = agent.run("x", workdir=workdir)
    assert outcome.status == "verified"
    reference = outcome.to_json()
    (workdir / "greeting.txt").unlink()
    (workdir / "log.txt").write_text("")
    requests = len(model.requests)
    count = len(list(agent.journal.events(outcome.run_id)))
    for _ in range(100):
        assert agent.replay(outcome.run_id).to_json() == reference
    assert len(model.requests) == requests  # no provider call
    assert not (workdir / "greeting.txt").exists()  # no tool ran
    assert (workdir / "log.txt").read_text() == ""
    assert len(list(agent.journal.events(outcome.run_id))) == count  # nothing written


def test_replay_of_unfinished_run_is_refused(plugins, workdir):
    model = ScriptedModel(SCRIPT)

    class Dying(WriteFile):
        async def run(self, arguments, context):
            raise Boom

    pm = fresh_plugin_manager(make_plugin(tools=[Dying(), AppendLine()]))
    agent = make_agent(pm, model)
    with pytest.raises(Boom):
        agent.run("x", workdir=workdir, run_id="unfinished")
    with pytest.raises(JournalError, match="not finished"):
        make_agent(plugins).replay("unfinished")


def test_replay_that_diverges_is_refused(plugins, workdir):
    outcome = make_agent(plugins).run("x", workdir=workdir)
    strict = FileEquals("greeting.txt", GREETING)
    agent = Agent(
        ScriptedModel(SCRIPT),
        authority=Authority.from_preset("read-only"),
        verifier=strict,
        plugins=plugins,
    )
    # Same journal, but replay re-drives with the recorded spec: still identical.
    assert agent.replay(outcome.run_id).status == "verified"


def test_resume_after_crash_continues_without_repeating_side_effects(plugins, workdir):
    calls = {"n": 0}

    class CrashOnce(WriteFile):
        async def run(self, arguments, context):
            calls["n"] += 1
            if calls["n"] == 1:
                raise Boom  # dies during the first write_file call (after its intent)
            return await super().run(arguments, context)

    pm = fresh_plugin_manager(make_plugin(tools=[CrashOnce(), AppendLine()]))
    model = ScriptedModel(SCRIPT)
    agent = make_agent(pm, model)
    with pytest.raises(Boom):
        agent.run("x", workdir=workdir, run_id="crashy")
    assert (workdir / "log.txt").read_text() == "one\n"
    outcome = make_agent(pm, model, journal=agent.journal).resume("crashy")
    assert outcome.status == "verified"
    # append_line (not idempotent) ran exactly once; write_file (idempotent) was re-run.
    assert (workdir / "log.txt").read_text() == "one\n"
    kinds = [e["kind"] for e in outcome.evidence.events]
    assert "resumed" in kinds and "rerun_idempotent" in kinds
    # Model turns already recorded were not asked again.
    assert len(model.requests) == 5
    # Resuming a finished run returns the same outcome and changes nothing.
    assert make_agent(pm, journal=agent.journal).resume("crashy").to_json() == outcome.to_json()
    assert agent.replay("crashy").to_json() == outcome.to_json()


def test_interrupted_non_idempotent_call_is_in_doubt(plugins, workdir):
    class DieAfterAppend(AppendLine):
        async def run(self, arguments, context):
            await super().run(arguments, context)
            raise Boom  # the effect happened, its completion was never recorded

    pm = fresh_plugin_manager(make_plugin(tools=[WriteFile(), DieAfterAppend()]))
    agent = make_agent(pm)
    with pytest.raises(Boom):
        agent.run("x", workdir=workdir, run_id="doubt")
    outcome = make_agent(plugins, journal=agent.journal).resume("doubt")
    assert (outcome.status, outcome.reason) == ("blocked", "in_doubt")
    assert [c.name for c in outcome.evidence.in_doubt] == ["append_line"]
    assert (workdir / "log.txt").read_text() == "one\n"  # never run a second time


def test_fork_continues_from_an_event(plugins, workdir):
    agent = make_agent(plugins)
    outcome = agent.run("x", workdir=workdir)
    events = list(agent.journal.events(outcome.run_id))
    first_red = next(e for e in events if e.kind == "verifier_result")
    forked = agent.fork(outcome.run_id, first_red.seq)
    record = agent.journal.get_run(forked)
    assert record.parent_run_id == outcome.run_id and record.fork_seq == first_red.seq
    assert record.outcome is None
    fresh = Agent(
        ScriptedModel(SCRIPT),
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", GREETING),
        plugins=plugins,
        journal=agent.journal,
    )
    resumed = fresh.resume(forked)
    assert resumed.status == "verified"
    assert resumed.run_id == forked
    with pytest.raises(UsageError, match="has no event"):
        agent.fork(outcome.run_id, 10_000)


def test_runs_listing(plugins, workdir):
    agent = make_agent(plugins)
    a = agent.run("first", workdir=workdir)
    runs = agent.journal.runs()
    assert [(r.run_id, r.status, r.goal) for r in runs] == [(a.run_id, "verified", "first")]
    with pytest.raises(UsageError, match="tau sessions list"):
        agent.journal.get_run("nope")


def test_duplicate_run_id_is_refused(plugins, workdir):
    agent = make_agent(plugins)
    agent.run("x", workdir=workdir, run_id="same")
    with pytest.raises(UsageError, match="already exists"):
        make_agent(plugins, journal=agent.journal).run("x", workdir=workdir, run_id="same")


def test_foreign_and_corrupt_databases_are_refused_and_kept(tmp_path):
    text = tmp_path / "notes.sqlite3"
    text.write_text("these are my notes\n")
    with pytest.raises(JournalError, match="not an SQLite database"):
        Journal(text)
    assert text.read_text() == "these are my notes\n"

    foreign = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers(id INTEGER)")
    conn.commit()
    conn.close()
    before = foreign.read_bytes()
    with pytest.raises(JournalError, match="does not belong to Tau"):
        Journal(foreign)
    assert foreign.read_bytes() == before

    newer = tmp_path / "newer.sqlite3"
    Journal(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer than this Tau"):
        Journal(newer)

    corrupt = tmp_path / "corrupt.sqlite3"
    j = Journal(corrupt)
    j.create_run({"task": {"goal": "x"}})
    j.close()
    data = bytearray(corrupt.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # trash the first page past the header
    corrupt.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="corrupt|unreadable|does not belong"):
        Journal(corrupt).runs()
    assert corrupt.read_bytes() == bytes(data)


def test_old_schema_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=0")
    conn.commit()
    conn.close()
    journal = Journal(path)
    assert journal.runs() == []
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_synchronous_setting(tmp_path):
    with pytest.raises(UsageError, match="normal' or 'full"):
        Journal(tmp_path / "j.sqlite3", synchronous="off")
    journal = Journal(tmp_path / "j.sqlite3", synchronous="full")
    run = journal.create_run({"task": {"goal": "x"}})
    journal.append(run, "note", "a", {"x": 1}, durable=True)
    assert [e.key for e in journal.events(run)] == ["a"]
    assert journal.integrity_check() == "ok"


def test_same_key_twice_is_an_error(tmp_path):
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.create_run({"task": {"goal": "x"}})
    journal.append(run, "note", "k", {})
    with pytest.raises(JournalError, match="cannot append"):
        journal.append(run, "note", "k", {})
    journal.append(run, "note", "k2", {})  # the journal is still usable
    assert [e.seq for e in journal.events(run)] == [1, 2]


def test_unverified_and_verifier_object_resume_needs_the_object(plugins, workdir):
    agent = Agent(ScriptedModel([{"text": "ok"}]), verifier=ScriptedVerifier(), plugins=plugins)
    outcome = agent.run("x", workdir=workdir)
    with pytest.raises(UsageError, match="verifier object"):
        Agent(ScriptedModel([]), plugins=plugins, journal=agent.journal).replay(outcome.run_id)


# -- the hash chain ---------------------------------------------------------------------------


def _chained_run(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as j:
        run_id = j.create_run({"task": {"goal": "chain"}})
        for n in range(1, 6):
            j.append(run_id, "note", f"k{n}", {"n": n, "text": f"event {n}"})
    return path, run_id


def _tamper(path: Path, sql: str, *args: object) -> None:
    # What someone with the file can do: drop the append-only triggers and rewrite rows.
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute("DROP TRIGGER events_append_only_delete")
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def test_chain_of_an_untouched_run_verifies(tmp_path: Path) -> None:
    path, run_id = _chained_run(tmp_path)
    with Journal(path) as j:
        check = j.verify_chain(run_id)
    assert check.ok and check.events == 5 and check.broken_at is None
    assert len(check.head) == 64


@pytest.mark.parametrize(
    ("sql", "args", "broken_at", "words"),
    [
        ("UPDATE events SET data = ? WHERE seq = 3", ('{"n":3,"text":"forged"}',), 3, "changed"),
        ("UPDATE events SET kind = 'other' WHERE seq = 2", (), 2, "changed"),
        ("UPDATE events SET at = at + 1 WHERE seq = 5", (), 5, "changed"),
        ("DELETE FROM events WHERE seq = 4", (), 4, "missing"),
        ("UPDATE runs SET spec = ?", ('{"task":{"goal":"other"}}',), 1, "spec"),
    ],
)
def test_chain_names_the_first_broken_link(
    tmp_path: Path, sql: str, args: tuple[object, ...], broken_at: int, words: str
) -> None:
    path, run_id = _chained_run(tmp_path)
    _tamper(path, sql, *args)
    with Journal(path) as j:
        check = j.verify_chain(run_id)
    assert not check.ok
    assert check.broken_at == broken_at
    assert words in check.reason


def test_chain_catches_a_rewritten_event_whose_hash_was_recomputed(tmp_path: Path) -> None:
    from tau_core._journal import _link

    path, run_id = _chained_run(tmp_path)
    conn = sqlite3.connect(path)
    seq, key, kind, at, prev = 3, "k3", "note", None, None
    at = conn.execute("SELECT at FROM events WHERE seq = 3").fetchone()[0]
    prev = conn.execute("SELECT hash FROM events WHERE seq = 2").fetchone()[0]
    forged = '{"n":3,"text":"forged"}'
    conn.close()
    _tamper(
        path,
        "UPDATE events SET data = ?, hash = ? WHERE seq = 3",
        forged,
        _link(prev, seq, kind, key, at, forged),
    )
    with Journal(path) as j:
        check = j.verify_chain(run_id)
    assert (check.ok, check.broken_at) == (False, 4)
    assert "event 3 was rewritten" in check.reason


def test_chain_reports_events_from_before_the_chain(tmp_path: Path) -> None:
    path, run_id = _chained_run(tmp_path)
    _tamper(path, "UPDATE events SET hash = NULL")
    with Journal(path) as j:
        check = j.verify_chain(run_id)
    assert (check.ok, check.broken_at) == (False, 1)
    assert "schema 1" in check.reason


def test_chain_of_an_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as j, pytest.raises(UsageError, match="no run 'nope'"):
        j.verify_chain("nope")


def test_a_schema_1_journal_is_migrated_and_keeps_its_events(tmp_path: Path) -> None:
    from tau_core._journal import _SCHEMA_V1, _statements

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(_SCHEMA_V1):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
    conn.execute("PRAGMA user_version=1")
    conn.execute("INSERT INTO runs VALUES ('old', 1.0, NULL, NULL, '{}')")
    conn.execute("INSERT INTO events VALUES ('old', 1, 'k', 'note', 1.0, '{}')")
    conn.close()
    with Journal(path) as j:
        assert [e.key for e in j.events("old")] == ["k"]
        assert not j.verify_chain("old").ok
        j.append("old", "note", "k2", {})  # new events chain on from an unchained one
        new = j.create_run({})
        j.append(new, "note", "k", {})
        assert j.verify_chain(new).ok
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    conn.close()
