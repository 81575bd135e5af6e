"""The search tools: ``ls``, ``glob`` and ``grep``, all respecting ``.gitignore``.

Walks never enter ``.git``, never follow a symlink, and leave out what the workspace's
``.gitignore`` files (nested ones included, the deepest deciding, ``!`` negations honoured) and
``.git/info/exclude`` ignore; an ignored directory is not entered at all, as git does. Hidden
files are listed. Output is sorted, capped, and always says how much was left out.

Patterns, for ``glob`` and grep's ``glob`` filter: ``*`` and ``?`` stay within one path
component, ``**`` spans any number of them, ``[abc]`` and ``{py,md}`` choose; a pattern without a
``/`` matches a name at any depth (``*.py`` is ``**/*.py``). Paths are matched relative to the
directory being searched.

grep uses Python's :mod:`re` on one line at a time. There is no regex timeout; instead the work
is bounded: files over 2 MiB and binary files (a NUL byte in the first 8 KiB) are skipped, and
a search stops after 10,000 files or 256 MiB.
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from attrs import define, field

from tau_core import Capability, ToolCallContext, ToolResult, ToolSpec
from tau_core.errors import ToolError

from ._files import SNIFF_BYTES, int_arg, str_arg
from ._paths import capability_for, is_git_component, relative, resolve

__all__ = ["GlobTool", "GrepTool", "LsTool", "glob_regex"]

MAX_ENTRIES = 1000
MAX_WALK = 100_000
MAX_GREP_FILE_BYTES = 2 * 1024 * 1024
MAX_GREP_FILES = 10_000
MAX_GREP_BYTES = 256 * 1024 * 1024
MAX_GREP_LINE = 500
MAX_GREP_RESULTS = 1000
DEFAULT_GREP_RESULTS = 100


@define
class _Ignore:
    """The ``.gitignore`` rules of a workspace, loaded lazily per directory."""

    root: Path
    _specs: dict[str, Any] = field(factory=dict, init=False)
    _exclude: Any = field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._exclude = self._load(self.root / ".git" / "info" / "exclude")

    @staticmethod
    def _load(path: Path) -> Any:
        import pathspec

        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return None
        return pathspec.GitIgnoreSpec.from_lines(lines) if lines else None

    def _spec(self, directory: str) -> Any:
        if directory not in self._specs:
            self._specs[directory] = self._load(self.root / directory / ".gitignore")
        return self._specs[directory]

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether the entry *rel* (POSIX, relative to the root) is ignored."""
        parts = rel.split("/")
        suffix = "/" if is_dir else ""
        for depth in range(len(parts) - 1, -1, -1):
            spec = self._spec("/".join(parts[:depth]))
            if spec is not None:
                verdict = spec.check_file("/".join(parts[depth:]) + suffix).include
                if verdict is not None:
                    return bool(verdict)
        if self._exclude is not None:
            return bool(self._exclude.check_file(rel + suffix).include)
        return False


@define
class _Entry:
    rel: str  # POSIX path relative to the workspace root
    kind: str  # "dir" | "file" | "link" | "other"
    size: int
    depth: int  # 1 for the children of the walk's start


@define
class _Walk:
    """A sorted, pruned walk under *start*, counting what it leaves out."""

    root: Path
    start: Path
    max_depth: int | None = None
    ignore: _Ignore = field(init=False)
    ignored: int = 0
    visited: int = 0
    cut_short: bool = False

    def __attrs_post_init__(self) -> None:
        self.ignore = _Ignore(self.root)

    def __iter__(self) -> Iterator[_Entry]:
        base = relative(self.root, self.start)
        yield from self._walk(self.start, "" if base == "." else base + "/", 1)

    def _walk(self, directory: Path, prefix: str, depth: int) -> Iterator[_Entry]:
        try:
            with os.scandir(directory) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError:
            return
        for child in children:
            if is_git_component(child.name):
                continue
            if self.visited >= MAX_WALK:
                self.cut_short = True
                return
            self.visited += 1
            try:
                st = child.stat(follow_symlinks=False)
            except OSError:
                continue
            kind = (
                "dir"
                if stat.S_ISDIR(st.st_mode)
                else "link"
                if stat.S_ISLNK(st.st_mode)
                else "file"
                if stat.S_ISREG(st.st_mode)
                else "other"
            )
            rel = prefix + child.name
            if self.ignore.ignored(rel, kind == "dir"):
                self.ignored += 1
                continue
            yield _Entry(rel, kind, st.st_size, depth)
            if kind == "dir" and (self.max_depth is None or depth < self.max_depth):
                yield from self._walk(Path(child.path), rel + "/", depth + 1)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1048576:.1f} MiB"


