"""The ``red_green`` verifier: the test fails before the change, passes after it.

See :class:`RedGreenVerifier`. The sandboxed runs, JUnit parsing and protected paths are shared
with the ``pytest`` verifier (:mod:`tau_tools._pytest_run`).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from attrs import frozen

from tau_core import TestCase, VerifierResult, VerifyContext
from tau_core.errors import UsageError

from ._pytest_run import (
    DEFAULT_TIMEOUT,
    PytestRun,
    Status,
    Undecidable,
    arg_list,
    find_protected,
    judge,
    python_option,
    run_command,
    run_pytest,
    timeout_option,
)

__all__ = ["Check", "RedGreenVerifier", "red_green_verifier"]


@frozen
class Check:
    """What red_green runs: pytest arguments (per-test evidence) or a command (exit code)."""

    pytest_args: tuple[str, ...] | None = None
    command: tuple[str, ...] | None = None

    @property
    def argv(self) -> list[str]:
        return list(self.pytest_args if self.pytest_args is not None else self.command or ())


@frozen
class Base:
    """The state before the change, as a git object.

    Attributes:
        id: The full object id.
        kind: ``tree`` for the run's starting snapshot, ``commit`` for a commit.
        source: Where it came from: ``run_start`` (the snapshot tau-core took when the run
            started), ``option`` (the ``base`` option), ``tau_run`` (the parent of the run's
            first ``Tau-Run`` commit) or ``head`` (HEAD when the run started, or now).
    """

    id: str
    kind: Literal["tree", "commit"]
    source: Literal["run_start", "option", "tau_run", "head"]

    def label(self) -> str:
        """A short name for summaries."""
        if self.kind == "tree":
            return f"the run's starting state, tree {self.id[:12]}"
        return f"commit {self.id[:12]}"


class RedGreenVerifier:
    """RED before the change, GREEN after it, and no regression.

    At the first :meth:`verify` the change has already happened, so the "before" state is
    rebuilt from git: by default the run's starting snapshot (:attr:`VerifyContext.baseline`
    ``{"kind": "git", "tree": ...}``: the working tree when the run started, with uncommitted
    changes and untracked, non-ignored files). Only when that is absent (no snapshot, or the
    snapshot failed) does it fall back to a commit: the parent of the run's first ``Tau-Run``
    commit, else HEAD as recorded when the loop asked for the protected paths. The ``base``
    option names a commit and overrides both. That tree or commit is checked out into a
    temporary directory through a private index (the repository's index, branches and
    worktrees are never touched), the current test files (the protected paths, which the agent
    could not change) are laid over it, and the test runs there: it must FAIL. It must then
    PASS in the working directory, and every regression test that passed at the start must
    still pass (pass-to-pass). The baseline runs happen once and are reused by later attempts.

    A working directory outside any git repository is an ``error``.
    """

    name = "red_green"

    def __init__(
        self,
        test: Check,
        regression: Check,
        *,
        base: str | None = None,
        paths: Sequence[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        python: str = sys.executable,
        read_paths: Sequence[str] = (),
    ) -> None:
        self.test = test
        self.regression = regression
        self.base = base
        self.paths = list(paths)
        self.timeout = timeout
        self.python = python
        self.read_paths = [Path(p) for p in read_paths]
        self.start_head: str | None = None
        self._before: dict[str, tuple[PytestRun, PytestRun | None]] = {}

    def protected_paths(self, workdir: Path) -> list[Path]:
        """The test and regression inputs; also records HEAD (the fallback starting commit)."""
        if self.start_head is None:
            self.start_head = _head(workdir)
        found = set(find_protected(workdir, self.paths, [self.test.argv]))
        found |= set(find_protected(workdir, self.paths, [self.regression.argv]))
        return sorted(found)

    async def _run(self, check: Check, workdir: Path, protected: Sequence[Path]) -> PytestRun:
        runner = run_pytest if check.pytest_args is not None else run_command
        argv = check.argv
        if check.command is not None and argv[0] in ("python", "python3"):
            argv = [self.python, *argv[1:]]  # "python" means the verifier's interpreter
        return await runner(
            workdir,
            argv,
            python=self.python,
            timeout=self.timeout,
            protected=protected,
            read_paths=self.read_paths,
        )

    async def _base(self, context: VerifyContext, repo: Any) -> Base:
        """The before state: ``base``, else the run's starting tree, else a fallback commit."""
        from ._git import run_git

        if self.base is not None:
            return Base(await _resolve(repo, self.base, "commit"), "commit", "option")
        if context.baseline.get("kind") == "git":
            tree = context.baseline.get("tree")
            if not isinstance(tree, str) or not tree or tree.startswith("-"):
                raise Undecidable(
                    f"the run's starting snapshot names no usable tree ({tree!r}); pass the "
                    "option base to compare against a commit instead"
                )
            return Base(await _resolve(repo, tree, "tree"), "tree", "run_start")
        log = await run_git(
            ["log", "--format=%H", "--fixed-strings", f"--grep=Tau-Run: {context.run_id}"],
            repo.toplevel,
            repo=repo,
        )
        shas = log.stdout.split() if log.exit_code == 0 else []
        if shas:
            return Base(await _resolve(repo, f"{shas[-1]}^", "commit"), "commit", "tau_run")
        return Base(await _resolve(repo, self.start_head or "HEAD", "commit"), "commit", "head")

    async def _baseline(
        self, repo: Any, workdir: Path, base: Base, protected: Sequence[Path]
    ) -> tuple[PytestRun, PytestRun | None]:
        if base.id in self._before:
            return self._before[base.id]
        with tempfile.TemporaryDirectory(prefix="tau-baseline-") as tmp:
            base_workdir = await _materialize(repo, workdir, base, Path(os.path.realpath(tmp)))
            for path in protected:
                _overlay(path, workdir, base_workdir)
            moved = [base_workdir / p.relative_to(workdir) for p in protected]
            before = await self._run(self.test, base_workdir, moved)
            regression = None
            if self.regression.pytest_args is not None:
                regression = await self._run(self.regression, base_workdir, moved)
        self._before[base.id] = (before, regression)
        return before, regression

    async def verify(self, context: VerifyContext) -> VerifierResult:
        """Check red-before (once), green-after and pass-to-pass; see the class docs."""
        try:
            return await self._verify(context)
        except Undecidable as exc:
            return VerifierResult(self.name, "error", str(exc))

    async def _verify(self, context: VerifyContext) -> VerifierResult:
        from ._git import locate_repo

        started = time.perf_counter()
        workdir = Path(os.path.realpath(context.workdir))
        repo = locate_repo(workdir)
        if repo is None:
            return VerifierResult(
                self.name,
                "error",
                f"red_green needs a git repository to rebuild the state before the change; "
                f"{workdir} is not in one (use the pytest verifier instead, or git init and "
                "commit the starting state)",
            )
        protected = self.protected_paths(workdir)
        base = await self._base(context, repo)
        cached = base.id in self._before
        before, reg_before = await self._baseline(repo, workdir, base, protected)
        details: dict[str, Any] = {
            "base": base.id,
            "base_kind": base.kind,
            "base_source": base.source,
            "before_cached": cached,
            "before": before.to_json(),
        }
        problem = _red_before(before, self.test, self.timeout)
        if problem is not None:
            return VerifierResult(
                self.name,
                "error",
                problem,
                command=before.command,
                exit_code=before.exit_code,
                stdout_tail=before.stdout,
                stderr_tail=before.stderr,
                duration=time.perf_counter() - started,
                cases=before.cases,
                details=details,
            )
        after = await self._run(self.test, workdir, protected)
        regression = await self._run(self.regression, workdir, protected)
        details |= {"after": after.to_json(), "regression": regression.to_json()}
        if reg_before is not None:
            details["regression_before"] = reg_before.to_json()
        status, summary, regressed = _verdict(
            after, regression, reg_before, test=self.test, timeout=self.timeout, base=base
        )
        details["regressed"] = [c.name for c in regressed]
        after_ok = _passed(after, self.test, self.timeout)[0] == "green"
        shown = regression if after_ok and status != "green" else after
        return VerifierResult(
            self.name,
            status,
            summary,
            command=shown.command,
            exit_code=shown.exit_code,
            stdout_tail=shown.stdout,
            stderr_tail=shown.stderr,
            duration=time.perf_counter() - started,
            cases=(*after.cases, *regressed),
            details=details,
        )


