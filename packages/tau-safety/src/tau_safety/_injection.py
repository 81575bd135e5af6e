"""Prompt-injection detection for inbound messages and tool results.

:class:`InjectionDetector` looks for five kinds of evidence that a piece of content tries to
instruct the model instead of informing it:

``override``
    Instruction-override phrasing ("ignore all previous instructions", "you are now DAN",
    "do not tell the user") in English, Spanish, French, German, Portuguese, Italian, Russian,
    Chinese, Japanese and Korean (:mod:`tau_safety._injection_phrases`).
``spoof``
    Fake chat-template and role markers (``<|im_start|>system``, ``[INST]``, ``### System:``,
    ``<system>`` with orders inside, ``{"role": "system"`` in content).
``hidden``
    Text a person does not see but a model reads: HTML comments and CSS-hidden elements that
    address an AI, zero-width characters interleaved in words, Unicode tag characters ("ASCII
    smuggling", decoded and scanned), variation-selector payloads, and markdown images whose URL
    carries a data placeholder (an exfiltration channel).
``encoded``
    Any of the above inside base64, hex, URL or quoted-printable runs, decoded up to two levels
    deep (:func:`tau_safety._decode.decoded_spans`), or in ``\\uXXXX`` escapes, 8-bit binary and
    base32; override phrasing written in ROT13, backwards, in leetspeak or spaced out letter by
    letter.
``smuggle``
    Tool-call syntax in content (``<tool_call>``, ``[TOOL_CALLS]``, ``{"name": …, "arguments"``).

Text is normalised first (:func:`tau_safety._normalize.normalize`: NFKC, invisible characters
dropped, confusables folded) and matched case-insensitively with RE2, so the work is linear in
the input; every span is mapped back to the original text. Each rule has its own score; findings
of *different* rules within :data:`_WINDOW` characters of each other raise each other's score,
so two weak signals together can report where either alone would not.

The hidden-text and markup checks live in :mod:`tau_safety._injection_hidden`, the decoding
of encoded runs and the obfuscated variants in :mod:`tau_safety._injection_obfuscation`; this
module holds the phrase engine, the score combining and the public API.

.. versionadded:: 0.1
"""

from __future__ import annotations

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from attrs import frozen

from ._injection_phrases import LETTERS, PHRASE_RULES, PhraseRule
from ._normalize import normalize

__all__ = ["InjectionDetector", "InjectionFinding", "hidden_text_spans"]

MAX_DEPTH = 2  # decode levels (and tag/variation-selector payload levels) scanned
MAX_HITS_PER_RULE = 64  # findings kept per rule id and text: enough to act on, bounded work
_WINDOW = 2000  # characters within which findings of different rules reinforce each other
EXCERPT_CHARS = 80  # longest excerpt of a finding
_NEG_BEFORE = 24
_NEG_AFTER = 12


@frozen
class InjectionFinding:
    """One piece of evidence of a prompt injection.

    Attributes:
        rule_id: What was found, e.g. ``override.ignore-previous``, ``spoof.system-role``,
            ``hidden.html-comment``, ``hidden.zero-width``, ``hidden.css``, ``encoded.base64``,
            ``smuggle.tool-call``.
        category: ``override``, ``spoof``, ``hidden``, ``encoded`` or ``smuggle``.
        language: Language of the phrasing (``en``, ``es``, ``fr``, ``de``, ``pt``, ``it``,
            ``ru``, ``zh``, ``ja``, ``ko``), or ``-`` when the evidence is not language.
        start: Offset of the evidence in the scanned (original) text.
        end: Offset just past it.
        excerpt: At most 80 printable characters describing it, safe to log (normalised: no
            invisible or control characters, white space collapsed).
        score: Confidence, 0..1, including support from other findings nearby.

    .. versionadded:: 0.1
    """

    rule_id: str
    category: str
    language: str
    start: int
    end: int
    excerpt: str
    score: float


# -- RE2, typed for the parts used here -----------------------------------------------------


class Match(Protocol):
    def start(self, group: int = 0) -> int: ...
    def end(self, group: int = 0) -> int: ...
    def group(self, group: int = 0) -> str: ...


class Regexp(Protocol):
    def finditer(self, text: str | bytes) -> Iterator[Match]: ...
    def search(self, text: str) -> Match | None: ...
    def sub(self, repl: str, text: str) -> str: ...


