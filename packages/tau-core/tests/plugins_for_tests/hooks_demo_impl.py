"""The objects :mod:`hooks_demo_plugin`'s lazy factories name.

Importing this module is what a plugin's *heavy* part would cost; tests check it is imported
only when a registered name is first used. ``CREATED`` records every factory call with its
arguments, so tests can check the factory contract of each registration hook.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tau_core import Capability, ToolResult, ToolSpec, VerifierResult
from tau_core.testing import ScriptedModel

CREATED: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

SCRIPTS: dict[str, list[dict[str, Any]]] = {
    "stamp-hello": [
        {
            "text": "Stamping.",
            "tool_calls": [{"name": "stamp", "arguments": {"path": "out.txt", "text": "hello"}}],
        },
        {"text": "Stamped."},
    ],
    "stamp-wrong-then-right": [
        {"tool_calls": [{"name": "stamp", "arguments": {"path": "out.txt", "text": "wrong"}}]},
        {"text": "Done, I think."},
        {"tool_calls": [{"name": "stamp", "arguments": {"path": "out.txt", "text": "right"}}]},
        {"text": "Fixed."},
    ],
}


def provider_factory(model: str, config: Any = None) -> ScriptedModel:
    """The ``myprov`` provider: ``myprov:NAME`` plays ``SCRIPTS[NAME]``."""
    CREATED.append(("provider", (model,), {"config": config}))
    return ScriptedModel(SCRIPTS[model], name="myprov")


class StampTool:
    """Writes ``STAMP:<text>`` into ``path`` under the task's working directory."""

    def __init__(self) -> None:
        CREATED.append(("tool", (), {}))
        self.spec = ToolSpec(
            "stamp",
            "Write STAMP:<text> into a file.",
            {
                "type": "object",
                "required": ["path", "text"],
                "properties": {"path": {"type": "string"}, "text": {"type": "string"}},
            },
            side_effect="write",
            capabilities=("write",),
            idempotent=True,
        )

    def capabilities(self, arguments: Mapping[str, Any], workdir: Path) -> list[Capability]:
        return [Capability("write", str(workdir / str(arguments["path"])))]

    async def run(self, arguments: Mapping[str, Any], context: Any) -> ToolResult:
        target = context.workdir / str(arguments["path"])
        target.write_text(f"STAMP:{arguments['text']}", encoding="utf-8")
        return ToolResult(context.call.id, self.spec.name, f"stamped {arguments['path']}")


class StampedVerifier:
    """Green when ``path`` holds ``STAMP:<expected>``."""

    def __init__(self, path: str, expected: str) -> None:
        self.path, self.expected = path, expected
        self.seen: list[str] = []

    async def verify(self, context: Any) -> VerifierResult:
        target = context.workdir / self.path
        actual = target.read_text(encoding="utf-8") if target.exists() else "<missing>"
        self.seen.append(actual)
        if actual == f"STAMP:{self.expected}":
            return VerifierResult("stamped", "green", f"{self.path} is stamped {self.expected!r}")
        return VerifierResult(
            "stamped", "red", f"{self.path} holds {actual!r}, not STAMP:{self.expected}"
        )


def stamped_verifier(options: Mapping[str, Any]) -> StampedVerifier:
    CREATED.append(("verifier", (dict(options),), {}))
    return StampedVerifier(str(options["path"]), str(options["expected"]))


class DictMemory:
    """A memory backend keeping texts in a dict."""

    def __init__(self, config: Any) -> None:
        CREATED.append(("memory_backend", (config,), {}))
        self.items: dict[str, str] = {}

    def put(self, key: str, text: str) -> None:
        self.items[key] = text

    def search(self, word: str) -> list[str]:
        return sorted(k for k, v in self.items.items() if word in v)


class ListChannel:
    """A channel reading tasks from a list and collecting replies in another."""

    def __init__(self, config: Any) -> None:
        CREATED.append(("channel", (config,), {}))
        self.inbox: list[str] = []
        self.outbox: list[str] = []

    def receive(self) -> str | None:
        return self.inbox.pop(0) if self.inbox else None

    def reply(self, text: str) -> None:
        self.outbox.append(text)


class CharCountEmbedder:
    """Embeds a text as the counts of the letters a to z."""

    def __init__(self, config: Any) -> None:
        CREATED.append(("embedder", (config,), {}))

    def embed(self, texts: list[str]) -> list[list[int]]:
        return [[t.lower().count(chr(c)) for c in range(ord("a"), ord("z") + 1)] for t in texts]


class GreetCommand:
    """``tau greet NAME [--shout] [--exit-code N]``."""

    def __init__(self) -> None:
        CREATED.append(("command", (), {}))

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--shout", action="store_true")
        parser.add_argument("--exit-code", type=int, default=0)

    def run(self, args: argparse.Namespace) -> int:
        text = f"hello, {args.name}"
        print(text.upper() if args.shout else text)
        return int(args.exit_code)
