"""The OpenAI Responses API against a real loopback server, checked against the official SDK."""

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
from tau_core.errors import ProviderHTTPError, ProviderRateLimitError
from tau_core.testing import ScriptedVerifier, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._errors import StreamCutError
from tau_provider._openai import openai_factory
from tau_provider._openai_responses import OpenAIResponsesProvider
from tau_provider._retry import RetryBudget

lb = sys.modules["tau_provider_tests_openai_loopback"]  # loaded by conftest.py
KEY = "sk-test-0123456789abcdefghij"
WRITE = ToolSpec(
    "write_file",
    "Write a file atomically.",
    {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
        "required": ["path", "content"],
    },
)
REASONING_ITEM = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "Plan: read, then write."}],
}
CONVERSATION = (
    Message.system("You are Tau's coding agent."),
    Message.user("Write greeting.txt."),
    Message(
        "assistant",
        (
            ThinkingPart("Plan: read, then write.", signature=json.dumps(REASONING_ITEM)),
            ThinkingPart("an Anthropic thought", signature="EqQBCkgIARABGAIiQL"),
            TextPart("Writing it."),
            ToolCall("call_3", "write_file", {"path": "g.txt", "content": "hi"}),
        ),
    ),
    Message("tool", (ToolResult("call_3", "write_file", "wrote 2 bytes"),)),
    Message.user("Check it."),
)
SDK_INPUT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are Tau's coding agent."},
    {"role": "user", "content": "Write greeting.txt."},
    REASONING_ITEM,
    {"role": "assistant", "content": "Writing it."},
    {
        "type": "function_call",
        "call_id": "call_3",
        "name": "write_file",
        "arguments": '{"path": "g.txt", "content": "hi"}',
    },
    {"type": "function_call_output", "call_id": "call_3", "output": "wrote 2 bytes"},
    {"role": "user", "content": "Check it."},
]
SDK_TOOLS = [
    {
        "type": "function",
        "name": WRITE.name,
        "description": WRITE.description,
        "parameters": WRITE.parameters,
        "strict": False,
    }
]


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def provider(server: Any, *, attempts: int = 4, **options: Any) -> OpenAIResponsesProvider:
    config = {
        "providers.openai": {"base_url": server.url, "api_key": KEY, "api": "responses", **options}
    }
    p = openai_factory(options.pop("model", "o4-mini"), config=config)
    assert isinstance(p, OpenAIResponsesProvider)
    p.retry_budget = lambda: RetryBudget(max_attempts=attempts, sleep=Sleeps())
    return p


def complete(p: OpenAIResponsesProvider, **kwargs: Any) -> Any:
    defaults: dict[str, Any] = {
        "model": "o4-mini",
        "messages": CONVERSATION,
        "tools": (WRITE,),
        "max_tokens": 512,
        "temperature": 1.0,
    }
    return asyncio.run(p.complete(ModelRequest(**{**defaults, **kwargs})))


def test_request_body_matches_the_official_sdk_field_for_field(server):
    openai = pytest.importorskip("openai")
    server.queue(lb.sse_reply("responses_tools.sse"), lb.sse_reply("responses_tools.sse"))
    complete(provider(server))

    async def sdk() -> None:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        stream = await client.responses.create(
            model="o4-mini",
            input=SDK_INPUT,
            tools=SDK_TOOLS,
            stream=True,
            max_output_tokens=512,
            temperature=1.0,
        )
        async for _ in stream:
            pass
        await client.close()

    asyncio.run(sdk())
    ours, theirs = server.seen
    assert ours.path == theirs.path == "/v1/responses"
    # Nothing removed: every field matches (the foreign thinking part is not sent).
    assert ours.body == theirs.body
    assert ours.headers["authorization"] == theirs.headers["authorization"]


def test_fixtures_parse_with_the_sdk_types_and_match_the_sdk_final_response(server):
    openai = pytest.importorskip("openai")
    import pydantic
    from openai.types.responses import Response, ResponseStreamEvent

    events = pydantic.TypeAdapter(ResponseStreamEvent)
    for name in ("responses_tools.sse", "responses_text.sse"):
        for line in lb.fixture(name).decode().splitlines():
            if line.startswith("data: "):
                events.validate_json(line[6:])
    Response.model_validate_json(lb.fixture("response.json"))

    server.queue(lb.sse_reply("responses_tools.sse"), lb.sse_reply("responses_tools.sse"))
    ours = complete(provider(server))

    async def sdk() -> Any:
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
        async with client.responses.stream(model="o4-mini", input=SDK_INPUT) as stream:
            final = await stream.get_final_response()
        await client.close()
        return final

    theirs = asyncio.run(sdk())
    assert ours.message.text == theirs.output_text == "I will write the greeting."
    [call] = [o for o in theirs.output if o.type == "function_call"]
    assert ours.message.tool_calls == (
        ToolCall(call.call_id, call.name, json.loads(call.arguments)),
    )
    assert ours.usage.input_tokens == theirs.usage.input_tokens == 321
    assert ours.usage.output_tokens == theirs.usage.output_tokens == 88


