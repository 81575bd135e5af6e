"""Startup cost: ``import tau_core`` and ``tau --help`` next to their peers, in one run.

Every figure is the wall time of a fresh subprocess, started from this script (so process
creation is in every figure alike). The commands run round-robin, in a shuffled order each
round, so a noisy stretch on a shared machine hits every command rather than one. Figures are
compared only with figures of the same run, as ratios ``tau / peer`` (below 1.0: Tau is
lighter).

Commands:

* ``baseline``: ``python -c pass``, the interpreter alone; ``overhead`` = figure − baseline.
* ``import_tau_core``: ``python -c "import tau_core"``.
* ``import_tau_core_deps``: importing tau-core's declared dependencies and nothing else.
* ``import_tau_core_agent``: ``from tau_core import Agent``, which resolves the lazy names a
  program actually uses (the loop, the authority, attrs classes).
* ``import_pydantic_ai_agent``: ``from pydantic_ai import Agent``, the same step in the peer.
* ``tau_help`` and ``llm_help``: ``tau --help`` and ``llm --help``, executables found next to
  this interpreter (same virtual environment).

Also recorded: what ``import tau_core``, ``from tau_core import Agent`` and ``tau --help``
(in-process) leave in ``sys.modules``, and whether httpx, keyring and cryptography (and SQLite,
pydantic, asyncio) stayed out.

Usage: ``python bench/bench_startup.py [--runs N]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

DEPS = ("pluggy", "attrs", "cattrs", "platformdirs", "tomli_w")
HEAVY = ("httpx", "httpx2", "keyring", "cryptography", "sqlite3", "pydantic", "asyncio")
MUST_BE_ABSENT = ("httpx", "keyring", "cryptography")
VERSIONS = (
    "tau-core",
    "llm",
    "pydantic-ai-slim",
    "pluggy",
    "attrs",
    "cattrs",
    "platformdirs",
    "tomli-w",
)

# Printed by a child interpreter: sys.modules after a statement, as JSON.
# (json is imported only after the second snapshot, so it counts in neither.)
_PROBE = """
import sys
before = set(sys.modules)
{statement}
after = set(sys.modules)
import json
print(json.dumps({{"total": len(after), "new": sorted(after - before)}}))
"""


# ``tau --help`` in-process, its help text kept out of the probe's JSON.
_TAU_HELP = """
import contextlib, io
from tau_core._cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["--help"])
"""


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for dist in VERSIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _executable(name: str) -> str | None:
    return shutil.which(name, path=str(Path(sys.executable).parent))


def _commands() -> tuple[dict[str, list[str]], dict[str, dict[str, str]]]:
    py = sys.executable
    commands = {
        "baseline": [py, "-c", "pass"],
        "import_tau_core": [py, "-c", "import tau_core"],
        "import_tau_core_deps": [py, "-c", f"import {', '.join(DEPS)}"],
        "import_tau_core_agent": [py, "-c", "from tau_core import Agent"],
        "import_pydantic_ai_agent": [py, "-c", "from pydantic_ai import Agent"],
    }
    errors: dict[str, dict[str, str]] = {}
    for key, exe in (("tau_help", "tau"), ("llm_help", "llm")):
        path = _executable(exe)
        if path is None:
            errors[key] = {
                "error": "not installed",
                "detail": f"no {exe} executable next to {sys.executable}",
            }
        else:
            commands[key] = [path, "--help"]
    return commands, errors


def _run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float | None, int, str]:
    """Wall ms, child CPU ms (user+sys, None where unavailable), exit code, stderr tail."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if hasattr(os, "wait4"):
        assert proc.stderr is not None
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - started) * 1000
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
        cpu: float | None = (usage.ru_utime + usage.ru_stime) * 1000
        return wall, cpu, proc.returncode, err.decode(errors="replace")[-400:]
    _, err_text = proc.communicate()
    wall = (time.perf_counter() - started) * 1000
    return wall, None, proc.returncode, err_text.decode(errors="replace")[-400:]


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = (
        statistics.quantiles(ordered, n=10, method="inclusive")[8]
        if len(ordered) > 1
        else ordered[0]
    )
    return {
        "median_ms": round(statistics.median(ordered), 2),
        "p90_ms": round(p90, 2),
        "min_ms": round(ordered[0], 2),
        "n": len(ordered),
    }