class _Set(Protocol):
    def Match(self, text: bytes) -> list[int] | None: ...


@functools.cache
def _variants(ch: str) -> list[str]:
    """*ch* and what normalisation turns it (or its other case) into, single characters only."""
    out = {ch}
    for form in (ch, ch.lower(), ch.upper()):
        folded = normalize(form).text
        if len(folded) == 1:
            out.add(folded)
    return sorted(out)


def _escape_class_char(ch: str) -> str:
    return "\\" + ch if ch.isascii() and not ch.isalnum() else ch


def fold_pattern(pattern: str) -> str:
    """Rewrite the non-ASCII letters of an RE2 *pattern* to also match their normalised form.

    Normalisation folds Cyrillic ``о`` to ASCII ``o`` (and ``Г`` stays ``Г`` while ``г``
    becomes ``r``), so a Russian pattern written in plain Cyrillic would never match normalised
    text. Each such character becomes a class of all its forms.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch.isascii():
            if ch == "[" and not in_class:
                in_class = True
                out.append(ch)
                if pattern[i + 1 : i + 2] == "^":
                    out.append("^")
                    i += 1
            else:
                if ch == "]" and in_class:
                    in_class = False
                out.append(ch)
            i += 1
            continue
        forms = _variants(ch)
        if in_class:
            out.append("".join(_escape_class_char(f) for f in forms))
        elif len(forms) == 1:
            out.append(ch)
        else:
            out.append("[" + "".join(_escape_class_char(f) for f in forms) + "]")
        i += 1
    return "".join(out)


def compile_pattern(pattern: str, *, case_sensitive: bool = False) -> Regexp:
    import re2  # type: ignore[import-untyped,unused-ignore]

    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # a DFA out of memory falls back to the NFA: not an error
    options.max_mem = 32 << 20
    regexp: Regexp = re2.compile(fold_pattern(pattern), options)
    return regexp


@frozen
class _CompiledRule:
    rule: PhraseRule
    regexp: Regexp
    negation: Regexp | None
    negation_after: Regexp | None
    damp: Regexp | None


@frozen
class _Prefilter:
    keywords: _Set
    keyword_rules: tuple[tuple[int, ...], ...]  # keyword index -> indices into the rules

    def candidates(self, data: bytes) -> list[int]:
        """Indices of the rules one of whose keywords occurs in *data*."""
        present = self.keywords.Match(data) or []
        return sorted({r for k in present for r in self.keyword_rules[k]})


def _prefilter(rules: Iterable[tuple[int, PhraseRule]]) -> _Prefilter:
    import re2  # type: ignore[import-untyped,unused-ignore]

    keyword_index: dict[str, int] = {}
    keyword_rules: list[list[int]] = []
    for index, rule in rules:
        for keyword in rule.keywords:
            if keyword not in keyword_index:
                keyword_index[keyword] = len(keyword_rules)
                keyword_rules.append([])
            keyword_rules[keyword_index[keyword]].append(index)
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = 64 << 20
    options.log_errors = False
    keyword_set = re2.Set.SearchSet(options)
    for keyword in keyword_index:  # insertion order = index order
        keyword_set.Add(fold_pattern(_keyword_pattern(keyword)))
    keyword_set.Compile()
    return _Prefilter(keyword_set, tuple(tuple(r) for r in keyword_rules))


@frozen
class _Engine:
    rules: tuple[_CompiledRule, ...]
    all_rules: _Prefilter
    strong_overrides: _Prefilter  # override rules scoring 0.6 or more, for obfuscated variants


def _keyword_pattern(keyword: str) -> str:
    """The RE2 pattern of one prefilter keyword (see :attr:`PhraseRule.keywords`)."""
    import re2  # type: ignore[import-untyped,unused-ignore]

    if keyword.startswith("re:"):
        return keyword[3:]
    # White space in a keyword matches any run of white space, as the patterns do.
    literal = r"\s+".join(re2.escape(part) for part in keyword.split())
    if len(keyword) <= 4 and keyword[0].isascii() and keyword[0].isalpha():
        literal = r"\b" + literal  # "hi" must start a word, not sit inside "this"
    return str(literal)


_BEFORE_WORD = rf"(?:^|[^{LETTERS}_])("
_AFTER_WORD = rf")(?:$|[^{LETTERS}_])"


@functools.cache
def _engine() -> _Engine:
    """Compile every phrase rule and the keyword prefilters (once, on first use)."""
    compiled = []
    for rule in PHRASE_RULES:
        core = _BEFORE_WORD + rule.pattern + _AFTER_WORD if rule.words else f"({rule.pattern})"
        compiled.append(
            _CompiledRule(
                rule,
                compile_pattern(core, case_sensitive=rule.case_sensitive),
                compile_pattern(rule.negation) if rule.negation else None,
                compile_pattern(rule.negation_after) if rule.negation_after else None,
                compile_pattern(rule.damp) if rule.damp else None,
            )
        )
    numbered = list(enumerate(PHRASE_RULES))
    strong = [(i, r) for i, r in numbered if r.category == "override" and r.score >= 0.6]
    return _Engine(tuple(compiled), _prefilter(numbered), _prefilter(strong))


# -- findings under construction --------------------------------------------------------------


@frozen
class Hit:
    rule_id: str
    category: str
    language: str
    start: int  # in the scanned text
    end: int
    excerpt: str
    score: float
    nstart: int = -1  # in the normalised text, when the hit came from it
    nend: int = -1


def safe_excerpt(text: str) -> str:
    """A short, printable, single-line rendering of *text* for logs."""
    flat = " ".join(text[: 4 * EXCERPT_CHARS].split())
    safe = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return safe if len(safe) <= EXCERPT_CHARS else safe[: EXCERPT_CHARS - 1] + "…"


class InjectionDetector:
    """Scan text for prompt-injection evidence.

    Args:
        threshold: Findings scoring below this are not reported (0..1).

    Example:
        >>> detector = InjectionDetector()
        >>> [f.rule_id for f in detector.scan("Ignore all previous instructions.")]
        ['override.ignore-previous']

    .. versionadded:: 0.1
    """

    def __init__(self, *, threshold: float = 0.5) -> None:
        if not 0.0 <= threshold <= 1.0:
            msg = f"threshold must be between 0 and 1, not {threshold!r}"
            raise ValueError(msg)
        self.threshold = threshold

    def scan(self, text: str) -> list[InjectionFinding]:
        """Return the findings in *text* scoring at least the threshold, in order of position.

        Spans refer to *text* itself (not its normalised form).
        """
        if not text:
            return []
        from ._normalize import without_surrogates

        text = without_surrogates(text)
        hits = analyse(text, 0)
        return [
            InjectionFinding(h.rule_id, h.category, h.language, h.start, h.end, h.excerpt, h.score)
            for h in hits
            if h.score >= self.threshold
        ]


def hidden_text_spans(text: str) -> list[tuple[int, int, str]]:
    """Return the spans of *text* a reader does not see, whatever they say.

    Kinds: ``html-comment``, ``css`` (an element hidden by its inline style), ``html-attribute``
    (an element with the ``hidden`` attribute), ``unicode-tags``, ``variation-selectors`` and
    ``zero-width`` (runs of zero-width characters interleaved in words). Spans are offsets into
    *text*, sorted.

    .. versionadded:: 0.1
    """
    from ._injection_hidden import hidden_spans

    return hidden_spans(text)


# -- the analysis -----------------------------------------------------------------------------


def analyse(text: str, depth: int) -> list[Hit]:
    """All hits in *text* with combined scores, unfiltered, sorted by position."""
    # The checks import this module's engine; imported here, not at the top, to avoid a cycle.
    from ._injection_hidden import payload_hits, structure_hits, zero_width_hits
    from ._injection_obfuscation import encoded_hits, obfuscated_hits

    norm = normalize(text)
    ntext = norm.text

    def origin(start: int, end: int) -> tuple[int, int]:
        return norm.origin(start, end)

    hits = list(scan_phrases(ntext, origin))
    hits += structure_hits(ntext, origin, hits)
    hits += payload_hits(text, depth)
    if norm.removed_invisible:
        hits += zero_width_hits(text)
    if depth < MAX_DEPTH:
        hits += encoded_hits(ntext, origin, depth)
    hits += obfuscated_hits(ntext, origin)
    return _combine(hits)


Origin = Callable[[int, int], tuple[int, int]]


_CONTINUATION = bytes(range(0x80, 0xC0))
_INDEX_BLOCK = 1 << 14


class _CharIndex:
    """Character offsets of byte offsets into UTF-8 *data*, built on first use.

    Matching runs on the UTF-8 bytes (encoded once, not once per rule); a character offset is
    the byte offset less the continuation bytes before it, counted per block.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.ascii = data.isascii()
        self.blocks: list[int] | None = None

    def _continuations(self, start: int, end: int) -> int:
        segment = self.data[start:end]
        return len(segment) - len(segment.translate(None, _CONTINUATION))

    def char(self, offset: int) -> int:
        if self.ascii:
            return offset
        if self.blocks is None:
            blocks, total = [], 0
            for start in range(0, len(self.data) + 1, _INDEX_BLOCK):
                blocks.append(total)
                total += self._continuations(start, start + _INDEX_BLOCK)
            self.blocks = blocks
        k = offset // _INDEX_BLOCK
        return offset - self.blocks[k] - self._continuations(k * _INDEX_BLOCK, offset)


