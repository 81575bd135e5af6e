"""OpenAI Chat Completions against a real loopback server speaking the documented wire format.

Differential checks use the official ``openai`` SDK (a test dependency only): it sends the same
conversation to the same server, and its response types parse our fixtures.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest

from tau_core import Agent, Authority
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
    ProviderRateLimitError,
    UsageError,
)
from tau_core.testing import ScriptedVerifier, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._breaker import CircuitOpenError, breakers
from tau_provider._errors import StreamCutError
from tau_provider._openai import (
    INVALID_ARGUMENTS_KEY,
    OpenAIChatProvider,
    Price,
    openai_factory,
)
from tau_provider._retry import RetryBudget

lb = sys.modules["tau_provider_tests_openai_loopback"]  # loaded by conftest.py
GREETING_ARGS = '{"path": "greeting.txt", "content": "Hello, Tau"}'
KEY = "sk-test-0123456789abcdefghij"

READ = ToolSpec(
    "read_file",
    "Read a UTF-8 text file.",
    {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
)
WRITE = ToolSpec(
    "write_file",
    "Write a file atomically.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
CONVERSATION = (
    Message.system("You are Tau's coding agent."),
    Message.user("Write greeting.txt."),
    Message(
        "assistant",
        (
            ThinkingPart("private chain of thought", signature="sig"),
            TextPart("Reading first."),
            ToolCall("call_1", "read_file", {"path": "notes/a.txt"}),
            ToolCall("call_2", "read_file", {"path": "notes/b.txt"}),
        ),
    ),
    Message(
        "tool",
        (
            ToolResult("call_1", "read_file", "alpha"),
            ToolResult("call_2", "read_file", {"lines": 2}),
        ),
    ),
    Message("assistant", (ToolCall("call_3", "write_file", {"path": "g.txt", "content": "hi"}),)),
    Message("tool", (ToolResult.failure(ToolCall("call_3", "write_file"), "denied", "no grant"),)),
    Message.user("Try again."),
)
# The same conversation written by hand in the shape the API reference documents.
SDK_MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are Tau's coding agent."},
    {"role": "user", "content": "Write greeting.txt."},
    {
        "role": "assistant",
        "content": "Reading first.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "read_file", "arguments": '{"path": "notes/a.txt"}'},
            },
            {
                "id": "call_2",
                "type": "function",
                "function": {"name": "read_file", "arguments": '{"path": "notes/b.txt"}'},
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "alpha"},
    {"role": "tool", "tool_call_id": "call_2", "content": '{"lines": 2}'},
    {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_3",
                "type": "function",
                "function": {
                    "name": "write_file",
                    "arguments": '{"path": "g.txt", "content": "hi"}',
                },
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_3", "content": "error [denied]: no grant"},
    {"role": "user", "content": "Try again."},
]
SDK_TOOLS = [
    {
        "type": "function",
        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
    }
    for t in (READ, WRITE)
]


class Sleeps:
    """An injected retry sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def provider(
    server: Any, *, attempts: int = 4, sleeps: Sleeps | None = None, **options: Any
) -> OpenAIChatProvider:
    config = {"providers.openai": {"base_url": server.url, "api_key": KEY, **options}}
    p = openai_factory(options.pop("model", "gpt-4.1"), config=config)
    assert isinstance(p, OpenAIChatProvider)
    sleep = sleeps or Sleeps()
    p.retry_budget = lambda: RetryBudget(max_attempts=attempts, sleep=sleep)
    return p


def request(**kwargs: Any) -> ModelRequest:
    defaults: dict[str, Any] = {
        "model": "gpt-4.1",
        "messages": CONVERSATION,
        "tools": (READ, WRITE),
        "max_tokens": 256,
        "temperature": 0.2,
    }
    return ModelRequest(**{**defaults, **kwargs})


def complete(p: OpenAIChatProvider, req: ModelRequest | None = None) -> Any:
    return asyncio.run(p.complete(req or request()))


# -- differential checks against the official SDK ---------------------------------------------


