"""Tau's safety layer: secrets never leak, injected instructions never gain authority, and
every decision is auditable.

Installed, it plugs into every run through tau-core's hooks (``tau_run_start``, the
``tau_tool_call`` and ``tau_model_request`` wrappers): secrets are redacted at every sink,
tool results and inbound messages are scanned for injected instructions, untrusted content
taints the run and the rails escalate side effects that follow it. Core's authority stays in
force without it.

The scanner and the detector are usable on their own::

    from tau_safety import SecretScanner
    redacted, findings = SecretScanner().redact(text)

``import tau_safety`` is cheap: public names load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "InjectionDetector": "_injection",
    "InjectionFinding": "_injection",
    "RULES": "_rules",
    "Rule": "_rule",
    "SafetySettings": "_settings",
    "SecretFinding": "_secrets",
    "SecretScanner": "_secrets",
    "normalize": "_normalize",
}

__all__ = [
    "RULES",
    "InjectionDetector",
    "InjectionFinding",
    "Rule",
    "SafetySettings",
    "SecretFinding",
    "SecretScanner",
    "__version__",
    "normalize",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tau_safety' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from ._injection import InjectionDetector, InjectionFinding
    from ._normalize import normalize
    from ._rule import Rule
    from ._rules import RULES
    from ._secrets import SecretFinding, SecretScanner
    from ._settings import SafetySettings