def _passed(run: PytestRun, check: Check, timeout: float) -> tuple[Status, str]:
    if check.pytest_args is not None:
        return judge(run, timeout)
    if run.timed_out:
        return "red", f"the command did not finish in {timeout:g}s and was killed"
    if run.exit_code in (126, 127):
        return "error", f"the command could not start (exit code {run.exit_code})"
    if run.exit_code == 0:
        return "green", "the command exited 0"
    return "red", f"the command exited {run.exit_code}"


def _red_before(before: PytestRun, check: Check, timeout: float) -> str | None:
    """None when the test genuinely failed before the change; else why the verifier can't tell."""
    status, summary = _passed(before, check, timeout)
    if status == "green":
        return "the test does not reproduce the problem: it passes before the change"
    if status == "error":
        return f"the test could not run on the state before the change: {summary}"
    if check.pytest_args is None or before.timed_out:
        return None
    counts = before.counts()
    if counts["failed"] or counts["error"]:
        return None
    return f"the test did not fail before the change, it was inconclusive: {summary}"


def _verdict(
    after: PytestRun,
    regression: PytestRun,
    reg_before: PytestRun | None,
    *,
    test: Check,
    timeout: float,
    base: Base,
) -> tuple[Status, str, list[TestCase]]:
    status, summary = _passed(after, test, timeout)
    if status == "error":
        return "error", f"the test could not run after the change: {summary}", []
    regressed: list[TestCase] = []
    if reg_before is None:
        reg_status, reg_summary = _passed(regression, Check(command=()), timeout)
        reg_note = f"regression command: {reg_summary}"
        if reg_status != "green":
            return (
                "red" if status == "green" else status,
                f"the regression command fails after the change ({reg_summary})"
                + ("" if status == "green" else f"; the test: {summary}"),
                [],
            )
    else:
        if regression.report_error is not None and not regression.timed_out:
            return "error", f"the regression run is unusable: {regression.report_error}", []
        now = {c.name: c for c in regression.cases}
        was = [c.name for c in reg_before.cases if c.outcome == "passed"]
        for name in was:
            case = now.get(name)
            if case is None or case.outcome != "passed":
                outcome = "error" if case is None else case.outcome
                if outcome == "skipped":
                    outcome = "failed"
                why = "did not run" if case is None else f"is now {case.outcome}"
                message = f"passed before the change, {why}" + (
                    f": {case.message}" if case is not None and case.message else ""
                )
                regressed.append(TestCase(name, outcome, message))
        reg_note = f"regression: {len(was) - len(regressed)} of {len(was)} passing tests still pass"
        if regression.timed_out:
            return "red", f"the regression run did not finish in {timeout:g}s", regressed
    if regressed:
        names = ", ".join(c.name for c in regressed[:5])
        more = f" and {len(regressed) - 5} more" if len(regressed) > 5 else ""
        return (
            "red",
            f"{len(regressed)} test(s) that passed before now fail: {names}{more}",
            regressed,
        )
    if status != "green":
        return status, f"the test still fails after the change: {summary}; {reg_note}", []
    return "green", f"red before (at {base.label()}), green after ({summary}); {reg_note}", []


