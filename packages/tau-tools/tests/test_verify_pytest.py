"""The pytest verifier on real tiny projects, run in the real sandbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tau_core import Agent, Authority, Task, VerifyContext
from tau_core.errors import UsageError
from tau_core.testing import ScriptedModel, WriteFile, fresh_plugin_manager, make_plugin
from tau_tools._verify_pytest import (
    UnsafeReport,
    parse_junit,
    pytest_verifier,
)

BUGGY = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
TEST_ADD = "from calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"
TEST_MUL = "from calc import mul\n\n\ndef test_mul():\n    assert mul(2, 3) == 6\n"
PYPROJECT = '[project]\nname = "tiny"\n\n[tool.pytest.ini_options]\npythonpath = ["."]\n'


def project(root: Path, calc: str = BUGGY, **tests: str) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(calc)
    (root / "pyproject.toml").write_text(PYPROJECT)
    for name, body in (tests or {"test_add": TEST_ADD, "test_mul": TEST_MUL}).items():
        (root / "tests" / f"{name}.py").write_text(body)
    return root


def verify(verifier, root: Path, attempt: int = 1, run_id: str = "run-1"):
    context = VerifyContext(run_id, Task("t", str(root)), root, attempt)
    return asyncio.run(verifier.verify(context))


@pytest.fixture
def plugins(tau_home: Path):
    return fresh_plugin_manager(
        make_plugin(
            tools=[WriteFile()],
            verifiers={"pytest": pytest_verifier},
        )
    )


# -- JUnit parsing ---------------------------------------------------------------------------

JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="4">
<testcase classname="tests.test_a" name="test_ok" time="0.010"/>
<testcase classname="tests.test_a" name="test_bad" time="0.020">
  <failure message="assert 1 == 2">def test_bad():
&gt;   assert 1 == 2
E   assert 1 == 2</failure></testcase>
<testcase classname="tests.test_a" name="test_broken" time="0.0">
  <error message="collection failure">ImportError: nope</error></testcase>
<testcase classname="tests.test_a" name="test_later" time="0.0">
  <skipped type="pytest.skip" message="not yet">skipped</skipped></testcase>
</testsuite></testsuites>"""


def test_parse_junit_outcomes_messages_and_durations():
    cases = parse_junit(JUNIT)
    assert [(c.name, c.outcome) for c in cases] == [
        ("tests.test_a::test_ok", "passed"),
        ("tests.test_a::test_bad", "failed"),
        ("tests.test_a::test_broken", "error"),
        ("tests.test_a::test_later", "skipped"),
    ]
    assert "assert 1 == 2" in cases[1].message
    assert ">   assert 1 == 2" in cases[1].message  # the traceback, not only the summary
    assert "ImportError: nope" in cases[2].message
    assert cases[0].duration == pytest.approx(0.01)


@pytest.mark.parametrize(
    "report",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<testsuite><testcase name='&b;'/></testsuite>",
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><testsuite/>',
    ],
)
def test_parse_junit_refuses_dtds_and_entities(report):
    with pytest.raises(UnsafeReport):
        parse_junit(report)


# -- the pytest verifier ---------------------------------------------------------------------


def test_passing_suite_is_green_with_cases(tmp_path):
    root = project(tmp_path / "p", FIXED)
    result = verify(pytest_verifier({}), root)
    assert result.status == "green", result.feedback()
    assert result.exit_code == 0
    assert {(c.name, c.outcome) for c in result.cases} == {
        ("tests.test_add::test_add", "passed"),
        ("tests.test_mul::test_mul", "passed"),
    }
    assert result.summary == "2 passed"
    assert "--junitxml=<tmp>/junit.xml" in result.command
    assert result.details["confinement"] in ("bubblewrap", "landlock")
    assert not (root / ".pytest_cache").exists()


def test_failing_test_is_red_with_its_message(tmp_path):
    root = project(tmp_path / "p")
    result = verify(pytest_verifier({"args": "-q"}), root)
    assert result.status == "red"
    assert result.summary.startswith("1 passed, 1 failed")
    failed = [c for c in result.cases if c.outcome == "failed"]
    assert [c.name for c in failed] == ["tests.test_add::test_add"]
    assert "assert -1 == 3" in failed[0].message
    feedback = result.feedback()
    assert "tests.test_add::test_add: failed" in feedback and "assert -1 == 3" in feedback


