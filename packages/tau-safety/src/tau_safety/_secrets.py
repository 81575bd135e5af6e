"""The secret scanner: rules, entropy and known values over normalised and decoded text.

How :meth:`SecretScanner.scan` works, in linear time whatever the input:

1. The text is normalised (:func:`~tau_safety._normalize.normalize`: invisible characters
   dropped, NFKC, confusables folded; ASCII text is used as is). Matching works on its UTF-8
   bytes, with RE2 only (no backtracking), and spans are mapped back to the original text.
   When normalisation changed the text, the original is scanned as well, so a character that
   NFKC merges into a secret (a combining mark after it) cannot hide it.
2. Keyword prefilter: one RE2 set of every rule's keywords runs once over the bytes
   (case-insensitively) and says which keywords occur; only the rules with an occurring
   keyword run, plus the rules without keywords.
3. The rules that run each make one pass. A candidate is dropped when its entropy is under the
   rule's ``min_entropy`` or when it is an obvious placeholder
   (:func:`~tau_safety._entropy.is_placeholder`); rules with a ``min_entropy`` (generic
   formats) also get the digest, UUID and git id filters of :mod:`tau_safety._entropy`.
4. The entropy detector (``high-entropy-assignment``, see :mod:`tau_safety._entropy`) runs when
   a secret-like key word occurs.
5. Known values (``known-secret``): every value given to :meth:`SecretScanner.add_value` is
   searched raw, normalised, JSON-escaped, URL-encoded, hex-encoded and base64/base64url-encoded
   (at all three byte alignments, so it is found inside a longer base64 blob too) by RE2
   alternations of literals (one per 1,024 literals, about 6 to 10 per value), rebuilt when
   values change. Values shorter than 4 characters are ignored: replacing them would mangle
   ordinary text.
6. Decode-and-rescan: each span :func:`~tau_safety._decode.decoded_spans` finds is scanned again
   (steps 1-6) up to ``decode_depth`` levels deep; a finding in decoded text reports the whole
   encoded span of the original text and the chain of encodings (``"base64>url"``, outermost
   first). Decoding is bounded: at most 2 characters of decoded text are rescanned per
   character of input, plus 64 Ki characters (2 MB per MB); spans past the budget are skipped.

Known limitation: when two known values overlap in the text, only the leftmost (longest)
occurrence may be reported, so a few characters of the other may stay unredacted.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from attrs import define, evolve, frozen

from ._entropy import (
    ASSIGNMENT_KEYWORDS,
    ENTROPY_RULE_ID,
    ENTROPY_SERVICE,
    AssignmentDetector,
    is_false_positive,
    is_placeholder,
    shannon_entropy,
)
from ._normalize import normalize
from ._rule import Rule

__all__ = ["KNOWN_SECRET_ID", "SecretFinding", "SecretScanner"]

KNOWN_SECRET_ID = "known-secret"  # noqa: S105 (a rule id, not a password)
KNOWN_SECRET_SERVICE = "credential store"  # noqa: S105 (a service name, not a password)
MIN_KNOWN_LENGTH = 4
_DECODE_FACTOR = 2
_DECODE_FLOOR = 1 << 16
_PREVIEW_MIN = 16  # secrets shorter than this show no character in their preview
_PREVIEW_CHARS = 4
_RANK_KNOWN, _RANK_RULE, _RANK_ENTROPY = 0, 1, 2
_ENTROPY = -1  # index standing for the entropy detector among rule indices
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_")
_CONTINUATION = bytes(range(0x80, 0xC0))
_SURROGATE = re.compile("[\ud800-\udfff]")
_WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_MAX_REJECTED = 256
_LITERALS_PER_REGEX = 1024
_SHORT_BASE64 = 7  # bytes; shorter values are searched as their whole encoding
_RAW_MARGIN = 512
_MAX_WINDOWS = 64
# Non-ASCII characters, clustered when less than _RAW_MARGIN ASCII characters apart (the two
# classes are disjoint, so this cannot backtrack more than one run of ASCII per match).
_NON_ASCII_CLUSTER = re.compile(rf"[^\x00-\x7f]+(?:[\x00-\x7f]{{1,{_RAW_MARGIN}}}[^\x00-\x7f]+)*")


def _re2() -> Any:
    import re2  # type: ignore[import-untyped,unused-ignore]

    return re2


@frozen
class SecretFinding:
    """One secret found in a text.

    Attributes:
        rule_id: The rule that found it (``aws-access-key-id``, ``high-entropy-assignment``,
            ``known-secret``).
        service: Whose credential it is (``AWS``, ``generic``, ``credential store``).
        start: Start of the secret in the text given to :meth:`SecretScanner.scan`; for a
            secret found in decoded text, start of the whole encoded span.
        end: End of that span.
        line: 1-based line of ``start``.
        column: 1-based column (in characters) of ``start``.
        preview: ``"…[REDACTED]"``, preceded by the first 4 characters of the secret when it
            is at least 16 characters long; never more of it.
        encoding: ``None``, or the chain of encodings the secret was found under, outermost
            first (``"base64"``, ``"base64>url"``).
        secret_hash: SHA-256 (hex) of the secret, to de-duplicate without keeping the value.

    .. versionadded:: 0.1
    """

    rule_id: str
    service: str
    start: int
    end: int
    line: int
    column: int
    preview: str
    encoding: str | None
    secret_hash: str


@frozen
class _Hit:
    """A finding before line/column and preview; spans in the coordinates of one text."""

    rank: int
    order: int  # rule index, to keep the first rule's finding among duplicates
    rule_id: str
    service: str
    start: int
    end: int
    secret: str
    encoding: str | None = None


@define
class _Budget:
    remaining: int


class _Rules:
    """Rules compiled for matching: the keyword set and each rule's RE2 (compiled on first use)."""

    def __init__(self, rules: Sequence[Rule], *, entropy: bool) -> None:
        self.rules = tuple(rules)
        self._regexes: list[tuple[Any, Any] | None] = [None] * len(self.rules)
        always: list[int] = []
        by_keyword: dict[str, set[int]] = {}
        for index, rule in enumerate(self.rules):
            if not rule.keywords:
                always.append(index)
            for keyword in rule.keywords:
                by_keyword.setdefault(keyword, set()).add(index)
        if entropy:
            for keyword in ASSIGNMENT_KEYWORDS:
                by_keyword.setdefault(keyword, set()).add(_ENTROPY)
        self.always = frozenset(always)
        self.keywords = sorted(by_keyword)
        self._targets = [frozenset(by_keyword[k]) for k in self.keywords]
        self._set: Any = None
        if self.keywords:
            re2 = _re2()
            options = re2.Options()
            options.case_sensitive = False
            options.max_mem = 64 << 20
            keyword_set = re2.Set.SearchSet(options)
            for keyword in self.keywords:
                keyword_set.Add(re2.escape(keyword.encode("utf-8")))
            keyword_set.Compile()
            self._set = keyword_set

    def active(self, data: bytes) -> list[int]:
        """Indices of the rules to run on *data* (``_ENTROPY`` first when it runs)."""
        selected = set(self.always)
        if self._set is not None:
            for index in self._set.Match(data) or ():
                selected.update(self._targets[index])
        return sorted(selected)

    def matches(self, index: int, data: bytes) -> Iterator[Any]:
        """The matches of rule *index* in *data*, exactly as its pattern's ``finditer``."""
        compiled = self._regexes[index]
        if compiled is None:
            compiled = self._compile(self.rules[index])
            self._regexes[index] = compiled
        fast, exact = compiled
        if fast is None:
            return exact.finditer(data)  # type: ignore[no-any-return]
        return _bounded_matches(fast, exact, data)

    @staticmethod
    def _compile(rule: Rule) -> tuple[Any, Any]:
        """The rule's RE2, and a faster twin when its pattern starts with ``\\b``.

        RE2 skips to a literal prefix with memchr-like speed, but not when the pattern starts
        with ``\\b``; the twin leaves the ``\\b`` out and :func:`_bounded_matches` checks it.
        """
        re2 = _re2()
        try:
            exact = re2.compile(rule.pattern)
            fast = re2.compile(rule.pattern[2:]) if rule.pattern.startswith("\\b") else None
        except Exception as exc:
            msg = f"rule {rule.id!r} has a pattern RE2 cannot compile: {exc}"
            raise ValueError(msg) from exc
        return fast, exact


