"""The pure engine behind ``apply_patch``: parsed patches in, the files' new contents out.

:func:`apply` never touches the filesystem: it reads through a callback and returns a
:class:`PatchPlan` (every touched file's final bytes and mode) or raises :class:`PatchFailure`.
The tool writes the plan in one transaction, so a failure anywhere changes nothing.

Placement follows ``git apply`` (fuzz 0): a hunk is tried at its stated new-side line in the
partly patched file, then at lines ever further away (after, before, after, …), and the first
exact match wins; hunks starting at line 1 must match at the start and hunks without trailing
context at the end. Only when no exact match exists anywhere are the lenient layers tried, and
they must find exactly one place:

``whitespace``
    lines equal after dropping line endings and trailing whitespace and collapsing runs of
    inner whitespace (catches CRLF/LF mix-ups and trailing-space noise);
``indent``
    lines equal up to one indentation change applied to every line (a patch written at the
    wrong nesting level); added lines are re-indented by the same change.

Lines the lenient layers keep come from the file, and added lines take the file's line ending.
Every offset and every lenient match is reported per hunk. A change that is already there (its
reverse applies) counts as success and is reported as such. Search/replace blocks are hunks
without line numbers: they must match in exactly one place.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from attrs import frozen

from tau_core.errors import ToolError

from ._patch_parse import FilePatch, Hunk, PatchLine, SearchReplace

__all__ = [
    "ClosestRegion",
    "FileChange",
    "HunkPlacement",
    "PatchFailure",
    "PatchPlan",
    "apply",
    "split_lines",
]

Layer = Literal["exact", "whitespace", "indent"]
_CLOSEST_BUDGET = 2_000_000
_SHOW_LINES = 30
_SHOW_WIDTH = 160


def split_lines(data: bytes) -> list[bytes]:
    """Split *data* after each ``\\n``; the last line may lack one. ``\\r`` stays in its line."""
    lines = [piece + b"\n" for piece in data.split(b"\n")]
    last = lines.pop()
    if last != b"\n":
        lines.append(last[:-1])
    return lines


def _norm(line: bytes) -> bytes:
    stripped = line.rstrip()
    body = stripped.lstrip()
    return stripped[: len(stripped) - len(body)] + b" ".join(body.split())


def _content(line: bytes) -> bytes:
    return b" ".join(line.split())


def _indent(line: bytes) -> bytes:
    return line[: len(line) - len(line.lstrip())]


def _show(line: bytes) -> str:
    text = line.rstrip(b"\r\n").decode("utf-8", "replace")
    return text if len(text) <= _SHOW_WIDTH else text[:_SHOW_WIDTH] + "…"


@frozen
class ClosestRegion:
    """Where a hunk that did not apply comes closest to matching the file.

    Attributes:
        start_line: First line of the region (1-based, in the file as patched so far).
        lines: The file's lines there.
        matching: How many of the hunk's old lines equal the file's (ignoring whitespace).
        expected: How many old lines the hunk has.
        first_difference: 1-based file line of the first line that differs, if any.
        expected_line: What the hunk expected at that line.
    """

    start_line: int
    lines: tuple[str, ...]
    matching: int
    expected: int
    first_difference: int | None = None
    expected_line: str | None = None

    def render(self) -> str:
        """A readable excerpt: the region with line numbers and the first difference."""
        end = self.start_line + len(self.lines) - 1
        out = [
            f"closest match: lines {self.start_line}-{end} "
            f"({self.matching} of {self.expected} old lines match, ignoring whitespace)"
        ]
        if self.first_difference is not None:
            index = self.first_difference - self.start_line
            actual = self.lines[index] if index < len(self.lines) else "<end of file>"
            out.append(f"first difference at line {self.first_difference}:")
            out.append(f"  file has:     {actual!r}")
            out.append(f"  patch expects: {self.expected_line!r}")
        out.append("the file there:")
        shown = self.lines[:_SHOW_LINES]
        out.extend(f"{self.start_line + i:6d} | {text}" for i, text in enumerate(shown))
        if len(self.lines) > len(shown):
            out.append(f"       … {len(self.lines) - len(shown)} more lines")
        return "\n".join(out)


class PatchFailure(ToolError):
    """A patch does not apply; nothing was changed.

    Attributes:
        file: The file whose change failed, when one did.
        hunk: The 1-based hunk (or block) number within that file's patch.
        closest: Where the hunk comes closest to matching, when it matches nowhere.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str,
        hint: str = "",
        file: str | None = None,
        hunk: int | None = None,
        closest: ClosestRegion | None = None,
    ) -> None:
        full = message + (f"\n{closest.render()}" if closest is not None else "")
        super().__init__(full, code=code, hint=hint)
        self.file = file
        self.hunk = hunk
        self.closest = closest


