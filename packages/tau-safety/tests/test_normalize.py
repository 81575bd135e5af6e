"""Tests for tau_safety._normalize: invisible characters, NFKC, confusables, offsets."""

from __future__ import annotations

import string
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tau_safety._normalize import _CONFUSABLES, _FOLD, _tables, normalize

ZWSP = "\u200b"
FAKE_KEY = "FAKEKEY0123456789ABCD"


def reference(text: str) -> str:
    """What normalize must produce: drop invisibles, NFKC, fold confusables."""
    invisible = _tables().invisible
    kept = "".join(ch for ch in text if ch not in invisible)
    return unicodedata.normalize("NFKC", kept).translate(_FOLD)


def check_origins(original: str, result) -> None:
    """Bounds, monotonicity, coverage and round trip of every one-character origin."""
    out = result.text
    previous = (0, 0)
    for i in range(len(out)):
        start, end = result.origin(i, i + 1)
        assert 0 <= start < end <= len(original)
        assert start >= previous[0] and end >= previous[1]
        # the original span normalises to output that holds this character
        assert out[i] in normalize(original[start:end]).text
        previous = (start, end)
    if out:
        assert result.origin(0, len(out)) == (0, len(original))
    for s in range(len(out) + 1):
        a, b = result.origin(s, s)
        assert a == b
        assert 0 <= a <= len(original)


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_is_identity(text):
    result = normalize(text)
    assert result.text is text
    assert not result.changed
    assert (result.removed_invisible, result.folded_confusables) == (0, 0)
    for s in range(0, len(text) + 1, 3):
        for e in range(s, len(text) + 1, 5):
            assert result.origin(s, e) == (s, e)


def test_ascii_fast_path_keeps_no_map():
    text = "x" * 1_000_000
    result = normalize(text)
    assert result.text is text
    assert result.origin(10, 20) == (10, 20)


@pytest.mark.parametrize(
    "hidden",
    [
        "\u200b",  # zero-width space
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # byte order mark
        "\u00ad",  # soft hyphen
        "\u202e",  # right-to-left override
        "\u2066",  # left-to-right isolate
        "\u180e",  # Mongolian vowel separator
        "\U000e0041",  # tag latin capital A
        "\ufe0f",  # variation selector 16
        "\U000e0100",  # variation selector 17
        "\u034f",  # combining grapheme joiner
        "\u3164",  # Hangul filler
    ],
)
def test_invisible_characters_are_removed(hidden):
    obfuscated = FAKE_KEY[:7] + hidden + FAKE_KEY[7:] + hidden
    result = normalize(obfuscated)
    assert result.text == FAKE_KEY
    assert result.changed
    assert result.removed_invisible == 2
    assert result.origin(0, len(FAKE_KEY)) == (0, len(obfuscated))


def test_every_format_character_is_invisible():
    invisible = _tables().invisible
    missing = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) == "Cf" and chr(cp) not in invisible
    ]
    assert missing == []


def test_nfkc_never_produces_an_invisible_character():
    invisible = _tables().invisible
    produced = [
        hex(cp)
        for cp in range(sys.maxunicode + 1)
        if chr(cp) not in invisible
        and not invisible.isdisjoint(unicodedata.normalize("NFKC", chr(cp)))
    ]
    assert produced == []


@pytest.mark.parametrize(
    ("styled", "plain"),
    [
        ("ＦＡＫＥ－ＫＥＹ", "FAKE-KEY"),  # fullwidth
        ("\U0001d405\U0001d400\U0001d40a\U0001d404", "FAKE"),  # mathematical bold
        ("\U0001d58b\U0001d586\U0001d590\U0001d58a", "fake"),  # mathematical fraktur bold
        ("\U0001d68f\U0001d68a\U0001d694\U0001d68e", "fake"),  # mathematical monospace
        ("\u24bb\u24b6\u24c0\u24ba", "FAKE"),  # circled capitals
        ("\ufb01le", "file"),  # ligature
        ("\u2163", "IV"),  # roman numeral
    ],
)
def test_compatibility_forms_become_ascii(styled, plain):
    result = normalize(styled)
    assert result.text == plain
    assert result.folded_confusables == 0


@pytest.mark.parametrize(
    ("spoofed", "plain"),
    [
        ("\u0440\u0430ss\u0445\u043er\u0501", "passxord"),  # Cyrillic
        ("\u03a4\u0397\u0395 \u03a1\u0399\u039d \u0391LL", "THE PIN ALL"),  # Greek capitals
        ("\u03bf\u03bd\u03b5r", "ov\u03b5r"),  # Greek epsilon has no Latin twin
        ("s\u0456gn\u0456n", "signin"),  # Ukrainian i
        ("\u0455\u0501k\u2010live", "sdk-live"),  # dze, Komi de, hyphen
        ("\u13aa\ua4d0\u13df", "ABC"),  # Cherokee, Lisu
        ("\u2018q\u2019 \u201cdq\u201d", "'q' \"dq\""),
    ],
)
def test_confusables_fold_to_ascii(spoofed, plain):
    result = normalize(spoofed)
    assert result.text == plain
    assert result.folded_confusables == sum(a != b for a, b in zip(spoofed, plain, strict=True))


