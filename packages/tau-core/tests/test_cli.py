"""The ``tau`` command as a user runs it: real subprocesses, real files, real journal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TAU = Path(sys.executable).with_name("tau")
KIT = ["-p", "tau_core.testing.plugin"]
GREETING = "Hello, Tau\n"


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAU_")}
    env["TAU_HOME"] = str(tmp_path / "home")
    env["TAU_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONPATH"] = str(Path(__file__).parent / "cli_plugins")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text(
        '[verifiers.file_equals]\npath = "greeting.txt"\ncontent = "Hello, Tau\\n"\n'
    )
    return env


@pytest.fixture
def work(tmp_path):
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


def script(work: Path, *turns: dict) -> str:
    path = work.parent / "script.json"
    path.write_text(json.dumps({"turns": list(turns)}))
    return f"scripted:{path}"


WRITE = {
    "text": "Writing it.",
    "tool_calls": [
        {"name": "write_file", "arguments": {"path": "greeting.txt", "content": GREETING}}
    ],
}


def tau(env, *args, cwd=None):
    return subprocess.run(
        [str(TAU), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_help_and_version(env):
    proc = tau(env, "--help")
    assert proc.returncode == 0
    for command in ("run", "plugins", "sessions", "keys", "config"):
        assert command in proc.stdout
    assert tau(env, "--version").stdout.startswith("tau 0.1.0")


def test_run_verified_json(env, work):
    proc = tau(
        env,
        *KIT,
        "run",
        "greet",
        "--model",
        script(work, WRITE, {"text": "done"}),
        "--allow",
        "write:.",
        "--verifier",
        "file_equals",
        "--workdir",
        str(work),
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)  # stdout is exactly one JSON object
    assert {"run_id", "status", "reason", "summary", "evidence"} <= set(data)
    assert (data["status"], data["reason"]) == ("verified", None)
    assert data["evidence"]["changed_files"] == ["greeting.txt"]
    assert (work / "greeting.txt").read_text() == GREETING


def test_run_live_view(env, work):
    proc = tau(
        env,
        *KIT,
        "run",
        "greet",
        "--model",
        script(work, WRITE, {"text": "done"}),
        "--preset",
        "workspace-write",
        "--verifier",
        "file_equals",
        "--workdir",
        str(work),
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in (
        "turn 1",
        "Writing it.",
        "policy allow write_file",
        "tool write_file -> ok",
        "verifier file_equals: green",
        "## Outcome: verified",
    ):
        assert expected in out


@pytest.mark.parametrize(
    ("args", "turns", "code", "status", "reason"),
    [
        (["--verifier", "file_equals"], [WRITE], 3, "blocked", "missing_authority"),
        (["--allow", "write:."], [WRITE], 3, "blocked", "missing_verifier"),
        (
            ["--allow", "write:.", "--verifier", "file_equals", "--max-turns", "1"],
            [{"tool_calls": [{"name": "noop", "arguments": {}}]}] * 3,
            4,
            "exhausted",
            "turns",
        ),
        (["--allow", "write:.", "--unverified"], [WRITE, {"text": "ok"}], 0, "unverified", None),
    ],
)
def test_exit_codes_per_status(env, work, args, turns, code, status, reason):
    proc = tau(
        env,
        *KIT,
        "run",
        "greet",
        "--model",
        script(work, *turns),
        "--workdir",
        str(work),
        "--json",
        *args,
    )
    assert proc.returncode == code, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["status"], data["reason"]) == (status, reason)


def test_failed_exit_code(env, work):
    proc = tau(
        env,
        "-p",
        "failing_provider",
        "run",
        "x",
        "--model",
        "badreq:m",
        "--unverified",
        "--workdir",
        str(work),
        "--json",
    )
    assert proc.returncode == 5, proc.stderr
    assert json.loads(proc.stdout)["status"] == "failed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "noColon"], "not provider:model"),
        (["--model", "nope:x"], "no provider named 'nope'"),
        (["--allow", "bogus"], "not KIND:TARGET"),
        (["--preset", "everything"], "unknown preset"),
        (["--verify", "true", "--verifier", "x"], "either --verify CMD or --verifier NAME"),
        (["--verify", "true"], "no verifier named 'command'"),
        (["--max-turns", "0"], "at least 1"),
    ],
)
def test_usage_errors_exit_2(env, work, args, message):
    base = ["--model", script(work, WRITE)]
    if any(a == "--model" for a in args):
        base = []
    proc = tau(env, *KIT, "run", "x", "--workdir", str(work), *base, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sessions_commands(env, work):
    model = script(work, WRITE, {"text": "done"})
    run = tau(
        env,
        *KIT,
        "run",
        "greet",
        "--model",
        model,
        "--allow",
        "write:.",
        "--verifier",
        "file_equals",
        "--workdir",
        str(work),
        "--json",
    )
    run_id = json.loads(run.stdout)["run_id"]
    listed = json.loads(tau(env, "sessions", "list", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in listed] == [(run_id, "verified")]
    shown = json.loads(tau(env, "sessions", "show", run_id, "--json").stdout)
    assert shown["outcome"]["status"] == "verified"
    assert shown["events"][0]["kind"] == "segment"
    # The run remembers the plugin modules it was started with (-p): no need to repeat them.
    replay = tau(env, "sessions", "replay", run_id, "--json")
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout) == json.loads(run.stdout)
    verifier_seq = next(e["seq"] for e in shown["events"] if e["kind"] == "model_response")
    forked = tau(env, "sessions", "fork", run_id, "--at", str(verifier_seq), "--json")
    new_id = json.loads(forked.stdout)["run_id"]
    resumed = tau(env, "sessions", "resume", new_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "verified"
    text = tau(env, "sessions", "show", new_id)
    assert f"forked from {run_id}" in text.stdout
    missing = tau(env, "sessions", "show", "nope")
    assert missing.returncode == 2 and "tau sessions list" in missing.stderr


def test_run_offers_only_the_tools_named_by_tool_flags_or_run_tools(env, work):
    model = script(work, WRITE, {"text": "done"})
    base = ["run", "greet", "--model", model, "--allow", "write:.", "--workdir", str(work)]
    only_read = tau(env, *KIT, *base, "--tool", "read_file", "--verifier", "file_equals", "--json")
    data = json.loads(only_read.stdout)
    assert data["status"] != "verified", data["summary"]
    results = [c["result"] for c in data["evidence"]["tool_calls"]]
    assert results and results[0]["error"]["code"] == "unknown_tool", results
    assert not (work / "greeting.txt").exists(), "a tool that was not offered never ran"

    (Path(env["TAU_HOME"]) / "config.toml").write_text(
        '[run]\ntools = ["write_file"]\n'
        '[verifiers.file_equals]\npath = "greeting.txt"\ncontent = "Hello, Tau\\n"\n'
    )
    from_config = tau(env, *KIT, *base, "--verifier", "file_equals", "--json")
    assert json.loads(from_config.stdout)["status"] == "verified", from_config.stdout

    (Path(env["TAU_HOME"]) / "config.toml").write_text('[run]\ntools = "write_file"\n')
    bad = tau(env, *KIT, *base, "--unverified")
    assert bad.returncode == 2
    assert "run.tools" in bad.stderr and "a list of tool names" in bad.stderr
