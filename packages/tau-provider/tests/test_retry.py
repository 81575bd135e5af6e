"""One retry budget per call path: backoff, Retry-After, no retry after output, no multiplying."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tau_core.errors import (
    ProviderConnectionError,
    ProviderHTTPError,
    ProviderRateLimitError,
    UsageError,
)
from tau_provider._errors import StreamCutError, translate_response
from tau_provider._retry import Attempt, RetryBudget, RetryEvent, is_retryable, with_retries


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(time: FakeTime, **kwargs) -> RetryBudget:
    kwargs.setdefault("random", lambda: 1.0)  # the top of the jitter range, so delays are exact
    return RetryBudget(clock=time.clock, sleep=time.sleep, **kwargs)


def failing(*errors: BaseException, result: str = "ok"):
    """An attempt function that raises each error in turn, then returns *result*."""
    calls: list[int] = []

    async def fn(attempt: Attempt) -> str:
        calls.append(attempt.number)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


def http(status: int, retry_after: float | None = None) -> ProviderHTTPError:
    return ProviderHTTPError(f"HTTP {status}", status=status, retry_after=retry_after)


def run(coro):
    return asyncio.run(coro)


def test_retries_transient_failures_with_exponential_backoff_and_reports_each():
    time = FakeTime()
    events: list[RetryEvent] = []
    fn, calls = failing(ProviderConnectionError("reset"), http(503), http(502))
    result = run(with_retries(fn, budget(time, max_attempts=4, base=0.5), on_retry=events.append))
    assert result == "ok"
    assert calls == [1, 2, 3, 4]
    assert time.sleeps == [0.5, 1.0, 2.0]
    assert [(e.attempt, e.delay) for e in events] == [(1, 0.5), (2, 1.0), (3, 2.0)]
    assert isinstance(events[0].error, ProviderConnectionError)


def test_full_jitter_draws_below_the_ceiling_and_cap_bounds_it():
    time = FakeTime()
    draws = iter([0.25, 0.5, 0.99, 0.99])
    b = budget(time, max_attempts=5, base=1.0, cap=3.0, random=lambda: next(draws))
    fn, _ = failing(http(500), http(500), http(500), http(500))
    run(with_retries(fn, b))
    assert time.sleeps == [0.25, 1.0, 0.99 * 3.0, 0.99 * 3.0]


def test_retry_after_is_honoured_exactly():
    time = FakeTime()
    fn, _ = failing(ProviderRateLimitError("slow", status=429, retry_after=7.0))
    events: list[RetryEvent] = []
    run(with_retries(fn, budget(time, base=0.1), on_retry=events.append))
    assert time.sleeps == [7.0]
    assert events[0].retry_after == 7.0


def test_retry_after_beyond_the_remaining_budget_gives_up_at_once():
    time = FakeTime()
    fn, calls = failing(ProviderRateLimitError("slow", status=429, retry_after=90.0))
    with pytest.raises(ProviderRateLimitError) as info:
        run(with_retries(fn, budget(time, max_total_seconds=60)))
    assert calls == [1] and time.sleeps == []
    assert "asked to wait 90 s, more than the 60.0 s left" in info.value.__notes__[0]


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses(status):
    assert is_retryable(http(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_non_retryable_statuses_are_raised_after_one_attempt(status):
    time = FakeTime()
    fn, calls = failing(http(status))
    with pytest.raises(ProviderHTTPError) as info:
        run(with_retries(fn, budget(time)))
    assert calls == [1] and time.sleeps == []
    assert info.value.__notes__ == ["tau: not retried: the error is not retryable"]


def test_transport_errors_are_retryable_other_errors_are_not():
    assert is_retryable(httpx.ConnectError("x"))
    assert is_retryable(StreamCutError("cut"))
    assert not is_retryable(ValueError("bug"))
    fn, calls = failing(ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        run(with_retries(fn, budget(FakeTime())))
    assert calls == [1]


def test_attempts_exhausted_raises_the_last_error_with_a_note():
    time = FakeTime()
    fn, calls = failing(http(500), http(502), http(503), http(504), http(500))
    with pytest.raises(ProviderHTTPError) as info:
        run(with_retries(fn, budget(time, max_attempts=3)))
    assert calls == [1, 2, 3]
    assert info.value.status == 503
    assert "retry budget spent (3 of 3 attempts" in info.value.__notes__[0]


def test_total_time_caps_the_waits():
    time = FakeTime()
    fn, calls = failing(*(http(500) for _ in range(10)))
    with pytest.raises(ProviderHTTPError) as info:
        run(
            with_retries(
                fn, budget(time, max_attempts=10, base=4.0, cap=100.0, max_total_seconds=10)
            )
        )
    # 4 s, then 6 s (8 s cut to what is left), then no time at all.
    assert time.sleeps == [4.0, 6.0]
    assert calls == [1, 2, 3]
    assert "10 s elapsed" in info.value.__notes__[0]


def test_no_retry_once_output_reached_the_caller():
    time = FakeTime()
    streamed: list[str] = []

    async def fn(attempt: Attempt) -> str:
        streamed.append("Hel")
        attempt.output_started()
        raise StreamCutError("cut mid-answer")

    with pytest.raises(StreamCutError) as info:
        run(with_retries(fn, budget(time)))
    assert streamed == ["Hel"]  # exactly once: never duplicated by a retry
    assert info.value.output_started is True
    assert "already been streamed" in info.value.__notes__[0]


def test_output_started_flag_on_the_exception_also_stops_retries():
    error = ProviderConnectionError("reset")
    error.output_started = True  # type: ignore[attr-defined]
    fn, calls = failing(error)
    with pytest.raises(ProviderConnectionError):
        run(with_retries(fn, budget(FakeTime())))
    assert calls == [1]


def test_nested_layers_on_one_budget_never_multiply():
    """A provider retrying inside a fallback layer retrying: 3 requests, not 3 x 3."""
    time = FakeTime()
    shared = budget(time, max_attempts=3)
    requests: list[int] = []

    async def provider_call(attempt: Attempt) -> str:
        requests.append(attempt.number)
        raise http(503)

    async def outer(attempt: Attempt) -> str:
        return await with_retries(provider_call, shared)

    with pytest.raises(ProviderHTTPError):
        run(with_retries(outer, shared))
    assert requests == [1, 2, 3]


def test_nested_inner_layer_makes_exactly_one_attempt_per_outer_attempt():
    time = FakeTime()
    shared = budget(time, max_attempts=6)
    inner_calls: list[int] = []

    async def inner(attempt: Attempt) -> str:
        inner_calls.append(attempt.number)
        if len(inner_calls) < 3:
            raise http(500)
        return "done"

    async def outer(attempt: Attempt) -> str:
        return await with_retries(inner, shared)

    assert run(with_retries(outer, shared)) == "done"
    assert len(inner_calls) == 3 and len(time.sleeps) == 2


def test_routes_tried_in_turn_share_one_budget():
    time = FakeTime()
    shared = budget(time, max_attempts=4)
    per_route: dict[str, int] = {"a": 0, "b": 0}

    def route(name: str):
        async def fn(attempt: Attempt) -> str:
            per_route[name] += 1
            raise http(502)

        return fn

    for name in ("a", "b"):
        with pytest.raises(ProviderHTTPError):
            run(with_retries(route(name), shared))
    assert per_route == {"a": 4, "b": 1}  # the second route got its first try, no more


def test_async_on_retry_is_awaited():
    seen: list[int] = []

    async def on_retry(event: RetryEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.attempt)

    fn, _ = failing(http(500), http(500))
    run(with_retries(fn, budget(FakeTime()), on_retry=on_retry))
    assert seen == [1, 2]


def test_budget_validation():
    with pytest.raises(UsageError):
        RetryBudget(max_attempts=0)
    with pytest.raises(UsageError):
        RetryBudget(max_total_seconds=-1)
    b = RetryBudget()
    assert b.remaining_seconds == b.max_total_seconds and b.attempts_left == 4


def test_against_a_loopback_server_that_fails_twice():
    """Real HTTP: 503, then 429 with Retry-After, then 200; the server counts 3 requests."""
    answers = [
        (503, b"", b'{"error": {"message": "busy"}}'),
        (429, b"retry-after: 2\r\n", b'{"error": {"message": "slow"}}'),
        (200, b"", b'{"ok": true}'),
    ]
    hits: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                hits.append(head.split(b"\r\n", 1)[0])
                status, extra, body = answers[min(len(hits), len(answers)) - 1]
                writer.write(
                    b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                    b"%scontent-length: %d\r\n\r\n%s" % (status, extra, len(body), body)
                )
                await writer.drain()
        finally:
            writer.close()

    time = FakeTime()

    async def main() -> bytes:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

                async def call(attempt: Attempt) -> bytes:
                    response = await client.get("/v1/models")
                    if response.status_code >= 400:
                        raise translate_response("openai", response)
                    return response.content

                return await with_retries(call, budget(time, base=0.25))
        finally:
            server.close()
            await server.wait_closed()

    assert run(main()) == b'{"ok": true}'
    assert len(hits) == 3
    assert time.sleeps == [0.25, 2.0]
