"""The file tools and the all-or-nothing transaction under them, on real files."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tau_core import Agent, Authority, ToolCall, ToolCallContext, ToolResult
from tau_core.errors import ToolError
from tau_core.testing import FileEquals, ScriptedModel, fresh_plugin_manager
from tau_tools import _files, _plugin
from tau_tools._files import EditManyTool, EditTool, ReadTool, WriteManyTool, WriteTool
from tau_tools._transaction import TXN_PREFIX, FileTransaction, _default_mode


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    return root


def tree_hash(root: Path) -> str:
    """Content, mode, kind and existence of everything under *root* (directories included)."""
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


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TXN_PREFIX)]


def call(tool, ws: Path, **arguments) -> ToolResult:
    """Run *tool* as core would: capabilities first (path checks), then run."""
    tool.capabilities(arguments, ws)
    context = ToolCallContext(
        call=ToolCall("call-1", tool.spec.name, arguments),
        spec=tool.spec,
        run_id="run-1",
        workdir=ws,
        idempotency_key="run-1:1:call-1",
    )
    return asyncio.run(tool.run(arguments, context))


def refused(tool, ws: Path, **arguments) -> ToolError:
    with pytest.raises(ToolError) as info:
        call(tool, ws, **arguments)
    return info.value


# -- read ---------------------------------------------------------------------------------------


def test_read_numbers_lines_and_reports_the_window(ws: Path) -> None:
    (ws / "a.txt").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    result = call(ReadTool(), ws, path="a.txt", offset=3, limit=4)
    lines = result.content.splitlines()
    assert lines[:4] == ["     3\tline 3", "     4\tline 4", "     5\tline 5", "     6\tline 6"]
    assert lines[4] == "[lines 3-6 of 10; 4 more lines: read again with offset=7]"
    assert result.metadata["lines"] == 10
    whole = call(ReadTool(), ws, path="a.txt")
    assert whole.content.splitlines()[-1] == "[lines 1-10 of 10]"


def test_read_default_limit_is_2000_lines(ws: Path) -> None:
    (ws / "big.txt").write_text("x\n" * 2500)
    result = call(ReadTool(), ws, path="big.txt")
    assert result.metadata["last_line"] == 2000
    assert "500 more lines: read again with offset=2001" in result.content


def test_read_offset_past_the_end(ws: Path) -> None:
    (ws / "a.txt").write_text("one\ntwo\n")
    error = refused(ReadTool(), ws, path="a.txt", offset=5)
    assert error.code == "offset_out_of_range"
    assert "has 2 lines" in str(error)


def test_read_cuts_long_lines(ws: Path) -> None:
    (ws / "min.js").write_text("a" * 5000 + "\nshort\n")
    result = call(ReadTool(), ws, path="min.js")
    first = result.content.splitlines()[0]
    assert first.endswith("[line cut: 5000 characters]")
    assert len(first) < 2100
    assert result.metadata["cut_lines"] == 1


def test_read_binary_is_an_error(ws: Path) -> None:
    (ws / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    assert refused(ReadTool(), ws, path="img.png").code == "binary_file"


def test_read_too_large_unless_windowed(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "MAX_FILE_BYTES", 1000)
    (ws / "log.txt").write_text("".join(f"entry {i}\n" for i in range(1, 501)))
    error = refused(ReadTool(), ws, path="log.txt")
    assert error.code == "too_large"
    assert "offset" in error.hint
    result = call(ReadTool(), ws, path="log.txt", offset=100, limit=3)
    assert result.content.splitlines()[:3] == [
        "   100\tentry 100",
        "   101\tentry 101",
        "   102\tentry 102",
    ]
    assert "read again with offset=103" in result.content


def test_read_bad_utf8_is_replaced_and_reported(ws: Path) -> None:
    (ws / "latin1.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    result = call(ReadTool(), ws, path="latin1.txt")
    assert "caf\ufffd" in result.content
    assert result.metadata["encoding_errors"] == 1
    assert "not valid UTF-8" in result.content and "line(s) 2" in result.content


def test_read_crlf_and_empty(ws: Path) -> None:
    (ws / "dos.txt").write_bytes(b"a\r\nb\r\n")
    result = call(ReadTool(), ws, path="dos.txt")
    assert result.content.splitlines()[:2] == ["     1\ta", "     2\tb"]
    assert result.metadata["line_endings"] == "crlf"
    (ws / "empty.txt").write_bytes(b"")
    assert "empty" in call(ReadTool(), ws, path="empty.txt").content


def test_read_missing_directory_and_fifo(ws: Path) -> None:
    (ws / "config.toml").write_text("")
    error = refused(ReadTool(), ws, path="config.tml")
    assert (error.code, "config.toml" in error.hint) == ("not_found", True)
    (ws / "sub").mkdir()
    assert refused(ReadTool(), ws, path="sub").code == "is_directory"
    os.mkfifo(ws / "pipe")
    assert refused(ReadTool(), ws, path="pipe").code == "not_a_file"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), offset=st.integers(1, 50), limit=st.integers(1, 50))
def test_read_never_crashes_on_random_bytes(tmp_path_factory, data, offset, limit) -> None:
    ws = tmp_path_factory.mktemp("fuzz")
    (ws / "f").write_bytes(data)
    try:
        result = call(ReadTool(), ws, path="f", offset=offset, limit=limit)
    except ToolError as exc:
        code = exc.code
    else:
        code = None
        assert isinstance(result.content, str) and result.content
    assert code in {None, "binary_file", "offset_out_of_range"}


# -- write --------------------------------------------------------------------------------------


def test_write_creates_parents_and_reports(ws: Path) -> None:
    result = call(WriteTool(), ws, path="a/b/c.txt", content="hi\n")
    assert (ws / "a/b/c.txt").read_text() == "hi\n"
    assert result.content == "created a/b/c.txt (3 bytes, 1 line)"
    assert not leftovers(ws)


def test_write_keeps_the_file_mode(ws: Path) -> None:
    script = ws / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o755)
    call(WriteTool(), ws, path="run.sh", content="#!/bin/sh\necho new\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_text().endswith("new\n")


def test_write_replaces_a_hard_link_instead_of_writing_through_it(ws: Path) -> None:
    outside = ws.parent / "outside" / "shared.txt"
    outside.write_text("outside\n")
    os.link(outside, ws / "linked.txt")
    call(WriteTool(), ws, path="linked.txt", content="inside\n")
    assert outside.read_text() == "outside\n"
    assert (ws / "linked.txt").read_text() == "inside\n"


def test_write_is_atomic_when_the_rename_fails(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (ws / "keep.txt").write_text("old\n")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    error = refused(WriteTool(), ws, path="keep.txt", content="new\n")
    monkeypatch.undo()
    assert error.code == "write_failed"
    assert (ws / "keep.txt").read_text() == "old\n"
    assert not leftovers(ws)


def test_write_failing_fsync_before_the_rename_keeps_the_old_file(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (ws / "keep.txt").write_text("old\n")

    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    assert refused(WriteTool(), ws, path="keep.txt", content="new\n").code == "write_failed"
    assert refused(WriteTool(), ws, path="fresh/new.txt", content="new\n").code == "write_failed"
    monkeypatch.undo()
    assert (ws / "keep.txt").read_text() == "old\n"
    assert sorted(p.name for p in ws.iterdir()) == ["keep.txt"]


def test_write_same_content_changes_nothing(ws: Path) -> None:
    (ws / "a.txt").write_text("same\n")
    before = os.stat(ws / "a.txt").st_ino
    assert "nothing changed" in call(WriteTool(), ws, path="a.txt", content="same\n").content
    assert os.stat(ws / "a.txt").st_ino == before


@pytest.mark.parametrize(
    ("path", "code"),
    [("/tmp/x", "absolute_path"), ("../outside/x", "parent_escape"), (".git/config", "git_dir")],
)
def test_write_refuses_paths(ws: Path, path: str, code: str) -> None:
    assert refused(WriteTool(), ws, path=path, content="x").code == code


def test_write_refuses_symlink_escapes_in_run_too(ws: Path) -> None:
    """Defence in depth: run re-checks the path even if capabilities was skipped."""
    (ws / "out").symlink_to(ws.parent / "outside")
    tool = WriteTool()
    context = ToolCallContext(
        call=ToolCall("c", "write", {}), spec=tool.spec, run_id="r", workdir=ws, idempotency_key="k"
    )
    with pytest.raises(ToolError) as info:
        asyncio.run(tool.run({"path": "out/x.txt", "content": "x"}, context))
    assert info.value.code == "symlink_escape"
    assert not (ws.parent / "outside" / "x.txt").exists()


def test_write_onto_a_directory(ws: Path) -> None:
    (ws / "d").mkdir()
    assert refused(WriteTool(), ws, path="d", content="x").code == "is_directory"


# -- edit ---------------------------------------------------------------------------------------


def test_edit_replaces_exactly_once_and_keeps_mode(ws: Path) -> None:
    f = ws / "m.py"
    f.write_text("def f():\n    return 1\n")
    f.chmod(0o700)
    result = call(EditTool(), ws, path="m.py", old="return 1", new="return 2")
    assert f.read_text() == "def f():\n    return 2\n"
    assert stat.S_IMODE(f.stat().st_mode) == 0o700
    assert result.metadata["lines"] == [2]
    assert "     2\t    return 2" in result.content


def test_edit_ambiguous_lists_line_numbers(ws: Path) -> None:
    (ws / "m.py").write_text("x = 1\ny = 2\nx = 1\n\nx = 1\n")
    error = refused(EditTool(), ws, path="m.py", old="x = 1", new="x = 3")
    assert error.code == "ambiguous_match"
    assert "3 times" in str(error) and "lines 1, 3, 5" in str(error)
    assert "all=true" in error.hint
    assert (ws / "m.py").read_text() == "x = 1\ny = 2\nx = 1\n\nx = 1\n"
    result = call(EditTool(), ws, path="m.py", old="x = 1", new="x = 3", all=True)
    assert result.metadata["lines"] == [1, 3, 5]
    assert (ws / "m.py").read_text().count("x = 3") == 3


def test_edit_no_match_shows_the_closest_lines(ws: Path) -> None:
    (ws / "m.py").write_text("import os\n\ndef main():\n    print('hello')\n    return 0\n")
    error = refused(EditTool(), ws, path="m.py", old="def main():\n  print('hello')", new="x")
    assert error.code == "no_match"
    assert "lines 3-4" in str(error)
    assert "     3\tdef main():" in str(error)
    assert "whitespace" in error.hint


def test_edit_crlf_file_with_lf_old_text(ws: Path) -> None:
    (ws / "dos.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    call(EditTool(), ws, path="dos.txt", old="one\ntwo", new="1\n2")
    assert (ws / "dos.txt").read_bytes() == b"1\r\n2\r\nthree\r\n"


def test_edit_keeps_undecodable_bytes(ws: Path) -> None:
    (ws / "l1.txt").write_bytes(b"caf\xe9 = 1\nname = 'x'\n")
    call(EditTool(), ws, path="l1.txt", old="'x'", new="'y'")
    assert (ws / "l1.txt").read_bytes() == b"caf\xe9 = 1\nname = 'y'\n"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"path": "m.py", "old": "", "new": "x"}, "bad_arguments"),
        ({"path": "m.py", "old": "a", "new": "a"}, "no_change"),
        ({"path": "nope.py", "old": "a", "new": "b"}, "not_found"),
        ({"path": "m.py", "old": "a", "new": "b", "all": "yes"}, "bad_arguments"),
    ],
)
def test_edit_argument_errors(ws: Path, arguments: dict, code: str) -> None:
    (ws / "m.py").write_text("a\n")
    assert refused(EditTool(), ws, **arguments).code == code


# -- write_many / edit_many -----------------------------------------------------------------------


def seed(ws: Path) -> None:
    (ws / "a.txt").write_text("alpha\n")
    (ws / "b.txt").write_text("beta\n")
    (ws / "bin").mkdir()
    (ws / "bin" / "tool").write_text("#!/bin/sh\n")
    (ws / "bin" / "tool").chmod(0o755)


def test_write_many_writes_everything(ws: Path) -> None:
    seed(ws)
    result = call(
        WriteManyTool(),
        ws,
        files=[
            {"path": "a.txt", "content": "A\n"},
            {"path": "new/c.txt", "content": "C\n"},
            {"path": "bin/tool", "content": "#!/bin/sh\necho\n"},
        ],
    )
    assert (ws / "a.txt").read_text() == "A\n"
    assert (ws / "new/c.txt").read_text() == "C\n"
    assert stat.S_IMODE((ws / "bin/tool").stat().st_mode) == 0o755
    assert result.metadata["files"] == 3
    assert not leftovers(ws)


@pytest.mark.parametrize(
    ("middle", "code"),
    [
        ({"path": "../outside/x.txt", "content": "x"}, "parent_escape"),
        ({"path": "/etc/x", "content": "x"}, "absolute_path"),
        ({"path": ".git/hooks/pre-commit", "content": "x"}, "git_dir"),
        ({"path": "escape/x.txt", "content": "x"}, "symlink_escape"),
        ({"path": "bin", "content": "x"}, "is_directory"),
        ({"path": "a.txt/inner", "content": "x"}, "not_a_directory"),
        ({"path": "a.txt", "content": "again"}, "duplicate_path"),
        ({"path": "b.txt"}, "bad_arguments"),
    ],
)
def test_write_many_is_all_or_nothing(ws: Path, middle: dict, code: str) -> None:
    seed(ws)
    (ws / "escape").symlink_to(ws.parent / "outside")
    before = tree_hash(ws)
    files = [{"path": "a.txt", "content": "A\n"}, middle, {"path": "new/c.txt", "content": "C"}]
    error = refused(WriteManyTool(), ws, files=files)
    assert error.code == code
    assert tree_hash(ws) == before
    assert list((ws.parent / "outside").iterdir()) == []


def test_write_many_failure_during_commit_rolls_back(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(ws)
    before = tree_hash(ws)
    real, calls = os.replace, []

    def third_fails(src, dst, **kw):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error", str(dst))
        return real(src, dst, **kw)

    monkeypatch.setattr(os, "replace", third_fails)
    files = [{"path": p, "content": "new\n"} for p in ("a.txt", "b.txt", "bin/tool", "d/e.txt")]
    error = refused(WriteManyTool(), ws, files=files)
    assert error.code == "write_failed"
    assert "every file is as it was" in str(error)
    assert tree_hash(ws) == before
    assert not leftovers(ws)


def test_edit_many_composes_edits_of_one_file(ws: Path) -> None:
    (ws / "m.py").write_text("a = 1\nb = 2\n")
    (ws / "n.py").write_text("c = 3\n")
    result = call(
        EditManyTool(),
        ws,
        edits=[
            {"path": "m.py", "old": "a = 1", "new": "a = 10"},
            {"path": "m.py", "old": "a = 10\nb = 2", "new": "a = 10\nb = 20"},
            {"path": "n.py", "old": "3", "new": "30"},
        ],
    )
    assert (ws / "m.py").read_text() == "a = 10\nb = 20\n"
    assert (ws / "n.py").read_text() == "c = 30\n"
    assert result.metadata == {"edits": 3, "files": ["m.py", "n.py"]}


@pytest.mark.parametrize(
    ("middle", "code"),
    [
        ({"path": "m.py", "old": "zzz", "new": "y"}, "no_match"),
        ({"path": "m.py", "old": "=", "new": ":"}, "ambiguous_match"),
        ({"path": "missing.py", "old": "a", "new": "b"}, "not_found"),
        ({"path": "../outside/m.py", "old": "a", "new": "b"}, "parent_escape"),
        ({"path": ".git/config", "old": "a", "new": "b"}, "git_dir"),
    ],
)
def test_edit_many_is_all_or_nothing(ws: Path, middle: dict, code: str) -> None:
    (ws / "m.py").write_text("a = 1\nb = 2\n")
    (ws / "n.py").write_text("c = 3\n")
    before = tree_hash(ws)
    edits = [
        {"path": "n.py", "old": "3", "new": "30"},
        middle,
        {"path": "m.py", "old": "b = 2", "new": "b = 20"},
    ]
    error = refused(EditManyTool(), ws, edits=edits)
    assert error.code == code
    assert str(error).startswith("edits[1]")
    assert tree_hash(ws) == before


# -- the transaction --------------------------------------------------------------------------


def build_tree(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('app')\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "old.txt").write_text("to be deleted\n")
    (root / "moved.txt").write_text("to be moved\n")
    (root / "ro.txt").write_text("mode only\n")


def plan(txn: FileTransaction) -> None:
    txn.write("src/app.py", b"print('new app')\n")
    txn.write("run.sh", b"#!/bin/sh\necho hi\n")
    txn.write("new/deep/file.txt", b"created\n")
    txn.delete("old.txt")
    txn.rename("moved.txt", "src/moved.txt")
    txn.chmod("ro.txt", 0o600)


def test_transaction_commit_applies_everything(ws: Path) -> None:
    build_tree(ws)
    txn = FileTransaction(ws)
    plan(txn)
    assert txn.read("src/moved.txt") == b"to be moved\n"
    assert not txn.exists("moved.txt")
    txn.commit()
    assert (ws / "src/app.py").read_text() == "print('new app')\n"
    assert stat.S_IMODE((ws / "run.sh").stat().st_mode) == 0o755
    assert (ws / "new/deep/file.txt").read_text() == "created\n"
    assert not (ws / "old.txt").exists() and not (ws / "moved.txt").exists()
    assert (ws / "src/moved.txt").read_text() == "to be moved\n"
    assert stat.S_IMODE((ws / "ro.txt").stat().st_mode) == 0o600
    assert not leftovers(ws)


FAULTY = ("replace", "rename", "link", "fsync", "mkdir", "write", "fchmod")


class Faults:
    """Counts calls to the os functions a commit uses and fails the *fail_at*-th one."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail_at: int | None) -> None:
        self.count, self.fail_at, self.failed = 0, fail_at, None
        for name in FAULTY:
            monkeypatch.setattr(os, name, self.wrap(name, getattr(os, name)))

    def wrap(self, name, real):
        def fn(*args, **kwargs):
            self.count += 1
            if self.count == self.fail_at:
                self.failed = name
                raise OSError(5, f"injected fault in os.{name}")
            return real(*args, **kwargs)

        return fn


