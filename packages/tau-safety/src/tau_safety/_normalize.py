"""Text preparation before scanning: NFKC, invisible characters and confusables.

Attackers hide secrets and instructions from pattern matchers with characters a reader does
not notice: zero-width spaces inside a key, bidi controls, fullwidth or mathematical letters,
Cyrillic look-alikes. :func:`normalize` undoes these so one set of ASCII patterns sees through
them, and keeps a map from the normalised text back to the input so findings point at the
original characters.

Steps, in order:

1. invisible characters are dropped: every format character (Unicode category ``Cf``: zero-width
   and bidi controls, soft hyphen, tag characters, …), variation selectors, the combining
   grapheme joiner, Mongolian free variation selectors and the Hangul fillers;
2. NFKC (fullwidth forms, mathematical alphanumerics, circled letters, ligatures all become
   their plain letters);
3. confusable characters are folded to the ASCII character they imitate (``_CONFUSABLES``).

Work is linear in the input. ASCII input is returned as is, without building a map. Other
input is cut into blocks at normalisation boundaries; a block that is already NFKC and holds no
invisible character is copied in one piece, the rest is normalised one base character (with its
combining marks) at a time. Runs of more than 32 combining marks are normalised 32 at a time (the
stream-safe limit of UAX #15), which bounds the quadratic mark reordering of NFKC.

.. versionadded:: 0.1
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from typing import Protocol

from attrs import field, frozen

__all__ = ["Normalized", "normalize"]

# Unicode TR39 confusables (confusables.txt), restricted to entries whose target is a single
# ASCII character and whose source NFKC leaves alone (NFKC already handles fullwidth and
# mathematical letters). Keys are the ASCII target, values the characters folded onto it.
# Deviation from TR39: capital I keeps its case (TR39 skeletons map I, 1 and | to "l").
_CONFUSABLES: dict[str, str] = {
    "a": "\u0430\u0251\u03b1\u237a",  # Cyrillic a, Latin alpha, Greek alpha, APL alpha
    "b": "\u0184\u042c\u13cf\u1472",  # tone six, Cyrillic soft sign, Cherokee si, Cans ka
    "c": "\u0441\u1d04\u2ca5\uabaf",  # Cyrillic es, small capital c, Coptic sima, Cherokee tli
    "d": "\u0501\u13e7\u146f\ua4d2",  # Komi de, Cherokee tsu, Cans ko, Lisu pha
    "e": "\u0435\u04bd\u212e\uab32",  # Cyrillic ie, Abkhasian che, estimated, blackletter e
    "f": "\u0584\u1e9d\ua799",  # Armenian keh, long s with stroke, f with stroke
    "g": "\u0261\u0581\u018d\u1d83",  # script g, Armenian co, turned delta, g with hook
    "h": "\u04bb\u0570\u13c2",  # Cyrillic shha, Armenian ho, Cherokee ni
    "i": "\u0456\u0131\u0269\u03b9\u026a\ua647\u13a5",  # Cyrillic i, dotless i, iota, …
    "j": "\u0458\u03f3\u0237",  # Cyrillic je, Greek yot, dotless j
    "l": "\u04cf\u05c0\u07ca\u2d4f\u01c0",  # palochka, paseq, NKo a, Tifinagh yan, click
    "n": "\u0578\u057c",  # Armenian vo, ra
    "o": "\u043e\u03bf\u0585\u2c9f\u1d0f",  # Cyrillic o, omicron, Armenian oh, Coptic o, …
    "p": "\u0440\u03c1\u2ca3",  # Cyrillic er, Greek rho, Coptic ro
    "q": "\u051b\u0563\u0566",  # Cyrillic qa, Armenian gim, za
    "r": "\u0433\u1d26\u2c85\uab47",  # Cyrillic ghe, small capital gamma, Coptic gamma, …
    "s": "\u0455\u01bd\ua731",  # Cyrillic dze, tone five, small capital s
    "u": "\u057d\u028b\u03c5\u1d1c\ua79f",  # Armenian seh, v with hook, upsilon, …
    "v": "\u03bd\u0475\u1d20\u2228",  # Greek nu, Cyrillic izhitsa, small capital v, logical or
    "w": "\u0461\u051d\u026f\u1d21\u0561",  # Cyrillic omega, we, turned m, …, Armenian ayb
    "x": "\u0445\u00d7\u2a2f\u157d",  # Cyrillic ha, multiplication sign, cross product, Cans hk
    "y": "\u0443\u0263\u03b3\u04af\u10e7\u1eff\u028f",  # Cyrillic u, gamma, straight u, …
    "z": "\u1d22\uab93",  # small capital z, Cherokee no
    "A": "\u0391\u0410\u13aa\u15c5\ua4ee",  # Greek, Cyrillic, Cherokee, Cans, Lisu
    "B": "\u0392\u0412\u13f4\u15f7\ua4d0",
    "C": "\u0421\u13df\ua4da\u2ca4",
    "D": "\u13a0\u15ea\ua4d3",
    "E": "\u0395\u0415\u13ac\ua4f0\u2d39",
    "F": "\u03dc\u15b4\ua4dd",
    "G": "\u050c\u13c0\ua4d6",
    "H": "\u0397\u041d\u13bb\u157c\ua4e7\u2c8e",
    "I": "\u0399\u0406\u04c0",
    "J": "\u037f\u0408\u13ab\u148d\ua4d9",
    "K": "\u039a\u041a\u13e6\u16d5\ua4d7\u2c94",
    "L": "\u13de\u14aa\ua4e1\u2cd0",
    "M": "\u039c\u041c\u03fa\u13b7\u15f0\ua4df\u2c98",
    "N": "\u039d\u2c9a\ua4e0",
    "O": "\u039f\u041e\u0555\u2c9e\ua4f3",
    "P": "\u03a1\u0420\u13e2\u146d\ua4d1\u2ca2",
    "Q": "\u051a\u2d55",
    "R": "\u13a1\u13d2\u1587\ua4e3",
    "S": "\u0405\u054f\u13d5\u13da\ua4e2",
    "T": "\u03a4\u0422\u13a2\u22a4\ua4d4\u2ca6",
    "U": "\u054d\u144c\u222a\ua4f4",
    "V": "\u0474\u13d9\u142f\ua4e6\u2d38",
    "W": "\u051c\u13b3\u13d4\ua4ea",
    "X": "\u03a7\u0425\u166d\u2573\u2cac\ua4eb",
    "Y": "\u03a5\u0423\u04ae\u13a9\u13bd\u2ca8\ua4ec",
    "Z": "\u0396\u13c3\ua4dc",
    "3": "\u0417\u01b7",  # Cyrillic ze, ezh
    "-": "\u2010\u2012\u2013\u2212\u02d7\u2043",  # hyphen, figure/en dash, minus, …
    "'": "\u2018\u2019\u02bc\u02b9\u2032",  # curly quotes, modifier apostrophe, prime
    '"': "\u201c\u201d\u02ba",  # curly double quotes, modifier double prime
    "/": "\u2215\u2044\u2571",  # division slash, fraction slash, box diagonal
    ":": "\u0589\u05c3\u2236",  # Armenian full stop, sof pasuq, ratio
    "!": "\u01c3",  # retroflex click
    ".": "\ua4f8",  # Lisu tone mya ti
}

_FOLD: dict[int, str] = {ord(c): ascii_ for ascii_, cs in _CONFUSABLES.items() for c in cs}
_FOLD_CHARS: dict[str, str] = {chr(cp): ascii_ for cp, ascii_ in _FOLD.items()}
_FOLD_RE = re.compile("[" + "".join(sorted(_FOLD_CHARS)) + "]")

# Invisible characters beyond category Cf: variation selectors, combining grapheme joiner,
# Mongolian free variation selectors, Hangul fillers.
_EXTRA_INVISIBLE = (
    *range(0xFE00, 0xFE10),
    *range(0xE0100, 0xE01F0),
    *(0x034F, 0x180B, 0x180C, 0x180D, 0x180F),
    *(0x115F, 0x1160, 0x3164, 0xFFA0),
)
# Canonical compositions and format characters live below this code point, plus the tags block.
_SCAN_LIMIT = 0x20000
_TAGS = range(0xE0000, 0xE0080)

_BLOCK = 512  # characters per block checked with one is_normalized call
_MAX_MARKS = 32  # stream-safe limit: marks normalised together (UAX #15)


def _char_class(code_points: set[int]) -> str:
    """A pattern matching runs of *code_points*, written as ranges (fast to match)."""
    parts: list[str] = []
    points = sorted(code_points)
    k = 0
    while k < len(points):
        first = last = points[k]
        while k + 1 < len(points) and points[k + 1] == last + 1:
            k += 1
            last = points[k]
        parts.append(re.escape(chr(first)) + ("-" + re.escape(chr(last)) if last > first else ""))
        k += 1
    return "[" + "".join(parts) + "]+"


class _Match(Protocol):
    def span(self) -> tuple[int, int]: ...


class _Regexp(Protocol):  # the part of a compiled re2 pattern used here
    def finditer(self, text: str) -> Iterator[_Match]: ...


@frozen
class _Tables:
    invisible: frozenset[str]
    invisible_re: _Regexp  # RE2: one pass over the whole text, 5x faster than re here
    # runs of characters NFKC may combine with what precedes them (plus invisibles, which are
    # dropped and so belong with their neighbours): never the first of a chunk
    attached_re: re.Pattern[str]


@functools.cache
def _tables() -> _Tables:
    """Build the character tables from this Python's Unicode database (once, ~60 ms)."""
    invisible = set(_EXTRA_INVISIBLE)
    composing: set[int] = set()
    code_points = (*range(_SCAN_LIMIT), *_TAGS)
    for cp in code_points:
        ch = chr(cp)
        if unicodedata.category(ch) == "Cf":
            invisible.add(cp)
        decomposition = unicodedata.decomposition(ch)
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                composing.add(int(parts[1], 16))
    # Hangul: leading + vowel jamo, and LV syllable + trailing jamo, compose algorithmically.
    composing.update((*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)))
    attached = set(invisible)
    for cp in code_points:
        ch = chr(cp)
        first = unicodedata.normalize("NFKD", ch)[0] if unicodedata.decomposition(ch) else ch
        if unicodedata.combining(first) or ord(first) in composing:
            attached.add(cp)
    import re2  # type: ignore[import-untyped,unused-ignore]

    return _Tables(
        frozenset(map(chr, invisible)),
        re2.compile(_char_class(invisible)),
        re.compile(_char_class(attached)),
    )