@frozen
class HunkPlacement:
    """Where one hunk went.

    Attributes:
        file: The file.
        hunk: 1-based hunk number within the file's patch (or block number for blocks).
        layer: ``exact``, ``whitespace``, ``indent``, or ``already_applied``.
        line: 1-based line of the hunk's first line in the file as patched so far.
        offset: Lines between the stated and the actual position (0 for blocks).
    """

    file: str
    hunk: int
    layer: str
    line: int
    offset: int

    @property
    def noteworthy(self) -> bool:
        """Whether the placement differs from a clean ``git apply`` at the stated line."""
        return self.layer != "exact" or self.offset != 0

    def describe(self) -> str:
        """One line for the tool result, in the spirit of GNU patch's messages."""
        where = f"{self.file}: hunk {self.hunk}"
        if self.layer == "already_applied":
            return f"{where} is already applied (found at line {self.line}); left as is"
        text = f"{where} applied at line {self.line}"
        if self.offset:
            text += f" (offset {self.offset:+d} lines)"
        if self.layer == "whitespace":
            text += ", matched ignoring whitespace and line endings"
        elif self.layer == "indent":
            text += ", matched with different indentation (added lines re-indented)"
        return text


@frozen
class FileChange:
    """The final state of one touched file.

    Attributes:
        path: Workspace-relative path.
        content: The new bytes, or ``None`` when the file is deleted.
        mode: Permission bits to set (e.g. ``0o755``), or ``None`` to keep or inherit them.
        mode_from: For renames and copies: the original path whose permission bits to copy.
    """

    path: str
    content: bytes | None
    mode: int | None = None
    mode_from: str | None = None


@frozen
class PatchPlan:
    """What applying a patch changes, and how each hunk was placed."""

    changes: tuple[FileChange, ...]
    placements: tuple[HunkPlacement, ...]
    notes: tuple[str, ...]

    @property
    def already_applied(self) -> bool:
        """Every hunk was already applied (so nothing changes)."""
        return not self.changes and all(p.layer == "already_applied" for p in self.placements)


def _line(text: bytes, no_newline: bool) -> bytes:
    return text if no_newline else text + b"\n"


def _sides(hunk: Hunk) -> tuple[list[bytes], list[bytes]]:
    pre = [_line(t, nl) for tag, t, nl in hunk.lines if tag != "+"]
    post = [_line(t, nl) for tag, t, nl in hunk.lines if tag != "-"]
    return pre, post


def _anchors(hunk: Hunk) -> tuple[bool, bool]:
    """git's match_beginning and match_end for *hunk* (unnumbered hunks are not anchored)."""
    if not hunk.numbered:
        return False, False
    no_trailing_context = not hunk.lines or hunk.lines[-1][0] != " "
    return hunk.old_start <= 1, no_trailing_context


@frozen
class _Found:
    start: int
    layer: Layer
    delta: tuple[bytes, bool] = (b"", True)  # indentation change: (prefix, added?)


