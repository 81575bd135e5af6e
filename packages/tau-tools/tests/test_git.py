"""The git tool on real repositories: every action, capabilities, refusals, and Agent runs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tau_core import Agent, Authority, Capability, call_tool
from tau_core.testing import FileEquals, ScriptedModel, fresh_plugin_manager, make_plugin
from tau_tools._git import GitTool, locate_repo

IDENTITY = ["-c", "user.name=Setup", "-c", "user.email=setup@example.invalid"]
ALL_GIT = Authority.parse(["read:.", "write:.", "exec:git"])


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *IDENTITY, *args], cwd=cwd, capture_output=True, text=True, check=True
    )
    return out.stdout


@pytest.fixture(autouse=True)
def no_global_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No user-level or system git configuration: the repository's own config decides."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    wd = tmp_path / "repo"
    wd.mkdir()
    git(wd, "init", "-q", "-b", "main")
    (wd / "app.py").write_text("print('hello')\n")
    git(wd, "add", "-A")
    git(wd, "commit", "-q", "-m", "initial")
    return wd


@pytest.fixture
def plugins(tau_home: Path):
    return fresh_plugin_manager(make_plugin(tools=[GitTool()]))


def call(plugins, wd: Path, authority: Authority = ALL_GIT, **arguments):
    return call_tool("git", arguments, authority=authority, workdir=wd, plugins=plugins)


def test_status_and_diff_show_changes(plugins, repo):
    (repo / "app.py").write_text("print('bye')\n")
    (repo / "new.txt").write_text("new\n")
    status = call(plugins, repo, Authority.from_preset("read-only"), action="status")
    assert status.ok, status.to_dict()
    assert "## main" in status.result.content
    assert " M app.py" in status.result.content and "?? new.txt" in status.result.content
    diff = call(plugins, repo, Authority.from_preset("read-only"), action="diff")
    assert diff.ok
    assert "-print('hello')" in diff.result.content and "+print('bye')" in diff.result.content
    assert "untracked files (not in the diff):\nnew.txt" in diff.result.content
    assert diff.result.metadata["command"][:2] == ["git", "diff"]


def test_clean_status_says_so(plugins, repo):
    status = call(plugins, repo, action="status")
    assert "nothing to commit, working tree clean" in status.result.content


def test_diff_staged_stat_and_paths(plugins, repo):
    (repo / "app.py").write_text("print('x')\n")
    (repo / "b.txt").write_text("b\n")
    git(repo, "add", "b.txt")
    staged = call(plugins, repo, action="diff", staged=True, stat=True)
    assert "b.txt" in staged.result.content and "app.py" not in staged.result.content
    only = call(plugins, repo, action="diff", paths=["app.py"])
    assert "+print('x')" in only.result.content and "b.txt" not in only.result.content


def test_log_lists_commits(plugins, repo):
    (repo / "app.py").write_text("v2\n")
    git(repo, "commit", "-q", "-am", "second")
    log = call(plugins, repo, action="log", max_count=1)
    assert log.ok
    lines = log.result.content.splitlines()
    assert len(lines) == 1 and lines[0].endswith("\tsecond")


def test_branch_create_list_and_switch(plugins, repo):
    created = call(plugins, repo, action="branch", operation="create", name="feature")
    assert created.ok, created.to_dict()
    listing = call(plugins, repo, action="branch")
    assert "* main" in listing.result.content and "feature" in listing.result.content
    switched = call(plugins, repo, action="branch", operation="switch", name="feature")
    assert switched.ok
    assert git(repo, "branch", "--show-current").strip() == "feature"
    made = call(plugins, repo, action="branch", operation="switch", name="fix", create=True)
    assert made.ok and git(repo, "branch", "--show-current").strip() == "fix"
    again = call(plugins, repo, action="branch", operation="create", name="feature")
    assert again.result.error.code == "git_failed"
    assert "already exists" in again.result.error.message
    assert again.result.error.hint


def test_worktree_add_list_remove(plugins, repo, tmp_path):
    authority = ALL_GIT.with_grants(f"write:{tmp_path / 'wt'}")
    added = call(
        plugins, repo, authority, action="worktree", operation="add", path="../wt", name="side"
    )
    assert added.ok, added.to_dict()
    assert (tmp_path / "wt" / "app.py").read_text() == "print('hello')\n"
    listing = call(plugins, repo, action="worktree")
    assert str(tmp_path / "wt") in listing.result.content and "[side]" in listing.result.content
    removed = call(plugins, repo, authority, action="worktree", operation="remove", path="../wt")
    assert removed.ok
    assert not (tmp_path / "wt").exists()


def test_worktree_add_needs_a_grant_for_its_path(plugins, repo, tmp_path):
    denied = call(plugins, repo, action="worktree", operation="add", path="../elsewhere")
    assert not denied.ok
    assert denied.decision.needed_grant == f"write:{tmp_path / 'elsewhere'}"
    assert not (tmp_path / "elsewhere").exists()


def test_commit_has_the_run_trailer_and_fallback_identity(plugins, repo):
    (repo / "app.py").write_text("print('fixed')\n")
    (repo / "added.py").write_text("x = 1\n")
    done = call(plugins, repo, action="commit", message="Fix the greeting")
    assert done.ok, done.to_dict()
    body = git(repo, "log", "-1", "--format=%B")
    assert body.startswith("Fix the greeting\n")
    assert "Tau-Run: tool-call" in body
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Tau <tau@localhost>"
    assert done.result.metadata["identity"] == "fallback Tau <tau@localhost>"
    assert done.result.metadata["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert git(repo, "status", "--porcelain") == ""  # new files were staged too


def test_commit_uses_the_configured_identity(plugins, repo):
    git(repo, "config", "user.name", "Ada")
    git(repo, "config", "user.email", "ada@example.invalid")
    (repo / "app.py").write_text("v3\n")
    assert call(plugins, repo, action="commit", message="v3").ok
    assert git(repo, "log", "-1", "--format=%an <%ae>").strip() == "Ada <ada@example.invalid>"


def test_commit_only_named_paths(plugins, repo):
    (repo / "app.py").write_text("changed\n")
    (repo / "other.txt").write_text("left alone\n")
    assert call(plugins, repo, action="commit", message="only app", paths=["app.py"]).ok
    assert git(repo, "show", "--name-only", "--format=", "HEAD").split() == ["app.py"]
    assert "?? other.txt" in git(repo, "status", "--porcelain")


def test_commit_never_runs_hooks(plugins, repo):
    marker = repo.parent / "hook-ran"
    for hook in ("pre-commit", "commit-msg", "post-commit"):
        path = repo / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
        path.chmod(0o755)
    (repo / "app.py").write_text("hooked\n")
    assert call(plugins, repo, action="commit", message="no hooks").ok
    assert not marker.exists()


def test_nothing_to_commit_is_structured(plugins, repo):
    nothing = call(plugins, repo, action="commit", message="empty")
    assert nothing.result.error.code == "nothing_to_commit"
    assert "allow_empty" in nothing.result.error.hint
    head = git(repo, "rev-parse", "HEAD")
    assert call(plugins, repo, action="commit", message="empty", allow_empty=True).ok
    assert git(repo, "rev-parse", "HEAD") != head


@pytest.mark.parametrize("action", ["push", "fetch", "pull", "clone", "remote"])
def test_network_actions_are_refused_before_git_runs(plugins, repo, action):
    head = git(repo, "rev-parse", "HEAD")
    refused = call(plugins, repo, Authority.from_preset("full"), action=action)
    assert refused.result.error.code == "network_refused"
    assert "never uses the network" in refused.result.error.message
    assert refused.decision is None  # refused while listing capabilities: nothing ran
    assert git(repo, "rev-parse", "HEAD") == head


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"action": "rebase"}, "not a git action"),
        ({"action": "status", "message": "x"}, "does not take message"),
        ({"action": "branch", "operation": "delete", "name": "x"}, "not a git branch operation"),
        ({"action": "branch", "operation": "create"}, "needs a name"),
        ({"action": "branch", "operation": "create", "name": "--force"}, "not a branch"),
        ({"action": "diff", "ref": "HEAD --output=/tmp/x"}, "not a branch"),
        ({"action": "diff", "paths": ["../outside"]}, "outside the working directory"),
        ({"action": "log", "max_count": 0}, "not a positive integer"),
        ({"action": "commit", "message": "  "}, "non-empty message"),
        ({"action": "worktree", "operation": "add"}, "needs a path"),
    ],
)
def test_bad_arguments_name_the_fix(plugins, repo, arguments, fragment):
    result = call(plugins, repo, **arguments).result
    assert result.error.code == "bad_arguments"
    assert fragment in result.error.message
    assert result.error.hint


def test_not_a_repository(plugins, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    result = call(plugins, plain, action="status").result
    assert result.error.code == "not_a_repository"
    assert "git init" in result.error.hint


def test_git_failure_carries_stderr_and_hint(plugins, repo):
    result = call(plugins, repo, action="diff", ref="no-such-ref").result
    assert result.error.code == "git_failed"
    assert "no-such-ref" in result.error.message
    assert "ref" in result.error.hint


def test_output_is_capped(plugins, repo):
    (repo / "big.txt").write_text("".join(f"line {i} {'x' * 60}\n" for i in range(2000)))
    git(repo, "add", "big.txt")
    result = call(plugins, repo, action="diff", staged=True).result
    assert result.metadata["truncated"] is True
    assert "[output truncated:" in result.content
    assert len(result.content) < 33_000


def test_capabilities_per_action(repo):
    tool = GitTool()
    gitdir = str(repo / ".git")
    assert tool.capabilities({"action": "status"}, repo) == [Capability("read", str(repo))]
    commit = tool.capabilities({"action": "commit", "message": "m"}, repo)
    assert Capability("exec", "git") in commit and Capability("write", gitdir) in commit
    assert Capability("write", str(repo)) not in commit  # a commit does not touch the tree
    switch = tool.capabilities({"action": "branch", "operation": "switch", "name": "x"}, repo)
    assert Capability("write", str(repo)) in switch  # switching rewrites files


def test_linked_worktree_is_located_with_its_common_dir(repo, tmp_path):
    git(repo, "worktree", "add", "-q", "--detach", str(tmp_path / "linked"))
    found = locate_repo(tmp_path / "linked")
    assert found is not None
    assert found.toplevel == tmp_path / "linked"
    assert found.commondir == repo / ".git"
    caps = GitTool().capabilities({"action": "commit", "message": "m"}, tmp_path / "linked")
    assert Capability("write", str(repo / ".git")) in caps


def _commit_turns(message: str) -> list[dict]:
    return [
        {"tool_calls": [{"name": "git", "arguments": {"action": "commit", "message": message}}]},
        {"text": "committed"},
    ]


def test_agent_commits_with_the_run_id(plugins, repo):
    (repo / "app.py").write_text("print('agent')\n")
    outcome = Agent(
        ScriptedModel(_commit_turns("Agent change")),
        authority=ALL_GIT,
        verifier=FileEquals("app.py", "print('agent')\n"),
        plugins=plugins,
    ).run("commit the change", workdir=repo)
    assert outcome.status == "verified", outcome.summary
    body = git(repo, "log", "-1", "--format=%B")
    assert f"Tau-Run: {outcome.run_id}" in body
    record = outcome.evidence.tool_calls[0]
    assert record.result.ok and record.result.metadata["trailer"] == f"Tau-Run: {outcome.run_id}"


def test_agent_commit_without_write_grant_is_blocked_and_repo_unchanged(plugins, repo):
    (repo / "app.py").write_text("print('agent')\n")
    head = git(repo, "rev-parse", "HEAD")
    index = (repo / ".git" / "index").read_bytes()
    outcome = Agent(
        ScriptedModel(_commit_turns("Should not happen")),
        authority=Authority.parse(["read:.", "exec:git"]),
        verifier=FileEquals("app.py", "print('agent')\n"),
        plugins=plugins,
    ).run("commit the change", workdir=repo)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    assert outcome.evidence.decisions[0].needed_grant == f"write:{repo / '.git'}"
    assert outcome.evidence.tool_calls == ()
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / ".git" / "index").read_bytes() == index
    assert " M app.py" in git(repo, "status", "--porcelain")
