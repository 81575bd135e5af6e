"""The ``git`` tool: status, diff, log, branch, worktree and commit; never the network.

Every call runs a real ``git`` subprocess (an argument list, never a shell) with ``cwd`` set to
the task's working directory, ``GIT_TERMINAL_PROMPT=0``, inherited ``GIT_*`` variables removed
(except the identity and the choice of configuration files), discovery stopped above the
repository Tau located, and configuration that keeps git local and inert:

* ``core.hooksPath=/dev/null`` (plus ``--no-verify`` on commit): hooks are code the agent may
  have written, so no hook ever runs;
* ``protocol.allow=never``: no transport can reach a remote, and push, fetch, pull, clone,
  remote and submodule are refused outright;
* ``core.fsmonitor=false``, ``diff`` with ``--no-ext-diff --no-textconv``: no helper program
  from the repository's configuration runs; ``gc.auto=0``: no background work is left behind.

Commits carry a ``Tau-Run: <run id>`` trailer. The identity is the repository's configured one;
where none is configured, ``Tau <tau@localhost>`` is passed with ``-c user.name``/``user.email``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from attrs import frozen

from tau_core import Capability, ToolCallContext, ToolResult, ToolSpec
from tau_core.errors import ToolError

__all__ = ["GitCall", "GitOutput", "GitTool", "Repo", "locate_repo", "parse_call", "run_git"]

MAX_OUTPUT = 32_000
"""Characters of git's standard output returned to the model; the rest is cut with a marker."""
STDERR_TAIL = 2_000
GIT_TIMEOUT = 60.0

_SAFE_CONFIG = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "protocol.allow=never",
    "credential.helper=",
    "core.pager=cat",
    "color.ui=false",
    "gc.auto=0",
    "maintenance.auto=false",
    "advice.detachedHead=false",
)
_KEPT_ENV = (
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_CONFIG_NOSYSTEM",
)
"""Inherited ``GIT_*`` variables kept: the identity and which configuration files to read."""
FALLBACK_NAME = "Tau"
FALLBACK_EMAIL = "tau@localhost"


@frozen
class Repo:
    """Where a working directory's repository lives.

    Attributes:
        toplevel: The work tree's root.
        gitdir: The work tree's git directory (``.git``, or ``.git/worktrees/X`` for a linked
            worktree).
        commondir: The directory holding objects and refs (equal to ``gitdir`` except in a
            linked worktree).
    """

    toplevel: Path
    gitdir: Path
    commondir: Path


def locate_repo(workdir: Path) -> Repo | None:
    """Find the repository *workdir* belongs to, without running git.

    Walks up from *workdir* to the first ``.git`` directory or ``gitdir:`` file, as git's own
    discovery does. Returns None outside a repository.
    """
    start = Path(os.path.realpath(workdir))
    for directory in (start, *start.parents):
        dotgit = directory / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():
            try:
                text = dotgit.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                continue
            if not text.startswith("gitdir:"):
                continue
            gitdir = directory / text.removeprefix("gitdir:").strip()
        else:
            continue
        commondir = gitdir
        common_file = gitdir / "commondir"
        if common_file.is_file():
            try:
                commondir = gitdir / common_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                commondir = gitdir
        return Repo(directory, Path(os.path.realpath(gitdir)), Path(os.path.realpath(commondir)))
    return None


