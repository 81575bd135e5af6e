"""The ``apply_patch`` tool: unified diffs and search/replace blocks, all files or none.

The tool glues three parts together: :mod:`tau_tools._patch_parse` reads the patch,
:mod:`tau_tools._patch_apply` computes every file's new content in memory, and a
:class:`~tau_tools._transaction.FileTransaction` writes them so that either every change lands
or the working tree stays byte-for-byte as it was.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from tau_core import Capability, ToolCallContext, ToolResult, ToolSpec
from tau_core.errors import ToolError

from ._patch_apply import PatchFailure, PatchPlan, apply
from ._patch_parse import FilePatch, ParsedPatch, SearchReplace, parse_patch
from ._paths import capability_for, relative, resolve
from ._transaction import FileTransaction

__all__ = ["MAX_PATCH_CHARS", "ApplyPatchTool"]

MAX_PATCH_CHARS = 4 * 1024 * 1024
"""Patches longer than this are refused before parsing."""

_DESCRIPTION = """\
Apply a unified diff (as `git diff` prints it: several files, creates, deletes, renames, mode
changes) or search/replace blocks (a file path line, then `<<<<<<< SEARCH`, the exact old
lines, `=======`, the new lines, `>>>>>>> REPLACE`). All files change or none does. Hunks are
placed as `git apply` places them; if a hunk only matches ignoring whitespace or indentation,
or at an offset, the result says so. A change that is already present counts as success. On
failure nothing changes and the error shows the closest matching lines with line numbers."""

_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "patch": {
            "type": "string",
            "description": "The unified diff or the search/replace blocks.",
        },
        "dry_run": {
            "type": "boolean",
            "description": "Check that the patch applies and report how, without writing.",
        },
    },
    "required": ["patch"],
    "additionalProperties": False,
}


def _parse(arguments: Mapping[str, Any]) -> ParsedPatch:
    patch = arguments.get("patch")
    if not isinstance(patch, str) or not patch.strip():
        raise ToolError(
            "the argument 'patch' must be a non-empty string",
            code="bad_arguments",
            hint="pass the unified diff or the search/replace blocks as one string",
        )
    if len(patch) > MAX_PATCH_CHARS:
        raise ToolError(
            f"the patch has {len(patch)} characters; at most {MAX_PATCH_CHARS} fit in one call",
            code="patch_too_large",
            hint="split the patch over several calls, a few files each",
        )
    return _parse_text(patch)


@functools.lru_cache(maxsize=4)
def _parse_text(patch: str) -> ParsedPatch:
    # Core asks for capabilities and then runs the call: both need the same (immutable) parse.
    return parse_patch(patch)


def _canonical(parsed: ParsedPatch, workdir: Path) -> ParsedPatch:
    """*parsed* with every path refused or rewritten to its resolved workspace-relative form."""
    names = {p: relative(workdir, resolve(workdir, p, purpose="write")) for p in parsed.paths}

    def fix(item: FilePatch | SearchReplace) -> FilePatch | SearchReplace:
        if isinstance(item, SearchReplace):
            return attrs.evolve(item, path=names[item.path])
        return attrs.evolve(
            item,
            old_path=names[item.old_path] if item.old_path is not None else None,
            new_path=names[item.new_path] if item.new_path is not None else None,
        )

    return ParsedPatch(tuple(fix(i) for i in parsed.items), parsed.notes)


def _drop_no_ops(plan: PatchPlan, txn: FileTransaction) -> PatchPlan:
    """*plan* without changes that leave a file as it is (a mode the file already has)."""
    kept = tuple(
        c
        for c in plan.changes
        if c.content is None
        or c.content != txn.read(c.path)
        or (c.mode is not None and c.mode != txn.mode(c.path))
        or c.mode_from is not None
    )
    return attrs.evolve(plan, changes=kept)


def _stage(plan: PatchPlan, txn: FileTransaction) -> None:
    """Record *plan*'s changes in *txn* (modes copied from renamed files are read first)."""
    inherited = {c.path: txn.mode(c.mode_from) for c in plan.changes if c.mode_from is not None}
    for change in plan.changes:
        if change.content is None:
            txn.delete(change.path)
            continue
        mode = change.mode if change.mode is not None else inherited.get(change.path)
        txn.write(change.path, change.content, mode)


