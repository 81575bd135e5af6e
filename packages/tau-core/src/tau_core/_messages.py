"""Messages, parts, tool specs, tool calls and results, model requests and responses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, TypeAlias

import attrs
from attrs import field, frozen

__all__ = [
    "JSON",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Part",
    "Role",
    "SideEffect",
    "TextPart",
    "ThinkingPart",
    "ToolCall",
    "ToolFailure",
    "ToolResult",
    "ToolSpec",
    "Usage",
]


def _tuple_of_part(items: Iterable[Part]) -> tuple[Part, ...]:
    return tuple(items)


def _tuple_of_str(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)


def _tuple_of_message(items: Iterable[Message]) -> tuple[Message, ...]:
    return tuple(items)


def _tuple_of_toolspec(items: Iterable[ToolSpec]) -> tuple[ToolSpec, ...]:
    return tuple(items)


JSON: TypeAlias = Any
Role = Literal["system", "user", "assistant", "tool"]
SideEffect = Literal["none", "read", "write", "exec", "network"]
"""What a tool may change. ``none`` and ``read`` change nothing; the others are side effects:
the journal records an intent before each such call and its completion after."""

_SIDE_EFFECTS = ("none", "read", "write", "exec", "network")


def _frozen_dict(value: dict[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


@frozen
class TextPart:
    """Plain text from a user, the system prompt, or the model."""

    text: str
    type: Literal["text"] = field(default="text", init=False)


@frozen
class ThinkingPart:
    """Model reasoning that some providers require to be passed back verbatim.

    Attributes:
        text: The reasoning text (may be empty when the provider only returns a signature).
        signature: An opaque provider token that must be returned unchanged.
    """

    text: str
    signature: str | None = None
    type: Literal["thinking"] = field(default="thinking", init=False)


@frozen
class ToolCall:
    """The model asks to run tool *name* with *arguments*.

    Attributes:
        id: The call id, unique within the run; results refer to it.
        name: The tool name.
        arguments: A JSON object of arguments.
    """

    id: str
    name: str
    arguments: dict[str, JSON] = field(factory=dict, converter=_frozen_dict)
    type: Literal["tool_call"] = field(default="tool_call", init=False)


@frozen
class ToolFailure:
    """A structured tool error a model can recover from: what, why, and what to try."""

    code: str
    message: str
    hint: str = ""


@frozen
class ToolResult:
    """The result of one tool call.

    Attributes:
        call_id: The :attr:`ToolCall.id` this answers.
        name: The tool name.
        content: What the tool returns to the model (text or JSON).
        error: Set when the call failed; ``content`` then holds a readable explanation.
        metadata: Extra facts for the evidence (durations, sizes), not shown to the model.
    """

    call_id: str
    name: str
    content: JSON = ""
    error: ToolFailure | None = None
    metadata: dict[str, JSON] = field(factory=dict, converter=_frozen_dict)
    type: Literal["tool_result"] = field(default="tool_result", init=False)

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None

    @classmethod
    def failure(
        cls, call: ToolCall, code: str, message: str, hint: str = "", **metadata: JSON
    ) -> ToolResult:
        """Build a failed result for *call*."""
        text = f"error [{code}]: {message}" + (f"\nhint: {hint}" if hint else "")
        return cls(
            call_id=call.id,
            name=call.name,
            content=text,
            error=ToolFailure(code=code, message=message, hint=hint),
            metadata=metadata,
        )


Part: TypeAlias = TextPart | ThinkingPart | ToolCall | ToolResult


@frozen
class Message:
    """One message of a conversation: a role and its parts."""

    role: Role
    parts: tuple[Part, ...] = field(converter=_tuple_of_part)

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", (TextPart(text),))

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", (TextPart(text),))

    @classmethod
    def assistant(cls, text: str = "", tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        parts: list[Part] = [TextPart(text)] if text else []
        parts.extend(tool_calls)
        return cls("assistant", tuple(parts))

    @property
    def text(self) -> str:
        """The text parts joined by newlines."""
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCall))

    @property
    def tool_results(self) -> tuple[ToolResult, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolResult))


def _check_side_effect(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _SIDE_EFFECTS:
        raise ValueError(
            f"{attribute.name}={value!r} is not a side-effect class; use one of {_SIDE_EFFECTS}"
        )


@frozen
class ToolSpec:
    """What a tool is, as the model and the authority see it.

    Attributes:
        name: The tool name the model calls.
        description: One paragraph for the model.
        parameters: A JSON-schema object describing the arguments.
        side_effect: The declared side-effect class (see :data:`SideEffect`).
        capabilities: Grant kinds a call may need (``read``, ``write``, ``exec``, ``net``,
            ``secret``); the tool computes the exact targets per call.
        idempotent: Running the same call twice has the same effect as once; the journal
            re-runs an interrupted idempotent call on resume instead of blocking.
        timeout: Seconds before a call is cancelled; ``None`` uses the run's default.
        untrusted_output: The tool returns content from outside the task's trust boundary
            (web pages, e-mail, messages, third-party data) that may carry injected
            instructions; tau-safety marks it tainted and its rails escalate side effects
            that follow.

            .. versionadded:: 0.1
    """

    name: str
    description: str = ""
    parameters: dict[str, JSON] = field(
        factory=lambda: {"type": "object", "properties": {}}, converter=_frozen_dict
    )
    side_effect: SideEffect = field(default="none", validator=_check_side_effect)
    capabilities: tuple[str, ...] = field(default=(), converter=_tuple_of_str)
    idempotent: bool = False
    timeout: float | None = None
    untrusted_output: bool = False

    @property
    def has_side_effect(self) -> bool:
        return self.side_effect not in ("none", "read")


@frozen
class Usage:
    """Tokens and cost of one model call, or of a whole run when summed.

    ``cost`` is in US dollars; ``None`` means the price is unknown (never counted as free).
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float | None = 0.0
    requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost is None or other.cost is None else self.cost + other.cost
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            cost,
            self.requests + other.requests,
        )


@frozen
class ModelRequest:
    """Everything a provider needs for one model call."""

    model: str
    messages: tuple[Message, ...] = field(converter=_tuple_of_message)
    tools: tuple[ToolSpec, ...] = field(default=(), converter=_tuple_of_toolspec)
    max_tokens: int | None = None
    temperature: float | None = None
    metadata: dict[str, JSON] = field(factory=dict, converter=_frozen_dict)


@frozen
class ModelResponse:
    """One model answer: an assistant message, usage, and why the model stopped."""

    message: Message
    usage: Usage = Usage()
    stop_reason: str = "stop"
    model: str = ""
    provider: str = ""
