"""OpenAI Chat Completions, and the HTTP call path every OpenAI-shaped provider shares.

One model call is one streamed POST (``"stream": true``) whose server-sent events are assembled
into a :class:`~tau_core.ModelResponse`; a server that answers with plain JSON instead of an
event stream is understood too. The path, shared by the Responses API
(:mod:`tau_provider._openai_responses`), OpenRouter and OpenAI-compatible servers
(:mod:`tau_provider._compatible`)::

    complete(request)
      └─ breaker guard (one verdict per call, route "provider:model")
          └─ with_retries(RetryBudget)          one budget: retries never multiply
              └─ attempt: rate limiter → POST → status / content type → SSE → assemble

Keys come from the ``api_key`` option, then the environment (``OPENAI_API_KEY``), then the
credential store through ``tau_resolve_credential``; base URLs from the ``base_url`` option,
then ``OPENAI_BASE_URL``, then the official default. Options live under ``[providers.openai]``
and may be overridden per model under ``[providers.openai.models."MODEL"]``.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json
import os
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, ClassVar

import httpx
from attrs import evolve, field, frozen

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
from tau_core.errors import (
    ConfigError,
    CredentialError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimitError,
    UsageError,
)

from ._breaker import breakers
from ._callstream import deliver, reporting
from ._errors import (
    StreamCutError,
    atranslate_response,
    body_excerpt,
    check_content_type,
    translate_exception,
)
from ._prices import Price, parse_price, price_for, worst_case
from ._ratelimit import rate_limits
from ._retry import Attempt, RetryBudget, with_retries
from ._sse import SSEEvent, aiter_sse

__all__ = [
    "INVALID_ARGUMENTS_KEY",
    "Endpoint",
    "OpenAIChatProvider",
    "OpenAIStyleProvider",
    "Price",
    "build_endpoint",
    "openai_factory",
    "provider_options",
    "resolve_api_key",
]

OPENAI_BASE_URL = "https://api.openai.com/v1"

INVALID_ARGUMENTS_KEY = "__tau_invalid_json__"
"""A tool call whose arguments are not a JSON object keeps the raw text under this key (the
tool then reports ``bad_arguments`` to the model), and the text is sent back verbatim."""

RESPONSES_ONLY_PREFIXES = (
    "o1-pro",
    "o3-pro",
    "o3-deep-research",
    "o4-mini-deep-research",
    "codex-",
    "computer-use-preview",
    "gpt-5-pro",
    "gpt-5-codex",
    "gpt-5.1-codex",
)
"""OpenAI models served only by the Responses API; every other model defaults to Chat."""

DEFAULT_WORST_CASE_OUTPUT = 32_768
"""Output tokens assumed for a worst-case price when the request sets no ``max_tokens``."""


@frozen
class Endpoint:
    """Where and how an OpenAI-shaped provider sends its requests.

    Attributes:
        name: The provider name in routes, messages and rate limits (``openai``, ``ollama``).
        base_url: The API root, e.g. ``https://api.openai.com/v1``.
        api_key: The key sent as ``Authorization: Bearer``; None sends no key.
        credential: The credential-store name named in 401/403 messages.
        env_var: The environment variable that can hold the key.
        headers: Extra headers sent with every request.
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for the first byte and between stream chunks.
        max_attempts: Attempts per call, the first included.
        max_retry_seconds: Wall time after which no retry starts.
        price: The configured price, or None (then the provider reports the cost, or the
            price table knows the model, or the cost is unknown).
        max_tokens_field: The body field for the output limit (``max_completion_tokens``
            for OpenAI, ``max_tokens`` for most compatible servers).
        stream_usage: Send ``stream_options.include_usage`` (Chat Completions).
        extra_body: Fields merged into every request body (``parallel_tool_calls``,
            ``reasoning_effort``, OpenRouter's ``provider`` routing …).

    .. versionadded:: 0.1
    """

    name: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    credential: str = ""
    env_var: str | None = None
    headers: Mapping[str, str] = field(factory=dict)
    connect_timeout: float = 10.0
    read_timeout: float = 300.0
    max_attempts: int = 4
    max_retry_seconds: float = 120.0
    price: Price | None = None
    max_tokens_field: str = "max_completion_tokens"
    stream_usage: bool = True
    extra_body: Mapping[str, JSON] = field(factory=dict)


# -- options, keys and base URLs -------------------------------------------------------------------


def provider_options(config: Any, name: str) -> dict[str, Any]:
    """The ``[providers.NAME]`` table of *config* (a ``Config``, a mapping, or None)."""
    if config is None:
        return {}
    table = config.get(f"providers.{name}", None)
    if table is None and isinstance(config, Mapping):
        table = config.get("providers", {}).get(name) if "providers" in config else None
    if table is None:
        return {}
    if not isinstance(table, Mapping):
        raise ConfigError("must be a table of provider options", key=f"providers.{name}")
    return dict(table)


def model_options(options: Mapping[str, Any], model: str) -> dict[str, Any]:
    """*options* with ``models."MODEL"`` overrides applied on top."""
    merged = {k: v for k, v in options.items() if k != "models"}
    node: Any = options.get("models") or {}
    if isinstance(node, Mapping) and model not in node:
        # Config tables split dotted keys: models."gpt-4.1" arrives as models["gpt-4"]["1"].
        for piece in model.split("."):
            node = node.get(piece) if isinstance(node, Mapping) else None
    elif isinstance(node, Mapping):
        node = node[model]
    if isinstance(node, Mapping):
        merged.update(node)
    return merged


def resolve_api_key(
    credential: str,
    env_var: str | None,
    *,
    explicit: str | None = None,
    config: Any = None,
    required: bool = True,
    use_store: bool = True,
) -> str | None:
    """Find a key: the explicit option, then *env_var*, then the credential store.

    Without *use_store* the store is not consulted (an endpoint that needs no key).

    Raises:
        CredentialError: *required* and nothing was found; the message says how to set it.
    """
    if explicit:
        return explicit
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    if not use_store:
        return None
    from tau_core._config import Config, load_config
    from tau_core._plugins import get_plugin_manager

    cfg = config if isinstance(config, Config) else load_config()
    manager = get_plugin_manager(cfg)
    found = manager.hook.tau_resolve_credential(name=credential, config=cfg)
    value = getattr(found, "value", found)
    if isinstance(value, str) and value:
        return value
    if not required:
        return None
    where = f" or the {env_var} environment variable" if env_var else ""
    raise CredentialError(
        f"no API key for {credential!r}: set one with `tau keys set {credential}`{where}, "
        f"or pass api_key in the provider's config"
    )


def _number(options: Mapping[str, Any], key: str, default: float, name: str) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"must be a non-negative number, got {value!r}", key=f"providers.{name}.{key}"
        )
    return float(value)


def _price(options: Mapping[str, Any], name: str) -> Price | None:
    raw = options.get("price")
    return None if raw is None else parse_price(raw, f"providers.{name}.price")


def build_endpoint(
    name: str,
    options: Mapping[str, Any],
    *,
    config: Any,
    credential: str,
    env_key: str | None,
    env_base: str | None,
    default_base: str | None,
    key_required: bool = True,
    headers: Mapping[str, str] | None = None,
    max_tokens_field: str = "max_completion_tokens",
    extra_body: Mapping[str, JSON] | None = None,
) -> Endpoint:
    """Build an :class:`Endpoint` from provider options (already merged per model).

    Rate-limit options (``requests_per_minute``, ``tokens_per_minute``, their ``_burst``
    sizes and ``rate_limit_max_wait``) configure the provider's shared limiter in
    :func:`~tau_provider._ratelimit.rate_limits` once the endpoint is built.

    Raises:
        ConfigError: An option has the wrong type, or no base URL is known.
        CredentialError: A key is required and none was found.
    """
    from ._ratelimit import rate_limit_settings

    models = provider_options(config, name).get("models")
    limits = rate_limit_settings(name, options, models=models)
    base = options.get("base_url") or (os.environ.get(env_base) if env_base else None)
    base = base or default_base
    if not base:
        raise ConfigError(
            f"no base_url for provider {name!r}: set `base_url` in [providers.{name}]"
            + (f" or the {env_base} environment variable" if env_base else ""),
            key=f"providers.{name}.base_url",
        )
    explicit = options.get("api_key")
    key = resolve_api_key(
        credential,
        env_key,
        explicit=explicit,
        config=config,
        required=key_required,
        use_store=key_required,
    )
    extra_headers = dict(headers or {})
    configured = options.get("headers") or {}
    if not isinstance(configured, Mapping):
        raise ConfigError(
            "must be a table of header names to values", key=f"providers.{name}.headers"
        )
    extra_headers.update({str(k): str(v) for k, v in configured.items()})
    body = dict(extra_body or {})
    configured_body = options.get("extra_body") or {}
    if not isinstance(configured_body, Mapping):
        raise ConfigError("must be a table", key=f"providers.{name}.extra_body")
    body.update(configured_body)
    endpoint = Endpoint(
        name=name,
        base_url=str(base).rstrip("/"),
        api_key=key,
        credential=credential,
        env_var=env_key,
        headers=extra_headers,
        connect_timeout=_number(options, "connect_timeout", 10.0, name),
        read_timeout=_number(options, "read_timeout", 300.0, name),
        max_attempts=max(1, int(_number(options, "max_attempts", 4, name))),
        max_retry_seconds=_number(options, "max_retry_seconds", 120.0, name),
        price=_price(options, name),
        max_tokens_field=str(options.get("max_tokens_field", max_tokens_field)),
        stream_usage=bool(options.get("stream_usage", True)),
        extra_body=body,
    )
    if limits is not None:  # only once nothing else can fail: a bad config changes no limiter
        limits.apply(name)
    return endpoint


# -- conversions shared by both OpenAI APIs --------------------------------------------------------


def arguments_text(call: ToolCall) -> str:
    """The JSON text of a call's arguments (the raw text for arguments that were not JSON)."""
    raw = call.arguments.get(INVALID_ARGUMENTS_KEY)
    if isinstance(raw, str) and len(call.arguments) == 1:
        return raw
    return json.dumps(call.arguments, ensure_ascii=False)


def parse_arguments(text: str) -> dict[str, JSON]:
    """A call's arguments from the model's JSON text; ``{}`` for empty text."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {INVALID_ARGUMENTS_KEY: text}
    return value if isinstance(value, dict) else {INVALID_ARGUMENTS_KEY: text}


def result_text(result: ToolResult) -> str:
    """What a tool result says to the model, as text."""
    content = result.content
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    if not text and result.error is not None:
        text = f"error [{result.error.code}]: {result.error.message}"
    return text


def loads_event(provider: str, data: str) -> dict[str, Any]:
    """Decode one event's JSON object, or raise a retryable ProviderError."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        error = ProviderError(
            f"{provider} sent an event that is not a JSON object "
            f"({body_excerpt(data, limit=120)!r}); the response was discarded"
        )
        error.retryable = True
        raise error
    return value


