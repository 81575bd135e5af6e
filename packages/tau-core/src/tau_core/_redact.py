"""Core's own redaction of known secret values, applied before anything is recorded.

Every credential core injects into a tool or hands to a provider is registered here, and its
value is replaced by ``[REDACTED]`` in tool results, model responses, verifier results and
error messages before they reach the journal, the evidence or the model. tau-safety adds
pattern-based detection on top; this floor holds without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
_MIN_LEN = 4  # shorter values would mangle ordinary text; the store rejects them for secrets


class Redactor:
    """Replaces registered secret values wherever they appear."""

    def __init__(self, values: tuple[str, ...] = ()) -> None:
        self._values: set[str] = set()
        for v in values:
            self.add(v)

    def add(self, value: str) -> None:
        if isinstance(value, str) and len(value) >= _MIN_LEN:
            self._values.add(value)

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def obj(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like object (dict keys included)."""
        if not self._values:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self.obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.obj(v) for v in obj)
        return obj
