"""One incremental Server-Sent Events parser, shared by every provider.

Implements the WHATWG HTML "event stream interpretation" algorithm
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

* the byte stream is decoded as UTF-8 (invalid sequences become U+FFFD) and one leading BOM is
  dropped; a chunk may end anywhere, inside a multi-byte character or between ``\\r`` and
  ``\\n``;
* lines end with CRLF, LF or CR; a line starting with ``:`` is a comment (keep-alive);
* ``field:value`` (one space after the colon is dropped), or a bare ``field`` with an empty value;
  ``data`` lines accumulate joined by ``\\n``; ``event`` sets the type; ``id`` sets the last event
  ID (ignored when it contains NUL) which persists across events; ``retry`` (ASCII digits only)
  sets the reconnection time; other fields are ignored;
* a blank line dispatches the event, unless no ``data`` line arrived (then nothing is dispatched
  and the ``event`` buffer is reset, as the spec says).

Where the spec silently discards an unfinished event at end of stream, :meth:`SSEParser.close`
raises :class:`~tau_provider._errors.StreamCutError` instead: a provider must never return a
partial answer as if it were whole. Work is linear in the input: a partial line is kept as a
list of pieces, never re-scanned, and a line or event longer than ``max_event_size``
characters raises :class:`~tau_provider._errors.EventTooLargeError` before memory grows
without bound.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from attrs import frozen

from tau_core.errors import UsageError

from ._errors import EventTooLargeError, StreamCutError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEEvent", "SSEParser", "aiter_sse", "iter_sse"]

DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024
"""Default bound, in characters, on one line and on one event's accumulated data."""


@frozen
class SSEEvent:
    """One dispatched server-sent event.

    Attributes:
        event: The event type; ``"message"`` when the stream named none.
        data: The data lines joined with ``\\n`` (no trailing newline).
        id: The last event ID at dispatch time (persists across events; ``""`` when none).
        retry: The reconnection time in milliseconds set inside this event's block, or None.

    .. versionadded:: 0.1
    """

    data: str
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEParser:
    """Incremental WHATWG event-stream parser: feed bytes, get whole events.

    Example::

        parser = SSEParser()
        async for chunk in response.aiter_bytes():
            for event in parser.feed(chunk):
                handle(event)
        parser.close()  # raises StreamCutError if the stream stopped mid-event

    Args:
        max_event_size: Largest line or event data, in characters, before
            :class:`~tau_provider._errors.EventTooLargeError`.
        provider: Provider name used in error messages.

    Attributes:
        last_event_id: The last event ID seen (persists across events).
        retry: The last valid ``retry`` value in milliseconds, or None.

    .. versionadded:: 0.1
    """

    def __init__(
        self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE, provider: str = "provider"
    ) -> None:
        if max_event_size < 1:
            raise UsageError(f"max_event_size must be at least 1, got {max_event_size}")
        self.max_event_size = max_event_size
        self.provider = provider
        self.last_event_id = ""
        self.retry: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._pending: list[str] = []  # pieces of the current, unterminated line
        self._pending_size = 0
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._data_size = 0
        self._event = ""
        self._block_retry: int | None = None
        self._in_event = False  # a field line arrived since the last blank line
        self._closed = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Parse the next piece of the stream.

        Args:
            chunk: Any number of bytes, split anywhere.

        Returns:
            The events completed by this chunk, in order (often none).

        Raises:
            EventTooLargeError: A line or event grew past ``max_event_size``.
            UsageError: The parser was already closed.
        """
        if self._closed:
            raise UsageError("SSEParser.feed() called after close()")
        return self._feed_text(self._decoder.decode(chunk))

    def close(self) -> None:
        """Declare the end of the stream.

        Raises:
            StreamCutError: The stream stopped inside a line or an event (no blank line after
                its last field): the answer is incomplete.
        """
        if self._closed:
            return
        self._closed = True
        tail = self._decoder.decode(b"", final=True)
        # An incomplete UTF-8 sequence at the very end decodes to U+FFFD: still a cut line.
        if tail:
            self._feed_text(tail)
        # The BOM-aware decoder keeps a cut-short leading BOM ("\xef\xbb") to itself.
        if self._pending_size or self._in_event or self._decoder.getstate()[0]:
            what = "a line" if self._pending_size else "an event (no blank line after it)"
            raise StreamCutError(
                f"{self.provider} stream ended in the middle of {what}: the response is "
                f"incomplete and was not used; retry the request"
            )

    def _feed_text(self, text: str) -> list[SSEEvent]:
        if not text:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        last = lines.pop()
        if lines:
            if self._pending:
                lines[0] = "".join(self._pending) + lines[0]
                self._pending = []
                self._pending_size = 0
            events = self._process(lines)
        else:
            events = []
        if last:
            self._pending.append(last)
            self._pending_size += len(last)
            if self._pending_size > self.max_event_size:
                self._too_large("line")
        return events

    def _process(self, lines: list[str]) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        limit = self.max_event_size
        for line in lines:
            if not line:
                if self._in_event:
                    event = self._dispatch()
                    if event is not None:
                        events.append(event)
                continue
            if line[0] == ":":
                continue
            if len(line) > limit:
                self._too_large("line")
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            self._in_event = True
            if name == "data":
                self._data.append(value)
                self._data_size += len(value) + 1
                if self._data_size > limit:
                    self._too_large("event")
            elif name == "event":
                self._event = value
            elif name == "id":
                if "\0" not in value:
                    self.last_event_id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                self.retry = self._block_retry = int(value)
        return events

    def _dispatch(self) -> SSEEvent | None:
        data, event, retry = self._data, self._event, self._block_retry
        self._data = []
        self._data_size = 0
        self._event = ""
        self._block_retry = None
        self._in_event = False
        if not data:
            return None
        return SSEEvent(
            data=data[0] if len(data) == 1 else "\n".join(data),
            event=event or "message",
            id=self.last_event_id,
            retry=retry,
        )

    def _too_large(self, what: str) -> None:
        self._closed = True
        raise EventTooLargeError(
            f"{self.provider} stream sent {what} longer than {self.max_event_size} characters "
            f"without an end; refused (raise max_event_size if this is expected)"
        )


def iter_sse(
    chunks: Iterable[bytes],
    *,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    provider: str = "provider",
) -> Iterator[SSEEvent]:
    """Yield the events of a byte stream; raise at the end if it was cut mid-event.

    Args:
        chunks: The stream's bytes, in any split.
        max_event_size: As for :class:`SSEParser`.
        provider: Provider name for error messages.

    Yields:
        Each event as soon as its terminating blank line arrives.

    Raises:
        StreamCutError: The stream ended mid-event.
        EventTooLargeError: A line or event exceeded ``max_event_size``.
    """
    parser = SSEParser(max_event_size=max_event_size, provider=provider)
    for chunk in chunks:
        yield from parser.feed(chunk)
    parser.close()


async def aiter_sse(
    chunks: AsyncIterable[bytes],
    *,
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
    provider: str = "provider",
) -> AsyncIterator[SSEEvent]:
    """Async version of :func:`iter_sse`, e.g. over ``response.aiter_bytes()``.

    Args:
        chunks: The stream's bytes, in any split.
        max_event_size: As for :class:`SSEParser`.
        provider: Provider name for error messages.

    Yields:
        Each event as soon as its terminating blank line arrives.

    Raises:
        StreamCutError: The stream ended mid-event.
        EventTooLargeError: A line or event exceeded ``max_event_size``.
    """
    parser = SSEParser(max_event_size=max_event_size, provider=provider)
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    parser.close()
