"""The Anthropic Messages API provider (``anthropic:MODEL``).

One call is one ``POST {base_url}/v1/messages`` with ``stream: true``; the server-sent events
(``message_start``, ``content_block_start``/``_delta``/``_stop``, ``message_delta``,
``message_stop``, ``ping``, ``error``) are assembled into the same message object the
non-streaming API returns, then mapped onto tau-core's data model:

=====================  ==================================================================
Anthropic block        tau-core part
=====================  ==================================================================
``text``               :class:`~tau_core.TextPart`
``thinking``           :class:`~tau_core.ThinkingPart` (``text``, ``signature`` verbatim)
``redacted_thinking``  :class:`~tau_core.ThinkingPart` with ``text=""`` and the opaque
                       ``data`` as signature, prefixed ``redacted_thinking:``
``tool_use``           :class:`~tau_core.ToolCall` (``id``, ``name``, ``input``)
``tool_result``        :class:`~tau_core.ToolResult` (sent in a ``user`` message)
=====================  ==================================================================

Thinking blocks go back to the API unchanged, as it requires. ``system`` messages become the
top-level ``system`` field. With the option ``cache_system = true`` the system block and the
last tool carry ``cache_control: {"type": "ephemeral"}``; the cache counters come back in
:attr:`AnthropicProvider.last_usage` and are included in ``Usage.input_tokens``.

Options (keyword arguments, or ``[providers.anthropic]`` in config): ``api_key``,
``base_url``, ``credential``, ``max_tokens``, ``cache_system``, ``thinking`` (a budget in
tokens, or the API's ``{"type": "enabled", "budget_tokens": N}``), ``timeout``,
``max_attempts``, ``stream``, ``price`` (USD per million tokens, ``{input, output,
cached_input, cache_write}``, or such a table per model; default: the packaged price table).

The HTTP call path shared with the Gemini provider (credentials, base URL, one retry budget,
the route's circuit breaker, the provider's rate limiter, error translation) lives here too,
in :class:`HTTPProvider`.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, ClassVar, TypeVar

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
from tau_core.errors import ConfigError, CredentialError, ProviderError, ProviderHTTPError

from ._breaker import breakers
from ._callstream import deliver, reporting
from ._errors import (
    StreamCutError,
    atranslate_response,
    body_excerpt,
    check_content_type,
    translate_exception,
)
from ._prices import Price, price_for, worst_case
from ._ratelimit import rate_limits
from ._retry import Attempt, RetryBudget, with_retries
from ._sse import SSEEvent, aiter_sse

REQUESTS: contextvars.ContextVar[int] = contextvars.ContextVar("tau_provider_requests", default=1)
"""HTTP requests made by the current call (set by ``HTTPProvider._call`` for ``Usage.requests``)."""

__all__ = ["AnthropicProvider", "HTTPProvider", "anthropic_factory"]

ANTHROPIC_VERSION = "2023-06-01"
REDACTED_PREFIX = "redacted_thinking:"
_PASS_THROUGH = frozenset({"kind", "rate_limit", "rate_limits", "price", "prices"})
"""Config keys other layers read from ``[providers.NAME]``; a provider ignores them."""


# -- the call path shared by HTTP providers ---------------------------------------------------


class ProviderProtocolError(ProviderError):
    """The provider sent something that is not its documented wire format.

    Retryable: a garbled body is usually a proxy or a cut connection, not the request.
    """

    retryable = True


class HTTPProvider:
    """Credentials, base URL and the resilient streaming call path of an HTTP provider.

    Subclasses set the class attributes and implement :meth:`complete` with
    :meth:`_call`.

    Args:
        model: The model name (the part of ``provider:model`` after the colon).
        options: Provider options (see the subclass).
        config: The loaded configuration (for the credential store hook).
        transport: An httpx transport (tests, proxies); default: a real network one.
        retry_budget: Makes the :class:`RetryBudget` for each call (tests inject clocks).

    Attributes:
        on_delta: Called with each piece of answer text as it streams in; once it has been
            called, a failure of that call is never retried (the text already reached the
            caller).

    .. versionadded:: 0.1
    """

    name: ClassVar[str]
    env_key: ClassVar[str]
    env_base_url: ClassVar[str]
    default_base_url: ClassVar[str]
    known_options: ClassVar[frozenset[str]] = frozenset(
        {"api_key", "base_url", "credential", "timeout", "max_attempts", "stream"}
    )

    def __init__(
        self,
        model: str,
        *,
        options: Mapping[str, Any] | None = None,
        config: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry_budget: Callable[[], RetryBudget] | None = None,
    ) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - self.known_options - _PASS_THROUGH)
        if unknown:
            raise ConfigError(
                f"unknown option(s) {', '.join(unknown)} for the {self.name} provider; known "
                f"options: {', '.join(sorted(self.known_options))}"
            )
        self.model = model
        self.options = options
        self.config = config
        self.transport = transport
        self.credential = str(options.get("credential") or self.name)
        self.base_url = str(
            options.get("base_url") or os.environ.get(self.env_base_url) or self.default_base_url
        ).rstrip("/")
        self.timeout = float(options.get("timeout", 600.0))
        self.stream = bool(options.get("stream", True))
        max_attempts = int(options.get("max_attempts", 4))
        self.retry_budget = retry_budget or (lambda: RetryBudget(max_attempts=max_attempts))
        self.on_delta: Callable[[str], object] | None = None
        self._api_key: str | None = None
        price_for(self.name, model, options.get("price"))  # a malformed price fails here

    def price(self, model: str | None = None) -> Price | None:
        """The price of *model* (default: this provider's): config, then the packaged table.

        None when neither knows it: the cost is then unknown, never zero.
        """
        return price_for(self.name, model or self.model, self.options.get("price"))

    def max_output_tokens(self, request: ModelRequest) -> int:
        """The most output tokens *request* can produce."""
        return request.max_tokens or 0

    def worst_case_cost(self, request: ModelRequest) -> float | None:
        """The most *request* can cost, or None when the model's price is unknown."""
        price = self.price(request.model or None)
        if price is None:
            return None
        return worst_case(price, estimate_tokens(request.messages), self.max_output_tokens(request))

    @property
    def route(self) -> str:
        """The route spec, ``provider:model``: the key of its circuit breaker."""
        return f"{self.name}:{self.model}"

    def api_key(self) -> str:
        """The key: the ``api_key`` option, else the environment, else the credential store.

        Raises:
            CredentialError: None of them has one; the message says how to set it.
        """
        if self._api_key is None:
            self._api_key = self._find_key()
        return self._api_key

    def _find_key(self) -> str:
        explicit = self.options.get("api_key")
        if explicit:
            return str(explicit)
        from_env = os.environ.get(self.env_key)
        if from_env:
            return from_env
        from tau_core._config import load_config
        from tau_core._plugins import get_plugin_manager

        config = self.config if self.config is not None else load_config()
        found = get_plugin_manager().hook.tau_resolve_credential(
            name=self.credential, config=config
        )
        value = getattr(found, "value", None)
        if isinstance(value, str) and value:
            return value
        raise CredentialError(
            f"no API key for the {self.name} provider: set one with "
            f"`tau keys set {self.credential}` or the {self.env_key} environment variable "
            f"(or the api_key option in [providers.{self.name}])"
        )

    async def _call(
        self,
        make_request: Callable[[], httpx.Request],
        read: Callable[[httpx.Response, Attempt], Any],
        *,
        tokens: int,
        expected: tuple[str, ...],
        stream: ModelStream | None = None,
    ) -> Any:
        """Send a request under the route's breaker, the rate limiter and one retry budget.

        Args:
            make_request: Builds the request (once per attempt).
            read: Async; turns a successful response into the result, calling
                ``attempt.output_started()`` when it passes output on.
            tokens: The token estimate to reserve from the rate limiter.
            expected: Content types a successful response may have.
            stream: tau-core's stream for this call (deltas, retries, breaker changes).
        """
        limiter = rate_limits().get(self.name)
        budget = self.retry_budget()
        secrets = (self.api_key(),)

        async def attempt(att: Attempt) -> Any:
            await limiter.acquire(1, tokens)
            async with httpx.AsyncClient(
                transport=self.transport,
                timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            ) as client:
                request = make_request()
                try:
                    response = await client.send(request, stream=True)
                except httpx.HTTPError as exc:
                    raise translate_exception(self.name, exc) from exc
                try:
                    if response.status_code >= 400:
                        raise await atranslate_response(
                            self.name,
                            response,
                            self.credential,
                            env_var=self.env_key,
                            secrets=secrets,
                        )
                    check_content_type(self.name, response, expected)
                    return await read(response, att)
                except httpx.HTTPError as exc:
                    raise translate_exception(self.name, exc) from exc
                finally:
                    await response.aclose()

        with reporting(self.route, stream) as on_retry, breakers().get(self.route).guard():
            result = await with_retries(attempt, budget, on_retry=on_retry)
        REQUESTS.set(budget.attempts)  # read by _response: every HTTP request, retries included
        return result

    async def _events(self, response: httpx.Response) -> AsyncIterator[SSEEvent]:
        async for event in aiter_sse(response.aiter_bytes(), provider=self.name):
            yield event

    async def _json(self, response: httpx.Response) -> Any:
        raw = await response.aread()
        return self._loads(raw.decode("utf-8", errors="replace"), "response body")

    def _loads(self, text: str, what: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ProviderProtocolError(
                f"{self.name} sent a {what} that is not valid JSON ({exc}): "
                f"{body_excerpt(text, (self._api_key or '',), 200)!r}"
            ) from None

    def _delta(self, text: str, attempt: Attempt) -> None:
        deliver(text, attempt, self.on_delta)


def options_from(name: str, config: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``[providers.NAME]`` from *config*, with *overrides* on top."""
    base = config.get(f"providers.{name}", {}) if config is not None else {}
    merged = dict(base) if isinstance(base, Mapping) else {}
    merged.update(overrides)
    return merged


def tool_arguments(value: JSON) -> dict[str, JSON]:
    """A tool call's arguments as a dict (a model may send something else: wrap it)."""
    return dict(value) if isinstance(value, dict) else {"value": value}


def result_text(result: ToolResult) -> str:
    """A tool result's content as text (JSON for anything but a string)."""
    content = result.content
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


# -- Anthropic ---------------------------------------------------------------------------------

_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_STREAM_ERRORS = {
    "overloaded_error": 529,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "request_too_large": 413,
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
}


class AnthropicProvider(HTTPProvider):
    """Anthropic's Messages API, streamed.

    Args:
        model: The model, e.g. ``"claude-sonnet-4-5"``.
        options: ``api_key``, ``base_url`` (default ``ANTHROPIC_BASE_URL``, then
            ``https://api.anthropic.com``), ``credential`` (default ``"anthropic"``),
            ``max_tokens`` (default 4096, used when the request sets none), ``cache_system``,
            ``thinking``, ``timeout``, ``max_attempts``, ``stream`` (default true), ``price``.
        **kwargs: As for :class:`HTTPProvider`.

    Attributes:
        last_usage: The raw ``usage`` object of the last answer, cache counters included.

    .. versionadded:: 0.1
    """

    name = "anthropic"
    env_key = "ANTHROPIC_API_KEY"
    env_base_url = "ANTHROPIC_BASE_URL"
    default_base_url = "https://api.anthropic.com"
    known_options = HTTPProvider.known_options | {"max_tokens", "cache_system", "thinking"}

    def __init__(self, model: str, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.max_tokens = int(self.options.get("max_tokens", 4096))
        self.cache_system = bool(self.options.get("cache_system", False))
        thinking = self.options.get("thinking")
        if isinstance(thinking, int) and not isinstance(thinking, bool):
            thinking = {"type": "enabled", "budget_tokens": thinking}
        if thinking is not None and not isinstance(thinking, Mapping):
            raise ConfigError(
                f"the anthropic option thinking={thinking!r} must be a token budget (an "
                'integer) or a table like {type = "enabled", budget_tokens = 2048}'
            )
        self.thinking: dict[str, Any] | None = dict(thinking) if thinking else None
        self.last_usage: dict[str, Any] = {}

    def body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body for *request* (``stream`` included)."""
        system = [
            p.text
            for m in request.messages
            if m.role == "system"
            for p in m.parts
            if isinstance(p, TextPart)
        ]
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens or self.max_tokens,
            "messages": to_anthropic_messages(request.messages),
        }
        if system:
            text = "\n\n".join(system)
            if self.cache_system:
                body["system"] = [
                    {"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}
                ]
            else:
                body["system"] = text
        if request.tools:
            body["tools"] = [to_anthropic_tool(t) for t in request.tools]
            if self.cache_system:
                body["tools"][-1]["cache_control"] = {"type": "ephemeral"}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if self.thinking is not None:
            body["thinking"] = self.thinking
        if self.stream:
            body["stream"] = True
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
        headers = {
            "x-api-key": key,
            "anthropic-version": ANTHROPIC_VERSION,
            "content-type": "application/json",
            "accept": "text/event-stream" if self.stream else "application/json",
        }

        def make() -> httpx.Request:
            return httpx.Request(
                "POST", f"{self.base_url}/v1/messages", headers=headers, content=content
            )

        async def read(response: httpx.Response, attempt: Attempt) -> dict[str, Any]:
            if not self.stream:
                data = await self._json(response)
                if not isinstance(data, dict) or not isinstance(data.get("content"), list):
                    raise ProviderProtocolError(
                        f"anthropic sent a response without a content list: "
                        f"{body_excerpt(json.dumps(data), (key,), 200)!r}"
                    )
                return data
            return await self._assemble(response, attempt)

        tokens = estimate_tokens(request.messages) + body["max_tokens"]
        message = await self._call(
            make,
            read,
            tokens=tokens,
            expected=("text/event-stream",) if self.stream else ("application/json",),
            stream=stream,
        )
        return self._response(message, request.model or self.model)

    async def _assemble(self, response: httpx.Response, attempt: Attempt) -> dict[str, Any]:
        """Rebuild the API's message object from its stream of events."""
        message: dict[str, Any] | None = None
        blocks: dict[int, dict[str, Any]] = {}
        partial_json: dict[int, list[str]] = {}
        async for event in self._events(response):
            data = self._loads(event.data, f"{event.event!r} event")
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "error":
                raise _stream_error(data)
            if kind == "message_start":
                message = dict(data["message"])
                message["content"] = []
                message["usage"] = dict(message.get("usage") or {})
            elif message is None:
                if kind != "ping":
                    raise ProviderProtocolError(
                        f"anthropic stream sent {kind!r} before message_start"
                    )
            elif kind == "content_block_start":
                blocks[data["index"]] = dict(data["content_block"])
                partial_json[data["index"]] = []
            elif kind == "content_block_delta":
                self._apply_delta(blocks, partial_json, data, attempt)
            elif kind == "content_block_stop":
                block = blocks.get(data["index"])
                if block is not None and block.get("type") == "tool_use":
                    raw = "".join(partial_json.get(data["index"], []))
                    if raw:
                        block["input"] = self._loads(raw, f"tool_use input for {block['name']!r}")
            elif kind == "message_delta":
                message.update({k: v for k, v in data.get("delta", {}).items()})
                message["usage"].update(data.get("usage") or {})
            elif kind == "message_stop":
                message["content"] = [blocks[i] for i in sorted(blocks)]
                return message
            # ping and unknown event types are ignored, as the API's versioning policy asks
        raise StreamCutError(
            "anthropic stream ended before message_stop: the response is incomplete and was "
            "not used; retry the request"
        )

    def _apply_delta(
        self,
        blocks: dict[int, dict[str, Any]],
        partial_json: dict[int, list[str]],
        data: dict[str, Any],
        attempt: Attempt,
    ) -> None:
        index = data["index"]
        block = blocks.get(index)
        if block is None:
            raise ProviderProtocolError(f"anthropic stream sent a delta for unknown block {index}")
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + delta["text"]
            self._delta(delta["text"], attempt)
        elif kind == "input_json_delta":
            partial_json[index].append(delta.get("partial_json", ""))
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + delta["thinking"]
        elif kind == "signature_delta":
            block["signature"] = block.get("signature", "") + delta["signature"]

    def max_output_tokens(self, request: ModelRequest) -> int:
        """The ``max_tokens`` sent: the request's, else the ``max_tokens`` option."""
        return request.max_tokens or self.max_tokens

    def _response(self, message: dict[str, Any], requested: str | None = None) -> ModelResponse:
        parts: list[Part] = []
        for block in message.get("content", []):
            kind = block.get("type")
            if kind == "text" and block.get("text"):
                parts.append(TextPart(block["text"]))
            elif kind == "thinking":
                parts.append(ThinkingPart(block.get("thinking", ""), block.get("signature")))
            elif kind == "redacted_thinking":
                parts.append(ThinkingPart("", REDACTED_PREFIX + block.get("data", "")))
            elif kind == "tool_use":
                parts.append(
                    ToolCall(block["id"], block["name"], tool_arguments(block.get("input", {})))
                )
        usage = message.get("usage") or {}
        self.last_usage = dict(usage)
        written = int(usage.get("cache_creation_input_tokens") or 0)
        read = int(usage.get("cache_read_input_tokens") or 0)
        prompt = int(usage.get("input_tokens") or 0) + written + read
        output = int(usage.get("output_tokens") or 0)
        price = self.price(requested)
        cost = None if price is None else price.cost(prompt, output, read, written)
        stop = str(message.get("stop_reason") or "stop")
        return ModelResponse(
            message=Message("assistant", tuple(parts)),
            usage=Usage(prompt, output, cost=cost, requests=REQUESTS.get()),
            stop_reason=_STOP_REASONS.get(stop, stop),
            model=str(message.get("model") or self.model),
            provider=self.name,
        )


def _stream_error(data: dict[str, Any]) -> ProviderHTTPError:
    error = data.get("error") or {}
    kind = str(error.get("type") or "api_error")
    status = _STREAM_ERRORS.get(kind, 500)
    return ProviderHTTPError(
        f"anthropic sent an error event mid-stream: {kind}: {error.get('message', '')}",
        status=status,
        body=body_excerpt(json.dumps(data)),
    )


def to_anthropic_tool(tool: ToolSpec) -> dict[str, Any]:
    """A tool spec as Anthropic's ``{name, description, input_schema}``."""
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["input_schema"] = dict(tool.parameters)
    return spec


def _block(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ThinkingPart):
        signature = part.signature
        if not signature:
            return None  # unsigned reasoning (another provider's) cannot be sent back
        if signature.startswith(REDACTED_PREFIX):
            return {"type": "redacted_thinking", "data": signature[len(REDACTED_PREFIX) :]}
        return {"type": "thinking", "thinking": part.text, "signature": signature}
    if isinstance(part, ToolCall):
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": part.call_id,
        "content": result_text(part),
    }
    if part.error is not None:
        block["is_error"] = True
    return block


def to_anthropic_messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """tau-core messages as Anthropic ``messages`` (system ones excluded).

    Tool results travel in ``user`` messages, before any text; consecutive messages of one
    role are merged, as the API expects strictly alternating turns.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [b for b in (_block(p) for p in message.parts) if b is not None]
        if role == "user":
            blocks.sort(key=lambda b: b["type"] != "tool_result")
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            merged = out[-1]["content"] + blocks
            if role == "user":
                merged.sort(key=lambda b: b["type"] != "tool_result")
            out[-1]["content"] = merged
        else:
            out.append({"role": role, "content": blocks})
    return out


P = TypeVar("P", bound="HTTPProvider")


def build_provider(cls: type[P], name: str, model: str, config: Any, options: dict[str, Any]) -> P:
    """Build provider class *cls* for *model* from ``[providers.NAME]`` and call *options*
    (``transport`` and ``retry_budget`` are test seams, not settings). Rate-limit options
    configure the provider's shared limiter once the provider is built."""
    from ._ratelimit import RATE_LIMIT_KEYS, rate_limit_settings

    transport = options.pop("transport", None)
    retry_budget = options.pop("retry_budget", None)
    merged = options_from(name, config, options)
    limits = rate_limit_settings(name, merged)
    provider = cls(
        model,
        options={k: v for k, v in merged.items() if k not in RATE_LIMIT_KEYS},
        config=config,
        transport=transport,
        retry_budget=retry_budget,
    )
    if limits is not None:  # only once the provider was built: a bad config changes nothing
        limits.apply(name)
    return provider


def anthropic_factory(model: str, config: Any = None, **options: Any) -> AnthropicProvider:
    """Build the ``anthropic`` provider for *model* from ``[providers.anthropic]`` and *options*.

    .. versionadded:: 0.1
    """
    return build_provider(AnthropicProvider, "anthropic", model, config, options)
