"""Kill -9 at random points, then resume: same outcome, no side effect twice, journal intact.

Each iteration starts ``tau run`` in a subprocess with a script that mixes idempotent writes
and appends to a ledger (slowed down so kills land inside them), SIGKILLs it at a random
moment, sometimes kills the resume too, and finally resumes to the end. Half the iterations
append with ``append_line``, which is not idempotent: a kill inside it must end
``blocked(in_doubt)`` naming the call, never a second append. The other half use
``append_once``, which makes itself idempotent with the call's idempotency key: every one of
those iterations must resume to the reference outcome. The default suite runs a few
iterations; ``nox -s kill`` runs ``TAU_KILL_ITERATIONS`` (100).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

TAU = Path(sys.executable).with_name("tau")
KIT = ["-p", "tau_core.testing.plugin"]
GREETING = "Hello, Tau\n"
SCRIPT = {
    "turns": [
        {
            "text": "first",
            "tool_calls": [
                {"name": "APPEND", "arguments": {"path": "ledger.txt", "line": "a"}},
                {"name": "write_file", "arguments": {"path": "notes.txt", "content": "one\n"}},
            ],
        },
        {
            "text": "second",
            "tool_calls": [
                {"name": "write_file", "arguments": {"path": "greeting.txt", "content": "draft\n"}}
            ],
        },
        {"text": "I think I am done."},
        {
            "text": "fixing",
            "tool_calls": [
                {"name": "APPEND", "arguments": {"path": "ledger.txt", "line": "b"}},
                {"name": "write_file", "arguments": {"path": "greeting.txt", "content": GREETING}},
            ],
        },
        {"text": "done now"},
    ]
}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAU_")}
    env.update(TAU_HOME=str(home), TAU_DISABLE_PLUGIN_AUTOLOAD="1", TAU_TEST_TOOL_DELAY="0.05")
    return env


def _setup(root: Path, append: str = "append_once") -> tuple[Path, Path, dict[str, str]]:
    home, work = root / "home", root / "work"
    home.mkdir(parents=True)
    work.mkdir()
    (home / "config.toml").write_text(
        '[verifiers.file_equals]\npath = "greeting.txt"\ncontent = "Hello, Tau\\n"\n'
    )
    (root / "script.json").write_text(json.dumps(SCRIPT).replace("APPEND", append))
    return home, work, _env(home)


def _run_args(root: Path, work: Path, run_id: str) -> list[str]:
    return [
        str(TAU),
        *KIT,
        "run",
        "greet",
        "--model",
        f"scripted:{root / 'script.json'}",
        "--allow",
        "write:.",
        "--verifier",
        "file_equals",
        "--workdir",
        str(work),
        "--run-id",
        run_id,
        "--json",
    ]


def _resume_args(run_id: str) -> list[str]:
    return [str(TAU), "sessions", "resume", run_id, "--json"]


def _run_exists(home: Path, run_id: str) -> bool:
    db = home / "journal.sqlite3"
    if not db.exists():
        return False
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


def _events(home: Path, run_id: str) -> int:
    db = home / "journal.sqlite3"
    if not db.exists():
        return -1
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        try:
            row = conn.execute("SELECT count(*) FROM events WHERE run_id = ?", (run_id,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return -1
    return int(row[0])


def _kill_at(
    args: list[str], env: dict[str, str], home: Path, run_id: str, events: int, extra: float
) -> subprocess.CompletedProcess | None:
    """Run *args*; SIGKILL it once the run has *events* journal events plus *extra* seconds.

    Kill points are chosen by progress, not by wall time, so a slow or busy machine moves them
    along with the run instead of letting the run finish first.
    """
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _events(home, run_id) >= events:
            time.sleep(extra)
            break
        time.sleep(0.002)
    if proc.poll() is not None:
        out, err = proc.communicate()
        return subprocess.CompletedProcess(args, proc.returncode, out, err)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return None


def _stable(outcome: dict) -> tuple:
    ev = outcome["evidence"]
    return (
        outcome["status"],
        outcome["reason"],
        outcome["summary"],
        ev["changed_files"],
        [v["status"] for v in ev["verifier_results"]],
        ev["turns"],
    )


def _reference(tmp_path: Path) -> tuple[tuple, int]:
    home, work, env = _setup(tmp_path / "reference")
    proc = subprocess.run(
        _run_args(tmp_path / "reference", work, "ref"),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["status"] == "verified"
    lines = (work / "ledger.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["a", "b"]
    return _stable(outcome), _events(home, "ref")


def _iterations(tmp_path: Path, count: int, seed: int) -> dict[str, int]:
    reference, total_events = _reference(tmp_path)
    rng = random.Random(seed)
    tally = {
        "verified": 0,
        "in_doubt": 0,
        "finished_before_kill": 0,
        "kills": 0,
        "keyed_verified": 0,
    }
    for i in range(count):
        root = tmp_path / f"it{i}"
        keyed = i % 2 == 0
        home, work, env = _setup(root, "append_once" if keyed else "append_line")
        run_id = f"kill-{i}"
        done = _kill_at(
            _run_args(root, work, run_id),
            env,
            home,
            run_id,
            rng.randrange(0, total_events),
            rng.uniform(0.0, 0.06),
        )
        if done is None:
            tally["kills"] += 1
            if not _run_exists(home, run_id):  # killed before the run was recorded: start over
                done = subprocess.run(
                    _run_args(root, work, run_id),
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            else:
                # Sometimes kill the resume as well, then resume to the end.
                if rng.random() < 0.5:
                    already = _events(home, run_id)
                    second = _kill_at(
                        _resume_args(run_id),
                        env,
                        home,
                        run_id,
                        already + rng.randrange(0, max(1, total_events - already)),
                        rng.uniform(0.0, 0.06),
                    )
                    tally["kills"] += second is None
                done = subprocess.run(
                    _resume_args(run_id), env=env, capture_output=True, text=True, timeout=120
                )
        else:
            tally["finished_before_kill"] += 1
        assert done.returncode in (0, 3), done.stderr
        outcome = json.loads(done.stdout)
        ledger = [
            line.split("\t")[0]
            for line in (
                (work / "ledger.txt").read_text().splitlines()
                if (work / "ledger.txt").exists()
                else []
            )
        ]
        # A non-idempotent side effect never happens twice.
        assert sorted(set(ledger)) == sorted(ledger), f"iteration {i}: ledger {ledger}"
        if outcome["status"] == "verified":
            assert _stable(outcome) == reference, f"iteration {i}"
            assert ledger == ["a", "b"]
            tally["verified"] += 1
            tally["keyed_verified"] += keyed
        else:
            # An idempotent tool is re-run on resume: never in doubt.
            assert not keyed, f"iteration {i}: {outcome['status']}({outcome['reason']})"
            # The only other acceptable end: killed inside a non-idempotent call.
            assert (outcome["status"], outcome["reason"]) == ("blocked", "in_doubt"), outcome
            names = [c["name"] for c in outcome["evidence"]["in_doubt"]]
            assert names == ["append_line"]
            tally["in_doubt"] += 1
        conn = sqlite3.connect(home / "journal.sqlite3")
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        # Replaying the finished run gives the same outcome, byte for byte.
        replay = subprocess.run(
            [str(TAU), "sessions", "replay", run_id, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert json.loads(replay.stdout) == outcome
    return tally


def test_kill_and_resume_quick(tmp_path):
    tally = _iterations(tmp_path, int(os.environ.get("TAU_KILL_QUICK", "6")), seed=7)
    assert tally["kills"] >= 1, tally


@pytest.mark.slow
def test_kill_and_resume_many(tmp_path):
    count = int(os.environ.get("TAU_KILL_ITERATIONS", "100"))
    tally = _iterations(tmp_path, count, seed=int(os.environ.get("TAU_KILL_SEED", "2026")))
    print(f"\nkill-9 loop: {json.dumps(tally)}")
    assert tally["kills"] >= count // 2, tally
    assert tally["verified"] >= 1, tally
    assert tally["keyed_verified"] == (count + 1) // 2, tally
