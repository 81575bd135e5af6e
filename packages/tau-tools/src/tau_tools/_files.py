"""The file tools: ``read``, ``write``, ``edit``, ``write_many`` and ``edit_many``.

Every path goes through :func:`tau_tools._paths.resolve` twice: in ``capabilities`` (so
tau-core checks the grants on the real target) and again in ``run`` (defence in depth). Every
change goes through a :class:`~tau_tools._transaction.FileTransaction`, so it is atomic, keeps
the file's mode, and for the ``*_many`` tools lands all together or not at all.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from tau_core import Capability, ToolCallContext, ToolResult, ToolSpec
from tau_core.errors import ToolError

from ._paths import capability_for, relative, resolve
from ._transaction import FileTransaction

__all__ = ["EditManyTool", "EditTool", "ReadTool", "WriteManyTool", "WriteTool"]

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Files larger than this are read only in windows (``offset``/``limit``)."""
DEFAULT_LIMIT = 2000
MAX_LINE_CHARS = 2000
MAX_OUTPUT_CHARS = 256 * 1024
MAX_ITEMS = 200
SNIFF_BYTES = 8192
_NUMBER_WIDTH = 6


def str_arg(arguments: Mapping[str, Any], name: str, where: str = "") -> str:
    """The string argument *name*; a ToolError names it when it is missing or not a string."""
    value = arguments.get(name)
    if not isinstance(value, str):
        got = "nothing" if value is None else type(value).__name__
        raise ToolError(
            f"{where}the argument {name!r} must be a string, got {got}",
            code="bad_arguments",
            hint=f"pass {name!r} as a JSON string",
        )
    return value


def int_arg(arguments: Mapping[str, Any], name: str, default: int, minimum: int = 1) -> int:
    """The integer argument *name* (at least *minimum*), or *default* when absent."""
    value = arguments.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ToolError(
            f"the argument {name!r} must be an integer of at least {minimum}, got {value!r}",
            code="bad_arguments",
            hint=f"pass {name!r} as a whole number ≥ {minimum}",
        )
    return value