class _Image:
    """A file's lines while its hunks are applied, with lazily normalised views."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self._norm: list[bytes] | None = None
        self._content: list[bytes] | None = None
        crlf = sum(1 for line in lines if line.endswith(b"\r\n"))
        self.eol = b"\r\n" if crlf * 2 > len(lines) else b"\n"

    @property
    def norm(self) -> list[bytes]:
        if self._norm is None:
            self._norm = [_norm(line) for line in self.lines]
        return self._norm

    @property
    def content(self) -> list[bytes]:
        if self._content is None:
            self._content = [_content(line) for line in self.lines]
        return self._content

    def splice(self, start: int, length: int, new: list[bytes]) -> None:
        self.lines[start : start + length] = new
        self._norm = self._content = None

    def candidates(self, view: list[bytes], first: bytes | None, m: int, hunk: Hunk) -> list[int]:
        """Start lines where a preimage of *m* lines may sit, honouring git's anchors."""
        n = len(view)
        if m > n:
            return []
        beginning, end = _anchors(hunk)
        if beginning or end:
            start = 0 if beginning else n - m
            return [start] if not end or start == n - m else []
        if first is None:
            return list(range(n - m + 1))
        return [i for i, line in enumerate(view[: n - m + 1]) if line == first]


def _pos(hunk: Hunk, n: int) -> int:
    """git's starting line: the hunk's new-side start, in the partly patched file."""
    return min(hunk.new_start - 1 if hunk.new_start else 0, n)


def _find_exact(
    image: _Image, pre: list[bytes], pos: int, hunk: Hunk, limit: int | None = None
) -> list[int]:
    """git's choice for a numbered hunk (one start or none), or every match of an unnumbered one.

    *limit* bounds a numbered hunk's offset, so checking a few lines stays cheap.
    """
    lines, m, n = image.lines, len(pre), len(image.lines)
    if hunk.numbered and lines[pos : pos + m] == pre and pos <= n - m:
        beginning, end = _anchors(hunk)
        if (not beginning or pos == 0) and (not end or pos == n - m):
            return [pos]
    if hunk.numbered and limit is not None:
        window = range(max(0, pos - limit), min(n - m, pos + limit) + 1)
        allowed = set(image.candidates(lines, None, m, hunk)) if any(_anchors(hunk)) else None
        found = [p for p in window if (allowed is None or p in allowed) and lines[p : p + m] == pre]
    else:
        first = pre[0] if pre else None
        found = [p for p in image.candidates(lines, first, m, hunk) if lines[p : p + m] == pre]
    if not hunk.numbered or not found:
        return found
    return [min(found, key=lambda p: (abs(p - pos), p < pos))]


def _find_norm(image: _Image, pre: list[bytes], hunk: Hunk) -> list[_Found]:
    npre = [_norm(line) for line in pre]
    view, m = image.norm, len(pre)
    first = npre[0] if npre else None
    return [
        _Found(p, "whitespace")
        for p in image.candidates(view, first, m, hunk)
        if view[p : p + m] == npre
    ]


def _indent_delta(found: Sequence[bytes], wanted: Sequence[bytes]) -> tuple[bytes, bool] | None:
    """The one indentation change (prefix, added?) that turns *wanted* into *found*."""
    delta: tuple[bytes, bool] | None = None
    for have, want in zip(found, wanted, strict=True):
        if not have.strip():
            continue
        hi, wi = _indent(have), _indent(want)
        if hi.endswith(wi):
            this = (hi[: len(hi) - len(wi)], True)
        elif wi.endswith(hi):
            this = (wi[: len(wi) - len(hi)], False)
        else:
            return None
        if not this[0]:
            this = (b"", True)
        if delta is None:
            delta = this
        elif delta != this:
            return None
    return delta if delta is not None else (b"", True)


def _find_indent(image: _Image, pre: list[bytes], hunk: Hunk) -> list[_Found]:
    cpre = [_content(line) for line in pre]
    view, m = image.content, len(pre)
    out = []
    for p in image.candidates(view, cpre[0] if cpre else None, m, hunk):
        if view[p : p + m] == cpre:
            delta = _indent_delta(image.lines[p : p + m], pre)
            if delta is not None:
                out.append(_Found(p, "indent", delta))
    return out


