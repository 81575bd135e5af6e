"""Circuit breakers: closed, open, half-open with exactly one probe, and their events."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tau_core.errors import ProviderConnectionError, ProviderHTTPError, UsageError
from tau_provider._breaker import (
    BreakerChange,
    BreakerRegistry,
    BreakerState,
    CircuitBreaker,
    CircuitOpenError,
    breakers,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, cool_down: float = 10.0):
    clock = Clock()
    changes: list[BreakerChange] = []
    breaker = CircuitBreaker(
        "openai:gpt-4.1",
        failure_threshold=threshold,
        cool_down=cool_down,
        clock=clock,
        on_change=changes.append,
    )
    return breaker, clock, changes


def fail(breaker: CircuitBreaker, exc: Exception | None = None) -> None:
    breaker.acquire().failure(exc or ProviderConnectionError("reset"))


def transitions(changes: list[BreakerChange]) -> list[tuple[str, str]]:
    return [(c.old.value, c.new.value) for c in changes]


def test_opens_after_n_consecutive_retryable_failures_and_refuses_calls():
    breaker, clock, changes = make(threshold=3)
    fail(breaker)
    fail(breaker)
    assert breaker.state is CLOSED and breaker.failures == 2
    fail(breaker)
    assert breaker.state is OPEN
    assert transitions(changes) == [("closed", "open")]
    assert "3 consecutive failures" in changes[0].reason
    clock.now = 4.0
    with pytest.raises(CircuitOpenError, match="next probe in 6.0 s") as info:
        breaker.acquire()
    assert info.value.route == "openai:gpt-4.1" and info.value.retry_in == 6.0
    assert info.value.retryable  # a fallback route may answer


def test_success_resets_the_consecutive_count():
    breaker, _, changes = make(threshold=3)
    fail(breaker)
    fail(breaker)
    breaker.acquire().success()
    fail(breaker)
    fail(breaker)
    assert breaker.state is CLOSED and changes == []


def test_non_retryable_errors_prove_the_route_answers():
    breaker, _, _ = make(threshold=2)
    fail(breaker)
    fail(breaker, ProviderHTTPError("bad request", status=400))
    fail(breaker)
    assert breaker.state is CLOSED
    fail(breaker, ProviderHTTPError("overloaded", status=529))
    assert breaker.state is OPEN


def test_half_open_lets_exactly_one_probe_through_and_success_closes():
    breaker, clock, changes = make(threshold=1, cool_down=10)
    fail(breaker)
    clock.now = 10.0
    assert breaker.state is HALF_OPEN
    probe = breaker.acquire()
    assert probe.probe
    for _ in range(3):
        with pytest.raises(CircuitOpenError, match="being probed"):
            breaker.acquire()
    probe.success()
    assert breaker.state is CLOSED
    assert transitions(changes) == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    breaker.acquire().success()  # closed again: calls flow


def test_failed_probe_reopens_for_another_cool_down():
    breaker, clock, changes = make(threshold=1, cool_down=10)
    fail(breaker)
    clock.now = 12.0
    breaker.acquire().failure(ProviderHTTPError("down", status=503))
    assert breaker.state is OPEN
    assert "probe failed" in changes[-1].reason
    clock.now = 21.0
    with pytest.raises(CircuitOpenError, match="next probe in 1.0 s"):
        breaker.acquire()
    clock.now = 22.0
    assert breaker.acquire().probe


def test_cancelled_probe_frees_the_slot_without_a_verdict():
    breaker, clock, _ = make(threshold=1)
    fail(breaker)
    clock.now = 100.0
    breaker.acquire().release()
    assert breaker.state is HALF_OPEN
    breaker.acquire().success()
    assert breaker.state is CLOSED


def test_a_straggler_from_before_the_change_cannot_reopen():
    breaker, clock, _ = make(threshold=2, cool_down=5)
    slow = breaker.acquire()  # started while closed
    fail(breaker)
    fail(breaker)
    clock.now = 5.0
    breaker.acquire().success()  # probe closes it
    slow.failure(ProviderConnectionError("late"))
    slow.failure(ProviderConnectionError("reported twice"))
    assert breaker.state is CLOSED and breaker.failures == 0


def test_guard_reports_outcomes_and_concurrent_async_callers_during_half_open():
    breaker, clock, _ = make(threshold=1, cool_down=1)
    fail(breaker)
    clock.now = 1.0
    gate = asyncio.Event()
    outcomes: list[str] = []

    async def call(name: str) -> None:
        try:
            with breaker.guard():
                outcomes.append(f"{name} probing")
                await gate.wait()
        except CircuitOpenError:
            outcomes.append(f"{name} refused")

    async def main() -> None:
        tasks = [asyncio.create_task(call(f"t{i}")) for i in range(5)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert outcomes.count("t0 probing") == 1
    assert sorted(o for o in outcomes if o.endswith("refused")) == [
        f"t{i} refused" for i in range(1, 5)
    ]
    assert breaker.state is CLOSED


def test_guard_counts_exceptions_and_releases_on_cancellation():
    breaker, clock, _ = make(threshold=1, cool_down=1)
    with pytest.raises(ProviderConnectionError), breaker.guard():
        raise ProviderConnectionError("reset")
    assert breaker.state is OPEN
    clock.now = 1.0
    with pytest.raises(KeyboardInterrupt), breaker.guard():
        raise KeyboardInterrupt
    assert breaker.state is HALF_OPEN  # the probe slot is free again
    with breaker.guard():
        pass
    assert breaker.state is CLOSED


def test_threads_racing_for_the_probe_get_exactly_one():
    breaker, clock, _ = make(threshold=1, cool_down=1)
    fail(breaker)
    clock.now = 1.0
    start = threading.Barrier(16)
    granted: list[int] = []
    refused: list[int] = []

    def worker(i: int) -> None:
        start.wait()
        try:
            breaker.acquire()
            granted.append(i)
        except CircuitOpenError:
            refused.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 1 and len(refused) == 15


def test_reset_and_validation():
    breaker, _, changes = make(threshold=1)
    fail(breaker)
    breaker.reset()
    assert breaker.state is CLOSED and transitions(changes)[-1] == ("open", "closed")
    with pytest.raises(UsageError):
        CircuitBreaker("r", failure_threshold=0)
    with pytest.raises(UsageError):
        CircuitBreaker("r", cool_down=-1)


def test_registry_shares_breakers_per_route_and_broadcasts_changes():
    clock = Clock()
    registry = BreakerRegistry(failure_threshold=2, cool_down=3, clock=clock)
    seen: list[BreakerChange] = []
    unsubscribe = registry.subscribe(seen.append)
    a = registry.get("openai:gpt-4.1")
    assert registry.get("openai:gpt-4.1") is a
    b = registry.get("anthropic:claude", failure_threshold=1)
    fail(b)
    assert registry.states() == {"openai:gpt-4.1": CLOSED, "anthropic:claude": OPEN}
    assert [c.route for c in seen] == ["anthropic:claude"]
    unsubscribe()
    unsubscribe()  # twice is harmless
    fail(a)
    fail(a)
    assert len(seen) == 1
    registry.clear()
    assert registry.get("openai:gpt-4.1") is not a


def test_process_wide_registry_is_one_object():
    assert breakers() is breakers()
