"""Tools for the canary test (tests/test_canary.py), loaded with ``tau -p tau_canary_plugin``.

Each tool takes its secrets from the JSON file named by ``CANARY_SECRETS`` and appends what it
really received and returned, unredacted, to the file named by ``CANARY_RAW`` (both outside
``TAU_HOME``), so the test can prove the secrets reached the tools before it proves they never
reached a sink.

* ``canary_echo`` (read-only): returns its ``text`` argument, and logs a secret on a Tau
  logger (Python's last-resort handler prints it to standard error).
* ``canary_vault``: returns structured (JSON) content holding secrets.
* ``canary_crash``: raises a plain exception whose message holds secrets.
* ``canary_refuse``: raises a ``ToolError`` whose message and hint hold secrets.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tau_core import Capability, ToolResult, ToolSpec, hookimpl
from tau_core.errors import ToolError

TAU_PLUGIN_API = 1

# A logger under a Tau prefix: tau-safety redacts records of Tau's own loggers.
log = logging.getLogger("tau_tools.canary")


def _secrets() -> dict[str, str]:
    data: dict[str, str] = json.loads(Path(os.environ["CANARY_SECRETS"]).read_text("utf-8"))
    return data


def _raw(tool: str, what: str, value: Any) -> None:
    with Path(os.environ["CANARY_RAW"]).open("a", encoding="utf-8") as f:
        f.write(json.dumps({"tool": tool, what: value}) + "\n")


class _Tool:
    name = ""
    side_effect = "none"

    def __init__(self) -> None:
        self.spec = ToolSpec(
            self.name,
            f"Canary test tool {self.name}.",
            {"type": "object", "properties": {"text": {"type": "string"}}},
            side_effect=self.side_effect,  # type: ignore[arg-type]
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return []

    async def run(self, arguments: Mapping[str, Any], context: Any) -> ToolResult:
        _raw(self.name, "arguments", dict(arguments))
        content = self.produce(arguments)
        _raw(self.name, "content", content)
        return ToolResult(context.call.id, self.name, content)

    def produce(self, arguments: Mapping[str, Any]) -> Any:
        raise NotImplementedError


class EchoTool(_Tool):
    name = "canary_echo"
    side_effect = "read"

    def produce(self, arguments: Mapping[str, Any]) -> Any:
        text = str(arguments.get("text", ""))
        token = _secrets()["github"]
        _raw(self.name, "logged", token)
        log.warning("canary_echo is using the token %s", token)
        return f"you said: {text}"


class VaultTool(_Tool):
    name = "canary_vault"

    def produce(self, arguments: Mapping[str, Any]) -> Any:
        s = _secrets()
        return {
            "service": "chat",
            "bot_token": s["slack"],
            "session": {"jwt": s["jwt"]},
            "notes": [f"stripe fallback {s['stripe']}"],
        }


class CrashTool(_Tool):
    name = "canary_crash"

    def produce(self, arguments: Mapping[str, Any]) -> Any:
        s = _secrets()
        message = f"could not connect with {s['openai']} (header Authorization: {s['slack']})"
        _raw(self.name, "raised", message)
        raise RuntimeError(message)


class RefuseTool(_Tool):
    name = "canary_refuse"

    def produce(self, arguments: Mapping[str, Any]) -> Any:
        s = _secrets()
        message = f"token {s['github']} was rejected for {s['aws_key_id']}"
        hint = f"rotate aws_secret_access_key={s['aws_secret']}"
        _raw(self.name, "raised", message + " / " + hint)
        raise ToolError(message, code="canary_rejected", hint=hint)


@hookimpl
def tau_register_tools(registry: Any) -> None:
    for tool in (EchoTool, VaultTool, CrashTool, RefuseTool):
        registry.register(tool.name, tool, help=f"canary test tool {tool.name}")