def _rebuild(image: _Image, found: _Found, hunk: Hunk, m: int) -> list[bytes]:
    """The new lines for a lenient match: the file's kept lines, restyled added lines."""
    region = image.lines[found.start : found.start + m]
    prefix, added = found.delta
    out: list[bytes] = []
    k = 0
    for tag, text, no_newline in hunk.lines:
        if tag == " ":
            out.append(region[k])
        if tag != "+":
            k += 1
            continue
        body = text.removesuffix(b"\r")
        if found.layer == "indent" and body.strip():
            if added:
                body = prefix + body
            else:
                body = body[len(prefix) :] if body.startswith(prefix) else body.lstrip(b" \t")
        out.append(body if no_newline else body + image.eol)
    at_eof = found.start + m >= len(image.lines)
    for i, line in enumerate(out):
        if not line.endswith(b"\n") and (i < len(out) - 1 or not at_eof):
            out[i] = line + image.eol
    return out


def _closest(image: _Image, pre: list[bytes], pos: int) -> ClosestRegion | None:
    """The region that shares the most lines (ignoring whitespace) with *pre*."""
    lines, n, m = image.lines, len(image.lines), len(pre)
    if not n or not m:
        return None
    cpre = [_content(line) for line in pre]
    view = image.content
    wanted = {c for c in cpre if c}
    index: dict[bytes, list[int]] = {}
    for i, c in enumerate(view):
        if c in wanted:
            index.setdefault(c, []).append(i)
    scores: dict[int, int] = {}
    budget = _CLOSEST_BUDGET
    for k, c in enumerate(cpre):
        for i in index.get(c, ()) if c else ():
            start = i - k
            if 0 <= start < n and budget > 0:
                scores[start] = scores.get(start, 0) + 1
                budget -= 1
    best = max(scores, key=lambda s: (scores[s], -abs(s - pos))) if scores else min(pos, n - 1)
    region = lines[best : best + m]
    matching = sum(1 for k, line in enumerate(region) if view[best + k] == cpre[k])
    diff = next((k for k in range(m) if k >= len(region) or region[k] != pre[k]), None)
    return ClosestRegion(
        start_line=best + 1,
        lines=tuple(_show(line) for line in region),
        matching=matching,
        expected=m,
        first_difference=best + diff + 1 if diff is not None else None,
        expected_line=_show(pre[diff]) if diff is not None else None,
    )


@frozen
class _Pass:
    lines: list[bytes]
    starts: tuple[int, ...]
    offsets: tuple[int, ...]


def _exact_pass(
    lines: list[bytes], hunks: Sequence[Hunk], limit: int | None = None
) -> _Pass | None:
    """Apply every hunk exactly (git's placement), or None when one does not match."""
    image = _Image(list(lines))
    starts, offsets = [], []
    for hunk in hunks:
        pre, post = _sides(hunk)
        pos = _pos(hunk, len(image.lines))
        found = _find_exact(image, pre, pos, hunk, limit)
        if len(found) != 1:
            return None
        start = found[0]
        offset = start - pos if hunk.numbered else 0
        if limit is not None and abs(offset) > limit:
            return None
        starts.append(start)
        offsets.append(offset)
        image.splice(start, len(pre), post)
    return _Pass(image.lines, tuple(starts), tuple(offsets))


def _reverse_wins(hunks: Sequence[Hunk], fwd: _Pass, rev: _Pass) -> bool:
    """Whether a patch that applies both ways is already applied (see ``apply_patch``'s docs)."""
    for hunk, f, r in zip(hunks, fwd.starts, rev.starts, strict=True):
        if not hunk.numbered:
            pre, post = _sides(hunk)
            if not r <= f <= f + len(pre) <= r + len(post):
                return False
    return sum(map(abs, rev.offsets)) <= sum(map(abs, fwd.offsets))


