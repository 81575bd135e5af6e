"""The Anthropic provider against a real loopback HTTP server speaking the Messages API.

The server plays scripted replies (SSE streams, JSON, error pages, cut connections, slow first
bytes) and counts every request, so each test can prove how many calls reached the wire.
The official ``anthropic`` SDK (a test dependency only) is the reference: it sends its request
to the same server for a field-by-field comparison, and its types parse the fixtures.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anthropic
import pytest

from tau_core import Agent, Authority
from tau_core._config import Config
from tau_core._messages import (
    Message,
    ModelRequest,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from tau_core.errors import (
    ConfigError,
    CredentialError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderHTTPError,
)
from tau_core.testing import FileEquals, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._anthropic import AnthropicProvider, anthropic_factory
from tau_provider._breaker import CircuitOpenError, breakers
from tau_provider._errors import StreamCutError
from tau_provider._ratelimit import rate_limits
from tau_provider._retry import RetryBudget

FIXTURES = Path(__file__).parent / "fixtures" / "anthropic"
TOOL_STREAM = (FIXTURES / "stream_tool_use.sse").read_bytes()
TEXT_STREAM = (FIXTURES / "stream_text.sse").read_bytes()
TOOL_MESSAGE = (FIXTURES / "message_tool_use.json").read_bytes()
KEY = "sk-ant-api03-loopbacktestkey0123456789"
MODEL = "claude-sonnet-4-6"


# -- a loopback server ------------------------------------------------------------------------


def _load_server() -> ModuleType:
    name = "tau_provider_tests_scripted_server"
    if name not in sys.modules:
        path = Path(__file__).parent / "fixtures" / "scripted_server.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_server = _load_server()


def Reply(body: bytes | list[bytes] = TEXT_STREAM, **kwargs: Any) -> Any:
    """A scripted answer whose body defaults to this provider's text stream."""
    return _server.Reply(body, **kwargs)


class Loopback(_server.Loopback):  # type: ignore[misc, name-defined]
    """The shared loopback server, answering this provider's text stream by default."""

    def __init__(self, *replies: Any) -> None:
        super().__init__(*replies, default=Reply())


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    breakers().clear()
    rate_limits().clear()
    yield
    breakers().clear()
    rate_limits().clear()


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def provider(server: Loopback, sleeps: Sleeps | None = None, **options: Any) -> AnthropicProvider:
    sleeps = sleeps if sleeps is not None else Sleeps()
    attempts = options.pop("max_attempts", 4)
    return anthropic_factory(
        MODEL,
        api_key=KEY,
        base_url=server.url,
        retry_budget=lambda: RetryBudget(max_attempts=attempts, sleep=sleeps),
        **options,
    )


