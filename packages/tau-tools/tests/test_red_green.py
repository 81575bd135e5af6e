"""The red_green verifier on real tiny git repositories, run in the real sandbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tau_core import Agent, Authority, Task, VerifyContext
from tau_core.errors import UsageError
from tau_core.testing import ScriptedModel, fresh_plugin_manager, make_plugin
from tau_tools._files import WriteTool
from tau_tools._verify_pytest import red_green_verifier

BUGGY = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
TEST_ADD = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
TEST_MUL = "from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"
PYPROJECT = '[project]\nname = "tiny"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n'
FIX = {"name": "write", "arguments": {"path": "calc.py", "content": FIXED}}


def project(root: Path, calc: str = BUGGY, **tests: str) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(calc)
    (root / "pyproject.toml").write_text(PYPROJECT)
    for name, body in (tests or {"test_add": TEST_ADD, "test_mul": TEST_MUL}).items():
        (root / "tests" / f"{name}.py").write_text(body)
    return root


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    identity = ["-c", "user.name=Setup", "-c", "user.email=setup@example.invalid"]
    done = subprocess.run(
        ["git", *identity, *args], cwd=cwd, capture_output=True, text=True, check=True, env=env
    )
    return done.stdout


def committed(root: Path, calc: str = BUGGY, **tests: str) -> Path:
    project(root, calc, **tests)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    return root


def start_tree(root: Path) -> dict[str, Any]:
    """The working tree as a git tree written through a private index, as tau-core does."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git(root, "add", "-A", "--", ".", env=env)
        return {"kind": "git", "tree": git(root, "write-tree", env=env).strip()}


def verify(verifier, root: Path, attempt: int = 1, run_id: str = "run-1", baseline=None):
    context = VerifyContext(run_id, Task("t", str(root)), root, attempt, baseline=baseline or {})
    return asyncio.run(verifier.verify(context))


@pytest.fixture
def plugins(tau_home: Path):
    return fresh_plugin_manager(
        make_plugin(tools=[WriteTool()], verifiers={"red_green": red_green_verifier})
    )


def run_agent(plugins, root: Path, model_turns: list[dict[str, Any]]):
    return Agent(
        ScriptedModel(model_turns),
        authority=Authority.from_preset("workspace-write"),
        verifier="red_green",
        verifier_options={"test": ["tests/test_add.py::test_add"]},
        plugins=plugins,
    ).run("fix add", workdir=root)


# -- through a real run ----------------------------------------------------------------------


def test_agent_fix_is_verified_red_before_green_after(plugins, tmp_path):
    root = committed(tmp_path / "repo")
    outcome = run_agent(plugins, root, [{"tool_calls": [FIX]}, {"text": "fixed"}])
    assert outcome.status == "verified", outcome.summary
    (result,) = outcome.evidence.verifier_results
    details = result.details
    # A clean checkout: the run's starting snapshot is HEAD's tree.
    assert details["base"] == git(root, "rev-parse", "HEAD^{tree}").strip()
    assert (details["base_kind"], details["base_source"]) == ("tree", "run_start")
    assert details["before"]["counts"] == {"failed": 1}
    assert "assert -1 == 3" in details["before"]["cases"][0]["message"]
    assert details["after"]["counts"] == {"passed": 1}
    assert details["regression_before"]["counts"] == {"failed": 1, "passed": 1}
    assert details["regression"]["counts"] == {"passed": 2}
    assert details["regressed"] == []
    assert "red before" in result.summary and "1 of 1 passing tests still pass" in result.summary
    assert git(root, "status", "--porcelain").strip() == "M calc.py"  # repo untouched


