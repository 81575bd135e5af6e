"""Core's own redaction of known secret values, applied before anything is recorded.

Every credential core injects into a tool or hands to a provider is registered here, and its
value is replaced by ``[REDACTED]`` in tool results, model responses, verifier results and
error messages before they reach the journal, the evidence or the model. Plugins add text
filters on top (tau-safety's pattern-based secret detection, through the ``tau_run_start``
hook); known values are replaced first and always, so this floor holds whatever a filter does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
_MIN_LEN = 4  # shorter values would mangle ordinary text; the store rejects them for secrets


class Redactor:
    """Replaces registered secret values wherever they appear."""

    def __init__(self, values: tuple[str, ...] = ()) -> None:
        self._values: set[str] = set()
        self._filters: list[Callable[[str], str]] = []
        self._listeners: list[Callable[[str], None]] = []
        for v in values:
            self.add(v)

    def add(self, value: str) -> None:
        """Register a secret value (credentials, injected secrets); shorter than 4 chars is
        ignored, since replacing it would mangle ordinary text."""
        if isinstance(value, str) and len(value) >= _MIN_LEN and value not in self._values:
            self._values.add(value)
            for listener in self._listeners:
                listener(value)

    def add_filter(self, fn: Callable[[str], str]) -> None:
        """Run *fn* over every text after the known values are replaced.

        *fn* returns the text with what it found replaced (e.g. secrets matched by pattern).
        It must not raise; if it does, the text is withheld whole rather than recorded
        unfiltered.

        .. versionadded:: 0.1
        """
        self._filters.append(fn)

    def on_value(self, listener: Callable[[str], None]) -> None:
        """Call *listener* with every value registered from now on, and each one already
        registered (so a filter can also catch the value encoded).

        .. versionadded:: 0.1
        """
        self._listeners.append(listener)
        for value in self._values:
            listener(value)

    @property
    def values(self) -> frozenset[str]:
        """The registered secret values."""
        return frozenset(self._values)

    def __bool__(self) -> bool:
        return bool(self._values) or bool(self._filters)

    def text(self, text: str) -> str:
        # Longest first, so a secret that contains another is replaced whole.
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, REDACTED)
        for fn in self._filters:
            try:
                text = fn(text)
            except Exception as exc:  # fail closed: never record what a broken filter missed
                return f"{REDACTED} (a redaction filter failed: {type(exc).__name__})"
        return text

    def obj(self, obj: Any) -> Any:
        """Redact every string inside a JSON-like object (dict keys included)."""
        if not self._values and not self._filters:
            return obj
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.text(k) if isinstance(k, str) else k: self.obj(v) for k, v in obj.items()}
        if isinstance(obj, list | tuple):
            return type(obj)(self.obj(v) for v in obj)
        return obj
