"""The loop's overhead per model turn, with the journal on, next to pydantic-ai in one run.

Each run plays *N* model turns that each call one no-op tool, then one final text turn. The
model and the tool cost nothing, so the whole wall time of a run is the framework's overhead;
it is divided by *N* and nothing is subtracted.

Variants (all in one process, alternated run by run in a shuffled order):

* ``tau``: ``tau_core.Agent`` with ``tau_core.testing.ScriptedModel``, a ``FakeTool("noop")``
  (``side_effect="none"``) registered through a plugin, a green ``ScriptedVerifier``, and the
  default SQLite journal (``synchronous=NORMAL``) in a private ``TAU_HOME``.
* ``tau_sync_full``: the same with ``Journal(path, synchronous="full")``: every commit fsynced.
* ``tau_write_tool``: the same as ``tau`` with a side-effecting, non-idempotent tool
  (``FakeTool("noop_write", side_effect="write")``): every call first commits an fsynced intent.
* ``pydantic_ai``: ``pydantic_ai.Agent`` with a ``FunctionModel`` whose (async) function returns
  one ``ToolCallPart`` for an async no-op tool *N* times, then a ``TextPart``; no journal.

The timed part is ``agent.run(...)`` / ``agent.run_sync(...)``; opening Tau's journal happens
before it (a once-per-process cost) and is reported on its own as ``journal_open_ms``. Peak
memory comes from one more, untimed run of each variant under ``tracemalloc``.

Usage: ``python bench/bench_loop.py [--turns N] [--runs R] [--tmpdir DIR]``; prints one JSON
object. Ratios are ``tau / pydantic-ai`` of the medians: below 1.0 means Tau is lighter.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

VERSIONS = ("tau-core", "pydantic-ai-slim", "pydantic", "pluggy", "attrs", "cattrs")
TAU_VARIANTS = ("tau", "tau_sync_full", "tau_write_tool")
GOAL = "Call the tool until the script ends."

RunResult = dict[str, Any]


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in VERSIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _filesystem(path: Path) -> str | None:
    """The file-system type holding *path* (Linux only; None elsewhere)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = fields[1]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, fstype = mount, fields[2]
    return fstype


def _machine(tmp: Path) -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "journal_filesystem": _filesystem(tmp),
    }


def _timed(fn: Callable[[], Any], *, trace: bool) -> tuple[Any, dict[str, Any]]:
    """Run *fn*: its result, and wall seconds, CPU seconds and peak traced bytes (if *trace*)."""
    gc.collect()
    if trace:
        tracemalloc.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        result = fn()
    finally:
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
    return result, {"seconds": elapsed, "cpu_seconds": cpu, "peak_bytes": peak}


def run_tau(variant: str, turns: int, home: Path, *, trace: bool = False) -> RunResult:
    import tau_core
    from tau_core import testing

    with testing.isolated_home(home, keyring=False):
        if variant == "tau_write_tool":
            tool = testing.FakeTool("noop_write", side_effect="write", needs=[])
        else:
            tool = testing.FakeTool("noop")
        plugins = testing.fresh_plugin_manager(testing.make_plugin(tools=[tool]))
        script = [{"tool_calls": [{"name": tool.spec.name, "arguments": {}}]}] * turns
        model = testing.ScriptedModel([*script, {"text": "done"}])
        budgets = tau_core.Budgets(max_turns=turns + 1, max_tool_calls=turns)
        opened = time.perf_counter()
        journal = (
            tau_core.Journal(home / "journal.sqlite3", synchronous="full")
            if variant == "tau_sync_full"
            else None
        )
        agent = tau_core.Agent(
            model,
            verifier=testing.ScriptedVerifier("green"),
            authority=tau_core.Authority.from_preset("read-only", budgets=budgets),
            plugins=plugins,
            journal=journal,
        )
        journal = agent.journal  # the default Journal of this TAU_HOME, when none was given
        journal_open = time.perf_counter() - opened
        workdir = home / "work"
        workdir.mkdir()
        try:
            outcome, timing = _timed(lambda: agent.run(GOAL, workdir=workdir), trace=trace)
            if outcome.status != "verified" or len(tool.calls) != turns:
                raise RuntimeError(
                    f"{variant}: the run ended {outcome.status} "
                    f"({outcome.reason}: {outcome.summary}) after "
                    f"{len(tool.calls)} tool calls; expected verified after "
                    f"{turns}"
                )
            kinds = collections.Counter(e.kind for e in journal.events(outcome.evidence.run_id))
        finally:
            journal.close()
    return {
        **timing,
        "journal_open": journal_open,
        "events": dict(sorted(kinds.items())),
        "synchronous": journal.synchronous.lower(),
    }


