"""Tau's public test kit, for Tau's own tests and for plugin authors.

* :func:`isolated_home`: a private ``TAU_HOME``, plugin autoload off, an in-memory keyring, a
  fresh plugin manager; everything restored on exit.
* :func:`fresh_plugin_manager` and :func:`make_plugin`: a plugin manager holding core plus the
  tools, verifiers and providers you pass.
* :class:`ScriptedModel`: a real provider that plays back model turns (also ``scripted:PATH``).
* Real, small tools over a directory (:class:`WriteFile`, :class:`ReadFile`,
  :class:`AppendLine`), a recording :class:`FakeTool`, and simple verifiers
  (:class:`FileEquals`, :class:`ScriptedVerifier`).
* pytest fixtures (loaded automatically through the ``pytest11`` entry point):
  ``tau_home``, ``tau_plugins``.

Load the same tools and verifiers into the CLI with ``tau -p tau_core.testing.plugin ...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tau_core._authority import Capability
from tau_core._contracts import VerifyContext
from tau_core._hookcontext import ToolCallContext
from tau_core._messages import JSON, SideEffect, ToolResult, ToolSpec
from tau_core._outcome import VerifierResult
from tau_core._plugins import PluginManager, reset_plugin_manager
from tau_core._scripted import ScriptedModel
from tau_core.errors import ToolError
from tau_core.hookspecs import hookimpl

__all__ = [
    "AppendLine",
    "FakeTool",
    "FileEquals",
    "ReadFile",
    "ScriptedModel",
    "ScriptedVerifier",
    "Sleep",
    "WriteFile",
    "fresh_plugin_manager",
    "isolated_home",
    "make_plugin",
]


@contextlib.contextmanager
def isolated_home(path: str | os.PathLike[str], *, keyring: bool = True) -> Iterator[Path]:
    """Point ``TAU_HOME`` at *path*, turn plugin autoload off, install an in-memory keyring
    (when the optional ``keyring`` library is installed).

    Everything is restored on exit, including the cached plugin manager.
    """
    home = Path(path)
    home.mkdir(parents=True, exist_ok=True)
    saved = {
        k: os.environ.get(k)
        for k in (
            "TAU_HOME",
            "TAU_DISABLE_PLUGIN_AUTOLOAD",
            "TAU_PLUGINS",
            "TAU_PLUGIN_MODULES",
            "TAU_PASSPHRASE",
        )
    }
    os.environ["TAU_HOME"] = str(home)
    os.environ["TAU_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    for k in ("TAU_PLUGINS", "TAU_PLUGIN_MODULES", "TAU_PASSPHRASE"):
        os.environ.pop(k, None)
    reset_plugin_manager()
    with contextlib.ExitStack() as stack:
        # The keyring library is an optional extra (tau-core[credentials]); without it there is
        # no OS keyring to shield from the test, so there is nothing to replace.
        if keyring and importlib.util.find_spec("keyring") is not None:
            from ._keyring import memory_keyring

            stack.enter_context(memory_keyring())
        try:
            yield home
        finally:
            reset_plugin_manager()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def make_plugin(
    *,
    tools: Sequence[Any] = (),
    verifiers: Mapping[str, Any] | None = None,
    providers: Mapping[str, Any] | None = None,
) -> object:
    """A plugin object registering ready-made *tools*, *verifiers* and *providers*.

    ``verifiers`` maps names to verifier objects or factories ``f(options)``; ``providers`` maps
    names to provider objects or factories ``f(model, config=...)``.
    """

    class _Plugin:
        TAU_PLUGIN_API = 1

        @hookimpl
        def tau_register_tools(self, registry: Any) -> None:
            for tool in tools:
                registry.register(tool.spec.name, lambda t=tool: t)

        @hookimpl
        def tau_register_verifiers(self, registry: Any) -> None:
            for name, v in (verifiers or {}).items():
                factory = v if not hasattr(v, "verify") else (lambda options, v=v: v)
                registry.register(name, factory)

        @hookimpl
        def tau_register_providers(self, registry: Any) -> None:
            for name, p in (providers or {}).items():
                factory = p if not hasattr(p, "complete") else (lambda model, config=None, p=p: p)
                registry.register(name, factory)

    return _Plugin()


def fresh_plugin_manager(*plugins: object) -> PluginManager:
    """A plugin manager with tau-core's own plugin and *plugins*, nothing autoloaded."""
    from tau_core import _plugin

    manager = PluginManager(strict=True)
    manager.register(_plugin, "core", dist="tau-core")
    for i, plugin in enumerate(plugins):
        manager.register(plugin, f"test-plugin-{i}")
    manager.check_pending()
    return manager


