"""Per-route circuit breakers: stop calling a route that keeps failing, probe it later.

::

    CLOSED ──(failure_threshold consecutive retryable failures)──▶ OPEN
    OPEN ──(cool_down elapsed, next call)──▶ HALF_OPEN: exactly one probe in flight;
                                             every other caller is refused meanwhile
    HALF_OPEN ──probe succeeds──▶ CLOSED      HALF_OPEN ──probe fails──▶ OPEN (cool-down again)

Only retryable failures (transport errors, timeouts, 408/409/425/429/5xx) count against a
route. Any other outcome, a 400 or a 401 included, proves the route answers, so it counts as
healthy: it resets the failure count and closes a half-open breaker. A verdict from a call that
started before the breaker last changed state is ignored, so a slow straggler cannot reopen
a breaker its probe just closed.

State lives behind a :class:`threading.Lock` held only for arithmetic (never across an await),
so one breaker is safe from threads and from many asyncio tasks at once. Callbacks run after
the lock is released. :func:`breakers` returns the process-wide :class:`BreakerRegistry`.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from attrs import frozen

from tau_core.errors import ProviderError, UsageError

from ._retry import is_retryable

__all__ = [
    "BreakerChange",
    "BreakerRegistry",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpenError",
    "Permit",
    "breakers",
]


class CircuitOpenError(ProviderError):
    """A route's circuit breaker is open (or half-open with its one probe in flight).

    Retryable in the fallback sense: another route may answer.

    Attributes:
        route: The route spec whose breaker refused, e.g. ``"openai:gpt-4.1"``.
        retry_in: Seconds until the breaker lets a probe through, when known.
    """

    retryable = True

    def __init__(self, message: str, *, route: str, retry_in: float | None = None) -> None:
        super().__init__(message)
        self.route = route
        self.retry_in = retry_in


class BreakerState(enum.Enum):
    """Where a breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@frozen
class BreakerChange:
    """One state change, as reported to listeners.

    Attributes:
        route: The route spec, e.g. ``"openai:gpt-4.1"``.
        old: The state before.
        new: The state after.
        reason: Why, in words.
        at: The breaker clock's reading.
    """

    route: str
    old: BreakerState
    new: BreakerState
    reason: str
    at: float


class Permit:
    """Leave to make one call; report its outcome exactly once (later reports are ignored)."""

    __slots__ = ("_breaker", "_done", "_generation", "probe")

    def __init__(self, breaker: CircuitBreaker, generation: int, probe: bool) -> None:
        self._breaker = breaker
        self._generation = generation
        self._done = False
        self.probe = probe

    def success(self) -> None:
        """The call succeeded (or failed in a way that proves the route answers)."""
        self._report(failed=False, reason="a call succeeded")

    def failure(self, exc: BaseException) -> None:
        """The call failed with *exc*; only retryable errors count against the route."""
        retryable = is_retryable(exc)
        reason = f"{type(exc).__name__}: {exc}" if retryable else "a call was answered"
        self._report(failed=retryable, reason=reason)

    def release(self) -> None:
        """Give the permit back without a verdict (the call was cancelled)."""
        if not self._done:
            self._done = True
            self._breaker._release(self)

    def _report(self, *, failed: bool, reason: str) -> None:
        if not self._done:
            self._done = True
            self._breaker._record(self, failed=failed, reason=reason)


