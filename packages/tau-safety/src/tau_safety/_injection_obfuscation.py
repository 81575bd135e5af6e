"""Injection phrasing hidden by encoding or by rewriting the letters.

The checks behind the ``encoded`` findings of :class:`tau_safety._injection.InjectionDetector`:
base64, hex, URL and quoted-printable runs (:func:`tau_safety._decode.decoded_spans`),
``\\uXXXX``/``\\xXX`` escapes, 8-bit binary and base32 are decoded and scanned again, up to
:data:`~tau_safety._injection.MAX_DEPTH` levels; override phrasing written in ROT13, backwards,
in leetspeak or spaced out letter by letter is matched against the text so rewritten.

.. versionadded:: 0.1
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
from bisect import bisect_right
from collections.abc import Callable, Iterator

from attrs import frozen

from ._decode import decoded_spans
from ._injection import Hit, Origin, Regexp, analyse, compile_pattern, safe_excerpt, scan_phrases

_MAX_DECODED_SPANS = 4096  # decoded runs scanned per level


@frozen
class _Cues:
    spaced: Regexp
    leet: Regexp
    escapes: Regexp
    binary: Regexp
    base32: Regexp


@functools.cache
def _cues() -> _Cues:
    return _Cues(
        # Single letters each followed by one separator: "i g n o r e".
        spaced=compile_pattern(r"(?:^|[^A-Za-z])((?:[A-Za-z][ ._*-]){3,}[A-Za-z])(?:$|[^A-Za-z])"),
        leet=compile_pattern(r"[a-z][013457@$]+[a-z]"),
        escapes=compile_pattern(r"(?:\\u[0-9a-f]{4}|\\x[0-9a-f]{2}){4,}"),
        binary=compile_pattern(r"(?:[01]{8}[ ,]?){4,}"),
        base32=compile_pattern(r"[A-Z2-7]{24,}={0,6}", case_sensitive=True),
    )


_PLAIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ROTATED = "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm"
_ROT13_BYTES = bytes.maketrans(_PLAIN.encode(), _ROTATED.encode())
_LEET_BYTES = bytes.maketrans(b"0134578@$", b"oieastbas")


def obfuscated_hits(ntext: str, origin: Origin) -> list[Hit]:
    """Override phrasing written in ROT13, backwards, in leetspeak or with spaced-out letters.

    Each variant of the text is as long as the text (except the spaced-out one, which keeps its
    own map), so a phrase found in it maps straight back to the original characters.
    """
    size = len(ntext)
    # Both maps touch ASCII only, so they work on UTF-8 bytes (an order of magnitude faster
    # than str.translate) and keep every character where it was.
    raw = ntext.encode("utf-8")
    rot13 = raw.translate(_ROT13_BYTES).decode("utf-8")
    # Leetspeak only where words mix letters and look-alike digits ("1gn0r3"), not "utf8".
    leet = raw.translate(_LEET_BYTES).decode("utf-8") if _has_leet(ntext) else ntext
    variants: list[tuple[str, str, Origin]] = [
        ("rot13", rot13, origin),
        ("reversed", ntext[::-1], lambda a, b: origin(size - b, size - a)),
    ]
    if leet != ntext:
        variants.append(("leetspeak", leet, origin))
    spaced = _collapse_spaced(ntext)
    if spaced is not None:
        variants.append(("spaced", spaced[0], lambda a, b: origin(*spaced[1](a, b))))
    hits: list[Hit] = []
    for name, variant, back in variants:
        for hit in scan_phrases(variant, back, strong_overrides=True):
            if hit.score < 0.45 or ntext[hit.nstart : hit.nend] == variant[hit.nstart : hit.nend]:
                continue  # weak, or the plain text already says it (and was scanned as such)
            excerpt = safe_excerpt(f"{name}: {hit.excerpt}")
            score = min(0.99, hit.score + 0.1)
            hits.append(
                Hit(f"encoded.{name}", "encoded", hit.language, hit.start, hit.end, excerpt, score)
            )
    return hits


def _has_leet(ntext: str) -> bool:
    return len(list(itertools.islice(_cues().leet.finditer(ntext), 2))) == 2


def _collapse_spaced(ntext: str) -> tuple[str, Callable[[int, int], tuple[int, int]]] | None:
    """*ntext* with words spelled "l i k e  t h i s" joined up, and a map back, or None."""
    runs = [(m.start(1), m.end(1)) for m in _cues().spaced.finditer(ntext)]
    if not runs:
        return None
    pieces: list[str] = []
    starts: list[int] = []  # in the variant
    origins: list[int] = []  # in ntext
    last = 0
    length = 0
    for a, b in runs:
        for piece, at in ((ntext[last:a], last), ("".join(ntext[a:b:2]), a)):
            starts.append(length)
            origins.append(at)
            pieces.append(piece)
            length += len(piece)
        last = b
    starts.append(length)
    origins.append(last)
    pieces.append(ntext[last:])
    collapsed = {a for a, _ in runs}

    def back(start: int, end: int) -> tuple[int, int]:
        def one(i: int) -> int:
            k = bisect_right(starts, i) - 1
            offset = i - starts[k]
            return origins[k] + (2 * offset if origins[k] in collapsed else offset)

        return one(start), min(len(ntext), one(max(start, end - 1)) + 1)

    return "".join(pieces), back


def _extra_spans(ntext: str) -> Iterator[tuple[int, int, str, str]]:
    """Runs of ``\\uXXXX`` escapes, 8-bit binary and base32 that decode to printable text."""
    cues = _cues()
    for regexp, encoding in (
        (cues.escapes, "escapes"),
        (cues.binary, "binary"),
        (cues.base32, "base32"),
    ):
        for match in regexp.finditer(ntext):
            run = match.group()
            try:
                if encoding == "escapes":
                    decoded = run.encode("ascii").decode("unicode_escape")
                elif encoding == "binary":
                    bits = "".join(run.split()).replace(",", "")
                    data = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - 7, 8))
                    decoded = data.decode("utf-8")
                else:
                    body = run.rstrip("=")
                    decoded = base64.b32decode(body + "=" * (-len(body) % 8)).decode("utf-8")
            except (UnicodeError, ValueError, binascii.Error):
                continue
            if sum(ch.isprintable() or ch in "\n\t" for ch in decoded) >= 0.85 * len(decoded):
                yield match.start(), match.end(), encoding, decoded


def encoded_hits(ntext: str, origin: Origin, depth: int) -> list[Hit]:
    hits: list[Hit] = []
    spans = itertools.chain(
        ((s.start, s.end, s.encoding, s.text) for s in decoded_spans(ntext)), _extra_spans(ntext)
    )
    for count, (span_start, span_end, encoding, decoded) in enumerate(spans):
        if count >= _MAX_DECODED_SPANS:
            break
        inner = analyse(decoded, depth + 1)
        best = max(inner, key=lambda h: h.score, default=None)
        if best is None or best.score < 0.3:
            continue
        start, end = origin(span_start, span_end)
        hits.append(
            Hit(
                f"encoded.{encoding}",
                "encoded",
                best.language,
                start,
                end,
                safe_excerpt(f"{encoding}: {best.rule_id}: {best.excerpt}"),
                min(0.99, best.score + 0.15),
                span_start,
                span_end,
            )
        )
    return hits