def test_transaction_rolls_back_at_every_step(tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    build_tree(probe)
    with pytest.MonkeyPatch.context() as mp:
        faults = Faults(mp, None)
        txn = FileTransaction(probe)
        plan(txn)
        txn.commit()
        steps = faults.count
    assert steps >= 20
    seen = set()
    for n in range(1, steps + 1):
        root = tmp_path / f"case{n}"
        build_tree(root)
        before = tree_hash(root)
        txn = FileTransaction(root)
        plan(txn)
        with pytest.MonkeyPatch.context() as mp:
            faults = Faults(mp, n)
            with pytest.raises(ToolError) as info:
                txn.commit()
        seen.add(faults.failed)
        assert info.value.code == "write_failed", (n, faults.failed, info.value)
        assert tree_hash(root) == before, (n, faults.failed)
        assert not leftovers(root), (n, faults.failed)
    assert seen == {"replace", "link", "fsync", "mkdir", "write", "fchmod"}


NAMES = ("a", "b", "d/c", "d/e/f", "g/h")
MODES = st.sampled_from([0o600, 0o644, 0o755])
OPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.binary(max_size=20), st.none() | MODES),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("chmod"), st.sampled_from(NAMES), MODES),
)


def files_on_disk(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
        for p in root.rglob("*")
        if p.is_file()
    }


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, max_size=8), fail_at=st.none() | st.integers(1, 40))
def test_transaction_matches_a_model_or_changes_nothing(tmp_path_factory, ops, fail_at) -> None:
    """Random changes: a commit gives exactly the modelled tree, or (fault injected) the old one."""
    root = tmp_path_factory.mktemp("txn")
    for rel, data, mode in (("a", b"A", 0o644), ("d/c", b"C", 0o755)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
        (root / rel).chmod(mode)
    model = files_on_disk(root)
    before = tree_hash(root)
    txn = FileTransaction(root)
    for op in ops:
        name = op[1]
        if op[0] != "write" and name not in model:
            with pytest.raises(ToolError):
                getattr(txn, op[0])(*op[1:])
            continue
        getattr(txn, op[0])(*op[1:])
        if op[0] == "write":
            old_mode = model[name][1] if name in model else _default_mode()
            model[name] = (op[2], old_mode if op[3] is None else op[3])
        elif op[0] == "delete":
            del model[name]
        elif op[0] == "rename" and op[1] != op[2]:
            model[op[2]] = model.pop(op[1])
        elif op[0] == "chmod":
            model[name] = (model[name][0], op[2])
    with pytest.MonkeyPatch.context() as mp:
        faults = Faults(mp, fail_at)
        try:
            txn.commit()
        except ToolError as exc:
            code = exc.code
        else:
            code = None
        mp.undo()
    if code is None:
        assert faults.failed is None
        assert files_on_disk(root) == model
    else:
        assert (code, faults.failed is not None) == ("write_failed", True)
        assert tree_hash(root) == before
    assert not leftovers(root)


def test_transaction_refuses_a_file_changed_since_it_was_read(ws: Path) -> None:
    (ws / "a.txt").write_text("one\n")
    txn = FileTransaction(ws)
    txn.write("a.txt", txn.read("a.txt").replace(b"one", b"two"))  # type: ignore[union-attr]
    (ws / "a.txt").write_text("someone else\n")
    with pytest.raises(ToolError) as info:
        txn.commit()
    assert info.value.code == "changed_on_disk"
    assert (ws / "a.txt").read_text() == "someone else\n"


def test_transaction_refuses_a_symlink_swapped_in(ws: Path) -> None:
    (ws / "d").mkdir()
    txn = FileTransaction(ws)
    txn.write("d/x.txt", b"x")
    os.rmdir(ws / "d")
    (ws / "d").symlink_to(ws.parent / "outside")
    with pytest.raises(ToolError) as info:
        txn.commit()
    assert info.value.code == "changed_on_disk"
    assert not (ws.parent / "outside" / "x.txt").exists()


def test_transaction_path_conflicts(ws: Path) -> None:
    (ws / "f").write_text("file\n")
    txn = FileTransaction(ws)
    with pytest.raises(ToolError) as info:
        txn.write("f/inner", b"x")
    assert info.value.code == "not_a_directory"
    txn.write("d/inner", b"x")
    with pytest.raises(ToolError) as info:
        txn.write("d", b"x")
    assert info.value.code == "is_directory"
    with pytest.raises(ToolError) as info:
        txn.delete("missing")
    assert info.value.code == "not_found"


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path[:0] = [{tests!r}]
    from test_files import build_tree, plan
    from tau_tools._transaction import FileTransaction
    root = Path(sys.argv[1])
    build_tree(root)
    real, n = os.replace, [0]
    def replace(*a, **k):
        n[0] += 1
        if n[0] == int(sys.argv[2]):
            os._exit(9)
        return real(*a, **k)
    txn = FileTransaction(root)
    plan(txn)
    os.replace = replace
    txn.commit()
    """
)


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 5, 6])
def test_a_killed_commit_loses_nothing(tmp_path: Path, kill_at: int) -> None:
    """The documented crash window: every original file survives, in place or as a backup."""
    script = CRASH_SCRIPT.format(tests=str(Path(__file__).parent))
    root = tmp_path / "crash"
    proc = subprocess.run([sys.executable, "-c", script, str(root), str(kill_at)])
    assert proc.returncode == 9
    originals = {
        "src/app.py": b"print('app')\n",
        "run.sh": b"#!/bin/sh\n",
        "old.txt": b"to be deleted\n",
        "moved.txt": b"to be moved\n",
        "ro.txt": b"mode only\n",
    }
    backups = [p.read_bytes() for p in leftovers(root) if p.name.endswith(".bak")]
    for rel, data in originals.items():
        here = (root / rel).read_bytes() if (root / rel).exists() else None
        assert here == data or data in backups, rel


# -- through a real agent run -------------------------------------------------------------------


def agent_plugins():
    return fresh_plugin_manager(_plugin)


def test_agent_writes_edits_and_reads_under_workspace_write(tau_home: Path, ws: Path) -> None:
    model = ScriptedModel(
        [
            {
                "tool_calls": [
                    {
                        "name": "write",
                        "arguments": {"path": "greet.txt", "content": "Hello, world\n"},
                    }
                ]
            },
            {
                "tool_calls": [
                    {
                        "name": "edit",
                        "arguments": {"path": "greet.txt", "old": "world", "new": "Tau"},
                    }
                ]
            },
            {"tool_calls": [{"name": "read", "arguments": {"path": "greet.txt"}}]},
            {"text": "done"},
        ]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greet.txt", "Hello, Tau\n"),
        tools=["read", "write", "edit"],
        plugins=agent_plugins(),
    ).run("greet", workdir=ws)
    assert outcome.status == "verified", outcome
    records = outcome.evidence.tool_calls
    assert [r.call.name for r in records] == ["write", "edit", "read"]
    assert all(r.result.ok for r in records)
    assert records[2].result.content.startswith("     1\tHello, Tau")
    assert (ws / "greet.txt").read_text() == "Hello, Tau\n"


def test_agent_under_read_only_is_denied_and_changes_nothing(tau_home: Path, ws: Path) -> None:
    (ws / "greet.txt").write_text("untouched\n")
    before = tree_hash(ws)
    model = ScriptedModel(
        [
            {
                "tool_calls": [
                    {"name": "write", "arguments": {"path": "greet.txt", "content": "changed\n"}}
                ]
            },
            {"text": "done"},
        ]
    )
    outcome = Agent(
        model,
        authority=Authority.from_preset("read-only"),
        verifier=FileEquals("greet.txt", "changed\n"),
        tools=["read", "write"],
        plugins=agent_plugins(),
    ).run("change it", workdir=ws)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority")
    decision = outcome.evidence.decisions[0]
    assert not decision.allowed and decision.needed_grant == f"write:{ws.resolve() / 'greet.txt'}"
    assert tree_hash(ws) == before