def test_no_tests_collected_is_red(tmp_path):
    root = project(tmp_path / "p", FIXED, helper="X = 1\n")
    result = verify(pytest_verifier({}), root)
    assert result.status == "red"
    assert result.exit_code == 5
    assert "no tests were collected" in result.summary


def test_all_skipped_is_red(tmp_path):
    skipped = "import pytest\n\n\n@pytest.mark.skip\ndef test_later():\n    pass\n"
    root = project(tmp_path / "p", FIXED, test_skip=skipped)
    result = verify(pytest_verifier({}), root)
    assert (result.status, result.exit_code) == ("red", 0)
    assert "no test passed (1 skipped)" in result.summary


def test_a_hanging_test_is_killed_and_red(tmp_path):
    hang = "import time\n\n\ndef test_hang():\n    time.sleep(600)\n"
    root = project(tmp_path / "p", FIXED, test_hang=hang)
    result = verify(pytest_verifier({"timeout": 3}), root)
    assert result.status == "red"
    assert "did not finish in 3s" in result.summary


def test_usage_error_is_error_not_red(tmp_path):
    root = project(tmp_path / "p", FIXED)
    result = verify(pytest_verifier({"args": ["--no-such-option"]}), root)
    assert result.status == "error"
    assert "usage error" in result.summary


def test_tests_cannot_write_outside_the_workdir(tmp_path):
    outside = tmp_path / "outside.txt"
    sneaky = f"def test_escape():\n    open({str(outside)!r}, 'w').write('x')\n"
    root = project(tmp_path / "p", FIXED, test_sneaky=sneaky)
    result = verify(pytest_verifier({}), root)
    assert {c.name for c in result.cases} >= {"tests.test_sneaky::test_escape"}
    assert not outside.exists()  # the write stayed inside the sandbox's private /tmp


def test_protected_paths(tmp_path):
    root = project(tmp_path / "p")
    (root / "tests" / "conftest.py").write_text("")
    (root / "setup.cfg").write_text("[metadata]\nname = tiny\n")
    default = pytest_verifier({}).protected_paths(root)
    assert default == sorted(
        [root / "pyproject.toml", root / "tests", root / "tests" / "conftest.py"]
    )
    by_node = pytest_verifier({"args": ["tests/test_add.py::test_add", "-x"]})
    assert root / "tests" / "test_add.py" in by_node.protected_paths(root)
    assert root / "tests" / "test_mul.py" not in by_node.protected_paths(root)
    explicit = pytest_verifier({"paths": ["calc.py"]}).protected_paths(root)
    assert root / "calc.py" in explicit and root / "tests" not in explicit


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"argz": []}, "no option(s) ['argz']"),
        ({"args": 3}, "list of strings"),
        ({"timeout": -1}, "positive number"),
        ({"python": "/no/such/python"}, "does not exist"),
    ],
)
def test_pytest_options_are_checked(options, fragment):
    with pytest.raises(UsageError) as info:
        pytest_verifier(options)
    assert fragment in str(info.value)


def test_agent_fixes_the_bug_until_pytest_is_green(plugins, tmp_path):
    root = project(tmp_path / "p")
    fix = {"name": "write_file", "arguments": {"path": "calc.py", "content": FIXED}}
    model = ScriptedModel([{"text": "done"}, {"tool_calls": [fix]}, {"text": "fixed"}])
    outcome = Agent(
        model,
        authority=Authority.from_preset("workspace-write"),
        verifier="pytest",
        plugins=plugins,
    ).run("make the tests pass", workdir=root)
    assert outcome.status == "verified", outcome.summary
    red, green = outcome.evidence.verifier_results
    assert (red.status, green.status) == ("red", "green")
    assert "assert -1 == 3" in model.requests[1].messages[-1].text  # the feedback
    assert all(c.outcome == "passed" for c in green.cases) and len(green.cases) == 2


def test_agent_cannot_edit_the_tests(plugins, tmp_path):
    root = project(tmp_path / "p")
    cheat = {
        "name": "write_file",
        "arguments": {"path": "tests/test_add.py", "content": "def test_add():\n    pass\n"},
    }
    outcome = Agent(
        ScriptedModel([{"tool_calls": [cheat]}, {"text": "done"}]),
        authority=Authority.from_preset("workspace-write"),
        verifier="pytest",
        plugins=plugins,
    ).run("make the tests pass", workdir=root)
    assert (outcome.status, outcome.reason) == ("blocked", "policy_denied")
    assert outcome.evidence.decisions[0].rule_id == "verifier.protected"
    assert (root / "tests" / "test_add.py").read_text() == TEST_ADD
