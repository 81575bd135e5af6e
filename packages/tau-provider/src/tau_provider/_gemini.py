"""The Google Gemini API provider (``gemini:MODEL``).

One call is ``POST {base_url}/v1beta/models/MODEL:streamGenerateContent?alt=sse`` (or
``:generateContent`` with the option ``stream = false``). The key travels in the
``x-goog-api-key`` header, never in the URL. Each streamed chunk is a whole
``GenerateContentResponse`` carrying the next parts; text parts are concatenated,
``functionCall`` parts arrive whole, and the chunk with a ``finishReason`` ends the answer (a
stream that ends without one is cut, and raises).

==============================  =========================================================
Gemini                          tau-core
==============================  =========================================================
``systemInstruction``           ``system`` messages
``contents`` role ``user``      ``user`` messages, and ``tool`` messages as
                                ``functionResponse`` parts
``contents`` role ``model``     ``assistant`` messages
``text`` (``thought: true``)    :class:`~tau_core.ThinkingPart` (a thought summary)
``thoughtSignature``            a :class:`~tau_core.ThinkingPart` with only a signature,
                                placed before the part it belongs to, and attached to that
                                part again when the conversation is sent back
``functionCall``                :class:`~tau_core.ToolCall`
``functionResponse``            :class:`~tau_core.ToolResult`, matched by tool name
==============================  =========================================================

Gemini gives function calls no ids, so they get deterministic ones, ``call_{turn}_{i}``:
*turn* counts model turns in the conversation (never reusing an earlier id), *i* counts calls
within the turn.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from tau_core._compaction import estimate_tokens
from tau_core._hookcontext import ModelStream
from tau_core._messages import (
    JSON,
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from tau_core.errors import ProviderHTTPError

from ._anthropic import (
    REQUESTS,
    HTTPProvider,
    ProviderProtocolError,
    build_provider,
    result_text,
    tool_arguments,
)
from ._errors import StreamCutError, body_excerpt
from ._retry import Attempt

__all__ = ["GeminiProvider", "gemini_factory"]

DEFAULT_MAX_OUTPUT = 65_536
"""Gemini 2.5's output limit: the worst case of a request that sets no ``maxOutputTokens``."""

_CALL_ID = re.compile(r"^call_(\d+)_\d+$")
_STOP_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}
_STATUS_CODES = {
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
    "DEADLINE_EXCEEDED": 504,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "NOT_FOUND": 404,
}


