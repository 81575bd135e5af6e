"""Every refusal rule of the workspace path resolver, and what it lets through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tau_core import Authority, Capability
from tau_core._authority import check_capabilities
from tau_core.errors import ToolError
from tau_tools._paths import capability_for, relative, resolve


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / ".git" / "hooks").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    return root


def code_of(ws: Path, path: str, purpose: str = "write") -> str:
    with pytest.raises(ToolError) as info:
        resolve(ws, path, purpose=purpose)  # type: ignore[arg-type]
    assert info.value.hint  # every refusal says what to do next
    return info.value.code


@pytest.mark.parametrize("purpose", ["read", "write"])
@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/etc/passwd", "absolute_path"),
        ("//etc/passwd", "absolute_path"),
        ("\\etc\\passwd", "absolute_path"),
        ("..", "parent_escape"),
        ("../outside/secret.txt", "parent_escape"),
        ("src/../../outside/secret.txt", "parent_escape"),
        ("src/../src/pkg/mod.py", "parent_escape"),
        ("src\\..\\..\\x", "parent_escape"),
        (".git", "git_dir"),
        (".git/hooks/pre-commit", "git_dir"),
        ("./.git/config", "git_dir"),
        ("src/.git/config", "git_dir"),
        (".GIT/config", "git_dir"),
        ("src/mod\0.py", "nul_byte"),
        ("", "bad_path"),
        ("   ", "bad_path"),
    ],
)
def test_refusals(ws: Path, path: str, code: str, purpose: str) -> None:
    assert code_of(ws, path, purpose) == code


def test_directory_symlink_out_of_the_workspace_is_refused(ws: Path) -> None:
    (ws / "escape").symlink_to(ws.parent / "outside")
    assert code_of(ws, "escape/secret.txt", "read") == "symlink_escape"
    assert code_of(ws, "escape/new.txt", "write") == "symlink_escape"
    assert code_of(ws, "escape", "read") == "symlink_escape"


def test_final_component_symlink_out_is_refused_even_when_dangling(ws: Path) -> None:
    (ws / "link.txt").symlink_to(ws.parent / "outside" / "secret.txt")
    (ws / "dangling.txt").symlink_to(ws.parent / "outside" / "not-yet.txt")
    assert code_of(ws, "link.txt", "read") == "symlink_escape"
    assert code_of(ws, "link.txt", "write") == "symlink_escape"
    assert code_of(ws, "dangling.txt", "write") == "symlink_escape"


def test_absolute_symlink_chain_out_is_refused(ws: Path) -> None:
    (ws / "a").symlink_to("b")
    (ws / "b").symlink_to(ws.parent / "outside")
    assert code_of(ws, "a/secret.txt", "read") == "symlink_escape"


def test_symlink_into_git_is_refused(ws: Path) -> None:
    (ws / "hooks").symlink_to(ws / ".git" / "hooks")
    assert code_of(ws, "hooks/pre-commit", "write") == "git_dir"


def test_symlink_inside_the_workspace_resolves_to_its_target(ws: Path) -> None:
    (ws / "alias").symlink_to("src/pkg")
    assert resolve(ws, "alias/mod.py", purpose="write") == (ws / "src/pkg/mod.py").resolve()


def test_workspace_reached_through_a_symlink(tmp_path: Path, ws: Path) -> None:
    link = tmp_path / "ws-link"
    link.symlink_to(ws)
    assert resolve(link, "src/pkg/mod.py", purpose="read") == ws.resolve() / "src/pkg/mod.py"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("src/pkg/mod.py", "src/pkg/mod.py"),
        ("./src//pkg/./mod.py", "src/pkg/mod.py"),
        ("new/dir/file.txt", "new/dir/file.txt"),
        (".", "."),
        (".gitignore", ".gitignore"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
        ("..foo", "..foo"),
        ("a..b/c", "a..b/c"),
    ],
)
def test_accepted_paths(ws: Path, path: str, expected: str) -> None:
    resolved = resolve(ws, path, purpose="write")
    assert resolved.is_absolute()
    assert relative(ws, resolved) == expected


def test_capability_for_names_the_resolved_target(ws: Path) -> None:
    (ws / "alias").symlink_to("src/pkg")
    cap = capability_for(ws, "alias/mod.py", "write")
    assert cap == Capability("write", str(ws.resolve() / "src/pkg/mod.py"))


def test_capability_is_checked_on_the_real_target(ws: Path) -> None:
    """A grant on one directory does not cover a symlink in it that points to another."""
    (ws / "src" / "to_pkg").symlink_to("pkg")
    authority = Authority.parse(["write:src/pkg"])
    allowed = check_capabilities(
        authority, "c", "write", [capability_for(ws, "src/to_pkg/mod.py", "write")], ws
    )
    assert allowed.allowed
    authority = Authority.parse(["write:src/other"])
    denied = check_capabilities(
        authority, "c", "write", [capability_for(ws, "src/to_pkg/mod.py", "write")], ws
    )
    assert not denied.allowed


def test_message_names_the_path_and_the_rule(ws: Path) -> None:
    with pytest.raises(ToolError) as info:
        resolve(ws, "../x", purpose="read")
    assert "'../x'" in str(info.value)
    assert "'..'" in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_resolve_but_stay_inside(ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    assert resolve(ws, "pipe", purpose="read") == ws.resolve() / "pipe"
