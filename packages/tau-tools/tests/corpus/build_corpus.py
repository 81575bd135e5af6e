"""Build the apply_patch corpus: real diffs between consecutive releases of pure-Python packages.

Run by ``nox -s patch-corpus`` (and usable directly: ``python build_corpus.py [CACHE_DIR]``).
For each pair of releases in :data:`RELEASES` it downloads both sdists with
``pip download --no-deps --no-binary :all:``, unpacks them (binary files, which
``apply_patch`` does not apply, are left out of both) and writes ``git diff -M`` between them
next to them (see :func:`git_diff`). Everything lands in a cache directory (default
``.cache/patch-corpus`` at the repository root, with its own ``.gitignore``) and is
reused when present. A ``manifest.json`` lists the cases.

The module also builds a small offline corpus (:func:`build_synthetic`) from stdlib sources
edited in seeded, deterministic ways, and loads either corpus (:func:`load`); the tests and
``bench/bench_patch.py`` import it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

RELEASES: tuple[tuple[str, str, str], ...] = (
    ("attrs", "23.1.0", "23.2.0"),
    ("six", "1.15.0", "1.16.0"),
    ("idna", "3.6", "3.7"),
    ("packaging", "23.2", "24.0"),
    ("tomli", "2.0.1", "2.0.2"),
    ("pluggy", "1.4.0", "1.5.0"),
    ("iniconfig", "1.1.1", "2.0.0"),
)
"""(package, older release, the next release)."""

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_CACHE = ROOT / ".cache" / "patch-corpus"
_GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"}


def _git(cwd: Path, *args: str) -> bytes:
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, env={**os.environ, **_GIT_ENV}, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


def git_diff(old: Path, new: Path) -> bytes:
    """The diff git prints from tree *old* to tree *new*, with renames, as ``a/…`` ``b/…``.

    The trees are committed one after the other in a scratch repository and diffed there.
    (``git diff --no-index old new`` would be simpler, but it writes ``rename from`` lines
    relative to the two directories, which ``git apply`` then cannot find.)
    """
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        shutil.copytree(old, repo, symlinks=True)
        _git(repo, "init", "--quiet")
        _git(repo, "add", "--all", "--force")
        _git(repo, "-c", "user.name=corpus", "-c", "user.email=corpus@localhost",
             "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "old")  # fmt: skip
        for entry in repo.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(new, repo, symlinks=True, dirs_exist_ok=True)
        # Re-hash every file: copies keep their mtimes, and a file of the same size and mtime
        # would otherwise look unchanged to git's stat cache.
        _git(repo, "rm", "-r", "--cached", "--quiet", ".")
        _git(repo, "add", "--all", "--force")
        return _git(repo, "diff", "--cached", "-M", "--no-color", "--no-ext-diff", "HEAD")


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack an sdist's single top-level directory as *dest*, without binary files."""
    with tempfile.TemporaryDirectory() as tmp:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(tmp)  # noqa: S202 - our own downloads; paths checked below
        else:
            with tarfile.open(archive) as tf:
                tf.extractall(tmp, filter="data")
        tops = list(Path(tmp).iterdir())
        top = tops[0] if len(tops) == 1 and tops[0].is_dir() else Path(tmp)
        for path in top.rglob("*"):
            if path.is_symlink() or (path.is_file() and b"\0" in path.read_bytes()):
                path.unlink()
        shutil.copytree(top, dest)


def _download(name: str, version: str, sdists: Path) -> Path:
    found = sorted(sdists.glob(f"{name}-{version}.*"))
    if found:
        return found[0]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
         ":all:", f"{name}=={version}", "-d", str(sdists)],
        check=True,
    )  # fmt: skip
    found = sorted(sdists.glob(f"{name}-{version}.*"))
    if not found:
        raise RuntimeError(f"pip download left no sdist for {name}=={version} in {sdists}")
    return found[0]


def _case(root: Path, name: str, old: Path, new: Path, diff: bytes) -> dict[str, object]:
    path = root / f"{name}.diff"
    path.write_bytes(diff)
    return {
        "name": name,
        "old": str(old.relative_to(root)),
        "new": str(new.relative_to(root)),
        "diff": path.name,
        "bytes": len(diff),
        "files": diff.count(b"\ndiff --git ") + diff.startswith(b"diff --git "),
        "hunks": diff.count(b"\n@@ "),
    }