def _head(workdir: Path) -> str | None:
    import subprocess

    from ._git import git_env, locate_repo

    repo = locate_repo(workdir)
    if repo is None:
        return None
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"],
            cwd=repo.toplevel,
            env=git_env(repo),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


async def _resolve(repo: Any, ref: str, kind: Literal["tree", "commit"]) -> str:
    """The full id of *ref* as a *kind* object.

    Raises:
        Undecidable: The object does not exist in the repository.
    """
    from ._git import run_git

    out = await run_git(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{{kind}}}"],
        repo.toplevel,
        repo=repo,
    )
    if out.exit_code == 0:
        return out.stdout.strip()
    if kind == "tree":
        raise Undecidable(
            f"the run's starting snapshot (tree {ref[:12]}) is not in the repository at "
            f"{repo.toplevel}; red_green rebuilds the state before the change from it (pass "
            "the option base to compare against a commit instead)"
        )
    raise Undecidable(
        f"the baseline commit {ref!r} does not exist; red_green compares against the "
        "commit the run started from, so the repository needs one (commit first, or "
        "pass the option base)"
    )


async def _materialize(repo: Any, workdir: Path, base: Base, tmp: Path) -> Path:
    """Check *base* out under *tmp* through a private index; returns the workdir's copy."""
    from ._git import run_git

    env = {"GIT_INDEX_FILE": str(tmp / "index")}
    tree = tmp / "tree"
    for args in (
        ["read-tree", base.id],
        ["checkout-index", "--all", "--force", f"--prefix={tree}/"],
    ):
        out = await run_git(args, repo.toplevel, repo=repo, extra_env=env, timeout=300)
        if out.exit_code != 0:
            raise Undecidable(
                f"could not check out the baseline ({base.label()}): git {args[0]} failed "
                f"({out.stderr_tail.strip()})"
            )
    base_workdir = tree / workdir.relative_to(repo.toplevel)
    base_workdir.mkdir(parents=True, exist_ok=True)
    return base_workdir


