"""``apply_patch`` throughput next to ``git apply``, on the same corpus, in one run.

The corpus is the real one built by ``nox -s patch-corpus`` (diffs between consecutive releases
of pure-Python packages, cached under ``.cache/patch-corpus``) when it is there; otherwise an
offline corpus of git diffs between stdlib sources and seeded edits of them is built in a
temporary directory. The JSON says which one was used.

For each corpus case and each round, a fresh copy of the case's old tree is made (not timed),
then the whole diff is applied to it:

* ``tau``: the ``apply_patch`` tool, as core runs it (capabilities, parse, placement, one
  all-or-nothing file transaction with fsync), in this process;
* ``tau_dry_run``: the same tool call with ``dry_run`` (paths checked, files read, hunks
  placed; nothing written), on the old tree itself;
* ``tau_engine``: parsing and placing only, in memory (no file is read or written by it);
* ``git``: ``git apply`` in a subprocess (its process start is part of its figure).

Rounds run the three in a shuffled order. Figures: total diff megabytes and patches (cases)
per second from the median round, and ratios ``tau / git`` of the median times (below 1.0:
Tau is faster). Every round's result is checked byte-for-byte against the newer tree.

Usage: ``python bench/bench_patch.py [--runs N] [--seed N]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packages" / "tau-tools" / "tests" / "corpus"))

import build_corpus  # noqa: E402 - found through the path set just above
import compare  # noqa: E402

from tau_tools._patch_apply import apply  # noqa: E402
from tau_tools._patch_parse import parse_patch  # noqa: E402


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _time_tau(case: dict[str, Any], work: Path, diff: bytes, *, dry_run: bool = False) -> float:
    start = time.perf_counter()
    result = compare.run_tool(work, diff, dry_run=dry_run)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"apply_patch failed on {case['name']}: {result.content}")
    return elapsed


def _time_git(case: dict[str, Any], work: Path, diff: bytes) -> float:
    start = time.perf_counter()
    ok = compare.git_apply(work, diff, check=False)
    elapsed = time.perf_counter() - start
    if not ok:
        raise SystemExit(f"git apply failed on {case['name']}")
    return elapsed


def _time_engine(case: dict[str, Any], files: dict[str, bytes], diff: bytes) -> float:
    start = time.perf_counter()
    apply(parse_patch(diff).items, files.get)
    return time.perf_counter() - start


def _manifest(tmp: Path) -> Path:
    real = build_corpus.DEFAULT_CACHE / "manifest.json"
    return real if real.exists() else build_corpus.build_synthetic(tmp / "synthetic")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="timed rounds (default 9)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the run-order shuffle")
    args, _ = parser.parse_known_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        manifest = _manifest(tmp)
        cases = build_corpus.load(manifest)
        diffs = {str(c["name"]): Path(str(c["diff"])).read_bytes() for c in cases}
        olds = {str(c["name"]): _files(Path(str(c["old"]))) for c in cases}
        totals: dict[str, list[float]] = {"tau": [], "tau_dry_run": [], "tau_engine": [], "git": []}
        for round_no in range(args.runs):
            spent = dict.fromkeys(totals, 0.0)
            for case in cases:
                name = str(case["name"])
                order = list(totals)
                rng.shuffle(order)
                for who in order:
                    if who == "tau_engine":
                        spent[who] += _time_engine(case, olds[name], diffs[name])
                        continue
                    if who == "tau_dry_run":
                        old_tree = Path(str(case["old"]))
                        spent[who] += _time_tau(case, old_tree, diffs[name], dry_run=True)
                        continue
                    work = tmp / f"{who}-{round_no}-{name}"
                    shutil.copytree(Path(str(case["old"])), work)
                    timer = _time_tau if who == "tau" else _time_git
                    spent[who] += timer(case, work, diffs[name])
                    if compare.tree_files(work) != compare.tree_files(Path(str(case["new"]))):
                        raise SystemExit(f"{who} produced a different tree for {name}")
                    shutil.rmtree(work)
            for who, seconds in spent.items():
                totals[who].append(seconds)
    megabytes = sum(len(d) for d in diffs.values()) / 1e6
    median = {who: statistics.median(times) for who, times in totals.items()}
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False)
    print(
        json.dumps(
            {
                "corpus": {
                    "kind": cases[0]["kind"],
                    "cases": len(cases),
                    "diff_megabytes": round(megabytes, 4),
                    "hunks": sum(int(str(c["hunks"])) for c in cases),
                },
                "runs": args.runs,
                "median_seconds": {k: round(v, 5) for k, v in median.items()},
                "megabytes_per_second": {k: round(megabytes / v, 3) for k, v in median.items()},
                "patches_per_second": {k: round(len(cases) / v, 2) for k, v in median.items()},
                "ratio_tau_over_git": round(median["tau"] / median["git"], 3),
                "ratio_tau_engine_over_git": round(median["tau_engine"] / median["git"], 3),
                "ratio_tau_dry_run_over_git": round(median["tau_dry_run"] / median["git"], 3),
                "peer": git_version.stdout.strip(),
                "python": platform.python_version(),
            },
            indent=2,
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    main()
