"""The sandbox in normal use: grants work, output is capped cleanly, the environment is scrubbed."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import attrs
import pytest

from tau_core import Authority
from tau_core.errors import ToolError
from tau_tools import _sandbox
from tau_tools._sandbox import SandboxPolicy, available_backends, policy_for, run_sandboxed

BACKENDS = available_backends()
needs_sandbox = pytest.mark.skipif(not BACKENDS, reason="no sandbox works on this host")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TAU_SANDBOX_BACKEND", request.param)
    return str(request.param)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "ws" / ".git").mkdir(parents=True)
    return tmp_path / "ws"


def sh(command: str, policy: SandboxPolicy, stdin: bytes | None = None) -> _sandbox.SandboxResult:
    return asyncio.run(run_sandboxed(["bash", "-c", command], policy, stdin=stdin))


def test_policy_for_maps_grants(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "tests").mkdir()
    authority = Authority.parse(["read:/opt", "write:out", "net:example.com:443"])
    policy = policy_for(
        authority, tmp_path, protected=[tmp_path / "tests"], secrets={"gh-token": "s3"}, timeout=5
    )
    real = Path(os.path.realpath(tmp_path))
    assert policy.workdir == real
    assert policy.write_paths == (real / "out",)
    assert policy.read_paths == (Path(os.path.realpath("/opt")),)
    assert policy.readonly_paths == (real / ".git", real / "tests")
    assert policy.network is True
    assert policy.env == {"GH_TOKEN": "s3"}
    assert policy.timeout == 5


def test_policy_for_leaves_exactly_granted_paths_writable(tmp_path: Path) -> None:
    policy = policy_for(Authority.parse(["write:.", "write:.git"]), tmp_path)
    assert Path(os.path.realpath(tmp_path)) / ".git" not in policy.readonly_paths
    assert policy.network is False


def test_policy_for_honours_protect_verifier_off(tmp_path: Path) -> None:
    authority = Authority.parse(["write:."], protect_verifier=False)
    policy = policy_for(authority, tmp_path, protected=[tmp_path / "tests"])
    assert policy.readonly_paths == (Path(os.path.realpath(tmp_path)) / ".git",)


@needs_sandbox
def test_granted_write_works_and_workdir_is_read_only_otherwise(backend: str, ws: Path) -> None:
    (ws / "src").mkdir()
    policy = policy_for(Authority.parse(["write:src"]), ws)
    result = sh("echo made > src/a.txt; cat src/a.txt; echo no > b.txt", policy)
    assert result.confinement == backend
    assert result.stdout == "made\n"
    assert (ws / "src" / "a.txt").read_text() == "made\n"
    assert not (ws / "b.txt").exists()
    assert result.exit_code == 1


@needs_sandbox
def test_pipes_of_programs_work(backend: str, ws: Path) -> None:
    (ws / "data").write_text("b\na\nc\na\n")
    result = sh("sort data | uniq -c | sort -rn | head -1", policy_for(Authority(), ws))
    assert result.stdout.split() == ["2", "a"]
    assert result.exit_code == 0


@needs_sandbox
def test_git_stays_read_only_inside_a_writable_workdir(backend: str, ws: Path) -> None:
    result = sh("echo x > .git/HEAD; echo y > ok", policy_for(Authority.parse(["write:."]), ws))
    assert not (ws / ".git" / "HEAD").exists()
    assert (ws / "ok").read_text() == "y\n"
    assert result.exit_code == 0  # the last command succeeded; the first failed


@needs_sandbox
def test_stdin_is_fed(backend: str, ws: Path) -> None:
    result = sh("tr a-z A-Z", policy_for(Authority(), ws), stdin=b"hello")
    assert result.stdout == "HELLO"


@needs_sandbox
def test_output_is_capped_with_a_marker_on_utf8_boundaries(backend: str, ws: Path) -> None:
    policy = attrs.evolve(policy_for(Authority(), ws), output_bytes=1001)
    # 3-byte characters, 20 000 of them: no cut may land inside one.
    result = sh("for i in $(seq 2000); do printf '€€€€€€€€€€'; done; echo tail-end >&2", policy)
    assert result.stdout_truncated and not result.stderr_truncated
    assert "bytes of output omitted" in result.stdout
    assert "\ufffd" not in result.stdout
    head, _, tail = result.stdout.partition("\n[...")
    assert set(head) == {"€"} and 0 < len(head.encode()) <= 500
    assert set(tail.split("...]\n")[1]) == {"€"}
    assert len(result.stdout.encode()) < 1200
    assert result.stderr == "tail-end\n"


def test_capture_keeps_short_output_whole() -> None:
    capture = _sandbox._Capture(100)
    capture.feed("héllo".encode())
    assert (capture.text(), capture.truncated) == ("héllo", False)


@needs_sandbox
def test_environment_is_scrubbed(backend: str, ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAU_TEST_LEAK", "1")
    policy = policy_for(Authority(), ws, env={"KEEP": "me"})
    result = sh("env", policy)
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines()}
    assert "TAU_TEST_LEAK" not in names
    assert "KEEP=me" in result.stdout.splitlines()
    assert {"PATH", "HOME", "LANG"} <= names


@needs_sandbox
def test_exit_codes_and_timeouts(backend: str, ws: Path) -> None:
    policy = attrs.evolve(policy_for(Authority(), ws), timeout=0.5)
    assert sh("exit 7", policy).exit_code == 7
    assert sh("kill -TERM $$", policy).exit_code == 128 + 15
    slow = sh("echo started; sleep 30", policy)
    assert slow.timed_out and slow.exit_code is None
    assert slow.stdout == "started\n"
    assert slow.duration < 10


@needs_sandbox
def test_missing_program_is_a_failed_exit_naming_it(backend: str, ws: Path) -> None:
    result = asyncio.run(run_sandboxed(["no-such-program-xyz"], policy_for(Authority(), ws)))
    assert result.exit_code not in (0, None)
    assert "no-such-program-xyz" in result.stderr


def test_refuses_when_nothing_can_confine(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sandbox, "_probed", {"bubblewrap": False, "landlock": False})
    monkeypatch.delenv("TAU_SANDBOX_BACKEND", raising=False)
    marker = ws / "ran"
    with pytest.raises(ToolError) as info:
        asyncio.run(run_sandboxed(["touch", str(marker)], policy_for(Authority(), ws)))
    assert info.value.code == "sandbox_unavailable"
    assert "TAU_SHELL_ALLOW_UNCONFINED" in info.value.hint
    assert not marker.exists()


def test_unconfined_only_when_allowed_and_recorded(
    ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sandbox, "_probed", {"bubblewrap": False, "landlock": False})
    monkeypatch.delenv("TAU_SANDBOX_BACKEND", raising=False)
    monkeypatch.setenv("TAU_SHELL_ALLOW_UNCONFINED", "1")
    monkeypatch.setenv("TAU_TEST_LEAK", "1")
    policy = policy_for(Authority(), ws)
    assert policy.allow_unconfined
    result = sh("echo ran; env", policy)
    assert result.confinement == "unconfined"
    assert result.stdout.startswith("ran\n")
    assert "TAU_TEST_LEAK" not in result.stdout


def test_unknown_forced_backend_is_an_error(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAU_SANDBOX_BACKEND", "chroot")
    with pytest.raises(ToolError, match="chroot"):
        asyncio.run(run_sandboxed(["true"], policy_for(Authority(), ws)))


def test_empty_argv_is_refused(ws: Path) -> None:
    with pytest.raises(ToolError):
        asyncio.run(run_sandboxed([], policy_for(Authority(), ws)))


@needs_sandbox
def test_watchdog_kills_a_tree_over_the_limit_without_cgroups(
    backend: str, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the watchdog is the root fallback; others get RLIMIT_NPROC")
    monkeypatch.setattr(_sandbox.ProcessCgroup, "create", classmethod(lambda cls, limit: None))
    policy = attrs.evolve(policy_for(Authority(), ws), max_processes=8, timeout=20)
    result = sh("for i in $(seq 40); do sleep 30 & done; wait", policy)
    assert result.process_limit == "exceeded"
    assert not result.timed_out and result.duration < 10
    assert "more than 8 processes" in result.stderr


def test_cancelled_call_reaps_the_launcher(ws: Path, backend: str) -> None:
    """A caller's timeout cancels the call: the tree dies and no process is left unreaped."""
    import gc
    import warnings

    policy = attrs.evolve(policy_for(Authority.parse(["exec:sleep"]), ws), timeout=60.0)

    async def cancel_midway() -> None:
        task = asyncio.ensure_future(run_sandboxed(["sleep", "30"], policy))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(cancel_midway())
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [], [str(w.message) for w in leaks]
