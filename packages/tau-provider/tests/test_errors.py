"""httpx errors and error responses become Tau errors with useful, redacted messages."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from tau_core.errors import (
    ProviderAuthenticationError,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderRateLimitError,
)
from tau_provider._errors import (
    StreamCutError,
    atranslate_response,
    body_excerpt,
    check_content_type,
    parse_retry_after,
    translate_exception,
    translate_response,
)
from tau_provider._sse import aiter_sse

URL = "https://api.example.test/v1/chat/completions?key=AIzaSECRETSECRETSECRETSECRET"


def response(status: int, body: str | bytes = "", **headers: str) -> httpx.Response:
    content = body.encode() if isinstance(body, str) else body
    return httpx.Response(
        status,
        headers={k.replace("_", "-"): v for k, v in headers.items()},
        content=content,
        request=httpx.Request("POST", URL),
    )


OPENAI_401 = json.dumps(
    {
        "error": {
            "message": "Incorrect API key provided: sk-proj-abcdefghijklmnop1234.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
)


def test_401_names_the_credential_and_env_var_and_redacts_the_key():
    error = translate_response("openai", response(401, OPENAI_401), credential_name="openai")
    assert isinstance(error, ProviderAuthenticationError)
    assert error.status == 401 and not error.retryable
    message = str(error)
    assert "tau keys set openai" in message
    assert "OPENAI_API_KEY" in message
    assert "Incorrect API key provided" in message
    assert "sk-proj-abcdefghijklmnop1234" not in message
    assert "sk-proj-abcdefghijklmnop1234" not in error.body
    assert "[REDACTED]" in error.body
    # Gemini puts its key in the query string: the URL in the message has no query.
    assert "AIzaSECRET" not in message and "/v1/chat/completions" in message


def test_403_with_custom_credential_name_and_env_var():
    body = json.dumps({"type": "error", "error": {"type": "permission_error", "message": "no"}})
    error = translate_response(
        "my-vllm", response(403, body), credential_name="vllm-box", env_var="VLLM_TOKEN"
    )
    assert isinstance(error, ProviderAuthenticationError)
    assert "tau keys set vllm-box" in str(error) and "VLLM_TOKEN" in str(error)
    assert "permission_error: no" in str(error)


def test_credential_defaults_to_provider_name():
    error = translate_response("anthropic", response(401, "{}"))
    assert "tau keys set anthropic" in str(error) and "ANTHROPIC_API_KEY" in str(error)


def test_429_with_retry_after_seconds():
    error = translate_response(
        "openai", response(429, '{"error": {"message": "slow"}}', retry_after="7")
    )
    assert isinstance(error, ProviderRateLimitError)
    assert error.retry_after == 7.0 and error.retryable
    assert "wait 7 s" in str(error)


def test_retry_after_ms_wins_over_retry_after():
    headers = httpx.Headers({"retry-after-ms": "1500", "retry-after": "9"})
    assert parse_retry_after(headers) == 1.5


def test_retry_after_http_date_and_garbage():
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2025, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": later}), now=now.timestamp) == 30.0
    earlier = format_datetime(datetime(2025, 1, 1, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": earlier}), now=now.timestamp) == 0.0
    for bad in ("soon", "-5", "inf", "nan", ""):
        assert parse_retry_after(httpx.Headers({"retry-after": bad})) is None
    assert parse_retry_after(httpx.Headers({"retry-after-ms": "x", "retry-after": "2"})) == 2.0
    assert parse_retry_after(httpx.Headers()) is None


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (404, False),
        (408, True),
        (409, True),
        (422, False),
        (425, True),
        (500, True),
        (502, True),
        (503, True),
        (529, True),
    ],
)
def test_status_classes(status, retryable):
    error = translate_response("anthropic", response(status, '{"error": {"message": "m"}}'))
    assert type(error) is ProviderHTTPError
    assert error.status == status and error.retryable is retryable


def test_anthropic_overloaded_529_message():
    body = json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    error = translate_response("anthropic", response(529, body))
    assert "anthropic answered HTTP 529: overloaded_error: Overloaded" in str(error)


def test_gemini_list_shaped_error():
    body = json.dumps(
        [{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]
    )
    assert "UNAVAILABLE: The model is overloaded." in str(
        translate_response("gemini", response(503, body))
    )


def test_html_error_page_gets_a_clear_message():
    page = (
        "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    )
    error = translate_response("openai", response(502, page, content_type="text/html"))
    assert "HTML page ('502 Bad Gateway')" in str(error)
    assert "proxy, gateway or wrong base_url" in str(error)
    assert error.retryable
    # Without a content type the page is still recognised.
    assert "HTML page" in str(translate_response("openai", response(500, page)))


def test_body_excerpt_is_short_single_line_and_redacted():
    text = "line one\n\n  Authorization: Bearer abcdefghijklmnop  \n" + "x" * 2000
    excerpt = body_excerpt(text, secrets=("line one",))
    assert len(excerpt) <= 500 and "\n" not in excerpt
    assert excerpt.startswith("[REDACTED] Authorization: Bearer [REDACTED]")
    assert "api_key=[REDACTED]" in body_excerpt("bad api_key=abcd1234efgh")
    assert '"x-api-key": "[REDACTED]"' in body_excerpt('{"x-api-key": "abcd1234efgh"}')


class _SlowBody(httpx.AsyncByteStream):
    async def __aiter__(self):
        yield b"boom "
        for _ in range(100):  # 100 KiB more: only the first 64 KiB is ever read
            yield b"x" * 1024


def test_unread_streamed_response_counts_as_empty_body():
    async def run() -> ProviderHTTPError:
        transport = httpx.MockTransport(lambda request: httpx.Response(500, stream=_SlowBody()))
        async with (
            httpx.AsyncClient(transport=transport) as client,
            client.stream("POST", "https://api.example.test/v1") as streamed,
        ):
            plain = translate_response("openai", streamed)
            assert plain.body == ""
            return await atranslate_response("openai", streamed)

    error = asyncio.run(run())
    assert error.body.startswith("boom xxx") and error.status == 500


def test_check_content_type():
    ok = response(200, "{}", content_type="application/json; charset=utf-8")
    check_content_type("openai", ok, ("application/json",))
    html = response(200, "<html>login</html>", content_type="text/html")
    with pytest.raises(ProviderHTTPError, match="HTML page: a proxy, captive portal") as info:
        check_content_type("openai", html, ("text/event-stream",))
    assert not info.value.retryable
    with pytest.raises(ProviderHTTPError, match="content type 'text/plain', expected"):
        check_content_type(
            "openai", response(200, "hi", content_type="text/plain"), ("application/json",)
        )


# -- transport errors -----------------------------------------------------------------------------


def test_refused_connection_on_loopback_is_a_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with httpx.Client() as client:  # nothing listens on the port any more
        try:
            client.get(f"http://127.0.0.1:{port}/v1/models?key=SECRETKEY123")
        except httpx.HTTPError as exc:
            error = translate_exception("ollama", exc)
    assert type(error) is ProviderConnectionError and error.retryable
    assert "ollama could not be reached" in str(error) and f"127.0.0.1:{port}/v1/models" in str(
        error
    )
    assert "SECRETKEY123" not in str(error)


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (httpx.ConnectTimeout("t"), "timed out connecting"),
        (httpx.ReadTimeout("t"), "no data within the read timeout"),
        (httpx.WriteTimeout("t"), "while the request was being sent"),
        (httpx.PoolTimeout("t"), "free connection in the pool"),
        (httpx.ReadError("reset"), "connection failed"),
    ],
)
def test_timeouts_and_transport_errors(exc, text):
    exc.request = httpx.Request("POST", URL)
    error = translate_exception("openai", exc)
    assert type(error) is ProviderConnectionError and error.retryable
    assert text in str(error) and "AIzaSECRET" not in str(error)


def test_bad_url_is_not_retryable_and_points_at_base_url():
    with httpx.Client() as client:
        try:
            client.get("ftp://example.test/v1")
        except httpx.HTTPError as exc:
            error = translate_exception("openai", exc)
    assert not error.retryable and "base_url" in str(error)


def test_status_error_is_translated_like_a_response():
    failed = response(429, "{}", retry_after="3")
    exc = httpx.HTTPStatusError("x", request=failed.request, response=failed)
    error = translate_exception("openai", exc)
    assert isinstance(error, ProviderRateLimitError) and error.retry_after == 3.0


def test_non_httpx_error_is_a_plain_provider_error():
    error = translate_exception("openai", ValueError("odd"))
    assert type(error) is ProviderError and not error.retryable


def test_server_closing_mid_body_is_a_stream_cut():
    """A real loopback server promises a body, sends half an SSE event, and hangs up."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 500\r\n\r\n"
            b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\ndata: {"choi'
        )
        await writer.drain()
        writer.close()

    async def run() -> tuple[list[str], BaseException]:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        seen: list[str] = []
        try:
            async with (
                httpx.AsyncClient() as client,
                client.stream("POST", f"http://127.0.0.1:{port}/v1") as streamed,
            ):
                try:
                    async for event in aiter_sse(streamed.aiter_bytes(), provider="openai"):
                        seen.append(event.data)
                except httpx.HTTPError as exc:
                    return seen, translate_exception("openai", exc)
                except StreamCutError as exc:
                    return seen, exc
        finally:
            server.close()
            await server.wait_closed()
        raise AssertionError("the cut stream ended cleanly")

    seen, error = asyncio.run(run())
    assert seen == ['{"choices": [{"delta": {"content": "Hel"}}]}']
    assert isinstance(error, StreamCutError) and error.retryable
    assert "openai" in str(error)


def test_server_closing_without_content_length_is_caught_by_the_parser():
    """With a close-delimited body httpx sees a clean end: the SSE parser must catch the cut."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
            b'event: content_block_delta\ndata: {"text": "Hel"}\n'
        )
        await writer.drain()
        writer.close()

    async def run() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with (
                httpx.AsyncClient() as client,
                client.stream("POST", f"http://127.0.0.1:{port}/v1") as streamed,
            ):
                async for _ in aiter_sse(streamed.aiter_bytes(), provider="anthropic"):
                    raise AssertionError("no whole event was sent")
        finally:
            server.close()
            await server.wait_closed()

    with pytest.raises(StreamCutError, match="anthropic stream ended in the middle of an event"):
        asyncio.run(run())