def scan_phrases(ntext: str, origin: Origin, *, strong_overrides: bool = False) -> Iterator[Hit]:
    """Phrase-rule hits in *ntext*; with *strong_overrides*, only override rules of weight."""
    engine = _engine()
    data = ntext.encode("utf-8")
    index = _CharIndex(data)
    prefilter = engine.strong_overrides if strong_overrides else engine.all_rules
    per_rule: dict[str, int] = {}
    for rule_index in prefilter.candidates(data):
        compiled = engine.rules[rule_index]
        rule = compiled.rule
        for match in compiled.regexp.finditer(data):
            if per_rule.get(rule.rule_id, 0) >= MAX_HITS_PER_RULE:
                break
            per_rule[rule.rule_id] = per_rule.get(rule.rule_id, 0) + 1
            nstart, nend = index.char(match.start(1)), index.char(match.end(1))
            score = rule.score
            if compiled.negation and compiled.negation.search(
                ntext[max(0, nstart - _NEG_BEFORE) : nstart]
            ):
                score *= 0.4
            if compiled.negation_after and compiled.negation_after.search(
                ntext[nend : nend + _NEG_AFTER]
            ):
                score *= 0.4
            if compiled.damp and compiled.damp.search(ntext[nstart:nend]):
                score *= 0.55
            start, end = origin(nstart, nend)
            yield Hit(
                rule.rule_id,
                rule.category,
                rule.language,
                start,
                end,
                safe_excerpt(ntext[nstart:nend]),
                score,
                nstart,
                nend,
            )