def build_real(cache: Path = DEFAULT_CACHE) -> Path:
    """Download, unpack and diff every pair in :data:`RELEASES` under *cache* (reused if there).

    Returns:
        The manifest's path.
    """
    cache.mkdir(parents=True, exist_ok=True)
    (cache / ".gitignore").write_text("# built by tests/corpus/build_corpus.py\n*\n")
    manifest = cache / "manifest.json"
    if manifest.exists():
        return manifest
    sdists = cache / "sdists"
    cases = []
    for name, old_v, new_v in RELEASES:
        trees = []
        for version in (old_v, new_v):
            tree = cache / "trees" / f"{name}-{version}"
            if not tree.exists():
                _unpack(_download(name, version, sdists), tree)
            trees.append(tree)
        case = f"{name}-{old_v}-{new_v}"
        cases.append(_case(cache, case, trees[0], trees[1], git_diff(trees[0], trees[1])))
        print(f"{case}: {cases[-1]['files']} files, {cases[-1]['hunks']} hunks")
    manifest.write_text(json.dumps({"kind": "real", "cases": cases}, indent=2))
    return manifest


def _edit(lines: list[str], rng: random.Random) -> list[str]:
    """A release-like edit: a few insertions, deletions and changed lines."""
    out = list(lines)
    for _ in range(rng.randint(3, 12)):
        if not out:
            break
        i = rng.randrange(len(out))
        action = rng.choice(("insert", "delete", "change", "change"))
        if action == "insert":
            out[i:i] = [f"    # added in the next release ({i})\n", "    pass\n"]
        elif action == "delete":
            del out[i : i + rng.randint(1, 3)]
        else:
            out[i] = out[i].rstrip("\n") + "  # changed\n"
    return out


_STDLIB = ("textwrap", "difflib", "shlex", "fnmatch", "glob", "string", "colorsys", "bisect")


def build_synthetic(root: Path, *, seed: int = 7) -> Path:
    """An offline corpus: stdlib modules as the old trees, seeded edits as the new ones.

    The new trees include a created file, a deleted file, a rename, a mode change and a file
    without a final newline, so the diffs exercise git's extended headers.
    """
    manifest = root / "manifest.json"
    if manifest.exists():
        return manifest
    rng = random.Random(seed)
    cases = []
    for n, module in enumerate(_STDLIB):
        source = Path(__import__(module).__file__ or "").read_text(encoding="utf-8")
        old, new = root / "trees" / f"{module}-old", root / "trees" / f"{module}-new"
        for tree in (old, new):
            tree.mkdir(parents=True)
        lines = source.splitlines(keepends=True)
        (old / f"{module}.py").write_text(source, encoding="utf-8")
        (new / f"{module}.py").write_text("".join(_edit(lines, rng)), encoding="utf-8")
        (old / "gone.txt").write_text("deleted in the next release\n")
        (new / "added.txt").write_text(f"new in release {n}\nno final newline")
        moved = "".join(lines[: 40 + n])
        (old / "moved_from.py").write_text(moved, encoding="utf-8")
        (new / "pkg").mkdir()
        (new / "pkg" / "moved_to.py").write_text(moved + "# renamed\n", encoding="utf-8")
        (old / "run.sh").write_text("#!/bin/sh\necho run\n")
        (new / "run.sh").write_text("#!/bin/sh\necho run\n")
        (new / "run.sh").chmod(0o755)
        (old / "run.sh").chmod(0o644)
        cases.append(_case(root, f"stdlib-{module}", old, new, git_diff(old, new)))
    manifest.write_text(json.dumps({"kind": "synthetic", "cases": cases}, indent=2))
    return manifest


def load(manifest: Path) -> list[dict[str, object]]:
    """The cases of *manifest*, with ``old``/``new``/``diff`` as absolute paths."""
    data = json.loads(manifest.read_text())
    root = manifest.parent
    cases: list[dict[str, object]] = data["cases"]
    for case in cases:
        for key in ("old", "new", "diff"):
            case[key] = root / str(case[key])
        case["kind"] = data["kind"]
    return cases


def main() -> None:
    cache = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CACHE
    print(f"patch corpus: {build_real(cache)}")


if __name__ == "__main__":
    main()
