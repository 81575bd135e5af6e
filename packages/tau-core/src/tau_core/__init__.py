"""Tau: give it a task, the authority it may use, and the verifier that decides when it is done.

``import tau_core`` is cheap: public names load on first use, and nothing heavy (httpx, keyring,
cryptography, SQLite, vendor SDKs) is imported until a feature needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "AUDIT_KINDS": "_hookcontext",
    "Agent": "_run",
    "Authority": "_authority",
    "BLOCKED_REASONS": "_outcome",
    "Budgets": "_authority",
    "Capability": "_authority",
    "Config": "_config",
    "Credential": "_credentials",
    "CredentialStore": "_credentials",
    "EXHAUSTED_BUDGETS": "_outcome",
    "Event": "_events",
    "Evidence": "_outcome",
    "Grant": "_authority",
    "ChainCheck": "_journal",
    "Journal": "_journal",
    "Message": "_messages",
    "ModelCallContext": "_hookcontext",
    "ModelStream": "_hookcontext",
    "ModelRequest": "_messages",
    "ModelResponse": "_messages",
    "Outcome": "_outcome",
    "PLUGIN_API": "_plugins",
    "PRESETS": "_authority",
    "PluginManager": "_plugins",
    "PolicyDecision": "_authority",
    "Provider": "_contracts",
    "Redactor": "_redact",
    "Registry": "_registry",
    "RunContext": "_hookcontext",
    "Task": "_outcome",
    "TestCase": "_outcome",
    "TextPart": "_messages",
    "ThinkingPart": "_messages",
    "Tool": "_contracts",
    "ToolCall": "_messages",
    "ToolCallContext": "_hookcontext",
    "ToolCallRecord": "_outcome",
    "ToolFailure": "_messages",
    "ToolResult": "_messages",
    "ToolSpec": "_messages",
    "Usage": "_messages",
    "Verifier": "_contracts",
    "VerifierResult": "_outcome",
    "VerifyContext": "_contracts",
    "SingleCall": "_single",
    "acall_tool": "_single",
    "arun": "_run",
    "call_tool": "_single",
    "get_plugin_manager": "_plugins",
    "hookimpl": "hookspecs",
    "load_config": "_config",
    "run": "_run",
    "tau_home": "_config",
}

__all__ = [
    "AUDIT_KINDS",
    "BLOCKED_REASONS",
    "EXHAUSTED_BUDGETS",
    "PLUGIN_API",
    "PRESETS",
    "Agent",
    "Authority",
    "Budgets",
    "Capability",
    "ChainCheck",
    "Config",
    "Credential",
    "CredentialStore",
    "Event",
    "Evidence",
    "Grant",
    "Journal",
    "Message",
    "ModelCallContext",
    "ModelRequest",
    "ModelResponse",
    "ModelStream",
    "Outcome",
    "PluginManager",
    "PolicyDecision",
    "Provider",
    "Redactor",
    "Registry",
    "RunContext",
    "SingleCall",
    "Task",
    "TestCase",
    "TextPart",
    "ThinkingPart",
    "Tool",
    "ToolCall",
    "ToolCallContext",
    "ToolCallRecord",
    "ToolFailure",
    "ToolResult",
    "ToolSpec",
    "Usage",
    "Verifier",
    "VerifierResult",
    "VerifyContext",
    "__version__",
    "acall_tool",
    "arun",
    "call_tool",
    "get_plugin_manager",
    "hookimpl",
    "load_config",
    "run",
    "tau_home",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tau_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._authority import PRESETS, Authority, Budgets, Capability, Grant, PolicyDecision
    from ._config import Config, load_config, tau_home
    from ._contracts import Provider, Tool, Verifier, VerifyContext
    from ._credentials import Credential, CredentialStore
    from ._events import Event
    from ._hookcontext import (
        AUDIT_KINDS,
        ModelCallContext,
        ModelStream,
        RunContext,
        ToolCallContext,
    )
    from ._journal import ChainCheck, Journal
    from ._messages import (
        Message,
        ModelRequest,
        ModelResponse,
        TextPart,
        ThinkingPart,
        ToolCall,
        ToolFailure,
        ToolResult,
        ToolSpec,
        Usage,
    )
    from ._outcome import (
        BLOCKED_REASONS,
        EXHAUSTED_BUDGETS,
        Evidence,
        Outcome,
        Task,
        TestCase,
        ToolCallRecord,
        VerifierResult,
    )
    from ._plugins import PLUGIN_API, PluginManager, get_plugin_manager
    from ._redact import Redactor
    from ._registry import Registry
    from ._run import Agent, arun, run
    from ._single import SingleCall, acall_tool, call_tool
    from .hookspecs import hookimpl
