"""The shape of one secret-detection rule."""

from __future__ import annotations

from attrs import field, frozen

__all__ = ["Rule"]


def _lower_tuple(value: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in value)


@frozen
class Rule:
    """One credential format.

    Attributes:
        id: Stable rule id, lowercase with dashes (``aws-access-key-id``); findings name it.
        service: The service the credential belongs to (``AWS``).
        pattern: An RE2 pattern (no backreferences, no lookaround). When it has a capture
            group, group 1 is the secret; otherwise the whole match is.
        keywords: Lowercase literals, at least one of which appears in (normalised, lowercased)
            text whenever the rule can match; the scanner runs the rule only then. Empty means
            always run (use sparingly: it costs throughput).
        description: One line for people (what the credential is).
        min_entropy: When set, a candidate whose Shannon entropy (bits per character) is
            below this is dropped (filters ``xxxxxxxx`` placeholders).
    """

    id: str
    service: str
    pattern: str
    keywords: tuple[str, ...] = field(default=(), converter=_lower_tuple)
    description: str = ""
    min_entropy: float | None = None
