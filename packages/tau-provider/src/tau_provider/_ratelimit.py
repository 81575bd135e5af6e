"""Token-bucket rate limits per provider, for requests and for tokens, shared in-process.

Each provider gets one :class:`RateLimiter` holding up to two buckets: requests and model
tokens. A call reserves from both at once and then waits until its reservation is covered.
Buckets may go into debt, and every reservation queues behind the ones made before it, so
waiting is first come, first served without any wake-up machinery: a caller's wait is fixed
the moment it asks. A call whose wait would exceed ``max_wait`` reserves nothing and fails at
once with :class:`~tau_provider._errors.RateLimitWaitError` (the fallback chain may then try
another route); a cancelled waiter gives its reservation back.

State is guarded by a :class:`threading.Lock` held only for arithmetic, so one limiter serves
every run in the process, whichever thread or event loop it runs on. :func:`rate_limits`
returns the process-wide :class:`RateLimitRegistry`.

Config sets the limits where providers are built (:func:`apply_rate_limits`)::

    [providers.openai]
    requests_per_minute = 500      # the request bucket refills at this rate
    requests_burst = 50            # its size (default: a whole minute's worth)
    tokens_per_minute = 200000     # the token bucket, the same way
    tokens_burst = 40000
    rate_limit_max_wait = 60       # seconds a call may wait before RateLimitWaitError

Building a provider again with the same limits changes nothing, so a bucket in use keeps its
state; different limits replace the old ones in place, each bucket keeping what it already
holds (or owes), capped at its new size.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from attrs import define, frozen

from tau_core.errors import ConfigError, ProviderError, UsageError

__all__ = [
    "RATE_LIMIT_KEYS",
    "Bucket",
    "BucketSpec",
    "RateLimitRegistry",
    "RateLimitSettings",
    "RateLimitWaitError",
    "RateLimiter",
    "apply_rate_limits",
    "rate_limit_settings",
    "rate_limits",
]

RATE_LIMIT_KEYS = frozenset(
    {
        "requests_per_minute",
        "requests_burst",
        "tokens_per_minute",
        "tokens_burst",
        "rate_limit_max_wait",
    }
)
"""The keys of ``[providers.NAME]`` that set the provider's rate limits."""

DEFAULT_MAX_WAIT = 60.0


class RateLimitWaitError(ProviderError):
    """The local token bucket would make this call wait longer than its ``max_wait``.

    Attributes:
        provider: The provider whose limiter refused.
        wait: The wait the call would have needed, in seconds.
    """

    retryable = True

    def __init__(self, message: str, *, provider: str, wait: float) -> None:
        super().__init__(message)
        self.provider = provider
        self.wait = wait


@frozen
class BucketSpec:
    """How big a bucket is and how fast it refills.

    Attributes:
        capacity: Most units the bucket holds (the largest burst, and the largest single ask).
        refill_per_second: Units added per second.

    .. versionadded:: 0.1
    """

    capacity: float
    refill_per_second: float

    def __attrs_post_init__(self) -> None:
        if not (self.capacity > 0 and self.refill_per_second > 0):
            raise UsageError(
                f"a rate-limit bucket needs a positive capacity and refill, got {self!r}"
            )

    @classmethod
    def per_minute(cls, amount: float, *, burst: float | None = None) -> BucketSpec:
        """A bucket allowing *amount* units a minute, bursting up to *burst* (default: all)."""
        return cls(capacity=burst if burst is not None else amount, refill_per_second=amount / 60)


@define
class Bucket:
    """A token bucket that may go into debt; not locked (its limiter holds the lock).

    Attributes:
        spec: Capacity and refill rate.
        level: Units available now; negative while reservations wait.
        updated: Clock reading of the last refill.
    """

    spec: BucketSpec
    level: float
    updated: float

    def refill(self, now: float) -> None:
        """Add what accrued since the last refill, up to capacity."""
        if now > self.updated:
            gained = (now - self.updated) * self.spec.refill_per_second
            self.level = min(self.spec.capacity, self.level + gained)
            self.updated = now

    def wait_for(self, amount: float) -> float:
        """Seconds until *amount* more units would be covered, given reservations so far."""
        short = amount - self.level
        return 0.0 if short <= 0 else short / self.spec.refill_per_second


