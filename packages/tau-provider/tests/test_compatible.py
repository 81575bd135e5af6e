"""OpenRouter and config-defined OpenAI-compatible endpoints against real loopback servers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tau_core import Agent, Authority
from tau_core._messages import Message, ModelRequest
from tau_core.errors import ConfigError, CredentialError, ProviderHTTPError
from tau_core.testing import ScriptedVerifier, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._breaker import breakers
from tau_provider._compatible import compatible_factory, openrouter_factory
from tau_provider._openai import OpenAIStyleProvider, openai_factory
from tau_provider._openai_responses import OpenAIResponsesProvider
from tau_provider._ratelimit import rate_limits
from tau_provider._retry import RetryBudget

lb = sys.modules["tau_provider_tests_openai_loopback"]  # loaded by conftest.py
GREETING_ARGS = '{"path": "greeting.txt", "content": "Hello, Tau"}'
KEY = "sk-or-v1-0123456789abcdef0123"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(autouse=True)
def _fresh_shared_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("LOCAL_API_KEY", "LOCAL_BASE_URL", "OLLAMA_BASE_URL", "OPENROUTER_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    breakers().clear()
    rate_limits().clear()
    yield
    breakers().clear()
    rate_limits().clear()


def fast(p: OpenAIStyleProvider, attempts: int = 4) -> OpenAIStyleProvider:
    p.retry_budget = lambda: RetryBudget(max_attempts=attempts, sleep=Sleeps())
    return p


def complete(p: OpenAIStyleProvider) -> Any:
    request = ModelRequest("m", (Message.user("Say hello."),), max_tokens=64)
    return asyncio.run(p.complete(request))


# -- named endpoints -------------------------------------------------------------------------------


def test_a_named_endpoint_reads_its_table_and_sends_no_key_without_a_credential(server):
    config = {"providers.local": {"kind": "openai-compatible", "base_url": server.url}}
    p = compatible_factory("local")("qwen2.5:0.5b", config=config)
    server.queue(lb.sse_reply("chat_text.sse"))

    response = complete(p)

    assert response.provider == "local" and response.message.text.startswith("Hello")
    assert p.route == "local:qwen2.5:0.5b"
    [seen] = server.seen
    assert "authorization" not in seen.headers
    assert seen.body["model"] == "qwen2.5:0.5b"
    assert seen.body["max_tokens"] == 64 and "max_completion_tokens" not in seen.body


def test_a_named_endpoint_with_a_credential_needs_its_key(server, monkeypatch, tau_home):
    config = {"providers.local": {"base_url": server.url, "credential": "gateway"}}
    with pytest.raises(CredentialError, match="tau keys set gateway.*GATEWAY_API_KEY"):
        compatible_factory("local")("m", config=config)
    monkeypatch.setenv("GATEWAY_API_KEY", "gw-secret-000000")
    p = compatible_factory("local")("m", config=config)
    server.queue(lb.json_reply({"error": {"message": "bad key gw-secret-000000"}}, status=401))
    with pytest.raises(ProviderHTTPError, match="tau keys set gateway") as caught:
        complete(p)
    assert "gw-secret-000000" not in str(caught.value)
    assert server.seen[0].headers["authorization"] == "Bearer gw-secret-000000"


def test_named_endpoint_configuration_errors_and_defaults(monkeypatch):
    with pytest.raises(ConfigError, match=r"providers\.local\.base_url"):
        compatible_factory("local")("m", config={"providers.local": {}})
    with pytest.raises(ConfigError, match=r"providers\.local\.kind"):
        compatible_factory("local")("m", config={"providers.local": {"kind": "anthropic"}})
    assert compatible_factory("ollama")("llama3.2").endpoint.base_url == "http://localhost:11434/v1"
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://127.0.0.1:9999/v1")
    assert compatible_factory("ollama")("llama3.2").endpoint.base_url == "http://127.0.0.1:9999/v1"
    config = {"providers.local": {"base_url": "http://127.0.0.1:1/v1", "api": "responses"}}
    assert isinstance(compatible_factory("local")("m", config=config), OpenAIResponsesProvider)


def test_a_named_endpoint_without_usage_reports_an_unknown_cost(server):
    body = lb.sse_events(
        {"choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}]}
    )
    config = {"providers.local": {"base_url": server.url, "stream_usage": False}}
    server.queue(lb.sse_reply(body))
    p = compatible_factory("local")("m", config=config)
    response = complete(p)
    assert response.message.text == "hi" and response.usage.cost is None
    assert "stream_options" not in server.bodies[0]
    config["providers.local"]["price"] = {"input": 0, "output": 0}
    server.queue(lb.sse_reply(lb.fixture("chat_text.sse")))
    assert complete(compatible_factory("local")("m", config=config)).usage.cost == 0.0


# -- OpenRouter ------------------------------------------------------------------------------------


def openrouter(server: Any, attempts: int = 4, **options: Any) -> OpenAIStyleProvider:
    config = {"providers.openrouter": {"base_url": server.url, "api_key": KEY, **options}}
    return fast(openrouter_factory("anthropic/claude-sonnet-4.5", config=config), attempts)


def test_openrouter_sends_attribution_and_reads_cost_reasoning_and_keep_alives(server):
    server.queue(lb.sse_reply("openrouter_text.sse", chunk_size=11))
    p = openrouter(server, site_url="https://example.org/tau", app_name="Tau tests")

    response = complete(p)

    assert response.message.text == "Hello, Tau"
    assert response.message.parts[0].type == "thinking"
    assert response.usage.cost == pytest.approx(0.00105), "OpenRouter's own cost figure"
    [seen] = server.seen
    assert seen.headers["http-referer"] == "https://example.org/tau"
    assert seen.headers["x-title"] == "Tau tests"
    assert seen.body["usage"] == {"include": True}
    assert seen.body["max_tokens"] == 64


def test_openrouter_chunks_parse_with_the_sdk_types_except_its_own_error_shape():
    pytest.importorskip("openai")
    import pydantic
    from openai.types.chat import ChatCompletionChunk

    for line in lb.fixture("openrouter_text.sse").decode().splitlines():
        if line.startswith("data: {"):
            ChatCompletionChunk.model_validate_json(line[6:])
    # OpenRouter's mid-stream error chunk is its own shape (finish_reason "error"), which the
    # OpenAI SDK refuses; Tau reads it (see the next tests).
    [error] = [
        line[6:]
        for line in lb.fixture("openrouter_midstream_error.sse").decode().splitlines()
        if line.startswith("data: {")
    ]
    with pytest.raises(pydantic.ValidationError, match="finish_reason"):
        ChatCompletionChunk.model_validate_json(error)


def test_openrouter_402_is_final_and_names_the_problem(server):
    server.queue(
        lb.json_reply(
            {
                "error": {
                    "code": 402,
                    "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
                }
            },
            status=402,
        )
    )
    with pytest.raises(ProviderHTTPError, match="Insufficient credits") as caught:
        complete(openrouter(server))
    assert caught.value.status == 402 and not caught.value.retryable
    assert server.count == 1


def test_openrouter_mid_stream_error_is_retried_and_its_integer_codes_are_statuses(server):
    server.queue(
        lb.sse_reply("openrouter_midstream_error.sse"), lb.sse_reply("openrouter_text.sse")
    )
    assert complete(openrouter(server)).message.text == "Hello, Tau"
    assert server.count == 2

    moderation = {
        "error": {
            "code": 403,
            "message": "flagged by moderation",
            "metadata": {"reasons": ["violence"]},
        },
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    server.queue(lb.sse_reply(lb.sse_events(moderation, done=False)))
    with pytest.raises(ProviderHTTPError, match="flagged by moderation") as caught:
        complete(openrouter(server))
    assert caught.value.status == 403 and server.count == 3


def test_openrouter_an_error_object_in_a_200_json_body_is_an_error(server):
    server.queue(lb.json_reply({"error": {"code": 502, "message": "upstream down"}}))
    with pytest.raises(ProviderHTTPError, match="upstream down") as caught:
        complete(openrouter(server, attempts=1))
    assert caught.value.status == 502 and caught.value.retryable


# -- fallback through the real run loop ------------------------------------------------------------


def test_fallback_to_a_named_endpoint_counts_requests_and_never_multiplies_retries(
    server, tau_home, tmp_path
):
    primary = lb.LoopbackServer()
    try:
        for _ in range(20):
            primary.queue(lb.json_reply({"error": {"message": "overloaded"}}, status=503))
        tool_turn = lb.sse_events(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": "w1",
                                    "function": {
                                        "name": "write_file",
                                        "arguments": GREETING_ARGS,
                                    },
                                }
                            ]
                        },
                        "finish_reason": "tool_calls",
                    }
                ]
            },
        )
        server.queue(lb.sse_reply(tool_turn), lb.sse_reply("chat_text.sse"))

        def openai(model: str, config: Any = None) -> OpenAIStyleProvider:
            cfg = {"providers.openai": {"base_url": primary.url, "api_key": "sk-x-000000000"}}
            return fast(openai_factory(model, config=cfg), attempts=2)

        def local(model: str, config: Any = None) -> OpenAIStyleProvider:
            cfg = {"providers.local": {"base_url": server.url}}
            return fast(compatible_factory("local")(model, config=cfg), attempts=2)

        plugins = fresh_plugin_manager(
            make_plugin(providers={"openai": openai, "local": local}, tools=[WriteFile()])
        )
        workdir = tmp_path / "work"
        workdir.mkdir()
        outcome = Agent(
            "openai:gpt-4.1",
            fallback=["local:qwen2.5"],
            plugins=plugins,
            authority=Authority.from_preset("workspace-write"),
            verifier=ScriptedVerifier("green"),
        ).run("Write greeting.txt containing exactly Hello, Tau", workdir=workdir)

        assert outcome.status == "verified", outcome.summary
        assert (workdir / "greeting.txt").read_text(encoding="utf-8") == "Hello, Tau"
        assert server.count == 2, "one request per turn on the fallback route"
        assert primary.count == 2 * 2, "two turns × the primary's two attempts, nothing more"
    finally:
        primary.close()