TOOLS = (
    ToolSpec(
        "write_file",
        "Write text to a file, replacing it.",
        {
            "type": "object",
            "required": ["path", "content"],
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        },
    ),
    ToolSpec(
        "read_file",
        "Read a text file.",
        {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
    ),
)


def conversation() -> tuple[Message, ...]:
    return (
        Message.system("You are a careful coding agent."),
        Message.user("Write greeting.txt containing Hello, Tau"),
        Message(
            "assistant",
            (
                ThinkingPart("The user wants a file.", "EqQBCgIYAhIMsig"),
                ThinkingPart("", "redacted_thinking:EmwKAhgBEgy3va3pzix"),
                TextPart("Writing it now."),
                ToolCall("toolu_01", "write_file", {"path": "greeting.txt", "content": "Hi"}),
                ToolCall("toolu_02", "read_file", {"path": "greeting.txt"}),
            ),
        ),
        Message(
            "tool",
            (
                ToolResult("toolu_01", "write_file", "wrote 2 characters"),
                ToolResult.failure(ToolCall("toolu_02", "read_file", {}), "not_found", "no file"),
            ),
        ),
        Message.user("The verifier says the content is wrong; fix it."),
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# -- the happy paths --------------------------------------------------------------------------


def test_streamed_thinking_text_and_tool_call_are_assembled_with_cache_usage() -> None:
    deltas: list[str] = []
    with Loopback(Reply(TOOL_STREAM)) as server:
        p = provider(server)
        p.on_delta = deltas.append
        response = run(p.complete(ModelRequest(MODEL, conversation()[:2], TOOLS)))

    assert response.message.parts == (
        ThinkingPart(
            "The user wants greeting.txt. I should call write_file.",
            "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds",
        ),
        TextPart("I'll write the file."),
        ToolCall(
            "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "write_file",
            {"path": "greeting.txt", "content": "Hello, Tau"},
        ),
    )
    assert deltas == ["I'll write ", "the file."]
    assert response.stop_reason == "tool_use"
    assert response.provider == "anthropic"
    assert response.model == "claude-sonnet-4-5-20250929"
    # Prompt tokens include the cache writes and reads; the raw counters stay available.
    assert response.usage.input_tokens == 472 + 1024 + 2048
    assert response.usage.output_tokens == 89
    assert response.usage.cost is None  # no price is known to this provider: never "free"
    assert p.last_usage["cache_read_input_tokens"] == 2048
    [sent] = server.requests
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["body"]["stream"] is True


def test_non_streaming_message_with_redacted_thinking() -> None:
    with Loopback(Reply(TOOL_MESSAGE, content_type="application/json")) as server:
        response = run(
            provider(server, stream=False).complete(ModelRequest(MODEL, conversation()[:2]))
        )
    assert "stream" not in server.requests[0]["body"]
    thinking, redacted, text, call = response.message.parts
    assert thinking == ThinkingPart("A tool call is needed.", "EqQBCgIYAhIMsig")
    assert redacted == ThinkingPart(
        "", "redacted_thinking:EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"
    )
    assert text == TextPart("Let me check the weather.")
    assert call == ToolCall(
        "toolu_01A09q90qw90lq917835lq9",
        "get_weather",
        {"location": "San Francisco, CA", "unit": "celsius"},
    )
    assert response.usage.input_tokens == 2095 + 1800


def test_thinking_blocks_go_back_unchanged_and_tool_results_ride_in_a_user_message() -> None:
    with Loopback() as server:
        run(provider(server, thinking=2048).complete(ModelRequest(MODEL, conversation(), TOOLS)))
    body = server.requests[0]["body"]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["system"] == "You are a careful coding agent."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assistant, results = body["messages"][1]["content"], body["messages"][2]["content"]
    assert assistant[0] == {
        "type": "thinking",
        "thinking": "The user wants a file.",
        "signature": "EqQBCgIYAhIMsig",
    }
    assert assistant[1] == {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    assert [b["type"] for b in results] == ["tool_result", "tool_result", "text"]
    assert results[1]["is_error"] is True and "is_error" not in results[0]


def test_cache_system_marks_the_system_block_and_the_last_tool() -> None:
    with Loopback() as server:
        run(
            provider(server, cache_system=True).complete(ModelRequest(MODEL, conversation(), TOOLS))
        )
    body = server.requests[0]["body"]
    assert body["system"] == [
        {
            "type": "text",
            "text": "You are a careful coding agent.",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert "cache_control" not in body["tools"][0]
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}


# -- differential checks against the official SDK ---------------------------------------------

SDK_DIFFERENT_HEADERS = {
    # The SDK identifies itself and its platform, and asks for a client-side timeout; Tau
    # sends none of these. Every other header is compared.
    "user-agent",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-os",
    "x-stainless-arch",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-async",
    "x-stainless-retry-count",
    "x-stainless-read-timeout",
    "x-stainless-timeout",
    "x-stainless-helper-method",
    "x-stainless-stream-helper",
    "accept-encoding",
    # This SDK release (2.x) pins a newer API version and sends the key as a bearer token;
    # Tau speaks the documented 2023-06-01 version with x-api-key. Both carry the same key.
    "anthropic-version",
    "authorization",
    "x-api-key",
    "accept",
    "content-length",
    "connection",
    "host",
}


def sdk_request(client: Any, *, cache: bool) -> Any:
    """The same conversation, written the way the SDK's documentation shows."""
    system: Any = "You are a careful coding agent."
    if cache:
        system = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}]
    tools: list[Any] = [
        {
            "name": "write_file",
            "description": "Write text to a file, replacing it.",
            "input_schema": {
                "type": "object",
                "required": ["path", "content"],
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            },
        },
        {
            "name": "read_file",
            "description": "Read a text file.",
            "input_schema": {
                "type": "object",
                "required": ["path"],
                "properties": {"path": {"type": "string"}},
            },
        },
    ]
    if cache:
        tools[-1]["cache_control"] = {"type": "ephemeral"}
    return client.messages.create(
        model=MODEL,
        max_tokens=1024,
        system=system,
        tools=tools,
        thinking={"type": "enabled", "budget_tokens": 2048},
        stream=True,
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "Write greeting.txt containing Hello, Tau"}],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "thinking",
                        "thinking": "The user wants a file.",
                        "signature": "EqQBCgIYAhIMsig",
                    },
                    {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                    {"type": "text", "text": "Writing it now."},
                    {
                        "type": "tool_use",
                        "id": "toolu_01",
                        "name": "write_file",
                        "input": {"path": "greeting.txt", "content": "Hi"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_02",
                        "name": "read_file",
                        "input": {"path": "greeting.txt"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_01",
                        "content": "wrote 2 characters",
                    },
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_02",
                        "content": "error [not_found]: no file",
                        "is_error": True,
                    },
                    {"type": "text", "text": "The verifier says the content is wrong; fix it."},
                ],
            },
        ],
    )


