"""Apply corpus patches with ``apply_patch`` and with git, perturbed, and compare the outcomes.

Used by the tests (``test_patch_git.py``, ``test_patch_corpus.py``), by ``nox -s patch-corpus``
(``python compare.py MANIFEST`` prints a JSON summary) and by ``bench/bench_patch.py``.

Each perturbation takes one file's patch from a corpus diff and the file's old version, changes
one of them, then asks both ``git apply --check`` and ``apply_patch`` (through the real tool and
its file transaction, in a scratch directory). Kinds:

``clean``           the patch as git wrote it
``offset``          lines inserted at the top of the file (every hunk moves)
``offset_between``  lines inserted after the first hunk's region (later hunks move)
``edited_context``  one context line of the file changed (a real conflict)
``space_context``   trailing spaces added to one context line of the file
``crlf_file``       the file converted to CRLF line endings, the patch left LF
``crlf_patch``      the patch converted to CRLF, the file left LF
``counts_larger``   one hunk header's counts raised by one
``counts_smaller``  one hunk header's counts lowered by one
``already``         the patch applied to the file's new version
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tau_core import ToolCall, ToolCallContext, ToolResult
from tau_core.errors import ToolError
from tau_tools._patch_parse import FilePatch, parse_patch
from tau_tools._patch_tool import ApplyPatchTool

KINDS = (
    "clean",
    "offset",
    "offset_between",
    "edited_context",
    "space_context",
    "crlf_file",
    "crlf_patch",
    "counts_larger",
    "counts_smaller",
    "already",
)
_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


def tree_hash(root: Path) -> str:
    """Names, modes and contents of everything under *root*."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            st = os.lstat(p)
            h.update(f"{p.relative_to(root)}\0{st.st_mode:o}\0".encode())
            if stat.S_ISREG(st.st_mode):
                h.update(p.read_bytes())
    return h.hexdigest()


def tree_files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under *root*: its bytes and whether it is executable."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), bool(p.stat().st_mode & 0o100))
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def run_tool(root: Path, patch: bytes | str, *, dry_run: bool = False) -> ToolResult:
    """Run ``apply_patch`` on *root* exactly as core would (capabilities first, then run)."""
    text = patch.decode("utf-8", "surrogateescape") if isinstance(patch, bytes) else patch
    tool = ApplyPatchTool()
    arguments: dict[str, object] = {"patch": text, "dry_run": dry_run}
    call = ToolCall("call-1", "apply_patch", arguments)
    context = ToolCallContext(
        call=call, spec=tool.spec, run_id="corpus", workdir=root, idempotency_key="corpus:1"
    )
    try:
        tool.capabilities(arguments, root)
        return asyncio.run(tool.run(arguments, context))
    except ToolError as exc:  # what core turns into a failed result
        return ToolResult.failure(call, exc.code, str(exc), exc.hint)


def git_apply(root: Path, patch: bytes, *, check: bool) -> bool:
    """Whether ``git apply [--check]`` accepts *patch* in *root*."""
    result = subprocess.run(
        ["git", "apply", *(["--check"] if check else []), "-"],
        cwd=root,
        input=patch,
        capture_output=True,
        env={**os.environ, **_GIT_ENV},
        check=False,
    )
    return result.returncode == 0


def file_chunks(diff: bytes) -> Iterator[tuple[bytes, FilePatch]]:
    """Each modified text file's patch in *diff*, with its parse."""
    starts = [m.start() for m in re.finditer(rb"^diff --git ", diff, re.MULTILINE)]
    for begin, end in zip(starts, [*starts[1:], len(diff)], strict=True):
        chunk = diff[begin:end]
        item = parse_patch(chunk).items[0]
        if isinstance(item, FilePatch) and item.op == "modify" and item.hunks:
            yield chunk, item


def _set_counts(chunk: bytes, rng: random.Random, delta: int) -> bytes:
    headers = list(_HUNK.finditer(chunk))
    m = rng.choice(headers)
    old_n = int(m[2]) if m[2] is not None else 1
    new_n = int(m[4]) if m[4] is not None else 1
    header = (
        f"@@ -{m[1].decode()},{max(old_n + delta, 0)} +{m[3].decode()},{max(new_n + delta, 0)} @@"
    )
    return chunk[: m.start()] + header.encode() + chunk[m.end() :]


def _context_lines(item: FilePatch) -> list[int]:
    """0-based old-file line numbers of the patch's context lines."""
    out = []
    for hunk in item.hunks:
        line = max(hunk.old_start - 1, 0)
        for tag, text, _ in hunk.lines:
            if tag == " " and text.strip():
                out.append(line)
            line += tag != "+"
    return out