def _path_arg(arguments: Mapping[str, JSON]) -> str:
    path = arguments.get("path")
    if not isinstance(path, str) or not path:
        raise ToolError(
            "the 'path' argument must be a non-empty string",
            code="bad_arguments",
            hint='pass {"path": "relative/file.txt", ...}',
        )
    return path


class _FileTool:
    spec: ToolSpec
    kind = "read"

    def capabilities(self, arguments: Mapping[str, JSON], workdir: Path) -> list[Capability]:
        return [Capability(self.kind, str(workdir / _path_arg(arguments)))]  # type: ignore[arg-type]


class WriteFile(_FileTool):
    """Writes ``content`` to ``path`` (relative to the task's workdir). Idempotent."""

    kind = "write"

    def __init__(self, name: str = "write_file") -> None:
        self.spec = ToolSpec(
            name,
            "Write text to a file, replacing it.",
            {
                "type": "object",
                "required": ["path", "content"],
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            },
            side_effect="write",
            capabilities=("write",),
            idempotent=True,
        )

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult:
        path = context.workdir / _path_arg(arguments)
        content = arguments.get("content", "")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(content), encoding="utf-8")
        return ToolResult(context.call.id, self.spec.name, f"wrote {len(str(content))} characters")


class ReadFile(_FileTool):
    """Returns the text of ``path``."""

    def __init__(self, name: str = "read_file") -> None:
        self.spec = ToolSpec(
            name,
            "Read a text file.",
            {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
            side_effect="read",
            capabilities=("read",),
        )

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult:
        path = context.workdir / _path_arg(arguments)
        try:
            return ToolResult(context.call.id, self.spec.name, path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ToolError(f"no file {arguments['path']!r}", code="not_found") from None


class AppendLine(_FileTool):
    """Appends ``line`` to ``path``: a real side effect that is NOT idempotent.

    With ``keyed=True`` the tool makes itself idempotent with the call's idempotency key: each
    line is written as ``LINE<TAB># KEY`` in one append, and a key already in the file is not
    written again. It then declares ``idempotent=True``, so an interrupted call is re-run on
    resume instead of leaving the run in doubt.
    """

    kind = "write"

    def __init__(
        self, name: str = "append_line", *, delay: float = 0.0, keyed: bool = False
    ) -> None:
        self.delay = delay
        self.keyed = keyed
        self.spec = ToolSpec(
            name,
            "Append one line to a file.",
            {
                "type": "object",
                "required": ["path", "line"],
                "properties": {"path": {"type": "string"}, "line": {"type": "string"}},
            },
            side_effect="write",
            capabilities=("write",),
            idempotent=keyed,
        )

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult:
        if self.delay:
            await asyncio.sleep(self.delay)
        path = context.workdir / _path_arg(arguments)
        text = f"{arguments.get('line', '')}"
        if self.keyed:
            marker = f"\t# {context.idempotency_key}"
            if path.exists() and marker in path.read_text(encoding="utf-8"):
                return ToolResult(context.call.id, self.spec.name, "already appended")
            text += marker
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{text}\n")
            fh.flush()
            os.fsync(fh.fileno())
        if self.delay:
            await asyncio.sleep(self.delay)
        return ToolResult(context.call.id, self.spec.name, "appended")


class Sleep:
    """Sleeps ``seconds``; no side effect. For timeouts and kill tests."""

    def __init__(self, name: str = "sleep") -> None:
        self.spec = ToolSpec(
            name,
            "Wait a number of seconds.",
            {"type": "object", "properties": {"seconds": {"type": "number"}}},
        )

    def capabilities(self, arguments: Mapping[str, JSON], workdir: Path) -> list[Capability]:
        return []

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult:
        seconds = float(arguments.get("seconds", 0.0))
        await asyncio.sleep(seconds)
        return ToolResult(context.call.id, self.spec.name, f"slept {seconds:g}s")


class FakeTool:
    """A tool that records its calls and returns a fixed result (or raises).

    Args:
        name: The tool name.
        result: What ``run`` returns as content (or an exception instance to raise).
        side_effect: The declared side-effect class.
        idempotent: The declared idempotency.
        needs: Capabilities every call needs, as grant strings (``"write:out.txt"``).
    """

    def __init__(
        self,
        name: str = "fake",
        result: JSON | BaseException = "ok",
        *,
        side_effect: SideEffect = "none",
        idempotent: bool = False,
        needs: Sequence[str] = (),
        timeout: float | None = None,
    ) -> None:
        self.result = result
        self.needs = [Capability(*n.split(":", 1)) for n in needs]  # type: ignore[arg-type]
        self.calls: list[Mapping[str, JSON]] = []
        self.spec = ToolSpec(
            name,
            f"The fake tool {name}.",
            side_effect=side_effect,
            idempotent=idempotent,
            timeout=timeout,
        )

    def capabilities(self, arguments: Mapping[str, JSON], workdir: Path) -> list[Capability]:
        return list(self.needs)

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult:
        self.calls.append(dict(arguments))
        if isinstance(self.result, BaseException):
            raise self.result
        return ToolResult(context.call.id, self.spec.name, self.result)


class FileEquals:
    """Green when ``path`` (relative to the workdir) holds exactly ``content``; else red.

    The file is a verifier input only when ``protect`` is true (then the agent may not write
    it unless a grant names it exactly).
    """

    def __init__(
        self, path: str, content: str, *, protect: bool = False, name: str = "file_equals"
    ) -> None:
        self.path, self.content, self.protect, self.name = path, content, protect, name
        self.calls = 0

    def protected_paths(self, workdir: Path) -> list[Path]:
        return [workdir / self.path] if self.protect else []

    async def verify(self, context: VerifyContext) -> VerifierResult:
        self.calls += 1
        target = context.workdir / self.path
        try:
            actual = target.read_text(encoding="utf-8")
        except FileNotFoundError:
            return VerifierResult(self.name, "red", f"{self.path} does not exist")
        if actual == self.content:
            return VerifierResult(self.name, "green", f"{self.path} holds the expected text")
        return VerifierResult(
            self.name, "red", f"{self.path} holds {actual[:200]!r}, expected {self.content!r}"
        )


class ScriptedVerifier:
    """Returns the given statuses in order (the last one repeats); or raises an exception."""

    def __init__(self, *statuses: str | BaseException, name: str = "scripted") -> None:
        self.statuses = list(statuses) or ["green"]
        self.name = name
        self.calls = 0

    async def verify(self, context: VerifyContext) -> VerifierResult:
        item = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        if isinstance(item, BaseException):
            raise item
        return VerifierResult(self.name, item, f"attempt {context.attempt}: {item}")  # type: ignore[arg-type]


def file_equals_factory(options: Mapping[str, Any]) -> FileEquals:
    try:
        return FileEquals(
            str(options["path"]),
            str(options["content"]),
            protect=bool(options.get("protect", False)),
        )
    except KeyError as exc:
        from tau_core.errors import UsageError

        raise UsageError(f"the file_equals verifier needs the option {exc.args[0]!r}") from None