def test_an_uncommitted_bug_at_run_start_is_what_red_runs_against(plugins, tmp_path):
    root = committed(tmp_path / "repo", calc=FIXED)  # HEAD is correct ...
    (root / "calc.py").write_text(BUGGY)  # ... the bug is an uncommitted change
    head = git(root, "rev-parse", "HEAD").strip()
    outcome = run_agent(plugins, root, [{"tool_calls": [FIX]}, {"text": "fixed"}])
    assert outcome.status == "verified", outcome.summary
    (result,) = outcome.evidence.verifier_results
    details = result.details
    assert (details["base_kind"], details["base_source"]) == ("tree", "run_start")
    assert details["base"] != git(root, "rev-parse", "HEAD^{tree}").strip()
    assert details["before"]["counts"] == {"failed": 1}
    assert "assert -1 == 3" in details["before"]["cases"][0]["message"]
    assert details["after"]["counts"] == {"passed": 1}
    assert result.summary.startswith("red before (at the run's starting state, tree ")
    assert git(root, "rev-parse", "HEAD").strip() == head
    assert git(root, "status", "--porcelain").strip() == ""  # the fix restored HEAD's calc.py
    # Against HEAD (the behaviour without a snapshot) the test would not have reproduced it.
    (root / "calc.py").write_text(FIXED)
    fallback = red_green_verifier({"test": "tests/test_add.py::test_add"})
    result = verify(fallback, root)
    assert (result.status, result.details["base"]) == ("error", head)
    assert result.summary == "the test does not reproduce the problem: it passes before the change"


# -- the verifier on its own -----------------------------------------------------------------


def test_untracked_files_at_run_start_are_in_the_baseline(tmp_path):
    root = project(tmp_path / "fresh")  # nothing committed at all
    git(root, "init", "-q", "-b", "main")
    baseline = start_tree(root)
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    (root / "calc.py").write_text(FIXED)
    result = verify(verifier, root, baseline=baseline)
    assert result.status == "green", result.summary
    assert result.details["before"]["counts"] == {"failed": 1}
    assert result.details["base"] == baseline["tree"]


def test_the_base_option_overrides_the_snapshot(tmp_path):
    root = committed(tmp_path / "repo", calc=FIXED)
    (root / "calc.py").write_text(BUGGY)
    baseline = start_tree(root)
    head = git(root, "rev-parse", "HEAD").strip()
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add", "base": "HEAD"})
    (root / "calc.py").write_text(FIXED)
    result = verify(verifier, root, baseline=baseline)
    assert result.status == "error"  # HEAD already passes
    assert (result.details["base"], result.details["base_source"]) == (head, "option")


def test_a_snapshot_missing_from_the_repository_is_an_error(tmp_path):
    root = committed(tmp_path / "repo")
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    result = verify(verifier, root, baseline={"kind": "git", "tree": "0" * 40})
    assert result.status == "error"
    assert "the run's starting snapshot (tree 000000000000) is not in the repository" in (
        result.summary
    )


def test_without_a_git_snapshot_it_falls_back_to_head(tmp_path):
    root = committed(tmp_path / "repo")
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    verifier.protected_paths(root)
    (root / "calc.py").write_text(FIXED)
    failed = {"kind": "none", "error": "git snapshot failed: boom"}
    result = verify(verifier, root, baseline=failed)
    assert result.status == "green", result.summary
    assert result.details["base"] == git(root, "rev-parse", "HEAD").strip()
    assert (result.details["base_kind"], result.details["base_source"]) == ("commit", "head")
    assert "red before (at commit " in result.summary


def test_a_test_that_already_passes_is_an_error(tmp_path):
    root = committed(tmp_path / "repo")
    verifier = red_green_verifier({"test": "tests/test_mul.py"})
    verifier.protected_paths(root)
    result = verify(verifier, root, baseline=start_tree(root))
    assert result.status == "error"
    assert result.summary == (
        "the test does not reproduce the problem: it passes before the change"
    )