class _FileApplier:
    """Applies one file's hunks (or one block) to its bytes, recording placements."""

    def __init__(self, label: str, placements: list[HunkPlacement]) -> None:
        self.label = label
        self.placements = placements

    def record(self, number: int, layer: str, start: int, offset: int) -> None:
        self.placements.append(HunkPlacement(self.label, number, layer, start + 1, offset))

    def apply(
        self, data: bytes, hunks: Sequence[Hunk], *, allow_already: bool = True
    ) -> bytes | None:
        """The patched bytes, or None when every hunk is already applied."""
        lines = split_lines(data)
        reverse = [h.reversed() for h in hunks]
        fwd = _exact_pass(lines, hunks)
        rev = None
        if allow_already:
            limit = None if fwd is None else max(map(abs, fwd.offsets), default=0)
            rev = _exact_pass(lines, reverse, limit)
        if fwd is not None and not (rev is not None and _reverse_wins(hunks, fwd, rev)):
            for i, (start, offset) in enumerate(zip(fwd.starts, fwd.offsets, strict=True)):
                self.record(i + 1, "exact", start, offset)
            return b"".join(fwd.lines)
        if rev is not None:
            for i, start in enumerate(rev.starts):
                self.record(i + 1, "already_applied", start, 0)
            return None
        return self.layered(lines, hunks, allow_already=allow_already)

    def layered(
        self, lines: list[bytes], hunks: Sequence[Hunk], *, allow_already: bool
    ) -> bytes | None:
        image = _Image(list(lines))
        changed = False
        for number, hunk in enumerate(hunks, 1):
            pre, post = _sides(hunk)
            pos = _pos(hunk, len(image.lines))
            exact = _find_exact(image, pre, pos, hunk)
            if len(exact) == 1:
                image.splice(exact[0], len(pre), post)
                self.record(number, "exact", exact[0], exact[0] - pos if hunk.numbered else 0)
                changed = True
                continue
            ambiguous = [_Found(p, "exact") for p in exact]
            if not ambiguous:
                for finder in (_find_norm, _find_indent):
                    found = finder(image, pre, hunk)
                    if len(found) == 1:
                        break
                    ambiguous = found
                    if found:
                        break
                if len(found) == 1:
                    start = found[0].start
                    image.splice(start, len(pre), _rebuild(image, found[0], hunk, len(pre)))
                    self.record(number, found[0].layer, start, start - pos if hunk.numbered else 0)
                    changed = True
                    continue
            if allow_already and self.already(image, hunk, number):
                continue
            if ambiguous:
                where = ", ".join(str(f.start + 1) for f in ambiguous[:10])
                raise PatchFailure(
                    f"{self.label}: hunk {number} matches {len(ambiguous)} places "
                    f"(lines {where}) with layer {ambiguous[0].layer!r}; it is not applied "
                    "anywhere because the place is ambiguous",
                    code="ambiguous_match",
                    hint="add more unchanged context lines so the change matches one place",
                    file=self.label,
                    hunk=number,
                )
            closest = _closest(image, pre, pos)
            message = (
                f"{self.label}: hunk {number} ({hunk.header if hunk.numbered else 'block'}) "
                "does not match the file"
            )
            hint = (
                "fix the hunk's unchanged and removed lines to match the file's lines shown "
                "here exactly, and send the whole patch again"
            )
            if closest is not None and closest.first_difference is None:
                message += (
                    "; its lines are there, but (as in git apply) a hunk starting at line 1 "
                    "must start at the beginning of the file and a hunk without unchanged "
                    "lines after its change must end at the end of the file"
                )
                hint = (
                    "add the unchanged lines around the change as context, or fix its line numbers"
                )
            raise PatchFailure(
                message,
                code="hunk_failed",
                hint=hint,
                file=self.label,
                hunk=number,
                closest=closest,
            )
        return b"".join(image.lines) if changed else None

    def already(self, image: _Image, hunk: Hunk, number: int) -> bool:
        back = hunk.reversed()
        pre = _sides(back)[0]
        found = _find_exact(image, pre, _pos(back, len(image.lines)), back)
        for finder in (_find_norm, _find_indent):
            if found:
                break
            found = [f.start for f in finder(image, pre, back)]
        if len(found) != 1 or not pre:
            return False
        self.record(number, "already_applied", found[0], 0)
        return True


