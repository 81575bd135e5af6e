"""ls, glob and grep on real trees: .gitignore, caps, regex errors, binary and big files."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

import pytest

from tau_core import Agent, Authority, ToolCall, ToolCallContext, ToolResult
from tau_core.errors import ToolError
from tau_core.testing import ScriptedModel, ScriptedVerifier, fresh_plugin_manager
from tau_tools import _plugin, _search
from tau_tools._search import GlobTool, GrepTool, LsTool, glob_regex


def call(tool, ws: Path, **arguments) -> ToolResult:
    tool.capabilities(arguments, ws)
    context = ToolCallContext(
        call=ToolCall("c1", tool.spec.name, arguments),
        spec=tool.spec,
        run_id="r",
        workdir=ws,
        idempotency_key="r:1:c1",
    )
    return asyncio.run(tool.run(arguments, context))


def refused(tool, ws: Path, **arguments) -> ToolError:
    with pytest.raises(ToolError) as info:
        call(tool, ws, **arguments)
    return info.value


def body(result: ToolResult) -> list[str]:
    """The result's lines without its [footer]."""
    return [line for line in result.content.splitlines() if not line.startswith("[")]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    files = {
        ".gitignore": "build/\n*.log\n!keep.log\n/top-only.txt\n",
        ".env": "TOKEN=dummy\n",
        "README.md": "# demo\nTODO: write docs\n",
        "keep.log": "kept\n",
        "debug.log": "ignored\n",
        "top-only.txt": "ignored at the top\n",
        "build/out.txt": "TODO ignored build output\n",
        "src/app.py": "def main():\n    # TODO: parse args\n    return 0\n",
        "src/util.py": "def helper():\n    return 'todo'\n",
        "src/.gitignore": "*.tmp\n!important.tmp\n",
        "src/scratch.tmp": "TODO scratch\n",
        "src/important.tmp": "TODO important\n",
        "src/nested/top-only.txt": "not ignored: the rule is anchored at the root\n",
        "src/nested/deep.py": "x = 1  # TODO\n",
        "secret.txt": "excluded by .git/info/exclude\n",
        ".git/info/exclude": "secret.txt\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        ".git/config": "TODO in git config\n",
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


# -- ls -----------------------------------------------------------------------------------------


def test_ls_lists_hidden_files_but_not_git_or_ignored(ws: Path) -> None:
    result = call(LsTool(), ws)
    assert body(result) == [
        ".env  (12 B)",
        ".gitignore  (37 B)",
        "README.md  (24 B)",
        "keep.log  (5 B)",
        "src/",
    ]
    # debug.log, build/, top-only.txt, secret.txt (info/exclude)
    assert result.metadata["ignored"] == 4
    assert "4 ignored by .gitignore" in result.content


def test_ls_depth_and_nested_gitignore(ws: Path) -> None:
    result = call(LsTool(), ws, path="src", depth=2)
    names = [line.split("  (")[0] for line in body(result)]
    assert names == [
        "src/.gitignore",
        "src/app.py",
        "src/important.tmp",
        "src/nested/",
        "src/nested/deep.py",
        "src/nested/top-only.txt",
        "src/util.py",
    ]
    assert result.metadata["ignored"] == 1  # scratch.tmp


def test_ls_caps_and_says_how_many_were_left_out(ws: Path, monkeypatch) -> None:
    monkeypatch.setattr(_search, "MAX_ENTRIES", 3)
    result = call(LsTool(), ws)
    assert len(body(result)) == 3
    assert "first 3 of 5 entries shown; 2 left out" in result.content
    assert (result.metadata["entries"], result.metadata["shown"]) == (5, 3)


def test_ls_shows_symlinks_without_following_them(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x").write_text("x")
    (ws / "src" / "out").symlink_to(tmp_path / "outside")
    result = call(LsTool(), ws, path="src", depth=3)
    assert f"src/out -> {tmp_path / 'outside'}" in body(result)
    assert not any(line.startswith("src/out/") for line in body(result))


@pytest.mark.parametrize(
    ("path", "code"),
    [("..", "parent_escape"), ("/", "absolute_path"), (".git", "git_dir"), ("nope", "not_found")],
)
def test_ls_refusals(ws: Path, path: str, code: str) -> None:
    assert refused(LsTool(), ws, path=path).code == code


# -- glob ---------------------------------------------------------------------------------------


def test_glob_without_slash_matches_at_any_depth(ws: Path) -> None:
    result = call(GlobTool(), ws, pattern="*.py")
    assert body(result) == ["src/app.py", "src/nested/deep.py", "src/util.py"]
    assert result.metadata["matches"] == 3


def test_glob_path_patterns_braces_and_base(ws: Path) -> None:
    assert body(call(GlobTool(), ws, pattern="src/*.py")) == ["src/app.py", "src/util.py"]
    assert body(call(GlobTool(), ws, pattern="**/*.{md,tmp}")) == [
        "README.md",
        "src/important.tmp",
    ]
    assert body(call(GlobTool(), ws, pattern="*.py", path="src/nested")) == ["src/nested/deep.py"]
    assert body(call(GlobTool(), ws, pattern="nested")) == ["src/nested/"]


def test_glob_respects_gitignore_and_never_lists_git(ws: Path) -> None:
    result = call(GlobTool(), ws, pattern="**/*")
    listed = body(result)
    for hidden in ("debug.log", "build/", "build/out.txt", "secret.txt", "src/scratch.tmp"):
        assert hidden not in listed
    assert not any(".git/" in p or p == ".git" for p in listed)
    assert "keep.log" in listed and "src/nested/top-only.txt" in listed
    assert "ignored by .gitignore" in result.content


def test_glob_caps(ws: Path, monkeypatch) -> None:
    monkeypatch.setattr(_search, "MAX_ENTRIES", 2)
    result = call(GlobTool(), ws, pattern="*.py")
    assert len(body(result)) == 2
    assert "first 2 of 3 matches shown; 1 left out" in result.content


@pytest.mark.parametrize(
    ("pattern", "code"),
    [("/etc/*", "absolute_path"), ("../*", "parent_escape"), ("src/../../*", "parent_escape")],
)
def test_glob_refuses_escaping_patterns(ws: Path, pattern: str, code: str) -> None:
    assert refused(GlobTool(), ws, pattern=pattern).code == code


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("*.py", "a.py", True),
        ("*.py", "d/e/a.py", True),
        ("src/*.py", "src/d/a.py", False),
        ("src/**/*.py", "src/a.py", True),
        ("src/**/*.py", "src/d/e/a.py", True),
        ("src/**", "src/d/a.py", True),
        ("test_?.py", "test_1.py", True),
        ("test_?.py", "test_10.py", False),
        ("[!a]*.txt", "b.txt", True),
        ("[!a]*.txt", "a.txt", False),
        ("*.{js,ts}", "x/y.ts", True),
        ("*.{js,ts}", "x/y.tsx", False),
        ("a+b(c).txt", "a+b(c).txt", True),
    ],
)
def test_glob_regex(pattern: str, path: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is matches


# -- grep ---------------------------------------------------------------------------------------


def test_grep_finds_matches_and_skips_ignored_and_git(ws: Path) -> None:
    result = call(GrepTool(), ws, pattern="TODO")
    assert body(result) == [
        "README.md:2:TODO: write docs",
        "src/app.py:2:    # TODO: parse args",
        "src/important.tmp:1:TODO important",
        "src/nested/deep.py:1:x = 1  # TODO",
    ]
    assert result.metadata["matches"] == 4
    assert result.metadata["ignored"] >= 4
    assert "ignored by .gitignore" in result.content


def test_grep_ignore_case_glob_and_path(ws: Path) -> None:
    result = call(GrepTool(), ws, pattern="todo", ignore_case=True, glob="*.py", path="src")
    assert body(result) == [
        "src/app.py:2:    # TODO: parse args",
        "src/nested/deep.py:1:x = 1  # TODO",
        "src/util.py:2:    return 'todo'",
    ]
    single = call(GrepTool(), ws, pattern="return", path="src/util.py")
    assert body(single) == ["src/util.py:2:    return 'todo'"]


def test_grep_context_lines(ws: Path) -> None:
    (ws / "ctx.txt").write_text("a\nb\nHIT\nc\nd\ne\nf\nHIT\ng\n")
    result = call(GrepTool(), ws, pattern="HIT", path="ctx.txt", context=1)
    assert body(result) == [
        "ctx.txt-2-b",
        "ctx.txt:3:HIT",
        "ctx.txt-4-c",
        "--",
        "ctx.txt-7-f",
        "ctx.txt:8:HIT",
        "ctx.txt-9-g",
    ]


def test_grep_bad_regex_names_the_position(ws: Path) -> None:
    error = refused(GrepTool(), ws, pattern="def (main")
    assert error.code == "bad_regex"
    assert "position 4" in str(error)
    assert str(error).splitlines()[-1] == "      ^"
    assert "escape" in error.hint


def test_grep_caps_results_and_counts_the_rest(ws: Path) -> None:
    (ws / "many.txt").write_text("hit\n" * 30)
    result = call(GrepTool(), ws, pattern="^hit$", max_results=5)
    assert len(body(result)) == 5
    assert "30 matches in 1 file; first 5 shown, 25 left out" in result.content


def test_grep_skips_binary_and_large_files_and_cuts_long_lines(ws: Path, monkeypatch) -> None:
    (ws / "blob.bin").write_bytes(b"\0\1TODO\2")
    (ws / "long.txt").write_text("TODO " + "x" * 2000 + "\n")
    monkeypatch.setattr(_search, "MAX_GREP_FILE_BYTES", 4096)
    (ws / "huge.txt").write_text("TODO\n" * 1000)
    result = call(GrepTool(), ws, pattern="TODO", glob="*.{bin,txt}")
    lines = body(result)
    assert lines == [f"long.txt:1:TODO {'x' * 495} … [line cut: 2005 characters]"]
    assert (result.metadata["skipped_binary"], result.metadata["skipped_large"]) == (1, 1)
    assert "1 binary" in result.content and "1 over" in result.content


def test_grep_stops_at_the_file_cap(ws: Path, monkeypatch) -> None:
    monkeypatch.setattr(_search, "MAX_GREP_FILES", 2)
    result = call(GrepTool(), ws, pattern="TODO")
    assert result.metadata["stopped"] is True
    assert "stopped early" in result.content


def test_grep_does_not_read_through_symlinks(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("TODO outside\n")
    (ws / "link.txt").symlink_to(tmp_path / "secret.txt")
    result = call(GrepTool(), ws, pattern="outside")
    assert body(result) == ["no matches for 'outside'"]
    assert result.metadata["skipped_links"] == 1


def test_grep_no_matches_is_not_an_error(ws: Path) -> None:
    result = call(GrepTool(), ws, pattern="nothing-like-this")
    assert result.error is None
    assert result.metadata["matches"] == 0


def test_search_tools_through_an_agent_run(tau_home: Path, ws: Path) -> None:
    model = ScriptedModel(
        [
            {
                "tool_calls": [
                    {"id": "1", "name": "ls", "arguments": {"path": "src"}},
                    {"id": "2", "name": "glob", "arguments": {"pattern": "*.py"}},
                    {"id": "3", "name": "grep", "arguments": {"pattern": "TODO", "glob": "*.py"}},
                ]
            },
            {"text": "found them"},
        ]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("read-only"),
        verifier=ScriptedVerifier("green"),
        tools=["ls", "glob", "grep"],
        plugins=fresh_plugin_manager(_plugin),
    ).run("find the TODOs", workdir=ws)
    assert outcome.status == "verified", outcome
    results = {r.call.name: r.result for r in outcome.evidence.tool_calls}
    assert all(r.ok for r in results.values())
    assert "src/app.py" in results["glob"].content
    assert re.search(r"src/app\.py:2:", results["grep"].content)
    assert all(d.allowed for d in outcome.evidence.decisions)


def test_ls_outside_a_read_grant_is_denied(tau_home: Path, ws: Path) -> None:
    model = ScriptedModel([{"tool_calls": [{"name": "ls", "arguments": {"path": "."}}]}])
    outcome = Agent(
        model,
        authority=Authority.parse(["read:src"]),
        verifier=ScriptedVerifier("green"),
        tools=["ls"],
        plugins=fresh_plugin_manager(_plugin),
    ).run("list", workdir=ws)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    assert outcome.evidence.decisions[0].needed_grant == f"read:{os.path.realpath(ws)}"