_CODE_STATUS = {
    "rate_limit_exceeded": 429,
    "server_error": 500,
    "internal_error": 500,
    "server_is_overloaded": 503,
    "overloaded": 503,
    "slow_down": 503,
    "timeout": 408,
}


def stream_error(provider: str, error: Any, *, during: str = "mid-stream") -> ProviderError:
    """Translate an error object a provider sent inside a 200 response.

    An integer ``code`` (OpenRouter) is an HTTP status; known string codes map to their status
    (``rate_limit_exceeded`` → 429, ``server_error`` → 500); anything else is a 400, not retried.
    """
    if not isinstance(error, Mapping):
        error = {"message": str(error)}
    code = error.get("code")
    message = str(error.get("message") or error.get("type") or "no message")
    status = code if isinstance(code, int) and code >= 400 else None
    if status is None and isinstance(code, str) and code.isdigit():
        status = int(code)
    if status is None:
        status = _CODE_STATUS.get(str(code or error.get("type") or ""), 400)
    text = body_excerpt(f"{provider} reported an error {during}: {code or 'error'}: {message}")
    if status in (401, 403):
        return ProviderAuthenticationError(text, status=status, body=text)
    if status == 429:
        return ProviderRateLimitError(text, status=status, body=text)
    return ProviderHTTPError(text, status=status, body=text)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Building a context costs milliseconds; one per process serves every call.
    return httpx.create_ssl_context()