def _probe(statement: str, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(statement=statement)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode:
        return {"error": out.stderr[-400:]}
    data = json.loads(out.stdout)
    loaded = set(data["new"])
    return {
        "modules_total": data["total"],
        "modules_added": len(loaded),
        "heavy_loaded": {m: any(n == m or n.startswith(m + ".") for n in loaded) for m in HEAVY},
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffle")
    args = parser.parse_args()

    commands, results_err = _commands()
    with tempfile.TemporaryDirectory(prefix="tau-bench-") as tmp:
        # Private homes: no user configuration, plugins or keys change what the CLIs do.
        env = {
            **os.environ,
            "TAU_HOME": str(Path(tmp, "tau")),
            "LLM_USER_PATH": str(Path(tmp, "llm")),
        }
        for var in ("TAU_PLUGINS", "TAU_PLUGIN_MODULES", "TAU_DISABLE_PLUGIN_AUTOLOAD"):
            env.pop(var, None)
        # Warm-up (byte-code caches, page cache) and a check that every command works.
        for key, argv in list(commands.items()):
            _, _, code, err = _run_once(argv, env)
            if code != 0:
                results_err[key] = {"error": f"exit code {code}", "stderr": err}
                del commands[key]
        walls: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        rng = random.Random(args.seed)
        order = list(commands)
        for _ in range(args.runs):
            rng.shuffle(order)
            for key in order:
                wall, cpu, _, _ = _run_once(commands[key], env)
                walls[key].append(wall)
                if cpu is not None:
                    cpus[key].append(cpu)
        footprint = {
            "import tau_core": _probe("import tau_core", env),
            "from tau_core import Agent": _probe("from tau_core import Agent", env),
            "tau --help": _probe(_TAU_HELP, env),
        }

    figures: dict[str, Any] = {}
    for key in commands:
        figures[key] = {
            "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(commands[key])),
            "wall": _stats(walls[key]),
        }
        if cpus[key]:
            figures[key]["cpu"] = _stats(cpus[key])
    figures.update(results_err)

    def median(key: str, kind: str = "wall") -> float | None:
        fig = figures.get(key, {})
        return fig[kind]["median_ms"] if kind in fig else None

    base = median("baseline")
    for fig in figures.values():
        if "wall" in fig and base is not None:
            fig["overhead_median_ms"] = round(fig["wall"]["median_ms"] - base, 2)

    def overhead(key: str) -> float | None:
        return figures.get(key, {}).get("overhead_median_ms")

    pairs = {
        # ``import tau_core`` defers everything; the Agent import is what a program pays.
        "import_tau_core/import_tau_core_deps": ("import_tau_core", "import_tau_core_deps"),
        "import_tau_core_agent/import_tau_core_deps": (
            "import_tau_core_agent",
            "import_tau_core_deps",
        ),
        "import_tau_core_agent/import_pydantic_ai_agent": (
            "import_tau_core_agent",
            "import_pydantic_ai_agent",
        ),
        "tau_help/llm_help": ("tau_help", "llm_help"),
    }
    ratios = {
        name: {
            "wall_median": _ratio(median(a), median(b)),
            "overhead_median": _ratio(overhead(a), overhead(b)),
            "cpu_median": _ratio(median(a, "cpu"), median(b, "cpu")),
        }
        for name, (a, b) in pairs.items()
    }
    tau_import = footprint["import tau_core"]
    loaded = tau_import.get("heavy_loaded")
    absent = {m: None if loaded is None else not loaded[m] for m in MUST_BE_ABSENT}
    report = {
        "benchmark": "startup",
        "machine": _machine(),
        "versions": _versions(),
        "runs": args.runs,
        "figures": figures,
        "ratios": ratios,
        "ratio_meaning": "tau / peer of the medians; below 1.0 means Tau is lighter. "
        "overhead = median minus the baseline median (python -c pass)",
        "import_footprint": footprint,
        "import_tau_core_heavy_absent": absent,
        "import_tau_core_is_light": None if loaded is None else all(absent.values()),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
