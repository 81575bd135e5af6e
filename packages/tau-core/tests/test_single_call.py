"""One tool call outside a run (``tau_core.call_tool`` and ``tau tools``), as the loop would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tau_core import Authority, call_tool
from tau_core.errors import UsageError
from tau_core.testing import FakeTool, ReadFile, WriteFile, fresh_plugin_manager, make_plugin

TAU = Path(sys.executable).with_name("tau")


@pytest.fixture
def pm(tau_home):
    return fresh_plugin_manager(
        make_plugin(tools=[WriteFile(), ReadFile(), FakeTool("broken", RuntimeError("boom"))])
    )


def test_allowed_call_runs(pm, tmp_path):
    out = call_tool(
        "write_file",
        {"path": "a.txt", "content": "hi"},
        authority=Authority.from_preset("workspace-write"),
        workdir=tmp_path,
        plugins=pm,
    )
    assert out.ok and (tmp_path / "a.txt").read_text() == "hi"
    data = out.to_dict()
    assert data["ok"] is True and data["error"] is None
    assert data["decision"]["allowed"] is True and data["decision"]["rule_id"] == "grant.all"


def test_denied_call_changes_nothing(pm, tmp_path):
    (tmp_path / "a.txt").write_text("before")
    out = call_tool(
        "write_file",
        {"path": "a.txt", "content": "after"},
        authority=Authority.from_preset("read-only"),
        workdir=tmp_path,
        plugins=pm,
    )
    assert not out.ok and out.result is None
    assert out.stopped == "missing_authority"
    assert (tmp_path / "a.txt").read_text() == "before"
    data = out.to_dict()
    assert data["decision"]["allowed"] is False
    assert data["error"]["code"] == "missing_authority"
    assert data["decision"]["needed_grant"] in data["error"]["hint"]


def test_bad_arguments_and_tool_errors(pm, tmp_path):
    out = call_tool(
        "write_file",
        {"path": "a.txt"},
        authority=Authority.from_preset("full"),
        workdir=tmp_path,
        plugins=pm,
    )
    assert out.to_dict()["error"]["code"] == "bad_arguments" and out.decision is None
    out = call_tool("broken", {}, authority=Authority(), workdir=tmp_path, plugins=pm)
    assert out.to_dict()["error"]["code"] == "tool_crashed"
    with pytest.raises(UsageError, match="no tool named 'nope'"):
        call_tool("nope", {}, authority=Authority(), workdir=tmp_path, plugins=pm)


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAU_")}
    env.update(TAU_HOME=str(tmp_path / "home"), TAU_DISABLE_PLUGIN_AUTOLOAD="1")
    return env


def test_cli_tools_call_and_list(tmp_path):
    kit = ["-p", "tau_core.testing.plugin"]
    work = tmp_path / "w"
    work.mkdir()

    def run(*a):
        return subprocess.run(
            [str(TAU), *kit, "tools", *a],
            env=_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )

    ok = run(
        "call",
        "write_file",
        "--args",
        '{"path": "x.txt", "content": "1"}',
        "--allow",
        "write:.",
        "--workdir",
        str(work),
        "--json",
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True and (work / "x.txt").read_text() == "1"
    denied = run(
        "call",
        "write_file",
        "--args",
        '{"path": "y.txt", "content": "1"}',
        "--workdir",
        str(work),
        "--json",
    )
    assert denied.returncode == 3
    data = json.loads(denied.stdout)
    assert set(data) >= {"ok", "content", "error", "decision"}
    assert data["ok"] is False and data["decision"]["allowed"] is False
    assert not (work / "y.txt").exists()
    bad = run("call", "write_file", "--args", "[1]", "--workdir", str(work))
    assert bad.returncode == 2 and "JSON object" in bad.stderr
    listed = run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {t["name"]: t for t in json.loads(listed.stdout)}
    assert names["write_file"]["spec"]["side_effect"] == "write"
    assert names["write_file"]["plugin"] == "tau_core.testing.plugin"
