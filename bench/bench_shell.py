"""Shell tool overhead: parse + sandbox start + run, next to a bare ``subprocess.run``, one run.

For each command (``true`` and ``echo hello``) the script times, round-robin in a shuffled
order each round so a noisy stretch hits every variant alike:

* ``bare``: ``subprocess.run(["bash", "-c", CMD])``, the peer: no parse, no sandbox;
* ``parse``: :func:`tau_tools._shellparse.parse_command` alone;
* ``shell_tool``: the shell tool's ``capabilities`` (the parse) and ``run`` (launcher,
  sandbox start, the command, output capture), as tau-core's loop calls them.

Figures are medians in milliseconds; ``ratio`` is ``shell_tool / bare`` within the same run
(never compare absolute times across machines). The confinement used is recorded.

Usage: ``python bench/bench_shell.py [--runs N]``; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tau_core import Authority, ToolCall
from tau_core._hookcontext import ToolCallContext
from tau_tools._shell import ShellTool
from tau_tools._shellparse import parse_command

COMMANDS = {"true": "true", "echo": "echo hello"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    runs = parser.parse_args().runs
    tool = ShellTool()
    authority = Authority.parse(["read:.", "exec:true", "exec:echo"])
    times: dict[str, list[float]] = {}
    confinement = set()
    with tempfile.TemporaryDirectory(prefix="bench-shell-") as tmp:
        workdir = Path(tmp)

        def bare(cmd: str) -> None:
            subprocess.run(["bash", "-c", cmd], capture_output=True, check=True)

        def parse(cmd: str) -> None:
            parse_command(cmd)

        def shell(cmd: str) -> None:
            args = {"command": cmd}
            tool.capabilities(args, workdir)
            call = ToolCall("c", "shell", args)
            context = ToolCallContext(call=call, spec=tool.spec, run_id="bench", workdir=workdir,
                                      idempotency_key="k", authority=authority)  # fmt: skip
            result = asyncio.run(tool.run(args, context))
            if not result.ok or result.metadata["exit_code"] != 0:
                raise SystemExit(f"the shell tool failed: {result.content}")
            confinement.add(result.metadata["confinement"])

        variants = {"bare": bare, "parse": parse, "shell_tool": shell}
        shell("true")  # warm: the sandbox probe runs once per process
        for _ in range(runs):
            jobs = [(v, c) for v in variants for c in COMMANDS]
            random.shuffle(jobs)
            for variant, name in jobs:
                started = time.perf_counter()
                variants[variant](COMMANDS[name])
                times.setdefault(f"{variant}:{name}", []).append(time.perf_counter() - started)
    medians = {k: round(statistics.median(v) * 1000, 3) for k, v in sorted(times.items())}
    report = {
        "benchmark": "shell_tool_overhead",
        "runs": runs,
        "python": platform.python_version(),
        "confinement": sorted(confinement),
        "median_ms": medians,
        "ratio_shell_tool_to_bare": {
            name: round(medians[f"shell_tool:{name}"] / medians[f"bare:{name}"], 2)
            for name in COMMANDS
        },
        "overhead_ms": {
            name: round(medians[f"shell_tool:{name}"] - medians[f"bare:{name}"], 3)
            for name in COMMANDS
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
