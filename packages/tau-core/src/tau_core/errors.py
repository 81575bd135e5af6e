"""Every error Tau raises, in one tree.

::

    TauError
    ├── UsageError            the caller asked for something that cannot work (bad argument)
    ├── ConfigError           a configuration file or value is invalid (names file, line and key)
    ├── PluginError           a plugin failed to import, register or honour its contract
    ├── CredentialError       the credential store is missing, locked, corrupt or refuses
    ├── JournalError          the journal database is corrupt, foreign, too new or diverged
    ├── ProviderError         a model provider failed
    │   ├── ProviderConnectionError   the transport failed (DNS, refused, reset, timeout)
    │   └── ProviderHTTPError         the provider answered with an error status
    │       ├── ProviderAuthenticationError   401/403: the credential is missing or wrong
    │       └── ProviderRateLimitError        429: slow down, see ``retry_after``
    ├── ToolError             a tool failed in a way the model may recover from
    ├── PolicyDenied          the authority does not allow an action
    ├── SafetyViolation       a safety check blocked content
    └── MemoryStoreError      a memory backend failed

Transport and database exceptions (httpx, sqlite3) are translated at the boundary, so callers
only ever catch Tau errors. Every message says what happened, which input caused it, and what
to do next.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CredentialError",
    "JournalError",
    "MemoryStoreError",
    "PluginError",
    "PolicyDenied",
    "ProviderAuthenticationError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderHTTPError",
    "ProviderRateLimitError",
    "SafetyViolation",
    "TauError",
    "ToolError",
    "UsageError",
]


class TauError(Exception):
    """Base class of every error Tau raises.

    .. versionadded:: 0.1
    """


class UsageError(TauError):
    """The caller asked for something that cannot work: fix the call, not the environment."""


class ConfigError(TauError):
    """A configuration file or value is invalid.

    Attributes:
        path: The file that holds the bad value, when there is one.
        line: The 1-based line of the bad value, when known.
        key: The dotted key of the bad value, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        where = []
        if path is not None:
            where.append(path if line is None else f"{path}:{line}")
        if key is not None:
            where.append(f"key {key!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.path = path
        self.line = line
        self.key = key


class PluginError(TauError):
    """A plugin failed to import, register, or honour its contract."""


class CredentialError(TauError):
    """The credential store is missing, locked, corrupt, or refused an operation."""


class JournalError(TauError):
    """The journal database is corrupt, foreign, newer than this Tau, or a replay diverged."""


class ProviderError(TauError):
    """A model provider failed.

    Attributes:
        retryable: Whether trying again (or falling back to another route) may succeed.
    """

    retryable: bool = False


class ProviderConnectionError(ProviderError):
    """The transport to the provider failed before an answer arrived."""

    retryable = True


class ProviderHTTPError(ProviderError):
    """The provider answered with an error status.

    Attributes:
        status: The HTTP status code.
        body: An excerpt of the response body (already redacted by the caller).
        retry_after: Seconds the provider asked us to wait, when it said so.
    """

    def __init__(
        self, message: str, *, status: int, body: str = "", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.retry_after = retry_after
        self.retryable = status in (408, 409, 425, 429) or status >= 500


class ProviderAuthenticationError(ProviderHTTPError):
    """401/403: the credential is missing or wrong; the message names the credential to set."""


class ProviderRateLimitError(ProviderHTTPError):
    """429: the provider asks us to slow down; see ``retry_after``."""


class ToolError(TauError):
    """A tool failed in a way the model may recover from.

    Attributes:
        code: A short machine-readable code, e.g. ``"not_found"``.
        hint: What the model (or user) could do next.
    """

    def __init__(self, message: str, *, code: str = "tool_error", hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


class PolicyDenied(TauError):
    """The authority does not allow an action.

    Attributes:
        rule_id: The policy rule that decided.
        reason_code: Why, from the closed set in :mod:`tau_core`'s docs.
        needed_grant: The grant string that would allow the action, when one would.
    """

    def __init__(
        self, message: str, *, rule_id: str, reason_code: str, needed_grant: str | None = None
    ) -> None:
        super().__init__(message)
        self.rule_id = rule_id
        self.reason_code = reason_code
        self.needed_grant = needed_grant


class SafetyViolation(TauError):
    """A safety check blocked content."""


class MemoryStoreError(TauError):
    """A memory backend failed."""
