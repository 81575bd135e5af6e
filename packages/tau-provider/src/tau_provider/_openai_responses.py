"""The OpenAI Responses API (``POST /responses``), streamed.

Conversation mapping: system and user text become input messages; an assistant turn becomes,
in order, its reasoning items, an assistant message and ``function_call`` items; each tool
result becomes a ``function_call_output``. Reasoning items the API returns are kept as
:class:`~tau_core.ThinkingPart`\\ s whose ``signature`` holds the item itself (JSON), so they go
back verbatim on the next turn, as the API requires for reasoning models; a thinking part from
another provider (not such an item) is not sent.

Events read: ``response.output_item.added``/``.done``, ``response.output_text.delta``,
``response.function_call_arguments.delta``, ``response.completed``/``.incomplete`` (final
output and usage), ``response.failed`` and ``error``. The final ``response.output`` is the
source of truth; items assembled from deltas are used only when it is missing.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from tau_core._messages import (
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolSpec,
)

from ._openai import (
    Endpoint,
    OpenAIStyleProvider,
    arguments_text,
    loads_event,
    parse_arguments,
    result_text,
    stream_error,
)
from ._retry import Attempt
from ._sse import SSEEvent

__all__ = ["OpenAIResponsesProvider", "responses_input", "responses_tools"]


def responses_tools(tools: Iterable[ToolSpec], *, strict: bool = False) -> list[dict[str, Any]]:
    """Tool specs as Responses ``function`` tools."""
    out = []
    for spec in tools:
        tool: dict[str, Any] = {"type": "function", "name": spec.name}
        if spec.description:
            tool["description"] = spec.description
        tool["parameters"] = dict(spec.parameters)
        tool["strict"] = strict
        out.append(tool)
    return out


def _reasoning_item(part: ThinkingPart) -> dict[str, Any] | None:
    if not part.signature:
        return None
    try:
        item = json.loads(part.signature)
    except ValueError:
        return None
    if isinstance(item, dict) and item.get("type") == "reasoning" and item.get("id"):
        return item
    return None


def responses_input(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Tau messages as Responses ``input`` items."""
    items: list[dict[str, Any]] = []
    for message in messages:
        if message.role != "assistant":
            items.extend(
                {"type": "function_call_output", "call_id": r.call_id, "output": result_text(r)}
                for r in message.tool_results
            )
            if message.role != "tool" and (message.text or not message.tool_results):
                items.append({"role": message.role, "content": message.text})
            continue
        text: list[str] = []

        def flush(text: list[str] = text) -> None:
            if text:
                items.append({"role": "assistant", "content": "\n".join(text)})
                text.clear()

        for part in message.parts:
            if isinstance(part, TextPart):
                text.append(part.text)
            elif isinstance(part, ThinkingPart):
                item = _reasoning_item(part)
                if item is not None:
                    flush()
                    items.append(item)
            elif isinstance(part, ToolCall):
                flush()
                items.append(
                    {
                        "type": "function_call",
                        "call_id": part.id,
                        "name": part.name,
                        "arguments": arguments_text(part),
                    }
                )
        flush()
    return items


def _text_format(response_format: Mapping[str, Any]) -> dict[str, Any]:
    """A Chat ``response_format`` as a Responses ``text.format``."""
    if response_format.get("type") == "json_schema" and isinstance(
        response_format.get("json_schema"), Mapping
    ):
        return {"type": "json_schema", **response_format["json_schema"]}
    return dict(response_format)