def test_a_regression_is_red_and_named(tmp_path):
    root = committed(tmp_path / "repo")
    baseline = start_tree(root)
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    verifier.protected_paths(root)
    (root / "calc.py").write_text(FIXED.replace("a * b", "a + b"))  # fixes add, breaks mul
    result = verify(verifier, root, baseline=baseline)
    assert result.status == "red"
    assert result.summary == "1 test(s) that passed before now fail: tests.test_mul::test_mul"
    regressed = [c for c in result.cases if c.name == "tests.test_mul::test_mul"]
    assert regressed[0].outcome == "failed"
    assert regressed[0].message.startswith("passed before the change, is now failed")
    assert "tests.test_mul::test_mul" in result.feedback()
    # The repair: the baseline is not run again.
    (root / "calc.py").write_text(FIXED)
    again = verify(verifier, root, attempt=2, baseline=baseline)
    assert again.status == "green", again.summary
    assert again.details["before_cached"] is True


def test_a_still_failing_test_is_red(tmp_path):
    root = committed(tmp_path / "repo")
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    result = verify(verifier, root, baseline=start_tree(root))
    assert result.status == "red"
    assert result.summary.startswith("the test still fails after the change")


def test_new_uncommitted_test_is_laid_over_the_baseline(tmp_path):
    root = committed(tmp_path / "repo", test_mul=TEST_MUL)
    (root / "tests" / "test_add.py").write_text(TEST_ADD)  # written after the last commit
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    verifier.protected_paths(root)
    (root / "calc.py").write_text(FIXED)
    result = verify(verifier, root)  # no snapshot: HEAD, with the test laid over it
    assert result.status == "green", result.summary
    assert result.details["before"]["counts"] == {"failed": 1}


def test_commits_during_the_run_keep_the_starting_baseline(tmp_path):
    root = committed(tmp_path / "repo")
    start = git(root, "rev-parse", "HEAD").strip()
    verifier = red_green_verifier({"test": "tests/test_add.py::test_add"})
    (root / "calc.py").write_text(FIXED)
    git(root, "commit", "-q", "-am", "fix\n\nTau-Run: run-7")
    result = verify(verifier, root, run_id="run-7")  # no protected_paths call: HEAD moved
    assert result.status == "green", result.summary
    assert (result.details["base"], result.details["base_source"]) == (start, "tau_run")


def test_command_form_and_regression_command(tmp_path):
    root = committed(tmp_path / "repo")
    (root / "check.py").write_text("import calc, sys\nsys.exit(0 if calc.add(2, 2) == 4 else 1)\n")
    baseline = start_tree(root)  # check.py is untracked: still part of the starting state
    verifier = red_green_verifier(
        {
            "test_command": "python check.py",
            "regression_command": ["python", "-c", "import calc; assert calc.mul(2, 3) == 6"],
        }
    )
    assert root / "check.py" in verifier.protected_paths(root)
    (root / "calc.py").write_text(FIXED)
    result = verify(verifier, root, baseline=baseline)
    assert result.status == "green", result.summary
    assert result.details["before"]["exit_code"] == 1


def test_outside_git_is_an_error(tmp_path):
    root = project(tmp_path / "plain")
    result = verify(red_green_verifier({"test": "tests/test_add.py"}), root)
    assert result.status == "error"
    assert "needs a git repository" in result.summary


def test_a_repository_without_commits_or_snapshot_is_an_error(tmp_path):
    root = project(tmp_path / "empty")
    git(root, "init", "-q")
    result = verify(red_green_verifier({"test": "tests/test_add.py"}), root)
    assert result.status == "error"
    assert "does not exist" in result.summary


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({}, "needs 'test'"),
        ({"test": []}, "needs 'test'"),
        ({"test": "x", "test_command": "y"}, "not both"),
        ({"test": "x", "base": "-p"}, "commit name"),
        ({"test": "x", "regresion": "y"}, "no option(s)"),
    ],
)
def test_red_green_options_are_checked(options, fragment):
    with pytest.raises(UsageError) as info:
        red_green_verifier(options)
    assert fragment in str(info.value)


def test_a_command_that_cannot_start_is_an_error_not_red(tmp_path):
    root = committed(tmp_path / "repo")
    verifier = red_green_verifier({"test_command": "no-such-program --check"})
    result = verify(verifier, root, baseline=start_tree(root))
    assert result.status == "error"
    assert "'no-such-program' is not on the sandbox's PATH" in result.summary
