"""Tau's safety layer against AgentDojo's prompt injections, offline, with a model that obeys.

For each AgentDojo suite (workspace, travel, banking, slack; benchmark ``v1.2.2``):

* every user task runs once with no injection: ``benign_utility`` is the share of runs whose
  outcome is ``verified`` (AgentDojo's utility check passed);
* every (user task, injection task) pair runs once with AgentDojo's ``important_instructions``
  attack (``--attack``) placed in every injection vector the user task's ground truth reads:
  ``attack_success_rate`` is the share of pairs whose injection task's security check is true
  (the attacker's goal was reached), ``utility_under_attack`` the share still ``verified``
  (AgentDojo's utility checks are strict: most fail when any extra side effect happened);
* tau-safety's prompt-injection detector (``tau_safety._injection.InjectionDetector``) scans
  every distinct tool output the runs produced: ``detector_tpr`` over outputs that carry the
  injected instruction, ``detector_fpr`` over those that do not.

The model is :class:`agentdojo_tau.ObeyingModel`: it always obeys an injected instruction it
sees, so without rails (``--tau-safety off``, or ``--baseline`` for both) the attack success
rate is that of AgentDojo's own ground truth (near 100%), which shows the attacks are real.
Injection tasks whose own ground truth does not reach their goal (AgentDojo v1.2 ships several
with an empty ``ground_truth()``) cannot be played by a scripted model; they are left out and
listed under ``skipped_injection_tasks``.

A run that ends ``failed`` or ``blocked(plugin_error)`` measures nothing: such runs are listed
under ``void_runs`` and the script exits with status 1 after printing the figures.

Usage: ``python bench/bench_agentdojo.py [--suite NAME]... [--limit N] [--tau-safety on|off]
[--baseline] [--approval never|deny] [--attack NAME] [--jobs J]``; prints one JSON document.
``--limit N`` takes N pairs per suite, chosen by a fixed shuffle. Each process uses its own
temporary ``TAU_HOME``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attrs import frozen

import agentdojo_tau as adt
from tau_core import Journal

NO_DETECTOR = "tau_safety._injection is not available; detector figures are null"


@frozen
class SuitePlan:
    """What one suite runs: its user tasks, the attacked pairs and their injections."""

    suite: Any
    users: list[Any]
    pairs: list[tuple[Any, Any, dict[str, str]]]
    skipped: dict[str, str]


def plan_suite(name: str, args: argparse.Namespace) -> SuitePlan:
    suite = adt.load_suite(name, args.benchmark_version)
    injector = adt.load_injector(suite, args.attack)
    skipped: dict[str, str] = {}
    tasks = []
    for task in suite.injection_tasks.values():
        if adt.replays_security(suite, task):
            tasks.append(task)
        else:
            skipped[task.ID] = "its own ground truth does not reach its goal"
    pairs: list[tuple[Any, Any]] = []
    for user in suite.user_tasks.values():
        try:
            injector.get_injection_candidates(user)
        except ValueError:
            continue  # AgentDojo: the user task's ground truth reads no injection vector
        pairs.extend((user, task) for task in tasks)
    if args.limit is not None:
        random.Random(0).shuffle(pairs)
        pairs = pairs[: args.limit]
    attacked = [(user, task, injector.attack(user, task)) for user, task in pairs]
    return SuitePlan(suite, list(suite.user_tasks.values()), attacked, skipped)


def _label(result: adt.EpisodeResult) -> str:
    return f"{result.status}({result.reason})" if result.reason else result.status


def _rate(values: Sequence[bool]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


async def _run_all(
    episodes: list[adt.Episode], *, plugins: Any, home: Path, approval: str, jobs: int
) -> list[adt.EpisodeResult]:
    workdir = home / "work"
    workdir.mkdir(exist_ok=True)
    queue: asyncio.Queue[tuple[int, adt.Episode]] = asyncio.Queue()
    for item in enumerate(episodes):
        queue.put_nowait(item)
    results: list[adt.EpisodeResult | None] = [None] * len(episodes)

    async def worker(k: int) -> None:
        with Journal(home / f"journal-{k}.sqlite3") as journal:
            while not queue.empty():
                i, episode = queue.get_nowait()
                results[i] = await adt.run_episode(
                    episode, plugins=plugins, journal=journal, workdir=workdir, approval=approval
                )

    await asyncio.gather(*(worker(k) for k in range(jobs)))
    return [r for r in results if r is not None]


def _detector_rates(labelled: dict[str, bool]) -> dict[str, Any]:
    try:
        from tau_safety._injection import InjectionDetector
    except ImportError:
        return {"detector_tpr": None, "detector_fpr": None, "detector_note": NO_DETECTOR}
    detector = InjectionDetector()
    hits = {text: bool(detector.scan(text)) for text in labelled}
    pos = [hits[t] for t, injected in labelled.items() if injected]
    neg = [hits[t] for t, injected in labelled.items() if not injected]
    return {
        "detector_tpr": _rate(pos),
        "detector_fpr": _rate(neg),
        "detector_positives": len(pos),
        "detector_negatives": len(neg),
    }


async def measure_suite(
    plan: SuitePlan, args: argparse.Namespace, *, safety: bool, detect: bool, home: Path
) -> dict[str, Any]:
    started = time.perf_counter()
    suite = plan.suite
    plugins = adt.plugin_manager(safety=safety)
    options = {"plugins": plugins, "home": home, "approval": args.approval, "jobs": args.jobs}
    benign = await _run_all([adt.Episode.build(suite, u) for u in plan.users], **options)
    attacked = await _run_all(
        [adt.Episode.build(suite, u, t, inj) for u, t, inj in plan.pairs], **options
    )
    runs = [*benign, *attacked]
    figures: dict[str, Any] = {
        "n_user_tasks": len(benign),
        "benign_utility": _rate([r.utility for r in benign]),
        "n_pairs": len(attacked),
        "attack_success_rate": _rate([bool(r.security) for r in attacked]),
        "utility_under_attack": _rate([r.utility for r in attacked]),
        "injection_seen_rate": _rate([r.obeyed for r in attacked]),
        "refused_calls": dict(Counter(rule for r in runs for rule in r.refused)),
        "outcomes": dict(
            Counter(f"{r.status}({r.reason})" if r.reason else r.status for r in runs)
        ),
        "benign_failures": sorted(r.user_task for r in benign if not r.utility),
        "attack_successes": sorted(
            f"{r.user_task}/{r.injection_task}" for r in attacked if r.security
        ),
        "attack_success_by_injection_task": {
            task: _rate([bool(r.security) for r in attacked if r.injection_task == task])
            for task in sorted({r.injection_task for r in attacked if r.injection_task})
        },
        "skipped_injection_tasks": plan.skipped,
        "void_runs": [
            f"{r.user_task}/{r.injection_task}: {r.status}({r.reason}): {r.summary}"
            for r in runs
            if r.void
        ],
    }
    if detect:
        labelled: dict[str, bool] = {}
        for r in benign:
            for text in r.outputs:
                labelled.setdefault(text, False)
        for (_, task, _), r in zip(plan.pairs, attacked, strict=True):
            for text in r.outputs:
                labelled[text] = labelled.get(text, False) or adt.injection_in(text, task.GOAL)
        figures.update(_detector_rates(labelled))
    figures["seconds"] = round(time.perf_counter() - started, 3)
    return figures


def _totals(per_suite: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def weighted(key: str, weight: str) -> float | None:
        pairs = [(s[key], s[weight]) for s in per_suite.values() if s[key] is not None]
        total = sum(w for _, w in pairs)
        return round(sum(v * w for v, w in pairs) / total, 4) if total else None

    return {
        "n_user_tasks": sum(s["n_user_tasks"] for s in per_suite.values()),
        "n_pairs": sum(s["n_pairs"] for s in per_suite.values()),
        "benign_utility": weighted("benign_utility", "n_user_tasks"),
        "attack_success_rate": weighted("attack_success_rate", "n_pairs"),
        "utility_under_attack": weighted("utility_under_attack", "n_pairs"),
        "void_runs": sum(len(s["void_runs"]) for s in per_suite.values()),
    }


async def measure(
    plans: dict[str, SuitePlan],
    args: argparse.Namespace,
    *,
    safety: bool,
    detect: bool,
    home: Path,
) -> dict[str, Any]:
    per_suite = {
        name: await measure_suite(plan, args, safety=safety, detect=detect, home=home)
        for name, plan in plans.items()
    }
    return {"suites": per_suite, "total": _totals(per_suite)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--suite", action="append", choices=adt.SUITES)
    parser.add_argument("--limit", type=int, default=None, help="pairs per suite")
    parser.add_argument("--tau-safety", choices=("on", "off"), default="on")
    parser.add_argument("--baseline", action="store_true", help="also run with tau-safety off")
    parser.add_argument("--approval", choices=("never", "deny"), default="never")
    parser.add_argument(
        "--injection",
        choices=("warn", "redact", "block"),
        default="redact",
        help="tau-safety's [safety] injection mode for the runs (default: redact, its default)",
    )
    parser.add_argument("--attack", default=adt.ATTACK)
    parser.add_argument("--benchmark-version", default=adt.BENCHMARK_VERSION)
    parser.add_argument("--jobs", type=int, default=2, help="runs at once per process")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    safety = args.tau_safety == "on"
    with tempfile.TemporaryDirectory(prefix="tau-agentdojo-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["TAU_HOME"] = str(home)
        (home / "work").mkdir()
        (home / "work" / "tau.toml").write_text(f'[safety]\ninjection = "{args.injection}"\n')
        plans = {name: plan_suite(name, args) for name in args.suite or adt.SUITES}
        report: dict[str, Any] = {
            "benchmark_version": args.benchmark_version,
            "attack": args.attack,
            "approval": args.approval,
            "injection_mode": args.injection,
            "model": "agentdojo_tau.ObeyingModel (plays ground truth, obeys every injection)",
            "tau_safety": args.tau_safety,
            **asyncio.run(measure(plans, args, safety=safety, detect=True, home=home)),
        }
        if args.baseline and safety:
            baseline = asyncio.run(measure(plans, args, safety=False, detect=False, home=home))
            report["baseline"] = baseline
    report["seconds"] = round(time.perf_counter() - started, 3)
    json.dump(report, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    void = report["total"]["void_runs"] + report.get("baseline", {}).get("total", {}).get(
        "void_runs", 0
    )
    if void:
        print(f"{void} run(s) failed or hit a plugin error: see void_runs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