def test_request_body_matches_the_official_sdk_field_for_field(server):
    openai = pytest.importorskip("openai")
    server.queue(lb.sse_reply("chat_tools.sse"), lb.sse_reply("chat_tools.sse"))

    complete(provider(server))

    async def sdk() -> None:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        stream = await client.chat.completions.create(
            model="gpt-4.1",
            messages=SDK_MESSAGES,
            tools=SDK_TOOLS,
            stream=True,
            stream_options={"include_usage": True},
            max_completion_tokens=256,
            temperature=0.2,
        )
        async for _ in stream:
            pass
        await client.close()

    asyncio.run(sdk())
    ours, theirs = server.seen
    assert ours.path == theirs.path == "/v1/chat/completions"
    # No body field differs; nothing had to be removed before comparing.
    assert ours.body == theirs.body
    # Headers: same credential and body type. Legitimately different: user-agent,
    # accept (we ask for text/event-stream), and the SDK's x-stainless-* telemetry.
    for header in ("authorization", "content-type"):
        assert ours.headers[header] == theirs.headers[header]
    assert ours.headers["accept"] == "text/event-stream"


def test_fixtures_parse_with_the_sdk_types_and_assemble_like_the_sdk(server):
    openai = pytest.importorskip("openai")
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    for name in ("chat_tools.sse", "chat_text.sse"):
        for line in lb.fixture(name).decode().splitlines():
            if line.startswith("data: {"):
                ChatCompletionChunk.model_validate_json(line[6:])
    ChatCompletion.model_validate_json(lb.fixture("chat_completion.json"))

    server.queue(lb.sse_reply("chat_tools.sse"), lb.sse_reply("chat_tools.sse"))
    ours = complete(provider(server))

    async def sdk() -> Any:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        async with client.chat.completions.stream(
            model="gpt-4.1", messages=SDK_MESSAGES, tools=SDK_TOOLS
        ) as stream:
            final = await stream.get_final_completion()
        await client.close()
        return final

    theirs = asyncio.run(sdk())
    message = theirs.choices[0].message
    assert [(c.id, c.name, c.arguments) for c in ours.message.tool_calls] == [
        (c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls
    ]
    assert ours.stop_reason == theirs.choices[0].finish_reason == "tool_calls"
    assert ours.usage.input_tokens == theirs.usage.prompt_tokens == 120
    assert ours.usage.output_tokens == theirs.usage.completion_tokens == 40


# -- the wire format ------------------------------------------------------------------------


def test_parallel_tool_calls_are_assembled_from_argument_deltas_by_index(server):
    server.queue(lb.sse_reply("chat_tools.sse", chunk_size=7))
    p = provider(server)

    response = complete(p)

    assert response.message.tool_calls == (
        ToolCall("call_read_1", "read_file", {"path": "notes/a.txt"}),
        ToolCall("call_write_2", "write_file", {"path": "greeting.txt", "content": "Hello, Tau"}),
    )
    assert response.stop_reason == "tool_calls"
    assert response.provider == "openai" and response.model == "gpt-4.1-2025-04-14"
    assert response.usage.input_tokens == 120 and response.usage.output_tokens == 40
    assert response.usage.cost == pytest.approx(
        (56 * 2.0 + 64 * 0.5 + 40 * 8.0) / 1e6
    )  # table price
    assert p.last_usage["completion_tokens_details"]["reasoning_tokens"] == 16
    body = server.bodies[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 256 and "max_tokens" not in body
    assert server.seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_text_deltas_reach_on_delta_and_cost_follows_the_configured_price(server):
    server.queue(lb.sse_reply("chat_text.sse", chunk_size=5))
    p = provider(server, price={"input": 2.0, "output": 8.0})
    deltas: list[str] = []
    p.on_delta = deltas.append

    response = complete(p)

    assert response.message.text == "Hello, Tau! The file is written — ✓."
    assert "".join(deltas) == response.message.text and len(deltas) > 1
    assert response.stop_reason == "stop"
    assert response.usage.cost == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    worst = p.worst_case_cost(request(max_tokens=1000))
    assert worst is not None and worst >= 1000 * 8.0 / 1e6
    assert provider(server, model="my-finetune").worst_case_cost(request()) is None  # unknown


def test_a_plain_json_answer_is_read_too(server):
    server.queue(lb.Reply(body=lb.fixture("chat_completion.json"), content_type="application/json"))

    response = complete(provider(server))

    assert response.message.text == "Reading both files."
    assert [c.arguments["path"] for c in response.message.tool_calls] == [
        "notes/a.txt",
        "notes/b.txt",
    ]
    assert response.stop_reason == "tool_calls"


def test_arguments_that_are_not_json_are_kept_verbatim_and_sent_back_verbatim(server):
    bad = '{"path": "a.txt", '
    events = lb.sse_events(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "c1",
                                "function": {"name": "read_file", "arguments": bad},
                            }
                        ]
                    },
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    server.queue(lb.sse_reply(events), lb.sse_reply("chat_text.sse"))
    p = provider(server)
    [call] = complete(p).message.tool_calls
    assert call.arguments == {INVALID_ARGUMENTS_KEY: bad}

    complete(p, request(messages=(Message.user("x"), Message.assistant("", (call,)))))
    sent = server.bodies[1]["messages"][1]["tool_calls"][0]["function"]["arguments"]
    assert sent == bad


