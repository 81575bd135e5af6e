"""The shared SSE parser against the WHATWG event-stream rules and arbitrary chunking."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tau_core.errors import ProviderConnectionError, UsageError
from tau_provider._errors import EventTooLargeError, StreamCutError
from tau_provider._sse import SSEEvent, SSEParser, aiter_sse, iter_sse


def parse(*chunks: bytes, **kwargs) -> list[SSEEvent]:
    return list(iter_sse(chunks, **kwargs))


def feed_bytewise(stream: bytes) -> list[SSEEvent]:
    return parse(*(stream[i : i + 1] for i in range(len(stream))))


def test_openai_style_stream():
    stream = b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n'
    assert [e.data for e in parse(stream)] == ['{"a": 1}', '{"b": 2}', "[DONE]"]
    assert all(e.event == "message" and e.id == "" and e.retry is None for e in parse(stream))


def test_anthropic_style_named_events():
    stream = (
        b"event: message_start\ndata: {}\n\n"
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: content_block_delta\ndata: {"d": "hi"}\n\n'
    )
    assert [(e.event, e.data) for e in parse(stream)] == [
        ("message_start", "{}"),
        ("ping", '{"type": "ping"}'),
        ("content_block_delta", '{"d": "hi"}'),
    ]


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(newline):
    stream = newline.join([b"event: e", b"data: one", b"data: two", b"", b"data: 3", b"", b""])
    expected = [SSEEvent(data="one\ntwo", event="e"), SSEEvent(data="3")]
    assert parse(stream) == expected
    assert feed_bytewise(stream) == expected


def test_crlf_split_between_cr_and_lf_is_one_line_end():
    # A CR at a chunk's end and an LF at the next chunk's start end one line, not two: a second
    # blank line would otherwise dispatch nothing, but "data: a\r" + "\n" + "data: b" must stay
    # in the same event.
    assert parse(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n") == [SSEEvent(data="a\nb")]


def test_lf_after_cr_only_skipped_once():
    # CR then LF LF: the first LF belongs to the CR; the second is a blank line.
    assert parse(b"data: a\r", b"\n", b"\n") == [SSEEvent(data="a")]


def test_chunk_split_inside_multibyte_character():
    stream = "data: héllo → 世界 🎉\n\n".encode()
    for cut in range(len(stream)):
        assert parse(stream[:cut], stream[cut:]) == [SSEEvent(data="héllo → 世界 🎉")]


def test_invalid_utf8_becomes_replacement_character():
    assert parse(b"data: a\xffb\n\n") == [SSEEvent(data="a\ufffdb")]


def test_leading_bom_dropped_once_even_when_split():
    stream = b"\xef\xbb\xbfdata: x\n\n"
    assert parse(stream) == [SSEEvent(data="x")]
    assert feed_bytewise(stream) == [SSEEvent(data="x")]
    # A second BOM is content: the field name is then "\ufeffdata", an unknown field.
    assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n") == [SSEEvent(data="y")]


def test_comments_and_keepalives_ignored():
    stream = (
        b": keep-alive\n\n:\ndata: x\n: inside an event\ndata: y\n\n: OPENROUTER PROCESSING\n\n"
    )
    assert parse(stream) == [SSEEvent(data="x\ny")]


def test_field_without_value_and_without_space():
    assert parse(b"data\n\n") == [SSEEvent(data="")]
    assert parse(b"data:\ndata:\n\n") == [SSEEvent(data="\n")]
    assert parse(b"data:x\n\n") == [SSEEvent(data="x")]
    # Only one leading space is removed; a colon inside the value is kept.
    assert parse(b"data:  x: y\n\n") == [SSEEvent(data=" x: y")]


def test_unknown_fields_ignored_and_event_without_data_not_dispatched():
    assert parse(b"foo: bar\ndata: x\n\n") == [SSEEvent(data="x")]
    # No data: nothing dispatched, and the event type does not leak into the next event.
    assert parse(b"event: lonely\n\ndata: x\n\n") == [SSEEvent(data="x", event="message")]
    # Field names are case-sensitive.
    assert parse(b"Data: x\n\n") == []


def test_id_persists_and_nul_id_ignored():
    stream = b"id: 7\ndata: a\n\ndata: b\n\nid: 8\x00\ndata: c\n\nid\ndata: d\n\n"
    assert [(e.id, e.data) for e in parse(stream)] == [
        ("7", "a"),
        ("7", "b"),
        ("7", "c"),
        ("", "d"),
    ]


def test_retry_only_with_ascii_digits():
    parser = SSEParser()
    events = parser.feed(
        b"retry: 1500\ndata: a\n\nretry: 1.5\ndata: b\n\nretry: \xd9\xa3\ndata: c\n\n"
    )
    parser.close()
    assert [(e.data, e.retry) for e in events] == [("a", 1500), ("b", None), ("c", None)]
    assert parser.retry == 1500


def test_cut_mid_line_raises():
    parser = SSEParser(provider="openai")
    assert parser.feed(b'data: {"a": 1}\n\ndata: {"b"') == [SSEEvent(data='{"a": 1}')]
    with pytest.raises(StreamCutError, match="openai stream ended in the middle of a line"):
        parser.close()


def test_cut_after_fields_but_before_blank_line_raises():
    with pytest.raises(StreamCutError, match="an event"):
        parse(b"data: complete line but no blank line\n")


def test_cut_inside_multibyte_character_raises():
    with pytest.raises(StreamCutError):
        parse(b"data: x\n\n", "é".encode()[:1])


@pytest.mark.parametrize("partial_bom", [b"\xef", b"\xef\xbb"])
def test_cut_inside_the_leading_bom_raises(partial_bom):
    with pytest.raises(StreamCutError):
        parse(partial_bom)


def test_stream_cut_is_a_retryable_connection_error():
    assert issubclass(StreamCutError, ProviderConnectionError)
    assert StreamCutError("x").retryable


def test_clean_end_after_comment_or_blank_line_does_not_raise():
    assert parse(b"data: x\n\n: bye\n") == [SSEEvent(data="x")]
    assert parse(b"data: x\r\n\r") == [SSEEvent(data="x")]
    assert parse(b"") == []


def test_huge_line_is_refused_not_buffered():
    parser = SSEParser(max_event_size=1000)
    parser.feed(b"data: " + b"x" * 900)
    parser.feed(b"x" * 50)  # 956 characters pending: still allowed
    with pytest.raises(EventTooLargeError, match="longer than 1000"):
        parser.feed(b"x" * 50)
    assert parser._pending_size <= 1000 + 50


def test_huge_event_of_many_lines_is_refused():
    with pytest.raises(EventTooLargeError, match="event longer"):
        parse(b"data: 0123456789\n" * 200, max_event_size=1000)


def test_huge_complete_line_in_one_chunk_is_refused():
    with pytest.raises(EventTooLargeError, match="line longer"):
        parse(b"data: " + b"y" * 5000 + b"\n\n", max_event_size=1000)


def test_feed_after_close_is_misuse():
    parser = SSEParser()
    parser.close()
    with pytest.raises(UsageError):
        parser.feed(b"data: x\n\n")


def test_many_tiny_chunks_of_one_long_line_stay_linear():
    # 200k one-byte chunks: quadratic re-scanning would take minutes; linear takes a moment.
    payload = b"data: " + b"z" * 200_000 + b"\n\n"
    assert feed_bytewise(payload) == [SSEEvent(data="z" * 200_000)]


def test_aiter_sse_yields_then_raises_on_cut():
    async def chunks(*parts: bytes):
        for part in parts:
            await asyncio.sleep(0)
            yield part

    async def collect(*parts: bytes) -> list[SSEEvent]:
        return [e async for e in aiter_sse(chunks(*parts))]

    assert asyncio.run(collect(b"data: a\n", b"\ndata: b\n\n")) == [
        SSEEvent(data="a"),
        SSEEvent(data="b"),
    ]
    seen: list[SSEEvent] = []

    async def consume() -> None:
        async for event in aiter_sse(chunks(b"data: a\n\n", b"data: partial")):
            seen.append(event)

    with pytest.raises(StreamCutError):
        asyncio.run(consume())
    assert seen == [SSEEvent(data="a")]


# -- property tests -------------------------------------------------------------------------------

_value = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30
)
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)


@st.composite
def _events(draw):
    """A valid stream and the events a correct parser must produce from it."""
    newline = st.sampled_from(["\n", "\r\n", "\r"])
    lines: list[str] = []
    expected: list[SSEEvent] = []
    last_id = ""
    if draw(st.booleans()):
        lines.append(": stream opened")
    for _ in range(draw(st.integers(0, 6))):
        event_type = draw(st.none() | _name)
        data = draw(st.lists(_value, min_size=1, max_size=4))
        ident = draw(st.none() | _value.filter(lambda v: "\0" not in v))
        retry = draw(st.none() | st.integers(0, 10**6))
        block: list[str] = []
        if event_type is not None:
            block.append(f"event: {event_type}")
        if ident is not None:
            block.append(f"id: {ident}")
            last_id = ident
        if retry is not None:
            block.append(f"retry: {retry}")
        for value in data:
            block.append(
                f"data: {value}" if value[:1] == " " or draw(st.booleans()) else f"data:{value}"
            )
        if draw(st.booleans()):
            block.insert(draw(st.integers(0, len(block))), f":{draw(_value)}")
        if draw(st.booleans()):
            block.insert(draw(st.integers(0, len(block))), f"x-unknown: {draw(_value)}")
        lines.extend(block)
        lines.append("")
        if draw(st.booleans()):
            lines.extend([": keep-alive", ""])
        expected.append(
            SSEEvent(data="\n".join(data), event=event_type or "message", id=last_id, retry=retry)
        )
    pieces: list[str] = []
    for line in lines:
        end = draw(newline)
        if line == "" and end == "\n" and pieces and pieces[-1].endswith("\r"):
            end = "\r\n"  # a lone LF right after a CR would only finish the CR's line ending
        pieces.append(line + end)
    text = "".join(pieces)
    bom = "\ufeff" if draw(st.booleans()) else ""
    return (bom + text).encode(), expected


@given(_events(), st.data())
@settings(max_examples=300, deadline=None)
def test_any_split_gives_the_same_events_as_whole(stream_and_events, data):
    stream, expected = stream_and_events
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert parse(stream) == expected
    assert parse(*chunks) == expected


@given(_events(), st.data())
@settings(max_examples=300, deadline=None)
def test_a_truncated_stream_never_yields_a_partial_event(stream_and_events, data):
    stream, expected = stream_and_events
    cut = data.draw(st.integers(0, len(stream)))
    parser = SSEParser()
    events = parser.feed(stream[:cut])
    # Whatever arrived is a prefix of the true events: never a mangled or partial one.
    assert events == expected[: len(events)]
    try:
        parser.close()
    except StreamCutError:
        return
    # A clean end means the cut fell between events (or inside a comment's trailing newline).
    tail = stream[:cut].decode("utf-8-sig", errors="ignore")
    assert tail == "" or tail.endswith(("\n", "\r"))