def test_stream_keeps_reasoning_and_sends_it_back_next_turn(server):
    server.queue(
        lb.sse_reply("responses_tools.sse", chunk_size=9), lb.sse_reply("responses_text.sse")
    )
    p = provider(server, price={"input": 1.1, "output": 4.4, "cached_input": 0.275})
    deltas: list[str] = []
    p.on_delta = deltas.append

    response = complete(p)

    thinking, text, call = response.message.parts
    assert isinstance(thinking, ThinkingPart) and thinking.text.startswith("**Planning**")
    assert text == TextPart("I will write the greeting.")
    assert call == ToolCall(
        "call_write_2", "write_file", {"path": "greeting.txt", "content": "Hello, Tau"}
    )
    assert "".join(deltas) == "I will write the greeting."
    assert response.stop_reason == "tool_calls"
    assert response.usage.cost == pytest.approx(((321 - 128) * 1.1 + 128 * 0.275 + 88 * 4.4) / 1e6)
    assert p.last_usage["output_tokens_details"]["reasoning_tokens"] == 64

    follow = (
        *CONVERSATION[:2],
        response.message,
        Message("tool", (ToolResult("call_write_2", "write_file", "ok"),)),
    )
    final = complete(p, messages=follow)
    assert (
        final.message.text == "Done: greeting.txt holds Hello, Tau." and final.stop_reason == "stop"
    )
    sent = server.bodies[1]["input"]
    reasoning = [i for i in sent if i.get("type") == "reasoning"]
    assert reasoning and reasoning[0]["id"].startswith("rs_67cc")
    assert reasoning[0]["summary"][0]["text"].startswith("**Planning**")
    assert sent[-1] == {"type": "function_call_output", "call_id": "call_write_2", "output": "ok"}


def test_items_are_assembled_from_deltas_when_the_final_output_is_empty(server):
    body = b"".join(
        f"data: {json.dumps(e)}\n\n".encode()
        for e in [
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "write_file",
                    "arguments": "",
                },
            },
            {
                "type": "response.function_call_arguments.delta",
                "output_index": 0,
                "delta": '{"path": ',
            },
            {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '"x"}'},
            {"type": "response.completed", "response": {"status": "completed", "output": []}},
        ]
    )
    server.queue(lb.sse_reply(body))
    assert complete(provider(server)).message.tool_calls == (
        ToolCall("c1", "write_file", {"path": "x"}),
    )


def test_a_plain_json_response_is_read_too(server):
    server.queue(lb.Reply(body=lb.fixture("response.json"), content_type="application/json"))
    response = complete(provider(server))
    assert [type(p).__name__ for p in response.message.parts] == [
        "ThinkingPart",
        "TextPart",
        "ToolCall",
    ]


def test_incomplete_means_length(server):
    body = (
        lb.fixture("responses_text.sse")
        .replace(b'"type":"response.completed"', b'"type":"response.incomplete"')
        .replace(
            b'"status":"completed","error":null,"incomplete_details":null',
            b'"status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"}',
        )
    )
    server.queue(lb.sse_reply(body))
    assert complete(provider(server)).stop_reason == "length"


def test_response_failed_and_error_events_become_provider_errors(server):
    failed = {
        "type": "response.failed",
        "response": {
            "status": "failed",
            "error": {"code": "server_error", "message": "The model crashed"},
        },
    }
    server.queue(
        lb.sse_reply(lb.sse_events(failed, done=False)), lb.sse_reply("responses_text.sse")
    )
    assert complete(provider(server)).message.text.startswith("Done")
    assert server.count == 2, "a server_error is retried"

    error = {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None}
    server.queue(lb.sse_reply(lb.sse_events(error, done=False)))
    with pytest.raises(ProviderRateLimitError, match="slow down"):
        complete(provider(server, attempts=1))

    bad = {"type": "error", "code": "context_length_exceeded", "message": "too long"}
    server.queue(lb.sse_reply(lb.sse_events(bad, done=False)), lb.sse_reply("responses_text.sse"))
    with pytest.raises(ProviderHTTPError, match="too long") as caught:
        complete(provider(server))
    assert not caught.value.retryable and server.count == 4


def test_a_stream_without_response_completed_is_cut(server):
    body = lb.fixture("responses_text.sse")
    server.queue(lb.sse_reply(body[: body.index(b"event: response.completed")]))
    with pytest.raises(StreamCutError, match="response.completed"):
        complete(provider(server, attempts=1))


def test_an_agent_run_through_the_responses_api_ends_verified(server, tau_home, tmp_path):
    server.queue(lb.sse_reply("responses_tools.sse"), lb.sse_reply("responses_text.sse"))

    def factory(model: str, config: Any = None) -> OpenAIResponsesProvider:
        return provider(server, model=model)

    plugins = fresh_plugin_manager(make_plugin(providers={"openai": factory}, tools=[WriteFile()]))
    workdir = tmp_path / "work"
    workdir.mkdir()
    outcome = Agent(
        "openai:o4-mini",
        plugins=plugins,
        authority=Authority.from_preset("workspace-write"),
        verifier=ScriptedVerifier("green"),
    ).run("Write greeting.txt containing exactly Hello, Tau", workdir=workdir)

    assert outcome.status == "verified", outcome.summary
    assert (workdir / "greeting.txt").read_text(encoding="utf-8") == "Hello, Tau"
    assert server.count == 2
    second = server.bodies[1]["input"]
    assert [i.get("type", i.get("role")) for i in second[-4:]] == [
        "reasoning",
        "assistant",
        "function_call",
        "function_call_output",
    ]
