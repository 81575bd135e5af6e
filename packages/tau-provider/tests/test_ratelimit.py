"""Token buckets per provider for requests and tokens: FIFO waits, max wait, sharing, and
the limits read from ``[providers.NAME]`` by every provider factory."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tau_core._config import load_config
from tau_core._messages import Message, ModelRequest
from tau_core.errors import ConfigError, UsageError
from tau_provider._anthropic import anthropic_factory
from tau_provider._compatible import compatible_factory, openrouter_factory
from tau_provider._gemini import gemini_factory
from tau_provider._openai import openai_factory
from tau_provider._ratelimit import (
    BucketSpec,
    RateLimiter,
    RateLimitRegistry,
    RateLimitSettings,
    RateLimitWaitError,
    apply_rate_limits,
    rate_limit_settings,
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


# -- limits from config ------------------------------------------------------------------------


lb = sys.modules["tau_provider_tests_openai_loopback"]  # loaded by conftest.py
KEY = "sk-test-0123456789abcdefghij"


@pytest.fixture
def fresh_limits() -> Iterator[RateLimitRegistry]:
    rate_limits().clear()
    yield rate_limits()
    rate_limits().clear()


def config_from(tmp_path: Path, text: str) -> Any:
    """The merged config of a project whose tau.toml is *text* (TAU_HOME is private)."""
    (tmp_path / "tau.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path)


def test_config_keys_become_buckets_and_no_keys_means_no_settings():
    settings = rate_limit_settings(
        "openai",
        {
            "requests_per_minute": 500,
            "requests_burst": 50,
            "tokens_per_minute": 200_000,
            "tokens_burst": 40_000,
            "rate_limit_max_wait": 30,
            "api_key": KEY,
        },
    )
    assert settings == RateLimitSettings(
        requests=BucketSpec(capacity=50, refill_per_second=500 / 60),
        tokens=BucketSpec(capacity=40_000, refill_per_second=200_000 / 60),
        max_wait=30.0,
    )
    # Without a burst the bucket holds a whole minute's worth.
    only_tokens = rate_limit_settings("openai", {"tokens_per_minute": 90_000})
    assert only_tokens == RateLimitSettings(tokens=BucketSpec(90_000, 1500.0))
    assert rate_limit_settings("openai", {"base_url": "http://x", "price": {"input": 1}}) is None


PROVIDER_TABLES = {
    "openai": ("openai_factory", f'api_key = "{KEY}"'),
    "openrouter": ("openrouter_factory", f'api_key = "{KEY}"'),
    "ollama": ("compatible", 'kind = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"'),
    "anthropic": ("anthropic_factory", f'api_key = "{KEY}"'),
    "gemini": ("gemini_factory", f'api_key = "{KEY}"'),
}


def build(name: str, config: Any) -> Any:
    factories = {
        "openai_factory": openai_factory,
        "openrouter_factory": openrouter_factory,
        "compatible": compatible_factory(name),
        "anthropic_factory": anthropic_factory,
        "gemini_factory": gemini_factory,
    }
    return factories[PROVIDER_TABLES[name][0]]("some-model", config)


@pytest.mark.parametrize("name", sorted(PROVIDER_TABLES))
def test_every_provider_factory_applies_the_limits_of_its_table(
    name, tmp_path, tau_home, fresh_limits
):
    config = config_from(
        tmp_path,
        f"[providers.{name}]\n{PROVIDER_TABLES[name][1]}\n"
        "requests_per_minute = 120\ntokens_per_minute = 90000\nrate_limit_max_wait = 5\n",
    )
    build(name, config)
    limiter = fresh_limits.get(name)
    assert limiter.requests is not None and limiter.requests.spec == BucketSpec(120, 2.0)
    assert limiter.tokens is not None and limiter.tokens.spec == BucketSpec(90_000, 1500.0)
    assert limiter.max_wait == 5.0
    # Other providers are untouched.
    other = "gemini" if name != "gemini" else "openai"
    assert fresh_limits.get(other).requests is None


BAD_VALUES = [
    ("requests_per_minute = 0", "requests_per_minute", "must be a positive number"),
    ("requests_per_minute = -5", "requests_per_minute", "must be a positive number"),
    ('requests_per_minute = "500"', "requests_per_minute", r"got '500'"),
    ("requests_per_minute = true", "requests_per_minute", "must be a positive number"),
    ("tokens_per_minute = inf", "tokens_per_minute", "must be a positive number"),
    ("tokens_per_minute = nan", "tokens_per_minute", "must be a positive number"),
    ("tokens_burst = 1000", "tokens_burst", "needs tokens_per_minute in the same table"),
    (
        "requests_per_minute = 60\nrequests_burst = 0.5",
        "requests_burst",
        "cannot hold one call: raise it to 1 or more",
    ),
    (
        "requests_per_minute = 0.5",
        "requests_per_minute",
        "set requests_burst = 1 or more",
    ),
    (
        "requests_per_minute = 60\nrate_limit_max_wait = -1",
        "rate_limit_max_wait",
        "0 or more",
    ),
    ("rate_limit_max_wait = 30", "rate_limit_max_wait", "has no effect without"),
]


@pytest.mark.parametrize(("lines", "key", "message"), BAD_VALUES)
@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_bad_values_are_refused_naming_the_key_and_change_no_limiter(
    name, lines, key, message, tmp_path, tau_home, fresh_limits
):
    before = fresh_limits.configure(name, requests=BucketSpec(7, 1.0))
    config = config_from(tmp_path, f"[providers.{name}]\n{PROVIDER_TABLES[name][1]}\n{lines}\n")
    with pytest.raises(ConfigError, match=message) as info:
        build(name, config)
    assert info.value.key == f"providers.{name}.{key}"
    assert f"'providers.{name}.{key}'" in str(info.value)
    assert fresh_limits.get(name) is before
    assert before.requests is not None and before.requests.spec == BucketSpec(7, 1.0)


def test_a_rate_limit_inside_a_model_table_is_refused(tmp_path, tau_home, fresh_limits):
    config = config_from(
        tmp_path,
        f'[providers.openai]\napi_key = "{KEY}"\n\n'
        '[providers.openai.models."gpt-4.1"]\nrequests_per_minute = 10\n',
    )
    with pytest.raises(ConfigError, match=r"move requests_per_minute to \[providers.openai\]"):
        openai_factory("gpt-4.1-mini", config)
    assert fresh_limits.get("openai").requests is None
    # A request body field of that name is the user's business, not a rate limit.
    config = config_from(
        tmp_path,
        f'[providers.openai]\napi_key = "{KEY}"\n\n'
        '[providers.openai.models."gpt-4.1".extra_body]\nrequests_per_minute = 10\n',
    )
    provider = openai_factory("gpt-4.1", config)
    assert provider.endpoint.extra_body == {"requests_per_minute": 10}
    assert fresh_limits.get("openai").requests is None


def test_the_same_limits_again_keep_the_bucket_and_new_ones_replace_them_in_place():
    time = FakeTime()
    registry = RateLimitRegistry(clock=time.clock, sleep=time.sleep)
    options = {"requests_per_minute": 60, "requests_burst": 10}
    first = apply_rate_limits("openai", options, registry=registry)
    assert first is not None and first.requests is not None

    async def take(n: int) -> list[float]:
        return [await first.acquire() for _ in range(n)]

    asyncio.run(take(4))
    assert first.requests.level == 6
    # Building another provider with the same table (a second run) keeps the used bucket.
    assert apply_rate_limits("openai", dict(options), registry=registry) is first
    assert first.requests.level == 6
    # Options with no rate-limit key leave the limiter as it is.
    assert apply_rate_limits("openai", {"api_key": KEY}, registry=registry) is None
    assert registry.get("openai").requests is first.requests
    # New values replace the limits in place: runs holding the limiter follow them, and what
    # was used stays used (capped at the new size), so no fresh burst is handed out.
    smaller = apply_rate_limits(
        "openai", {"requests_per_minute": 120, "requests_burst": 5}, registry=registry
    )
    assert smaller is first
    assert first.requests.spec == BucketSpec(5, 2.0) and first.requests.level == 5
    asyncio.run(take(5))
    larger = apply_rate_limits(
        "openai",
        {"requests_per_minute": 120, "requests_burst": 50, "tokens_per_minute": 6000},
        registry=registry,
    )
    assert larger is first and first.requests.level == 0
    assert first.tokens is not None and first.tokens.level == 6000  # a new bucket starts full
    assert asyncio.run(take(1)) == [0.5]  # refilling at the new rate, 2 a second


class SteppedTime:
    """A clock that moves only when the test moves it; sleepers wake once it passes their time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self.sleepers.append((self.now + seconds, future))
        await future

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = [(at, f) for at, f in self.sleepers if at <= self.now]
        self.sleepers = [(at, f) for at, f in self.sleepers if at > self.now]
        for _, future in due:
            if not future.done():
                future.set_result(None)