def _display(entry: _Entry, root: Path) -> str:
    if entry.kind == "dir":
        return f"{entry.rel}/"
    if entry.kind == "link":
        try:
            target = os.readlink(root / entry.rel)
        except OSError:
            target = "?"
        return f"{entry.rel} -> {target}"
    if entry.kind == "other":
        return f"{entry.rel} (special file)"
    return f"{entry.rel}  ({_size(entry.size)})"


def _footer(shown: int, total: int, walk: _Walk, noun: str = "entries") -> str:
    if total == 1:
        noun = noun.removesuffix("es") if noun.endswith("ches") else noun.replace("ies", "y")
    parts = [f"{shown} {noun}" if shown == total else f"first {shown} of {total} {noun} shown"]
    if shown < total:
        parts.append(f"{total - shown} left out: narrow the path or pattern")
    if walk.ignored:
        parts.append(f"{walk.ignored} ignored by .gitignore (not shown)")
    if walk.cut_short:
        parts.append(f"the walk stopped after {MAX_WALK} entries")
    return "[" + "; ".join(parts) + "]"


def _spec(name: str, description: str, properties: dict[str, Any], required: list[str]) -> ToolSpec:
    return ToolSpec(
        name,
        description,
        {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        },
        side_effect="read",
        capabilities=("read",),
        idempotent=True,
    )


_BASE = {"type": "string", "description": "Directory relative to the workspace root (default .)."}


def _base(arguments: Mapping[str, Any]) -> str:
    return str_arg(arguments, "path") if "path" in arguments else "."