class OpenAIResponsesProvider(OpenAIStyleProvider):
    """The Responses API, streamed.

    Args:
        model: The model name.
        endpoint: Where and how to call.
        strict: Send function tools with ``strict: true`` (their schemas must then close
            every object and require every property).
        **kwargs: As for :class:`~tau_provider._openai.OpenAIStyleProvider`.

    .. versionadded:: 0.1
    """

    path = "/responses"
    api = "responses"

    def __init__(
        self, model: str, endpoint: Endpoint, *, strict: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(model, endpoint, **kwargs)
        self.strict = strict

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "input": responses_input(request.messages),
            "stream": True,
        }
        if request.tools:
            body["tools"] = responses_tools(request.tools, strict=self.strict)
        if request.max_tokens is not None:
            body["max_output_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        response_format = request.metadata.get("response_format")
        if isinstance(response_format, Mapping):
            body["text"] = {"format": _text_format(response_format)}
        body.update(self.endpoint.extra_body)
        return body

    async def parse_stream(
        self, events: AsyncIterator[SSEEvent], attempt: Attempt
    ) -> ModelResponse:
        items: dict[int, dict[str, Any]] = {}
        texts: dict[int, list[str]] = {}
        arguments: dict[int, list[str]] = {}
        finished: set[int] = set()
        final: dict[str, Any] | None = None
        async for event in events:
            data = loads_event(self.name, event.data)
            kind = data.get("type") or event.event
            index = data.get("output_index", 0)
            if kind == "response.output_item.added" and isinstance(data.get("item"), dict):
                items[index] = dict(data["item"])
            elif kind == "response.output_text.delta":
                delta = str(data.get("delta") or "")
                texts.setdefault(index, []).append(delta)
                self.emit(delta, attempt)
            elif kind == "response.function_call_arguments.delta":
                arguments.setdefault(index, []).append(str(data.get("delta") or ""))
            elif kind == "response.output_item.done" and isinstance(data.get("item"), dict):
                items[index] = dict(data["item"])
                finished.add(index)
            elif kind in ("response.completed", "response.incomplete"):
                final = data.get("response") if isinstance(data.get("response"), dict) else {}
            elif kind == "response.failed":
                response = data.get("response") or {}
                raise stream_error(self.name, response.get("error") or {"message": "failed"})
            elif kind == "error":
                raise stream_error(self.name, data.get("error") or data)
        if final is None:
            raise self.cut("response.completed")
        output = final.get("output")
        if not output:
            output = []
            for index in sorted(items):
                item = items[index]
                if index not in finished:
                    if item.get("type") == "message":
                        item["content"] = [
                            {"type": "output_text", "text": "".join(texts.get(index, []))}
                        ]
                    elif item.get("type") == "function_call":
                        item["arguments"] = "".join(arguments.get(index, []))
                output.append(item)
        return self._response(final, output)

    def parse_json(self, data: dict[str, Any]) -> ModelResponse:
        if data.get("error") or data.get("status") == "failed":
            raise stream_error(self.name, data.get("error") or {}, during="in its response")
        return self._response(data, data.get("output") or [])

    def _response(self, final: Mapping[str, Any], output: Iterable[Any]) -> ModelResponse:
        parts: list[Part] = []
        has_calls = False
        for item in output:
            if not isinstance(item, dict):
                continue
            kind = item.get("type")
            if kind == "reasoning":
                summary = "\n".join(
                    str(s.get("text", "")) for s in item.get("summary") or [] if isinstance(s, dict)
                )
                kept = {k: v for k, v in item.items() if v is not None}
                parts.append(ThinkingPart(summary, json.dumps(kept, ensure_ascii=False)))
            elif kind == "message":
                text = "".join(
                    str(c.get("text") or c.get("refusal") or "")
                    for c in item.get("content") or []
                    if isinstance(c, dict)
                )
                if text:
                    parts.append(TextPart(text))
            elif kind == "function_call":
                has_calls = True
                parts.append(
                    ToolCall(
                        str(item.get("call_id") or item.get("id") or f"call_{len(parts)}"),
                        str(item.get("name") or ""),
                        parse_arguments(str(item.get("arguments") or "")),
                    )
                )
        raw = final.get("usage") if isinstance(final.get("usage"), dict) else None
        details = (raw or {}).get("input_tokens_details") or {}
        usage = self.usage(
            int((raw or {}).get("input_tokens") or 0),
            int((raw or {}).get("output_tokens") or 0),
            int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
            raw,
        )
        if has_calls:
            stop = "tool_calls"
        elif final.get("status") == "incomplete":
            reason = (final.get("incomplete_details") or {}).get("reason")
            stop = "length" if reason == "max_output_tokens" else str(reason or "incomplete")
        else:
            stop = "stop"
        model = str(final.get("model") or self.model)
        return ModelResponse(Message("assistant", tuple(parts)), usage, stop, model, self.name)