@frozen
class _OffsetMap:
    """Piecewise map from normalised offsets to original offsets.

    Segment ``k`` covers normalised offsets ``out_starts[k]`` up to the next segment. An exact
    segment maps character to character; an inexact one (a character NFKC expanded, a base
    with its marks, a character with dropped invisibles) maps all its output to the whole
    original span ``orig_starts[k]:orig_ends[k]``.
    """

    out_starts: tuple[int, ...]
    orig_starts: tuple[int, ...]
    orig_ends: tuple[int, ...]
    exact: tuple[bool, ...]
    out_len: int
    orig_len: int

    def start_of(self, i: int) -> int:
        if i >= self.out_len:
            return self.orig_len
        k = bisect_right(self.out_starts, i) - 1
        if self.exact[k]:
            return self.orig_starts[k] + i - self.out_starts[k]
        return self.orig_starts[k]

    def end_of(self, i: int) -> int:
        k = bisect_right(self.out_starts, i) - 1
        if self.exact[k]:
            return self.orig_starts[k] + i - self.out_starts[k] + 1
        return self.orig_ends[k]


@frozen
class Normalized:
    """Normalised text and the way back to the original.

    Attributes:
        text: The input after dropping invisible characters, NFKC, and folding confusables.
        changed: Whether ``text`` differs from the input.
        removed_invisible: How many invisible characters were dropped.
        folded_confusables: How many characters were folded to an ASCII look-alike.

    .. versionadded:: 0.1
    """

    text: str
    changed: bool = False
    removed_invisible: int = 0
    folded_confusables: int = 0
    _offsets: _OffsetMap | None = field(default=None, repr=False)

    def origin(self, start: int, end: int) -> tuple[int, int]:
        """Return the span of the original input that ``text[start:end]`` came from.

        The span covers every original character that contributed to the normalised ones,
        including invisible characters dropped between them. Spans are monotonic: a later
        normalised span never maps before an earlier one.

        Raises:
            ValueError: When the span is not within ``text``.
        """
        if not 0 <= start <= end <= len(self.text):
            msg = f"span ({start}, {end}) is outside the normalised text (length {len(self.text)})"
            raise ValueError(msg)
        offsets = self._offsets
        if offsets is None:
            return start, end
        first = offsets.start_of(start)
        if start == end:
            return first, first
        return first, offsets.end_of(end - 1)


