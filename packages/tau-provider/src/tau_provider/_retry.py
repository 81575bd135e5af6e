"""One retry budget for a whole call path, so retries never multiply across layers.

A :class:`RetryBudget` is created once per model call and passed down to every layer that
might retry. It counts attempts and elapsed time for the whole path: a layer that retries
spends from the same budget as every other. When :func:`with_retries` is entered again with a
budget that an outer :func:`with_retries` is already spending (in the same task, or a task
it started), the inner call runs once as part of the outer attempt (same :class:`Attempt`,
no extra count) and leaves retrying to the outer one.
So an SDK-style retry inside a provider inside a fallback loop costs at most
``max_attempts`` requests, never their product.

Backoff is exponential with full jitter (a uniform draw in ``[0, min(cap, base * 2**n)]``);
a ``Retry-After`` the provider sent is honoured exactly, and when it would overrun the time
left in the budget the call gives up at once instead of retrying too early. Output already
streamed to the caller is never retried: the attempt says so with
:meth:`Attempt.output_started` (or the exception carries ``output_started = True``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from attrs import define, field, frozen

from tau_core.errors import ProviderError, UsageError

__all__ = ["Attempt", "RetryBudget", "RetryEvent", "is_retryable", "with_retries"]

T = TypeVar("T")

_ACTIVE: contextvars.ContextVar[tuple[RetryBudget, Attempt] | None] = contextvars.ContextVar(
    "tau_provider_retry_budget", default=None
)


@define
class RetryBudget:
    """Attempts and time allowed for one call path, shared by every layer of it.

    Args:
        max_attempts: Total attempts, the first included (1 means never retry).
        max_total_seconds: Wall time from the first attempt after which no retry starts
            (waits are cut to fit; a ``Retry-After`` that does not fit ends the call).
        base: First backoff ceiling in seconds (doubles per retry).
        cap: Largest backoff ceiling in seconds.
        clock: Monotonic clock (injectable for tests).
        sleep: Async sleep (injectable for tests).
        random: Uniform ``[0, 1)`` source for jitter (injectable for tests).

    .. versionadded:: 0.1
    """

    max_attempts: int = 4
    max_total_seconds: float = 120.0
    base: float = 0.5
    cap: float = 20.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)
    attempts: int = field(default=0, init=False)
    started: float | None = field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise UsageError(
                f"RetryBudget.max_attempts must be at least 1, got {self.max_attempts}"
            )
        if self.max_total_seconds < 0 or self.base < 0 or self.cap < 0:
            raise UsageError("RetryBudget times must not be negative")

    @property
    def elapsed(self) -> float:
        """Seconds since the first attempt on this budget (0 before it)."""
        return 0.0 if self.started is None else self.clock() - self.started

    @property
    def remaining_seconds(self) -> float:
        """Seconds left before no retry may start."""
        return max(0.0, self.max_total_seconds - self.elapsed)

    @property
    def attempts_left(self) -> int:
        """Attempts still allowed on this budget."""
        return max(0, self.max_attempts - self.attempts)

    def backoff(self, retry_index: int) -> float:
        """Full-jitter delay before retry number *retry_index* (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2.0 ** min(retry_index, 62)))
        return self.random() * ceiling

    def _begin_attempt(self) -> int:
        if self.started is None:
            self.started = self.clock()
        self.attempts += 1
        return self.attempts


@frozen
class RetryEvent:
    """Reported to ``on_retry`` before each wait-and-retry.

    Attributes:
        attempt: The attempt that failed (1-based, counted on the whole budget).
        delay: Seconds the call will now wait.
        error: The retryable error.
        retry_after: The wait the provider asked for, when it did.
    """

    attempt: int
    delay: float
    error: BaseException
    retry_after: float | None


@define
class Attempt:
    """Handed to the retried function: which attempt this is, and a way to say output began.

    Attributes:
        number: 1-based attempt number on the whole budget.
        streamed: Whether this attempt already passed output to the caller.
    """

    number: int
    streamed: bool = False

    def output_started(self) -> None:
        """Mark that output reached the caller: a failure from now on is never retried."""
        self.streamed = True


def is_retryable(exc: BaseException) -> bool:
    """Whether trying the same route again may succeed.

    True for Tau ``ProviderError``\\ s marked retryable (transport failures, timeouts,
    408/409/425/429/5xx/529, cut streams) and for raw httpx transport errors; False otherwise.
    """
    if isinstance(exc, ProviderError):
        return bool(exc.retryable)
    return isinstance(exc, httpx.TransportError)


def _retry_after(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    if isinstance(value, int | float) and value >= 0:
        return float(value)
    return None


async def with_retries(
    fn: Callable[[Attempt], Awaitable[T]],
    budget: RetryBudget,
    *,
    on_retry: Callable[[RetryEvent], object] | None = None,
) -> T:
    """Call *fn* until it succeeds, fails for good, or the budget runs out.

    Args:
        fn: The attempt; it receives an :class:`Attempt` and calls
            :meth:`Attempt.output_started` once it has passed output to the caller.
        budget: The call path's budget (the same object at every layer).
        on_retry: Called with a :class:`RetryEvent` before each wait; may be async.

    Returns:
        What *fn* returned.

    Raises:
        BaseException: The last error, unchanged, with a note saying why retrying stopped
            (not retryable, output already streamed, attempts or time exhausted).
    """
    active = _ACTIVE.get()
    if active is not None and active[0] is budget:
        # An outer layer is already retrying on this budget: this is part of its attempt.
        return await fn(active[1])
    retry_index = 0
    while True:
        attempt = Attempt(budget._begin_attempt())
        token = _ACTIVE.set((budget, attempt))
        try:
            return await fn(attempt)
        except Exception as exc:
            delay, why = _decide(exc, attempt, budget, retry_index)
            if delay is None:
                exc.add_note(f"tau: not retried: {why}")
                raise
            event = RetryEvent(attempt.number, delay, exc, _retry_after(exc))
        finally:
            _ACTIVE.reset(token)
        if on_retry is not None:
            result = on_retry(event)
            if inspect.isawaitable(result):
                await result
        await budget.sleep(delay)
        retry_index += 1


def _decide(
    exc: Exception, attempt: Attempt, budget: RetryBudget, retry_index: int
) -> tuple[float | None, str]:
    """The wait before the next attempt, or None and the reason to give up."""
    if attempt.streamed or getattr(exc, "output_started", False):
        _mark_streamed(exc)
        return None, "output had already been streamed to the caller"
    if not is_retryable(exc):
        return None, "the error is not retryable"
    if budget.attempts_left == 0:
        return None, (
            f"retry budget spent ({budget.attempts} of {budget.max_attempts} attempts "
            f"in {budget.elapsed:.1f} s)"
        )
    remaining = budget.remaining_seconds
    asked = _retry_after(exc)
    if asked is not None:
        if asked > remaining:
            return None, (
                f"the provider asked to wait {asked:g} s, more than the {remaining:.1f} s left "
                f"in the retry budget"
            )
        return asked, ""
    if remaining <= 0:
        return None, f"retry budget spent ({budget.max_total_seconds:g} s elapsed)"
    return min(budget.backoff(retry_index), remaining), ""


def _mark_streamed(exc: BaseException) -> None:
    # An exception type with __slots__ refuses the attribute; the note still says so.
    with contextlib.suppress(AttributeError):
        exc.output_started = True  # type: ignore[attr-defined]
