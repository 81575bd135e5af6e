"""apply_patch on corpora of real diffs: byte-exact results and agreement with ``git apply``.

Two corpora (see ``corpus/build_corpus.py``):

* the real one: diffs between consecutive releases of pure-Python packages, built and cached
  by ``nox -s patch-corpus`` (found through ``TAU_PATCH_CORPUS`` or the default cache
  directory); its tests skip, saying how to build it, when it is absent;
* an offline one built here from stdlib sources with seeded edits, diffed by git, so these
  checks always run.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "corpus"))

import build_corpus
import compare

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _real_manifest() -> Path | None:
    path = Path(os.environ.get("TAU_PATCH_CORPUS", build_corpus.DEFAULT_CACHE / "manifest.json"))
    return path if path.exists() else None


_REAL = _real_manifest()
_REAL_CASES = [str(c["name"]) for c in build_corpus.load(_REAL)] if _REAL else []
_NO_REAL = pytest.mark.skip(reason="real corpus not built; run `nox -s patch-corpus`")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    manifest = build_corpus.build_synthetic(tmp_path_factory.mktemp("synthetic-corpus"))
    return {str(c["name"]): c for c in build_corpus.load(manifest)}


def _real_case(name: str) -> dict[str, object]:
    assert _REAL is not None
    return next(c for c in build_corpus.load(_REAL) if c["name"] == name)


def _check_byte_exact(case: dict[str, object], tmp_path: Path) -> None:
    work = tmp_path / "tree"
    shutil.copytree(Path(str(case["old"])), work)
    diff = Path(str(case["diff"])).read_bytes()
    result = compare.run_tool(work, diff)
    assert result.ok, result.content
    assert not any(p["layer"] != "exact" or p["offset"] for p in result.metadata["placements"])
    assert compare.tree_files(work) == compare.tree_files(Path(str(case["new"])))
    # The same patch again: already applied, and the tree stays as it is.
    settled = compare.tree_hash(work)
    again = compare.run_tool(work, diff)
    assert again.ok and again.metadata["already_applied"], again.content
    assert compare.tree_hash(work) == settled


def _check_against_git(case: dict[str, object]) -> None:
    results = compare.run_case(case)
    assert results
    by_class: dict[str, list[str]] = {}
    for r in results:
        by_class.setdefault(str(r["class"]), []).append(f"{r['kind']}:{r['file']}")
    # Never stricter than git, never lenient or different without saying so.
    for bad in ("stricter", "lenient_silent", "differs_silent"):
        assert bad not in by_class, (bad, by_class[bad][:5])
    assert all(r["unchanged_on_failure"] for r in results)
    for r in results:
        if r["kind"] in ("clean", "offset", "offset_between") and r["git_check"]:
            assert r["tau_ok"] and r["same_bytes"], r
        if r["kind"] == "edited_context":
            assert not r["git_check"] and not r["tau_ok"], r
        if r["kind"] == "already":
            assert r["tau_ok"] and r["class"] == "lenient_reported", r
        if r["kind"] in ("crlf_file", "crlf_patch", "space_context") and r["tau_ok"]:
            assert "whitespace" in r["layers"], r


@pytest.mark.parametrize("name", sorted(build_corpus._STDLIB))
def test_synthetic_corpus_applies_byte_exact(
    synthetic: dict[str, dict[str, object]], name: str, tmp_path: Path
) -> None:
    _check_byte_exact(synthetic[f"stdlib-{name}"], tmp_path)


@pytest.mark.parametrize("name", sorted(build_corpus._STDLIB))
def test_synthetic_perturbations_agree_with_git(
    synthetic: dict[str, dict[str, object]], name: str
) -> None:
    _check_against_git(synthetic[f"stdlib-{name}"])


@pytest.mark.parametrize("name", _REAL_CASES or [pytest.param("real", marks=_NO_REAL)])
def test_real_corpus_applies_byte_exact(name: str, tmp_path: Path) -> None:
    _check_byte_exact(_real_case(name), tmp_path)


@pytest.mark.parametrize("name", _REAL_CASES or [pytest.param("real", marks=_NO_REAL)])
def test_real_perturbations_agree_with_git(name: str) -> None:
    _check_against_git(_real_case(name))


def test_real_corpus_covers_five_packages() -> None:
    if _REAL is None:
        pytest.skip("real corpus not built; run `nox -s patch-corpus`")
    packages = {name.split("-")[0] for name in _REAL_CASES}
    assert len(packages) >= 5, packages