class LsTool:
    """``ls``: the entries of a directory, down to ``depth`` levels."""

    def __init__(self) -> None:
        self.spec = _spec(
            "ls",
            "List a directory of the workspace: paths relative to the workspace root, "
            "directories ending in '/', files with their size. `depth` levels deep (default "
            "1). Entries ignored by .gitignore and the .git directory are left out.",
            {"path": _BASE, "depth": {"type": "integer", "minimum": 1, "maximum": 10}},
            [],
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [capability_for(workdir, _base(arguments), "read")]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        start = resolve(context.workdir, _base(arguments), purpose="read")
        depth = min(int_arg(arguments, "depth", 1), 10)
        return await asyncio.to_thread(self._list, context, start, depth)

    def _list(self, context: ToolCallContext, start: Path, depth: int) -> ToolResult:
        root = Path(os.path.realpath(context.workdir))
        rel = relative(root, start)
        if not start.exists():
            raise ToolError(f"{rel} does not exist", code="not_found", hint="try ls on '.'")
        if not start.is_dir():
            st = start.stat()
            text = _display(_Entry(rel, "file", st.st_size, 0), root)
            return ToolResult(context.call.id, self.spec.name, text, metadata={"entries": 1})
        walk = _Walk(root, start, depth)
        lines: list[str] = []
        total = 0
        for entry in walk:
            total += 1
            if len(lines) < MAX_ENTRIES:
                lines.append(_display(entry, root))
        body = "\n".join(lines) if lines else f"({rel} has no entries to show)"
        meta = {"path": rel, "entries": total, "shown": len(lines), "ignored": walk.ignored}
        text = f"{body}\n{_footer(len(lines), total, walk)}"
        return ToolResult(context.call.id, self.spec.name, text, metadata=meta)


def _check_pattern(pattern: str, what: str) -> str:
    if not pattern.strip():
        raise ToolError(f"the {what} is empty", code="bad_arguments", hint="e.g. '**/*.py'")
    if pattern.startswith("/"):
        raise ToolError(
            f"the {what} {pattern!r} is absolute; patterns are relative to the searched path",
            code="absolute_path",
            hint="drop the leading '/', and pass the directory as path",
        )
    if ".." in pattern.split("/"):
        raise ToolError(
            f"the {what} {pattern!r} contains '..'; searches stay inside the workspace",
            code="parent_escape",
            hint="search from the workspace root with path='.' instead",
        )
    return pattern[2:] if pattern.startswith("./") else pattern


def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob (see the module docs) into a regex matched against whole relative paths."""
    out = [] if "/" in pattern.rstrip("/") else ["(?:.*/)?"]
    pattern = pattern.rstrip("/") or pattern
    i, braces = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                body = "^" + body[1:] if body.startswith("!") else body
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "{":
            braces += 1
            out.append("(?:")
        elif c == "}" and braces:
            braces -= 1
            out.append(")")
        elif c == "," and braces:
            out.append("|")
        else:
            out.append(re.escape(c))
        i += 1
    out.append(")" * braces)
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:
        raise ToolError(
            f"the pattern {pattern!r} is not a valid glob: {exc.msg}",
            code="bad_pattern",
            hint="check brackets [] and braces {}",
        ) from None


class GlobTool:
    """``glob``: paths under ``path`` that match ``pattern``."""

    def __init__(self) -> None:
        self.spec = _spec(
            "glob",
            "Find files and directories by pattern, e.g. '**/*.py', 'src/*.{js,ts}', "
            "'test_*.py' (no '/' matches at any depth). Returns sorted paths relative to the "
            "workspace root; directories end in '/'. Leaves out .gitignore'd entries and .git.",
            {"pattern": {"type": "string"}, "path": _BASE},
            ["pattern"],
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        _check_pattern(str_arg(arguments, "pattern"), "pattern")
        return [capability_for(workdir, _base(arguments), "read")]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        pattern = _check_pattern(str_arg(arguments, "pattern"), "pattern")
        rx = glob_regex(pattern)
        start = resolve(context.workdir, _base(arguments), purpose="read")
        return await asyncio.to_thread(self._glob, context, start, pattern, rx)

    def _glob(
        self, context: ToolCallContext, start: Path, pattern: str, rx: re.Pattern[str]
    ) -> ToolResult:
        root = Path(os.path.realpath(context.workdir))
        if not start.is_dir():
            raise ToolError(
                f"{relative(root, start)} is not a directory",
                code="not_a_directory",
                hint="pass a directory as path (default: the workspace root)",
            )
        walk = _Walk(root, start)
        prefix = "" if start == root else relative(root, start) + "/"
        matches = []
        for entry in walk:
            if rx.fullmatch(entry.rel[len(prefix) :]):
                matches.append(entry.rel + ("/" if entry.kind == "dir" else ""))
        matches.sort()
        shown = matches[:MAX_ENTRIES]
        body = "\n".join(shown) if shown else f"no paths match {pattern!r}"
        text = f"{body}\n{_footer(len(shown), len(matches), walk, 'matches')}"
        meta = {"matches": len(matches), "shown": len(shown), "ignored": walk.ignored}
        return ToolResult(context.call.id, self.spec.name, text, metadata=meta)


@define
class _GrepStats:
    files: int = 0
    matched_files: int = 0
    matches: int = 0
    binary: int = 0
    large: int = 0
    links: int = 0
    bytes: int = 0
    stopped: bool = False


def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        pos = exc.pos if exc.pos is not None else 0
        raise ToolError(
            f"the pattern is not a valid regular expression: {exc.msg} at position {pos}\n"
            f"  {pattern}\n  {' ' * pos}^",
            code="bad_regex",
            hint="the syntax is Python's re; escape literal ( ) [ ] { } . * + ? | \\ with a "
            "backslash",
        ) from None


class GrepTool:
    """``grep``: lines matching a regular expression, with optional context."""

    def __init__(self) -> None:
        self.spec = _spec(
            "grep",
            "Search file contents with a regular expression (Python re syntax), line by line. "
            "Output lines are 'path:LINE:text' for matches and 'path-LINE-text' for context. "
            "Skips binary files, files over 2 MiB, .gitignore'd files and .git.",
            {
                "pattern": {"type": "string", "description": "Regular expression."},
                "path": {"type": "string", "description": "File or directory (default .)."},
                "glob": {"type": "string", "description": "Only files matching, e.g. '*.py'."},
                "ignore_case": {"type": "boolean"},
                "context": {"type": "integer", "minimum": 0, "maximum": 10},
                "max_results": {"type": "integer", "minimum": 1, "maximum": MAX_GREP_RESULTS},
            },
            ["pattern"],
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [capability_for(workdir, _base(arguments), "read")]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        ignore_case = arguments.get("ignore_case", False)
        rx = _compile(str_arg(arguments, "pattern"), ignore_case is True)
        start = resolve(context.workdir, _base(arguments), purpose="read")
        only = None
        if arguments.get("glob") is not None:
            only = glob_regex(_check_pattern(str_arg(arguments, "glob"), "glob"))
        around = min(int_arg(arguments, "context", 0, minimum=0), 10)
        cap = min(int_arg(arguments, "max_results", DEFAULT_GREP_RESULTS), MAX_GREP_RESULTS)
        return await asyncio.to_thread(self._grep, context, start, rx, only, (around, cap))

    def _files(self, root: Path, start: Path, stats: _GrepStats) -> tuple[Iterator[str], _Walk]:
        walk = _Walk(root, start)
        if start.is_file():
            return iter([relative(root, start)]), walk

        def files() -> Iterator[str]:
            for entry in walk:
                if entry.kind == "link":
                    stats.links += 1
                elif entry.kind == "file":
                    yield entry.rel

        return files(), walk

    def _grep(
        self,
        context: ToolCallContext,
        start: Path,
        rx: re.Pattern[str],
        only: re.Pattern[str] | None,
        limits: tuple[int, int],
    ) -> ToolResult:
        around, cap = limits
        root = Path(os.path.realpath(context.workdir))
        if not start.exists():
            raise ToolError(
                f"{relative(root, start)} does not exist", code="not_found", hint="try path='.'"
            )
        prefix = "" if start == root or start.is_file() else relative(root, start) + "/"
        stats = _GrepStats()
        out: list[str] = []
        files, walk = self._files(root, start, stats)
        for rel in files:
            if only is not None and not only.fullmatch(rel[len(prefix) :]):
                continue
            if stats.files >= MAX_GREP_FILES or stats.bytes >= MAX_GREP_BYTES:
                stats.stopped = True
                break
            lines = self._lines(root / rel, stats)
            if lines is None:
                continue
            hits = [i for i, line in enumerate(lines) if rx.search(line)]
            if not hits:
                continue
            stats.matched_files += 1
            room = cap - stats.matches
            stats.matches += len(hits)
            if room > 0:
                out.extend(_render(rel, lines, hits[:room], around))
        text = "\n".join(out) if out else f"no matches for {rx.pattern!r}"
        return ToolResult(
            context.call.id,
            self.spec.name,
            f"{text}\n{_grep_footer(stats, walk, cap)}",
            metadata={
                "matches": stats.matches,
                "shown": min(stats.matches, cap),
                "files_matched": stats.matched_files,
                "files_scanned": stats.files,
                "skipped_binary": stats.binary,
                "skipped_large": stats.large,
                "skipped_links": stats.links,
                "ignored": walk.ignored,
                "stopped": stats.stopped,
            },
        )

    @staticmethod
    def _lines(path: Path, stats: _GrepStats) -> list[str] | None:
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > MAX_GREP_FILE_BYTES:
                stats.large += 1
                return None
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd, "rb") as fh:
                data = fh.read(MAX_GREP_FILE_BYTES + 1)
        except OSError:
            return None
        stats.files += 1
        stats.bytes += len(data)
        if b"\0" in data[:SNIFF_BYTES]:
            stats.binary += 1
            return None
        text = data.decode("utf-8", errors="replace")
        return [line.rstrip("\r") for line in text.split("\n")]


def _render(rel: str, lines: list[str], hits: list[int], around: int) -> list[str]:
    out: list[str] = []
    hit_set = set(hits)
    last = -2
    for hit in hits:
        lo, hi = max(0, hit - around), min(len(lines) - 1, hit + around)
        if around and last >= 0 and lo > last + 1:
            out.append("--")
        for i in range(max(lo, last + 1), hi + 1):
            line = lines[i]
            if len(line) > MAX_GREP_LINE:
                line = f"{line[:MAX_GREP_LINE]} … [line cut: {len(line)} characters]"
            sep = ":" if i in hit_set else "-"
            out.append(f"{rel}{sep}{i + 1}{sep}{line}")
        last = max(last, hi)
    return out


def _grep_footer(stats: _GrepStats, walk: _Walk, cap: int) -> str:
    files = "file" if stats.matched_files == 1 else "files"
    matches = "match" if stats.matches == 1 else "matches"
    parts = [f"{stats.matches} {matches} in {stats.matched_files} {files}"]
    if stats.matches > cap:
        parts.append(f"first {cap} shown, {stats.matches - cap} left out: narrow the search")
    parts.append(f"{stats.files} files scanned")
    skipped = [
        f"{n} {what}"
        for n, what in (
            (stats.binary, "binary"),
            (stats.large, f"over {MAX_GREP_FILE_BYTES // 1048576} MiB"),
            (stats.links, "symlinks"),
            (walk.ignored, "ignored by .gitignore"),
        )
        if n
    ]
    if skipped:
        parts.append("skipped: " + ", ".join(skipped))
    if stats.stopped or walk.cut_short:
        parts.append(
            f"the search stopped early (limits: {MAX_GREP_FILES} files, "
            f"{MAX_GREP_BYTES // 1048576} MiB): narrow the path or glob"
        )
    return "[" + "; ".join(parts) + "]"
