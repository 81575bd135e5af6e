"""Taint tracking and the rails: what untrusted content may not drive.

A run starts clean. Content from an untrusted origin taints it: the output of a tool that
declares ``untrusted_output``, of a tool that reaches the network, of a tool named in
``safety.untrusted_tools``, and files read from outside the task's declared ``inputs`` (the
working directory when none are declared). The model has seen that content, so from then on
everything it asks for may be steered by it: the mark stays on the conversation for the rest of
the run (resuming a run restores it from the journal's ``taint`` entries).

The rails check each side-effecting call before it runs; a call that trips one is escalated
through the authority's approval mode (``ask`` asks the approver, ``deny`` blocks the run,
``never`` refuses the call and tells the model). They key on where content came from, never on
whether a detector recognised an attack, so they hold when detection misses:

* ``rail.fetch-then-exec``: a program would run after untrusted content entered the run.
* ``rail.secret-then-network``: a call would reach the network after a secret was read or
  handed to a tool; and, tainted or not, any call whose arguments carry a secret.
* ``rail.write-outside-targets``: a write outside the task's declared ``targets``.
* ``rail.verifier-change``: a write to the verifier's inputs (core refuses these anyway).
* ``rail.untrusted-value``: a side effect whose arguments carry a value (an address, a URL,
  an account or phone number, a long number, an identifier) that appears in untrusted content
  but nowhere in the trusted content (the task, trusted tool output): the value most likely
  came from an injected instruction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

__all__ = ["Rail", "TaintState", "argument_values"]

_MAX_TEXT = 4 * 1024 * 1024  # per pool; the oldest content is dropped first

# Values a side effect may carry that are worth tracing back to their source (RE2 syntax:
# matched in linear time, whatever the model put in the arguments).
_VALUE_PATTERN = (
    r"(?i)[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|[a-z][a-z0-9+.-]*://[^\s'\"<>]+"  # URLs
    r"|\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b"  # IBAN-shaped account numbers
    r"|\+?\d[\d .()-]{6,}\d"  # phone and account numbers
    r"|\b\d{4,}\b"  # long numbers (amounts stay below, ids above)
    r"|\b[\w-]*\.(?:com|net|org|io|dev|co|ai|xyz|ru|cn|info|biz)\b"  # bare domains
)
_compiled: list[Any] = []


def _value_re() -> Any:
    if not _compiled:
        import re2

        _compiled.append(re2.compile(_VALUE_PATTERN))
    return _compiled[0]


@frozen
class Rail:
    """One rail a call tripped: the rule id and why."""

    rule_id: str
    message: str


@frozen
class TaintSource:
    """Where untrusted content entered the run."""

    tool: str
    call_id: str
    reason: str


@define
class TaintState:
    """What one run has seen: whether it is tainted, from where, and the two text pools."""

    inputs: tuple[Path, ...]
    targets: tuple[Path, ...]
    sources: list[TaintSource] = field(factory=list)
    secret_seen: list[str] = field(factory=list)
    _trusted: list[str] = field(factory=list)
    _untrusted: list[str] = field(factory=list)
    _sizes: list[int] = field(factory=lambda: [0, 0])

    @property
    def tainted(self) -> bool:
        return bool(self.sources)

    def add_trusted(self, text: str) -> None:
        self._add(self._trusted, 0, text)

    def add_untrusted(self, text: str) -> None:
        self._add(self._untrusted, 1, text)

    def _add(self, pool: list[str], i: int, text: str) -> None:
        if not text:
            return
        pool.append(text.lower())
        self._sizes[i] += len(text)
        while self._sizes[i] > _MAX_TEXT and len(pool) > 1:
            self._sizes[i] -= len(pool.pop(0))

    def in_trusted(self, value: str) -> bool:
        return _contains(self._trusted, value)

    def in_untrusted(self, value: str) -> bool:
        return _contains(self._untrusted, value)

    # -- origin -----------------------------------------------------------------------------

    def is_inside(self, path: Path, roots: Iterable[Path]) -> bool:
        return any(path == r or r in path.parents for r in roots)

    def untrusted_origin(
        self, spec: Any, capabilities: Iterable[Any], untrusted_tools: Iterable[str]
    ) -> str | None:
        """Why the output of this call is untrusted, or None when it is trusted."""
        if getattr(spec, "untrusted_output", False):
            return f"{spec.name} declares untrusted output"
        if spec.name in set(untrusted_tools):
            return f"{spec.name} is listed in safety.untrusted_tools"
        caps = list(capabilities)
        if spec.side_effect == "network" or any(c.kind == "net" for c in caps):
            return f"{spec.name} reaches the network"
        for c in caps:
            if c.kind == "read":
                path = Path(c.target)
                if not self.is_inside(path, self.inputs):
                    return f"{spec.name} read {c.target}, outside the task's declared inputs"
        return None

    # -- rails ------------------------------------------------------------------------------

    def rails(
        self,
        spec: Any,
        arguments: Mapping[str, Any],
        capabilities: Iterable[Any],
        protected: Iterable[Path],
        secret_in_arguments: bool,
    ) -> Iterator[Rail]:
        """The rails this call trips, in order of severity."""
        caps = list(capabilities)
        kinds = {c.kind for c in caps}
        network = spec.side_effect == "network" or "net" in kinds
        execs = spec.side_effect == "exec" or "exec" in kinds
        side_effect = spec.side_effect in ("write", "exec", "network") or bool(
            kinds & {"write", "exec", "net"}
        )
        origin = f" (untrusted content came from {self._origin()})" if self.tainted else ""
        if secret_in_arguments and (network or side_effect):
            yield Rail(
                "rail.secret-then-network" if network else "rail.secret-in-arguments",
                f"{spec.name} would carry a secret in its arguments",
            )
        if network and self.secret_seen and self.tainted:
            yield Rail(
                "rail.secret-then-network",
                f"{spec.name} would reach the network after a secret was read "
                f"({', '.join(self.secret_seen[:3])}){origin}",
            )
        if not self.tainted:
            return
        if execs:
            yield Rail("rail.fetch-then-exec", f"{spec.name} would run a program{origin}")
        writes = [Path(c.target) for c in caps if c.kind == "write"]
        guarded = tuple(protected)
        for path in writes:
            if guarded and self.is_inside(path, guarded):
                yield Rail(
                    "rail.verifier-change",
                    f"{spec.name} would change the verifier's input {path}{origin}",
                )
            elif self.targets and not self.is_inside(path, self.targets):
                yield Rail(
                    "rail.write-outside-targets",
                    f"{spec.name} would write {path}, outside the task's declared targets{origin}",
                )
        if side_effect:
            for value in argument_values(arguments):
                if self.in_untrusted(value) and not self.in_trusted(value):
                    yield Rail(
                        "rail.untrusted-value",
                        f"{spec.name} would use {value[:60]!r}, which appears only in "
                        f"untrusted content{origin}",
                    )
                    break

    def _origin(self) -> str:
        first = self.sources[0]
        more = f" and {len(self.sources) - 1} more" if len(self.sources) > 1 else ""
        return f"{first.tool} ({first.reason}){more}"


def argument_values(arguments: Any) -> Iterator[str]:
    """The traceable values inside a call's arguments (see the module docs)."""
    if isinstance(arguments, Mapping):
        for v in arguments.values():
            yield from argument_values(v)
    elif isinstance(arguments, list | tuple):
        for v in arguments:
            yield from argument_values(v)
    elif isinstance(arguments, bool):
        return
    elif isinstance(arguments, int | float):
        if abs(arguments) >= 1000:
            yield str(arguments)
    elif isinstance(arguments, str):
        seen = set()
        for m in _value_re().finditer(arguments[:100_000]):
            value = m.group(0).strip(" .,;:()")
            if len(value) >= 4 and value not in seen:
                seen.add(value)
                yield value


_SHORT = 8  # values shorter than this must appear as a whole word, not inside another one


def _contains(pool: list[str], value: str) -> bool:
    v = value.lower()
    if len(v) >= _SHORT:
        return any(v in t for t in pool)
    import re2

    word = re2.compile(r"(?:^|[^\w])" + re2.escape(v) + r"(?:$|[^\w])")
    return any(v in t and word.search(t) is not None for t in pool)
