"""Token buckets per provider for requests and tokens: FIFO waits, max wait, sharing."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tau_core.errors import UsageError
from tau_provider._ratelimit import (
    BucketSpec,
    RateLimiter,
    RateLimitRegistry,
    RateLimitWaitError,
    rate_limits,
)


class FakeTime:
    """Sleeping records the wait and yields; the clock moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(0)


def limiter(time: FakeTime, **kwargs) -> RateLimiter:
    return RateLimiter("openai", clock=time.clock, sleep=time.sleep, **kwargs)


def test_burst_up_to_capacity_then_waits_for_refill():
    time = FakeTime()
    lim = limiter(time, requests=BucketSpec(capacity=3, refill_per_second=1.0))

    async def main() -> list[float]:
        return [await lim.acquire() for _ in range(5)]

    assert asyncio.run(main()) == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_concurrent_waiters_are_served_first_come_first_served():
    time = FakeTime()
    lim = limiter(time, requests=BucketSpec(capacity=1, refill_per_second=2.0))
    order: list[int] = []

    async def caller(i: int) -> None:
        waited = await lim.acquire()
        order.append(i)
        assert waited == i * 0.5

    async def main() -> None:
        await asyncio.gather(*(caller(i) for i in range(6)))

    asyncio.run(main())
    assert time.sleeps == [0.5, 1.0, 1.5, 2.0, 2.5]


def test_refill_over_time_is_capped_at_capacity():
    time = FakeTime()
    lim = limiter(time, requests=BucketSpec(capacity=2, refill_per_second=1.0))

    async def main() -> list[float]:
        waits = [await lim.acquire(), await lim.acquire()]
        time.now = 1000.0  # a long idle period refills only up to capacity
        waits += [await lim.acquire(), await lim.acquire(), await lim.acquire()]
        return waits

    assert asyncio.run(main()) == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_tokens_and_requests_both_limit_and_the_longer_wait_wins():
    time = FakeTime()
    lim = limiter(
        time,
        requests=BucketSpec(capacity=100, refill_per_second=100),
        tokens=BucketSpec.per_minute(6000),  # 100 tokens a second
    )

    async def main() -> list[float]:
        return [await lim.acquire(tokens=5000), await lim.acquire(tokens=2000)]

    assert asyncio.run(main()) == [0.0, 10.0]
    assert lim.tokens is not None and lim.tokens.level == -1000


def test_wait_over_max_wait_raises_at_once_and_takes_nothing():
    time = FakeTime()
    lim = limiter(time, tokens=BucketSpec(capacity=1000, refill_per_second=10), max_wait=30)

    async def main() -> None:
        await lim.acquire(tokens=1000)
        with pytest.raises(RateLimitWaitError, match=r"wait 50.0 s, over max_wait 30 s") as info:
            await lim.acquire(tokens=500)
        assert info.value.wait == 50.0 and info.value.provider == "openai"
        assert info.value.retryable
        assert await lim.acquire(tokens=200) == 20.0  # the refused call reserved nothing

    asyncio.run(main())
    assert time.sleeps == [20.0]


def test_cancelled_waiter_gives_its_reservation_back():
    time = FakeTime()
    gate = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        await gate.wait()

    lim = RateLimiter(
        "anthropic",
        requests=BucketSpec(capacity=1, refill_per_second=1),
        clock=time.clock,
        sleep=blocking_sleep,
    )

    async def main() -> None:
        await lim.acquire()
        waiter = asyncio.create_task(lim.acquire())
        await asyncio.sleep(0)
        assert lim.requests is not None and lim.requests.level == -1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert lim.requests.level == 0

    asyncio.run(main())


def test_adjust_corrects_an_estimate():
    time = FakeTime()
    lim = limiter(time, tokens=BucketSpec(capacity=1000, refill_per_second=10))

    async def main() -> float:
        await lim.acquire(tokens=800)  # estimated
        lim.adjust(tokens=-600)  # only 200 were used
        return await lim.acquire(tokens=700)

    assert asyncio.run(main()) == 0.0
    lim.adjust(tokens=5000)
    assert lim.tokens is not None and lim.tokens.level == -4900


def test_misuse_is_a_clear_usage_error():
    time = FakeTime()
    lim = limiter(time, tokens=BucketSpec(capacity=100, refill_per_second=1))
    with pytest.raises(UsageError, match="asks for 101 tokens, more than the bucket capacity 100"):
        asyncio.run(lim.acquire(tokens=101))
    with pytest.raises(UsageError):
        asyncio.run(lim.acquire(requests=-1))
    with pytest.raises(UsageError):
        BucketSpec(capacity=0, refill_per_second=1)
    with pytest.raises(UsageError):
        RateLimiter("x", max_wait=-1)


def test_unconfigured_provider_is_unlimited():
    registry = RateLimitRegistry()

    async def main() -> list[float]:
        lim = registry.get("gemini")
        return [await lim.acquire(tokens=10**9) for _ in range(100)]

    assert set(asyncio.run(main())) == {0.0}


def test_registry_shares_one_limiter_across_runs_and_threads():
    time = FakeTime()
    registry = RateLimitRegistry(clock=time.clock, sleep=time.sleep)
    registry.configure(
        "openai", requests=BucketSpec(capacity=10, refill_per_second=1), max_wait=1e9
    )
    waits: list[float] = []
    lock = threading.Lock()

    def run_in_its_own_loop() -> None:
        async def one_run() -> None:
            for _ in range(5):
                waited = await registry.get("openai").acquire()
                with lock:
                    waits.append(waited)

        asyncio.run(one_run())

    threads = [threading.Thread(target=run_in_its_own_loop) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 requests on a bucket of 10: ten pass at once, the rest queue one second apart.
    assert sorted(waits) == [0.0] * 10 + [float(i) for i in range(1, 11)]


def test_reconfigure_replaces_and_clear_forgets():
    registry = RateLimitRegistry()
    first = registry.configure("openai", requests=BucketSpec.per_minute(60, burst=5))
    assert registry.get("openai") is first
    assert first.requests is not None and first.requests.spec == BucketSpec(5, 1.0)
    second = registry.configure("openai", requests=BucketSpec.per_minute(120))
    assert registry.get("openai") is second
    registry.clear()
    assert registry.get("openai").requests is None
    assert rate_limits() is rate_limits()
