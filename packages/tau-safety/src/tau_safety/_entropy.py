"""High-entropy values assigned to secret-like keys, and the false-positive filters.

The detector (rule id ``high-entropy-assignment``) finds a value that looks random, written
right after a key whose name says it holds a secret: ``password``, ``passwd``, ``pwd``,
``secret``, ``token``, ``api_key``/``apikey``, ``access_key``, ``auth``, ``credential``,
``private_key``, ``client_secret`` (case-insensitive, anywhere in the key name, so
``DB_PASSWORD`` and ``x-api-key`` count). The forms covered are ``.env`` and shell ``export``
(``KEY=value``), YAML (``key: value``), JSON (``"key": "value"``), INI (``key = value``),
PHP/Ruby (``'key' => 'value'``), Go (``key := "value"``), XML (``<key>value``), HTTP headers
(``Authorization: Bearer value``) and command-line flags (``--api-key value``,
``--token=value``).

A value counts as random when it is written in the hex or base64 (or base64url) alphabet, or
is quoted and holds punctuation as well (a generated password), and:

* its length is at least 16 (hex) or 20 (others); hex written behind a short prefix or with
  separators (``key-<hex>``, ``0x<hex>``, ``<hex>-us21``) counts as hex;
* hex has digits and letters; others under 32 characters have a digit or both cases of
  letters; quoted values with punctuation have a digit and two of lower case, upper case and
  punctuation, and are no URL, path or e-mail address;
* its Shannon entropy falls at most ``2.5 / sqrt(length)`` bits per character below the expected
  entropy of a uniformly random string of the same length and alphabet (16 for hex; else 10,
  26, 26 for digits, lower and upper case present, plus each other character present), or at
  least 4.5 bits (3.3 for hex), which long tokens with a constant part reach;
* it does not read as a name (:func:`is_identifier`: ``SOCKS5_AUTH_END``,
  ``tok_async_stream_warn_1``, ``LocalizedDateFormatter8601``).

A value also counts when one of its parts between ``-``, ``_`` or ``.`` does
(``pdl_live_apikey_<random>``).

Calibration, by sampling uniformly random strings: the entropy test alone drops about 1 in
200 of any length and alphabet; all tests together drop 0.1-0.6 % of random hex and of
one-case alphanumerics, 0.5-1.7 % of mixed-case base64, base64url and alphanumeric values of
20-24 characters and under 0.4 % from 32, and 2-4.5 % of 20-24 character quoted values with
punctuation (under 1 % from 32). Fixed thresholds ("3.0 hex / 4.0 base64", common in other
scanners) miss about half of random 20-character base64 values, whose entropy cannot exceed
log2(20) = 4.32.
Scanning 300 MB of installed packages, documentation and configuration, the detector reported
11 values, all example credentials from documentation (OAuth RFC examples).

Then the false-positive filters drop what is random but not a secret: hashes (a key naming a
hash, ``sha256=``/``sha512-`` values, pip ``--hash=``, lockfile ``checksum``/``integrity``
lines, pip ``RECORD`` lines), UUIDs, git object ids next to commit/tree/parent/sha/oid words or
in ``git log``-shaped lines, values of keys that say ``public``, and placeholders
(:func:`is_placeholder`).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

__all__ = [
    "ASSIGNMENT_KEYWORDS",
    "ENTROPY_RULE_ID",
    "ENTROPY_SERVICE",
    "AssignmentDetector",
    "in_hash_context",
    "is_false_positive",
    "is_git_object_id",
    "is_identifier",
    "is_placeholder",
    "looks_random",
    "shannon_entropy",
]

ENTROPY_RULE_ID = "high-entropy-assignment"
ENTROPY_SERVICE = "generic"

ASSIGNMENT_KEYWORDS = ("pass", "pwd", "secret", "token", "key", "auth", "credential")
"""Lowercase literals, one of which occurs in every key the detector accepts (prefilter)."""

_KEY = (
    r"(?:pass(?:word|wd|phrase)|pwd|secret|token|api[_.\-]?key|access[_.\-]?key|auth"
    r"|credential|private[_.\-]?key)"
)
_VALUE_CHARS = r"a-z0-9+/_=\-"
# Group 1: the key (from its secret word to its end); group 2: the value. The trailing class
# makes sure the value is whole: not followed by more value characters, nor by a call, an
# index, an attribute access or a template (``token = make_token()``, ``key = keys[0]``,
# ``auth = self.auth``, ``pwd = ${PWD}``).
_QUOTED_CHARS = r"[^\s\"'`\\(){}\[\]<>$]"  # inside quotes: punctuation too, not templates
_ASSIGNMENT_PATTERN = (
    r"(?i)(" + _KEY + r"[a-z0-9_.\-]{0,40})"
    r"(?:[\"'\]]|&quot;)?"
    r"[ \t]{0,8}(?:=>|:=|==|=|:|>|[ \t])[ \t]{0,8}"
    r"(?:(?:bearer|basic|token)[ \t]+)?"
    r"(?:\"(" + _QUOTED_CHARS + r"{16,128})\""  # group 2: a double-quoted value
    r"|'(" + _QUOTED_CHARS + r"{16,128})'"  # group 3: a single-quoted value
    r"|(?:[\"'`]|&quot;)?([" + _VALUE_CHARS + r"]{16,512})"  # group 4: a bare value
    r"(?:[^" + _VALUE_CHARS + r".(\[$%{:]|\.(?:[^a-z0-9_(]|\z)|\z))"
)

_HEX = frozenset("0123456789abcdefABCDEF")
_CAP = 4.5  # bits per character that are enough whatever the length (words stay under 4.3)
_HEX_CAP = 3.3
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
_SEPARATORS = re.compile(r"[-_.]")
_NAME_SEPARATORS = re.compile(r"[-_./:]")
_WORD = re.compile(r"(?:[A-Za-z][a-z]{2,15}|[A-Z]{3,15})[0-9]{0,4}")  # one case, bounded
_CAPITALISED = re.compile(r"[A-Z][a-z]{2,15}(?![a-z])")  # a word, not a random run
_LOWER_LEAD = re.compile(r"[a-z]{3,}")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_WORD_SEGMENT = re.compile(  # a word, camelCase words, or a short number: v2, 311m, b64
    r"(?:[A-Za-z][a-z]{0,15}|[A-Z]{1,15})[0-9]{0,4}|[0-9]{1,4}[A-Za-z]{0,2}"
    r"|[a-z]{2,15}(?:[A-Z][a-z]{2,15})+[0-9]{0,4}|(?:[A-Z][a-z]{2,15}){2,}[0-9]{0,4}"
)
_PUBLIC_KEY = re.compile(r"public|publishable", re.I)
# URLs, paths, e-mail addresses and dotted names are not passwords.
_NOT_PASSWORD = re.compile(
    r"://|^[~.]{0,2}/|/.*/|^[^@]+@[^@]+\.[A-Za-z]{2,}$|^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$"
)
_DIGITS = frozenset("0123456789")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HASH_WORDS = re.compile(
    r"(?<![a-z])(?:hash(?:ed)?|sha\d*|md5|digest|checksum|integrity|fingerprint)(?![a-z])", re.I
)
_HASH_VALUE = re.compile(r"(?:sha(?:1|224|256|384|512)|md5)[-=:]", re.I)
# Text right before a value that makes it a digest: ``--hash=sha256:``, ``"integrity": "``,
# ``checksum = "``, ``hash = "sha256:``, ``sha512-``.
_HASH_MARKERS = re.compile(
    r"(?:--hash[=:]|(?<![a-z])(?:integrity|checksum|hash|digest)[\"']?\s*[:=]?\s*[\"']?"
    r"|(?<![a-z])(?:sha(?:1|224|256|384|512)|md5)[=:-])$",
    re.I,
)
_RECORD_LINE = re.compile(r"[^,\s]+,(?:sha(?:256|384|512))=[A-Za-z0-9_\-]+={0,2},\d*", re.I)
_GIT_WORDS = re.compile(
    r"(?<![a-z])(?:commit|tree|parent|sha1?|oid|rev|revision|ref|head)(?![a-z])", re.I
)
_GIT_LOG_LINE = re.compile(
    r"(?:commit|tree|parent|merge:?)\s+[0-9a-f]{7,64}\b|^[0-9a-f]{7,40}\s", re.I
)
_PLACEHOLDER_WORDS = (
    "example",
    "xxxx",
    "****",
    "changeme",
    "change_me",
    "change-me",
    "dummy",
    "your",
    "redacted",
    "placeholder",
    "replaceme",
    "replace_me",
    "insert_",
    "...",
    "\u2026",
    "<",
    "${",
    "{{",
    "%(",
    "$(",
)
_IDENTIFIER_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_SEPARATOR_BYTES = frozenset(b" \t\"'`=:>[]{}")
_CONTEXT = 256  # how far around a value the filters look for its line (bounds work per hit)


def shannon_entropy(value: str) -> float:
    """Shannon entropy of *value* in bits per character (0.0 for the empty string)."""
    n = len(value)
    if not n:
        return 0.0
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def is_placeholder(value: str) -> bool:
    """Whether *value* is obviously a placeholder rather than a real secret.

    True for values containing ``example`` (AWS documents ``AKIAIOSFODNN7EXAMPLE``),
    ``xxxx``, ``****``, ``changeme``, ``dummy``, ``your`` (``your_api_key``), ``redacted``,
    ``placeholder`` or a template opener (``<…>``, ``${VAR}``, ``{{ var }}``, ``%(var)s``);
    for values made of at most three distinct characters; and for values that are mostly
    one repeated or ascending run (``abcdef123456``, ``0123456789abcdef``).
    """
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return True
    if len(set(lowered)) <= 3:
        return True
    if len(value) < 8:
        return False
    steps = sum(1 for a, b in itertools.pairwise(lowered) if 0 <= ord(b) - ord(a) <= 1)
    return steps >= 0.7 * (len(value) - 1)


def looks_random(value: str) -> bool:
    """Whether *value* is random enough to be a secret (see the module docstring)."""
    body = value.rstrip("=")
    if "=" in body:
        return False  # ``name=value`` written as the value: a query string, not a secret
    if not _BASE64_CHARS.issuperset(body):
        return _looks_random_password(value)
    hex_body = _hex_body(body)
    if hex_body is not None:
        return _random_hex(hex_body)
    if _random_base64(body):
        return True
    # A random part between separators: ``pdl_live_apikey_<random>``, ``xkeysib-<hex>-<…>``.
    parts = _SEPARATORS.split(body)
    return len(parts) > 1 and any(
        _random_hex(part) if _HEX.issuperset(part) else _random_base64(part) for part in parts
    )


def _random_hex(body: str) -> bool:
    if len(body) < 16 or _DIGITS.isdisjoint(body) or _DIGITS.issuperset(body):
        return False  # short, or not both digits and letters
    return _random_enough(body, 16, cap=_HEX_CAP)


def _random_base64(body: str) -> bool:
    if len(body) < 20:
        return False
    if len(body) < 32 and _DIGITS.isdisjoint(body) and (body.islower() or body.isupper()):
        return False  # short, one case of letters and no digit: a word or a name
    return _random_enough(body, _alphabet_size(body))


def _looks_random_password(value: str) -> bool:
    """Whether a quoted value holding punctuation (``"k7#Qz%…"``) looks machine-generated:
    at least 20 characters, digits and two other classes of lower case, upper case and
    punctuation, random enough, and not a URL, path or e-mail address."""
    if len(value) < 20 or _NOT_PASSWORD.search(value):
        return False
    classes = (
        any(c.islower() for c in value),
        any(c.isupper() for c in value),
        not _BASE64_CHARS.issuperset(value),
    )
    if _DIGITS.isdisjoint(value) or sum(classes) < 2:
        return False
    return _random_enough(value, _alphabet_size(value))


def _alphabet_size(value: str) -> int:
    """The size of the alphabet *value* seems drawn from: 10 digits, 26 lower case, 26 upper
    case letters for each class present, plus each other character present."""
    size = 10 if not _DIGITS.isdisjoint(value) else 0
    size += 26 if any(c.islower() for c in value) else 0
    size += 26 if any(c.isupper() for c in value) else 0
    return max(2, size + len(set(value) - _ALNUM))


def _random_enough(value: str, alphabet: int, *, cap: float = _CAP) -> bool:
    """Whether the entropy of *value* is no more than ``2.5 / sqrt(length)`` bits under that of
    a uniformly random string of its length and alphabet (about 1 in 200 of those fall under),
    or reaches *cap* (long tokens with a constant part, ``AAAAAAAAAAAAAAAAAAAAAA…``)."""
    n = len(value)
    threshold = min(cap, _expected_entropy(n, alphabet) - 2.5 / math.sqrt(n))
    # Entropy cannot exceed log2 of the number of distinct characters: a cheap first check.
    if math.log2(len(set(value))) < threshold:
        return False
    return shannon_entropy(value) >= threshold


@functools.lru_cache(maxsize=4096)
def _expected_entropy(n: int, alphabet: int) -> float:
    """Expected Shannon entropy of *n* characters drawn uniformly from *alphabet* of them.

    ``log2(n) - alphabet / n * E[c log2 c]`` where ``c ~ Binomial(n, 1 / alphabet)`` counts one
    character's occurrences.
    """
    p = 1 / alphabet
    probability = (1 - p) ** n  # P(c = 0)
    expected = 0.0
    for c in range(1, n + 1):
        probability *= (n - c + 1) / c * p / (1 - p)
        expected += probability * c * math.log2(c)
        if probability < 1e-15 and c > n * p:
            break
    return math.log2(n) - alphabet * expected / n


def _hex_body(value: str) -> str | None:
    """The hex digits of a value written as hex behind a short prefix or with separators
    (``key-<hex>``, ``0x<hex>``, ``shpss_<hex>``, ``<hex>-us21``, a UUID a digit short)."""
    if value[:2] in {"0x", "0X"}:
        value = value[2:]
    parts = _SEPARATORS.split(value)
    if len(parts) > 1 and len(parts[0]) <= 8 and not _HEX.issuperset(parts[0]):
        parts = parts[1:]
    if len(parts) > 1 and len(parts[-1]) <= 5 and not _HEX.issuperset(parts[-1]):
        parts = parts[:-1]
    joined = "".join(parts)
    return joined if _HEX.issuperset(joined) else None


def is_git_object_id(value: str, key: str, line: str) -> bool:
    """Whether *value* is a git object id: 40 or 64 hex digits named by a commit/tree/parent/
    sha/oid/rev/ref word in *key*, or in a ``git log``/``git cat-file`` shaped *line*."""
    if len(value) not in (40, 64) or not _HEX.issuperset(value):
        return False
    return bool(_GIT_WORDS.search(key) or _GIT_LOG_LINE.search(line.strip()))


def in_hash_context(value: str, key: str, before: str, line: str) -> bool:
    """Whether *value* is a digest rather than a secret.

    Args:
        value: The candidate value.
        key: The key it is assigned to ("" when unknown); a key naming a hash
            (``token_sha256``, ``secret_digest``, ``checksum``) marks a digest.
        before: The text of its line before it (``--hash=sha256:``, ``"integrity": "``).
        line: Its whole line (pip ``RECORD`` lines: ``path,sha256=digest,size``).
    """
    if _HASH_WORDS.search(key) or _HASH_VALUE.match(value):
        return True
    if _HASH_MARKERS.search(before):
        return True
    return bool(_RECORD_LINE.fullmatch(line.strip()))


def _line_context(data: bytes, start: int, end: int) -> tuple[str, str]:
    """The text of the line around ``data[start:end]`` before the span, and the whole line,
    each looked for at most 256 bytes away (so a huge single line costs nothing extra)."""
    lo = max(0, start - _CONTEXT)
    nl = data.rfind(b"\n", lo, start)
    line_start = lo if nl < 0 else nl + 1
    hi = min(len(data), end + _CONTEXT)
    nl = data.find(b"\n", end, hi)
    line_end = hi if nl < 0 else nl
    before = data[line_start:start].decode("utf-8", "replace")
    line = data[line_start:line_end].decode("utf-8", "replace")
    return before, line


def _preceding_key(data: bytes, start: int) -> str:
    """The key name written just before ``data[start:]`` (``SHA256_OF_TOKEN`` in
    ``SHA256_OF_TOKEN = "…``), or "" when there is none."""
    i = start
    floor = max(0, start - 8)
    while i > floor and data[i - 1] in _SEPARATOR_BYTES:
        i -= 1
    end = i
    floor = max(0, end - 64)
    while i > floor and data[i - 1] in _IDENTIFIER_BYTES:
        i -= 1
    return data[i:end].decode("latin-1")


def is_false_positive(data: bytes, start: int, end: int, key: str | None = None) -> bool:
    """Whether the candidate secret ``data[start:end]`` is a digest, UUID, git id or
    placeholder (the filters of the module docstring).

    Args:
        data: UTF-8 text.
        start: Start of the candidate.
        end: End of the candidate.
        key: The key it is assigned to; by default the name written just before it.
    """
    if key is None:
        key = _preceding_key(data, start)
    value = data[start:end].decode("utf-8", "replace")
    if is_placeholder(value) or _UUID.fullmatch(value.strip("{}")):
        return True
    before, line = _line_context(data, start, end)
    return in_hash_context(value, key, before, line) or is_git_object_id(value, key, line)


def is_identifier(value: str) -> bool:
    """Whether *value* reads as a name rather than a random string.

    True when it is words joined by ``_``, ``-``, ``.``, ``/`` or ``:`` (three or more words,
    camelCase words or short numbers: ``SOCKS5_AUTH_END``, ``tok_async_stream_warn_1``,
    ``XXH3_initCustomSecret_avx2``, ``urn:ietf:params:oauth:token-type:jwt``; or two words:
    ``backward-compatible``), or when capitalised words make up 70 % of it
    (``X509AuthorityKeyIDExtension``, ``additionalProperties``). Hex is never a name.

    Looser rules (a part that is not a word, acronyms as words) would also drop 3-6 % of
    random base64url values, which hold ``-`` and ``_`` too.
    """
    if _hex_body(value) is not None:
        return False  # hex, perhaps behind a prefix (``key-<hex>``): not words
    parts = _NAME_SEPARATORS.split(value.strip("-_./:"))
    if len(parts) >= 3 and all(_WORD_SEGMENT.fullmatch(part) for part in parts):
        return True
    if len(parts) == 2 and all(_WORD.fullmatch(part) for part in parts):
        return True
    covered = sum(len(word) for word in _CAPITALISED.findall(value))
    if covered:
        lead = _LOWER_LEAD.match(value)
        covered += lead.end() if lead else 0
    return covered * 10 >= len(value) * 7


class AssignmentDetector:
    """Finds random-looking values assigned to secret-like keys (rule ``high-entropy-assignment``).

    The RE2 pattern is compiled on first use, in Latin-1 mode: it works on UTF-8 bytes with
    ASCII-only classes and case folding.
    """

    def __init__(self) -> None:
        self._regex: Any = None

    def _compiled(self) -> Any:
        if self._regex is None:
            import re2  # type: ignore[import-untyped,unused-ignore]

            options = re2.Options()
            options.encoding = re2.Options.Encoding.LATIN1
            self._regex = re2.compile(_ASSIGNMENT_PATTERN.encode("ascii"), options)
        return self._regex

    def find(self, data: bytes) -> Iterator[tuple[int, int]]:
        """Yield the byte spans of the secret values in UTF-8 *data* (filters applied)."""
        for match in self._compiled().finditer(data):
            start, end = match.span(2)
            if start < 0:
                start, end = match.span(3)
                if start < 0:
                    start, end = match.span(4)
            value = data[start:end].decode("utf-8", "replace")
            if not looks_random(value) or is_identifier(value):
                continue
            # The whole key name, including what precedes its secret word (``SHA256_OF_TOKEN``).
            key_start, key_end = match.span(1)
            floor = max(0, key_start - 40)
            while key_start > floor and data[key_start - 1] in _IDENTIFIER_BYTES:
                key_start -= 1
            key = data[key_start:key_end].decode("latin-1")
            if _PUBLIC_KEY.search(key) or is_false_positive(data, start, end, key):
                continue
            yield start, end