def _summary(plan: PatchPlan, notes: tuple[str, ...], *, dry_run: bool) -> str:
    written = [c for c in plan.changes if c.content is not None]
    deleted = [c for c in plan.changes if c.content is None]
    if not plan.changes:
        head = "nothing to change: the patch is already applied"
    else:
        verb = "would change" if dry_run else "changed"
        parts = [f"{verb} {len(plan.changes)} file(s)"]
        if written:
            parts.append("written: " + ", ".join(c.path for c in written))
        if deleted:
            parts.append("deleted: " + ", ".join(c.path for c in deleted))
        head = "; ".join(parts)
    lines = [head]
    lines.extend(p.describe() for p in plan.placements if p.noteworthy)
    lines.extend(notes)
    lines.extend(plan.notes)
    if dry_run:
        lines.append("dry run: no file was written")
    return "\n".join(lines)


class ApplyPatchTool:
    """Apply unified diffs and search/replace blocks to the workspace, all or nothing.

    ``capabilities`` parses the patch and asks for a ``write`` grant on every path it touches
    (both sides of a rename or copy), each resolved through symlinks; paths that are absolute,
    contain ``..``, touch ``.git`` or lead out of the workspace are refused before anything
    runs. ``run`` checks the paths again, applies the patch in memory and commits all changes
    in one :class:`~tau_tools._transaction.FileTransaction`.

    The spec declares ``idempotent=True``, and the reasoning holds because a change that is
    already present counts as success. When the call runs again on the tree its first run
    produced (a resumed run re-executing an interrupted call), the reverse of every hunk matches
    exactly where the first run put it, at the offset the first run reported; the engine calls
    the patch applied whenever that reverse placement is no further from the stated lines than
    a forward one, and a hunk placed by a lenient layer is found again by the reverse check of
    the same layer. Search/replace blocks count as applied when the SEARCH match lies inside a
    match of the REPLACE text, or is gone while the REPLACE text is there. Created files that
    exist with the patch's content, deleted files that are gone and completed renames count as
    applied too. The exception: if the tree changed in between so that a hunk's old lines
    appear again closer to its stated position than the first run's placement, a second run
    applies the hunk there, and its result reports the offset.
    """

    def __init__(self) -> None:
        self.spec = ToolSpec(
            name="apply_patch",
            description=_DESCRIPTION,
            parameters=_PARAMETERS,
            side_effect="write",
            capabilities=("write",),
            idempotent=True,
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        """A ``write`` capability on every path the patch touches.

        Raises:
            ToolError: The patch cannot be parsed or names a refused path.
        """
        parsed = _parse(arguments)
        return [capability_for(workdir, path, "write") for path in parsed.paths]

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        """Apply the patch (or with ``dry_run`` only check it) and report every placement."""
        dry_run = arguments.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ToolError(
                f"the argument 'dry_run' must be true or false, got {dry_run!r}",
                code="bad_arguments",
                hint="pass dry_run as a JSON boolean",
            )
        parsed = _canonical(_parse(arguments), context.workdir)
        txn = FileTransaction(context.workdir)
        try:
            plan = apply(parsed.items, txn.read)
        except PatchFailure as failure:
            return ToolResult.failure(
                context.call,
                failure.code,
                str(failure),
                failure.hint,
                file=failure.file,
                hunk=failure.hunk,
                closest=attrs.asdict(failure.closest) if failure.closest else None,
            )
        plan = _drop_no_ops(plan, txn)
        _stage(plan, txn)
        if not dry_run and plan.changes:
            await asyncio.to_thread(txn.commit)
        metadata = {
            "files": {c.path: "delete" if c.content is None else "write" for c in plan.changes},
            "placements": [attrs.asdict(p) for p in plan.placements],
            "notes": [*parsed.notes, *plan.notes],
            "already_applied": plan.already_applied,
            "dry_run": dry_run,
        }
        text = _summary(plan, parsed.notes, dry_run=dry_run)
        return ToolResult(context.call.id, self.spec.name, text, metadata=metadata)