# -- the shared call path --------------------------------------------------------------------------


class OpenAIStyleProvider(abc.ABC):
    """The call path of every OpenAI-shaped provider; subclasses map bodies and events.

    Args:
        model: The model name sent to the API.
        endpoint: Where and how to call.
        http_client: An ``httpx.AsyncClient`` to reuse (owned by the caller); by default each
            call opens and closes its own.
        on_delta: Called with each text delta as it arrives. Once it has been called, a failure
            of that call is never retried (the caller already saw the output).
        retry_budget: Builds the :class:`RetryBudget` of one call (tests inject clocks here).

    .. versionadded:: 0.1
    """

    path: ClassVar[str] = "/chat/completions"
    api: ClassVar[str] = "chat"

    def __init__(
        self,
        model: str,
        endpoint: Endpoint,
        *,
        http_client: httpx.AsyncClient | None = None,
        on_delta: Callable[[str], object] | None = None,
        retry_budget: Callable[[], RetryBudget] | None = None,
    ) -> None:
        if not model:
            raise UsageError(
                f"{endpoint.name}: a model name is needed, e.g. {endpoint.name}:gpt-4.1"
            )
        self.model = model
        self.endpoint = endpoint
        self.name = endpoint.name
        self.http_client = http_client
        self.on_delta = on_delta
        self.retry_budget = retry_budget or self._default_budget
        self.last_usage: dict[str, Any] = {}
        """The raw usage object of the last call (reasoning and cached token details)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.route!r}, base_url={self.endpoint.base_url!r})"

    @property
    def route(self) -> str:
        """The route spec its circuit breaker is keyed by, e.g. ``openai:gpt-4.1``."""
        return f"{self.name}:{self.model}"

    def _default_budget(self) -> RetryBudget:
        return RetryBudget(
            max_attempts=self.endpoint.max_attempts,
            max_total_seconds=self.endpoint.max_retry_seconds,
        )

    # -- what each API maps differently --------------------------------------------------------

    @abc.abstractmethod
    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body for *request* (with ``"stream": true``)."""

    @abc.abstractmethod
    async def parse_stream(
        self, events: AsyncIterator[SSEEvent], attempt: Attempt
    ) -> ModelResponse:
        """Assemble a response from the event stream."""

    @abc.abstractmethod
    def parse_json(self, data: dict[str, Any]) -> ModelResponse:
        """Read a whole (non-streamed) response."""

    # -- the contract ------------------------------------------------------------------------------

    def worst_case_cost(self, request: ModelRequest) -> float | None:
        """The most this request can cost, or None when the price is unknown."""
        price = self.endpoint.price or self.table_price
        if price is None:
            return None
        tools = sum(len(json.dumps(t.parameters)) + len(t.description) for t in request.tools)
        prompt = estimate_tokens(request.messages) + tools // 4
        output = request.max_tokens or DEFAULT_WORST_CASE_OUTPUT
        return worst_case(price, prompt, output)

    @functools.cached_property
    def table_price(self) -> Price | None:
        """The model's list price from the packaged table, or None (read on first use)."""
        return price_for(self.name, self.model, None)

    async def complete(
        self, request: ModelRequest, *, stream: ModelStream | None = None
    ) -> ModelResponse:
        """Send *request* and return the assembled response.

        Args:
            request: The request.
            stream: Where text deltas, retries and breaker changes are reported (tau-core
                passes one to every call).

        Raises:
            ProviderError: Translated HTTP, transport and stream failures, after retrying
                those worth retrying within one budget.
        """
        body = self.build_body(request)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        estimate = len(payload) // 4 + (request.max_tokens or 0)
        budget = self.retry_budget()

        async def attempt(current: Attempt) -> ModelResponse:
            return await self._attempt(payload, estimate, current)

        with reporting(self.route, stream) as on_retry, breakers().get(self.route).guard():
            response = await with_retries(attempt, budget, on_retry=on_retry)
        # Every HTTP request the call made, retries included.
        return evolve(response, usage=evolve(response.usage, requests=budget.attempts))

    def emit(self, text: str, attempt: Attempt) -> None:
        """Pass a text delta on (``on_delta``, the call's stream) and mark the attempt as
        having streamed."""
        deliver(text, attempt, self.on_delta)

    def headers(self) -> dict[str, str]:
        """The request headers."""
        from . import __version__

        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": f"tau-provider/{__version__}",
        }
        if self.endpoint.api_key:
            headers["Authorization"] = f"Bearer {self.endpoint.api_key}"
        headers.update(self.endpoint.headers)
        return headers

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self.http_client is not None:
            yield self.http_client
            return
        timeout = httpx.Timeout(self.endpoint.read_timeout, connect=self.endpoint.connect_timeout)
        async with httpx.AsyncClient(timeout=timeout, verify=_ssl_context()) as client:
            yield client

    async def _attempt(self, payload: bytes, estimate: int, attempt: Attempt) -> ModelResponse:
        limiter = rate_limits().get(self.name)
        reserved = estimate if limiter.tokens is not None else 0
        await limiter.acquire(1, reserved)
        url = self.endpoint.base_url + self.path
        secrets = (self.endpoint.api_key,) if self.endpoint.api_key else ()
        try:
            async with (
                self._client() as client,
                client.stream("POST", url, content=payload, headers=self.headers()) as response,
            ):
                if response.status_code >= 400:
                    raise await atranslate_response(
                        self.name,
                        response,
                        self.endpoint.credential or self.name,
                        env_var=self.endpoint.env_var,
                        secrets=secrets,
                    )
                check_content_type(self.name, response, ("text/event-stream", "application/json"))
                media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                if media == "application/json":
                    raw = await response.aread()
                    result = self.parse_json(loads_event(self.name, raw.decode("utf-8", "replace")))
                else:
                    events = aiter_sse(response.aiter_bytes(), provider=self.name)
                    result = await self.parse_stream(events, attempt)
        except httpx.HTTPError as exc:
            raise translate_exception(self.name, exc) from exc
        if reserved:
            limiter.adjust(result.usage.total_tokens - reserved)
        return result

    # -- helpers for subclasses -----------------------------------------------------------------

    def usage(
        self, input_tokens: int, output_tokens: int, cached: int, raw: Mapping[str, Any] | None
    ) -> Usage:
        """Build :class:`Usage`; cost from the configured price, else a cost the provider
        reported (OpenRouter), else the price table, else unknown."""
        self.last_usage = dict(raw or {})
        cost: float | None = None
        if self.endpoint.price is not None and raw is not None:
            cost = self.endpoint.price.cost(input_tokens, output_tokens, cached)
        elif raw is not None and isinstance(raw.get("cost"), int | float):
            cost = float(raw["cost"])
        elif raw is not None and self.table_price is not None:
            cost = self.table_price.cost(input_tokens, output_tokens, cached)
        return Usage(input_tokens, output_tokens, cost, requests=1)

    def cut(self, what: str) -> StreamCutError:
        """The error for a stream that ended cleanly but too early."""
        return StreamCutError(
            f"{self.name} stream ended before {what}: the response is incomplete and was not "
            f"used; retry the request"
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


# -- Chat Completions ------------------------------------------------------------------------------


def chat_tools(tools: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """Tool specs as Chat Completions ``tools``."""
    out = []
    for spec in tools:
        function: dict[str, Any] = {"name": spec.name}
        if spec.description:
            function["description"] = spec.description
        function["parameters"] = dict(spec.parameters)
        out.append({"type": "function", "function": function})
    return out


def chat_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """Tau messages as Chat Completions ``messages``.

    Thinking parts are dropped (Chat Completions takes no reasoning back); each tool result
    becomes its own ``tool`` message.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        results = message.tool_results
        if message.role == "tool" or results:
            out.extend(
                {"role": "tool", "tool_call_id": r.call_id, "content": result_text(r)}
                for r in results
            )
            if message.role == "tool" or not message.text:
                continue
        if message.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant"}
            calls = message.tool_calls
            if message.text or not calls:
                entry["content"] = message.text
            if calls:
                entry["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": arguments_text(c)},
                    }
                    for c in calls
                ]
            out.append(entry)
        else:
            out.append({"role": message.role, "content": message.text})
    return out


class OpenAIChatProvider(OpenAIStyleProvider):
    """The Chat Completions API (``POST /chat/completions``), streamed.

    Parallel tool calls are assembled by their ``index``; usage comes from the final chunk
    (``stream_options.include_usage``); ``reasoning_content``/``reasoning`` deltas (DeepSeek,
    OpenRouter, vLLM) become a :class:`ThinkingPart`.

    .. versionadded:: 0.1
    """

    path = "/chat/completions"
    api = "chat"

    def build_body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(request.messages),
            "stream": True,
        }
        if self.endpoint.stream_usage:
            body["stream_options"] = {"include_usage": True}
        if request.tools:
            body["tools"] = chat_tools(request.tools)
        if request.max_tokens is not None:
            body[self.endpoint.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        response_format = request.metadata.get("response_format")
        if isinstance(response_format, Mapping):
            body["response_format"] = dict(response_format)
        body.update(self.endpoint.extra_body)
        return body

    async def parse_stream(
        self, events: AsyncIterator[SSEEvent], attempt: Attempt
    ) -> ModelResponse:
        text: list[str] = []
        reasoning: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        finish: str | None = None
        usage: dict[str, Any] | None = None
        model = ""
        done = False
        async for event in events:
            if done:
                continue
            if event.data.strip() == "[DONE]":
                done = True
                continue
            chunk = loads_event(self.name, event.data)
            if chunk.get("error"):
                raise stream_error(self.name, chunk["error"])
            model = chunk.get("model") or model
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if isinstance(content, str) and content:
                    text.append(content)
                    self.emit(content, attempt)
                thought = delta.get("reasoning_content") or delta.get("reasoning")
                if isinstance(thought, str):
                    reasoning.append(thought)
                for piece in delta.get("tool_calls") or []:
                    _add_call_delta(calls, piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if not done:
            raise self.cut("its [DONE] marker")
        return self._response(
            "".join(text),
            reasoning="".join(reasoning),
            calls=calls,
            finish=finish,
            usage=usage,
            model=model,
        )

    def parse_json(self, data: dict[str, Any]) -> ModelResponse:
        if data.get("error") and not data.get("choices"):
            raise stream_error(self.name, data["error"], during="in its response")
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise self.cut("any choice arrived")
        choice = choices[0]
        message = choice.get("message") or {}
        calls: dict[int, dict[str, Any]] = {}
        for i, call in enumerate(message.get("tool_calls") or []):
            _add_call_delta(calls, {**call, "index": i})
        thought = message.get("reasoning_content") or message.get("reasoning") or ""
        return self._response(
            message.get("content") or "",
            reasoning=thought if isinstance(thought, str) else "",
            calls=calls,
            finish=choice.get("finish_reason"),
            usage=data.get("usage") if isinstance(data.get("usage"), dict) else None,
            model=data.get("model") or "",
        )

    def _response(
        self,
        text: str,
        *,
        reasoning: str,
        calls: Mapping[int, Mapping[str, Any]],
        finish: str | None,
        usage: Mapping[str, Any] | None,
        model: str,
    ) -> ModelResponse:
        parts: list[Part] = []
        if reasoning:
            parts.append(ThinkingPart(reasoning))
        if text:
            parts.append(TextPart(text))
        for index in sorted(calls):
            slot = calls[index]
            parts.append(
                ToolCall(
                    slot["id"] or f"call_{index}",
                    slot["name"],
                    parse_arguments("".join(slot["arguments"])),
                )
            )
        raw = usage or {}
        details = raw.get("prompt_tokens_details") or {}
        result_usage = self.usage(
            _int(raw.get("prompt_tokens")),
            _int(raw.get("completion_tokens")),
            _int(details.get("cached_tokens")) if isinstance(details, dict) else 0,
            usage,
        )
        stop = finish or ("tool_calls" if calls else "stop")
        return ModelResponse(
            Message("assistant", tuple(parts)), result_usage, stop, model or self.model, self.name
        )


def _add_call_delta(calls: dict[int, dict[str, Any]], piece: Any) -> None:
    if not isinstance(piece, dict):
        return
    index = piece.get("index")
    if not isinstance(index, int):
        # No index (some compatible servers): continue the call with this id, or start one.
        same = [i for i, s in calls.items() if piece.get("id") and s["id"] == piece.get("id")]
        index = same[0] if same else (max(calls) + 1 if calls else 0)
    slot = calls.setdefault(index, {"id": "", "name": "", "arguments": []})
    if piece.get("id") and not slot["id"]:
        slot["id"] = str(piece["id"])
    function = piece.get("function") or {}
    if function.get("name") and not slot["name"]:
        slot["name"] = str(function["name"])
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        slot["arguments"].append(arguments)
    elif isinstance(arguments, dict):  # a server that sends the object itself
        slot["arguments"].append(json.dumps(arguments))


# -- factory ---------------------------------------------------------------------------------------


def openai_factory(model: str, config: Any = None) -> OpenAIStyleProvider:
    """The ``openai`` provider: Chat Completions, or the Responses API per model or option.

    Options (``[providers.openai]``, overridable per model under ``models."MODEL"``):
    ``api = "chat" | "responses"`` (default ``chat``, ``responses`` for models only it serves),
    ``api_key``, ``base_url``, ``organization``, ``project``, ``price = {input, output,
    cached_input}`` (USD per million tokens; default: the packaged price table),
    ``read_timeout``, ``connect_timeout``, ``max_attempts``, ``max_retry_seconds``,
    ``extra_body``, ``headers``, ``strict``
    (Responses tools).

    Raises:
        CredentialError: No key in the options, ``OPENAI_API_KEY`` or the credential store.
        ConfigError: An option is invalid.
    """
    if not model:
        raise UsageError("the openai provider needs a model name, e.g. --model openai:gpt-4.1")
    options = model_options(provider_options(config, "openai"), model)
    headers: dict[str, str] = {}
    organization = options.get("organization") or os.environ.get("OPENAI_ORG_ID")
    project = options.get("project") or os.environ.get("OPENAI_PROJECT_ID")
    if organization:
        headers["OpenAI-Organization"] = str(organization)
    if project:
        headers["OpenAI-Project"] = str(project)
    endpoint = build_endpoint(
        "openai",
        options,
        config=config,
        credential=str(options.get("credential", "openai")),
        env_key="OPENAI_API_KEY",
        env_base="OPENAI_BASE_URL",
        default_base=OPENAI_BASE_URL,
        headers=headers,
    )
    default_api = "responses" if model.startswith(RESPONSES_ONLY_PREFIXES) else "chat"
    return make_provider("openai", model, endpoint, options.get("api", default_api), options)


def make_provider(
    name: str, model: str, endpoint: Endpoint, api: Any, options: Mapping[str, Any]
) -> OpenAIStyleProvider:
    """A Chat or Responses provider for *endpoint*, as the ``api`` option says."""
    if api == "chat":
        return OpenAIChatProvider(model, endpoint)
    if api == "responses":
        from ._openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider(model, endpoint, strict=bool(options.get("strict", False)))
    raise ConfigError(f'must be "chat" or "responses", got {api!r}', key=f"providers.{name}.api")
