"""The scripted model: a real provider that plays back model turns from a JSON script.

Registered by tau-core under the name ``scripted``: ``--model scripted:PATH``. The file::

    {"turns": [
        {"text": "I will write the file.",
         "tool_calls": [{"name": "write", "arguments": {"path": "a.txt", "content": "hi"}}]},
        {"text": "Done."}
    ]}

Turns are consumed in order, one per model call: the turn played is the run's turn number
(``request.metadata["turn"]``, else the number of assistant messages in the conversation), so
a resumed run continues where it stopped and compaction does not rewind the script. When the
turns run out the model answers with a final text and no tool calls. Usage is estimated from
the text; the price is zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._compaction import estimate_tokens
from ._messages import Message, ModelRequest, ModelResponse, TextPart, ToolCall, Usage
from .errors import UsageError

__all__ = ["ScriptedModel", "load_script"]

FINAL_TEXT = "The script has no more turns."


def _parse_turns(turns: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(turns, list):
        raise UsageError(f"{source}: 'turns' must be a list of turn objects")
    out = []
    for i, turn in enumerate(turns):
        where = f"{source}: turns[{i}]"
        if not isinstance(turn, Mapping):
            raise UsageError(f"{where} must be an object with 'text' and/or 'tool_calls'")
        unknown = set(turn) - {"text", "tool_calls", "usage"}
        if unknown:
            raise UsageError(
                f"{where} has unknown key(s) {sorted(unknown)}; allowed: text, tool_calls, usage"
            )
        text = turn.get("text", "")
        if not isinstance(text, str):
            raise UsageError(f"{where}.text must be a string")
        calls = turn.get("tool_calls", [])
        if not isinstance(calls, list):
            raise UsageError(f"{where}.tool_calls must be a list")
        for j, call in enumerate(calls):
            if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
                raise UsageError(f"{where}.tool_calls[{j}] needs a 'name' string")
            if not isinstance(call.get("arguments", {}), Mapping):
                raise UsageError(f"{where}.tool_calls[{j}].arguments must be an object")
        out.append(dict(turn))
    return out


def load_script(path: str | Path) -> list[dict[str, Any]]:
    """Read and validate a script file.

    Raises:
        UsageError: The file is missing, not JSON, or not a script; the message says which.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"scripted model: no script file {str(p)!r}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"scripted model: cannot read {str(p)!r}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"scripted model: {str(p)!r} is not JSON: {exc}") from None
    if not isinstance(data, Mapping) or "turns" not in data:
        raise UsageError(f"scripted model: {str(p)!r} must be an object with a 'turns' list")
    return _parse_turns(data["turns"], str(p))


class ScriptedModel:
    """A provider that plays back *turns* (dicts as in the script file, or a script path)."""

    def __init__(
        self, turns: Sequence[Mapping[str, Any]] | str | Path, *, name: str = "scripted"
    ) -> None:
        if isinstance(turns, str | Path):
            self.turns = load_script(turns)
        else:
            self.turns = _parse_turns(list(turns), "scripted model")
        self.name = name
        self.requests: list[ModelRequest] = []

    def worst_case_cost(self, request: ModelRequest) -> float:
        return 0.0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        turn = request.metadata.get("turn")
        index = (
            turn
            if isinstance(turn, int)
            else sum(1 for m in request.messages if m.role == "assistant")
        )
        usage_in: dict[str, Any] = {}
        if index < len(self.turns):
            turn = self.turns[index]
            usage_in = dict(turn.get("usage", {}))
            calls = tuple(
                ToolCall(
                    str(c.get("id") or f"call_{index}_{j}"), c["name"], dict(c.get("arguments", {}))
                )
                for j, c in enumerate(turn.get("tool_calls", []))
            )
            message = Message.assistant(turn.get("text", ""), calls)
        else:
            message = Message("assistant", (TextPart(FINAL_TEXT),))
        usage = Usage(
            input_tokens=int(usage_in.get("input_tokens", estimate_tokens(request.messages))),
            output_tokens=int(usage_in.get("output_tokens", estimate_tokens([message]))),
            cost=float(usage_in.get("cost", 0.0)),
            requests=1,
        )
        stop = "tool_calls" if message.tool_calls else "stop"
        return ModelResponse(message, usage, stop, request.model, self.name)


def scripted_factory(model: str, config: Any = None) -> ScriptedModel:
    """The ``scripted`` provider factory: *model* is the script's path."""
    if not model:
        raise UsageError("the scripted model needs a script path: --model scripted:PATH")
    return ScriptedModel(model)