def perturb(
    kind: str, chunk: bytes, item: FilePatch, old: bytes, new: bytes, rng: random.Random
) -> tuple[bytes, bytes] | None:
    """The (file content, patch) pair for *kind*, or None when it does not apply to *item*."""
    lines = old.splitlines(keepends=True)
    if kind == "clean":
        return old, chunk
    if kind in ("offset", "offset_between"):
        filler = [f"# inserted line {i}\n".encode() for i in range(rng.randint(1, 25))]
        if kind == "offset":
            return b"".join(filler + lines), chunk
        if len(item.hunks) < 2:
            return None
        first = item.hunks[0]
        at = first.old_start - 1 + first.old_count
        return b"".join(lines[:at] + filler + lines[at:]), chunk
    if kind in ("edited_context", "space_context"):
        candidates = [i for i in _context_lines(item) if i < len(lines)]
        if not candidates:
            return None
        i = rng.choice(candidates)
        body = lines[i].rstrip(b"\r\n")
        eol = lines[i][len(body) :]
        lines[i] = body + (b" # edited" if kind == "edited_context" else b"   ") + eol
        return b"".join(lines), chunk
    if kind == "crlf_file":
        if b"\r" in old:
            return None
        return old.replace(b"\n", b"\r\n"), chunk
    if kind == "crlf_patch":
        if b"\r" in chunk:
            return None
        return old, chunk.replace(b"\n", b"\r\n")
    if kind in ("counts_larger", "counts_smaller"):
        return old, _set_counts(chunk, rng, 1 if kind == "counts_larger" else -1)
    if kind == "already":
        return new, chunk
    raise ValueError(kind)


def compare_one(work: Path, path: str, content: bytes, patch: bytes) -> dict[str, object]:
    """Apply *patch* to a one-file tree with git and with ``apply_patch``; report both."""
    results: dict[str, object] = {}
    trees = {}
    for who in ("git", "tau"):
        root = work / who
        shutil.rmtree(root, ignore_errors=True)
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(content)
        trees[who] = root
    results["git_check"] = git_apply(trees["git"], patch, check=True)
    if results["git_check"]:
        git_apply(trees["git"], patch, check=False)
    before = tree_hash(trees["tau"])
    result = run_tool(trees["tau"], patch)
    meta = result.metadata
    results["tau_ok"] = result.ok
    results["tau_code"] = result.error.code if result.error else None
    results["unchanged_on_failure"] = result.ok or tree_hash(trees["tau"]) == before
    placements = meta.get("placements", [])
    results["reported"] = bool(
        meta.get("notes")
        or meta.get("already_applied")
        or any(p["layer"] != "exact" or p["offset"] for p in placements)
    )
    results["layers"] = sorted({p["layer"] for p in placements})
    results["same_bytes"] = (
        tree_files(trees["git"]) == tree_files(trees["tau"])
        if results["git_check"] and result.ok
        else None
    )
    return results


def classify(r: dict[str, object]) -> str:
    """``agree``, ``lenient_reported``, ``lenient_silent``, ``differs_reported``,
    ``differs_silent`` or ``stricter``."""
    if r["git_check"] and not r["tau_ok"]:
        return "stricter"
    if not r["git_check"] and r["tau_ok"]:
        return "lenient_reported" if r["reported"] else "lenient_silent"
    if r["git_check"] and r["tau_ok"] and not r["same_bytes"]:
        return "differs_reported" if r["reported"] else "differs_silent"
    return "agree"


def run_case(
    case: dict[str, object], *, seed: int = 1, per_kind: int = 8
) -> list[dict[str, object]]:
    """Every perturbation kind on up to *per_kind* file patches of one corpus case."""
    rng = random.Random(f"{case['name']}-{seed}")
    chunks = list(file_chunks(Path(str(case["diff"])).read_bytes()))
    rng.shuffle(chunks)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk, item in chunks[:per_kind]:
            old_file = Path(str(case["old"])) / (item.old_path or "")
            new_file = Path(str(case["new"])) / item.path
            old, new = old_file.read_bytes(), new_file.read_bytes()
            for kind in KINDS:
                pair = perturb(kind, chunk, item, old, new, rng)
                if pair is None:
                    continue
                r = compare_one(Path(tmp), item.path, *pair)
                r.update(case=case["name"], file=item.path, kind=kind)
                r["class"] = classify(r)
                out.append(r)
    return out


def summarize(results: list[dict[str, object]]) -> dict[str, object]:
    """Counts per kind and class, plus how many failures left their tree unchanged."""
    table: dict[str, dict[str, int]] = {}
    for r in results:
        row = table.setdefault(str(r["kind"]), {})
        row[str(r["class"])] = row.get(str(r["class"]), 0) + 1
    failures = [r for r in results if not r["tau_ok"]]
    by_code: dict[str, int] = {}
    for r in failures:
        key = f"{r['kind']}:{r['tau_code']}"
        by_code[key] = by_code.get(key, 0) + 1
    return {
        "tau_failures_by_kind_and_code": by_code,
        "git_check_failures": sum(1 for r in results if not r["git_check"]),
        "perturbations": len(results),
        "by_kind": table,
        "tau_failures": len(failures),
        "failures_with_tree_unchanged": sum(1 for r in failures if r["unchanged_on_failure"]),
    }


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import build_corpus

    manifest = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else build_corpus.DEFAULT_CACHE / "manifest.json"
    )
    results = [r for case in build_corpus.load(manifest) for r in run_case(case)]
    print(json.dumps(summarize(results), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