class RateLimiter:
    """The request and token buckets of one provider.

    Args:
        provider: Name used in error messages.
        requests: The request bucket, or None for no request limit.
        tokens: The token bucket, or None for no token limit.
        max_wait: Longest a call may wait before :class:`RateLimitWaitError`.
        clock: Monotonic clock (injectable for tests).
        sleep: Async sleep (injectable for tests).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        provider: str,
        *,
        requests: BucketSpec | None = None,
        tokens: BucketSpec | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        _check_max_wait(max_wait)
        self.provider = provider
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self.requests = None if requests is None else Bucket(requests, requests.capacity, now)
        self.tokens = None if tokens is None else Bucket(tokens, tokens.capacity, now)

    async def acquire(self, requests: int = 1, tokens: int = 0) -> float:
        """Wait, in arrival order, until *requests* and *tokens* are available, and take them.

        Args:
            requests: Requests this call makes.
            tokens: Tokens it is expected to use (prompt plus maximum output, or an estimate
                later corrected with :meth:`adjust`).

        Returns:
            Seconds waited (0.0 when nothing had to wait).

        Raises:
            RateLimitWaitError: The wait would exceed ``max_wait``; nothing was taken.
            UsageError: An amount is negative or larger than its bucket can ever hold.
        """
        wait = self._reserve(requests, tokens)
        if wait <= 0:
            return 0.0
        try:
            await self.sleep(wait)
        except BaseException:
            self._give_back(requests, tokens)
            raise
        return wait

    def set_limits(
        self,
        *,
        requests: BucketSpec | None,
        tokens: BucketSpec | None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> bool:
        """Change the limits in place, for every run already holding this limiter.

        A bucket whose spec changes keeps its level (recent use, or the debt of callers
        already waiting), capped at its new capacity; a new bucket starts full; a bucket set
        to None is dropped.

        Returns:
            False when the limits were these already (nothing was touched).
        """
        _check_max_wait(max_wait)
        with self._lock:
            current = (_spec(self.requests), _spec(self.tokens), self.max_wait)
            if current == (requests, tokens, max_wait):
                return False
            now = self.clock()
            self.requests = _rebucket(self.requests, requests, now)
            self.tokens = _rebucket(self.tokens, tokens, now)
            self.max_wait = max_wait
        return True

    def adjust(self, tokens: int) -> None:
        """Correct an estimate once usage is known: positive takes more, negative gives back."""
        with self._lock:
            if self.tokens is not None:
                self.tokens.refill(self.clock())
                self.tokens.level = min(self.tokens.spec.capacity, self.tokens.level - tokens)

    def _reserve(self, requests: int, tokens: int) -> float:
        if requests < 0 or tokens < 0:
            raise UsageError(f"cannot acquire negative amounts ({requests=}, {tokens=})")
        pairs = [
            (b, n) for b, n in ((self.requests, requests), (self.tokens, tokens)) if b is not None
        ]
        for bucket, amount in pairs:
            if amount > bucket.spec.capacity:
                what = "requests" if bucket is self.requests else "tokens"
                raise UsageError(
                    f"{self.provider}: one call asks for {amount} {what}, more than the bucket "
                    f"capacity {bucket.spec.capacity:g}; raise {what}_burst (or "
                    f"{what}_per_minute) in [providers.{self.provider}], or make the call "
                    f"smaller"
                )
        with self._lock:
            now = self.clock()
            wait = 0.0
            for bucket, amount in pairs:
                bucket.refill(now)
                wait = max(wait, bucket.wait_for(amount))
            if wait > self.max_wait:
                raise RateLimitWaitError(
                    f"{self.provider}: the local rate limit would make this call wait "
                    f"{wait:.1f} s, over max_wait {self.max_wait:g} s; lower concurrency, "
                    f"raise the limit, or configure a fallback",
                    provider=self.provider,
                    wait=wait,
                )
            for bucket, amount in pairs:
                bucket.level -= amount
        return wait

    def _give_back(self, requests: int, tokens: int) -> None:
        with self._lock:
            now = self.clock()
            for bucket, amount in ((self.requests, requests), (self.tokens, tokens)):
                if bucket is not None:
                    bucket.refill(now)
                    bucket.level = min(bucket.spec.capacity, bucket.level + amount)


class RateLimitRegistry:
    """One :class:`RateLimiter` per provider, shared by every run in the process.

    A provider never configured gets a limiter with no buckets (no limit).

    Args:
        clock: Clock for new limiters (injectable for tests).
        sleep: Sleep for new limiters (injectable for tests).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._limiters: dict[str, RateLimiter] = {}

    def configure(
        self,
        provider: str,
        *,
        requests: BucketSpec | None = None,
        tokens: BucketSpec | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> RateLimiter:
        """Set *provider*'s limits and return its limiter.

        The limiter is created on first use and kept after: configuring the same limits again
        changes nothing (a bucket in use keeps its state), and different limits replace the
        old ones in place (see :meth:`RateLimiter.set_limits`), so runs already holding the
        limiter follow the new limits too.
        """
        with self._lock:
            limiter = self._limiters.get(provider)
            if limiter is None:
                limiter = RateLimiter(
                    provider,
                    requests=requests,
                    tokens=tokens,
                    max_wait=max_wait,
                    clock=self.clock,
                    sleep=self.sleep,
                )
                self._limiters[provider] = limiter
            else:
                limiter.set_limits(requests=requests, tokens=tokens, max_wait=max_wait)
        return limiter

    def get(self, provider: str) -> RateLimiter:
        """*provider*'s limiter, an unlimited one when it was never configured."""
        with self._lock:
            limiter = self._limiters.get(provider)
            if limiter is None:
                limiter = RateLimiter(provider, clock=self.clock, sleep=self.sleep)
                self._limiters[provider] = limiter
            return limiter

    def clear(self) -> None:
        """Forget every limiter (tests, or after configuration changed)."""
        with self._lock:
            self._limiters.clear()


def _check_max_wait(max_wait: float) -> None:
    if not max_wait >= 0:  # also refuses NaN
        raise UsageError(f"max_wait must not be negative, got {max_wait}")


def _spec(bucket: Bucket | None) -> BucketSpec | None:
    return None if bucket is None else bucket.spec


def _rebucket(bucket: Bucket | None, spec: BucketSpec | None, now: float) -> Bucket | None:
    """*bucket* under *spec*: same level (capped), or full when new, or None when dropped."""
    if spec is None:
        return None
    if bucket is None:
        return Bucket(spec, spec.capacity, now)
    if bucket.spec == spec:
        return bucket
    bucket.refill(now)
    return Bucket(spec, min(bucket.level, spec.capacity), now)


# -- config ----------------------------------------------------------------------------------------


@frozen
class RateLimitSettings:
    """A provider's rate limits as config states them.

    Attributes:
        requests: The request bucket, or None for no request limit.
        tokens: The token bucket, or None for no token limit.
        max_wait: Longest a call may wait, in seconds.

    .. versionadded:: 0.1
    """

    requests: BucketSpec | None = None
    tokens: BucketSpec | None = None
    max_wait: float = DEFAULT_MAX_WAIT

    def apply(self, provider: str, registry: RateLimitRegistry | None = None) -> RateLimiter:
        """Configure *provider*'s limiter in *registry* (default: :func:`rate_limits`)."""
        return (registry or _REGISTRY).configure(
            provider, requests=self.requests, tokens=self.tokens, max_wait=self.max_wait
        )


def _positive(provider: str, options: Mapping[str, Any], key: str, example: str) -> float | None:
    value = options.get(key)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(
            f"must be a positive number, e.g. {key} = {example}; got {value!r}",
            key=f"providers.{provider}.{key}",
        )
    return float(value)


def _bucket(
    provider: str, options: Mapping[str, Any], what: str, rate_example: str, burst_example: str
) -> BucketSpec | None:
    rate = _positive(provider, options, f"{what}_per_minute", rate_example)
    burst = _positive(provider, options, f"{what}_burst", burst_example)
    if burst is not None and rate is None:
        raise ConfigError(
            f"needs {what}_per_minute in the same table (the burst is the size of that "
            f"bucket): add {what}_per_minute or remove {what}_burst",
            key=f"providers.{provider}.{what}_burst",
        )
    if rate is None:
        return None
    capacity = burst if burst is not None else rate
    if what == "requests" and capacity < 1:
        # Every call takes one request: a smaller bucket would refuse them all.
        key, fix = (
            ("requests_burst", "raise it to 1 or more")
            if burst is not None
            else ("requests_per_minute", "raise it, or set requests_burst = 1 or more")
        )
        raise ConfigError(
            f"makes a bucket of {capacity:g} requests, which cannot hold one call: {fix}",
            key=f"providers.{provider}.{key}",
        )
    return BucketSpec.per_minute(rate, burst=burst)


def rate_limit_settings(
    provider: str, options: Mapping[str, Any], *, models: Any = None
) -> RateLimitSettings | None:
    """Read and check the rate-limit keys of ``[providers.PROVIDER]``.

    Args:
        provider: The provider name, used in error keys (``providers.NAME.KEY``).
        options: The provider's options (per-model overrides already merged are fine).
        models: The provider's raw ``models`` table, if it has one: limits are per provider,
            so a rate-limit key inside ``models."MODEL"`` is refused.

    Returns:
        The settings, or None when *options* sets no rate-limit key.

    Raises:
        ConfigError: A value is not a positive number, a burst has no rate, a bucket could
            not hold one call, ``rate_limit_max_wait`` is negative or set alone, or a
            per-model table sets a rate limit.
    """
    _refuse_per_model(provider, models, f"providers.{provider}.models")
    if not RATE_LIMIT_KEYS & set(options):
        return None
    requests = _bucket(provider, options, "requests", "500", "50")
    tokens = _bucket(provider, options, "tokens", "200000", "40000")
    max_wait = options.get("rate_limit_max_wait", DEFAULT_MAX_WAIT)
    key = f"providers.{provider}.rate_limit_max_wait"
    if (
        isinstance(max_wait, bool)
        or not isinstance(max_wait, int | float)
        or not math.isfinite(max_wait)
        or max_wait < 0
    ):
        raise ConfigError(
            f"must be a number of seconds, 0 or more, e.g. rate_limit_max_wait = 60; "
            f"got {max_wait!r}",
            key=key,
        )
    if requests is None and tokens is None:
        raise ConfigError(
            "has no effect without requests_per_minute or tokens_per_minute in the same "
            "table: add a limit or remove it",
            key=key,
        )
    return RateLimitSettings(requests, tokens, float(max_wait))


_FREE_FORM = frozenset({"extra_body", "headers", "price", "prices"})
"""Option tables whose keys are the user's own (a request body field may have any name)."""


def _refuse_per_model(provider: str, table: Any, where: str) -> None:
    # Dotted model names arrive split (models."gpt-4.1" as models["gpt-4"]["1"]), so a model's
    # table can sit at any depth: search every table except the free-form ones.
    if not isinstance(table, Mapping):
        return
    for name, value in table.items():
        if name in RATE_LIMIT_KEYS:
            raise ConfigError(
                f"rate limits apply to the whole provider, not one model: move {name} to "
                f"[providers.{provider}]",
                key=f"{where}.{name}",
            )
        if name not in _FREE_FORM:
            _refuse_per_model(provider, value, f"{where}.{name}")


def apply_rate_limits(
    provider: str,
    options: Mapping[str, Any],
    *,
    models: Any = None,
    registry: RateLimitRegistry | None = None,
) -> RateLimiter | None:
    """Configure *provider*'s limiter from its options, if they set rate limits.

    Options without rate-limit keys leave the limiter as it is (limits set in Python with
    :meth:`RateLimitRegistry.configure` stay). The same limits again change nothing; others
    replace them in place (:meth:`RateLimiter.set_limits`).

    Args:
        provider: The provider name (the limiter's key, shared by all its models).
        options: ``[providers.NAME]`` (merged with any per-call options).
        models: The raw ``models`` table, checked for misplaced rate-limit keys.
        registry: Where to configure (default: the process-wide :func:`rate_limits`).

    Returns:
        The configured limiter, or None when *options* sets no limits.

    Raises:
        ConfigError: As for :func:`rate_limit_settings`; nothing is configured then.

    .. versionadded:: 0.1
    """
    settings = rate_limit_settings(provider, options, models=models)
    return None if settings is None else settings.apply(provider, registry)


_REGISTRY = RateLimitRegistry()


def rate_limits() -> RateLimitRegistry:
    """The process-wide :class:`RateLimitRegistry`."""
    return _REGISTRY
