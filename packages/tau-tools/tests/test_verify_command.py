"""The command verifier: green on exit 0, run in the sandbox, with evidence."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from tau_core import Agent, Authority, Task, VerifyContext
from tau_core.errors import UsageError
from tau_core.testing import ScriptedModel, WriteFile, make_plugin
from tau_tools import _sandbox
from tau_tools._plugin import tau_register_verifiers
from tau_tools._sandbox import available_backends
from tau_tools._verify_command import CommandVerifier, command_verifier

needs_sandbox = pytest.mark.skipif(not available_backends(), reason="no sandbox on this host")


def verify(verifier: CommandVerifier, workdir: Path) -> Any:
    context = VerifyContext("run-1", Task("t", str(workdir)), workdir, attempt=1)
    return asyncio.run(verifier.verify(context))


@needs_sandbox
def test_green_on_exit_zero_with_evidence(tmp_path: Path) -> None:
    result = verify(command_verifier({"command": "echo all good; echo warn >&2"}), tmp_path)
    assert result.status == "green"
    assert (result.command, result.exit_code) == ("echo all good; echo warn >&2", 0)
    assert result.stdout_tail == "all good\n" and result.stderr_tail == "warn\n"
    assert result.duration is not None and result.duration > 0
    assert result.details["confinement"] in available_backends()


@needs_sandbox
def test_red_on_failure_with_tails(tmp_path: Path) -> None:
    result = verify(command_verifier({"command": "seq 1 5000; exit 3"}), tmp_path)
    assert result.status == "red" and result.exit_code == 3
    assert result.stdout_tail.endswith("4999\n5000\n")
    assert len(result.stdout_tail) <= 4097
    assert "exited 3" in result.feedback()


@needs_sandbox
def test_timeout_is_red(tmp_path: Path) -> None:
    result = verify(command_verifier({"command": "sleep 30", "timeout": 0.5}), tmp_path)
    assert result.status == "red" and result.details["timed_out"] is True
    assert "did not finish" in result.summary


@needs_sandbox
def test_it_writes_the_workspace_only_and_has_no_network(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    cmd = (
        f"echo built > out; echo x > {outside}; echo x > .git/config; "
        f"(echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null; test -f out"
    )
    result = verify(command_verifier({"command": cmd}), tmp_path)
    with pytest.raises(TimeoutError):
        srv.accept()
    srv.close()
    assert result.status == "green"
    assert (tmp_path / "out").read_text() == "built\n"
    assert not outside.exists()
    assert not (tmp_path / ".git" / "config").exists()


def test_error_when_no_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sandbox, "_probed", {"bubblewrap": False, "landlock": False})
    monkeypatch.delenv("TAU_SANDBOX_BACKEND", raising=False)
    monkeypatch.delenv("TAU_SHELL_ALLOW_UNCONFINED", raising=False)
    result = verify(command_verifier({"command": f"touch {tmp_path}/ran"}), tmp_path)
    assert result.status == "error" and result.details["code"] == "sandbox_unavailable"
    assert not (tmp_path / "ran").exists()


def test_protected_paths_come_from_the_protect_option(tmp_path: Path) -> None:
    assert command_verifier({"command": "true"}).protected_paths(tmp_path) == []
    v = command_verifier({"command": "true", "protect": ["tests", "check.sh"]})
    assert v.protected_paths(tmp_path) == [tmp_path / "tests", tmp_path / "check.sh"]


@pytest.mark.parametrize(
    "options",
    [{}, {"command": ""}, {"command": "x", "timeout": 0}, {"command": "x", "protect": "tests"},
     {"command": "x", "bogus": 1}],
)  # fmt: skip
def test_bad_options_are_usage_errors(options: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        command_verifier(options)


@needs_sandbox
def test_agent_run_is_verified_by_the_registered_command_verifier(
    tmp_path: Path, tau_plugins: Any
) -> None:
    class Registers:
        TAU_PLUGIN_API = 1
        tau_register_verifiers = staticmethod(tau_register_verifiers)

    tau_plugins.register(Registers(), "tools-verifiers")
    tau_plugins.register(make_plugin(tools=[WriteFile("write")]), "write-tool")
    turns = [{"tool_calls": [{"name": "write", "arguments": {"path": "a.txt", "content": "42"}}]}]
    outcome = Agent(
        ScriptedModel(turns), authority=Authority.from_preset("workspace-write"),
        tools=["write"], verifier="command", plugins=tau_plugins,
        verifier_options={"command": "grep -qx 42 a.txt", "protect": ["check"]},
    ).run("write 42", workdir=tmp_path)  # fmt: skip
    assert outcome.status == "verified", outcome
    [vr] = outcome.evidence.verifier_results
    assert (vr.verifier, vr.status, vr.exit_code) == ("command", "green", 0)
