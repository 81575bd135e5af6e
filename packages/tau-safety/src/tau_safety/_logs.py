"""Redaction of Python log records from Tau's loggers (a sink like any other).

Logger filters only see records created by that exact logger, not its children, so the
redaction is installed in the log-record factory instead: every record created under one of
:data:`LOGGERS` (``tau_core.credentials`` included) is redacted once, before any handler sees
it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

__all__ = ["LOGGERS", "protect_logs"]

LOGGERS = ("tau_core", "tau_provider", "tau_tools", "tau_safety", "tau_memory", "httpx", "httpcore")
"""Logger name prefixes whose records are redacted."""

_state: dict[str, Any] = {"redact": None, "installed": False}


def _covered(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in LOGGERS)


def protect_logs(redact: Callable[[str], str]) -> None:
    """Redact the records of Tau's loggers with *redact* from now on (the latest run's
    scanner, which also knows every credential-store value)."""
    _state["redact"] = redact
    if _state["installed"]:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        fn = _state["redact"]
        if fn is not None and _covered(record.name):
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: logging reports it as it would
                return record
            cleaned = fn(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    logging.setLogRecordFactory(factory)
    _state["installed"] = True
