"""Tau's safety layer: redaction, injection detection, taint rails and an audit chain.

tau-safety will hold secret scanning (with decode-and-rescan and Unicode normalisation),
redaction on every sink, prompt-injection detection, taint tracking of untrusted content with
escalation rails, and a tamper-evident audit chain. None of them is built yet: this release
ships the distribution and its ``tau.plugins`` registration only, so ``tau plugins list``
reports the ``safety`` plugin as loaded with nothing registered. The safety features arrive in
a later release.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
