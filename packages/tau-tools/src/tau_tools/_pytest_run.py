"""Running pytest (or a check command) in the sandbox, and reading its JUnit report.

Shared by the ``pytest`` verifier (:mod:`tau_tools._verify_pytest`) and the ``red_green``
verifier (:mod:`tau_tools._red_green`): JUnit parsing that refuses DTDs and entities, the
sandbox invocation (read the workdir and the interpreter, write only the workdir and a private
temporary directory, no network), the protected-path computation, the verdict rules for one
pytest run, and the option checks both verifiers use.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from xml.etree import ElementTree as ET

from attrs import frozen

from tau_core import TestCase
from tau_core.errors import UsageError

if TYPE_CHECKING:
    from ._sandbox import SandboxPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "PytestRun",
    "Status",
    "Undecidable",
    "UnsafeReport",
    "arg_list",
    "find_protected",
    "interpreter_paths",
    "judge",
    "parse_junit",
    "python_option",
    "run_command",
    "run_pytest",
    "timeout_option",
]

DEFAULT_TIMEOUT = 600.0
TAIL = 4_000
MESSAGE_CHARS = 2_000
_DEFAULT_TEST_DIRS = ("tests", "test")
_CONFIG_MARKERS = {
    "pytest.ini": None,
    "tox.ini": "[pytest]",
    "setup.cfg": "[tool:pytest]",
    "pyproject.toml": "[tool.pytest",
}


class Undecidable(Exception):
    """A verifier cannot decide (no sandbox, no baseline); the message becomes the summary."""


class UnsafeReport(ValueError):
    """A JUnit report declared a DTD or entities; it is refused, never expanded."""


def parse_junit(data: bytes) -> list[TestCase]:
    """Parse a JUnit XML report into test cases.

    A report with a ``<!DOCTYPE`` or ``<!ENTITY`` declaration is refused (pytest never writes
    one), so no entity is ever expanded.

    Raises:
        UnsafeReport: The report declares a DTD or entities.
        xml.etree.ElementTree.ParseError: The report is not well-formed XML.
    """
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeReport("the JUnit report declares a DTD or entities; refusing to parse it")
    parser = ET.XMLParser()  # noqa: S314 - DTDs and entities are refused above
    parser.feed(data)
    root = parser.close()
    cases = []
    for element in root.iter("testcase"):
        classname = element.get("classname", "")
        name = element.get("name", "")
        outcome: Literal["passed", "failed", "error", "skipped"] = "passed"
        message = ""
        for kind, label in (("error", "error"), ("failure", "failed"), ("skipped", "skipped")):
            child = element.find(kind)
            if child is not None:
                outcome = label  # type: ignore[assignment]
                message = _message(child)
                break
        try:
            duration: float | None = float(element.get("time", ""))
        except ValueError:
            duration = None
        full = f"{classname}::{name}" if classname else name
        cases.append(TestCase(full, outcome, message, duration))
    return cases


def _message(element: ET.Element) -> str:
    head = (element.get("message") or "").strip()
    body = (element.text or "").strip()
    if body and body != head:
        body = body[-MESSAGE_CHARS:]
        text = f"{head}\n{body}" if head and head not in body else body
    else:
        text = head
    return text[: MESSAGE_CHARS * 2]


def arg_list(value: object, option: str, verifier: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise UsageError(
        f"the {verifier} verifier's option {option!r} must be a list of strings or one string, "
        f"not {value!r}"
    )


def timeout_option(options: Mapping[str, Any], verifier: str) -> float:
    value = options.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise UsageError(
            f"the {verifier} verifier's option 'timeout' must be a positive number of seconds, "
            f"not {value!r}"
        )
    return float(value)


def python_option(options: Mapping[str, Any], verifier: str) -> str:
    value = options.get("python") or sys.executable
    if not isinstance(value, str):
        raise UsageError(f"the {verifier} verifier's option 'python' must be a path, not {value!r}")
    found = value if os.path.isabs(value) else shutil.which(value)
    if not found or not os.path.exists(found):
        raise UsageError(
            f"the {verifier} verifier's python {value!r} does not exist; pass an interpreter "
            "path (default: the interpreter running Tau)"
        )
    return found


_QUERY = "import json, sys; print(json.dumps([sys.prefix, sys.base_prefix, *sys.path]))"
_interpreter_cache: dict[str, tuple[Path, ...]] = {}


def interpreter_paths(python: str) -> tuple[Path, ...]:
    """Directories the sandbox must bind read-only so *python* and its packages can run.

    The interpreter's prefixes and every directory on its ``sys.path`` (editable installs
    put their source trees there); for another interpreter than the running one, it is asked
    once (``python -I -c ...``) and the answer is cached.
    """
    key = os.path.realpath(python)
    if key in _interpreter_cache:
        return _interpreter_cache[key]
    exe = Path(python).absolute()
    found = {exe.parent.parent, Path(key).parent.parent}
    if key == os.path.realpath(sys.executable):
        entries = [sys.prefix, sys.base_prefix, *sys.path]
    else:
        entries = _ask_interpreter(python)
    found |= {Path(e) for e in entries if e and os.path.isabs(e)}
    paths = tuple(
        sorted({Path(os.path.realpath(p)) for p in found if p.is_dir() and p != Path("/")})
    )
    _interpreter_cache[key] = paths
    return paths


def _ask_interpreter(python: str) -> list[str]:
    import json
    import subprocess

    try:
        proc = subprocess.run(
            [python, "-I", "-c", _QUERY], capture_output=True, text=True, timeout=60, check=False
        )
        value = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def _configures_pytest(path: Path, marker: str | None) -> bool:
    if marker is None:
        return path.is_file()
    try:
        return path.is_file() and marker in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def find_protected(
    workdir: Path, explicit: Sequence[str], arg_lists: Sequence[list[str]]
) -> list[Path]:
    """The verifier's inputs: the test paths plus the files that configure pytest.

    Test paths are *explicit* when given; else the existing paths named by positional pytest
    arguments (``tests/test_x.py::test_y`` protects ``tests/test_x.py``); else ``tests/``,
    ``test/`` and ``test_*.py``/``*_test.py`` at the top. Added: ``pytest.ini``, and
    ``tox.ini``/``setup.cfg``/``pyproject.toml`` when they hold a pytest section, and every
    ``conftest.py`` from the workdir down to each test path.
    """
    root = Path(os.path.realpath(workdir))
    tests: list[Path] = [root / p for p in explicit]
    if not tests:
        for args in arg_lists:
            for arg in args:
                if arg.startswith("-"):
                    continue
                candidate = root / arg.split("::", 1)[0]
                if arg and candidate.exists():
                    tests.append(candidate)
    if not tests:
        tests = [root / d for d in _DEFAULT_TEST_DIRS if (root / d).is_dir()]
        tests += sorted(root.glob("test_*.py")) + sorted(root.glob("*_test.py"))
    found = {Path(os.path.realpath(p)) for p in tests}
    for name, marker in _CONFIG_MARKERS.items():
        if _configures_pytest(root / name, marker):
            found.add(root / name)
    for test in list(found):
        directory = test if test.is_dir() else test.parent
        for parent in (directory, *directory.parents):
            if parent != root and root not in parent.parents:
                break
            if (parent / "conftest.py").is_file():
                found.add(parent / "conftest.py")
    return sorted(found)


@frozen
class PytestRun:
    """One sandboxed pytest run and what its JUnit report said."""

    command: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool
    cases: tuple[TestCase, ...]
    report_error: str | None
    confinement: str

    def counts(self) -> Counter[str]:
        return Counter(c.outcome for c in self.cases)

    def to_json(self) -> dict[str, Any]:
        """A compact JSON form for a verifier result's details."""
        return {
            "command": self.command,
            "exit_code": self.exit_code,
            "duration": round(self.duration, 6),
            "timed_out": self.timed_out,
            "counts": dict(self.counts()),
            "cases": [
                {"name": c.name, "outcome": c.outcome, "message": c.message[:500]}
                for c in self.cases[:200]
            ],
            "report_error": self.report_error,
            "confinement": self.confinement,
        }


