"""The Gemini provider against a real loopback HTTP server speaking the Gemini API.

The server plays scripted replies (SSE streams of GenerateContentResponse chunks, JSON, error
pages, cut connections, slow first bytes) and counts every request. There is no differential
check against an official SDK for Gemini (none is a test dependency); the fixtures follow the
documented v1beta wire format.
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
    CredentialError,
    ProviderAuthenticationError,
    ProviderError,
    ProviderHTTPError,
)
from tau_core.testing import FileEquals, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._breaker import breakers
from tau_provider._errors import StreamCutError
from tau_provider._gemini import GeminiProvider, gemini_factory, next_turn
from tau_provider._ratelimit import rate_limits
from tau_provider._retry import RetryBudget

FIXTURES = Path(__file__).parent / "fixtures" / "gemini"
CALL_STREAM = (FIXTURES / "stream_function_call.sse").read_bytes()
TEXT_STREAM = (FIXTURES / "stream_text.sse").read_bytes()
JSON_RESPONSE = (FIXTURES / "generate_content.json").read_bytes()
KEY = "AIzaSyLoopbackTestKey0123456789abcdefg"
MODEL = "gemini-2.5-flash"
STREAM_PATH = f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse"


# -- a loopback server (the same as test_anthropic's) -------------------------------------------


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


@pytest.fixture(autouse=True)
def _fresh_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    breakers().clear()
    rate_limits().clear()
    yield
    breakers().clear()
    rate_limits().clear()


class Sleeps(list[float]):
    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


def provider(server: Loopback, sleeps: Sleeps | None = None, **options: Any) -> GeminiProvider:
    sleeps = sleeps if sleeps is not None else Sleeps()
    attempts = options.pop("max_attempts", 4)
    return gemini_factory(
        MODEL,
        api_key=KEY,
        base_url=server.url,
        retry_budget=lambda: RetryBudget(max_attempts=attempts, sleep=sleeps),
        **options,
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


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
    ToolSpec("list_files", "List the files."),
)


def conversation() -> tuple[Message, ...]:
    return (
        Message.system("You are a careful coding agent."),
        Message.user("Write greeting.txt containing Hello, Tau"),
        Message(
            "assistant",
            (
                ThinkingPart("Planning the write.", None),
                TextPart("Writing it."),
                ThinkingPart("", "CiwBVKhc7nWq3Fh0b0n2nN5M"),
                ToolCall("call_0_0", "write_file", {"path": "greeting.txt", "content": "Hi"}),
                ToolCall("call_0_1", "list_files", {}),
            ),
        ),
        Message(
            "tool",
            (
                ToolResult("call_0_0", "write_file", "wrote 2 characters"),
                ToolResult("call_0_1", "list_files", {"files": ["greeting.txt"]}),
            ),
        ),
        Message.user("Now fix the content."),
    )


# -- the happy paths --------------------------------------------------------------------------


def test_streamed_thoughts_text_and_function_calls_get_deterministic_ids() -> None:
    deltas: list[str] = []
    with Loopback(Reply(CALL_STREAM)) as server:
        p = provider(server)
        p.on_delta = deltas.append
        response = run(p.complete(ModelRequest(MODEL, conversation(), TOOLS)))

    # conversation() already holds a model turn with call_0_*: this answer is turn 1.
    assert response.message.parts == (
        ThinkingPart("The user wants a file written."),
        TextPart("I'll write greeting.txt."),
        ThinkingPart("", "CiwBVKhc7nWq3Fh0b0n2nN5M"),
        ToolCall("call_1_0", "write_file", {"path": "greeting.txt", "content": "Hello, Tau"}),
        ToolCall("call_1_1", "read_file", {"path": "greeting.txt"}),
    )
    assert deltas == ["I'll write ", "greeting.txt."]  # thoughts are not answer text
    assert response.stop_reason == "tool_use"
    assert response.usage.input_tokens == 61 and response.usage.output_tokens == 40 + 30
    assert response.usage.cost == pytest.approx(
        (61 * 0.30 + 70 * 2.50) / 1e6
    )  # from the price table
    assert response.model == "gemini-2.5-flash" and response.provider == "gemini"
    [sent] = server.requests
    assert sent["path"] == STREAM_PATH
    assert sent["headers"]["x-goog-api-key"] == KEY
    assert KEY not in sent["path"] and "key=" not in sent["path"]


def test_request_body_follows_the_documented_shape() -> None:
    with Loopback(Reply(TEXT_STREAM)) as server:
        run(
            provider(server).complete(
                ModelRequest(MODEL, conversation(), TOOLS, max_tokens=256, temperature=0.5)
            )
        )
    body = server.requests[0]["body"]
    assert body == {
        "systemInstruction": {"parts": [{"text": "You are a careful coding agent."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Write greeting.txt containing Hello, Tau"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "Writing it."},
                    {
                        "functionCall": {
                            "name": "write_file",
                            "args": {"path": "greeting.txt", "content": "Hi"},
                        },
                        "thoughtSignature": "CiwBVKhc7nWq3Fh0b0n2nN5M",
                    },
                    {"functionCall": {"name": "list_files", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "write_file",
                            "response": {"result": "wrote 2 characters"},
                        }
                    },
                    {
                        "functionResponse": {
                            "name": "list_files",
                            "response": {"files": ["greeting.txt"]},
                        }
                    },
                    {"text": "Now fix the content."},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "write_file",
                        "description": "Write text to a file, replacing it.",
                        "parameters": {
                            "type": "object",
                            "required": ["path", "content"],
                            "properties": {
                                "path": {"type": "string"},
                                "content": {"type": "string"},
                            },
                        },
                    },
                    # An object schema with no properties is refused by Gemini: left out.
                    {"name": "list_files", "description": "List the files."},
                ]
            }
        ],
        "generationConfig": {"maxOutputTokens": 256, "temperature": 0.5},
    }


def test_failed_tool_result_is_sent_as_an_error_by_name() -> None:
    call = ToolCall("call_0_0", "write_file", {})
    messages = (
        Message.user("go"),
        Message("assistant", (call,)),
        Message("tool", (ToolResult.failure(call, "denied", "not allowed"),)),
    )
    with Loopback(Reply(TEXT_STREAM)) as server:
        run(provider(server).complete(ModelRequest(MODEL, messages)))
    [part] = server.requests[0]["body"]["contents"][-1]["parts"]
    assert part == {
        "functionResponse": {
            "name": "write_file",
            "response": {"error": "error [denied]: not allowed"},
        }
    }


def test_generate_content_without_streaming() -> None:
    with Loopback(Reply(JSON_RESPONSE, content_type="application/json")) as server:
        response = run(
            provider(server, stream=False).complete(ModelRequest(MODEL, conversation()[:2]))
        )
    assert server.requests[0]["path"] == f"/v1beta/models/{MODEL}:generateContent"
    assert response.message.parts == (
        TextPart("Checking the weather."),
        ToolCall("call_0_0", "get_weather", {"location": "Paris"}),
    )
    assert response.usage.input_tokens == 20 and response.usage.output_tokens == 12


def test_turn_numbers_never_reuse_an_id() -> None:
    assert next_turn((Message.user("hi"),)) == 0
    assert next_turn(conversation()) == 1
    # Compaction may drop old turns; an id seen in the history still moves the turn on.
    compacted = (Message.user("hi"), Message("assistant", (ToolCall("call_7_0", "x", {}),)))
    assert next_turn(compacted) == 8


# -- failures real servers produce ------------------------------------------------------------


def google_error(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_and_then_succeed(status: int) -> None:
    sleeps = Sleeps()
    failing = Reply(google_error(status, "UNAVAILABLE", "The model is overloaded."), status=status,
                    content_type="application/json")  # fmt: skip
    with Loopback(failing, Reply(TEXT_STREAM)) as server:
        response = run(provider(server, sleeps).complete(ModelRequest(MODEL, conversation())))
    assert response.message.text == "Done: greeting.txt holds Hello, Tau."
    assert len(server.requests) == 2 and len(sleeps) == 1
    assert response.usage.requests == 2, "usage counts every HTTP request, retries included"


def test_429_resource_exhausted_with_retry_after_spends_one_budget() -> None:
    sleeps = Sleeps()
    limited = Reply(
        google_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"),
        status=429,
        content_type="application/json",
        headers={"retry-after": "5"},
    )
    with Loopback(limited) as server, pytest.raises(ProviderHTTPError) as info:
        run(provider(server, sleeps, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert info.value.status == 429 and "RESOURCE_EXHAUSTED" in str(info.value)
    assert sleeps == [5.0] and len(server.requests) == 2


def test_403_names_the_credential_and_never_shows_the_key() -> None:
    denied = Reply(google_error(403, "PERMISSION_DENIED", f"API key {KEY} not valid"),
                   status=403, content_type="application/json")  # fmt: skip
    with Loopback(denied) as server, pytest.raises(ProviderAuthenticationError) as info:
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert "tau keys set gemini" in str(info.value) and "GEMINI_API_KEY" in str(info.value)
    assert KEY not in str(info.value) and KEY not in info.value.body
    assert len(server.requests) == 1


def test_stream_cut_mid_event_or_without_finish_reason_is_an_error() -> None:
    cut = CALL_STREAM[: CALL_STREAM.index(b"functionCall") + 10]
    with Loopback(Reply(cut), Reply(CALL_STREAM)) as server:
        response = run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert len(response.message.tool_calls) == 2 and len(server.requests) == 2

    unfinished = TEXT_STREAM[: TEXT_STREAM.index(b"\n\n") + 2]
    with (
        Loopback(Reply(unfinished)) as server,
        pytest.raises(StreamCutError, match="finishReason"),
    ):
        run(provider(server, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 2


def test_a_failure_after_text_reached_the_caller_is_not_retried() -> None:
    cut = TEXT_STREAM[: TEXT_STREAM.index(b"\n\n") + 2] + b'data: {"candidates": ['
    deltas: list[str] = []
    with Loopback(Reply(cut), Reply(TEXT_STREAM)) as server:
        p = provider(server)
        p.on_delta = deltas.append
        with pytest.raises(StreamCutError):
            run(p.complete(ModelRequest(MODEL, conversation())))
    assert deltas == ["Done: greeting.txt "] and len(server.requests) == 1


def test_error_object_in_the_stream_is_translated() -> None:
    error = b"data: " + google_error(503, "UNAVAILABLE", "overloaded") + b"\n\n"
    with Loopback(Reply(error), Reply(TEXT_STREAM)) as server:
        response = run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert response.message.text.startswith("Done") and len(server.requests) == 2

    bad = b"data: " + google_error(400, "INVALID_ARGUMENT", "bad schema") + b"\n\n"
    with (
        Loopback(Reply(bad)) as server,
        pytest.raises(ProviderHTTPError, match="INVALID_ARGUMENT: bad schema"),
    ):
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 1


def test_malformed_json_html_page_and_wrong_content_type() -> None:
    with (
        Loopback(Reply(b'data: {"candidates": [}\n\n')) as server,
        pytest.raises(ProviderError, match="not valid JSON"),
    ):
        run(provider(server, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 2

    page = b"<html><title>Error 502 (Server Error)!!1</title></html>"
    with (
        Loopback(Reply(page, status=502, content_type="text/html")) as server,
        pytest.raises(ProviderHTTPError, match="HTML page"),
    ):
        run(provider(server, max_attempts=2).complete(ModelRequest(MODEL, conversation())))
    assert len(server.requests) == 2

    with (
        Loopback(Reply(JSON_RESPONSE, content_type="application/json")) as server,
        pytest.raises(ProviderHTTPError, match="expected text/event-stream") as info,
    ):
        run(provider(server).complete(ModelRequest(MODEL, conversation())))
    assert not info.value.retryable and len(server.requests) == 1


def test_slow_first_byte_times_out_and_the_retry_answers() -> None:
    with Loopback(Reply(TEXT_STREAM, delay=2.0), Reply(TEXT_STREAM)) as server:
        response = run(provider(server, timeout=0.3).complete(ModelRequest(MODEL, conversation())))
    assert response.message.text.startswith("Done") and len(server.requests) == 2


# -- credentials ------------------------------------------------------------------------------


def test_keys_from_environment_in_order_then_missing(
    tau_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAU_PASSPHRASE", "correct horse battery staple")
    with pytest.raises(CredentialError, match="tau keys set gemini"):
        run(gemini_factory(MODEL).complete(ModelRequest(MODEL, conversation())))
    with Loopback(Reply(TEXT_STREAM)) as server:
        monkeypatch.setenv("GEMINI_BASE_URL", server.url)
        monkeypatch.setenv("GOOGLE_API_KEY", "AIza-google-key-0000")
        run(gemini_factory(MODEL).complete(ModelRequest(MODEL, conversation())))
        monkeypatch.setenv("GEMINI_API_KEY", "AIza-gemini-key-0000")
        run(gemini_factory(MODEL).complete(ModelRequest(MODEL, conversation())))
    keys = [r["headers"]["x-goog-api-key"] for r in server.requests]
    assert keys == ["AIza-google-key-0000", "AIza-gemini-key-0000"]


# -- a real agent run -------------------------------------------------------------------------


def test_agent_run_through_the_registered_factory_ends_verified(
    tau_home: Path, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    one_call = CALL_STREAM.replace(
        b',{"functionCall": {"name": "read_file","args": {"path": "greeting.txt"}}}', b""
    )
    with Loopback(Reply(one_call), Reply(TEXT_STREAM)) as server:

        def factory(model: str, config: Any = None) -> GeminiProvider:
            return gemini_factory(model, config=config, api_key=KEY, base_url=server.url)

        manager = fresh_plugin_manager(
            make_plugin(providers={"gemini": factory}, tools=[WriteFile()])
        )
        outcome = Agent(
            f"gemini:{MODEL}",
            plugins=manager,
            authority=Authority.from_preset("workspace-write"),
            verifier=FileEquals("greeting.txt", "Hello, Tau"),
        ).run("Write greeting.txt containing exactly Hello, Tau", workdir=workdir)

    assert outcome.status == "verified", outcome
    assert (workdir / "greeting.txt").read_text(encoding="utf-8") == "Hello, Tau"
    assert len(server.requests) == 2
    model_turn, results = server.requests[1]["body"]["contents"][1:3]
    assert model_turn["parts"][-1]["thoughtSignature"] == "CiwBVKhc7nWq3Fh0b0n2nN5M"
    assert results["parts"][0]["functionResponse"]["name"] == "write_file"
