"""The shell tool through tau-core's real loop: grants decide, the sandbox confines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tau_core import Agent, Authority, Capability, CredentialStore, ToolCall
from tau_core._hookcontext import ToolCallContext
from tau_core.errors import ToolError
from tau_core.testing import FileEquals, ScriptedModel
from tau_tools._sandbox import available_backends
from tau_tools._shell import ShellTool, _timeout

needs_sandbox = pytest.mark.skipif(not available_backends(), reason="no sandbox on this host")


def call(command: str, **more: Any) -> list[dict[str, Any]]:
    return [{"tool_calls": [{"name": "shell", "arguments": {"command": command, **more}}]}]


def run(workdir: Path, plugins: Any, turns: list[dict[str, Any]], grants: list[str],
        **kwargs: Any) -> Any:  # fmt: skip
    authority = Authority.parse(grants, approval="never")
    kwargs.setdefault("unverified", True)
    agent = Agent(ScriptedModel(turns), authority=authority, tools=[ShellTool()], plugins=plugins,
                  **kwargs)  # fmt: skip
    return agent.run("do it", workdir=workdir)


def test_capabilities_name_every_program_and_secret(tmp_path: Path) -> None:
    caps = ShellTool().capabilities(
        {"command": "git status | grep x && echo $(whoami)", "secrets": ["gh"]}, tmp_path
    )
    assert caps == [
        Capability("read", str(tmp_path)),
        Capability("exec", "git"),
        Capability("exec", "grep"),
        Capability("exec", "whoami"),
        Capability("secret", "gh@shell"),
    ]


@pytest.mark.parametrize("args", [{"command": "  "}, {"command": "ls", "secrets": "gh"},
                                  {"command": "ls", "timeout": -1}])  # fmt: skip
def test_bad_arguments_are_reported(args: dict[str, Any], tmp_path: Path) -> None:
    def check() -> None:
        ShellTool().capabilities(args, tmp_path)
        _timeout(args)

    with pytest.raises(ToolError) as info:
        check()
    assert info.value.code == "bad_arguments"


@needs_sandbox
def test_agent_runs_a_granted_pipeline_and_the_verifier_sees_it(
    tmp_path: Path, tau_plugins: Any
) -> None:
    outcome = run(
        tmp_path, tau_plugins, call("printf 'b\\na\\n' | sort > out.txt"),
        ["read:.", "write:.", "exec:printf", "exec:sort"],
        verifier=FileEquals("out.txt", "a\nb\n"), unverified=False,
    )  # fmt: skip
    assert outcome.status == "verified", outcome
    [record] = outcome.evidence.tool_calls
    assert record.result.ok and record.result.metadata["confinement"] in available_backends()
    assert record.result.metadata["exit_code"] == 0
    assert record.result.metadata["network"] == "none"


def test_agent_blocks_an_ungranted_program_before_it_runs(tmp_path: Path, tau_plugins: Any) -> None:
    (tmp_path / "keep").write_text("x")
    outcome = run(tmp_path, tau_plugins, call("echo hi > a; rm -f keep"),
                  ["read:.", "write:.", "exec:echo"])  # fmt: skip
    [record] = outcome.evidence.tool_calls
    assert record.decision is not None and not record.decision.allowed
    assert record.decision.needed_grant == "exec:rm"
    assert not (tmp_path / "a").exists()
    assert (tmp_path / "keep").read_text() == "x"


@needs_sandbox
def test_secret_granted_is_visible_and_others_are_not(tmp_path: Path, tau_plugins: Any) -> None:
    store = CredentialStore.open()
    store.set("deploy-key", "s3cret-value")
    store.set("other", "not-for-shell")
    cmd = 'echo "$DEPLOY_KEY" > seen; echo "${OTHER:-unset}" >> seen'
    outcome = run(
        tmp_path, tau_plugins, call(cmd, secrets=["deploy-key"]),
        ["read:.", "write:.", "exec:echo", "secret:deploy-key@shell", "secret:other@http"],
    )  # fmt: skip
    [record] = outcome.evidence.tool_calls
    assert record.result.ok, record.result
    assert (tmp_path / "seen").read_text() == "s3cret-value\nunset\n"


def test_asking_for_an_ungranted_secret_is_denied(tmp_path: Path, tau_plugins: Any) -> None:
    outcome = run(tmp_path, tau_plugins, call("echo $OTHER > seen", secrets=["other"]),
                  ["read:.", "write:.", "exec:echo", "secret:other@http"])  # fmt: skip
    [record] = outcome.evidence.tool_calls
    assert record.decision is not None and record.decision.needed_grant == "secret:other@shell"
    assert not (tmp_path / "seen").exists()


@needs_sandbox
def test_timeout_is_a_structured_error_with_partial_output(
    tmp_path: Path, tau_plugins: Any
) -> None:
    outcome = run(tmp_path, tau_plugins, call("echo begun; sleep 30", timeout=0.5),
                  ["read:.", "exec:echo", "exec:sleep"])  # fmt: skip
    [record] = outcome.evidence.tool_calls
    assert record.result.error is not None and record.result.error.code == "timeout"
    assert "begun" in record.result.content
    assert record.result.metadata["timed_out"] is True


@needs_sandbox
def test_nonzero_exit_is_a_result_not_a_crash(tmp_path: Path, tau_plugins: Any) -> None:
    outcome = run(tmp_path, tau_plugins, call("ls no-such-file"), ["read:.", "exec:ls"])
    [record] = outcome.evidence.tool_calls
    assert record.result.ok
    assert record.result.metadata["exit_code"] == 2
    assert "exit code: 2" in record.result.content and "no-such-file" in record.result.content


@needs_sandbox
def test_run_rechecks_the_grants_itself(tmp_path: Path) -> None:
    import asyncio

    tool = ShellTool()
    call_ = ToolCall("c1", "shell", {"command": "touch made"})
    authority = Authority.parse(["read:.", "write:."])
    context = ToolCallContext(call=call_, spec=tool.spec, run_id="r", workdir=tmp_path,
                              idempotency_key="k", authority=authority)  # fmt: skip
    with pytest.raises(ToolError) as info:
        asyncio.run(tool.run(call_.arguments, context))
    assert info.value.code == "policy_denied" and "exec:touch" in str(info.value)
    assert not (tmp_path / "made").exists()
    context.authority = None
    with pytest.raises(ToolError, match="no authority"):
        asyncio.run(tool.run(call_.arguments, context))


def test_sandbox_unavailable_is_reported_to_the_model(
    tmp_path: Path, tau_plugins: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tau_tools import _sandbox

    monkeypatch.setattr(_sandbox, "_probed", {"bubblewrap": False, "landlock": False})
    monkeypatch.delenv("TAU_SHELL_ALLOW_UNCONFINED", raising=False)
    outcome = run(tmp_path, tau_plugins, call("echo hi > a"), ["read:.", "write:.", "exec:echo"])
    [record] = outcome.evidence.tool_calls
    assert record.result.error is not None and record.result.error.code == "sandbox_unavailable"
    assert not (tmp_path / "a").exists()


def test_authority_that_accepts_unconfined_runs_and_records_it(tmp_path, monkeypatch, tau_home):
    """With no sandbox on the host, only an authority that accepts it runs unconfined."""
    from tau_core import Authority
    from tau_core.testing import FileEquals, ScriptedModel, fresh_plugin_manager
    from tau_tools import _plugin, _sandbox

    monkeypatch.setattr(_sandbox, "_probed", {"bubblewrap": False, "landlock": False})
    monkeypatch.delenv("TAU_SANDBOX_BACKEND", raising=False)
    monkeypatch.delenv("TAU_SHELL_ALLOW_UNCONFINED", raising=False)
    turns = [
        {"tool_calls": [{"name": "shell", "arguments": {"command": "echo hi > out.txt"}}]},
        {"text": "done"},
    ]

    def run(authority):
        from tau_core import Agent

        return Agent(
            ScriptedModel(turns),
            authority=authority,
            tools=["shell"],
            verifier=FileEquals("out.txt", "hi\n"),
            plugins=fresh_plugin_manager(_plugin),
        ).run("x", workdir=tmp_path)

    refused = run(Authority.from_preset("workspace-write", "exec:echo"))
    assert refused.evidence.tool_calls[0].result.error.code == "sandbox_unavailable"
    assert not (tmp_path / "out.txt").exists()
    accepted = run(Authority.from_preset("workspace-write", "exec:echo", allow_unconfined=True))
    assert accepted.status == "verified"
    assert accepted.evidence.tool_calls[0].result.metadata["confinement"] == "unconfined"
