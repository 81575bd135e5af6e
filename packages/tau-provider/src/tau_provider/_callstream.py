"""What one call reports to tau-core while it runs: text deltas, retries, breaker changes.

tau-core hands every provider call a :class:`tau_core.ModelStream`. The call path publishes it
for its duration (a context variable, so concurrent calls on one provider object never mix),
passes text deltas through :func:`deliver`, and reports each retry and each change of its
route's circuit breaker as events, which core journals and shows in the evidence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from ._breaker import BreakerChange, breakers

if TYPE_CHECKING:
    from tau_core import ModelStream

    from ._retry import Attempt, RetryEvent

__all__ = ["deliver", "reporting"]

_STREAM: ContextVar[ModelStream | None] = ContextVar("tau_provider_stream", default=None)


@contextlib.contextmanager
def reporting(
    route: str, stream: ModelStream | None
) -> Iterator[Callable[[RetryEvent], None] | None]:
    """Publish *stream* for one call on *route*; yields the ``on_retry`` for ``with_retries``.

    While the block runs, changes of *route*'s breaker are reported as ``breaker`` events.
    """
    if stream is None:
        yield None
        return
    token = _STREAM.set(stream)

    def on_change(change: BreakerChange) -> None:
        if change.route == route:
            stream.event(
                "breaker", old=change.old.value, new=change.new.value, reason=change.reason
            )

    def on_retry(event: RetryEvent) -> None:
        stream.event(
            "retry",
            attempt=event.attempt,
            delay=round(event.delay, 3),
            retry_after=event.retry_after,
            error=f"{type(event.error).__name__}: {event.error}",
        )

    unsubscribe = breakers().subscribe(on_change)
    try:
        yield on_retry
    finally:
        unsubscribe()
        _STREAM.reset(token)


def deliver(text: str, attempt: Attempt, on_delta: Callable[[str], Any] | None) -> None:
    """Pass a text delta on, to *on_delta* and to the call's stream, and mark *attempt* as
    having streamed (a later failure is then never retried or answered by a fallback)."""
    if not text:
        return
    stream = _STREAM.get()
    if on_delta is None and stream is None:
        return
    attempt.output_started()
    if on_delta is not None:
        on_delta(text)
    if stream is not None:
        stream.delta(text)
