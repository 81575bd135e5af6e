"""The ``command`` verifier: green when a command exits 0 inside the sandbox.

The command runs as ``bash -c COMMAND`` in the same sandbox as the shell tool, with the
workspace writable, ``.git`` read-only, a private ``/tmp`` and no network. Options::

    command   the command line (required)
    timeout   seconds before the whole process tree is killed (default 600)
    protect   paths (relative to the workdir) the agent may not change, e.g. ["tests"]
    unconfined_ok   run unconfined when no sandbox works here (default: the
                    TAU_SHELL_ALLOW_UNCONFINED=1 environment variable)

Evidence: the command, its exit code, the last ~4 KB of stdout and of stderr, the duration and
the confinement used.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tau_core import VerifierResult, VerifyContext
from tau_core.errors import ToolError, UsageError

from ._sandbox import SandboxPolicy, run_sandboxed

__all__ = ["CommandVerifier", "command_verifier"]

TAIL_CHARS = 4096
DEFAULT_TIMEOUT = 600.0


def _tail(text: str) -> str:
    return text if len(text) <= TAIL_CHARS else "…" + text[-TAIL_CHARS:]


class CommandVerifier:
    """Green when *command* exits 0 in the sandbox.

    .. versionadded:: 0.1
    """

    name = "command"

    def __init__(
        self,
        command: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        protect: Sequence[str] = (),
        unconfined_ok: bool | None = None,
    ) -> None:
        self.command = command
        self.timeout = timeout
        self.protect = tuple(protect)
        self.unconfined_ok = unconfined_ok

    def protected_paths(self, workdir: Path) -> list[Path]:
        """The paths named by the ``protect`` option (the command's inputs are unknown)."""
        return [Path(workdir) / p for p in self.protect]

    def policy(self, workdir: Path) -> SandboxPolicy:
        """The sandbox the command runs in: workspace writable, .git read-only, no network."""
        wd = Path(os.path.realpath(workdir))
        allow = self.unconfined_ok
        if allow is None:
            allow = os.environ.get("TAU_SHELL_ALLOW_UNCONFINED") == "1"
        return SandboxPolicy(
            workdir=wd,
            write_paths=(wd,),
            readonly_paths=(wd / ".git",),
            network=False,
            timeout=self.timeout,
            allow_unconfined=allow,
        )

    async def verify(self, context: VerifyContext) -> VerifierResult:
        """Run the command; green on exit code 0, red otherwise, error if it cannot run."""
        try:
            result = await run_sandboxed(
                ["bash", "--noprofile", "--norc", "-c", self.command], self.policy(context.workdir)
            )
        except ToolError as exc:
            return VerifierResult(
                self.name,
                "error",
                f"the command could not run: {exc}",
                command=self.command,
                details={"code": exc.code, "hint": exc.hint},
            )
        if result.timed_out:
            status, summary = "red", f"`{self.command}` did not finish in {self.timeout:g}s"
        elif result.exit_code == 0:
            status, summary = "green", f"`{self.command}` exited 0"
        else:
            status, summary = "red", f"`{self.command}` exited {result.exit_code}"
        return VerifierResult(
            self.name,
            status,  # type: ignore[arg-type]
            summary,
            command=self.command,
            exit_code=result.exit_code,
            stdout_tail=_tail(result.stdout),
            stderr_tail=_tail(result.stderr),
            duration=result.duration,
            details={
                "confinement": result.confinement,
                "timed_out": result.timed_out,
                "attempt": context.attempt,
            },
        )


def command_verifier(options: Mapping[str, Any]) -> CommandVerifier:
    """Build the ``command`` verifier from its options (see the module docs).

    Raises:
        UsageError: ``command`` is missing or an option has the wrong type.
    """
    command = options.get("command")
    if not isinstance(command, str) or not command.strip():
        raise UsageError(
            'the command verifier needs a \'command\' option, e.g. {"command": "pytest -q"}'
        )
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise UsageError(
            f"the command verifier's 'timeout' must be positive seconds, got {timeout!r}"
        )
    protect = options.get("protect", [])
    if isinstance(protect, str) or not all(isinstance(p, str) for p in protect):
        raise UsageError("the command verifier's 'protect' must be a list of paths")
    unconfined = options.get("unconfined_ok")
    unknown = set(options) - {"command", "timeout", "protect", "unconfined_ok"}
    if unknown:
        raise UsageError(
            f"unknown command verifier option(s) {sorted(unknown)}; "
            "known: command, timeout, protect, unconfined_ok"
        )
    return CommandVerifier(
        command,
        timeout=float(timeout),
        protect=list(protect),
        unconfined_ok=None if unconfined is None else bool(unconfined),
    )
