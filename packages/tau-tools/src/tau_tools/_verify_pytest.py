"""The ``pytest`` verifier: per-test evidence from JUnit XML.

``pytest`` runs ``PYTHON -m pytest -q -p no:cacheprovider --junitxml=TMP ARGS`` in the working
directory, inside the sandbox (read the workdir and the interpreter, write only the workdir and
a private temporary directory, no network), and turns the JUnit report into
:class:`~tau_core.TestCase` evidence. Green only when pytest exits 0, nothing failed or errored
and at least one test passed: "no tests collected" (exit code 5) or an all-skipped run is red,
never green.

The ``red_green`` verifier lives in :mod:`tau_tools._red_green`; its factory is re-exported
here because the plugin registers it as ``tau_tools._verify_pytest:red_green_verifier``. The
machinery both share (JUnit parsing, the sandboxed run, protected paths) is in
:mod:`tau_tools._pytest_run`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tau_core import VerifierResult, VerifyContext
from tau_core.errors import UsageError

from ._pytest_run import (
    DEFAULT_TIMEOUT,
    Undecidable,
    UnsafeReport,
    arg_list,
    find_protected,
    judge,
    parse_junit,
    python_option,
    run_pytest,
    timeout_option,
)
from ._red_green import RedGreenVerifier, red_green_verifier

__all__ = [
    "PytestVerifier",
    "RedGreenVerifier",
    "UnsafeReport",
    "parse_junit",
    "pytest_verifier",
    "red_green_verifier",
]


class PytestVerifier:
    """Runs pytest with JUnit XML in the sandbox; see the module docs for the verdict rules.

    Args:
        args: Extra pytest arguments (node ids, ``-k``, ``-x`` …).
        paths: Test paths to protect; default: those named in *args*, else ``tests/``,
            ``test/`` and top-level test files. Pytest's configuration files are always added.
        timeout: Seconds before pytest (and everything it started) is killed.
        python: The interpreter to run pytest with.
        read_paths: Extra directories the sandbox binds read-only (e.g. editable installs).
    """

    name = "pytest"

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        paths: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        python: str = sys.executable,
        read_paths: Sequence[str] = (),
    ) -> None:
        self.args = list(args)
        self.paths = list(paths)
        self.timeout = timeout
        self.python = python
        self.read_paths = [Path(p) for p in read_paths]

    def protected_paths(self, workdir: Path) -> list[Path]:
        """The test files and pytest configuration: read-only to the agent."""
        return find_protected(workdir, self.paths, [self.args])

    async def verify(self, context: VerifyContext) -> VerifierResult:
        """Run the suite once and report per-test evidence."""
        try:
            run = await run_pytest(
                context.workdir,
                self.args,
                python=self.python,
                timeout=self.timeout,
                protected=self.protected_paths(context.workdir),
                read_paths=self.read_paths,
            )
        except Undecidable as exc:
            return VerifierResult(self.name, "error", str(exc))
        status, summary = judge(run, self.timeout)
        return VerifierResult(
            self.name,
            status,
            summary,
            command=run.command,
            exit_code=run.exit_code,
            stdout_tail=run.stdout,
            stderr_tail=run.stderr,
            duration=run.duration,
            cases=run.cases,
            details={"confinement": run.confinement, "counts": dict(run.counts())},
        )


def pytest_verifier(options: Mapping[str, Any]) -> PytestVerifier:
    """The ``pytest`` verifier factory.

    Options: ``args`` (list or string), ``paths`` (list), ``timeout`` (seconds, default 600),
    ``python`` (default: the running interpreter), ``read_paths`` (list).

    Raises:
        UsageError: An option has the wrong type or names no interpreter.
    """
    known = {"args", "paths", "timeout", "python", "read_paths"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(
            f"the pytest verifier has no option(s) {unknown}; it takes {', '.join(sorted(known))}"
        )
    return PytestVerifier(
        arg_list(options.get("args"), "args", "pytest"),
        paths=arg_list(options.get("paths"), "paths", "pytest"),
        timeout=timeout_option(options, "pytest"),
        python=python_option(options, "pytest"),
        read_paths=arg_list(options.get("read_paths"), "read_paths", "pytest"),
    )