def run_pydantic_ai(turns: int, *, trace: bool = False) -> RunResult:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_ai.usage import UsageLimits

    # Async model function and async tool: a sync one would run in a worker thread, which would
    # charge pydantic-ai for a thread hop Tau's async FakeTool does not make.
    async def model_fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        turn = sum(1 for m in messages if isinstance(m, ModelResponse))
        if turn < turns:
            return ModelResponse(parts=[ToolCallPart("noop", {}, tool_call_id=f"call_{turn}")])
        return ModelResponse(parts=[TextPart("done")])

    calls = 0
    agent = Agent(FunctionModel(model_fn), name="bench")

    @agent.tool_plain
    async def noop() -> str:
        """Do nothing."""
        nonlocal calls
        calls += 1
        return "ok"

    limits = UsageLimits(request_limit=turns + 10)
    result, timing = _timed(lambda: agent.run_sync(GOAL, usage_limits=limits), trace=trace)
    if result.output != "done" or calls != turns:
        raise RuntimeError(
            f"pydantic_ai: the run answered {result.output!r} after {calls} tool "
            f"calls; expected 'done' after {turns}"
        )
    return timing


def _one(variant: str, turns: int, tmp: Path, index: str, *, trace: bool = False) -> RunResult:
    if variant == "pydantic_ai":
        return run_pydantic_ai(turns, trace=trace)
    return run_tau(variant, turns, tmp / f"{variant}-{index}", trace=trace)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _summary(runs: list[RunResult], turns: int) -> dict[str, Any]:
    per_turn = sorted(x["seconds"] / turns * 1e6 for x in runs)
    cpu = statistics.median(x["cpu_seconds"] / turns * 1e6 for x in runs)
    return {
        "per_turn_us": {
            "median": round(statistics.median(per_turn), 1),
            "min": round(per_turn[0], 1),
            "max": round(per_turn[-1], 1),
            "runs": [round(x, 1) for x in per_turn],
        },
        "cpu_per_turn_us_median": round(cpu, 1),
        "run_ms_median": round(statistics.median(x["seconds"] for x in runs) * 1e3, 2),
    }


def _journal_summary(runs: list[RunResult], turns: int) -> dict[str, Any]:
    events = runs[0]["events"]
    total = sum(events.values())
    return {
        "synchronous": runs[0]["synchronous"],
        "events_per_run": total,
        "events_per_turn": round(total / turns, 2),
        "events_by_kind": events,
        "open_ms_median": round(statistics.median(x["journal_open"] for x in runs) * 1e3, 2),
    }


def _ratios(
    figures: dict[str, Any], figure: Callable[[dict[str, Any]], float]
) -> dict[str, float | None]:
    base = figure(figures["pydantic_ai"])
    return {f"{v}/pydantic_ai": _ratio(figure(figures[v]), base) for v in TAU_VARIANTS}


def _per_turn(fig: dict[str, Any]) -> float:
    return float(fig["per_turn_us"]["median"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200, help="tool-calling turns per run")
    parser.add_argument(
        "--short-turns",
        type=int,
        default=20,
        help="turns of the short runs that show how cost grows with history",
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs per variant and length")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffle")
    parser.add_argument("--tmpdir", help="where journals are written (default: the system's)")
    args = parser.parse_args()
    variants = [*TAU_VARIANTS, "pydantic_ai"]
    lengths = [args.turns, args.short_turns]

    with tempfile.TemporaryDirectory(prefix="tau-bench-", dir=args.tmpdir) as tmp_name:
        tmp = Path(tmp_name)
        machine = _machine(tmp)
        for v in variants:  # warm-up: imports, caches, first-call schema building
            _one(v, args.turns, tmp, "warmup")
        runs: dict[tuple[str, int], list[RunResult]] = {
            (v, n): [] for v in variants for n in lengths
        }
        rng = random.Random(args.seed)
        order = list(runs)
        for r in range(args.runs):
            rng.shuffle(order)
            for v, n in order:
                runs[v, n].append(_one(v, n, tmp, f"{n}-{r}"))
        peaks = {v: _one(v, args.turns, tmp, "memory", trace=True)["peak_bytes"] for v in variants}

    figures: dict[str, Any] = {}
    short: dict[str, Any] = {}
    for v in variants:
        figures[v] = _summary(runs[v, args.turns], args.turns)
        figures[v]["peak_traced_kib"] = round(peaks[v] / 1024, 1)
        short[v] = _summary(runs[v, args.short_turns], args.short_turns)
        if v in TAU_VARIANTS:
            figures[v]["journal"] = _journal_summary(runs[v, args.turns], args.turns)

    ratios = _ratios(figures, _per_turn)
    short_ratios = _ratios(short, _per_turn)
    report = {
        "benchmark": "loop",
        "machine": machine,
        "versions": _versions(),
        "turns": args.turns,
        "runs": args.runs,
        "figures": figures,
        "ratios_per_turn": ratios,
        "ratios_cpu_per_turn": _ratios(figures, lambda f: f["cpu_per_turn_us_median"]),
        "ratios_peak_memory": _ratios(figures, lambda f: f["peak_traced_kib"]),
        "short_runs": {
            "turns": args.short_turns,
            "figures": short,
            "ratios_per_turn": short_ratios,
        },
        "ratio_meaning": "tau / pydantic-ai of the medians; below 1.0 means Tau is lighter",
        "tau_lighter_than_pydantic_ai": {
            f"{name}@{n}_turns": r is not None and r < 1.0
            for n, rs in ((args.turns, ratios), (args.short_turns, short_ratios))
            for name, r in rs.items()
        },
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