def test_two_concurrent_runs_share_the_configured_bucket_at_the_server(
    tmp_path, tau_home, fresh_limits, monkeypatch
):
    time = SteppedTime()
    monkeypatch.setattr(fresh_limits, "clock", time.clock)
    monkeypatch.setattr(fresh_limits, "sleep", time.sleep)
    server = lb.LoopbackServer()
    try:
        server.queue(*(lb.sse_reply("chat_text.sse") for _ in range(10)))
        text = (
            f'[providers.openai]\nbase_url = "{server.url}"\napi_key = "{KEY}"\n'
            "requests_per_minute = 60\nrequests_burst = 3\n"
        )
        # Two runs in one process, each building its own provider from the same config.
        runs = [openai_factory("gpt-4.1", config_from(tmp_path, text)) for _ in range(2)]
        request = ModelRequest(model="gpt-4.1", messages=(Message.user("Say hello."),))
        finished: list[int] = []

        async def one_run(i: int) -> None:
            for _ in range(5):
                await runs[i].complete(request)
            finished.append(i)

        async def settled() -> None:
            # Every run has finished or waits on the limiter: no request is in flight.
            while len(time.sleepers) + len(finished) < len(runs):
                await asyncio.sleep(0.001)

        async def main() -> list[int]:
            tasks = [asyncio.create_task(one_run(i)) for i in range(len(runs))]
            seen: list[int] = []
            await asyncio.wait_for(settled(), 30)  # a guard against a hang, not a timing
            seen.append(server.count)
            while len(finished) < len(runs):
                time.advance(1.0)
                await asyncio.wait_for(settled(), 30)
                seen.append(server.count)
            await asyncio.gather(*tasks)
            return seen

        per_second = asyncio.run(main())
    finally:
        server.close()
    # Ten calls against one bucket of 3 refilling at 1 a second: 3 at once, then one a second
    # (two private buckets would have let 6 through at once).
    assert per_second == [3, 4, 5, 6, 7, 8, 9, 10]
    limiter = fresh_limits.get("openai")
    assert limiter.requests is not None
    level = limiter.requests.level
    assert level < 0  # in use: the last calls reserved ahead of the refill
    # A third run built from the same config meets the same, used bucket.
    openai_factory("gpt-4.1", config_from(tmp_path, text))
    assert fresh_limits.get("openai") is limiter and limiter.requests.level == level
