"""The secret rules: each compiles with RE2, finds its synthetic secrets, and misses the near
misses; keywords are sound (the scanner's prefilter never hides a match)."""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from typing import Any

import pytest
import re2  # type: ignore[import-untyped,unused-ignore]

from tau_safety._rule import Rule
from tau_safety._rules import RULES
from tau_safety._secrets import SecretScanner

examples = sys.modules["tau_safety_tests_secret_examples"]  # loaded by conftest.py
BY_ID = {rule.id: rule for rule in RULES}
IDS = [rule.id for rule in RULES]


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values()) if n else 0.0


def compiled(rule: Rule) -> Any:
    return re2.compile(rule.pattern)


def candidates(rule: Rule, text: str) -> list[tuple[str, str]]:
    """``(secret, whole match)`` for every match of *rule* in *text* (secret: group 1 if any)."""
    regex = compiled(rule)
    group = 1 if regex.groups else 0
    return [(m.group(group), m.group(0)) for m in regex.finditer(text)]


def kept(rule: Rule, secret: str) -> bool:
    """Whether a candidate survives the rule's ``min_entropy``."""
    return rule.min_entropy is None or entropy(secret) >= rule.min_entropy


# --- the table ---------------------------------------------------------------------------


def test_rule_ids_are_unique_and_lowercase_dashed() -> None:
    duplicates = [i for i, n in Counter(IDS).items() if n > 1]
    assert not duplicates
    bad = [i for i in IDS if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", i)]
    assert not bad


def test_at_least_150_services_are_covered() -> None:
    services = {rule.service for rule in RULES}
    assert len(services) >= 150, sorted(services)


def test_every_rule_has_keywords_and_a_description() -> None:
    bare = [r.id for r in RULES if not r.keywords or not all(r.keywords) or not r.description]
    assert not bare
    not_lower = [r.id for r in RULES if any(k != k.lower() for k in r.keywords)]
    assert not not_lower


def test_every_rule_has_examples_and_every_example_names_a_rule() -> None:
    without_positive = [i for i in IDS if not examples.POSITIVES.get(i)]
    without_negative = [i for i in IDS if not examples.NEGATIVES.get(i)]
    assert not without_positive
    assert not without_negative
    unknown = (set(examples.POSITIVES) | set(examples.NEGATIVES)) - set(IDS)
    assert not unknown


def test_every_rule_has_a_negative_its_keywords_let_through() -> None:
    # A near miss that holds none of the rule's keywords only tests the prefilter; each rule
    # needs at least one that reaches its pattern.
    def reaches(rule: Rule, text: str) -> bool:
        return any(k in text.lower() for k in rule.keywords)

    shallow = [r.id for r in RULES if not any(reaches(r, t) for t in examples.NEGATIVES[r.id])]
    assert not shallow


def test_example_secrets_are_distinct() -> None:
    # Each positive is its own random draw: a copy-paste slip would hide a rule's failure.
    secrets = [e.secret for exs in examples.POSITIVES.values() for e in exs]
    repeated = [s for s, n in Counter(secrets).items() if n > 1]
    assert not repeated


# --- per rule ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", IDS)
def test_rule_compiles_with_re2(rule_id: str) -> None:
    regex = compiled(BY_ID[rule_id])
    assert regex.groups <= 1, "group 1 is the secret: use (?:...) for every other group"


@pytest.mark.parametrize("rule_id", IDS)
def test_rule_finds_its_positives(rule_id: str) -> None:
    rule = BY_ID[rule_id]
    for example in examples.POSITIVES[rule_id]:
        found = [secret for secret, _ in candidates(rule, example.text)]
        assert example.secret in found, (example.text, found)
        assert kept(rule, example.secret), (example.secret, entropy(example.secret))
        lowered = example.text.lower()
        assert any(k in lowered for k in rule.keywords), (example.text, rule.keywords)


@pytest.mark.parametrize("rule_id", IDS)
def test_rule_misses_its_hard_negatives(rule_id: str) -> None:
    rule = BY_ID[rule_id]
    for text in examples.NEGATIVES[rule_id]:
        reported = [s for s, _ in candidates(rule, text) if kept(rule, s)]
        assert not reported, (text, reported)


@pytest.mark.parametrize("rule_id", IDS)
def test_rule_keywords_are_necessary(rule_id: str) -> None:
    # The scanner runs a rule only when one of its keywords occurs in the (lowercased) text,
    # so every match must itself contain one; otherwise the prefilter would hide it.
    rule = BY_ID[rule_id]
    for example in examples.POSITIVES[rule_id]:
        for _, whole in candidates(rule, example.text):
            assert any(k in whole.lower() for k in rule.keywords), (whole, rule.keywords)


# --- with the scanner --------------------------------------------------------------------


@pytest.fixture(scope="module")
def scanner() -> SecretScanner:
    return SecretScanner(entropy=False, decode_depth=0)


@pytest.mark.parametrize("rule_id", IDS)
def test_scanner_reports_each_positive_under_its_rule(rule_id: str, scanner: SecretScanner) -> None:
    for example in examples.POSITIVES[rule_id]:
        findings = scanner.scan(example.text)
        spans = [(f.rule_id, example.text[f.start : f.end]) for f in findings if f.encoding is None]
        assert (rule_id, example.secret) in spans, (example.text, spans)