def test_a_json_schema_response_format_passes_through(server):
    server.queue(lb.sse_reply("chat_text.sse"))
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    complete(provider(server), request(metadata={"response_format": schema}))
    assert server.bodies[0]["response_format"] == schema


# -- failures real providers produce ------------------------------------------------------------


def test_429_honours_retry_after_and_retries_once(server):
    server.queue(
        lb.json_reply(
            {"error": {"message": "Rate limit reached", "type": "requests", "code": None}},
            status=429,
            headers={"Retry-After": "7"},
        ),
        lb.sse_reply("chat_text.sse"),
    )
    sleeps = Sleeps()

    response = complete(provider(server, sleeps=sleeps))

    assert response.message.text.startswith("Hello")
    assert server.count == 2
    assert sleeps.waits == [7.0]


@pytest.mark.parametrize("status", [500, 502, 503, 529])
def test_server_errors_are_retried_within_one_budget(server, status):
    server.queue(lb.json_reply({"error": {"message": "boom"}}, status=status))
    server.queue(lb.sse_reply("chat_text.sse"))

    complete(provider(server))

    assert server.count == 2


def test_the_budget_caps_attempts_and_a_429_that_outlasts_it_ends_the_call(server):
    for _ in range(10):
        server.queue(lb.json_reply({"error": {"message": "overloaded"}}, status=503))
    with pytest.raises(ProviderHTTPError) as caught:
        complete(provider(server, attempts=3))
    assert caught.value.status == 503 and caught.value.retryable
    assert server.count == 3, "one budget: exactly max_attempts requests, never more"

    server.replies.clear()
    server.queue(
        lb.json_reply(
            {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "3600"}
        )
    )
    with pytest.raises(ProviderRateLimitError):
        complete(provider(server))
    assert server.count == 4, "a Retry-After longer than the budget is not waited for"


def test_a_stream_cut_mid_event_is_retried_when_nothing_reached_the_caller(server):
    body = lb.fixture("chat_text.sse")
    server.queue(lb.sse_reply(body, cut_after=body.index(b"Tau") + 2), lb.sse_reply(body))

    response = complete(provider(server))

    assert response.message.text == "Hello, Tau! The file is written — ✓."
    assert server.count == 2


def test_a_cut_after_output_reached_the_caller_is_not_retried_so_nothing_duplicates(server):
    body = lb.fixture("chat_text.sse")
    server.queue(lb.sse_reply(body, cut_after=body.index(b"Tau") + 2), lb.sse_reply(body))
    p = provider(server)
    deltas: list[str] = []
    p.on_delta = deltas.append

    with pytest.raises(StreamCutError) as caught:
        complete(p)

    assert server.count == 1
    assert "".join(deltas) == "Hello, "
    assert getattr(caught.value, "output_started", False)