def items_arg(arguments: Mapping[str, Any], name: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The list argument *name*, each item an object with only *keys*."""
    value = arguments.get(name)
    if not isinstance(value, list) or not value:
        raise ToolError(
            f"the argument {name!r} must be a non-empty list",
            code="bad_arguments",
            hint=f"pass {name!r} as a list of objects with {', '.join(keys)}",
        )
    if len(value) > MAX_ITEMS:
        raise ToolError(
            f"{name!r} has {len(value)} items; at most {MAX_ITEMS} fit in one call",
            code="too_many_items",
            hint="split the change over several calls",
        )
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ToolError(
                f"{name}[{i}] must be an object, got {type(item).__name__}",
                code="bad_arguments",
                hint=f"each item is an object with {', '.join(keys)}",
            )
        extra = sorted(set(item) - set(keys))
        if extra:
            raise ToolError(
                f"{name}[{i}] has unknown key(s) {', '.join(extra)}",
                code="bad_arguments",
                hint=f"each item takes only {', '.join(keys)}",
            )
    return value


def number_lines(lines: Sequence[str], first: int) -> str:
    """Lines as ``cat -n`` prints them, numbered from *first*."""
    return "\n".join(f"{first + i:>{_NUMBER_WIDTH}}\t{line}" for i, line in enumerate(lines))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _open_beneath(path: Path, flags: int) -> int:
    """Open the real absolute *path* one component at a time, following no symlink: a
    directory swapped for a symlink after :func:`resolve` fails instead of leading outside."""
    cloexec = getattr(os, "O_CLOEXEC", 0)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | nofollow | cloexec
    if not path.name:  # the file system root itself
        return os.open(path, flags | cloexec)
    fd = os.open(path.anchor, directory)
    try:
        for part in path.parts[1:-1]:
            inner = os.open(part, directory, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(path.name, flags | nofollow | cloexec, dir_fd=fd)
    finally:
        os.close(fd)


def _open_regular(path: Path, rel: str) -> int:
    """Open *path* for reading without following a swapped-in symlink or blocking on a FIFO."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = _open_beneath(path, flags)
    except FileNotFoundError:
        raise _not_found(path, rel) from None
    except IsADirectoryError:
        raise _is_directory(rel) from None
    except OSError as exc:
        raise ToolError(
            f"cannot open {rel}: {exc.strerror}", code="read_failed", hint="check the path"
        ) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise _is_directory(rel)
        raise ToolError(
            f"{rel} is not a regular file (a device, FIFO or socket)",
            code="not_a_file",
            hint="the read tool reads regular files only",
        )
    return fd


def _is_directory(rel: str) -> ToolError:
    return ToolError(
        f"{rel} is a directory, not a file",
        code="is_directory",
        hint=f"list it with ls (path={rel!r}) or find files with glob",
    )


def _not_found(path: Path, rel: str) -> ToolError:
    hint = "check the path with ls or glob"
    try:
        names = os.listdir(path.parent)
    except OSError:
        names = []
    close = difflib.get_close_matches(path.name, names, n=3, cutoff=0.6)
    if close:
        parent = os.path.dirname(rel)
        hint = "did you mean " + " or ".join(repr(os.path.join(parent, c)) for c in close) + "?"
    return ToolError(f"{rel} does not exist", code="not_found", hint=hint)


def _decode_line(raw: bytes) -> tuple[str, bool]:
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def read_window(path: Path, rel: str, offset: int, limit: int, windowed: bool) -> ToolResult:
    """Read lines ``offset .. offset+limit-1`` of *path* as numbered text (call id left blank)."""
    fd = _open_regular(path, rel)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if b"\0" in fh.read(SNIFF_BYTES):
            raise ToolError(
                f"{rel} is a binary file ({size} bytes); the read tool shows text only",
                code="binary_file",
                hint="inspect it with a program made for that format, if one is granted",
            )
        big = size > MAX_FILE_BYTES
        if big and not windowed:
            raise ToolError(
                f"{rel} is {size / 1048576:.1f} MiB, over the read tool's "
                f"{MAX_FILE_BYTES // 1048576} MiB limit",
                code="too_large",
                hint="read it in parts with offset and limit (e.g. offset=1, limit=500), or "
                "find the lines you need with grep first",
            )
        fh.seek(0)
        shown: list[str] = []
        bad_lines: list[int] = []
        cut_lines: list[int] = []
        crlf = False
        chars = 0
        total = 0
        last = offset - 1
        stopped_for_size = False
        for total, raw in enumerate(fh, 1):
            if total < offset:
                continue
            if total >= offset + limit or stopped_for_size:
                if big:
                    break
                continue
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if line.endswith(b"\r"):
                line, crlf = line[:-1], True
            text, bad = _decode_line(line)
            if bad:
                bad_lines.append(total)
            if len(text) > MAX_LINE_CHARS:
                cut_lines.append(total)
                text = f"{text[:MAX_LINE_CHARS]} … [line cut: {len(text)} characters]"
            if chars + len(text) > MAX_OUTPUT_CHARS and shown:
                stopped_for_size = True
                if big:
                    break
                continue
            shown.append(text)
            chars += len(text) + _NUMBER_WIDTH + 2
            last = total
        remaining_bytes = size - fh.tell() if big else 0
    if total == 0:
        return ToolResult("", "read", f"[{rel} is empty]", metadata={"path": rel, "lines": 0})
    if not shown:
        raise ToolError(
            f"offset {offset} is past the end of {rel}, which has {_plural(total, 'line')}",
            code="offset_out_of_range",
            hint=f"use an offset from 1 to {total}",
        )
    notes = []
    if big and (remaining_bytes > 0 or last < total):
        more = f"{remaining_bytes / 1048576:.1f} MiB" if remaining_bytes else "more lines"
        notes.append(
            f"[lines {offset}-{last} of a large file; it continues ({more}): "
            f"read again with offset={last + 1}]"
        )
    elif last < total:
        why = "; the output limit was reached" if stopped_for_size else ""
        notes.append(
            f"[lines {offset}-{last} of {total}{why}; {_plural(total - last, 'more line')}: "
            f"read again with offset={last + 1}]"
        )
    else:
        notes.append(f"[lines {offset}-{last} of {total}]")
    if cut_lines:
        notes.append(f"[{_plural(len(cut_lines), 'line')} cut at {MAX_LINE_CHARS} characters]")
    if bad_lines:
        where = ", ".join(map(str, bad_lines[:10])) + (" …" if len(bad_lines) > 10 else "")
        notes.append(f"[not valid UTF-8: undecodable bytes are shown as U+FFFD on line(s) {where}]")
    metadata: dict[str, Any] = {
        "path": rel,
        "first_line": offset,
        "last_line": last,
        "size": size,
        "encoding": "utf-8 (undecodable bytes replaced)" if bad_lines else "utf-8",
        "encoding_errors": len(bad_lines),
        "line_endings": "crlf" if crlf else "lf",
        "cut_lines": len(cut_lines),
    }
    if not big:
        metadata["lines"] = total
    return ToolResult(
        "", "read", number_lines(shown, offset) + "\n" + "\n".join(notes), metadata=metadata
    )


def _spec(
    name: str,
    description: str,
    properties: dict[str, Any],
    required: list[str],
    *,
    side_effect: Literal["read", "write"],
    idempotent: bool,
) -> ToolSpec:
    return ToolSpec(
        name,
        description,
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
        side_effect=side_effect,
        capabilities=(side_effect,),
        idempotent=idempotent,
    )


_PATH = {"type": "string", "description": "File path relative to the workspace root."}


class ReadTool:
    """``read``: a text file with ``cat -n`` line numbers, from line ``offset`` for ``limit``
    lines."""

    def __init__(self) -> None:
        self.spec = _spec(
            "read",
            "Read a text file. Lines are numbered like `cat -n` (number, tab, text); the "
            "numbers are not part of the file. Shows up to `limit` lines (default 2000) from "
            "line `offset` (1-based); the last line of the output says how many lines remain.",
            {
                "path": _PATH,
                "offset": {"type": "integer", "minimum": 1, "description": "First line (1-based)."},
                "limit": {"type": "integer", "minimum": 1, "description": "Lines to show."},
            },
            ["path"],
            side_effect="read",
            idempotent=True,
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [capability_for(workdir, str_arg(arguments, "path"), "read")]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        path = resolve(context.workdir, str_arg(arguments, "path"), purpose="read")
        offset = int_arg(arguments, "offset", 1)
        limit = int_arg(arguments, "limit", DEFAULT_LIMIT)
        windowed = "offset" in arguments or "limit" in arguments
        rel = relative(context.workdir, path)
        result = await asyncio.to_thread(read_window, path, rel, offset, limit, windowed)
        return ToolResult(context.call.id, self.spec.name, result.content, metadata=result.metadata)


def encode_content(text: str, where: str = "") -> bytes:
    """UTF-8 bytes of *text*; lone surrogates (invalid in UTF-8) become a ToolError."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ToolError(
            f"{where}the content has a character UTF-8 cannot hold at index {exc.start}",
            code="bad_content",
            hint="remove lone surrogate characters from the content",
        ) from None


def _describe_write(rel: str, data: bytes, existed: bool) -> str:
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    verb = "replaced" if existed else "created"
    return f"{verb} {rel} ({_plural(len(data), 'byte')}, {_plural(lines, 'line')})"


class WriteTool:
    """``write``: replace or create one file atomically, keeping its mode."""

    def __init__(self) -> None:
        self.spec = _spec(
            "write",
            "Write a file, replacing all of its content (or creating it and its parent "
            "directories). Atomic: readers see the old file or the new one, never a mix. An "
            "existing file keeps its permissions. For small changes prefer `edit`.",
            {"path": _PATH, "content": {"type": "string", "description": "The whole new text."}},
            ["path", "content"],
            side_effect="write",
            idempotent=True,
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [capability_for(workdir, str_arg(arguments, "path"), "write")]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        path = resolve(context.workdir, str_arg(arguments, "path"), purpose="write")
        data = encode_content(str_arg(arguments, "content"))
        rel = relative(context.workdir, path)
        txn = FileTransaction(context.workdir)
        old = txn.read(path)
        if old == data:
            text = f"{rel} already holds this content; nothing changed"
            return ToolResult(context.call.id, self.spec.name, text, metadata={"path": rel})
        txn.write(path, data)
        txn.commit()
        meta = {"path": rel, "bytes": len(data), "created": old is None}
        return ToolResult(
            context.call.id,
            self.spec.name,
            _describe_write(rel, data, old is not None),
            metadata=meta,
        )


class WriteManyTool:
    """``write_many``: write several files, all or nothing."""

    def __init__(self) -> None:
        self.spec = _spec(
            "write_many",
            "Write several files in one call, all or nothing: if any file cannot be written, "
            "no file changes. Each item replaces (or creates) one file.",
            {
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": _PATH, "content": {"type": "string"}},
                        "required": ["path", "content"],
                        "additionalProperties": False,
                    },
                }
            },
            ["files"],
            side_effect="write",
            idempotent=True,
        )

    def _items(self, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
        items = items_arg(arguments, "files", ("path", "content"))
        out = []
        for i, item in enumerate(items):
            out.append(
                (str_arg(item, "path", f"files[{i}]: "), str_arg(item, "content", f"files[{i}]: "))
            )
        return out

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [
            _prefixed(f"files[{i}] ({p}): ", capability_for, workdir, p, "write")
            for i, (p, _) in enumerate(self._items(arguments))
        ]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        txn = FileTransaction(context.workdir)
        seen: dict[Path, int] = {}
        lines = []
        for i, (name, content) in enumerate(self._items(arguments)):
            where = f"files[{i}] ({name}): "
            path = _prefixed(where, resolve, context.workdir, name, purpose="write")
            if path in seen:
                raise ToolError(
                    f"{where}the same file as files[{seen[path]}]",
                    code="duplicate_path",
                    hint="give each file once, with its final content",
                )
            seen[path] = i
            data = encode_content(content, where)
            old = _prefixed(where, txn.read, path)
            _prefixed(where, txn.write, path, data)
            rel = relative(context.workdir, path)
            lines.append(
                f"{rel} unchanged" if old == data else _describe_write(rel, data, old is not None)
            )
        txn.commit()
        text = f"wrote {_plural(len(lines), 'file')}:\n" + "\n".join(f"- {x}" for x in lines)
        return ToolResult(context.call.id, self.spec.name, text, metadata={"files": len(lines)})


def _prefixed(where: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call *fn*; a ToolError it raises gets *where* in front of its message."""
    try:
        return fn(*args, **kwargs)
    except ToolError as exc:
        raise ToolError(f"{where}{exc}", code=exc.code, hint=exc.hint) from None


# -- edit ---------------------------------------------------------------------------------------

_MAX_LISTED = 20
_MAX_WINDOWS = 20_000


def _decode_for_edit(data: bytes, rel: str) -> str:
    if b"\0" in data[:SNIFF_BYTES]:
        raise ToolError(
            f"{rel} is a binary file; edit changes text only",
            code="binary_file",
            hint="replace it whole with write if you must",
        )
    # surrogateescape keeps undecodable bytes exactly as they were when the text is written back.
    return data.decode("utf-8", errors="surrogateescape")


def _occurrences(text: str, old: str) -> list[int]:
    found, start = [], text.find(old)
    while start != -1:
        found.append(start)
        start = text.find(old, start + len(old))
    return found


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _closest(text: str, old: str, k: int = 3) -> list[tuple[int, float, list[str]]]:
    """The *k* windows of the file most like *old*: (first line, similarity, lines)."""
    lines = text.split("\n")
    size = max(1, len(old.strip("\n").split("\n")))
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(old.strip("\n"))
    starts = range(max(1, len(lines) - size + 1))[:_MAX_WINDOWS]
    quick = []
    for start in starts:
        matcher.set_seq1("\n".join(lines[start : start + size]))
        quick.append((matcher.quick_ratio(), start))
    quick.sort(key=lambda q: (-q[0], q[1]))
    scored = []
    for _, start in quick[: 8 * k]:
        window = lines[start : start + size]
        matcher.set_seq1("\n".join(window))
        scored.append((matcher.ratio(), start, window))
    scored.sort(key=lambda s: (-s[0], s[1]))
    best: list[tuple[int, float, list[str]]] = []
    for ratio, start, window in scored:
        if all(abs(start - b[0] + 1) >= size for b in best) and ratio > 0:
            best.append((start + 1, ratio, window))
        if len(best) == k:
            break
    return best


def _no_match(text: str, old: str, rel: str) -> ToolError:
    closest = _closest(text, old)
    parts = [f"the old text was not found in {rel}"]
    hint = (
        "copy the exact text from a fresh read (without the line-number prefix), "
        "whitespace included"
    )
    if closest:
        parts.append("closest regions:")
        for first, ratio, window in closest:
            shown = [line[:MAX_LINE_CHARS] for line in window[:12]]
            parts.append(f"lines {first}-{first + len(window) - 1} ({ratio:.0%} similar):")
            parts.append(number_lines(shown, first))
            if _squash("\n".join(window)) == _squash(old):
                hint = (
                    f"lines {first}-{first + len(window) - 1} differ from the old text only in "
                    "whitespace or indentation; copy them exactly"
                )
    return ToolError("\n".join(parts), code="no_match", hint=hint)


def apply_edit(text: str, old: str, new: str, replace_all: bool, rel: str) -> tuple[str, list[int]]:
    """Replace *old* by *new* in *text*: exactly once, or every time with *replace_all*.

    Returns the new text and the line numbers (in *text*) of the replaced occurrences.

    Raises:
        ToolError: ``no_match`` with the closest regions, ``ambiguous_match`` listing each
            match's line, or ``bad_arguments`` for an empty or unchanged *old*.
    """
    if not old:
        raise ToolError(
            "the old text is empty",
            code="bad_arguments",
            hint="give the exact text to replace; to create or replace a whole file use write",
        )
    if old == new:
        raise ToolError(
            "old and new are the same text; the edit would change nothing",
            code="no_change",
            hint="give the text the file should hold in new",
        )
    found = _occurrences(text, old)
    if not found and "\r\n" in text and "\n" in old and "\r" not in old + new:
        # The model saw the file without carriage returns: match its CRLF line endings.
        old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")
        found = _occurrences(text, old)
    if not found:
        raise _no_match(text, old, rel)
    lines = [_line_of(text, i) for i in found]
    if len(found) > 1 and not replace_all:
        listed = text.split("\n")
        rows = [
            f"{n:>{_NUMBER_WIDTH}}\t{listed[n - 1].rstrip(chr(13))[:200]}"
            for n in lines[:_MAX_LISTED]
        ]
        more = f"\n… and {len(found) - _MAX_LISTED} more" if len(found) > _MAX_LISTED else ""
        raise ToolError(
            f"the old text occurs {len(found)} times in {rel}, at lines "
            f"{', '.join(map(str, lines[:_MAX_LISTED]))}:\n" + "\n".join(rows) + more,
            code="ambiguous_match",
            hint="add surrounding lines to old so it matches exactly once, or pass all=true "
            "to replace every occurrence",
        )
    return text.replace(old, new), lines


def _excerpt(text: str, first_line: int, new: str) -> str:
    lines = text.split("\n")
    span = new.count("\n") + 1
    start = max(1, first_line - 2)
    end = min(len(lines), first_line + span + 1, start + 40)
    return number_lines([line[:MAX_LINE_CHARS] for line in lines[start - 1 : end]], start)


_EDIT_ITEM = {
    "path": _PATH,
    "old": {"type": "string", "description": "Exact text to find (whitespace included)."},
    "new": {"type": "string", "description": "Text to put in its place."},
    "all": {"type": "boolean", "description": "Replace every occurrence (default: exactly one)."},
}


def _edit_item(item: Mapping[str, Any], where: str = "") -> tuple[str, str, str, bool]:
    replace_all = item.get("all", False)
    if not isinstance(replace_all, bool):
        raise ToolError(
            f"{where}the argument 'all' must be true or false, got {replace_all!r}",
            code="bad_arguments",
            hint="pass all as a JSON boolean",
        )
    return (
        str_arg(item, "path", where),
        str_arg(item, "old", where),
        str_arg(item, "new", where),
        replace_all,
    )


def _edit_in(
    txn: FileTransaction, path: Path, rel: str, edit: tuple[str, str, bool]
) -> tuple[str, list[int]]:
    old, new, replace_all = edit
    data = txn.read(path)
    if data is None:
        raise ToolError(
            f"{rel} does not exist",
            code="not_found",
            hint="create it with write, or check the path with ls or glob",
        )
    text, lines = apply_edit(_decode_for_edit(data, rel), old, new, replace_all, rel)
    txn.write(path, text.encode("utf-8", errors="surrogateescape"))
    return text, lines


class EditTool:
    """``edit``: replace an exact piece of text in one file."""

    def __init__(self) -> None:
        self.spec = _spec(
            "edit",
            "Replace exact text in a file. `old` must match exactly once (whitespace "
            "included; copy it from `read` without the line-number prefix) unless `all` is "
            "true. No match returns the closest regions with line numbers; several matches "
            "list their lines.",
            dict(_EDIT_ITEM),
            ["path", "old", "new"],
            side_effect="write",
            idempotent=False,
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [capability_for(workdir, str_arg(arguments, "path"), "write")]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        name, old, new, replace_all = _edit_item(arguments)
        path = resolve(context.workdir, name, purpose="write")
        rel = relative(context.workdir, path)
        txn = FileTransaction(context.workdir)
        text, lines = _edit_in(txn, path, rel, (old, new, replace_all))
        txn.commit()
        where = ", ".join(map(str, lines))
        content = (
            f"edited {rel}: replaced {_plural(len(lines), 'occurrence')} "
            f"(line{'s' if len(lines) > 1 else ''} {where}). Now:\n" + _excerpt(text, lines[0], new)
        )
        meta = {"path": rel, "replacements": len(lines), "lines": lines}
        return ToolResult(context.call.id, self.spec.name, content, metadata=meta)


class EditManyTool:
    """``edit_many``: several edits over one or more files, applied in order, all or nothing."""

    def __init__(self) -> None:
        self.spec = _spec(
            "edit_many",
            "Apply several exact find/replace edits in one call, in order, all or nothing: if "
            "any edit fails, no file changes. Edits of the same file compose (the second sees "
            "the result of the first). Each edit works like the `edit` tool.",
            {
                "edits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": dict(_EDIT_ITEM),
                        "required": ["path", "old", "new"],
                        "additionalProperties": False,
                    },
                }
            },
            ["edits"],
            side_effect="write",
            idempotent=False,
        )

    def _items(self, arguments: Mapping[str, Any]) -> list[tuple[str, str, str, bool]]:
        items = items_arg(arguments, "edits", ("path", "old", "new", "all"))
        return [_edit_item(item, f"edits[{i}]: ") for i, item in enumerate(items)]

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        caps = [
            _prefixed(f"edits[{i}] ({p}): ", capability_for, workdir, p, "write")
            for i, (p, _, _, _) in enumerate(self._items(arguments))
        ]
        return list(dict.fromkeys(caps))

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        txn = FileTransaction(context.workdir)
        report: list[str] = []
        files: list[str] = []
        for i, (name, old, new, replace_all) in enumerate(self._items(arguments)):
            where = f"edits[{i}] ({name}): "
            path = _prefixed(where, resolve, context.workdir, name, purpose="write")
            rel = relative(context.workdir, path)
            _, lines = _prefixed(where, _edit_in, txn, path, rel, (old, new, replace_all))
            s = "s" if len(lines) > 1 else ""
            report.append(f"- edits[{i}] {rel}: line{s} {', '.join(map(str, lines))}")
            files.extend([rel] if rel not in files else [])
        txn.commit()
        text = (
            f"applied {_plural(len(report), 'edit')} to {_plural(len(files), 'file')} "
            f"({', '.join(files)}):\n" + "\n".join(report)
        )
        return ToolResult(
            context.call.id, self.spec.name, text, metadata={"edits": len(report), "files": files}
        )
