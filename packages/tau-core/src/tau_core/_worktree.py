"""Snapshots of the working tree, so the evidence can show what a run changed.

In a git work tree the snapshot is a git tree object written through a temporary index
(``git add -A`` with ``GIT_INDEX_FILE`` pointing elsewhere), so the user's index, branches and
stash are never touched and untracked files are included (ignored ones are not). Elsewhere
the snapshot is a manifest of file hashes, with the text of small files kept so a unified
diff can be shown.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["diff_snapshots", "snapshot"]

MAX_DIFF_CHARS = 64_000
_MAX_FILES = 5_000
_MAX_TEXT = 64_000  # bytes of one file kept for diffs
_MAX_TEXT_TOTAL = 1_000_000
_MAX_HASHED = 8 << 20  # files above 8 MiB are compared by size and mtime, not read
_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "node_modules", ".tau", ".nox"}


def _git(workdir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"git {args[0]} failed")
    return proc.stdout


def _in_git(workdir: Path) -> bool:
    try:
        return _git(workdir, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return False


def _tau_home() -> Path | None:
    from ._config import tau_home

    try:
        return tau_home().resolve()
    except OSError:
        return None


def snapshot(workdir: Path) -> dict[str, Any]:
    """Capture the working tree; the result is JSON and goes into the journal.

    Tau's own state directory is never part of the snapshot, even inside the working tree.
    """
    home = _tau_home()
    if _in_git(workdir):
        spec = ["."]
        if home is not None and (home == workdir.resolve() or workdir.resolve() in home.parents):
            spec.append(f":(exclude){home.relative_to(workdir.resolve()).as_posix()}")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                env = {**os.environ, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
                # Start from HEAD so the tree is the whole repository even when the workdir
                # is a subdirectory; then take the workdir's files as they are now.
                with contextlib.suppress(RuntimeError):  # no commit yet: start empty
                    _git(workdir, "read-tree", "HEAD", env=env)
                _git(workdir, "add", "-A", "--", *spec, env=env)
                tree = _git(workdir, "write-tree", env=env).strip()
            return {"kind": "git", "tree": tree}
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            return {"kind": "none", "error": f"git snapshot failed: {exc}"}
    files: dict[str, str] = {}
    texts: dict[str, str] = {}
    budget = _MAX_TEXT_TOTAL
    for root, dirs, names in os.walk(workdir):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _SKIP_DIRS and (home is None or Path(root, d).resolve() != home)
        )
        for name in sorted(names):
            if len(files) >= _MAX_FILES:
                return {"kind": "files", "files": files, "texts": texts, "truncated": True}
            path = Path(root, name)
            rel = path.relative_to(workdir).as_posix()
            try:
                if path.is_symlink() or not path.is_file():
                    continue
                st = path.stat()
                if st.st_size > _MAX_HASHED:  # large files: size and mtime say enough
                    files[rel] = f"size={st.st_size},mtime={st.st_mtime_ns}"
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            files[rel] = hashlib.sha256(data).hexdigest()
            if len(data) <= _MAX_TEXT and len(data) <= budget and b"\0" not in data:
                try:
                    texts[rel] = data.decode("utf-8")
                    budget -= len(data)
                except UnicodeDecodeError:
                    pass
    return {"kind": "files", "files": files, "texts": texts, "truncated": False}


def diff_snapshots(workdir: Path, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """``{"diff": str, "changed_files": [...]}`` between two snapshots of *workdir*."""
    if before.get("kind") == "git" and after.get("kind") == "git":
        try:
            names = _git(workdir, "diff", "--name-status", before["tree"], after["tree"])
            text = _git(workdir, "diff", before["tree"], after["tree"])
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            return {"diff": "", "changed_files": [], "note": f"git diff failed: {exc}"}
        changed = [line.split("\t", 1)[1] for line in names.splitlines() if "\t" in line]
        return {"diff": _cap(text), "changed_files": changed}
    if before.get("kind") != "files" or after.get("kind") != "files":
        return {"diff": "", "changed_files": [], "note": "no snapshot of the working tree"}
    old, new = before["files"], after["files"]
    changed = sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p))
    parts = []
    for rel in changed:
        a = before["texts"].get(rel) if rel in old else ""
        b = after["texts"].get(rel) if rel in new else ""
        if a is None or b is None:
            parts.append(f"Binary or large file {rel} differs\n")
            continue
        parts.extend(
            difflib.unified_diff(
                a.splitlines(keepends=True),
                b.splitlines(keepends=True),
                fromfile=f"a/{rel}" if rel in old else "/dev/null",
                tofile=f"b/{rel}" if rel in new else "/dev/null",
            )
        )
    return {"diff": _cap("".join(parts)), "changed_files": changed}


def _cap(text: str) -> str:
    if len(text) <= MAX_DIFF_CHARS:
        return text
    return text[:MAX_DIFF_CHARS] + f"\n[diff truncated: {len(text) - MAX_DIFF_CHARS} more chars]\n"