def git_env(repo: Repo | None) -> dict[str, str]:
    """The environment git runs with: no inherited ``GIT_*`` redirection, no prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _KEPT_ENV}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
        GIT_EDITOR="true",
        GIT_PAGER="cat",
        LC_ALL="C",
    )
    if repo is not None and repo.toplevel.parent != repo.toplevel:
        env["GIT_CEILING_DIRECTORIES"] = str(repo.toplevel.parent)
    return env


@frozen
class GitOutput:
    """One finished git command.

    Attributes:
        argv: The full argument list, with Tau's ``-c`` settings.
        command: ``git`` and the caller's arguments only, for evidence people read.
    """

    argv: tuple[str, ...]
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    stdout_truncated: bool
    duration: float

    @property
    def stderr_tail(self) -> str:
        return self.stderr[-STDERR_TAIL:]


async def _drain(stream: asyncio.StreamReader | None, limit: int, *, tail: bool) -> tuple[str, int]:
    kept = bytearray()
    total = 0
    if stream is None:
        return "", 0
    while chunk := await stream.read(65_536):
        total += len(chunk)
        kept += chunk
        if len(kept) > 2 * limit:
            kept = kept[-limit:] if tail else kept[:limit]
    data = bytes(kept[-limit:] if tail else kept[:limit])
    return data.decode("utf-8", errors="ignore" if not tail else "replace"), total


async def run_git(
    args: Sequence[str],
    cwd: Path,
    *,
    repo: Repo | None = None,
    config: Sequence[str] = (),
    stdin: bytes | None = None,
    timeout: float = GIT_TIMEOUT,
    limit: int = MAX_OUTPUT,
    extra_env: Mapping[str, str] | None = None,
) -> GitOutput:
    """Run ``git ARGS`` in *cwd* with Tau's inert configuration; never raises on exit codes.

    Raises:
        ToolError: ``git_missing`` when git is not installed, ``git_timeout`` when it does not
            finish in *timeout* seconds (its process group is killed).
    """
    argv = ["git", "--no-pager", "--literal-pathspecs"]
    for item in (*_SAFE_CONFIG, *config):
        argv += ["-c", item]
    argv += list(args)
    started = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**git_env(repo), **(extra_env or {})},
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolError(
            "git is not installed (no 'git' on PATH)",
            code="git_missing",
            hint="install git, or work without the git tool",
        ) from None

    async def communicate() -> tuple[tuple[str, int], tuple[str, int], int]:
        if stdin is not None and proc.stdin is not None:
            proc.stdin.write(stdin)
            await proc.stdin.drain()
            proc.stdin.close()
        out, err = await asyncio.gather(
            _drain(proc.stdout, limit, tail=False), _drain(proc.stderr, 16_000, tail=True)
        )
        return out, err, await proc.wait()

    try:
        (out, out_total), (err, _), code = await asyncio.wait_for(communicate(), timeout)
    except BaseException as exc:
        _kill_group(proc.pid)
        await proc.wait()
        if isinstance(exc, TimeoutError):
            raise ToolError(
                f"git {args[0] if args else ''} did not finish in {timeout:g}s",
                code="git_timeout",
                hint="limit the command to fewer paths or commits",
            ) from None
        raise
    truncated = out_total > len(out.encode("utf-8"))
    if truncated:
        out += f"\n[output truncated: {out_total} bytes in all, {limit} shown]\n"
    return GitOutput(
        tuple(argv), ("git", *args), code, out, err, truncated, time.perf_counter() - started
    )


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _failure(output: GitOutput, action: str, hint: str) -> ToolError:
    tail = output.stderr_tail.strip() or output.stdout[-STDERR_TAIL:].strip()
    if "not a git repository" in tail.lower():
        return ToolError(
            f"the working directory is not inside a git repository ({tail})",
            code="not_a_repository",
            hint="run git init first, or work in a directory that is a git work tree",
        )
    return ToolError(
        f"git {action} failed with exit code {output.exit_code}: {tail}",
        code="git_failed",
        hint=hint,
    )


ACTIONS = ("status", "diff", "log", "branch", "worktree", "commit")
NETWORK_ACTIONS = frozenset(
    {"push", "fetch", "pull", "clone", "remote", "ls-remote", "submodule", "request-pull"}
)
_OPERATIONS = {"branch": ("list", "create", "switch"), "worktree": ("list", "add", "remove")}
_ALLOWED = {
    "status": {"paths"},
    "diff": {"paths", "staged", "ref", "stat"},
    "log": {"paths", "ref", "max_count"},
    "branch": {"operation", "name", "start_point", "create"},
    "worktree": {"operation", "path", "name", "start_point"},
    "commit": {"message", "paths", "allow_empty"},
}
MAX_LOG = 200

PARAMETERS: dict[str, object] = {
    "type": "object",
    "required": ["action"],
    "additionalProperties": False,
    "properties": {
        "action": {
            "type": "string",
            "description": "status | diff | log | branch | worktree | commit",
        },
        "operation": {
            "type": "string",
            "description": "branch: list (default), create or switch; "
            "worktree: list (default), add or remove",
        },
        "name": {
            "type": "string",
            "description": "branch create/switch: the branch; worktree add: a new branch to "
            "create for the worktree (default: a detached HEAD)",
        },
        "start_point": {
            "type": "string",
            "description": "branch create, branch switch with create=true, worktree add: the "
            "commit to start from (default HEAD)",
        },
        "create": {"type": "boolean", "description": "branch switch: create the branch first"},
        "path": {"type": "string", "description": "worktree add/remove: the worktree directory"},
        "paths": {
            "type": "array",
            "items": {"type": "string"},
            "description": "status, diff, log, commit: only these paths (relative to the "
            "working directory); commit stages and commits only them",
        },
        "staged": {"type": "boolean", "description": "diff: the staged changes"},
        "ref": {
            "type": "string",
            "description": "diff: compare the working tree with this commit; log: start here",
        },
        "stat": {"type": "boolean", "description": "diff: a summary of changed files only"},
        "max_count": {
            "type": "integer",
            "description": f"log: at most this many commits (default 20, at most {MAX_LOG})",
        },
        "message": {
            "type": "string",
            "description": "commit: the message; a 'Tau-Run: <run id>' trailer is added",
        },
        "allow_empty": {"type": "boolean", "description": "commit: even with no changes"},
    },
}


@frozen
class GitCall:
    """One validated git tool call (see :data:`PARAMETERS` for the arguments)."""

    action: str
    operation: str = "list"
    name: str | None = None
    start_point: str | None = None
    create: bool = False
    path: Path | None = None
    paths: tuple[str, ...] = ()
    staged: bool = False
    ref: str | None = None
    stat: bool = False
    max_count: int = 20
    message: str = ""
    allow_empty: bool = False

    @property
    def mutates(self) -> bool:
        """Whether the call changes the repository (and so needs write and exec grants)."""
        if self.action == "commit":
            return True
        return self.action in _OPERATIONS and self.operation != "list"


def _bad(message: str, hint: str) -> ToolError:
    return ToolError(message, code="bad_arguments", hint=hint)


def _revision(arguments: Mapping[str, object], key: str) -> str | None:
    value = arguments.get(key)
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value
        or value.startswith("-")
        or any(ch.isspace() or ord(ch) < 32 for ch in value)
    ):
        raise _bad(
            f"{key}={value!r} is not a branch or commit name",
            f"pass {key} as a name such as 'main', 'fix/parser' or 'HEAD~1' "
            "(no spaces, not starting with '-')",
        )
    return value


def _flag(arguments: Mapping[str, object], key: str) -> bool:
    value = arguments.get(key, False)
    if not isinstance(value, bool):
        raise _bad(f"{key}={value!r} is not true or false", f"pass {key} as a JSON boolean")
    return value


def _paths(arguments: Mapping[str, object], workdir: Path) -> tuple[str, ...]:
    value = arguments.get("paths", [])
    if not isinstance(value, list | tuple) or not all(isinstance(p, str) and p for p in value):
        raise _bad(
            f"paths={value!r} is not a list of relative paths",
            'pass paths as a list of strings, e.g. ["src/app.py", "tests"]',
        )
    root = Path(os.path.realpath(workdir))
    for item in value:
        resolved = Path(os.path.realpath(root / item))
        if os.path.isabs(item) or (resolved != root and root not in resolved.parents):
            raise _bad(
                f"path {item!r} is outside the working directory",
                "give paths relative to the working directory, without '..' leading out",
            )
    return tuple(value)


def parse_call(arguments: Mapping[str, object], workdir: Path) -> GitCall:
    """Validate the arguments of one call.

    Raises:
        ToolError: ``network_refused`` for push, fetch, pull, clone and the like;
            ``bad_arguments`` for an unknown action or a bad or misplaced argument.
    """
    action = arguments.get("action")
    if isinstance(action, str) and action.strip().lower() in NETWORK_ACTIONS:
        raise ToolError(
            f"git {action.strip().lower()} talks to a remote; the git tool never uses the network",
            code="network_refused",
            hint="work with the local repository (status, diff, log, branch, worktree, "
            "commit); a person pushes or fetches",
        )
    if action not in ACTIONS:
        raise _bad(f"action={action!r} is not a git action", f"use one of {', '.join(ACTIONS)}")
    assert isinstance(action, str)  # noqa: S101 - narrowed by the membership test above
    extra = sorted(set(arguments) - _ALLOWED[action] - {"action"})
    if extra:
        takes = ", ".join(sorted(_ALLOWED[action])) or "nothing else"
        raise _bad(f"git {action} does not take {', '.join(extra)}", f"git {action} takes {takes}")
    operation = arguments.get("operation", "list")
    if action in _OPERATIONS and operation not in _OPERATIONS[action]:
        raise _bad(
            f"operation={operation!r} is not a git {action} operation",
            f"use one of {', '.join(_OPERATIONS[action])}",
        )
    assert isinstance(operation, str)  # noqa: S101 - narrowed by the membership test above
    name = _revision(arguments, "name")
    start_point = _revision(arguments, "start_point")
    create = _flag(arguments, "create")
    if action == "branch" and operation in ("create", "switch") and name is None:
        raise _bad(f"git branch {operation} needs a name", 'pass "name": "my-branch"')
    if action == "branch" and operation == "switch" and start_point and not create:
        raise _bad(
            "start_point only applies when switching creates the branch",
            'pass "create": true to create the branch at start_point',
        )
    path = None
    if action == "worktree" and operation != "list":
        raw = arguments.get("path")
        if not isinstance(raw, str) or not raw:
            raise _bad(f"git worktree {operation} needs a path", 'pass "path": "../feature-wt"')
        path = Path(os.path.realpath(Path(workdir) / raw))
    max_count = arguments.get("max_count", 20)
    if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 1:
        raise _bad(f"max_count={max_count!r} is not a positive integer", "pass e.g. 20")
    message = arguments.get("message", "")
    if action == "commit" and (not isinstance(message, str) or not message.strip()):
        raise _bad("a commit needs a non-empty message", 'pass "message": "Fix the parser"')
    return GitCall(
        action=action,
        operation=operation,
        name=name,
        start_point=start_point,
        create=create,
        path=path,
        paths=_paths(arguments, workdir),
        staged=_flag(arguments, "staged"),
        ref=_revision(arguments, "ref"),
        stat=_flag(arguments, "stat"),
        max_count=min(max_count, MAX_LOG),
        message=str(message),
        allow_empty=_flag(arguments, "allow_empty"),
    )


Result = tuple[str, dict[str, object]]


def _meta(output: GitOutput, **extra: object) -> dict[str, object]:
    return {
        "command": list(output.command),
        "exit_code": output.exit_code,
        "duration": round(output.duration, 6),
        "truncated": output.stdout_truncated,
        **extra,
    }


async def _checked(
    args: Sequence[str], workdir: Path, repo: Repo, hint: str, **kwargs: object
) -> GitOutput:
    output = await run_git(args, workdir, repo=repo, **kwargs)  # type: ignore[arg-type]
    if output.exit_code != 0:
        raise _failure(output, args[0], hint)
    return output


async def _status(call: GitCall, workdir: Path, repo: Repo) -> Result:
    args = ["status", "--short", "--branch", "--untracked-files=all", "--", *call.paths]
    out = await _checked(args, workdir, repo, "check the paths")
    text = out.stdout
    if len([line for line in text.splitlines() if line.strip()]) <= 1:
        text += "nothing to commit, working tree clean\n"
    return text, _meta(out)


async def _diff(call: GitCall, workdir: Path, repo: Repo) -> Result:
    args = ["diff", "--no-ext-diff", "--no-textconv", "--no-color"]
    args += ["--cached"] if call.staged else []
    args += ["--stat"] if call.stat else []
    args += [call.ref] if call.ref else []
    out = await _checked(
        [*args, "--", *call.paths], workdir, repo, "check that ref names an existing commit"
    )
    text = out.stdout or "no differences\n"
    if not call.staged:
        others = await run_git(
            ["ls-files", "--others", "--exclude-standard", "--", *call.paths], workdir, repo=repo
        )
        if others.exit_code == 0 and others.stdout.strip():
            text += "untracked files (not in the diff):\n" + others.stdout
    return text, _meta(out)


async def _log(call: GitCall, workdir: Path, repo: Repo) -> Result:
    args = ["log", f"--max-count={call.max_count}", "--format=%h %ad %an%x09%s", "--date=short"]
    args += [call.ref] if call.ref else []
    out = await _checked(
        [*args, "--", *call.paths],
        workdir,
        repo,
        "a new repository has no commits until the first commit; check that ref exists",
    )
    return out.stdout or "no commits\n", _meta(out)


async def _branch(call: GitCall, workdir: Path, repo: Repo) -> Result:
    start = [call.start_point] if call.start_point else []
    if call.operation == "list":
        out = await _checked(["branch", "--list", "-v", "--no-color"], workdir, repo, "")
        return out.stdout or "no branches yet (the repository has no commit)\n", _meta(out)
    assert call.name is not None  # noqa: S101 - parse_call requires it for create/switch
    if call.operation == "create":
        out = await _checked(
            ["branch", call.name, *start],
            workdir,
            repo,
            "the branch may already exist (list branches), or start_point may not exist",
        )
        return f"created branch {call.name}\n", _meta(out)
    args = ["switch", "-c", call.name, *start] if call.create else ["switch", call.name]
    out = await _checked(
        args,
        workdir,
        repo,
        "commit your changes first if they would be overwritten; pass create=true for a new branch",
    )
    return f"switched to branch {call.name}\n{out.stderr.strip()}\n", _meta(out)


async def _worktree(call: GitCall, workdir: Path, repo: Repo) -> Result:
    if call.operation == "list":
        out = await _checked(["worktree", "list"], workdir, repo, "")
        return out.stdout, _meta(out)
    assert call.path is not None  # noqa: S101 - parse_call requires it for add/remove
    if call.operation == "add":
        head = ["-b", call.name] if call.name else ["--detach"]
        start = [call.start_point] if call.start_point else []
        out = await _checked(
            ["worktree", "add", *head, str(call.path), *start],
            workdir,
            repo,
            "the path must not exist yet (or be empty), and a new branch name must be free",
        )
        return f"added worktree {call.path}\n{out.stderr.strip()}\n", _meta(out)
    out = await _checked(
        ["worktree", "remove", str(call.path)],
        workdir,
        repo,
        "only a clean worktree is removed: commit or discard its changes first",
    )
    return f"removed worktree {call.path}\n", _meta(out)


async def _identity(workdir: Path, repo: Repo) -> list[str]:
    """``-c`` items supplying the fallback identity for whatever is not configured."""
    config = []
    for key, env, fallback in (
        ("user.name", "GIT_AUTHOR_NAME", FALLBACK_NAME),
        ("user.email", "GIT_AUTHOR_EMAIL", FALLBACK_EMAIL),
    ):
        if os.environ.get(env):
            continue
        out = await run_git(["config", "--get", key], workdir, repo=repo)
        if out.exit_code != 0 or not out.stdout.strip():
            config.append(f"{key}={fallback}")
    return config


async def _commit(call: GitCall, workdir: Path, repo: Repo, run_id: str) -> Result:
    await _checked(["add", "-A", "--", *(call.paths or (".",))], workdir, repo, "check the paths")
    staged = await run_git(["diff", "--cached", "--quiet", "--", *call.paths], workdir, repo=repo)
    if staged.exit_code == 0 and not call.allow_empty:
        raise ToolError(
            "nothing to commit: no changes in "
            + (", ".join(call.paths) if call.paths else "the working directory"),
            code="nothing_to_commit",
            hint="change files first, or pass allow_empty=true for an empty commit",
        )
    identity = await _identity(workdir, repo)
    trailer = f"Tau-Run: {run_id}"
    args = ["commit", "--no-verify", "--quiet", "--cleanup=whitespace", "--file=-"]
    args += ["--trailer", trailer]
    args += ["--allow-empty"] if call.allow_empty else []
    args += ["--", *call.paths] if call.paths else []
    out = await _checked(
        args,
        workdir,
        repo,
        "resolve any merge in progress and check the paths",
        config=identity,
        stdin=call.message.encode("utf-8"),
    )
    shown = await _checked(["show", "--stat", "--format=%H %s", "HEAD"], workdir, repo, "")
    sha = shown.stdout.split(" ", 1)[0]
    who = "configured" if not identity else f"fallback {FALLBACK_NAME} <{FALLBACK_EMAIL}>"
    text = f"committed {shown.stdout.strip()}\ntrailer: {trailer}\nidentity: {who}\n"
    return text, _meta(out, commit=sha, trailer=trailer, identity=who)


async def perform(call: GitCall, workdir: Path, repo: Repo, run_id: str) -> Result:
    """Run one validated call; returns the text for the model and metadata for the evidence."""
    if call.action == "commit":
        return await _commit(call, workdir, repo, run_id)
    handler = {
        "status": _status,
        "diff": _diff,
        "log": _log,
        "branch": _branch,
        "worktree": _worktree,
    }[call.action]
    return await handler(call, workdir, repo)


class GitTool:
    """The ``git`` tool: one ``action`` argument, per-action arguments (see ``_git_args``)."""

    def __init__(self) -> None:
        self.spec = ToolSpec(
            "git",
            "Work with the git repository of the working directory. action=status|diff|log "
            "read the repository; branch (list, create, switch), worktree (list, add, remove) "
            "and commit change it. Commits get a 'Tau-Run: <run id>' trailer; hooks never "
            "run. Network operations (push, fetch, pull, clone, remote) are refused.",
            PARAMETERS,
            side_effect="write",
            capabilities=("read", "write", "exec"),
            idempotent=False,
            timeout=GIT_TIMEOUT * 3,
        )

    def capabilities(self, arguments: Mapping[str, object], workdir: Path) -> list[Capability]:
        """Every grant the call needs.

        Reading actions need ``read`` on the work tree (and on the git directory when it lives
        elsewhere). Changing actions also need ``exec:git`` and ``write`` on the git
        directory (objects, refs, index); switching a branch needs ``write`` on the work tree
        itself (it rewrites files), and worktree add/remove need ``write`` on the worktree path.
        """
        call = parse_call(arguments, workdir)
        repo = locate_repo(workdir)
        top = repo.toplevel if repo is not None else Path(os.path.realpath(workdir))
        caps = [Capability("read", str(top))]
        git_dirs = [top / ".git"] if repo is None else sorted({repo.gitdir, repo.commondir})
        for directory in git_dirs:
            if top not in directory.parents:
                caps.append(Capability("read", str(directory)))
        if call.mutates:
            caps.append(Capability("exec", "git"))
            caps.extend(Capability("write", str(d)) for d in git_dirs)
            if call.action == "branch" and call.operation == "switch":
                caps.append(Capability("write", str(top)))
            if call.action == "worktree" and call.path is not None:
                caps.append(Capability("write", str(call.path)))
        return caps

    async def run(self, arguments: Mapping[str, object], context: ToolCallContext) -> ToolResult:
        """Run one git action and return its output, or raise a structured :class:`ToolError`."""
        workdir = context.workdir
        call = parse_call(arguments, workdir)
        repo = locate_repo(workdir)
        if repo is None:
            raise ToolError(
                f"{workdir} is not inside a git repository",
                code="not_a_repository",
                hint="run git init first, or work in a directory that is a git work tree",
            )
        content, metadata = await perform(call, workdir, repo, context.run_id)
        return ToolResult(context.call.id, self.spec.name, content, metadata=metadata)