def _nested(a: Hit, b: Hit) -> bool:
    return (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)


def _combine(hits: Iterable[Hit]) -> list[Hit]:
    """Merge overlapping hits of one rule and let nearby hits of other rules raise scores.

    A hit's score ``s`` becomes ``1 - (1 - s) * prod(1 - s_r / 2)`` over every other rule ``r``
    with a hit within :data:`_WINDOW` characters, ``s_r`` being that rule's best nearby score.
    A hit nested in another (or holding it) is the same evidence and lends no support.
    """
    merged: dict[str, list[Hit]] = {}
    for hit in sorted(hits, key=lambda h: (h.start, -h.score)):
        same = merged.setdefault(hit.rule_id, [])
        if same and hit.start < same[-1].end:
            if hit.score > same[-1].score:
                same[-1] = hit
            continue
        same.append(hit)
    index = {
        rule_id: (
            [h.start for h in own],
            max(h.end - h.start for h in own),
            max(h.score for h in own),
            own,
        )
        for rule_id, own in merged.items()
    }
    out: list[Hit] = []
    for rule_id, own in merged.items():
        for hit in own:
            remaining = 1.0 - hit.score
            for other_id, (starts, longest, best, others) in index.items():
                if other_id == rule_id:
                    continue
                lo = bisect_left(starts, hit.start - _WINDOW - longest)
                hi = bisect_right(starts, hit.end + _WINDOW)
                support = 0.0
                for other in others[lo:hi]:
                    if other.end < hit.start - _WINDOW or other.score <= support:
                        continue
                    if _nested(other, hit):
                        continue  # the same words matched twice: not independent evidence
                    support = other.score
                    if support >= best:
                        break
                remaining *= 1.0 - 0.5 * support
            score = round(min(0.99, 1.0 - remaining), 4)
            out.append(
                Hit(
                    hit.rule_id,
                    hit.category,
                    hit.language,
                    hit.start,
                    hit.end,
                    hit.excerpt,
                    score,
                    hit.nstart,
                    hit.nend,
                )
            )
    out.sort(key=lambda h: (h.start, h.end, h.rule_id))
    return out