def test_confusable_table_is_sound():
    sources = [ch for chars in _CONFUSABLES.values() for ch in chars]
    assert len(sources) == len(set(sources)), "a character folds to two targets"
    invisible = _tables().invisible
    for target, chars in _CONFUSABLES.items():
        assert len(target) == 1 and target.isascii() and target.isprintable()
        for ch in chars:
            assert not ch.isascii()
            assert ch not in invisible
            # NFKC runs first: an entry it already rewrites would never be looked up
            assert unicodedata.normalize("NFKC", ch) == ch, hex(ord(ch))


def test_origin_points_at_the_obfuscated_characters():
    original = "log: token=" + "\u0424" + "\uff26AKE" + ZWSP + "KEY" + "\u0334 done"
    result = normalize(original)
    start = result.text.index("FAKEKEY")
    o_start, o_end = result.origin(start, start + len("FAKEKEY"))
    assert original[o_start:o_end] == "\uff26AKE" + ZWSP + "KEY" + "\u0334"
    assert result.text[start - 1] == "\u0424"  # Cyrillic ef: no Latin look-alike


def test_expansion_maps_every_output_character_to_its_source():
    result = normalize("a\ufb03x")  # ffi ligature
    assert result.text == "affix"
    assert [result.origin(i, i + 1) for i in range(5)] == [(0, 1), (1, 2), (1, 2), (1, 2), (2, 3)]


@pytest.mark.parametrize(
    ("original", "composed"),
    [
        ("e\u0301", "\u00e9"),  # combining acute
        ("\uff76\uff9e", "\u30ac"),  # halfwidth katakana ka + voiced sound mark
        ("\u1100\u1161", "\uac00"),  # Hangul jamo
        ("\u0b47\u0b3e", "\u0b4b"),  # Oriya vowel signs (the second has combining class 0)
        ("e" + ZWSP + "\u0301", "\u00e9"),  # invisible between base and mark
    ],
)
def test_composition_maps_to_the_whole_sequence(original, composed):
    result = normalize("x" + original + "y")
    assert result.text == "x" + composed + "y"
    assert result.origin(1, 2) == (1, 1 + len(original))
    assert result.origin(2, 3) == (1 + len(original), 2 + len(original))


def test_leading_invisibles_belong_to_the_first_character():
    result = normalize(ZWSP * 3 + "\u0430b")
    assert result.text == "ab"
    assert result.origin(0, 1) == (0, 4)
    assert result.origin(1, 2) == (4, 5)


def test_only_invisible_characters():
    result = normalize(ZWSP * 4)
    assert result.text == ""
    assert result.removed_invisible == 4
    assert result.origin(0, 0) == (4, 4)


def test_long_mark_runs_are_bounded():
    zalgo = "a" + "\u0301\u0316" * 5000 + "b"
    result = normalize(zalgo)
    assert result.text.startswith("\u00e1")
    assert result.text.endswith("b")
    assert len(result.text) == len(zalgo) - 1
    assert result.origin(len(result.text) - 1, len(result.text)) == (len(zalgo) - 1, len(zalgo))


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (2, 1), (0, 5)])
def test_origin_rejects_spans_outside_the_text(start, end):
    for text in ("abcd", "\u0430bcd"):
        with pytest.raises(ValueError, match="outside the normalised text"):
            normalize(text).origin(start, end)


def test_text_that_is_already_normal_is_unchanged():
    text = "日本語のテキスト\u0915\u094d\u0937 مرحبا"
    result = normalize(text)
    assert result.text == text
    assert not result.changed
    assert result.origin(2, 5) == (2, 5)


def test_letters_without_latin_twins_stay():
    result = normalize("Привет, мир")
    assert result.text == "Пpивeт, миp"
    assert result.folded_confusables == 3


# Pieces that exercise every path: plain, expanding, composing, invisible, confusable.
PIECES = [
    "a",
    "Z9 ",
    "\u00e9",
    "e\u0301",
    "\u0430",
    "\u039f",
    ZWSP,
    "\u202e",
    "\ufb01",
    "\uff21",
    "\U0001d400",
    "\uff76\uff9e",
    "\u1100\u1161",
    "\u1100",
    "\u0301",
    "\u0f73",
    "中",
    "\u00bd",
    "\u0b47\u0b3e",
    "\U000e0041",
]


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_matches_reference_on_any_text(text):
    result = normalize(text)
    assert result.text == reference(text)
    assert result.changed == (result.text != text)
    check_origins(text, result)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=1500))
def test_matches_reference_across_blocks(pieces):
    text = "".join(pieces)
    result = normalize(text)
    assert result.text == reference(text)
    check_origins(text, result)


@given(st.text(alphabet=string.ascii_letters + "\u0430\u0435\u043e\u0440" + ZWSP, max_size=40))
def test_counts(text):
    result = normalize(text)
    assert result.removed_invisible == text.count(ZWSP)
    assert result.folded_confusables == sum(text.count(ch) for ch in "\u0430\u0435\u043e\u0440")
