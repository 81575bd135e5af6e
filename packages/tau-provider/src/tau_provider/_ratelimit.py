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
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from attrs import define, frozen

from tau_core.errors import ProviderError, UsageError

__all__ = [
    "Bucket",
    "BucketSpec",
    "RateLimitRegistry",
    "RateLimitWaitError",
    "RateLimiter",
    "rate_limits",
]


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
        max_wait: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_wait < 0:
            raise UsageError(f"max_wait must not be negative, got {max_wait}")
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
                    f"capacity {bucket.spec.capacity:g}; raise the {what} capacity in the "
                    f"provider's rate-limit config or make the call smaller"
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
        max_wait: float = 60.0,
    ) -> RateLimiter:
        """Set (or replace) *provider*'s limits; returns its new limiter."""
        limiter = RateLimiter(
            provider,
            requests=requests,
            tokens=tokens,
            max_wait=max_wait,
            clock=self.clock,
            sleep=self.sleep,
        )
        with self._lock:
            self._limiters[provider] = limiter
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


_REGISTRY = RateLimitRegistry()


def rate_limits() -> RateLimitRegistry:
    """The process-wide :class:`RateLimitRegistry`."""
    return _REGISTRY