def _bounded_matches(fast: Any, exact: Any, data: bytes) -> Iterator[Any]:
    """Matches of ``\\b`` + *fast* (= *exact*) in *data*, found with *fast* then checked.

    Equivalent to ``exact.finditer(data)``: the leftmost match of *fast* from a position is
    the leftmost match of *exact* when a word boundary precedes it; otherwise the search goes
    on one character later. Rejections are bounded (count and bytes re-scanned): past the
    bound, the rest is left to *exact*, so the work stays linear.
    """
    size = len(data)
    position = rejected = wasted = 0
    while position <= size:
        match = fast.search(data, position)
        if match is None:
            return
        start, end = match.span()
        before = start > 0 and data[start - 1] in _WORD_BYTES
        after = start < size and data[start] in _WORD_BYTES
        if before != after:
            yield match
            position = end if end > start else start + 1
            continue
        rejected += 1
        wasted += end - start + 1
        if rejected > _MAX_REJECTED or wasted > size:
            yield from exact.finditer(data, start + 1)
            return
        position = start + 1


class _KnownValues:
    """Every known value in every encoding, as RE2 alternations of literals.

    Literals go in groups of at most ``_LITERALS_PER_REGEX``, longest first in each, so each
    group's automaton stays small (one alternation of thousands of literals outgrows RE2's DFA
    memory and falls back to a slow NFA); a few hundred values stay in one group.
    """

    def __init__(self, values: Iterable[str]) -> None:
        self._literals: dict[bytes, tuple[str, str | None]] = {}  # literal: value, encoding
        self._widen: set[bytes] = set()  # base64 cores: neighbours carry bits of the value
        for value in values:
            for literal, encoding, widen in _variants(value):
                # Normalising may shrink a value (all invisible): never search a short literal.
                if len(literal) >= MIN_KNOWN_LENGTH and literal not in self._literals:
                    self._literals[literal] = (value, encoding)
                    if widen:
                        self._widen.add(literal)
        re2 = _re2()
        options = re2.Options()
        options.encoding = re2.Options.Encoding.LATIN1
        options.max_mem = 64 << 20
        ordered = sorted(self._literals, key=len, reverse=True)
        self._regexes = [
            re2.compile(b"|".join(re2.escape(literal) for literal in group), options)
            for group in (
                ordered[i : i + _LITERALS_PER_REGEX]
                for i in range(0, len(ordered), _LITERALS_PER_REGEX)
            )
        ]

    def find(self, data: bytes) -> Iterable[tuple[int, int, str, str | None]]:
        """Yield ``(start, end, value, encoding)`` for each known value in *data*."""
        for regex in self._regexes:
            for match in regex.finditer(data):
                start, end = match.span()
                literal = data[start:end]
                if literal in self._widen:
                    if start > 0 and data[start - 1] in _B64_CHARS:
                        start -= 1
                    if end < len(data) and data[end] in _B64_CHARS:
                        end += 1
                yield start, end, *self._literals[literal]


