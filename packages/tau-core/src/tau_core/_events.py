"""Run events: what the journal records and what ``tau_event`` observers see."""

from __future__ import annotations

from typing import Any

from attrs import frozen

__all__ = ["Event"]


@frozen
class Event:
    """One thing that happened in a run.

    Attributes:
        run_id: The run.
        seq: Position in the run's journal (1-based, gap-free).
        kind: ``run_started``, ``model_response``, ``decision``, ``intent``, ``tool_result``,
            ``verifier_result``, ``outcome`` … (``docs/journal.md`` lists them all).
        key: A key unique within the run; resuming a run never writes the same key twice.
        data: The event's JSON payload.
        at: Seconds since the epoch when it was recorded.
    """

    run_id: str
    seq: int
    kind: str
    key: str
    data: dict[str, Any]
    at: float