def test_a_stream_that_ends_without_done_is_an_error_not_a_partial_answer(server):
    body = lb.fixture("chat_text.sse").replace(b"data: [DONE]\n\n", b"")
    server.queue(lb.sse_reply(body))
    with pytest.raises(StreamCutError, match=r"\[DONE\]"):
        complete(provider(server, attempts=1))


def test_malformed_json_in_an_event_is_retried(server):
    server.queue(lb.sse_reply(b'data: {"choices": [{"index": 0, "delta": {"content": "x"\n\n'))
    server.queue(lb.sse_reply("chat_text.sse"))
    assert complete(provider(server)).message.text.startswith("Hello")
    assert server.count == 2

    server.queue(lb.sse_reply(b"data: {not json}\n\n"))
    with pytest.raises(ProviderError, match="not a JSON object") as caught:
        complete(provider(server, attempts=1))
    assert caught.value.retryable


def test_an_html_error_page_is_named_and_a_502_one_is_retried(server):
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    server.queue(lb.Reply(status=502, body=page, content_type="text/html", chunk_size=None))
    server.queue(lb.sse_reply("chat_text.sse"))
    complete(provider(server))
    assert server.count == 2

    server.queue(lb.Reply(status=502, body=page, content_type="text/html", chunk_size=None))
    with pytest.raises(ProviderHTTPError, match="HTML page.*502 Bad Gateway"):
        complete(provider(server, attempts=1))


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "text/plain"])
def test_a_200_with_the_wrong_content_type_is_refused_without_retrying(server, content_type):
    server.queue(lb.Reply(body=b"<html>Sign in to the Wi-Fi</html>", content_type=content_type))
    with pytest.raises(ProviderHTTPError, match="expected text/event-stream") as caught:
        complete(provider(server))
    assert not caught.value.retryable
    assert server.count == 1


def test_a_slow_first_byte_within_the_timeout_is_waited_for(server):
    server.queue(lb.sse_reply("chat_text.sse", delay=0.3))
    assert complete(provider(server, read_timeout=30)).message.text.startswith("Hello")
    assert server.count == 1


def test_a_first_byte_slower_than_the_read_timeout_is_retried(server):
    server.queue(lb.sse_reply("chat_text.sse", delay=3.0), lb.sse_reply("chat_text.sse"))
    assert complete(provider(server, read_timeout=0.5)).message.text.startswith("Hello")
    assert server.count == 2


def test_401_names_the_credential_and_env_var_never_the_key(server):
    server.queue(
        lb.json_reply(
            {
                "error": {
                    "message": f"Incorrect API key provided: {KEY}.",
                    "code": "invalid_api_key",
                }
            },
            status=401,
        )
    )
    with pytest.raises(ProviderAuthenticationError) as caught:
        complete(provider(server))
    message = str(caught.value)
    assert "tau keys set openai" in message and "OPENAI_API_KEY" in message
    assert KEY not in message and KEY not in caught.value.body
    assert server.count == 1


def test_the_breaker_opens_and_then_refuses_without_a_request(server):
    breakers().get("openai:gpt-4.1", failure_threshold=1, cool_down=3600)
    server.queue(lb.json_reply({"error": {"message": "down"}}, status=503))
    with pytest.raises(ProviderHTTPError):
        complete(provider(server, attempts=1))
    with pytest.raises(CircuitOpenError):
        complete(provider(server, attempts=1))
    assert server.count == 1


# -- configuration ------------------------------------------------------------------------------