def verifier_policy(
    workdir: Path,
    scratch: Path,
    *,
    python: str,
    read_paths: Sequence[Path],
    protected: Sequence[Path],
    timeout: float,
) -> SandboxPolicy:
    """The sandbox a verifier's command runs in: it may write the workdir and its scratch
    directory, reads the interpreter, keeps ``.git`` and the protected inputs read-only, and
    has no network."""
    from ._sandbox import SandboxPolicy

    readonly = [p for p in protected if p.exists()]
    if (workdir / ".git").exists():
        readonly.append(workdir / ".git")
    return SandboxPolicy(
        workdir=workdir,
        write_paths=(workdir, scratch),
        read_paths=(*interpreter_paths(python), *read_paths),
        readonly_paths=tuple(readonly),
        network=False,
        env={"PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(scratch)},
        timeout=timeout,
        cpu_seconds=max(300, int(timeout) + 60),
    )


async def run_pytest(
    workdir: Path,
    args: Sequence[str],
    *,
    python: str,
    timeout: float,
    protected: Sequence[Path] = (),
    read_paths: Sequence[Path] = (),
) -> PytestRun:
    """Run pytest with a JUnit report in the sandbox: read-only inputs, no network."""
    from ._sandbox import run_sandboxed

    workdir = Path(os.path.realpath(workdir))
    with tempfile.TemporaryDirectory(prefix="tau-pytest-") as tmp:
        scratch = Path(os.path.realpath(tmp))
        report = scratch / "junit.xml"
        argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        argv += list(args)
        policy = verifier_policy(
            workdir,
            scratch,
            python=python,
            read_paths=read_paths,
            protected=protected,
            timeout=timeout,
        )
        result = await _sandboxed(run_sandboxed, argv, policy)
        cases: list[TestCase] = []
        problem = None
        try:
            cases = parse_junit(report.read_bytes())
        except FileNotFoundError:
            problem = "pytest wrote no JUnit report"
        except (UnsafeReport, ET.ParseError) as exc:
            problem = f"the JUnit report is unusable: {exc}"
    shown = [*argv[:6], "--junitxml=<tmp>/junit.xml", *argv[7:]]
    return PytestRun(
        command=shlex.join(shown),
        exit_code=result.exit_code,
        stdout=result.stdout[-TAIL:],
        stderr=result.stderr[-TAIL:],
        duration=result.duration,
        timed_out=result.timed_out,
        cases=tuple(cases),
        report_error=problem,
        confinement=result.confinement,
    )


async def _sandboxed(runner: Any, argv: list[str], policy: Any) -> Any:
    from tau_core.errors import ToolError

    try:
        return await runner(argv, policy)
    except ToolError as exc:
        raise Undecidable(f"the check could not run: {exc} ({exc.hint})") from None


Status = Literal["green", "red", "error"]


def judge(run: PytestRun, timeout: float) -> tuple[Status, str]:
    """Green, red or error for one pytest run, with a one-line summary."""
    counts = run.counts()
    tally = ", ".join(
        f"{counts[k]} {k}" for k in ("passed", "failed", "error", "skipped") if counts[k]
    )
    if run.timed_out:
        return "red", f"pytest did not finish in {timeout:g}s and was killed; a test may hang"
    if run.exit_code == 5:
        return "red", "no tests were collected (pytest exit code 5): nothing was verified"
    if run.exit_code in (3, 4):
        what = "an internal error" if run.exit_code == 3 else "a usage error"
        return "error", f"pytest stopped with {what} (exit code {run.exit_code}): {_last_line(run)}"
    if run.report_error is not None:
        if run.exit_code is None or run.exit_code < 0:
            return "red", f"pytest was killed (exit code {run.exit_code}) before it reported"
        return "error", f"{run.report_error} (exit code {run.exit_code}): {_last_line(run)}"
    if run.exit_code == 0 and not counts["failed"] and not counts["error"]:
        if counts["passed"]:
            return "green", tally
        return "red", f"no test passed ({tally or 'no test ran'}): nothing was verified"
    return "red", f"{tally or 'no test result'} (pytest exit code {run.exit_code})"


def _last_line(run: PytestRun) -> str:
    for text in (run.stderr, run.stdout):
        lines = [line for line in text.strip().splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
    return "no output"


async def run_command(
    workdir: Path,
    argv: Sequence[str],
    *,
    python: str,
    timeout: float,
    protected: Sequence[Path] = (),
    read_paths: Sequence[Path] = (),
) -> PytestRun:
    """Run a check command in the same sandbox as pytest; the exit code is all it reports.

    Raises:
        Undecidable: The program is not on the sandbox's PATH (a failure to start must never
            pass for a failing test), or no sandbox can run it.
    """
    from ._sandbox import DEFAULT_PATH, run_sandboxed

    program = argv[0]
    if not os.path.isabs(program) and shutil.which(program, path=DEFAULT_PATH) is None:
        raise Undecidable(
            f"the check command's program {program!r} is not on the sandbox's PATH "
            f"({DEFAULT_PATH}); give its absolute path"
        )

    workdir = Path(os.path.realpath(workdir))
    with tempfile.TemporaryDirectory(prefix="tau-check-") as tmp:
        scratch = Path(os.path.realpath(tmp))
        policy = verifier_policy(
            workdir,
            scratch,
            python=python,
            read_paths=read_paths,
            protected=protected,
            timeout=timeout,
        )
        result = await _sandboxed(run_sandboxed, list(argv), policy)
    return PytestRun(
        command=shlex.join(argv),
        exit_code=result.exit_code,
        stdout=result.stdout[-TAIL:],
        stderr=result.stderr[-TAIL:],
        duration=result.duration,
        timed_out=result.timed_out,
        cases=(),
        report_error=None,
        confinement=result.confinement,
    )
