"""tau-safety's settings: the ``[safety]`` table of ``tau.toml``.

```toml
[safety]
secrets = "redact"      # warn | redact | block: secrets matched by pattern
injection = "redact"    # warn | redact | block: injected instructions in tool results
rails = true            # escalate side effects that follow untrusted content
untrusted_tools = ["fetch_page"]   # tools whose output is untrusted, on top of the declared ones
```

Whatever ``secrets`` says, the safety floor holds: values from the credential store and
secrets injected into a tool are always replaced by ``[REDACTED]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from attrs import frozen

from tau_core.errors import ConfigError

__all__ = ["MODES", "SafetySettings"]

Mode = Literal["warn", "redact", "block"]
MODES: tuple[str, ...] = ("warn", "redact", "block")

_KEYS = ("secrets", "injection", "rails", "untrusted_tools")


@frozen
class SafetySettings:
    """What tau-safety does at each check.

    Attributes:
        secrets: ``warn`` records findings and leaves the text; ``redact`` (default) replaces
            each secret by ``[REDACTED]`` at every sink; ``block`` also stops the run
            (``blocked(unsafe_content)``) when a tool result or a request carries one.
        injection: ``warn`` records findings (and taints the run); ``redact`` (default) also
            replaces the injected paragraph (and, after a lead-in ending in a colon, the
            paragraph that follows) by a marker; ``block`` stops the run.
        rails: Escalate side effects that follow untrusted content (default on).
        untrusted_tools: Tool names whose output is untrusted, on top of the tools that
            declare ``untrusted_output`` or reach the network.
    """

    secrets: Mode = "redact"
    injection: Mode = "redact"
    rails: bool = True
    untrusted_tools: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, table: Mapping[str, Any] | None) -> SafetySettings:
        """Read and validate the ``[safety]`` table.

        Raises:
            ConfigError: An unknown key or a bad value; the message names the key and the fix.
        """
        table = dict(table or {})
        for key in table:
            if key not in _KEYS:
                raise ConfigError(
                    f"unknown setting; tau-safety knows {', '.join(_KEYS)}", key=f"safety.{key}"
                )
        for key in ("secrets", "injection"):
            if key in table and table[key] not in MODES:
                raise ConfigError(
                    f"{table[key]!r} is not one of {', '.join(MODES)}", key=f"safety.{key}"
                )
        if "rails" in table and not isinstance(table["rails"], bool):
            raise ConfigError(f"{table['rails']!r} is not true or false", key="safety.rails")
        tools = table.get("untrusted_tools", [])
        if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
            raise ConfigError(
                f"{tools!r} is not a list of tool names", key="safety.untrusted_tools"
            )
        return cls(
            secrets=table.get("secrets", "redact"),
            injection=table.get("injection", "redact"),
            rails=table.get("rails", True),
            untrusted_tools=tuple(tools),
        )