def _variants(value: str) -> Iterable[tuple[bytes, str | None, bool]]:
    """The literals under which *value* may appear: ``(literal, encoding, widen)``.

    *widen* marks base64 literals whose neighbouring characters carry bits of the value: a
    match takes one more character on each side.
    """
    raw = value.encode("utf-8", "surrogatepass")
    texts = {value, normalize(value).text, json.dumps(value)[1:-1]}
    texts.add(json.dumps(value, ensure_ascii=False)[1:-1])
    for text in texts:
        yield text.encode("utf-8", "surrogatepass"), None, False
    for text in texts:
        for quoted in (urllib.parse.quote(text, safe=""), urllib.parse.quote_plus(text, safe="")):
            if quoted not in texts:
                yield quoted.encode(), "url", False
                yield _lower_escapes(quoted).encode(), "url", False
    yield raw.hex().encode(), "hex", False
    yield raw.hex().upper().encode(), "hex", False
    for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        if len(raw) < _SHORT_BASE64:
            yield encode(raw).rstrip(b"="), name, True  # too short for alignment cores
            continue
        for shift in (0, 1, 2):
            # The characters made only of the value's bits, when it starts *shift* bytes into
            # a 3-byte group: found inside any longer base64 text.
            encoded = encode(b"\0" * shift + raw)
            yield encoded[-(-8 * shift // 6) : (8 * (shift + len(raw))) // 6], name, True


def _lower_escapes(quoted: str) -> str:
    parts = quoted.split("%")
    return parts[0] + "".join("%" + p[:2].lower() + p[2:] for p in parts[1:])


def _char_offsets(data: bytes, offsets: Iterable[int]) -> dict[int, int]:
    """Map byte offsets of UTF-8 *data* to character offsets (one pass over the data)."""
    result: dict[int, int] = {}
    byte_pos = char_pos = 0
    for offset in sorted(set(offsets)):
        char_pos += len(data[byte_pos:offset].translate(None, _CONTINUATION))
        byte_pos = offset
        result[offset] = char_pos
    return result


class SecretScanner:
    """Finds and redacts secrets in text (see the module docstring for the method).

    Args:
        rules: The rules to apply; by default :data:`tau_safety._rules.RULES`.
        entropy: Whether to run the high-entropy assignment detector.
        decode_depth: How many levels of encoding to look through (0: none).
        extra_values: Known secret values, as if each was given to :meth:`add_value`.

    Thread-safe: :meth:`scan` and :meth:`redact` may run concurrently with :meth:`add_value`.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        rules: Sequence[Rule] | None = None,
        *,
        entropy: bool = True,
        decode_depth: int = 2,
        extra_values: Iterable[str] = (),
    ) -> None:
        if rules is None:
            from ._rules import RULES

            rules = RULES
        if decode_depth < 0:
            msg = f"decode_depth must be 0 or more, not {decode_depth}"
            raise ValueError(msg)
        self._compiled = _Rules(rules, entropy=entropy)
        self._entropy = AssignmentDetector() if entropy else None
        self._decode_depth = decode_depth
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._known: _KnownValues | None = None
        self._known_stale = False
        for value in extra_values:
            self.add_value(value)

    def add_value(self, value: str) -> None:
        """Register an exact secret value (a credential, an injected secret).

        It is found from then on, raw or encoded, with rule id ``known-secret``. Values
        shorter than 4 characters are ignored.
        """
        if len(value) < MIN_KNOWN_LENGTH:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._known_stale = True

    def scan(self, text: str) -> list[SecretFinding]:
        """Return the secrets in *text*, ordered by position."""
        known = self._known_values()
        budget = _Budget(_DECODE_FACTOR * len(text) + _DECODE_FLOOR)
        hits: list[_Hit] = []
        if not text.isascii():
            # Lone surrogates (from JSON "\\ud800" escapes) cannot be encoded to UTF-8; U+FFFD
            # keeps every offset where it was.
            text = _SURROGATE.sub("\ufffd", text)
        self._scan_text(text, known, 0, budget, hits)
        return _findings(text, hits)

    def redact(
        self, text: str, *, replacement: str = "[REDACTED]"
    ) -> tuple[str, list[SecretFinding]]:
        """Replace every secret in *text* with *replacement*.

        Overlapping or touching findings are replaced once; a secret found in decoded text has
        its whole encoded span replaced.

        Returns:
            The redacted text and the findings (spans in the original *text*).
        """
        findings = self.scan(text)
        pieces: list[str] = []
        position = 0
        for start, end in _merged((f.start, f.end) for f in findings):
            pieces.extend((text[position:start], replacement))
            position = end
        pieces.append(text[position:])
        return "".join(pieces), findings

    def _known_values(self) -> _KnownValues | None:
        with self._lock:
            if self._known_stale:
                self._known = _KnownValues(sorted(self._values)) if self._values else None
                self._known_stale = False
            return self._known

    def _scan_text(
        self, text: str, known: _KnownValues | None, depth: int, budget: _Budget, out: list[_Hit]
    ) -> None:
        """Append the hits in *text* to *out*, spans in *text*'s coordinates."""
        normalized = normalize(text)
        self._match(normalized.text, known, out, normalized.origin)
        if normalized.changed:
            for start, end in _changed_windows(text):
                window = text[start:end]
                self._match(window, known, out, functools.partial(_shifted, start))
        if depth >= self._decode_depth:
            return
        from ._decode import decoded_spans

        for span in decoded_spans(normalized.text):
            if len(span.text) > budget.remaining:
                continue
            budget.remaining -= len(span.text)
            inner: list[_Hit] = []
            self._scan_text(span.text, known, depth + 1, budget, inner)
            if not inner:
                continue
            start, end = normalized.origin(span.start, span.end)
            for hit in inner:
                chain = span.encoding if hit.encoding is None else f"{span.encoding}>{hit.encoding}"
                out.append(evolve(hit, start=start, end=end, encoding=chain))

    def _match(
        self,
        text: str,
        known: _KnownValues | None,
        out: list[_Hit],
        origin: Callable[[int, int], tuple[int, int]],
    ) -> None:
        """Run rules, entropy and known values over *text*; map spans through *origin*."""
        data = text.encode("utf-8", "surrogatepass")
        # byte span, rank, rule index, rule id, service, and for known values: value, encoding
        found: list[tuple[int, int, int, int, str, str, str | None, str | None]] = []
        for index in self._compiled.active(data):
            if index == _ENTROPY:
                if self._entropy is not None:
                    for start, end in self._entropy.find(data):
                        hit = (start, end, _RANK_ENTROPY, 0, ENTROPY_RULE_ID, ENTROPY_SERVICE)
                        found.append((*hit, None, None))
                continue
            rule = self._compiled.rules[index]
            group = -1
            for match in self._compiled.matches(index, data):
                if group < 0:
                    group = 1 if match.re.groups else 0
                start, end = match.span(group)
                if start < 0 or end <= start:
                    continue
                if _rejected(rule, data, start, end):
                    continue
                found.append((start, end, _RANK_RULE, index, rule.id, rule.service, None, None))
        if known is not None:
            for start, end, value, encoding in known.find(data):
                hit = (start, end, _RANK_KNOWN, 0, KNOWN_SECRET_ID, KNOWN_SECRET_SERVICE)
                found.append((*hit, value, encoding))
        if not found:
            return
        ascii_only = len(data) == len(text)
        chars = {} if ascii_only else _char_offsets(data, (o for f in found for o in f[:2]))
        for start, end, rank, order, rule_id, service, known_value, encoding in found:
            cstart, cend = (start, end) if ascii_only else (chars[start], chars[end])
            secret = text[cstart:cend] if known_value is None else known_value
            cstart, cend = origin(cstart, cend)
            out.append(_Hit(rank, order, rule_id, service, cstart, cend, secret, encoding))


def _shifted(offset: int, start: int, end: int) -> tuple[int, int]:
    return start + offset, end + offset


def _changed_windows(text: str) -> list[tuple[int, int]]:
    """Where the original text must be scanned too: around every non-ASCII character.

    Normalisation changes only non-ASCII characters, and a change can hide a secret only next
    to it (a combining mark merged into its last character, a look-alike letter folded onto its
    first). Windows reach ``_RAW_MARGIN`` characters further, out to a line break when one is
    near. When they would cover half the text, the whole text is one window.
    """
    size = len(text)
    windows: list[tuple[int, int]] = []
    covered = 0
    for run in _NON_ASCII_CLUSTER.finditer(text):
        start = max(0, run.start() - _RAW_MARGIN)
        end = min(size, run.end() + _RAW_MARGIN)
        line_start = text.rfind("\n", max(0, start - _RAW_MARGIN), start)
        start = start if line_start < 0 else line_start + 1
        line_end = text.find("\n", end, min(size, end + _RAW_MARGIN))
        end = end if line_end < 0 else line_end
        if windows and start <= windows[-1][1]:
            covered -= windows[-1][1] - windows[-1][0]
            start = windows.pop()[0]
        windows.append((start, end))
        covered += end - start
        if covered * 2 > size or len(windows) > _MAX_WINDOWS:
            return [(0, size)]
    return windows


def _rejected(rule: Rule, data: bytes, start: int, end: int) -> bool:
    """Whether a rule's candidate is a placeholder, too regular, or (for generic rules that
    declare a ``min_entropy``) a digest, UUID or git id."""
    secret = data[start:end].decode("utf-8", "replace")
    if rule.min_entropy is None:
        return is_placeholder(secret)
    if shannon_entropy(secret) < rule.min_entropy:
        return True
    return is_false_positive(data, start, end)


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with overlapping or touching ones merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _findings(text: str, hits: list[_Hit]) -> list[SecretFinding]:
    """De-duplicate *hits* and turn them into findings with line, column and preview.

    The same secret at the same span keeps one finding: a known value first, then the first
    rule, then the entropy detector. Overlapping findings of the same secret by the same rule
    under the same encoding become one (a known value matched encoded and found again by
    decoding). An entropy finding overlapping any other is dropped.
    """
    best: dict[tuple[int, int, str | None, str], tuple[_Hit, str]] = {}
    for hit in hits:
        digest = hashlib.sha256(hit.secret.encode("utf-8", "surrogatepass")).hexdigest()
        key = (hit.start, hit.end, hit.encoding, digest)
        kept = best.get(key)
        if kept is None or (hit.rank, hit.order) < (kept[0].rank, kept[0].order):
            best[key] = (hit, digest)
    runs: dict[tuple[str, str, str | None], list[tuple[_Hit, str]]] = {}
    for hit, digest in sorted(best.values(), key=lambda item: (item[0].start, item[0].end)):
        same = runs.setdefault((digest, hit.rule_id, hit.encoding), [])
        if same and hit.start < same[-1][0].end:
            if hit.end > same[-1][0].end:
                same[-1] = (evolve(same[-1][0], end=hit.end), digest)
        else:
            same.append((hit, digest))
    ordered = sorted(
        (item for run in runs.values() for item in run),
        key=lambda item: (item[0].start, item[0].end, item[0].rank),
    )
    claimed = _merged((h.start, h.end) for h, _ in ordered if h.rank != _RANK_ENTROPY)
    findings: list[SecretFinding] = []
    line, line_start, position, claim = 1, 0, 0, 0
    for hit, digest in ordered:
        if hit.rank == _RANK_ENTROPY:
            while claim < len(claimed) and claimed[claim][1] <= hit.start:
                claim += 1
            if claim < len(claimed) and claimed[claim][0] < hit.end:
                continue
        line += text.count("\n", position, hit.start)
        newline = text.rfind("\n", position, hit.start)
        if newline >= 0:
            line_start = newline + 1
        position = hit.start
        shown = hit.secret[:_PREVIEW_CHARS] if len(hit.secret) >= _PREVIEW_MIN else ""
        findings.append(
            SecretFinding(
                rule_id=hit.rule_id,
                service=hit.service,
                start=hit.start,
                end=hit.end,
                line=line,
                column=hit.start - line_start + 1,
                preview=f"{shown}…[REDACTED]",
                encoding=hit.encoding,
                secret_hash=digest,
            )
        )
    return findings