def _git_mode(mode: int | None, label: str) -> int | None:
    """Permission bits for a git file mode; symlinks and submodules are refused."""
    if mode is None:
        return None
    if mode >> 12 != 0o10:
        raise PatchFailure(
            f"{label}: mode {mode:06o} is not a regular file (symlinks and submodules are "
            "not applied)",
            code="unsupported_mode",
            hint="use mode 100644 or 100755",
            file=label,
        )
    # As git: a file is executable or not. Other bits in a patch (setuid, group/world write,
    # 0o000) are not applied.
    return 0o755 if mode & 0o100 else 0o644


class _State:
    """The files as the patch sees them so far, on top of what ``read`` returns."""

    def __init__(self, read: Callable[[str], bytes | None]) -> None:
        self.read = read
        self.original: dict[str, bytes | None] = {}
        self.current: dict[str, bytes | None] = {}
        self.modes: dict[str, int] = {}
        self.mode_from: dict[str, str] = {}

    def get(self, path: str) -> bytes | None:
        if path not in self.original:
            self.original[path] = self.read(path)
        return self.current[path] if path in self.current else self.original[path]

    def set(self, path: str, content: bytes | None) -> None:
        self.get(path)
        self.current[path] = content

    def plan(self, placements: list[HunkPlacement], notes: list[str]) -> PatchPlan:
        changes = []
        for path in self.original:
            new = self.current.get(path, self.original[path])
            mode = self.modes.get(path) if new is not None else None
            if new == self.original[path] and mode is None:
                continue
            mode_from = self.mode_from.get(path) if new is not None else None
            changes.append(FileChange(path, new, mode, mode_from))
        return PatchPlan(tuple(changes), tuple(placements), tuple(notes))


def _block_hunk(block: SearchReplace) -> Hunk:
    """A search/replace block as an unnumbered hunk (a line diff of search against replace)."""
    old, new = split_lines(block.search), split_lines(block.replace)

    def entry(tag: str, line: bytes) -> PatchLine:
        return (tag, line[:-1], False) if line.endswith(b"\n") else (tag, line, True)

    lines: list[PatchLine] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            lines.extend(entry(" ", line) for line in old[i1:i2])
            continue
        lines.extend(entry("-", line) for line in old[i1:i2])
        lines.extend(entry("+", line) for line in new[j1:j2])
    return Hunk(0, len(old), 0, len(new), tuple(lines), numbered=False)


def _not_found(label: str, what: str) -> PatchFailure:
    return PatchFailure(
        f"{label}: {what} does not exist",
        code="file_not_found",
        hint="check the path (relative to the working directory); to create a file, use "
        "`--- /dev/null` or a search/replace block with an empty SEARCH part",
        file=label,
    )


def _exists(label: str) -> PatchFailure:
    return PatchFailure(
        f"{label}: the patch creates this file but it already exists with other content",
        code="file_exists",
        hint="patch the existing file instead (a diff against its current content)",
        file=label,
    )


