"""The apply_patch tool on real files: capabilities, path rules, all or nothing, agent runs."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
from pathlib import Path

import pytest

from tau_core import Agent, Authority, ToolCall, ToolCallContext, ToolResult
from tau_core.errors import ToolError
from tau_core.testing import FileEquals, ScriptedModel, fresh_plugin_manager
from tau_tools import _plugin
from tau_tools._patch_tool import ApplyPatchTool
from tau_tools._transaction import TXN_PREFIX


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    return root


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            st_ = os.lstat(p)
            h.update(f"{p.relative_to(root)}\0{st_.st_mode:o}\0".encode())
            if stat.S_ISREG(st_.st_mode):
                h.update(p.read_bytes())
            elif stat.S_ISLNK(st_.st_mode):
                h.update(os.readlink(p).encode())
    return h.hexdigest()


def call(ws: Path, patch: str, **extra: object) -> ToolResult:
    """Run the tool as core would: capabilities first, then run."""
    tool = ApplyPatchTool()
    arguments = {"patch": patch, **extra}
    tool.capabilities(arguments, ws)
    context = ToolCallContext(
        call=ToolCall("call-1", "apply_patch", arguments),
        spec=tool.spec,
        run_id="run-1",
        workdir=ws,
        idempotency_key="run-1:1:call-1",
    )
    return asyncio.run(tool.run(arguments, context))


def modify(path: str, old: str, new: str) -> str:
    return f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-{old}\n+{new}\n"


def test_spec_declares_a_write_tool_that_is_idempotent() -> None:
    spec = ApplyPatchTool().spec
    assert (spec.name, spec.side_effect, spec.idempotent) == ("apply_patch", "write", True)
    assert spec.parameters["required"] == ["patch"]


def test_capabilities_name_every_path_resolved_including_both_sides_of_a_rename(ws: Path) -> None:
    patch = (
        "diff --git a/a.py b/pkg/b.py\nrename from a.py\nrename to pkg/b.py\n"
        + modify("c.txt", "x", "y")
        + "d.txt\n<<<<<<< SEARCH\nq\n=======\nr\n>>>>>>> REPLACE\n"
    )
    caps = ApplyPatchTool().capabilities({"patch": patch}, ws)
    root = ws.resolve()
    assert [(c.kind, c.target) for c in caps] == [
        ("write", str(root / "a.py")),
        ("write", str(root / "pkg" / "b.py")),
        ("write", str(root / "c.txt")),
        ("write", str(root / "d.txt")),
    ]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/etc/passwd", "absolute_path"),
        ("../outside/secret.txt", "parent_escape"),
        ("src/../../outside/secret.txt", "parent_escape"),
        (".git/config", "git_dir"),
        ("sub/.git/hooks/pre-commit", "git_dir"),
        ("link/secret.txt", "symlink_escape"),
    ],
)
def test_refused_paths_fail_before_anything_runs(ws: Path, path: str, code: str) -> None:
    (ws / "link").symlink_to(ws.parent / "outside")
    before = tree_hash(ws.parent)
    with pytest.raises(ToolError) as info:
        ApplyPatchTool().capabilities({"patch": modify(path, "secret", "pwned")}, ws)
    assert info.value.code == code
    with pytest.raises(ToolError):
        call(ws, modify(path, "secret", "pwned"))
    assert tree_hash(ws.parent) == before


def test_rename_target_outside_the_workspace_is_refused(ws: Path) -> None:
    (ws / "a.txt").write_text("a\n")
    patch = "diff --git a/a.txt b/../x.txt\nrename from a.txt\nrename to ../x.txt\n"
    with pytest.raises(ToolError) as info:
        ApplyPatchTool().capabilities({"patch": patch}, ws)
    assert info.value.code == "parent_escape"


def test_multi_file_patch_applies_and_reports(ws: Path) -> None:
    (ws / "a.txt").write_text("one\n")
    (ws / "gone.txt").write_text("bye\n")
    patch = (
        modify("a.txt", "one", "ONE")
        + "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
        + "--- /dev/null\n+++ b/dir/new.txt\n@@ -0,0 +1 @@\n+fresh\n"
    )
    res = call(ws, patch)
    assert res.ok, res.content
    assert (ws / "a.txt").read_text() == "ONE\n"
    assert not (ws / "gone.txt").exists()
    assert (ws / "dir" / "new.txt").read_text() == "fresh\n"
    assert res.metadata["files"] == {"a.txt": "write", "gone.txt": "delete", "dir/new.txt": "write"}
    assert res.content.startswith("changed 3 file(s)")
    assert not list(ws.rglob(f"{TXN_PREFIX}*"))


def test_one_failing_file_leaves_the_whole_tree_byte_for_byte_unchanged(ws: Path) -> None:
    (ws / "a.txt").write_text("one\n")
    (ws / "b.txt").write_text("two\n")
    before = tree_hash(ws)
    patch = (
        modify("a.txt", "one", "ONE")
        + "--- /dev/null\n+++ b/c.txt\n@@ -0,0 +1 @@\n+new\n"
        + modify("b.txt", "not what is there", "x")
    )
    res = call(ws, patch)
    assert not res.ok and res.error is not None
    assert res.error.code == "hunk_failed"
    assert "b.txt" in res.error.message and "     1 | two" in res.error.message
    assert res.metadata["closest"]["start_line"] == 1
    assert tree_hash(ws) == before


def test_dry_run_reports_without_writing(ws: Path) -> None:
    (ws / "a.txt").write_text("one\n")
    before = tree_hash(ws)
    res = call(ws, modify("a.txt", "one", "ONE"), dry_run=True)
    assert res.ok and "would change 1 file(s)" in res.content and "dry run" in res.content
    assert tree_hash(ws) == before


def test_running_twice_is_idempotent(ws: Path) -> None:
    (ws / "a.txt").write_text("one\n")
    first = call(ws, modify("a.txt", "one", "ONE"))
    after_first = tree_hash(ws)
    second = call(ws, modify("a.txt", "one", "ONE"))
    assert first.ok and second.ok
    assert second.metadata["already_applied"] is True
    assert "already applied" in second.content
    assert tree_hash(ws) == after_first


def test_mode_changes_and_renames_keep_or_set_permissions(ws: Path) -> None:
    (ws / "run.sh").write_text("#!/bin/sh\n")
    (ws / "run.sh").chmod(0o644)
    (ws / "tool.sh").write_text("echo\n")
    (ws / "tool.sh").chmod(0o750)
    patch = (
        "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
        "diff --git a/tool.sh b/bin/tool.sh\nsimilarity index 100%\n"
        "rename from tool.sh\nrename to bin/tool.sh\n"
    )
    res = call(ws, patch)
    assert res.ok, res.content
    assert stat.S_IMODE((ws / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((ws / "bin" / "tool.sh").stat().st_mode) == 0o750
    assert (ws / "bin" / "tool.sh").read_text() == "echo\n" and not (ws / "tool.sh").exists()


def test_crlf_file_keeps_crlf_and_the_result_says_which_layer(ws: Path) -> None:
    (ws / "w.txt").write_bytes(b"a\r\nb\r\nc\r\n")
    res = call(ws, "--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n")
    assert res.ok
    assert (ws / "w.txt").read_bytes() == b"a\r\nB\r\nc\r\n"
    assert "hunk 1 applied at line 1, matched ignoring whitespace" in res.content
    assert res.metadata["placements"][0]["layer"] == "whitespace"


def test_unparseable_patch_is_a_tool_error(ws: Path) -> None:
    with pytest.raises(ToolError) as info:
        call(ws, "no patch here")
    assert info.value.code == "invalid_patch"


def test_symlink_inside_the_workspace_is_patched_through_its_target(ws: Path) -> None:
    (ws / "real.txt").write_text("one\n")
    (ws / "alias.txt").symlink_to(ws / "real.txt")
    res = call(ws, modify("alias.txt", "one", "two"))
    assert res.ok
    assert (ws / "real.txt").read_text() == "two\n" and (ws / "alias.txt").is_symlink()


# -- through a real agent run -------------------------------------------------------------------


def test_agent_applies_a_patch_and_the_verifier_sees_it(tau_home: Path, ws: Path) -> None:
    (ws / "greet.py").write_text('print("hi")\n')
    patch = 'greet.py\n<<<<<<< SEARCH\nprint("hi")\n=======\nprint("hello")\n>>>>>>> REPLACE\n'
    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "apply_patch", "arguments": {"patch": patch}}]},
            {"text": "done"},
        ]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greet.py", 'print("hello")\n'),
        tools=["apply_patch"],
        plugins=fresh_plugin_manager(_plugin),
    ).run("say hello", workdir=ws)
    assert outcome.status == "verified", outcome
    (record,) = outcome.evidence.tool_calls
    assert record.result.ok and record.call.name == "apply_patch"


def test_agent_without_a_write_grant_is_denied_and_nothing_changes(
    tau_home: Path, ws: Path
) -> None:
    (ws / "greet.py").write_text('print("hi")\n')
    before = tree_hash(ws)
    patch = modify("greet.py", 'print("hi")', 'print("hello")')
    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "apply_patch", "arguments": {"patch": patch}}]},
            {"text": "done"},
        ]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("read-only"),
        verifier=FileEquals("greet.py", 'print("hello")\n'),
        tools=["apply_patch"],
        plugins=fresh_plugin_manager(_plugin),
    ).run("say hello", workdir=ws)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    decision = outcome.evidence.decisions[0]
    assert decision.needed_grant == f"write:{ws.resolve() / 'greet.py'}"
    assert tree_hash(ws) == before