def test_key_comes_from_the_option_then_the_environment_then_the_store(monkeypatch, tau_home):
    from tau_core._credentials import CredentialStore

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(CredentialError, match="tau keys set openai.*OPENAI_API_KEY"):
        openai_factory("gpt-4.1")
    CredentialStore.open().set("openai", "sk-from-the-store-000000")
    assert openai_factory("gpt-4.1").endpoint.api_key == "sk-from-the-store-000000"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-0000000000")
    assert openai_factory("gpt-4.1").endpoint.api_key == "sk-from-env-0000000000"
    config = {"providers.openai": {"api_key": "sk-explicit-000000000"}}
    assert openai_factory("gpt-4.1", config=config).endpoint.api_key == "sk-explicit-000000000"


def test_base_url_comes_from_the_option_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert openai_factory("gpt-4.1").endpoint.base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    assert openai_factory("gpt-4.1").endpoint.base_url == "http://127.0.0.1:9/v1"
    config = {"providers.openai": {"base_url": "http://127.0.0.1:8/x"}}
    assert openai_factory("gpt-4.1", config=config).endpoint.base_url == "http://127.0.0.1:8/x"


def test_the_api_is_chosen_per_model_or_by_option(monkeypatch):
    from tau_provider._openai_responses import OpenAIResponsesProvider

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert type(openai_factory("gpt-4.1")) is OpenAIChatProvider
    assert type(openai_factory("o3-pro")) is OpenAIResponsesProvider
    by_option = {"providers.openai": {"api": "responses"}}
    assert type(openai_factory("gpt-4.1", config=by_option)) is OpenAIResponsesProvider
    per_model = {"providers.openai": {"models": {"gpt-4": {"1": {"api": "responses"}}}}}
    assert type(openai_factory("gpt-4.1", config=per_model)) is OpenAIResponsesProvider
    assert type(openai_factory("gpt-4o", config=per_model)) is OpenAIChatProvider
    with pytest.raises(ConfigError, match=r"providers\.openai\.api"):
        openai_factory("gpt-4.1", config={"providers.openai": {"api": "completions"}})
    with pytest.raises(UsageError):
        openai_factory("")


def test_price_is_read_from_config():
    config = {"providers.openai": {"api_key": KEY, "price": {"input": 2, "output": 8}}}
    assert openai_factory("gpt-4.1", config=config).endpoint.price == Price(2.0, 8.0)
    with pytest.raises(ConfigError, match="price"):
        openai_factory("gpt-4.1", config={"providers.openai": {"api_key": KEY, "price": 3}})


# -- a real agent run -----------------------------------------------------------------------------


def _tool_turn() -> bytes:
    body: bytes = lb.sse_events(
        {
            "model": "gpt-4.1",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_w",
                                "type": "function",
                                "function": {
                                    "name": "write_file",
                                    "arguments": GREETING_ARGS,
                                },
                            }
                        ]
                    },
                    "finish_reason": "tool_calls",
                }
            ],
        },
        {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 10}},
    )
    return body


def test_an_agent_run_through_the_openai_provider_ends_verified(server, tau_home, tmp_path):
    server.queue(lb.sse_reply(_tool_turn()), lb.sse_reply("chat_text.sse"))

    def factory(model: str, config: Any = None) -> OpenAIChatProvider:
        return provider(server, model=model)

    verifier = ScriptedVerifier("green")
    plugins = fresh_plugin_manager(make_plugin(providers={"openai": factory}, tools=[WriteFile()]))
    workdir = tmp_path / "work"
    workdir.mkdir()

    outcome = Agent(
        "openai:gpt-4.1",
        plugins=plugins,
        authority=Authority.from_preset("workspace-write"),
        verifier=verifier,
    ).run("Write greeting.txt containing exactly Hello, Tau", workdir=workdir)

    assert outcome.status == "verified", outcome.summary
    assert (workdir / "greeting.txt").read_text(encoding="utf-8") == "Hello, Tau"
    assert verifier.calls == 1
    assert server.count == 2
    second = server.bodies[1]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == "call_w"
    assert second[-1]["role"] == "tool" and second[-1]["tool_call_id"] == "call_w"
    assert outcome.evidence.usage.input_tokens == 50 + 1000