class CircuitBreaker:
    """A closed/open/half-open breaker for one route.

    Args:
        route: The route spec it guards.
        failure_threshold: Consecutive retryable failures that open it.
        cool_down: Seconds open before one probe is let through.
        clock: Monotonic clock (injectable for tests).
        on_change: Called with a :class:`BreakerChange` after every state change.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        route: str,
        *,
        failure_threshold: int = 5,
        cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerChange], object] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise UsageError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if cool_down < 0:
            raise UsageError(f"cool_down must not be negative, got {cool_down}")
        self.route = route
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self.on_change = on_change
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._generation = 0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose cool-down passed reads as half-open)."""
        with self._lock:
            if self._state is BreakerState.OPEN and self._cooled():
                return BreakerState.HALF_OPEN
            return self._state

    @property
    def failures(self) -> int:
        """Consecutive retryable failures counted while closed."""
        return self._failures

    def acquire(self) -> Permit:
        """Ask to make a call.

        Returns:
            A :class:`Permit`; report the outcome on it.

        Raises:
            CircuitOpenError: The breaker is open, or half-open with its probe in flight.
        """
        changes: list[BreakerChange] = []
        with self._lock:
            if self._state is BreakerState.OPEN and self._cooled():
                changes.append(self._move(BreakerState.HALF_OPEN, "cool-down elapsed"))
            if self._state is BreakerState.CLOSED:
                permit = Permit(self, self._generation, probe=False)
            elif self._state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                permit = Permit(self, self._generation, probe=True)
            else:
                error = self._refusal()
                permit = None
        self._emit(changes)
        if permit is None:
            raise error
        return permit

    @contextmanager
    def guard(self) -> Iterator[Permit]:
        """Acquire a permit and report the block's outcome on it (sync or async code).

        Raises:
            CircuitOpenError: As :meth:`acquire`.
        """
        permit = self.acquire()
        try:
            yield permit
        except Exception as exc:
            permit.failure(exc)
            raise
        except BaseException:
            permit.release()
            raise
        permit.success()

    def reset(self) -> None:
        """Close the breaker and forget its failures (e.g. after the user fixed the route)."""
        with self._lock:
            changes = (
                []
                if self._state is BreakerState.CLOSED
                else [self._move(BreakerState.CLOSED, "reset")]
            )
            self._failures = 0
        self._emit(changes)

    # -- internals (called with or without the lock as noted) ------------------------------------

    def _cooled(self) -> bool:
        return self.clock() - self._opened_at >= self.cool_down

    def _refusal(self) -> CircuitOpenError:  # lock held
        if self._state is BreakerState.OPEN:
            retry_in = max(0.0, self._opened_at + self.cool_down - self.clock())
            return CircuitOpenError(
                f"route {self.route} is unavailable: its circuit breaker opened after "
                f"{self.failure_threshold} consecutive failures; next probe in {retry_in:.1f} s",
                route=self.route,
                retry_in=retry_in,
            )
        return CircuitOpenError(
            f"route {self.route} is being probed after failures; one call at a time until it "
            f"answers",
            route=self.route,
            retry_in=None,
        )

    def _move(self, new: BreakerState, reason: str) -> BreakerChange:  # lock held
        change = BreakerChange(self.route, self._state, new, reason, self.clock())
        self._state = new
        self._generation += 1
        self._probing = False
        if new is BreakerState.OPEN:
            self._opened_at = change.at
        if new is BreakerState.CLOSED:
            self._failures = 0
        return change

    def _record(self, permit: Permit, *, failed: bool, reason: str) -> None:
        changes: list[BreakerChange] = []
        with self._lock:
            if permit._generation == self._generation:
                if self._state is BreakerState.HALF_OPEN and permit.probe:
                    new = BreakerState.OPEN if failed else BreakerState.CLOSED
                    verdict = "probe failed" if failed else "probe succeeded"
                    changes.append(self._move(new, f"{verdict}: {reason}"))
                elif self._state is BreakerState.CLOSED:
                    self._failures = self._failures + 1 if failed else 0
                    if self._failures >= self.failure_threshold:
                        changes.append(
                            self._move(
                                BreakerState.OPEN,
                                f"{self._failures} consecutive failures, last {reason}",
                            )
                        )
        self._emit(changes)

    def _release(self, permit: Permit) -> None:
        with self._lock:
            if permit.probe and permit._generation == self._generation:
                self._probing = False

    def _emit(self, changes: list[BreakerChange]) -> None:
        if self.on_change is not None:
            for change in changes:
                self.on_change(change)


class BreakerRegistry:
    """Breakers keyed by route spec, shared by every run in the process.

    Args:
        failure_threshold: Default for new breakers.
        cool_down: Default for new breakers.
        clock: Clock for new breakers (injectable for tests).

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cool_down: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: list[Callable[[BreakerChange], object]] = []

    def get(
        self, route: str, *, failure_threshold: int | None = None, cool_down: float | None = None
    ) -> CircuitBreaker:
        """The breaker for *route*, created on first use (settings apply only then)."""
        with self._lock:
            breaker = self._breakers.get(route)
            if breaker is None:
                breaker = CircuitBreaker(
                    route,
                    failure_threshold=failure_threshold or self.failure_threshold,
                    cool_down=self.cool_down if cool_down is None else cool_down,
                    clock=self.clock,
                    on_change=self._broadcast,
                )
                self._breakers[route] = breaker
            return breaker

    def subscribe(self, listener: Callable[[BreakerChange], object]) -> Callable[[], None]:
        """Call *listener* on every breaker change; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def states(self) -> dict[str, BreakerState]:
        """Every known route's current state."""
        with self._lock:
            known = list(self._breakers.values())
        return {b.route: b.state for b in known}

    def clear(self) -> None:
        """Forget every breaker (tests, or after configuration changed)."""
        with self._lock:
            self._breakers.clear()

    def _broadcast(self, change: BreakerChange) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(change)


_REGISTRY = BreakerRegistry()


def breakers() -> BreakerRegistry:
    """The process-wide :class:`BreakerRegistry`."""
    return _REGISTRY
