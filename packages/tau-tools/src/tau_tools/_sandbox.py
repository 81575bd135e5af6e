"""Run a command confined: bubblewrap when present, Landlock plus namespaces otherwise.

Every run goes through a tiny launcher (``python -I -S -c``) that joins a fresh pids cgroup
when one can be made, sets the rlimits (CPU seconds, address space, file size, processes) and
then either executes bubblewrap or, without it, unshares the namespaces itself and applies a
Landlock ruleset before executing the command.

Both confinements run the command in its own PID namespace whose init dies with the launcher,
so killing the launcher kills the whole tree, ``setsid`` and double-fork escapees included.
Without a network grant the command gets an empty network namespace. Writes are possible only
under ``write_paths`` and the private ``/tmp``; ``readonly_paths`` are re-bound read-only even
inside writable paths. The environment is exactly :attr:`SandboxPolicy.env` plus PATH, HOME
and LANG defaults.

Where neither confinement works the run is refused unless ``allow_unconfined`` is set; the
result's ``confinement`` always says which one was used. ``TAU_SANDBOX_BACKEND`` (``bubblewrap``,
``landlock`` or ``unconfined``) forces one, for tests and for hosts where detection guesses wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from tau_core import Authority
from tau_core.errors import ToolError

__all__ = ["SandboxPolicy", "SandboxResult", "available_backends", "policy_for", "run_sandboxed"]

BACKENDS = ("bubblewrap", "landlock")
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


def _paths(items: Sequence[Path | str]) -> tuple[Path, ...]:
    return tuple(Path(p) for p in items)


@attrs.frozen
class SandboxPolicy:
    """What a sandboxed command may do.

    Attributes:
        workdir: The directory the command starts in; readable, writable only if listed in
            ``write_paths``.
        write_paths: Absolute paths bound writable.
        read_paths: Extra read-only paths beyond the system directories and ``workdir``.
        readonly_paths: Re-bound read-only even inside a writable path (``.git``, verifier files).
        network: Share the host network (all or nothing: hosts are not filtered).
        env: The complete environment; PATH, HOME and LANG get defaults when missing.
        timeout: Seconds before the whole process tree is killed.
        cpu_seconds: ``RLIMIT_CPU`` per process.
        memory_bytes: ``RLIMIT_AS`` per process.
        file_size_bytes: ``RLIMIT_FSIZE``.
        max_processes: A pids cgroup limit when one can be made, else ``RLIMIT_NPROC`` plus a
            watchdog that kills the sandbox when its process count goes over.
        output_bytes: Bytes kept per stream (head and tail, with a marker between).
        allow_unconfined: Run without confinement when no sandbox works, instead of refusing.

    .. versionadded:: 0.1
    """

    workdir: Path = attrs.field(converter=Path)
    write_paths: tuple[Path, ...] = attrs.field(default=(), converter=_paths)
    read_paths: tuple[Path, ...] = attrs.field(default=(), converter=_paths)
    readonly_paths: tuple[Path, ...] = attrs.field(default=(), converter=_paths)
    network: bool = False
    env: Mapping[str, str] = attrs.field(factory=dict)
    timeout: float = 120.0
    cpu_seconds: int | None = 300
    memory_bytes: int | None = 2 << 30
    file_size_bytes: int | None = 1 << 30
    max_processes: int | None = 256
    output_bytes: int = 64_000
    allow_unconfined: bool = False


@attrs.frozen
class SandboxResult:
    """What a sandboxed command did.

    Attributes:
        exit_code: The exit code (128+N for signal N), or None when it timed out.
        stdout: Standard output, capped (see :attr:`SandboxPolicy.output_bytes`).
        stderr: Standard error, capped.
        stdout_truncated: Whether bytes of stdout were dropped.
        stderr_truncated: Whether bytes of stderr were dropped.
        duration: Seconds from start to the end of the whole tree.
        timed_out: Whether the timeout killed it.
        confinement: ``bubblewrap``, ``landlock`` or ``unconfined``.
        process_limit: How ``max_processes`` was enforced: ``cgroup``, ``rlimit``,
            ``watchdog`` or ``none``; ``exceeded`` when the watchdog killed the sandbox.

    .. versionadded:: 0.1
    """

    exit_code: int | None
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration: float
    timed_out: bool
    confinement: str
    process_limit: str = "none"


_probed: dict[str, bool] = {}


def _probe(backend: str) -> bool:
    if backend not in _probed:
        _probed[backend] = _try_backend(backend)
    return _probed[backend]


def _try_backend(backend: str) -> bool:
    if sys.platform != "linux":
        return False
    if backend == "bubblewrap" and shutil.which("bwrap") is None:
        return False
    policy = SandboxPolicy(workdir=Path("/"), timeout=20.0, max_processes=None)
    with tempfile.TemporaryDirectory(prefix="tau-probe-") as tmp:
        config = _launcher_config(backend, ["true"], policy, Path(tmp))
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(config)],
                env=_environment(policy, Path(tmp), backend),
                capture_output=True,
                timeout=20,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return done.returncode == 0


def available_backends() -> tuple[str, ...]:
    """The confinements that work on this host, best first (probed once per process)."""
    return tuple(b for b in BACKENDS if _probe(b))


def _choose_backend(policy: SandboxPolicy) -> str:
    forced = os.environ.get("TAU_SANDBOX_BACKEND", "").strip()
    if forced and forced not in (*BACKENDS, "unconfined"):
        raise ToolError(
            f"TAU_SANDBOX_BACKEND={forced!r} is not a sandbox",
            code="sandbox_unavailable",
            hint="use bubblewrap, landlock or unconfined, or unset it",
        )
    candidates = [forced] if forced and forced != "unconfined" else [] if forced else list(BACKENDS)
    for backend in candidates:
        if _probe(backend):
            return backend
    if policy.allow_unconfined:
        return "unconfined"
    tried = ", ".join(candidates) or "none (TAU_SANDBOX_BACKEND=unconfined)"
    raise ToolError(
        f"no sandbox can confine the command on this host (tried: {tried}); it was not run",
        code="sandbox_unavailable",
        hint="install bubblewrap (apt-get install bubblewrap), or run on a kernel with Landlock "
        "and namespaces; to run unconfined anyway set TAU_SHELL_ALLOW_UNCONFINED=1 or the "
        "tool's unconfined_ok option",
    )


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _environment(policy: SandboxPolicy, tmp: Path, backend: str) -> dict[str, str]:
    env = {str(k): str(v) for k, v in policy.env.items()}
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("LANG", "C.UTF-8")
    # bubblewrap mounts a private tmpfs on /tmp; Landlock gets a private directory instead.
    private_tmp = "/tmp" if backend == "bubblewrap" else str(tmp)  # noqa: S108
    env.setdefault("HOME", private_tmp)
    if backend != "bubblewrap":
        env.setdefault("TMPDIR", private_tmp)
    return env


def _rlimits(policy: SandboxPolicy) -> dict[str, int]:
    limits = {
        "RLIMIT_CPU": policy.cpu_seconds,
        "RLIMIT_AS": policy.memory_bytes,
        "RLIMIT_FSIZE": policy.file_size_bytes,
        "RLIMIT_NPROC": policy.max_processes,
        "RLIMIT_CORE": 0,
    }
    return {k: int(v) for k, v in limits.items() if v is not None}


def _mounts(policy: SandboxPolicy) -> tuple[list[tuple[Path, bool]], list[Path]]:
    """Binds in mount order (path, writable) and the read-only re-binds inside writable ones."""
    writes = [_real(p) for p in policy.write_paths]
    binds: dict[Path, bool] = {}
    for p in [*map(_real, policy.read_paths), _real(policy.workdir)]:
        if p.exists() and not any(_within(p, w) for w in writes):
            binds[p] = False
    for p in writes:
        if p.exists():
            binds[p] = True
    order = sorted(binds, key=lambda p: len(p.parts))
    writable = [p for p in order if binds[p]]
    readonly = sorted(
        {
            r
            for r in map(_real, policy.readonly_paths)
            if r.exists() and any(_within(r, w) for w in writable)
        },
        key=lambda p: len(p.parts),
    )
    return [(p, binds[p]) for p in order], readonly


def _bwrap_argv(argv: Sequence[str], policy: SandboxPolicy) -> list[str]:
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    if policy.network:
        args.append("--share-net")
    binds, readonly = _mounts(policy)
    root = next((w for p, w in binds if p == Path("/")), None)
    if root is None:
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                args += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                args += ["--ro-bind", d, d]
    args += ["--proc", "/proc", "--dev", "/dev"]
    if not root:
        args += ["--tmpfs", "/tmp"]  # noqa: S108 - a private tmpfs inside the sandbox
    for path, writable in binds:
        args += ["--bind" if writable else "--ro-bind", str(path), str(path)]
    for path in readonly:
        args += ["--ro-bind", str(path), str(path)]
    args += ["--chdir", str(_real(policy.workdir)), "--", *argv]
    return args


def _landlock_rules(policy: SandboxPolicy, tmp: Path) -> list[tuple[str, str]]:
    binds, _ = _mounts(policy)
    rules = [(d, "r") for d in (*SYSTEM_DIRS, "/proc") if os.path.isdir(d)]
    rules += [(d, "w") for d in _DEVICES if os.path.exists(d)]
    rules += [(str(p), "w" if w else "r") for p, w in binds]
    rules.append((str(tmp), "w"))
    return rules


def _launcher_config(
    backend: str, argv: Sequence[str], policy: SandboxPolicy, tmp: Path, cgroup: str = ""
) -> dict[str, Any]:
    _, readonly = _mounts(policy)
    command = _bwrap_argv(argv, policy) if backend == "bubblewrap" else list(argv)
    if backend == "bubblewrap":
        command[0] = shutil.which("bwrap") or "bwrap"
    return {
        "mode": backend,
        "argv": command,
        "cwd": str(_real(policy.workdir)),
        "cgroup": cgroup,
        "rlimits": _rlimits(policy),
        "network": policy.network,
        "readonly": [str(p) for p in readonly],
        "rules": _landlock_rules(policy, tmp) if backend == "landlock" else [],
        "parent": os.getpid(),
    }


class _Capture:
    """Keeps the head and the tail of a stream, cut on UTF-8 boundaries."""

    def __init__(self, limit: int) -> None:
        self.half = max(limit // 2, 1)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(len(self.tail) - self.half, 0)]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        if not self.truncated:
            return bytes(self.head + self.tail).decode("utf-8", errors="replace")
        head, tail = bytes(self.head), bytes(self.tail)
        # A UTF-8 character is at most 4 bytes: look back (and forward) at most 3 continuation
        # bytes, so output that is not UTF-8 at all is kept (shown as U+FFFD), not dropped.
        cut = lead_at = len(head)
        while lead_at > 0 and cut - lead_at < 3 and (head[lead_at - 1] & 0xC0) == 0x80:
            lead_at -= 1
        if lead_at > 0 and head[lead_at - 1] >= 0xC0:
            lead = head[lead_at - 1]
            need = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            cut = lead_at - 1 if cut - (lead_at - 1) < need else cut
        start = 0
        while start < min(len(tail), 3) and (tail[start] & 0xC0) == 0x80:
            start += 1
        dropped = self.total - cut - (len(tail) - start)
        marker = f"\n[... {dropped} bytes of output omitted (cap {2 * self.half} bytes) ...]\n"
        return (
            head[:cut].decode("utf-8", errors="replace")
            + marker
            + tail[start:].decode("utf-8", errors="replace")
        )


async def _pump(stream: asyncio.StreamReader | None, capture: _Capture) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        capture.feed(chunk)


def _kill(pid: int, cgroup: ProcessCgroup | None) -> None:
    for target in (pid, -pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(target, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill()


async def run_sandboxed(
    argv: Sequence[str], policy: SandboxPolicy, *, stdin: bytes | None = None
) -> SandboxResult:
    """Run *argv* under *policy* and wait for the whole process tree.

    On timeout or cancellation the launcher, its PID namespace and its cgroup are killed.

    Raises:
        ToolError: ``sandbox_unavailable`` when nothing can confine the command and
            ``allow_unconfined`` is off; ``bad_arguments`` for an empty *argv*.
    """
    if not argv:
        raise ToolError("the sandbox got an empty command", code="bad_arguments")
    backend = _choose_backend(policy)
    tmp = Path(tempfile.mkdtemp(prefix="tau-sandbox-"))
    cgroup = ProcessCgroup.create(policy.max_processes) if policy.max_processes else None
    limit = "none"
    if policy.max_processes:
        limit = "cgroup" if cgroup else "watchdog" if os.geteuid() == 0 else "rlimit"
    config = _launcher_config(backend, argv, policy, tmp, cgroup.procs_file if cgroup else "")
    started = time.monotonic()
    out, err = _Capture(policy.output_bytes), _Capture(policy.output_bytes)
    timed_out = exceeded = False
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(config),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(policy, tmp, backend),
            cwd=str(_real(policy.workdir)),
            start_new_session=True,
        )  # fmt: skip
        readers = [
            asyncio.create_task(_pump(proc.stdout, out)),
            asyncio.create_task(_pump(proc.stderr, err)),
        ]
        try:
            if stdin is not None and proc.stdin is not None:
                proc.stdin.write(stdin)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    await proc.stdin.drain()
                proc.stdin.close()
            waiter = asyncio.ensure_future(proc.wait())
            watchdog = None
            if limit == "watchdog" and policy.max_processes:
                watchdog = asyncio.ensure_future(_watch(proc.pid, policy.max_processes))
            waits: set[asyncio.Future[Any]] = {waiter} | ({watchdog} if watchdog else set())
            done, _ = await asyncio.wait(
                waits, timeout=policy.timeout, return_when=asyncio.FIRST_COMPLETED
            )
            timed_out = not done
            exceeded = watchdog is not None and watchdog in done
            if watchdog is not None:
                watchdog.cancel()
        except BaseException:
            # Cancelled (the caller's timeout) or failed: kill the tree and still reap the
            # launcher, so no process or transport outlives the call.
            _kill(proc.pid, cgroup)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(proc.wait(), 5.0)
            for task in readers:
                task.cancel()
            raise
        _kill(proc.pid, cgroup)
        code = await proc.wait()
        _, pending = await asyncio.wait(readers, timeout=2.0)
        for task in pending:
            task.cancel()
    finally:
        if cgroup is not None:
            cgroup.kill()
            cgroup.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    if code < 0:
        code = 128 - code
    if exceeded:
        limit = "exceeded"
        err.feed(f"\n[sandbox: more than {policy.max_processes} processes; killed]\n".encode())
    return SandboxResult(
        exit_code=None if timed_out else code,
        stdout=out.text(),
        stderr=err.text(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        duration=round(time.monotonic() - started, 6),
        timed_out=timed_out,
        confinement=backend,
        process_limit=limit,
    )


async def _watch(pid: int, limit: int) -> None:
    while count_descendants(pid) <= limit + 2:  # the launcher and the namespace's init
        await asyncio.sleep(0.02)


def _resolve_grant(target: str, workdir: Path) -> Path:
    p = Path(os.path.expanduser(target))
    return _real(p if p.is_absolute() else workdir / p)


def policy_for(
    authority: Authority,
    workdir: Path,
    *,
    protected: Sequence[Path] = (),
    secrets: Mapping[str, str] | None = None,
    timeout: float = 120.0,
    allow_unconfined: bool | None = None,
    env: Mapping[str, str] | None = None,
) -> SandboxPolicy:
    """Derive a sandbox policy from an authority's grants.

    ``write:`` grants become writable binds, ``read:`` grants read-only ones, any ``net:``
    grant shares the network (hosts are not filtered). ``<workdir>/.git`` and *protected*
    stay read-only unless a ``write:`` grant names them exactly. Each secret is exported as an
    environment variable named by the secret's name upper-cased (``github`` → ``GITHUB``).
    ``allow_unconfined`` defaults to ``TAU_SHELL_ALLOW_UNCONFINED=1`` in the environment.
    """
    wd = _real(Path(workdir))
    writes = tuple(_resolve_grant(g.target, wd) for g in authority.grants_of("write"))
    reads = tuple(_resolve_grant(g.target, wd) for g in authority.grants_of("read"))
    guarded = [wd / ".git", *(protected if authority.protect_verifier else ())]
    readonly = tuple(p for p in map(_real, guarded) if p not in writes)
    environment = dict(env or {})
    for name, value in (secrets or {}).items():
        environment[name.upper().replace("-", "_")] = value
    if allow_unconfined is None:
        allow_unconfined = os.environ.get("TAU_SHELL_ALLOW_UNCONFINED") == "1"
    return SandboxPolicy(
        workdir=wd,
        write_paths=writes,
        read_paths=reads,
        readonly_paths=readonly,
        network=bool(authority.grants_of("net")),
        env=environment,
        timeout=timeout,
        allow_unconfined=allow_unconfined,
    )


class ProcessCgroup:
    """A fresh pids cgroup (v2 when delegated to us, else v1) limiting and killing a tree."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

    @classmethod
    def create(cls, limit: int) -> ProcessCgroup | None:
        """A new cgroup with ``pids.max`` = *limit*, or None when this host does not allow one."""
        for base in _cgroup_bases():
            path = base / f"tau-sandbox-{os.getpid()}-{time.monotonic_ns()}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(limit))
            except OSError:
                path.rmdir()
                continue
            return cls(path)
        return None

    def pids(self) -> list[int]:
        try:
            return [int(x) for x in Path(self.procs_file).read_text().split()]
        except OSError:
            return []

    def kill(self) -> None:
        try:
            (self.path / "cgroup.kill").write_text("1")
            return
        except OSError:
            pass
        for _ in range(50):  # v1: no cgroup.kill; bounded retries against racing forks
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        for _ in range(200):
            try:
                self.path.rmdir()
                return
            except OSError:
                self.kill()
                time.sleep(0.01)


