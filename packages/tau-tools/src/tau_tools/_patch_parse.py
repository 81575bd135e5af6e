"""Parse what ``apply_patch`` accepts: unified diffs (git style or plain) and search/replace blocks.

The parser works on bytes so that applying a patch is byte-exact: a patch line keeps its ``\\r``
when the patch came from a CRLF file, and file contents are never decoded. It runs in one pass
over the lines (linear time), never raises anything but :class:`ParseError`, and tolerates what
models and tools commonly produce:

* text before, between and after file patches (commit messages, prose) is ignored, as
  ``git apply`` ignores it;
* ``diff --git`` headers with their extended lines (modes, renames, copies, ``index``), or plain
  ``---``/``+++`` headers with or without timestamps; C-quoted paths; ``/dev/null``;
* ``a/`` and ``b/`` prefixes are stripped when both sides carry them (paths written without
  them are taken as written: ``git apply`` would strip their first component instead);
* hunk headers with wrong line counts are recounted from the hunk's lines, and a note says so;
  a bare ``@@`` without line numbers is accepted (the engine then requires a unique match);
* Aider-style blocks: a path line, optionally a code fence, then
  ``<<<<<<< SEARCH`` / ``=======`` / ``>>>>>>> REPLACE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, TypeAlias

from attrs import field, frozen

from tau_core.errors import ToolError

__all__ = [
    "FilePatch",
    "Hunk",
    "ParseError",
    "ParsedPatch",
    "PatchLine",
    "SearchReplace",
    "parse_patch",
]

PatchLine: TypeAlias = tuple[str, bytes, bool]
"""One hunk line: tag (``" "``, ``"-"`` or ``"+"``), text without its ``\\n``, no-newline flag."""

FileOp = Literal["modify", "create", "delete", "rename", "copy"]

_HUNK_RE = re.compile(rb"^@@+ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@+ ?(.*)$")
_MODE_RE = re.compile(rb"^[0-7]{6}$")
_ESCAPES = {
    ord("a"): 7, ord("b"): 8, ord("t"): 9, ord("n"): 10,
    ord("v"): 11, ord("f"): 12, ord("r"): 13, ord('"'): 34, ord("\\"): 92,
}  # fmt: skip
_SEARCH = re.compile(rb"^<{5,9} ?SEARCH\s*$")
_DIVIDER = re.compile(rb"^={5,9}\s*$")
_REPLACE = re.compile(rb"^>{5,9} ?REPLACE\s*$")
_MAX_NOTES = 50


class ParseError(ToolError):
    """The patch text cannot be read; the message names the patch line and what to fix."""

    def __init__(self, message: str, *, line: int | None = None, hint: str = "") -> None:
        where = f"patch line {line}: " if line is not None else ""
        super().__init__(
            where + message,
            code="invalid_patch",
            hint=hint or "send a unified diff (as `git diff` prints it) or search/replace blocks",
        )
        self.line = line


@frozen
class Hunk:
    """One ``@@`` hunk.

    Attributes:
        old_start: First line of the old side (1-based; 0 for an empty old side).
        old_count: Lines on the old side (recounted when the header was wrong).
        new_start: First line of the new side.
        new_count: Lines on the new side.
        lines: The hunk's lines.
        numbered: False for a bare ``@@`` header without line numbers.
        header_line: The patch line of the ``@@`` header (1-based), for messages.
    """

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    lines: tuple[PatchLine, ...]
    numbered: bool = True
    header_line: int = 0

    @property
    def header(self) -> str:
        """The header as ``git diff`` would print it."""
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@"

    def reversed(self) -> Hunk:
        """The hunk that undoes this one."""
        swap = {"-": "+", "+": "-", " ": " "}
        return Hunk(
            self.new_start,
            self.new_count,
            self.old_start,
            self.old_count,
            tuple((swap[t], text, nl) for t, text, nl in self.lines),
            self.numbered,
            self.header_line,
        )


def _tuple_of_hunk(items: Iterable[Hunk]) -> tuple[Hunk, ...]:
    return tuple(items)


@frozen
class FilePatch:
    """The changes to one file.

    Attributes:
        old_path: The path before the change (``None`` when the file is created).
        new_path: The path after the change (``None`` when the file is deleted).
        op: What happens to the file.
        old_mode: The old git mode (e.g. ``0o100644``), when the patch states it.
        new_mode: The new git mode, when the patch states it.
        hunks: The content changes.
        is_binary: The patch changes binary content, which ``apply_patch`` does not apply.
        header_line: The patch line where this file's patch starts.
    """

    old_path: str | None
    new_path: str | None
    op: FileOp
    old_mode: int | None = None
    new_mode: int | None = None
    hunks: tuple[Hunk, ...] = field(default=(), converter=_tuple_of_hunk)
    is_binary: bool = False
    header_line: int = 0

    @property
    def path(self) -> str:
        """The path the file has after the change (or had, for a deletion)."""
        path = self.new_path if self.new_path is not None else self.old_path
        assert path is not None  # noqa: S101 - the parser never builds a patch without a path
        return path


@frozen
class SearchReplace:
    """One search/replace block: replace the lines *search* with *replace* in *path*."""

    path: str
    search: bytes
    replace: bytes
    header_line: int = 0


@frozen
class ParsedPatch:
    """The parsed patch: file patches and search/replace blocks in order, plus parser notes."""

    items: tuple[FilePatch | SearchReplace, ...]
    notes: tuple[str, ...] = ()

    @property
    def paths(self) -> list[str]:
        """Every path the patch touches (old and new paths of renames and copies), in order."""
        seen: dict[str, None] = {}
        for item in self.items:
            if isinstance(item, SearchReplace):
                seen[item.path] = None
            else:
                for p in (item.old_path, item.new_path):
                    if p is not None:
                        seen[p] = None
        return list(seen)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _unquote(raw: bytes, line: int) -> tuple[bytes, bytes]:
    """Read one C-quoted name at the start of *raw*; return it and the rest of *raw*."""
    out = bytearray()
    i, n = 1, len(raw)
    while i < n:
        c = raw[i]
        if c == ord('"'):
            return bytes(out), raw[i + 1 :]
        if c == ord("\\") and i + 1 < n:
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
                i += 2
                continue
            octal = raw[i + 1 : i + 4]
            if len(octal) == 3 and all(48 <= b <= 55 for b in octal) and int(octal, 8) < 256:
                out.append(int(octal, 8))
                i += 4
                continue
            raise ParseError(f"bad escape in quoted path {_text(raw)!r}", line=line)
        out.append(c)
        i += 1
    raise ParseError(f"unterminated quoted path {_text(raw)!r}", line=line)


def _header_name(raw: bytes, line: int) -> bytes:
    """The name in a ``---``/``+++``/``rename from`` line: quoted, or up to a tab."""
    raw = raw.rstrip(b"\r")
    if raw.startswith(b'"'):
        return _unquote(raw, line)[0]
    return raw.split(b"\t", 1)[0].rstrip(b" ")


def _git_names(rest: bytes, line: int) -> tuple[bytes, bytes] | None:
    """The two names of a ``diff --git A B`` line, when they can be told apart."""
    rest = rest.rstrip(b"\r")
    if rest.startswith(b'"'):
        first, tail = _unquote(rest, line)
        tail = tail.lstrip(b" ")
        second = _unquote(tail, line)[0] if tail.startswith(b'"') else tail
        return first, second
    if rest.endswith(b'"') and b' "' in rest:
        first, _, quoted = rest.partition(b' "')
        return first, _unquote(b'"' + quoted, line)[0]
    # Unquoted: the two names are equal up to their prefixes ("a/N b/N"); find that split.
    half = (len(rest) - 1) // 2
    if len(rest) % 2 == 1 and rest[half : half + 1] == b" ":
        first, second = rest[:half], rest[half + 1 :]
        if first.partition(b"/")[2] == second.partition(b"/")[2]:
            return first, second
    if rest.count(b" b/") == 1:
        first, _, second = rest.partition(b" b/")
        return first, b"b/" + second
    return None


def _strip_prefixes(old: bytes | None, new: bytes | None) -> tuple[str | None, str | None]:
    """Drop ``a/`` and ``b/`` when every named side carries its prefix."""
    sides = [(old, b"a/"), (new, b"b/")]
    if all(name is None or name.startswith(prefix) for name, prefix in sides):
        old = old[2:] if old is not None else None
        new = new[2:] if new is not None else None
    return (_text(old) if old is not None else None, _text(new) if new is not None else None)


def _null(name: bytes) -> bytes | None:
    return None if name == b"/dev/null" else name


class _Parser:
    def __init__(self, data: bytes) -> None:
        pieces = data.split(b"\n")
        self.has_final_newline = pieces[-1] == b""
        if self.has_final_newline:
            pieces.pop()
        self.lines = pieces
        self.i = 0
        self.items: list[FilePatch | SearchReplace] = []
        self.notes: list[str] = []
        self.last_block_path: str | None = None

    def note(self, text: str) -> None:
        if len(self.notes) < _MAX_NOTES:
            self.notes.append(text)

    def peek(self, offset: int = 0) -> bytes | None:
        j = self.i + offset
        return self.lines[j] if j < len(self.lines) else None

    def is_file_header(self, j: int) -> bool:
        line = self.lines[j]
        if line.startswith(b"diff --git "):
            return True
        nxt = self.lines[j + 1] if j + 1 < len(self.lines) else b""
        return line.startswith(b"--- ") and nxt.startswith(b"+++ ")

    def run(self) -> ParsedPatch:
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.startswith(b"diff --git "):
                self.git_patch()
            elif line.startswith(b"--- ") and (self.peek(1) or b"").startswith(b"+++ "):
                start = self.i
                old, new = self.plain_names()
                op: FileOp = "create" if old is None else "delete" if new is None else "modify"
                if not (self.peek() or b"").startswith(b"@@"):
                    raise ParseError(
                        "file header without hunks",
                        line=start + 1,
                        hint="follow the ---/+++ lines with @@ hunks",
                    )
                self.add_file(old, new, op, start)
            elif _SEARCH.match(line):
                self.search_block()
            elif line.startswith(b"@@ ") or line.rstrip(b"\r") == b"@@":
                raise ParseError(
                    "hunk without a file header",
                    line=self.i + 1,
                    hint="put `--- a/PATH` and `+++ b/PATH` lines before the first @@ hunk",
                )
            else:
                self.i += 1  # prose, commit messages and other text around patches
        if not self.items:
            raise ParseError("no file patch and no search/replace block found")
        return ParsedPatch(tuple(self.items), tuple(self.notes))

    def plain_names(self) -> tuple[bytes | None, bytes | None]:
        old = _null(_header_name(self.lines[self.i][4:], self.i + 1))
        new = _null(_header_name(self.lines[self.i + 1][4:], self.i + 2))
        if old is None and new is None:
            raise ParseError("both sides are /dev/null", line=self.i + 1)
        self.i += 2
        return old, new

    def git_patch(self) -> None:
        start = self.i
        names = _git_names(self.lines[self.i][len(b"diff --git ") :], self.i + 1)
        self.i += 1
        op: FileOp = "modify"
        old_mode = new_mode = None
        old: bytes | None = names[0] if names else None
        new: bytes | None = names[1] if names else None
        binary = False
        while self.i < len(self.lines):
            line = self.lines[self.i].rstrip(b"\r")
            key = line.partition(b" ")[0]
            if line.startswith((b"old mode ", b"deleted file mode ")):
                old_mode = self.mode(line.rsplit(b" ", 1)[1])
                if line.startswith(b"deleted"):
                    op, new = "delete", None
            elif line.startswith((b"new mode ", b"new file mode ")):
                new_mode = self.mode(line.rsplit(b" ", 1)[1])
                if line.startswith(b"new file"):
                    op, old = "create", None
            elif line.startswith((b"rename from ", b"copy from ")):
                op = "rename" if key == b"rename" else "copy"
                old = b"a/" + _header_name(line.split(b" ", 2)[2], self.i + 1)
            elif line.startswith((b"rename to ", b"copy to ")):
                new = b"b/" + _header_name(line.split(b" ", 2)[2], self.i + 1)
            elif key in (b"index", b"similarity", b"dissimilarity"):
                pass
            elif line.startswith((b"Binary files ", b"GIT binary patch")):
                binary = True
            elif line.startswith(b"--- ") and (self.peek(1) or b"").startswith(b"+++ "):
                if names is not None and not self.same_file(old, new):
                    break  # the ---/+++ pair starts another file's patch
                old_side, new_side = self.plain_names()
                old = old_side if op not in ("rename", "copy") else old
                new = new_side if op not in ("rename", "copy") else new
                break
            else:
                break
            self.i += 1
        if binary:
            self.skip_binary()
        if old is None and new is None:
            raise ParseError("cannot tell the file names from the diff --git line", line=start + 1)
        if op in ("rename", "copy") and (old is None or new is None):
            raise ParseError(
                f"a {op} needs both a '{op} from' and a '{op} to' line (or a diff --git line "
                "naming both files)",
                line=start + 1,
                hint=f"write `{op} from OLD` and `{op} to NEW` after the diff --git line",
            )
        self.add_file(old, new, op, start, old_mode=old_mode, new_mode=new_mode, binary=binary)

    def same_file(self, old: bytes | None, new: bytes | None) -> bool:
        """Whether the ``---``/``+++`` pair at the cursor names the header's files."""
        sides = (
            _null(_header_name(self.lines[self.i][4:], self.i + 1)),
            _null(_header_name(self.lines[self.i + 1][4:], self.i + 2)),
        )
        return all(
            side is None or mine is None or side.partition(b"/")[2] == mine.partition(b"/")[2]
            for side, mine in zip(sides, (old, new), strict=True)
        )

    def mode(self, raw: bytes) -> int:
        if not _MODE_RE.match(raw):
            raise ParseError(f"bad file mode {_text(raw)!r}", line=self.i + 1)
        return int(raw, 8)

    def skip_binary(self) -> None:
        while self.i < len(self.lines) and not self.is_file_header(self.i):
            self.i += 1

    def add_file(
        self,
        old: bytes | None,
        new: bytes | None,
        op: FileOp,
        start: int,
        *,
        old_mode: int | None = None,
        new_mode: int | None = None,
        binary: bool = False,
    ) -> None:
        old_path, new_path = _strip_prefixes(old, new)
        hunks: list[Hunk] = []
        while not binary and self.i < len(self.lines):
            line = self.lines[self.i]
            if not (line.startswith(b"@@ ") or line.rstrip(b"\r") == b"@@"):
                break
            hunks.append(self.hunk(new_path or old_path or ""))
        if op == "modify" and old_path != new_path and old_path and new_path:
            op = "rename"
        self.items.append(
            FilePatch(old_path, new_path, op, old_mode, new_mode, hunks, binary, start + 1)
        )

    def hunk(self, path: str) -> Hunk:
        header_no = self.i + 1
        header = self.lines[self.i].rstrip(b"\r")
        match = _HUNK_RE.match(header)
        if match is None and header.rstrip(b" ") != b"@@":
            raise ParseError(
                f"bad hunk header {_text(header)!r}",
                line=header_no,
                hint="write hunk headers as `@@ -OLD_START,OLD_COUNT +NEW_START,NEW_COUNT @@`",
            )
        self.i += 1
        if match is None:
            lines = self.greedy_body()
            old_n = sum(1 for t, _, _ in lines if t != "+")
            new_n = sum(1 for t, _, _ in lines if t != "-")
            return Hunk(0, old_n, 0, new_n, tuple(lines), numbered=False, header_line=header_no)
        old_start, new_start = int(match[1]), int(match[3])
        old_n = int(match[2]) if match[2] is not None else 1
        new_n = int(match[4]) if match[4] is not None else 1
        body_start = self.i
        counted = self.counted_body(old_n, new_n)
        if counted is not None:
            lines = counted
        else:
            self.i = body_start
            lines = self.greedy_body()
            got_old = sum(1 for t, _, _ in lines if t != "+")
            got_new = sum(1 for t, _, _ in lines if t != "-")
            self.note(
                f"{path}: hunk at patch line {header_no} says -{old_start},{old_n} "
                f"+{new_start},{new_n} but has {got_old} old and {got_new} new lines; recounted"
            )
            old_n, new_n = got_old, got_new
        if not lines:
            raise ParseError("empty hunk", line=header_no, hint="a hunk needs at least one line")
        return Hunk(old_start, old_n, new_start, new_n, tuple(lines), header_line=header_no)

    def body_line(self, line: bytes) -> PatchLine | None:
        if line[:1] in (b" ", b"-", b"+"):
            return (line[:1].decode(), line[1:], False)
        if line in (b"", b"\r"):  # an empty context line whose leading space was stripped
            return (" ", line, False)
        return None

    def counted_body(self, old_n: int, new_n: int) -> list[PatchLine] | None:
        """The hunk's lines by its header's counts, or None when the counts do not fit."""
        lines: list[PatchLine] = []
        while old_n > 0 or new_n > 0:
            if self.i >= len(self.lines) or self.is_header_at(self.i, counted=True):
                return None
            parsed = self.body_line(self.lines[self.i])
            if parsed is None:
                if self.lines[self.i].startswith(b"\\") and lines:
                    self.no_newline(lines)
                    continue
                return None
            tag = parsed[0]
            old_n -= tag != "+"
            new_n -= tag != "-"
            if old_n < 0 or new_n < 0:
                return None
            lines.append(parsed)
            self.i += 1
        if self.i < len(self.lines) and self.lines[self.i].startswith(b"\\") and lines:
            self.no_newline(lines)
        if self.i < len(self.lines) and self.continues_hunk(self.i):
            return None  # more hunk lines follow: the counts are too small
        return lines

    def continues_hunk(self, j: int) -> bool:
        line = self.lines[j]
        if line[:1] not in (b" ", b"-", b"+") or self.is_header_at(j):
            return False
        # "-- " followed by a version line is git format-patch's signature, not a hunk line.
        return line.rstrip(b"\r") != b"-- "

    def is_header_at(self, j: int, *, counted: bool = False) -> bool:
        """Whether line *j* starts a hunk, a file patch or a block.

        With *counted*, a ``---``/``+++`` pair does not count: inside a hunk whose header
        counts are right it is a removed ``--`` line followed by an added ``++`` line.
        """
        line = self.lines[j]
        return (
            line.startswith((b"@@ ", b"diff --git "))
            or line.rstrip(b"\r") == b"@@"
            or (not counted and self.is_file_header(j))
            or _SEARCH.match(line) is not None
        )

    def greedy_body(self) -> list[PatchLine]:
        lines: list[PatchLine] = []
        while self.i < len(self.lines) and not self.is_header_at(self.i):
            line = self.lines[self.i]
            parsed = self.body_line(line)
            if parsed is None:
                if line.startswith(b"\\") and lines:
                    self.no_newline(lines)
                    continue
                break
            if line.rstrip(b"\r") == b"-- " and not self.continues_hunk(self.i):
                break
            lines.append(parsed)
            self.i += 1
        while lines and self.lines[self.i - 1] in (b"", b"\r"):
            lines.pop()  # bare blank lines after a hunk separate it from what follows
            self.i -= 1
        return lines

    def no_newline(self, lines: list[PatchLine]) -> None:
        tag, text, _ = lines[-1]
        lines[-1] = (tag, text.removesuffix(b"\r"), True)
        self.i += 1

    def search_block(self) -> None:
        start = self.i
        path = self.block_path(start)
        self.i += 1
        parts: list[list[bytes]] = [[], []]
        part = 0
        while True:
            if self.i >= len(self.lines):
                raise ParseError(
                    "search/replace block is not closed",
                    line=start + 1,
                    hint="end the block with a `>>>>>>> REPLACE` line",
                )
            line = self.lines[self.i]
            if part == 0 and _DIVIDER.match(line):
                part = 1
            elif part == 1 and _REPLACE.match(line):
                self.i += 1
                break
            elif _SEARCH.match(line) or (part == 0 and _REPLACE.match(line)):
                raise ParseError(
                    "search/replace block markers out of order",
                    line=self.i + 1,
                    hint="write <<<<<<< SEARCH, the old lines, =======, the new lines, "
                    ">>>>>>> REPLACE",
                )
            else:
                parts[part].append(line + b"\n")
            self.i += 1
        self.items.append(SearchReplace(path, b"".join(parts[0]), b"".join(parts[1]), start + 1))

    def block_path(self, start: int) -> str:
        j = start - 1
        if j >= 0 and self.lines[j].lstrip().startswith(b"```"):
            j -= 1
        candidate = self.lines[j].strip() if j >= 0 else b""
        if candidate and not _REPLACE.match(candidate) and not candidate.startswith(b"```"):
            path = _text(candidate.strip(b"`*"))
            self.last_block_path = path
            return path
        if self.last_block_path is not None:
            return self.last_block_path
        raise ParseError(
            "search/replace block without a file path",
            line=start + 1,
            hint="put the file's path on the line before <<<<<<< SEARCH",
        )


def parse_patch(patch: str | bytes) -> ParsedPatch:
    """Parse *patch* into file patches and search/replace blocks.

    Args:
        patch: The patch text; ``str`` is encoded as UTF-8 (lone surrogates kept as bytes).

    Returns:
        The parsed items in patch order, and notes (e.g. recounted hunks).

    Raises:
        ParseError: The text holds no patch, or a header or block is malformed.
    """
    if isinstance(patch, str):
        try:
            data = patch.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            # Only U+DC80..U+DCFF stand for raw bytes; any other lone surrogate is no text.
            raise ParseError(
                f"the patch contains the lone surrogate U+{ord(exc.object[exc.start]):04X} at "
                f"character {exc.start}, which is not valid text",
                hint="send the patch as valid Unicode text",
            ) from None
    else:
        data = patch
    return _Parser(data).run()
