"""The stable JSON form of Tau's data model, through one private cattrs converter.

Every top-level document carries ``"schema": SCHEMA_VERSION``. Newer documents are refused
with a clear error instead of being misread. Keys are sorted so the same value always gives
the same bytes (replays compare outcomes byte for byte).
"""

from __future__ import annotations

import functools
import json
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_unstructure_fn

from ._messages import Part, TextPart, ThinkingPart, ToolCall, ToolResult
from ._outcome import Outcome
from .errors import UsageError

__all__ = ["SCHEMA_VERSION", "dumps", "from_dict", "loads", "outcome_to_dict", "to_dict"]

SCHEMA_VERSION = 1
T = TypeVar("T")

_PART_TYPES: dict[str, type[Any]] = {
    "text": TextPart,
    "thinking": ThinkingPart,
    "tool_call": ToolCall,
    "tool_result": ToolResult,
}


@functools.cache
def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)

    def structure_part(data: Any, _: Any) -> Part:
        if not isinstance(data, dict) or data.get("type") not in _PART_TYPES:
            raise ValueError(f"not a message part: {data!r:.80}")
        cls = _PART_TYPES[data["type"]]
        body = {k: v for k, v in data.items() if k != "type"}
        result: Part = conv.structure(body, cls)
        return result

    conv.register_structure_hook_func(lambda t: t == Part, structure_part)
    for cls in _PART_TYPES.values():
        # Parts carry their "type" tag (an init=False field) so a union can be read back.
        conv.register_unstructure_hook(
            cls, make_dict_unstructure_fn(cls, conv, _cattrs_include_init_false=True)
        )
    return conv


def to_dict(obj: Any) -> Any:
    """Unstructure any Tau data object to plain JSON types."""
    return _converter().unstructure(obj)


def from_dict(data: Any, cls: type[T]) -> T:
    """Structure plain JSON data into *cls*.

    Raises:
        UsageError: The data does not fit *cls*; the message names the first problem.
    """
    try:
        return _converter().structure(data, cls)
    except Exception as exc:
        detail = (
            "; ".join(str(e) for e in cattrs.transform_error(exc))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise UsageError(f"cannot read {cls.__name__} from JSON: {detail}") from None


def outcome_to_dict(outcome: Outcome) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "run_id": outcome.run_id,
        "status": outcome.status,
        "reason": outcome.reason,
        "summary": outcome.summary,
        "evidence": to_dict(outcome.evidence),
    }


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """The stable JSON text of *obj* (sorted keys, schema version inside)."""
    if isinstance(obj, Outcome):
        data: Any = outcome_to_dict(obj)
    else:
        data = to_dict(obj)
        if isinstance(data, dict):
            data = {"schema": SCHEMA_VERSION, **data}
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(
        data, sort_keys=True, indent=indent, separators=separators, ensure_ascii=False
    )


def loads(text: str | bytes, cls: type[T]) -> T:
    """Read the stable JSON text of a *cls*.

    Raises:
        UsageError: The text is not JSON, comes from a newer Tau, or does not fit *cls*.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"not JSON ({exc}); expected a {cls.__name__} document") from None
    if not isinstance(data, dict):
        raise UsageError(f"expected a JSON object holding a {cls.__name__}")
    schema = data.pop("schema", SCHEMA_VERSION)
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise UsageError(
            f"this {cls.__name__} was written with schema {schema!r}; this Tau reads up to "
            f"{SCHEMA_VERSION}: upgrade tau-core"
        )
    if cls is Outcome:
        data.pop("run_id", None)
    return from_dict(data, cls)
