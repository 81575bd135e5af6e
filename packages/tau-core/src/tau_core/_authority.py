"""The authority a run may use, and the fail-closed check core runs before every tool call.

Grant strings (CLI ``--allow`` and TOML)::

    tool:NAME          the tool NAME may be called (``tool:*`` for any)
    read:PATH          files under PATH may be read
    write:PATH         files under PATH may be created, changed or deleted
    exec:PROGRAM       PROGRAM may run (checked on every simple command; ``exec:*`` for any)
    net:HOST[:PORT]    HOST (``*`` for any) may be reached, on PORT or any port
    secret:NAME@TOOL   the credential NAME may be injected into TOOL

Relative paths are relative to the task's working directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from attrs import evolve, field, frozen

from .errors import UsageError

__all__ = [
    "PRESETS",
    "ApprovalMode",
    "Authority",
    "Budgets",
    "Capability",
    "Grant",
    "PolicyDecision",
    "UnknownPricePolicy",
    "check_capabilities",
]


def _tuple_of_grant(items: Iterable[Grant]) -> tuple[Grant, ...]:
    return tuple(items)


GrantKind = Literal["tool", "read", "write", "exec", "net", "secret"]
ApprovalMode = Literal["never", "ask", "deny"]
_KINDS: tuple[str, ...] = ("tool", "read", "write", "exec", "net", "secret")
_PATH_KINDS = ("read", "write")


@frozen
class Grant:
    """One permission. Parse from a string with :meth:`parse`; ``str()`` gives it back."""

    kind: GrantKind
    target: str

    @classmethod
    def parse(cls, text: str) -> Grant:
        """Parse ``KIND:TARGET``.

        Raises:
            UsageError: The string is not a grant; the message lists the valid kinds.
        """
        kind, sep, target = text.partition(":")
        if not sep or kind not in _KINDS or not target:
            raise UsageError(
                f"grant {text!r} is not KIND:TARGET; kinds are {', '.join(_KINDS)} "
                "(e.g. write:src, exec:pytest, net:api.example.com:443, secret:openai@http)"
            )
        if kind == "secret" and "@" not in target:
            raise UsageError(
                f"grant {text!r} names no tool; write secret:NAME@TOOL, e.g. secret:github@http"
            )
        return cls(kind, target)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


@frozen
class Capability:
    """What one tool call needs, computed by the tool from its arguments.

    Examples: ``Capability("write", "/work/repo/out.txt")``, ``Capability("exec", "pytest")``,
    ``Capability("net", "api.example.com:443")``, ``Capability("secret", "github@http")``.
    """

    kind: GrantKind
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


UnknownPricePolicy = Literal["block", "cap"]
_UNKNOWN_PRICE_POLICIES = ("block", "cap")


def _check_unknown_price(instance: Budgets, attribute: Any, value: Any) -> None:
    if value not in _UNKNOWN_PRICE_POLICIES:
        raise UsageError(
            f"unknown_price={value!r} is not a policy; use 'block' (refuse a call whose price "
            "is unknown when max_cost is set) or 'cap' (allow such calls up to "
            "unknown_price_max_tokens tokens)"
        )


def _check_unknown_price_max_tokens(instance: Budgets, attribute: Any, value: Any) -> None:
    positive = isinstance(value, int) and not isinstance(value, bool) and value > 0
    if value is not None and not positive:
        raise UsageError(
            f"unknown_price_max_tokens={value!r} is not a positive number of tokens; "
            "give one (e.g. 50000), or leave it unset"
        )
    if instance.unknown_price == "cap" and value is None:
        raise UsageError(
            "unknown_price='cap' needs unknown_price_max_tokens, the most tokens the run may "
            "spend on calls whose price is unknown (e.g. 50000); set it, or use "
            "unknown_price='block'"
        )


@frozen
class Budgets:
    """Limits for one run; ``None`` means no limit on that dimension.

    Attributes:
        max_turns: Model calls.
        max_tokens: Input plus output tokens over the run (checked worst-case before each call).
        max_cost: US dollars over the run (checked worst-case before each call, over every
            model route that could answer it: the model and its fallbacks).
        max_wall_time: Seconds of active running (time the process was down does not count).
        max_tool_calls: Tool calls over the run.
        max_repairs: Times a red verifier result goes back to the model.
        max_output_tokens: ``max_tokens`` sent with each model call.
        unknown_price: What a cost budget does with a call that a route with no known price
            could answer: ``block`` (the default) ends the run ``blocked(unknown_price)``
            before the call; ``cap`` allows it while the tokens of calls with no known price,
            plus this call's worst case, stay within ``unknown_price_max_tokens`` (past that the
            run is ``exhausted(unknown_price_tokens)``). Only matters when ``max_cost`` is set.
        unknown_price_max_tokens: The token cap for calls whose price is unknown; required
            by ``unknown_price="cap"``, ignored by ``block``.

    Raises:
        UsageError: ``unknown_price`` is not a policy, or ``cap`` comes without a positive
            ``unknown_price_max_tokens``.
    """

    max_turns: int | None = 20
    max_tokens: int | None = None
    max_cost: float | None = None
    max_wall_time: float | None = None
    max_tool_calls: int | None = 200
    max_repairs: int = 3
    max_output_tokens: int = 4096
    unknown_price: UnknownPricePolicy = field(default="block", validator=_check_unknown_price)
    unknown_price_max_tokens: int | None = field(
        default=None, validator=_check_unknown_price_max_tokens
    )


@frozen
class PolicyDecision:
    """One authority decision, recorded in the journal and the evidence.

    Attributes:
        call_id: The tool call decided on.
        tool: The tool name.
        allowed: Whether the call may run.
        rule_id: The rule that decided (e.g. ``grant.write``, ``verifier.protected``).
        reason_code: ``allowed``, ``missing_authority``, ``policy_denied`` …
        message: A readable explanation.
        needed_grant: The grant string that would allow the call, when denied for lack of one.
    """

    call_id: str
    tool: str
    allowed: bool
    rule_id: str
    reason_code: str
    message: str
    needed_grant: str | None = None


@frozen
class Authority:
    """What a run may do. Data, TOML-able, and fail-closed: what is not granted is denied.

    Attributes:
        grants: The permissions (see the module docs for the string forms).
        budgets: The run's limits.
        approval: What happens to a call the grants do not cover: ``deny`` blocks the run,
            ``ask`` asks the approver (a callback, or the terminal) and blocks if refused,
            ``never`` never asks and returns the denial to the model as a tool error.
        protect_verifier: Keep the verifier's inputs read-only to the agent (default on).
        allow_unconfined: Accept running sandboxed tools unconfined on a host where no sandbox
            works (they refuse otherwise); every such call records it in its result.
        preset: The preset this authority came from, if any (informational).
    """

    grants: tuple[Grant, ...] = field(default=(), converter=_tuple_of_grant)
    budgets: Budgets = Budgets()
    approval: ApprovalMode = "deny"
    protect_verifier: bool = True
    allow_unconfined: bool = False
    preset: str | None = None

    @classmethod
    def from_preset(cls, name: str, *extra: str | Grant, **kwargs: object) -> Authority:
        """Build an authority from a named preset plus extra grants.

        Raises:
            UsageError: *name* is not a preset.
        """
        try:
            base = PRESETS[name]
        except KeyError:
            raise UsageError(
                f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}"
            ) from None
        grants = base + tuple(Grant.parse(g) if isinstance(g, str) else g for g in extra)
        return cls(grants=grants, preset=name, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def parse(cls, grants: Iterable[str], **kwargs: object) -> Authority:
        """Build an authority from grant strings."""
        return cls(grants=tuple(Grant.parse(g) for g in grants), **kwargs)  # type: ignore[arg-type]

    def with_grants(self, *grants: str | Grant) -> Authority:
        more = tuple(Grant.parse(g) if isinstance(g, str) else g for g in grants)
        return evolve(self, grants=self.grants + more)

    def grants_of(self, kind: str) -> tuple[Grant, ...]:
        return tuple(g for g in self.grants if g.kind == kind)


PRESETS: dict[str, tuple[Grant, ...]] = {
    "read-only": (Grant("read", "."),),
    "workspace-write": (Grant("read", "."), Grant("write", ".")),
    "full": (
        Grant("read", "/"),
        Grant("write", "/"),
        Grant("exec", "*"),
        Grant("net", "*"),
        Grant("tool", "*"),
    ),
}
"""Named starting points. ``full`` grants everything except secrets, which are always named."""


def _resolve(path: str, workdir: Path) -> Path:
    p = Path(os.path.expanduser(path))
    if not p.is_absolute():
        p = workdir / p
    # Resolve symlinks in the existing part so a link cannot smuggle a path out of a grant.
    return Path(os.path.realpath(p))


def _within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _split_host_port(text: str) -> tuple[str, str]:
    """``host:port``, ``[v6]:port``, ``[v6]``, bare ``v6`` or ``host`` → (host, port or "")."""
    if text.startswith("["):
        end = text.find("]")
        if end == -1:
            return text, ""
        rest = text[end + 1 :]
        return text[1:end], rest[1:] if rest.startswith(":") else ""
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, port
    return text, ""  # a bare IPv6 address, or a host without a port


def _net_matches(grant: str, target: str) -> bool:
    g_host, g_port = _split_host_port(grant)
    t_host, t_port = _split_host_port(target)
    if g_port and g_port not in ("*", t_port):
        return False
    if g_host == "*":
        return True
    # Only `*` is a wildcard (e.g. *.example.com); everything else, IPv6 included, is literal.
    pattern = re.escape(g_host.lower()).replace(r"\*", "[^:/]*")
    return re.fullmatch(pattern, t_host.lower()) is not None


def capability_granted(authority: Authority, cap: Capability, workdir: Path) -> bool:
    """Whether *authority* covers *cap* for a run in *workdir*."""
    grants = authority.grants_of(cap.kind)
    if cap.kind in _PATH_KINDS:
        path = _resolve(cap.target, workdir)
        return any(_within(path, _resolve(g.target, workdir)) for g in grants)
    if cap.kind == "exec":
        # A bare name matches grants of that name; a program given by path (./ls, /tmp/x/ls)
        # matches only a grant naming that same path, so a written file cannot pose as `ls`.
        if "/" in cap.target:
            target = str(_resolve(cap.target, workdir))
            return any(
                g.target == "*" or ("/" in g.target and str(_resolve(g.target, workdir)) == target)
                for g in grants
            )
        return any(g.target in ("*", cap.target) for g in grants)
    if cap.kind == "net":
        return any(_net_matches(g.target, cap.target) for g in grants)
    if cap.kind == "secret":
        return any(g.target == cap.target for g in grants)
    if cap.kind == "tool":
        return any(g.target in ("*", cap.target) for g in grants)
    return False


def check_capabilities(  # noqa: PLR0917 - mirrors the decision's fields in order
    authority: Authority,
    call_id: str,
    tool: str,
    needed: Sequence[Capability],
    workdir: Path,
    protected: Sequence[Path] = (),
) -> PolicyDecision:
    """Decide one tool call. Fail-closed: anything not covered by a grant is denied.

    Rules, in order: ``tool.grant`` (when the authority lists ``tool:`` grants the tool must be
    among them), ``verifier.protected`` (writes to the verifier's inputs need a grant naming
    that exact path), then ``grant.KIND`` for every capability the call needs.
    """
    tool_grants = authority.grants_of("tool")
    if tool_grants and not capability_granted(authority, Capability("tool", tool), workdir):
        return PolicyDecision(
            call_id,
            tool,
            False,
            "tool.grant",
            "missing_authority",
            f"tool {tool!r} is not among the granted tools",
            needed_grant=f"tool:{tool}",
        )
    for cap in needed:
        if cap.kind == "write" and authority.protect_verifier and protected:
            path = _resolve(cap.target, workdir)
            for guarded in protected:
                g = Path(os.path.realpath(guarded))
                if _within(path, g) or _within(g, path):
                    explicit = any(
                        _resolve(gr.target, workdir) == g for gr in authority.grants_of("write")
                    )
                    if not explicit:
                        return PolicyDecision(
                            call_id,
                            tool,
                            False,
                            "verifier.protected",
                            "policy_denied",
                            f"{path} is an input of the verifier and is read-only to the agent",
                            needed_grant=f"write:{g}",
                        )
        if not capability_granted(authority, cap, workdir):
            target = cap.target
            if cap.kind in _PATH_KINDS:
                target = str(_resolve(cap.target, workdir))
            return PolicyDecision(
                call_id,
                tool,
                False,
                f"grant.{cap.kind}",
                "missing_authority",
                f"{tool} needs {cap.kind}:{target}, which no grant covers",
                needed_grant=f"{cap.kind}:{target}",
            )
    needs = ", ".join(str(c) for c in needed) or "no capability"
    return PolicyDecision(call_id, tool, True, "grant.all", "allowed", f"granted ({needs})")