def _cgroup_bases() -> list[Path]:
    bases = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    mounts = {"": Path("/sys/fs/cgroup/unified"), "pids": Path("/sys/fs/cgroup/pids")}
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        mounts[""] = Path("/sys/fs/cgroup")
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        key = "" if controllers == "" else "pids" if "pids" in controllers.split(",") else None
        if key is None:
            continue
        base = mounts[key] / rel.lstrip("/")
        if key == "":
            try:
                if "pids" not in (base / "cgroup.subtree_control").read_text().split():
                    continue
            except OSError:
                continue
        bases.append(base)
    return sorted(bases, key=lambda b: "unified" in str(b) or b == Path("/sys/fs/cgroup"))


def count_descendants(root: int) -> int:
    """How many processes descend from *root* (itself included), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    seen, stack = 0, [root]
    while stack:
        pid = stack.pop()
        seen += 1
        stack.extend(children.get(pid, ()))
    return seen


LAUNCHER = r"""
import ctypes, json, os, resource, signal, struct, sys
cfg = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)

def fail(msg):
    os.write(2, ("tau sandbox: " + msg + "\n").encode())
    os._exit(125)

def check(result, what):
    if result < 0:
        fail("%s failed: %s" % (what, os.strerror(ctypes.get_errno())))
    return result

libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the Tau process
if os.getppid() != cfg["parent"]:
    os._exit(125)
if cfg["cgroup"]:
    try:
        with open(cfg["cgroup"], "w") as fh:
            fh.write(str(os.getpid()))
    except OSError as exc:
        fail("cannot join the cgroup: %s" % exc)
for name, value in cfg["rlimits"].items():
    try:
        resource.setrlimit(getattr(resource, name), (value, value))
    except (ValueError, OSError) as exc:
        fail("setrlimit %s: %s" % (name, exc))
argv = cfg["argv"]
if cfg["mode"] != "landlock":
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        fail("cannot run %s: %s" % (argv[0], exc))

def landlock(rules):
    abi = libc.syscall(444, None, 0, 1)
    if abi < 1:
        fail("Landlock is not available")
    handled = (1 << (13 if abi == 1 else 14 if abi == 2 else 15 if abi < 5 else 16)) - 1
    attr = struct.pack("=Q", handled)
    ruleset = check(libc.syscall(444, attr, len(attr), 0), "landlock_create_ruleset")
    read = 1 | 4 | 8
    file_only = 1 | 2 | 4 | (1 << 14) | (1 << 15)
    for path, mode in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        want = (read if mode == "r" else handled) & handled
        if not os.path.isdir(path):
            want &= file_only
        rule = struct.pack("=Qi", want, fd)
        check(libc.syscall(445, ruleset, 1, rule, 0), "landlock_add_rule " + path)
        os.close(fd)
    for cap in range(64):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP: an exec'd root gets no capability
    check(libc.prctl(38, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    check(libc.syscall(446, ruleset, 0), "landlock_restrict_self")

def exit_code(status):
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code

uid, gid = os.geteuid(), os.getegid()
flags = 0x20000 | 0x04000000 | 0x08000000 | 0x20000000  # NEWNS, NEWUTS, NEWIPC, NEWPID
if not cfg["network"]:
    flags |= 0x40000000
if uid != 0:
    flags |= 0x10000000
check(libc.unshare(flags), "unshare")
if uid != 0:
    for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                       ("gid_map", "%d %d 1" % (gid, gid))):
        with open("/proc/self/" + name, "w") as fh:
            fh.write(text)
check(libc.mount(b"none", b"/", None, 16384 | (1 << 18), None), "mount --make-rprivate /")
for path in cfg["readonly"]:
    p = path.encode()
    check(libc.mount(p, p, None, 4096 | 16384, None), "bind " + path)
    keep = os.statvfs(path).f_flag & (2 | 4 | 8 | 1024 | 2048)
    check(libc.mount(None, p, None, 32 | 4096 | 1 | keep, None), "read-only " + path)
init = os.fork()
if init == 0:
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)
    libc.mount(b"proc", b"/proc", b"proc", 2 | 4 | 8, None)
    child = os.fork()
    if child == 0:
        os.setsid()
        os.chdir(cfg["cwd"])
        program = argv[0]
        if "/" not in program:  # resolve before Landlock hides Python's own lazy imports
            for directory in os.environ.get("PATH", "").split(":"):
                candidate = os.path.join(directory or ".", program)
                if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                    program = candidate
                    break
        landlock(cfg["rules"])
        try:
            os.execv(program, argv)
        except OSError as exc:
            os.write(2, ("%s: %s\n" % (argv[0], exc.strerror)).encode())
            os._exit(127)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == child:
            os._exit(exit_code(status))
_, status = os.waitpid(init, 0)
os._exit(exit_code(status))
"""
