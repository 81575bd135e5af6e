"""The public entry points: :class:`Agent`, :func:`run` and :func:`arun`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import traceback
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from attrs import evolve

from ._authority import Authority
from ._loop import Approver, Loop, Route, RunSetup
from ._outcome import Outcome, PluginProblem, Task
from ._redact import Redactor
from ._serialization import from_dict, to_dict
from .errors import CredentialError, PluginError, UsageError

__all__ = ["Agent", "arun", "run"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run *coro* to completion from synchronous code, even inside a running event loop.

    Outside a loop this is :func:`asyncio.run`. Inside one (a notebook cell) the coroutine runs
    on its own loop in a worker thread while the caller waits, so the notebook's loop is never
    re-entered.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tau-run") as pool:
        return pool.submit(asyncio.run, coro).result()


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


class Agent:
    """Runs tasks under an authority, with a verifier, journaling every step.

    Args:
        model: A model spec ``provider:model`` (``"scripted:demo.json"``, ``"openai:gpt-4.1"``)
            or a provider object with ``async def complete(request)``.
        fallback: More model specs, tried in order when a route fails with a retryable error.
        authority: What the run may do (default: the ``read-only`` preset).
        verifier: A registered verifier name (``"command"``, ``"pytest"``) or a verifier object.
        verifier_options: Options for a named verifier (``{"command": "pytest -q"}``).
        unverified: Run without a verifier on purpose; the outcome is then ``unverified``.
        tools: Tool names or tool objects; default: every registered tool.
        approver: Called as ``approver(call, decision)`` for calls the grants do not cover when
            the authority's approval mode is ``ask``; returns (or awaits to) True to allow.
        journal: The journal (default: ``TAU_HOME/journal.sqlite3``).
        plugins: The plugin manager (default: the process-wide one).
        max_parallel_tools: Tool calls of one turn run at most this many at once.
        tool_timeout: Seconds before a tool call is cancelled, unless its spec says otherwise.
        context_tokens: Conversation size above which old turns are compacted.
        on_text: Called with each text delta a streaming provider produces, as it arrives
            (for printing an answer live). A call that fails after text reached it is not
            retried on a fallback route, so nothing is shown twice.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        model: str | Any,
        *,
        fallback: Sequence[str] = (),
        authority: Authority | None = None,
        verifier: str | Any | None = None,
        verifier_options: Mapping[str, Any] | None = None,
        unverified: bool = False,
        tools: Iterable[str | Any] | None = None,
        approver: Approver | None = None,
        journal: Any = None,
        plugins: Any = None,
        max_parallel_tools: int = 4,
        tool_timeout: float = 120.0,
        context_tokens: int = 100_000,
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        if max_parallel_tools < 1:
            raise UsageError(f"max_parallel_tools={max_parallel_tools}; it must be at least 1")
        self.model = model
        self.fallback = list(fallback)
        self.authority = authority or Authority.from_preset("read-only")
        self.verifier = verifier
        self.verifier_options = dict(verifier_options or {})
        self.unverified = unverified
        self.tools = None if tools is None else list(tools)
        self.approver = approver
        self._journal = journal
        self._plugins = plugins
        self.max_parallel_tools = max_parallel_tools
        self.tool_timeout = tool_timeout
        self.context_tokens = context_tokens
        self.on_text = on_text
        self._cancel: asyncio.Event | None = None
        self._cancel_loop: asyncio.AbstractEventLoop | None = None

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def plugins(self) -> Any:
        if self._plugins is None:
            from ._plugins import get_plugin_manager

            self._plugins = get_plugin_manager()
        return self._plugins

    @property
    def journal(self) -> Any:
        if self._journal is None:
            from ._config import load_config
            from ._journal import Journal

            sync = load_config().get("journal.synchronous", "normal")
            self._journal = Journal(synchronous=sync)
        return self._journal

    def _routes(self, model: Any, fallback: Sequence[str]) -> list[Route]:
        routes = []
        for spec in [model, *fallback]:
            if isinstance(spec, str):
                provider, sep, name = spec.partition(":")
                if not sep or not provider:
                    raise UsageError(
                        f"model spec {spec!r} is not provider:model "
                        "(e.g. openai:gpt-4.1, scripted:demo.json)"
                    )
                entry_factory = self.plugins.registries["providers"].load(provider)

                def make(f: Any = entry_factory, m: str = name) -> Any:
                    from ._config import load_config

                    return f(m, config=load_config())

                routes.append(Route(spec, provider, name, make))
            elif spec is not None and hasattr(spec, "complete"):
                label = getattr(spec, "name", type(spec).__name__)
                routes.append(
                    Route(f"{label}:object", label, "object", _constant(spec), client=spec)
                )
            else:
                raise UsageError(f"model {spec!r} is neither a spec string nor a provider object")
        return routes

    def _verifier(
        self, verifier: Any, options: Mapping[str, Any]
    ) -> tuple[str | None, Any, list[PluginProblem]]:
        if verifier is None:
            return None, None, []
        if isinstance(verifier, str):
            factory = self.plugins.registries["verifiers"].load(verifier)
            try:
                return verifier, factory(dict(options)), []
            except UsageError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"verifier {verifier!r} could not be created: {type(exc).__name__}: {exc}"
                ) from exc
        return getattr(verifier, "name", type(verifier).__name__), verifier, []

    def _tools(
        self, tools: Iterable[str | Any] | None
    ) -> tuple[dict[str, Any], list[PluginProblem]]:
        registry = self.plugins.registries["tools"]
        wanted = registry.names() if tools is None else list(tools)
        out: dict[str, Any] = {}
        problems = []
        for item in wanted:
            if isinstance(item, str):
                try:
                    tool = registry.load(item)()
                except PluginError as exc:
                    if tools is not None:
                        raise
                    entry = registry.get(item)
                    problems.append(PluginProblem(entry.plugin, entry.dist, None, str(exc)))
                    continue
            else:
                tool = item
            spec = getattr(tool, "spec", None)
            if spec is None or not hasattr(tool, "run") or not hasattr(tool, "capabilities"):
                raise UsageError(f"{item!r} is not a tool (it needs spec, capabilities and run)")
            if spec.name in out:
                raise UsageError(f"two tools are named {spec.name!r}")
            out[spec.name] = tool
        return out, problems

    def _spec(self, task: Task) -> dict[str, Any]:
        return {
            "task": to_dict(task),
            "authority": to_dict(self.authority),
            "model": self.model if isinstance(self.model, str) else None,
            "fallback": self.fallback,
            "verifier": (
                {"name": self.verifier, "options": self.verifier_options}
                if isinstance(self.verifier, str)
                else None
                if self.verifier is None
                else {"object": True}
            ),
            "unverified": self.unverified,
            "tools": (
                [t if isinstance(t, str) else t.spec.name for t in self.tools]
                if self.tools is not None
                else None
            ),
            "max_parallel_tools": self.max_parallel_tools,
            "tool_timeout": self.tool_timeout,
            "context_tokens": self.context_tokens,
            # Plugin modules loaded by name (tau -p): `tau sessions resume` loads them again.
            "plugin_modules": list(getattr(self.plugins, "modules", [])),
        }

    def _setup(self, run_id: str, task: Task, spec: Mapping[str, Any], mode: str) -> RunSetup:
        model = self.model if not isinstance(self.model, str) else spec.get("model") or self.model
        routes = self._routes(model, spec.get("fallback", self.fallback))
        verifier_name: str | None = None
        verifier: Any = None
        problems: list[PluginProblem] = []
        v = spec.get("verifier")
        verifier_error = None
        if v is not None and "name" in v:
            try:
                verifier_name, verifier, problems = self._verifier(v["name"], v.get("options", {}))
            except PluginError as exc:
                verifier_name = v["name"]
                verifier_error = PluginProblem(
                    v["name"], None, None, str(exc), "".join(traceback.format_exception(exc))
                )
        elif v is not None:
            if self.verifier is None or isinstance(self.verifier, str):
                raise UsageError(
                    f"run {run_id} was started with a verifier object; pass the same "
                    "verifier= to resume or replay it"
                )
            verifier_name, verifier, problems = self._verifier(self.verifier, {})
        tools, tool_problems = self._tools(spec.get("tools") if self.tools is None else self.tools)
        if mode == "live" and routes and routes[0].client is None:
            # A missing credential is reported by the loop as blocked(missing_credentials).
            with contextlib.suppress(CredentialError):
                routes[0].client = routes[0].factory()
        return RunSetup(
            run_id=run_id,
            task=task,
            authority=from_dict(spec["authority"], Authority),
            routes=routes,
            verifier_name=verifier_name,
            verifier=verifier,
            unverified=bool(spec.get("unverified")),
            tools=tools,
            manager=self.plugins,
            journal=self.journal,
            mode=mode,  # type: ignore[arg-type]
            approver=self.approver,
            max_parallel_tools=int(spec.get("max_parallel_tools", self.max_parallel_tools)),
            tool_timeout=float(spec.get("tool_timeout", self.tool_timeout)),
            context_tokens=int(spec.get("context_tokens", self.context_tokens)),
            redactor=Redactor(),
            cancel_event=self._cancel,
            load_problems=problems + tool_problems,
            verifier_error=verifier_error,
            on_text=self.on_text,
        )

    # -- running ----------------------------------------------------------------------------------

    async def arun(
        self,
        task: str | Task,
        *,
        workdir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
    ) -> Outcome:
        """Run *task* to an outcome (async).

        Raises:
            UsageError: A bad model spec, verifier, tool or task; nothing was started.
        """
        if isinstance(task, str):
            task = Task(goal=task)
        wd = Path(workdir if workdir is not None else task.workdir).expanduser().resolve()
        if not wd.is_dir():
            raise UsageError(f"working directory {str(wd)!r} does not exist or is not a directory")
        task = evolve(task, workdir=str(wd))
        spec = self._spec(task)
        self._arm_cancel()
        setup_probe = self._setup("pending", task, spec, "live")  # validate before recording
        run_id = self.journal.create_run(spec, run_id=run_id)
        setup_probe.run_id = run_id
        return await Loop(setup_probe).run()

    def run(
        self,
        task: str | Task,
        *,
        workdir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
    ) -> Outcome:
        """Run *task* to an outcome (sync; also works inside a running event loop)."""
        return run_sync(self.arun(task, workdir=workdir, run_id=run_id))

    async def aresume(self, run_id: str) -> Outcome:
        """Continue an interrupted run from its journal (a finished run returns its outcome)."""
        record = self.journal.get_run(run_id)
        task = from_dict(record.spec["task"], Task)
        self._arm_cancel()
        return await Loop(self._setup(run_id, task, record.spec, "live")).run()

    def resume(self, run_id: str) -> Outcome:
        return run_sync(self.aresume(run_id))

    async def areplay(self, run_id: str) -> Outcome:
        """Re-drive a finished run from its journal with no side effects.

        No provider is called and no tool runs; the outcome equals the recorded one.

        Raises:
            JournalError: The run is unfinished, or the re-driven run diverged from the record.
        """
        record = self.journal.get_run(run_id)
        task = from_dict(record.spec["task"], Task)
        return await Loop(self._setup(run_id, task, record.spec, "replay")).run()

    def replay(self, run_id: str) -> Outcome:
        return run_sync(self.areplay(run_id))

    def fork(self, run_id: str, at_seq: int) -> str:
        """Copy *run_id*'s events up to *at_seq* into a new run; resume it to continue."""
        new_id: str = self.journal.fork(run_id, at_seq)
        return new_id

    def cancel(self) -> None:
        """Ask the running run to stop; it ends as ``blocked(cancelled)`` at the next step."""
        if self._cancel is not None and self._cancel_loop is not None:
            self._cancel_loop.call_soon_threadsafe(self._cancel.set)

    def _arm_cancel(self) -> None:
        self._cancel = asyncio.Event()
        self._cancel_loop = asyncio.get_running_loop()

    @classmethod
    def for_run(cls, run_id: str, **kwargs: Any) -> Agent:
        """An agent rebuilt from a recorded run's spec (for resume and replay)."""
        journal = kwargs.pop("journal", None)
        if journal is None:
            from ._journal import Journal

            journal = Journal()
        spec = journal.get_run(run_id).spec
        model = kwargs.pop("model", None) or spec.get("model")
        if model is None:
            raise UsageError(
                f"run {run_id} was started with a provider object; pass model= "
                "to resume or replay it"
            )
        return cls(model, journal=journal, **kwargs)


async def arun(
    task: str | Task,
    *,
    model: str | Any,
    authority: Authority | None = None,
    verifier: str | Any | None = None,
    workdir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Outcome:
    """Run one task (async). See :class:`Agent` for the options."""
    return await Agent(model, authority=authority, verifier=verifier, **options).arun(
        task, workdir=workdir
    )


def run(
    task: str | Task,
    *,
    model: str | Any,
    authority: Authority | None = None,
    verifier: str | Any | None = None,
    workdir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> Outcome:
    """Run one task (sync; works in scripts and inside notebooks). See :class:`Agent`."""
    return run_sync(
        arun(task, model=model, authority=authority, verifier=verifier, workdir=workdir, **options)
    )
