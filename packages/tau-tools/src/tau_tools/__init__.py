"""Tau's tools and built-in verifiers, behind tau-core's tool and verifier contracts.

tau-tools will hold the file tools (read, write, edit, apply_patch, ls/glob/grep), a sandboxed
shell, SSRF-safe HTTP, git, the built-in verifiers (command exit code, pytest with JUnit XML,
RED→GREEN) and coding missions. None of them is built yet: this release ships the distribution
and its ``tau.plugins`` registration only, so ``tau plugins list`` reports the ``tools`` plugin
as loaded with nothing registered. The tools and verifiers arrive in a later release.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