class _Engine:
    def __init__(self, read: Callable[[str], bytes | None]) -> None:
        self.state = _State(read)
        self.placements: list[HunkPlacement] = []
        self.notes: list[str] = []

    def block(self, block: SearchReplace, number: int) -> None:
        label = block.path
        current = self.state.get(label)
        if not block.search.strip():
            if current is None or not current.strip():
                self.state.set(label, block.replace)
            elif current != block.replace:
                raise PatchFailure(
                    f"{label}: block {number} has an empty SEARCH part, which only creates "
                    "new (or empty) files, but this file has content",
                    code="search_empty",
                    hint="put the lines to replace in the SEARCH part",
                    file=label,
                    hunk=number,
                )
            else:
                self.notes.append(f"{label}: block {number} is already applied")
            return
        if current is None:
            raise _not_found(label, "the file")
        applier = _FileApplier(label, self.placements)
        new = applier.apply(current, [_block_hunk(block)])
        if new is not None:
            self.state.set(label, new)

    def file(self, patch: FilePatch) -> None:
        label = patch.path
        if patch.is_binary:
            raise PatchFailure(
                f"{label}: binary patches are not applied",
                code="binary_patch",
                hint="write the file with the write tool instead",
                file=label,
            )
        mode = _git_mode(patch.new_mode, label)
        _git_mode(patch.old_mode, label)
        applier = _FileApplier(label, self.placements)
        if patch.op == "create":
            self.create(patch, applier, mode)
        elif patch.op == "delete":
            self.delete(patch, applier)
        elif patch.op in ("rename", "copy") and patch.old_path != patch.new_path:
            self.move(patch, applier, mode)
        else:
            current = self.state.get(label)
            if current is None:
                raise _not_found(label, "the file")
            new = applier.apply(current, patch.hunks) if patch.hunks else None
            if new is not None:
                self.state.set(label, new)
            if mode is not None and patch.old_mode != patch.new_mode:
                self.state.set(label, self.state.get(label))
                self.state.modes[label] = mode

    def create(self, patch: FilePatch, applier: _FileApplier, mode: int | None) -> None:
        label = patch.path
        content = _FileApplier(label, []).apply(b"", patch.hunks, allow_already=False) or b""
        current = self.state.get(label)
        if current is None:
            self.state.set(label, content)
            for number in range(1, len(patch.hunks) + 1):
                applier.record(number, "exact", 0, 0)
            if mode is not None:
                self.state.modes[label] = mode
        elif current == content:
            self.notes.append(f"{label}: already exists with the patch's content")
        else:
            raise _exists(label)

    def delete(self, patch: FilePatch, applier: _FileApplier) -> None:
        label = patch.path
        current = self.state.get(label)
        if current is None:
            self.notes.append(f"{label}: already deleted")
            return
        rest = applier.apply(current, patch.hunks, allow_already=False) if patch.hunks else current
        if rest:
            raise PatchFailure(
                f"{label}: the patch deletes this file, but the file has content the patch "
                "does not remove",
                code="delete_mismatch",
                hint="make the deletion hunk remove every line of the file as it is now",
                file=label,
            )
        self.state.set(label, None)

    def move(self, patch: FilePatch, applier: _FileApplier, mode: int | None) -> None:
        old, new = patch.old_path, patch.new_path
        assert old is not None  # noqa: S101 - the parser names both sides of a move
        assert new is not None  # noqa: S101 - same
        source, target = self.state.get(old), self.state.get(new)
        content = None
        if source is not None:
            content = (
                applier.apply(source, patch.hunks, allow_already=False) if patch.hunks else source
            )
        if source is not None and target is None:
            assert content is not None  # noqa: S101 - allow_already=False never returns None
            self.state.set(new, content)
            if patch.op == "rename":
                self.state.set(old, None)
            if self.state.original.get(old) is not None:
                self.state.mode_from[new] = old
            if mode is not None:
                self.state.modes[new] = mode
        elif target is not None and (content == target or self.reversed_ok(target, patch)):
            self.notes.append(f"{new}: already {'renamed' if patch.op == 'rename' else 'copied'}")
            if patch.op == "rename" and source is not None and content == target:
                self.state.set(old, None)
        elif target is not None:
            raise _exists(new)
        else:
            raise _not_found(new, f"the {patch.op} source {old}")

    def reversed_ok(self, data: bytes, patch: FilePatch) -> bool:
        if not patch.hunks:
            return True
        return _exact_pass(split_lines(data), [h.reversed() for h in patch.hunks]) is not None


def apply(
    items: Iterable[FilePatch | SearchReplace], read: Callable[[str], bytes | None]
) -> PatchPlan:
    """Apply *items* in order to the files *read* returns, in memory.

    Args:
        items: Parsed file patches and search/replace blocks (see :func:`parse_patch`).
        read: Returns a file's bytes by workspace-relative path, or ``None`` when it is absent.

    Returns:
        The final state of every file that changes, and where each hunk went.

    Raises:
        PatchFailure: A hunk or block does not apply, a created file exists, a deleted or
            patched file is missing, or the patch is binary or for a symlink.
    """
    engine = _Engine(read)
    blocks = 0
    for item in items:
        if isinstance(item, SearchReplace):
            blocks += 1
            engine.block(item, blocks)
        else:
            engine.file(item)
    return engine.state.plan(engine.placements, engine.notes)