class GeminiProvider(HTTPProvider):
    """Google's Gemini API (Generative Language API, ``v1beta``), streamed.

    Args:
        model: The model, e.g. ``"gemini-2.5-flash"``.
        options: ``api_key``, ``base_url`` (default ``GEMINI_BASE_URL``, then
            ``https://generativelanguage.googleapis.com``), ``credential`` (default
            ``"gemini"``; the key also comes from ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``),
            ``max_tokens`` (sent as ``maxOutputTokens`` when the request sets none),
            ``timeout``, ``max_attempts``, ``stream`` (default true), ``price`` (USD per
            million tokens, or a table of them per model; default: the packaged table).
        **kwargs: As for :class:`~tau_provider._anthropic.HTTPProvider`.

    Attributes:
        last_usage: The raw ``usageMetadata`` of the last answer.

    .. versionadded:: 0.1
    """

    name = "gemini"
    env_key = "GEMINI_API_KEY"
    env_base_url = "GEMINI_BASE_URL"
    default_base_url = "https://generativelanguage.googleapis.com"
    known_options = HTTPProvider.known_options | {"max_tokens"}

    def __init__(self, model: str, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        max_tokens = self.options.get("max_tokens")
        self.max_tokens = int(max_tokens) if max_tokens is not None else None
        self.last_usage: dict[str, Any] = {}

    def max_output_tokens(self, request: ModelRequest) -> int:
        """``maxOutputTokens`` as sent, else the models' output limit."""
        return request.max_tokens or self.max_tokens or DEFAULT_MAX_OUTPUT

    def _find_key(self) -> str:
        if not self.options.get("api_key") and not os.environ.get(self.env_key):
            google = os.environ.get("GOOGLE_API_KEY")
            if google:
                return google
        return super()._find_key()

    def url(self, model: str | None = None) -> str:
        """The endpoint for one call (no key in it)."""
        name = model or self.model
        path = name if name.startswith(("models/", "tunedModels/")) else f"models/{name}"
        method = "streamGenerateContent?alt=sse" if self.stream else "generateContent"
        return f"{self.base_url}/v1beta/{quote(path, safe='/')}:{method}"

    def body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body for *request*."""
        body: dict[str, Any] = {"contents": to_gemini_contents(request.messages)}
        system = [
            {"text": p.text}
            for m in request.messages
            if m.role == "system"
            for p in m.parts
            if isinstance(p, TextPart) and p.text
        ]
        if system:
            body["systemInstruction"] = {"parts": system}
        if request.tools:
            body["tools"] = [
                {"functionDeclarations": [to_gemini_function(t) for t in request.tools]}
            ]
        generation: dict[str, Any] = {}
        max_tokens = request.max_tokens or self.max_tokens
        if max_tokens is not None:
            generation["maxOutputTokens"] = max_tokens
        if request.temperature is not None:
            generation["temperature"] = request.temperature
        if generation:
            body["generationConfig"] = generation
        return body

    async def complete(
        self, request: ModelRequest, *, stream: ModelStream | None = None
    ) -> ModelResponse:
        """Send *request*, stream the answer, and return it whole.

        Raises:
            CredentialError: No API key was found.
            ProviderError: The call failed (translated; retryable ones were retried).
        """
        body = self.body(request)
        key = self.api_key()
        content = json.dumps(body, ensure_ascii=False).encode()
        url = self.url(request.model or None)
        headers = {"x-goog-api-key": key, "content-type": "application/json"}

        def make() -> httpx.Request:
            return httpx.Request("POST", url, headers=headers, content=content)

        async def read(response: httpx.Response, attempt: Attempt) -> list[dict[str, Any]]:
            if not self.stream:
                return [self._chunk(await self._json(response))]
            chunks: list[dict[str, Any]] = []
            finished = False
            async for event in self._events(response):
                chunk = self._chunk(self._loads(event.data, "stream chunk"))
                chunks.append(chunk)
                for candidate in chunk.get("candidates") or []:
                    finished = finished or bool(candidate.get("finishReason"))
                    for part in (candidate.get("content") or {}).get("parts") or []:
                        if isinstance(part.get("text"), str) and not part.get("thought"):
                            self._delta(part["text"], attempt)
            if not finished:
                raise StreamCutError(
                    "gemini stream ended without a finishReason: the response is incomplete "
                    "and was not used; retry the request"
                )
            return chunks

        tokens = estimate_tokens(request.messages) + (body.get("generationConfig") or {}).get(
            "maxOutputTokens", 0
        )
        chunks = await self._call(
            make,
            read,
            tokens=tokens,
            expected=("text/event-stream",) if self.stream else ("application/json",),
            stream=stream,
        )
        return self._response(chunks, next_turn(request.messages), request.model or self.model)

    def _chunk(self, data: Any) -> dict[str, Any]:
        if isinstance(data, list) and len(data) == 1:
            data = data[0]
        if not isinstance(data, dict):
            raise ProviderProtocolError(
                f"gemini sent {type(data).__name__} where a GenerateContentResponse belongs"
            )
        error = data.get("error")
        if isinstance(error, dict):
            status = str(error.get("status") or "")
            code = error.get("code")
            http = code if isinstance(code, int) and code >= 400 else None
            raise ProviderHTTPError(
                f"gemini sent an error in the stream: {status or code}: {error.get('message', '')}",
                status=http or _STATUS_CODES.get(status, 500),
                body=body_excerpt(json.dumps(data)),
            )
        return data

    def _response(
        self, chunks: list[dict[str, Any]], turn: int, requested: str | None = None
    ) -> ModelResponse:
        parts: list[Part] = []
        finish = ""
        usage: dict[str, Any] = {}
        model = self.model
        calls = 0
        for chunk in chunks:
            usage = chunk.get("usageMetadata") or usage
            model = str(chunk.get("modelVersion") or model)
            candidates = chunk.get("candidates") or []
            if not candidates:
                continue
            candidate = candidates[0]  # tau asks for one candidate
            finish = str(candidate.get("finishReason") or finish)
            for part in (candidate.get("content") or {}).get("parts") or []:
                signature = part.get("thoughtSignature")
                if "functionCall" in part:
                    if signature:
                        parts.append(ThinkingPart("", signature))
                    call = part["functionCall"]
                    args = tool_arguments(call.get("args") or {})
                    parts.append(ToolCall(f"call_{turn}_{calls}", str(call.get("name")), args))
                    calls += 1
                elif isinstance(part.get("text"), str):
                    _add_text(parts, part["text"], bool(part.get("thought")), signature)
                elif signature:
                    parts.append(ThinkingPart("", signature))
        self.last_usage = dict(usage)
        prompt = int(usage.get("promptTokenCount") or 0)
        output = int(usage.get("candidatesTokenCount") or 0) + int(
            usage.get("thoughtsTokenCount") or 0
        )
        price = self.price(requested)
        cached = int(usage.get("cachedContentTokenCount") or 0)
        cost = None if price is None else price.cost(prompt, output, cached)
        stop = "tool_use" if calls else _STOP_REASONS.get(finish, finish.lower() or "stop")
        return ModelResponse(
            message=Message("assistant", tuple(p for p in parts if _keep(p))),
            usage=Usage(prompt, output, cost=cost, requests=REQUESTS.get()),
            stop_reason=stop,
            model=model,
            provider=self.name,
        )


def _add_text(parts: list[Part], text: str, thought: bool, signature: str | None) -> None:
    """Append streamed text, joining it to the previous piece of the same kind."""
    last = parts[-1] if parts else None
    if thought:
        if isinstance(last, ThinkingPart) and last.signature is None and not signature:
            parts[-1] = ThinkingPart(last.text + text)
        else:
            parts.append(ThinkingPart(text, signature))
        return
    if signature:
        parts.append(ThinkingPart("", signature))
        parts.append(TextPart(text))
    elif isinstance(last, TextPart):
        parts[-1] = TextPart(last.text + text)
    else:
        parts.append(TextPart(text))


def _keep(part: Part) -> bool:
    return not (isinstance(part, TextPart) and not part.text)


def next_turn(messages: tuple[Message, ...]) -> int:
    """The turn number for the answer to *messages*: after every model turn and every id."""
    turn = sum(1 for m in messages if m.role == "assistant")
    for message in messages:
        for call in message.tool_calls:
            match = _CALL_ID.match(call.id)
            if match:
                turn = max(turn, int(match.group(1)) + 1)
    return turn


def to_gemini_function(tool: ToolSpec) -> dict[str, Any]:
    """A tool spec as a Gemini ``functionDeclaration``."""
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    parameters = dict(tool.parameters)
    if parameters.get("properties") or parameters.get("type") != "object":
        declaration["parameters"] = parameters
    return declaration


def _function_response(result: ToolResult, names: Mapping[str, str]) -> dict[str, Any]:
    content: JSON = result.content
    if result.error is not None:
        payload: dict[str, JSON] = {"error": result_text(result)}
    elif isinstance(content, dict):
        payload = dict(content)
    else:
        payload = {"result": content if isinstance(content, str) else result_text(result)}
    name = result.name or names.get(result.call_id, "")
    return {"functionResponse": {"name": name, "response": payload}}


def to_gemini_contents(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """tau-core messages as Gemini ``contents`` (system ones excluded).

    A thought signature (a :class:`ThinkingPart` with no text) is attached to the part after
    it; thought summaries are not sent back (the API ignores them).
    """
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "model" if message.role == "assistant" else "user"
        parts: list[dict[str, Any]] = []
        signature: str | None = None
        for part in message.parts:
            item: dict[str, Any] | None = None
            if isinstance(part, ThinkingPart):
                signature = part.signature or signature
                continue
            if isinstance(part, TextPart):
                item = {"text": part.text} if part.text else None
            elif isinstance(part, ToolCall):
                item = {"functionCall": {"name": part.name, "args": part.arguments}}
            elif isinstance(part, ToolResult):
                item = _function_response(part, names)
            if item is None:
                continue
            if signature and role == "model":
                item["thoughtSignature"] = signature
            signature = None
            parts.append(item)
        if not parts:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["parts"].extend(parts)
        else:
            out.append({"role": role, "parts": parts})
    return out


def gemini_factory(model: str, config: Any = None, **options: Any) -> GeminiProvider:
    """Build the ``gemini`` provider for *model* from ``[providers.gemini]`` and *options*.

    .. versionadded:: 0.1
    """
    return build_provider(GeminiProvider, "gemini", model, config, options)
