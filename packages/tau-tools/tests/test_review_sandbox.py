"""Review findings for the shell parser, the output cap and the file tools' path handling.

Parser cases are commands that run a program the old walk did not report (so no ``exec:``
grant was asked for); each must now be refused or name that program. The file cases swap a
directory for a symlink after the path was resolved, as a concurrent process could.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tau_core.errors import ToolError
from tau_tools._files import read_window
from tau_tools._paths import resolve
from tau_tools._sandbox import _Capture
from tau_tools._shellparse import parse_command
from tau_tools._transaction import FileTransaction

HIDDEN = [
    # A function that shadows `curl` but is not defined when `curl` runs.
    "(curl() { true; }); curl x",
    "false && curl() { true; }; curl x",
    "if false; then curl() { true; }; fi; curl x",
    "curl() { true; } & curl x",
    "echo $(curl() { true; }); curl x",
    "f() { curl() { true; }; }; curl x",
    "trap 'curl() { true; }' EXIT; curl x",
    "bash -c 'curl() { true; }'; curl x",
    '          eval "                    curl x"; curl() { true; }',
    # `command` and `exec` skip functions.
    "curl() { true; }; command curl x",
    "curl() { true; }; exec curl x",
]

REFUSED = [
    "curl() { true; }; unset -f curl; curl x",
    "curl() { true; }; eval 'unset curl'; curl x",
    # Names that make bash run code or pick another program.
    "BASH_CMDS[ls]=/usr/bin/curl; ls",
    "PATH=bin ls",
    "export PATH=bin:/usr/bin",
    "read -r PS4 < f; set -x; true",
    "printf -v PS4 %s '$(touch p)'; set -x; true",
    "for PS4 in '$(touch p)'; do set -x; true; done",
    "mapfile -tC 'touch p' -c 1 arr < f",
    # Arithmetic evaluates a variable's value, command substitutions included.
    "read -r x < f; let y=x",
    "read -r x < f; echo ${a[x]}",
    "read -r x < f; echo ${s:x}",
    "read -r x < f; read 'a[x]' < g",
    "read -r x < f; test -v 'a[x]'",
    "read -r x < f; declare 'b=([x]=1)'",
    "read -r x < f; printf -v 'b[x]' 1",
    # Prompt expansion runs command substitutions.
    'read -r x < f; echo "${x@P}"',
    # Here-documents expand like double quotes, after joining backslash-newlines.
    "cat <<E\n$\\\n(touch p)\nE",
    "read -r x < f\ncat <<E\n${a[x]}\nE",
    "read -r x < f\ncat <<E\n${x@P}\nE",
]


@pytest.mark.parametrize("command", HIDDEN)
def test_a_program_behind_a_function_name_is_reported(command: str) -> None:
    assert "curl" in parse_command(command).programs


@pytest.mark.parametrize("command", REFUSED)
def test_code_hidden_from_the_walk_is_refused(command: str) -> None:
    with pytest.raises(ToolError) as info:
        parse_command(command)
    assert info.value.code == "unsafe_command"


@pytest.mark.parametrize(
    "command",
    [
        "BASH_CMDS[ls]=/usr/bin/touch; ls {d}/ran",
        "echo 'a[$(touch {d}/ran)]' > {d}/f; read -r x < {d}/f; s=abc; echo ${{s:x}}",
        "echo '$(touch {d}/ran)' > {d}/f; read -r x < {d}/f; echo \"${{x@P}}\"",
        "curl() {{ true; }}; unset -f curl; touch {d}/ran",
    ],
)
def test_the_refused_constructs_really_run_code_in_bash(tmp_path: Path, command: str) -> None:
    # Why the refusals above matter: real bash runs the hidden program.
    subprocess.run(["bash", "-c", command.format(d=tmp_path)], capture_output=True, check=False)
    assert (tmp_path / "ran").exists()


def test_functions_defined_for_sure_still_need_no_grant() -> None:
    parsed = parse_command("f() { grep x .; }; f; g() { true; }\ng")
    assert parsed.programs == ("grep",)
    assert parse_command("f() { true; }; unset -v f; f").programs == ()
    assert parse_command("f() { true; }; eval 'f'").programs == ()


@pytest.mark.parametrize("command", [": noop", "[ -f x ]", "echo ${a[1]} ${s:1:2} ${a[@]}"])
def test_plain_builtins_are_accepted(command: str) -> None:
    assert parse_command(command).programs == ()


def test_output_that_is_not_utf8_is_kept_when_capped() -> None:
    capture = _Capture(100)
    capture.feed(b"\x80" * 1000)
    text = capture.text()
    assert capture.truncated
    assert text.count("\ufffd") >= 90  # the kept bytes, shown as U+FFFD, not dropped


def test_utf8_output_is_still_cut_on_character_boundaries() -> None:
    capture = _Capture(10)
    capture.feed("😀".encode() * 20)
    head, _, tail = capture.text().partition("\n[...")
    assert head == "😀"
    assert "\ufffd" not in tail


def _swap_for_symlink(directory: Path, target: Path) -> None:
    os.rename(directory, directory.with_name(directory.name + ".old"))
    os.symlink(target, directory)


def test_commit_does_not_follow_a_directory_swapped_for_a_symlink(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "d").mkdir(parents=True)
    (ws / "d" / "f").write_bytes(b"old")
    outside.mkdir()
    (outside / "f").write_bytes(b"outside")

    class Racing(FileTransaction):
        def _verify_unchanged(self) -> None:
            super()._verify_unchanged()
            _swap_for_symlink(ws / "d", outside)  # a concurrent process, after the check

    txn = Racing(ws)
    txn.write("d/f", b"pwned")
    txn.write("d/new/g", b"pwned")
    with pytest.raises(ToolError):
        txn.commit()
    assert sorted(os.listdir(outside)) == ["f"]
    assert (outside / "f").read_bytes() == b"outside"
    assert sorted(os.listdir(ws / "d.old")) == ["f"]
    assert (ws / "d.old" / "f").read_bytes() == b"old"


def test_delete_does_not_follow_a_directory_swapped_for_a_symlink(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "d").mkdir(parents=True)
    (ws / "d" / "f").write_bytes(b"old")
    outside.mkdir()
    (outside / "f").write_bytes(b"outside")

    class Racing(FileTransaction):
        def _verify_unchanged(self) -> None:
            super()._verify_unchanged()
            _swap_for_symlink(ws / "d", outside)

    txn = Racing(ws)
    txn.delete("d/f")
    with pytest.raises(ToolError):
        txn.commit()
    assert (outside / "f").read_bytes() == b"outside"


def test_read_does_not_follow_a_directory_swapped_for_a_symlink(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    (ws / "d").mkdir(parents=True)
    (ws / "d" / "f").write_text("inside\n")
    outside.mkdir()
    (outside / "f").write_text("SECRET\n")
    path = resolve(ws, "d/f", purpose="read")
    _swap_for_symlink(ws / "d", outside)
    with pytest.raises(ToolError) as info:
        read_window(path, "d/f", 1, 10, False)
    assert "SECRET" not in str(info.value)


def test_write_replaces_a_hard_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "victim").write_bytes(b"outside")
    os.link(outside / "victim", ws / "hl")
    txn = FileTransaction(ws)
    txn.write("hl", b"pwned")
    txn.commit()
    assert (outside / "victim").read_bytes() == b"outside"
    assert (ws / "hl").read_bytes() == b"pwned"


@pytest.mark.parametrize("spelling", [".GIT/config", "./.git/config", "a/./.Git/x", ".git"])
def test_git_spellings_are_refused(tmp_path: Path, spelling: str) -> None:
    (tmp_path / ".git").mkdir()
    with pytest.raises(ToolError) as info:
        resolve(tmp_path, spelling, purpose="write")
    assert info.value.code == "git_dir"


def test_a_symlink_to_git_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".git" / "hooks").mkdir(parents=True)
    os.symlink(".git", tmp_path / "g")
    with pytest.raises(ToolError) as info:
        resolve(tmp_path, "g/hooks/pre-commit", purpose="write")
    assert info.value.code == "git_dir"