def normalize(text: str) -> Normalized:
    """Normalise *text* for scanning; see the module docstring for the steps.

    .. versionadded:: 0.1
    """
    if text.isascii():
        return Normalized(text)
    return _Normalizer(without_surrogates(text), _tables()).run()


_SURROGATE = re.compile("[\ud800-\udfff]")


def without_surrogates(text: str) -> str:
    """*text* with each lone surrogate (text decoded with ``surrogateescape``, broken JSON
    escapes) replaced by U+FFFD, so it can be encoded as UTF-8; offsets do not move."""
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


def _fold(match: re.Match[str]) -> str:
    return _FOLD_CHARS[match.group()]


class _Normalizer:
    """One pass over non-ASCII text, collecting output pieces and the offset map."""

    def __init__(self, text: str, tables: _Tables) -> None:
        self.text = text
        self.tables = tables
        self.pieces: list[str] = []
        self.out_starts: list[int] = []
        self.orig_starts: list[int] = []
        self.orig_ends: list[int] = []
        self.exact: list[bool] = []
        self.out_len = 0
        self.pending = -1  # start of dropped characters not yet attached to output
        self.removed = 0

    def run(self) -> Normalized:
        text, tables = self.text, self.tables
        n = len(text)
        # Invisible runs, as (start, end) in order; `hidden` indexes the first not yet passed.
        invisible = [run.span() for run in tables.invisible_re.finditer(text)]
        invisible.append((n, n))
        hidden = 0
        i = 0
        while i < n:
            j = min(i + _BLOCK, n)
            attached = tables.attached_re.match(text, j)
            if attached:  # never cut between a character and its marks
                j = attached.end()
            block = text[i:j]
            while invisible[hidden][1] <= i:
                hidden += 1
            if block.isascii() or (
                invisible[hidden][0] >= j and unicodedata.is_normalized("NFKC", block)
            ):
                self._emit(block, i, j, exact=True)
            else:
                self._dirty(i, j)
            i = j
        out = "".join(self.pieces)
        folded = len(_FOLD_RE.findall(out))
        if folded:
            # translate() costs ~100 ns a character; sub() ~400 ns a replacement.
            dense = folded * 4 > len(out)
            out = out.translate(_FOLD) if dense else _FOLD_RE.sub(_fold, out)
        offsets = _OffsetMap(
            tuple(self.out_starts),
            tuple(self.orig_starts),
            tuple(self.orig_ends),
            tuple(self.exact),
            self.out_len,
            n,
        )
        return Normalized(out, out != text, self.removed, folded, offsets)

    def _dirty(self, i: int, j: int) -> None:
        """Normalise ``text[i:j]``: each base character with the marks attached to it."""
        pos = i
        for run in self.tables.attached_re.finditer(self.text, i, j):
            start, end = run.span()
            chunk_start = start - 1 if start > pos else start  # the base before the marks
            self._bases(pos, chunk_start)
            self._chunk(chunk_start, end)
            pos = end
        self._bases(pos, j)

    def _bases(self, i: int, j: int) -> None:
        """Normalise ``text[i:j]``, where no character combines with its neighbours."""
        if i == j:
            return
        part = self.text[i:j]
        out = unicodedata.normalize("NFKC", part)
        if len(out) == len(part):
            # Each character normalises on its own; equal length means one for one.
            self._emit(out, i, j, exact=True)
            return
        for k, ch in enumerate(part, i):
            one = unicodedata.normalize("NFKC", ch)
            self._emit(one, k, k + 1, exact=len(one) == 1)

    def _chunk(self, i: int, j: int) -> None:
        """Normalise one base character with its marks (and drop invisibles among them)."""
        invisible = self.tables.invisible
        kept = [ch for ch in self.text[i:j] if ch not in invisible]
        self.removed += j - i - len(kept)
        if len(kept) <= _MAX_MARKS:
            out = unicodedata.normalize("NFKC", "".join(kept))
        else:
            out = "".join(
                unicodedata.normalize("NFKC", "".join(kept[m : m + _MAX_MARKS]))
                for m in range(0, len(kept), _MAX_MARKS)
            )
        self._emit(out, i, j, exact=j - i == 1 and len(out) == 1)

    def _emit(self, out: str, start: int, end: int, *, exact: bool) -> None:
        """Append *out*, produced from ``text[start:end]``, to the output and the map."""
        if not out:
            if self.pending < 0:
                self.pending = start
            return
        if self.pending >= 0:
            # Dropped characters before this output belong to its first character.
            pending, self.pending = self.pending, -1
            if exact and len(out) > 1:
                self.pieces.append(out)
                self._segment(1, pending, start + 1, exact=False)
                self._segment(len(out) - 1, start + 1, end, exact=True)
                return
            start, exact = pending, False
        self.pieces.append(out)
        self._segment(len(out), start, end, exact=exact)

    def _segment(self, out_n: int, start: int, end: int, *, exact: bool) -> None:
        if exact and self.exact and self.exact[-1] and self.orig_ends[-1] == start:
            self.orig_ends[-1] = end
        else:
            self.out_starts.append(self.out_len)
            self.orig_starts.append(start)
            self.orig_ends.append(end)
            self.exact.append(exact)
        self.out_len += out_n
