"""Context compaction that never separates a tool call from its result.

The conversation is cut into units: the leading system and user messages (always kept), then
one unit per assistant message together with the tool message that answers its calls (and any
user feedback that follows). The oldest units are dropped first, whole, and a note takes their
place, so a provider never sees a tool result without its call or a call without its result.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ._messages import Message, TextPart, ThinkingPart, ToolCall, ToolResult

__all__ = ["compact", "estimate_tokens"]


# Messages are immutable, so each one's size is computed once. Keyed by id() with the message
# kept alongside (an id is only reused after its object is gone); cleared when it grows large.
_SIZES: dict[int, tuple[Message, int]] = {}
_SIZES_MAX = 4096


def _chars(m: Message) -> int:
    hit = _SIZES.get(id(m))
    if hit is not None and hit[0] is m:
        return hit[1]
    chars = 16  # role and framing
    for p in m.parts:
        if isinstance(p, TextPart | ThinkingPart):
            chars += len(p.text)
        elif isinstance(p, ToolCall):
            chars += len(p.name) + len(json.dumps(p.arguments, ensure_ascii=False))
        elif isinstance(p, ToolResult):
            content = p.content if isinstance(p.content, str) else json.dumps(p.content)
            chars += len(content)
    if len(_SIZES) >= _SIZES_MAX:
        _SIZES.clear()
    _SIZES[id(m)] = (m, chars)
    return chars


def estimate_tokens(messages: Sequence[Message]) -> int:
    """A cheap, conservative token estimate: about 3.5 characters per token."""
    return int(sum(_chars(m) for m in messages) / 3.5) + 1


def _units(messages: Sequence[Message]) -> tuple[list[Message], list[list[Message]]]:
    head: list[Message] = []
    i = 0
    while i < len(messages) and messages[i].role == "system":
        head.append(messages[i])
        i += 1
    if i < len(messages) and messages[i].role == "user":  # the task itself is always kept
        head.append(messages[i])
        i += 1
    units: list[list[Message]] = []
    for m in messages[i:]:
        if m.role == "assistant" or not units:
            units.append([m])
        else:
            units[-1].append(m)
    return head, units


def compact(messages: Sequence[Message], max_tokens: int) -> tuple[list[Message], int]:
    """Drop the oldest whole units until the estimate fits *max_tokens*.

    The most recent unit is always kept, even if it alone is over the limit.

    Returns:
        The compacted messages and how many messages were dropped.
    """
    if estimate_tokens(messages) <= max_tokens:
        return list(messages), 0
    head, units = _units(messages)
    dropped: list[Message] = []
    while len(units) > 1 and estimate_tokens(head + [m for u in units for m in u]) > max_tokens:
        dropped.extend(units.pop(0))
    if not dropped:
        return list(messages), 0
    tools = sorted({c.name for m in dropped for c in m.tool_calls})
    note = Message.user(
        f"[{len(dropped)} earlier messages were removed to fit the context window"
        + (f"; they included calls to: {', '.join(tools)}" if tools else "")
        + "]"
    )
    return head + [note] + [m for u in units for m in u], len(dropped)