def _overlay(path: Path, workdir: Path, base_workdir: Path) -> None:
    target = base_workdir / path.relative_to(workdir)
    if path.is_dir():
        shutil.copytree(
            path,
            target,
            dirs_exist_ok=True,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    elif path.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _check(options: Mapping[str, Any], pytest_key: str, command_key: str) -> Check | None:
    if pytest_key in options and command_key in options:
        raise UsageError(
            f"the red_green verifier takes {pytest_key!r} or {command_key!r}, not both"
        )
    if pytest_key in options:
        return Check(pytest_args=tuple(arg_list(options[pytest_key], pytest_key, "red_green")))
    if command_key in options:
        argv = arg_list(options[command_key], command_key, "red_green")
        if not argv:
            raise UsageError(f"the red_green verifier's {command_key!r} is empty")
        return Check(command=tuple(argv))
    return None


def red_green_verifier(options: Mapping[str, Any]) -> RedGreenVerifier:
    """The ``red_green`` verifier factory.

    Options: ``test`` (pytest node ids or arguments) or ``test_command`` (a command; exit code
    0 passes): the RED→GREEN check, required. ``regression`` (pytest arguments; default: the
    whole suite, compared test by test) or ``regression_command`` (must exit 0 after the
    change). ``base`` (a commit to use as the state before the change; default: the run's
    starting snapshot, uncommitted and untracked files included), ``paths``, ``timeout``,
    ``python``, ``read_paths`` as for ``pytest``.

    Raises:
        UsageError: A missing or malformed option.
    """
    known = {
        "test",
        "test_command",
        "regression",
        "regression_command",
        "base",
        "paths",
        "timeout",
        "python",
        "read_paths",
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(
            f"the red_green verifier has no option(s) {unknown}; it takes "
            f"{', '.join(sorted(known))}"
        )
    test = _check(options, "test", "test_command")
    if test is None or not test.argv:
        raise UsageError(
            "the red_green verifier needs 'test' (pytest node ids that fail before the fix) "
            "or 'test_command'"
        )
    regression = _check(options, "regression", "regression_command") or Check(pytest_args=())
    base = options.get("base")
    if base is not None and (not isinstance(base, str) or not base or base.startswith("-")):
        raise UsageError(f"the red_green verifier's 'base' must be a commit name, not {base!r}")
    return RedGreenVerifier(
        test,
        regression,
        base=base,
        paths=arg_list(options.get("paths"), "paths", "red_green"),
        timeout=timeout_option(options, "red_green"),
        python=python_option(options, "red_green"),
        read_paths=arg_list(options.get("read_paths"), "read_paths", "red_green"),
    )
