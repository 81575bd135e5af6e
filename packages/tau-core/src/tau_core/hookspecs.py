"""Every hook a Tau plugin can implement.

A plugin is a module (or object) with functions marked ``@tau_core.hookimpl`` whose names match
the hooks below. First-party packages register exactly as third-party ones do, through the
``tau.plugins`` entry-point group. ``docs/hooks.md`` shows a minimal implementation of each.

Registration hooks receive one ``registry`` and register *names with lazy factories*
(``"package.module:attr"`` strings or callables), so listing plugins imports nothing heavy.
Wrapper hooks (``tau_tool_call``, ``tau_model_request``) are implemented with
``@hookimpl(wrapper=True)``; core's own innermost implementation performs the call. Policy
enforcement is core code and runs before these hooks; a wrapper can add checks, never remove
them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ._config import Config
    from ._credentials import Credential
    from ._events import Event
    from ._hookcontext import ModelCallContext, RunContext, ToolCallContext
    from ._messages import ModelResponse, ToolResult
    from ._registry import Registry

__all__ = ["hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("tau")
hookimpl = pluggy.HookimplMarker("tau")


@hookspec
def tau_register_providers(registry: Registry) -> None:
    """Register model providers by name, each with a lazy factory.

    The factory is called as ``factory(model, config=config)`` and returns an object with
    ``async def complete(request: ModelRequest) -> ModelResponse``. The name is the part of a
    model spec before the colon (``openai`` in ``openai:gpt-4.1``).

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each provider.

    .. versionadded:: 0.1
    """


@hookspec
def tau_register_tools(registry: Registry) -> None:
    """Register tools by name, each with a lazy factory.

    The factory is called with no arguments and returns a :class:`tau_core.Tool`: a ``spec``
    (:class:`tau_core.ToolSpec`), ``capabilities(arguments, workdir)`` listing the grants a
    call needs, and ``async def run(arguments, context) -> ToolResult``.

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each tool.

    .. versionadded:: 0.1
    """


@hookspec
def tau_register_verifiers(registry: Registry) -> None:
    """Register verifiers by name, each with a lazy factory.

    The factory is called as ``factory(options)`` (a dict, e.g. ``{"command": "pytest -q"}``) and
    returns a :class:`tau_core.Verifier`: ``async def verify(context) -> VerifierResult`` and
    optionally ``protected_paths(workdir)``.

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each verifier.

    .. versionadded:: 0.1
    """


@hookspec
def tau_register_memory_backends(registry: Registry) -> None:
    """Register memory store backends by name, each with a lazy factory.

    The factory is called as ``factory(config)``. The backend contract arrives with tau-memory.

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each backend.

    .. versionadded:: 0.1
    """


@hookspec
def tau_register_channels(registry: Registry) -> None:
    """Register channels (where tasks come from and replies go) by name, with lazy factories.

    The factory is called as ``factory(config)``.

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each channel.

    .. versionadded:: 0.1
    """


@hookspec
def tau_register_embedders(registry: Registry) -> None:
    """Register text embedders by name, each with a lazy factory.

    The factory is called as ``factory(config)``.

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each embedder.

    .. versionadded:: 0.1
    """


@hookspec
def tau_register_commands(registry: Registry) -> None:
    """Register ``tau`` CLI subcommands by name, each with a lazy factory.

    The factory is called with no arguments and returns an object with
    ``configure(parser: argparse.ArgumentParser)`` and ``run(args) -> int`` (the exit code).
    Only the ``help`` text is read until the command is invoked.

    Called once per plugin, in load order; every plugin's result counts.

    Args:
        registry: Call ``registry.register(name, factory, help=...)`` for each command.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def tau_resolve_credential(name: str, config: Config) -> Credential | None:
    """Return the credential called *name*, or None to let later plugins answer.

    Stops at the first non-None result. Core's own implementation (which runs last) reads
    the encrypted credential store.

    Args:
        name: Logical credential name, e.g. ``"openai"``.
        config: The loaded configuration.

    Returns:
        The credential, or None when this plugin does not know it.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def tau_tool_call(context: ToolCallContext) -> Awaitable[ToolResult] | None:
    """Wrap the execution of one tool call that the authority already allowed.

    Implement with ``@hookimpl(wrapper=True)``: code before ``yield`` may inspect or replace
    ``context.call`` (or raise :class:`tau_core.errors.SafetyViolation` to stop it); ``yield``
    returns an awaitable of the :class:`ToolResult`; return an awaitable (usually a coroutine
    that awaits it and post-processes the result, e.g. to redact). A wrapper that does not
    await the inner awaitable must ``close()`` it. Core's innermost implementation runs the
    tool.

    Args:
        context: The call, its tool spec, the run id and working directory.

    Returns:
        An awaitable of the tool result.

    .. versionadded:: 0.1
    """


@hookspec(firstresult=True)
def tau_model_request(context: ModelCallContext) -> Awaitable[ModelResponse] | None:
    """Wrap one model call, after the budget check allowed it.

    Implement with ``@hookimpl(wrapper=True)``: code before ``yield`` may inspect or replace
    ``context.request`` (e.g. to redact it); ``yield`` returns an awaitable of the
    :class:`ModelResponse`; return an awaitable. A wrapper that does not await the inner
    awaitable must ``close()`` it. Core's innermost implementation calls the provider.

    Args:
        context: The request, the provider name, the model spec and the run id.

    Returns:
        An awaitable of the model response.

    .. versionadded:: 0.1
    """


@hookspec
def tau_run_start(run: RunContext) -> None:
    """Prepare for one run before anything of it is recorded (live, resumed or replayed).

    Register redaction filters and secret values on ``run.redactor``, keep per-run state in
    ``run.state[<your plugin name>]``; the call contexts of this run carry the same object as
    their ``run`` attribute. An exception here blocks the run with ``plugin_error``: a safety
    plugin that cannot set itself up must not let the run go on unprotected.

    Called for every plugin, in load order.

    Args:
        run: The run: its id, task, authority, working directory, mode and redactor.

    .. versionadded:: 0.1
    """


@hookspec
def tau_event(event: Event) -> None:
    """Observe one run event (turns, tool calls, decisions, verifier results, outcome).

    For logs, progress displays and telemetry. Every plugin is called; an exception in an
    observer is reported in the run's evidence and never stops the run.

    Args:
        event: The event, as it is written to the journal (already redacted).

    .. versionadded:: 0.1
    """
