"""The ``shell`` tool: a bash command, parsed and checked, run in the sandbox.

Before anything runs, :meth:`ShellTool.capabilities` parses the command and asks for an
``exec:PROGRAM`` grant for every program it would run (see :mod:`tau_tools._shellparse`), a
``read:`` grant on the working directory, and a ``secret:NAME@shell`` grant for every secret
named in the ``secrets`` argument. Inside :meth:`ShellTool.run` the same checks run again
against ``context.authority`` (defence in depth), then ``bash -c`` runs in the sandbox derived
from the grants (:func:`tau_tools._sandbox.policy_for`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from tau_core import Capability, ToolResult, ToolSpec
from tau_core._authority import capability_granted
from tau_core._hookcontext import ToolCallContext
from tau_core.errors import ToolError

from ._sandbox import SandboxResult, policy_for, run_sandboxed
from ._shellparse import parse_command

__all__ = ["ShellTool"]

DEFAULT_TIMEOUT = 60.0
MAX_TIMEOUT = 3600.0

_DESCRIPTION = (
    "Run a bash command in a sandbox and return its exit code, stdout and stderr. Every program "
    "the command runs (in pipelines, ;, &&, ||, $(...), backticks, subshells, bash -c strings) "
    "needs an exec grant; programs named by variables or substitutions are refused. Writes are "
    "allowed only inside write grants, .git stays read-only, and there is no network unless a "
    "net grant exists. Secrets named in `secrets` are exported as upper-cased environment "
    "variables (github -> $GITHUB)."
)


def _bash_argv(command: str) -> list[str]:
    return ["bash", "--noprofile", "--norc", "-c", command]


def _command(arguments: Mapping[str, Any]) -> str:
    command = arguments.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ToolError(
            "the 'command' argument must be a non-empty string",
            code="bad_arguments",
            hint='pass {"command": "ls -la"}',
        )
    return command


def _secret_names(arguments: Mapping[str, Any]) -> list[str]:
    names = arguments.get("secrets") or []
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ToolError(
            "the 'secrets' argument must be a list of secret names",
            code="bad_arguments",
            hint='pass {"secrets": ["github"]}; each needs a secret:NAME@shell grant',
        )
    return list(names)


def _timeout(arguments: Mapping[str, Any]) -> float:
    value = arguments.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ToolError(
            f"the 'timeout' argument must be a positive number of seconds, got {value!r}",
            code="bad_arguments",
            hint=f"pass a timeout between 1 and {MAX_TIMEOUT:g}",
        )
    return min(float(value), MAX_TIMEOUT)


def _format(result: SandboxResult) -> str:
    head = (
        "timed out (the whole process tree was killed)"
        if result.timed_out
        else (f"exit code: {result.exit_code}")
    )
    parts = [head]
    if result.stdout:
        parts.append("stdout:\n" + result.stdout)
    if result.stderr:
        parts.append("stderr:\n" + result.stderr)
    return "\n".join(parts)


class ShellTool:
    """Runs a bash command in the sandbox.

    Args:
        unconfined_ok: Run unconfined when no sandbox works on this host. ``None`` reads the
            ``tools.shell.unconfined_ok`` setting, then ``TAU_SHELL_ALLOW_UNCONFINED=1``. An
            authority with ``allow_unconfined=True`` accepts it for its own runs.
        cpu_seconds: ``RLIMIT_CPU`` per process.
        memory_bytes: ``RLIMIT_AS`` per process.
        file_size_bytes: ``RLIMIT_FSIZE``.
        max_processes: Processes in the sandbox at once.
        output_bytes: Bytes kept of each of stdout and stderr.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        unconfined_ok: bool | None = None,
        cpu_seconds: int | None = 300,
        memory_bytes: int | None = 2 << 30,
        file_size_bytes: int | None = 1 << 30,
        max_processes: int | None = 256,
        output_bytes: int = 64_000,
    ) -> None:
        self.unconfined_ok = unconfined_ok
        self.limits: dict[str, Any] = {
            "cpu_seconds": cpu_seconds,
            "memory_bytes": memory_bytes,
            "file_size_bytes": file_size_bytes,
            "max_processes": max_processes,
            "output_bytes": output_bytes,
        }
        self.spec = ToolSpec(
            "shell",
            _DESCRIPTION,
            {
                "type": "object",
                "required": ["command"],
                "additionalProperties": False,
                "properties": {
                    "command": {"type": "string", "description": "bash command line"},
                    "timeout": {
                        "type": "number",
                        "description": f"seconds (default {DEFAULT_TIMEOUT:g})",
                    },
                    "stdin": {"type": "string", "description": "text fed to standard input"},
                    "secrets": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "secret names to export as upper-cased env variables",
                    },
                },
            },
            side_effect="exec",
            capabilities=("read", "exec", "secret"),
            idempotent=False,
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        parsed = parse_command(_command(arguments))
        caps = [Capability("read", str(workdir))]
        caps += [Capability("exec", p) for p in parsed.programs]
        caps += [Capability("secret", f"{n}@{self.spec.name}") for n in _secret_names(arguments)]
        return caps

    def timeout_for(self, arguments: Mapping[str, Any]) -> float | None:
        """The call's own timeout: core waits that long (plus a grace period), so the
        sandbox's limit fires first and the partial output is kept."""
        try:
            return _timeout(arguments)
        except ToolError:
            return None  # run() reports the bad value

    def _unconfined_ok(self, workdir: Path) -> bool:
        if self.unconfined_ok is not None:
            return self.unconfined_ok
        from tau_core import load_config

        setting = load_config(workdir).get("tools.shell.unconfined_ok")
        if setting is not None:
            return bool(setting)
        return os.environ.get("TAU_SHELL_ALLOW_UNCONFINED") == "1"

    async def run(self, arguments: Mapping[str, Any], context: ToolCallContext) -> ToolResult:
        command = _command(arguments)
        timeout = _timeout(arguments)
        authority = context.authority
        if authority is None:
            raise ToolError(
                "the shell tool got no authority to confine itself to; it refuses to run",
                code="missing_authority",
                hint="run it through tau_core's loop or `tau tools call`, which pass the authority",
            )
        workdir = Path(context.workdir)
        for cap in self.capabilities(arguments, workdir):
            if cap.kind != "secret" and not capability_granted(authority, cap, workdir):
                raise ToolError(
                    f"the command needs {cap}, which no grant covers",
                    code="policy_denied",
                    hint=f"ask for the grant {cap} or use another program",
                )
        names = _secret_names(arguments)
        secrets = {n: v for n, v in context.secrets.items() if n in names}
        stdin = arguments.get("stdin")
        policy = policy_for(
            authority,
            workdir,
            protected=tuple(getattr(context, "protected", ()) or ()),
            secrets=secrets,
            timeout=timeout,
            allow_unconfined=authority.allow_unconfined or self._unconfined_ok(workdir),
        )
        policy = attrs.evolve(policy, **self.limits)
        result = await run_sandboxed(
            _bash_argv(command),
            policy,
            stdin=stdin.encode() if isinstance(stdin, str) else None,
        )
        metadata = {
            "confinement": result.confinement,
            "exit_code": result.exit_code,
            "timed_out": result.timed_out,
            "duration": result.duration,
            "stdout_truncated": result.stdout_truncated,
            "stderr_truncated": result.stderr_truncated,
            "process_limit": result.process_limit,
            "network": "shared (hosts not filtered)" if policy.network else "none",
            "programs": list(parse_command(command).programs),
        }
        if result.timed_out:
            failed = ToolResult.failure(
                context.call,
                "timeout",
                f"the command did not finish in {timeout:g}s; its whole process tree was killed",
                "run something shorter, or pass a larger timeout",
                **metadata,
            )
            return ToolResult(
                failed.call_id, failed.name, _format(result), failed.error, failed.metadata
            )
        return ToolResult(context.call.id, self.spec.name, _format(result), metadata=metadata)