@pytest.mark.parametrize("cache", [False, True])
def test_request_matches_the_official_sdk_field_for_field(cache: bool) -> None:
    async def both(url: str) -> None:
        client = anthropic.AsyncAnthropic(api_key=KEY, base_url=url, max_retries=0)
        async with client:
            stream = await sdk_request(client, cache=cache)
            async for _ in stream:
                pass
        tau = provider(server, thinking=2048, cache_system=cache)
        await tau.complete(ModelRequest(MODEL, conversation(), TOOLS, max_tokens=1024))

    with Loopback() as server:
        run(both(server.url))
    sdk, tau = server.requests
    assert tau["path"] == sdk["path"] == "/v1/messages"
    assert tau["body"] == sdk["body"]  # no body field differs

    def keep(headers: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k not in SDK_DIFFERENT_HEADERS}

    assert keep(tau["headers"]) == keep(sdk["headers"])
    assert tau["headers"]["x-api-key"] == KEY
    assert sdk["headers"].get("x-api-key", sdk["headers"].get("authorization", "")).endswith(KEY)
    assert tau["headers"]["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("fixture", ["stream_tool_use.sse", "stream_text.sse"])
def test_stream_fixtures_parse_with_the_sdk_and_assemble_to_the_same_message(fixture: str) -> None:
    from anthropic.types import RawMessageStreamEvent
    from pydantic import TypeAdapter

    raw = (FIXTURES / fixture).read_bytes()
    adapter: Any = TypeAdapter(RawMessageStreamEvent)
    for block in raw.decode().split("\n\n"):
        data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
        if data and json.loads(data[0])["type"] != "ping":
            adapter.validate_json(data[0])

    async def both(url: str) -> tuple[Any, Any]:
        client = anthropic.AsyncAnthropic(api_key=KEY, base_url=url, max_retries=0)
        async with (
            client,
            client.messages.stream(
                model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
            ) as stream,
        ):
            final = await stream.get_final_message()
        ours = await provider(server).complete(ModelRequest(MODEL, (Message.user("hi"),)))
        return final, ours

    with Loopback(Reply(raw)) as server:
        final, ours = run(both(server.url))
    expected: list[Any] = []
    for block in final.content:
        if block.type == "thinking":
            expected.append(ThinkingPart(block.thinking, block.signature))
        elif block.type == "text":
            expected.append(TextPart(block.text))
        elif block.type == "tool_use":
            expected.append(ToolCall(block.id, block.name, block.input))
    assert list(ours.message.parts) == expected
    assert ours.usage.output_tokens == final.usage.output_tokens


def test_json_fixture_parses_with_the_sdk_message_type() -> None:
    message = anthropic.types.Message.model_validate_json(TOOL_MESSAGE)
    assert [b.type for b in message.content] == [
        "thinking",
        "redacted_thinking",
        "text",
        "tool_use",
    ]


# -- failures real servers produce ------------------------------------------------------------

OVERLOADED = json.dumps(
    {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
).encode()


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_server_errors_are_retried_once_each_and_then_succeed(status: int) -> None:
    sleeps = Sleeps()
    with Loopback(
        Reply(OVERLOADED, status=status, content_type="application/json"), Reply()
    ) as server:
        response = run(provider(server, sleeps).complete(ModelRequest(MODEL, conversation())))
    assert response.message.text == "Done: greeting.txt holds Hello, Tau."
    assert len(server.requests) == 2 and len(sleeps) == 1
    assert response.usage.requests == 2, "usage counts every HTTP request, retries included"


def test_429_retry_after_is_honoured_and_one_budget_caps_all_attempts() -> None:
    sleeps = Sleeps()
    limited = Reply(
        json.dumps(
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
        ).encode(),
        status=429,
        content_type="application/json",
        headers={"retry-after": "7"},
    )
    with Loopback(limited) as server, pytest.raises(ProviderHTTPError) as info:
        run(provider(server, sleeps, max_attempts=3).complete(ModelRequest(MODEL, conversation())))
    assert info.value.status == 429 and info.value.retry_after == 7.0
    assert "slow down" in str(info.value)
    assert sleeps == [7.0, 7.0]
    assert len(server.requests) == 3  # max_attempts, never more


def test_401_names_the_credential_and_is_not_retried() -> None:
    body = json.dumps(
        {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
    ).encode()
    with (
        Loopback(Reply(body, status=401, content_type="application/json")) as server,
        pytest.raises(ProviderAuthenticationError) as info,
    ):
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    message = str(info.value)
    assert "tau keys set anthropic" in message and "ANTHROPIC_API_KEY" in message
    assert KEY not in message
    assert len(server.requests) == 1


def test_stream_cut_mid_event_is_an_error_and_is_retried() -> None:
    cut = TOOL_STREAM[: TOOL_STREAM.index(b"partial_json") + 20]
    with Loopback(Reply(cut), Reply(TOOL_STREAM)) as server:
        response = run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert response.stop_reason == "tool_use"
    assert len(server.requests) == 2

    with Loopback(Reply(cut)) as server, pytest.raises(StreamCutError):
        run(provider(server, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 2


def test_stream_ending_between_events_before_message_stop_is_cut() -> None:
    whole_events = TEXT_STREAM[: TEXT_STREAM.index(b"event: message_delta")]
    with (
        Loopback(Reply(whole_events)) as server,
        pytest.raises(StreamCutError, match="before message_stop"),
    ):
        run(provider(server, max_attempts=1).complete(ModelRequest(MODEL, conversation())))


def test_a_failure_after_text_reached_the_caller_is_not_retried_nor_duplicated() -> None:
    cut = TEXT_STREAM[: TEXT_STREAM.index(b"holds Hello") - 5]
    deltas: list[str] = []
    with Loopback(Reply(cut), Reply()) as server:
        p = provider(server)
        p.on_delta = deltas.append
        with pytest.raises(StreamCutError) as info:
            run(p.complete(ModelRequest(MODEL, conversation())))
    assert deltas == ["Done: greeting.txt "]
    assert len(server.requests) == 1
    assert getattr(info.value, "output_started", False)


def test_error_event_mid_stream_is_translated_and_overloaded_is_retried() -> None:
    head = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_start")]
    overloaded = head + sse(json.loads(OVERLOADED))
    with Loopback(Reply(overloaded), Reply()) as server:
        response = run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert response.message.text.startswith("Done")
    assert len(server.requests) == 2

    invalid = head + sse(
        {"type": "error", "error": {"type": "invalid_request_error", "message": "bad thing"}}
    )
    with (
        Loopback(Reply(invalid)) as server,
        pytest.raises(ProviderHTTPError, match="invalid_request_error: bad thing") as info,
    ):
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert info.value.status == 400 and not info.value.retryable
    assert len(server.requests) == 1


def test_malformed_json_in_an_event_is_a_clear_error() -> None:
    broken = TEXT_STREAM.replace(b'"text_delta","text":"Done', b'"text_delta",text:"Done')
    with (
        Loopback(Reply(broken)) as server,
        pytest.raises(ProviderError, match="not valid JSON"),
    ):
        run(provider(server, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 2


def test_html_error_page_and_wrong_content_type() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with (
        Loopback(Reply(page, status=502, content_type="text/html")) as server,
        pytest.raises(ProviderHTTPError, match="HTML page") as info,
    ):
        run(provider(server, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert "502 Bad Gateway" in str(info.value) and len(server.requests) == 2

    portal = b"<!doctype html><title>Sign in to the Wi-Fi</title>"
    with (
        Loopback(Reply(portal, content_type="text/html")) as server,
        pytest.raises(ProviderHTTPError, match="HTML page") as info,
    ):
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert not info.value.retryable and len(server.requests) == 1

    with (
        Loopback(Reply(TOOL_MESSAGE, content_type="application/json")) as server,
        pytest.raises(ProviderHTTPError, match="expected text/event-stream"),
    ):
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 1


def test_slow_first_byte_times_out_and_the_retry_answers() -> None:
    with Loopback(Reply(delay=2.0), Reply()) as server:
        response = run(provider(server, timeout=0.3).complete(ModelRequest(MODEL, conversation())))
    assert response.message.text.startswith("Done")
    assert len(server.requests) == 2


def test_breaker_opens_after_repeated_failed_calls_and_stops_sending() -> None:
    with Loopback(Reply(OVERLOADED, status=529, content_type="application/json")) as server:
        p = provider(server, max_attempts=1)
        for _ in range(5):
            with pytest.raises(ProviderHTTPError):
                run(p.complete(ModelRequest(MODEL, conversation())))
        with pytest.raises(CircuitOpenError):
            run(p.complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 5


# -- credentials, base URL, options -----------------------------------------------------------


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with Loopback() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-000000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url + "/")
        run(anthropic_factory(MODEL).complete(ModelRequest(MODEL, conversation())))
    assert server.requests[0]["headers"]["x-api-key"] == "sk-ant-from-env-000000"


def test_key_comes_from_the_credential_store_then_is_missing(
    tau_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAU_PASSPHRASE", "correct horse battery staple")
    with pytest.raises(CredentialError) as info:
        run(anthropic_factory(MODEL).complete(ModelRequest(MODEL, conversation())))
    assert "tau keys set anthropic" in str(info.value)
    assert "ANTHROPIC_API_KEY" in str(info.value)

    from tau_core._credentials import CredentialStore

    CredentialStore.open().set("anthropic", "sk-ant-from-store-0000")
    with Loopback() as server:
        run(
            anthropic_factory(MODEL, base_url=server.url).complete(
                ModelRequest(MODEL, conversation())
            )
        )
    assert server.requests[0]["headers"]["x-api-key"] == "sk-ant-from-store-0000"


def test_config_table_supplies_options_and_typos_are_refused() -> None:
    config = Config({"providers.anthropic.max_tokens": 77, "providers.anthropic.api_key": KEY})
    with Loopback() as server:
        p = anthropic_factory(MODEL, config=config, base_url=server.url)
        run(p.complete(ModelRequest(MODEL, conversation())))
    assert server.requests[0]["body"]["max_tokens"] == 77
    with pytest.raises(ConfigError, match="cache_sytem"):
        anthropic_factory(MODEL, cache_sytem=True)


# -- a real agent run -------------------------------------------------------------------------


def test_agent_run_through_the_registered_factory_ends_verified(
    tau_home: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    sleeps = Sleeps()
    with Loopback(Reply(TOOL_STREAM), Reply(TEXT_STREAM)) as server:

        def factory(model: str, config: Any = None) -> AnthropicProvider:
            return anthropic_factory(
                model,
                config=config,
                api_key=KEY,
                base_url=server.url,
                retry_budget=lambda: RetryBudget(sleep=sleeps),
            )

        manager = fresh_plugin_manager(
            make_plugin(providers={"anthropic": factory}, tools=[WriteFile()])
        )
        outcome = Agent(
            f"anthropic:{MODEL}",
            plugins=manager,
            authority=Authority.from_preset("workspace-write"),
            verifier=FileEquals("greeting.txt", "Hello, Tau"),
        ).run("Write greeting.txt containing exactly Hello, Tau", workdir=workdir)

    assert outcome.status == "verified", outcome
    assert (workdir / "greeting.txt").read_text(encoding="utf-8") == "Hello, Tau"
    assert len(server.requests) == 2
    second = server.requests[1]["body"]["messages"]
    # The thinking block went back unchanged, and the result answered the model's call id.
    assert second[1]["content"][0]["signature"].startswith("EqQBCgIYAhIM1gbc")
    assert second[2]["content"][0]["tool_use_id"] == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
