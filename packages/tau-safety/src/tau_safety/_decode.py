"""Find encoded runs in text and decode the ones that hide readable text.

Secrets and injected instructions are often wrapped in an encoding so patterns miss them:
``c2stcHJvai0uLi4=``, ``%69%67%6E%6F%72%65``, ``ignore=20previous``. :func:`decoded_spans` finds
runs of base64 (standard and URL-safe, padded or not, MIME/PEM-style multi-line blocks), hex,
URL percent-encoding and quoted-printable, decodes them, and yields those whose bytes are
UTF-8 text (at least 85 % printable characters) different from the run itself. Binary payloads
(hashes, compressed data, random tokens) decode to garbage and are not yielded.

Candidates are found with RE2, so the search is linear in the input whatever it holds. Each
yielded span decodes to at most 64 KiB (``_MAX_DECODED``): a longer run is decoded in
consecutive pieces, each yielded as its own span, so work per megabyte of input is bounded.
Decoding only one level is deliberate: callers that want a decode of a decode call again on
:attr:`DecodedSpan.text`, with a depth limit.

.. versionadded:: 0.1
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterator
from typing import Protocol
from urllib.parse import unquote_to_bytes

from attrs import frozen

__all__ = ["DecodedSpan", "decoded_spans"]

_MAX_DECODED = 64 * 1024
_PRINTABLE_RATIO = 0.85
_MIN_ESCAPES = 3  # %XX or =XX escapes a URL-encoded or quoted-printable run needs
_MIME_MIN_LINE = 40  # shortest line of a multi-line base64 block
_URL_CHAR = r"[^\s\"'<>`]"
_MAX_SPLIT = 4096  # longest run tried as "/"-separated tokens (a path, not a blob)
_SHORT = 32  # decoded texts shorter than this must be entirely printable
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_ID_CHARS = _HEX_DIGITS | {"-", "_"}  # UUIDs and hex identifiers: never base64

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@frozen
class DecodedSpan:
    """A run of encoded text and what it decodes to.

    Attributes:
        start: Offset of the encoded run in the scanned text.
        end: Offset just past the run.
        encoding: ``"base64"``, ``"base64url"``, ``"hex"``, ``"url"`` or ``"quoted-printable"``.
        text: The decoded text.

    .. versionadded:: 0.1
    """

    start: int
    end: int
    encoding: str
    text: str


class _Match(Protocol):
    def start(self) -> int: ...
    def end(self) -> int: ...


class _Regexp(Protocol):  # the part of a compiled re2 pattern used here
    def finditer(self, text: str) -> Iterator[_Match]: ...


@frozen
class _Patterns:
    token: _Regexp
    percent: _Regexp
    quoted_printable: _Regexp


@functools.cache
def _patterns(min_length: int) -> _Patterns:
    import re2  # type: ignore[import-untyped,unused-ignore]

    return _Patterns(
        token=re2.compile(
            # A MIME/PEM block (full lines, then a last line), or one run of either alphabet.
            rf"(?:[A-Za-z0-9+/]{{{_MIME_MIN_LINE},}}\r?\n)+[A-Za-z0-9+/]*={{0,2}}"
            rf"|[A-Za-z0-9+/_-]{{{min_length},}}={{0,2}}"
        ),
        # A run without white space holding at least _MIN_ESCAPES escapes.
        percent=re2.compile(rf"{_URL_CHAR}*(?:%[0-9A-Fa-f]{{2}}{_URL_CHAR}*){{{_MIN_ESCAPES},}}"),
        # Printable ASCII lines joined by soft line breaks, holding enough escapes.
        quoted_printable=re2.compile(
            rf"[\t -~]*(?:=(?:[0-9A-F]{{2}}|\r?\n)[\t -~]*){{{_MIN_ESCAPES},}}"
        ),
    )


def decoded_spans(text: str, *, min_length: int = 16) -> Iterator[DecodedSpan]:
    """Yield the encoded runs of *text* that decode to readable text, in order of position.

    Args:
        text: The text to search.
        min_length: Shortest base64 or hex run considered, in characters (at least 8).

    Spans of different encodings may overlap (a base64 token on a quoted-printable line);
    each run is reported under one encoding at most.

    Raises:
        ValueError: When *min_length* is below 8.

    .. versionadded:: 0.1
    """
    if min_length < 8:
        msg = f"min_length must be at least 8 characters, not {min_length}"
        raise ValueError(msg)
    from ._normalize import without_surrogates

    text = without_surrogates(text)  # re2 needs text that encodes as UTF-8; offsets stay
    patterns = _patterns(min_length)
    found: list[DecodedSpan] = []
    for match in patterns.token.finditer(text):
        found.extend(_tokens(text, match.start(), match.end(), min_length))
    if "%" in text:
        for match in patterns.percent.finditer(text):
            found.extend(_escaped(text, match.start(), match.end(), "url"))
    if "=" in text:
        for match in patterns.quoted_printable.finditer(text):
            found.extend(_escaped(text, match.start(), match.end(), "quoted-printable"))
    found.sort(key=lambda span: (span.start, span.end))
    yield from found


def _tokens(text: str, start: int, end: int, min_length: int) -> Iterator[DecodedSpan]:
    """Decode one base64/hex candidate, splitting multi-line blocks that are not MIME."""
    run = text[start:end].rstrip("\r\n")
    end = start + len(run)
    if "\n" not in run:
        yield from _token(text, start, end, min_length, split=True)
        return
    lines: list[tuple[int, int]] = []  # raw spans of the lines, without line breaks
    line_start = start
    for line in run.split("\n"):
        body = line.removesuffix("\r")
        lines.append((line_start, line_start + len(body)))
        line_start += len(line) + 1
    width = lines[0][1] - lines[0][0]
    full = lines[:-1]
    if width % 4 == 0 and all(b - a == width for a, b in full) and _width(lines[-1]) <= width:
        pieces = list(_line_groups(lines, width))
        spans = [s for a, b in pieces for s in _decode_base64(text, a, b, step=b - a)]
        if spans:
            yield from spans
            return
    for a, b in lines:  # not one block: each line on its own
        if b - a >= min_length:
            yield from _token(text, a, b, min_length, split=True)


def _width(line: tuple[int, int]) -> int:
    return line[1] - line[0]


def _line_groups(lines: list[tuple[int, int]], width: int) -> Iterator[tuple[int, int]]:
    """Group the lines of a MIME block into spans of at most ``_MAX_DECODED`` decoded bytes."""
    per_group = max(1, (_MAX_DECODED // 3 * 4) // width)
    for k in range(0, len(lines), per_group):
        group = lines[k : k + per_group]
        yield group[0][0], group[-1][1]


def _token(text: str, start: int, end: int, min_length: int, *, split: bool) -> list[DecodedSpan]:
    """Decode one single-line run as hex, base64 or base64url, whichever fits."""
    body = text[start:end].rstrip("=")
    if len(body) < min_length:
        return []
    if body[:2] in {"0x", "0X"} and _HEX_DIGITS.issuperset(body[2:]):
        start += 2
        body = body[2:]
    if _HEX_DIGITS.issuperset(body):
        if len(body) % 2:
            return []
        return list(_decode_hex(text, start, start + len(body)))
    if _ID_CHARS.issuperset(body):
        return []  # a UUID or similar identifier
    standard = "+" in body or "/" in body
    url_safe = "-" in body or "_" in body
    spans = [] if standard and url_safe else list(_decode_base64(text, start, end))
    if not spans and split and "/" in body and "+" not in body and len(body) <= _MAX_SPLIT:
        # Perhaps a path whose segments are tokens: "api/v1/eyJhbGciOi..." (random base64
        # holds "/" too, but also "+", and blobs are longer than paths).
        offset = start
        for part in body.split("/"):
            if len(part) >= min_length:
                spans.extend(_token(text, offset, offset + len(part), min_length, split=False))
            offset += len(part) + 1
    return spans


def _decode_hex(text: str, start: int, end: int) -> Iterator[DecodedSpan]:
    step = 2 * _MAX_DECODED
    for a in range(start, end, step):
        b = min(a + step, end)
        decoded = _readable(bytes.fromhex(text[a:b]), cut=end - start > step)
        if decoded is not None:
            yield DecodedSpan(a, b, "hex", decoded)


def _decode_base64(
    text: str, start: int, end: int, *, step: int = _MAX_DECODED // 3 * 4
) -> Iterator[DecodedSpan]:
    """Decode ``text[start:end]`` as base64 in pieces of *step* characters.

    The default step, a multiple of 4, decodes to at most ``_MAX_DECODED`` bytes; a
    multi-line block is passed already grouped, as one step.
    """
    for a in range(start, end, step):
        b = min(a + step, end)
        raw = text[a:b]
        body = raw.replace("\r", "").replace("\n", "").rstrip("=")
        encoding = "base64url" if "-" in body or "_" in body else "base64"
        if encoding == "base64url":
            body = body.replace("-", "+").replace("_", "/")
        if len(body) % 4 == 1:
            continue
        try:
            data = binascii.a2b_base64(body + "=" * (-len(body) % 4), strict_mode=True)
        except binascii.Error:
            continue
        decoded = _readable(data, cut=end - start > step)
        if decoded is not None and decoded != raw:
            yield DecodedSpan(a, b, encoding, decoded)


def _escaped(text: str, start: int, end: int, encoding: str) -> Iterator[DecodedSpan]:
    """Decode a URL-encoded or quoted-printable run with enough escapes to be one."""
    marker = "%" if encoding == "url" else "="
    a = start
    while a < end:
        b = min(a + _MAX_DECODED, end)
        if b < end:  # do not cut through an escape
            if text[b - 1] == marker:
                b -= 1
            elif text[b - 2] == marker:
                b -= 2
        raw = text[a:b]
        data = _unescape(raw, encoding)
        decoded = _readable(data, cut=end - start > _MAX_DECODED)
        if decoded is not None and decoded != raw:
            yield DecodedSpan(a, b, encoding, decoded)
        a = b


def _unescape(raw: str, encoding: str) -> bytes:
    if encoding == "url":
        return unquote_to_bytes(raw)
    return binascii.a2b_qp(raw.encode("ascii"))


def _readable(data: bytes, *, cut: bool) -> str | None:
    """Return *data* as text when it is UTF-8 and mostly printable, else None.

    Args:
        data: Decoded bytes.
        cut: Whether *data* is a piece of a longer run, so a multi-byte character may be
            split at either edge (those partial characters are dropped).
    """
    if not data:
        return None
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        if not cut:
            return None
        decoded = data.decode("utf-8", "ignore")
        if len(decoded.encode("utf-8")) < len(data) - 6:  # invalid beyond the two edges
            return None
    if not decoded:
        return None
    if decoded.isascii():
        unprintable = len(_CONTROL.findall(decoded))
    elif decoded.isprintable():
        unprintable = 0
    else:
        unprintable = sum(1 for ch in decoded if not ch.isprintable() and ch not in "\t\n\r")
    if unprintable > (0 if len(decoded) < _SHORT else len(decoded) * (1 - _PRINTABLE_RATIO)):
        return None
    return decoded
