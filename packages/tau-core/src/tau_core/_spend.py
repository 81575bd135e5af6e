"""What a run spends on model calls, and the cost budget checked before each call.

A run's total :class:`~tau_core.Usage` has ``cost=None`` as soon as one call's price is unknown:
unknown is never counted as free. :class:`Spend` keeps the parts that stay known (the dollars of
the calls with a price, the tokens of the calls without one), so the cost budget and the token
cap of the ``unknown_price="cap"`` policy can still be enforced, and the evidence can say how much
of the cost is known.

The worst case of the next call is recorded in the journal as the ``price:{turn}`` activity::

    {"worst_case_cost": 0.12,                       # the dearest route, None if one is unknown
     "routes": [{"route": "openai:gpt-4.1", "worst_case_cost": 0.12},
                {"route": "ollama:qwen3", "worst_case_cost": null},
                {"route": "anthropic:x", "unavailable": "CredentialError"}]}

Journals written before fallbacks were priced hold only ``{"worst_case_cost": X}``, the worst
case of the first route; they are read as exactly that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field

from ._authority import Budgets
from ._messages import Usage
from ._runstate import Stop

__all__ = ["Spend", "as_price", "check_cost_budget", "price_record"]


def as_price(value: object) -> float | None:
    """A provider's worst-case cost as a float, or None when it is unknown or not a price."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    cost = float(value)
    return cost if math.isfinite(cost) and cost >= 0 else None


def price_record(routes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The ``price:{turn}`` activity for per-route worst cases.

    Args:
        routes: One entry per route in order: ``{"route": SPEC, "worst_case_cost": X | None}``,
            or ``{"route": SPEC, "unavailable": WHY}`` for a route whose client cannot be made
            (it cannot answer, so it cannot cost anything).
    """
    able = [r for r in routes if "unavailable" not in r]
    costs = [r["worst_case_cost"] for r in able]
    worst = None if any(c is None for c in costs) else max(costs, default=0.0)
    return {"worst_case_cost": worst, "routes": [dict(r) for r in routes]}


@define
class Spend:
    """A run's model spending so far; rebuilt from the journal on resume and replay.

    Attributes:
        priced_cost: US dollars of the calls whose price was known.
        unpriced_tokens: Tokens of the calls whose price was unknown; a call that reported no
            tokens counts at its worst case (prompt estimate plus the output allowance).
        unpriced_turns: The turns whose call had no known price.
        note: The evidence event describing these figures, once a call had no known price.
    """

    priced_cost: float = 0.0
    unpriced_tokens: int = 0
    unpriced_turns: list[int] = field(factory=list)
    note: dict[str, Any] | None = None

    def add(
        self, usage: Usage, *, turn: int, route: str, worst_tokens: int, explain: bool
    ) -> dict[str, Any] | None:
        """Count one call's usage.

        Args:
            usage: The call's usage (``cost=None``: the price was unknown).
            turn: The run's turn number.
            route: The route that answered.
            worst_tokens: The call's worst case in tokens, counted when it reported none.
            explain: Whether an unpriced call starts an evidence event (only when the call
                was checked by this version's cost budget, so older journals replay to the
                outcome they recorded).

        Returns:
            A new evidence event to append, the first time a call's price is unknown; later
            calls update that same event in place.
        """
        if usage.cost is not None:
            self.priced_cost += usage.cost
        else:
            self.unpriced_tokens += usage.total_tokens or worst_tokens
            self.unpriced_turns.append(turn)
        new = None
        if self.note is None and usage.cost is None and explain:
            # Figures first: the Markdown evidence shows the start of each event.
            self.note = new = {
                "kind": "unknown_price",
                "cost": "partial",
                "priced_cost": 0.0,
                "unpriced_tokens": 0,
                "routes": [],
                "turns": [],
            }
        if self.note is not None:
            routes = self.note["routes"]
            if usage.cost is None and route not in routes:
                routes.append(route)
            self.note.update(
                priced_cost=round(self.priced_cost, 9),
                unpriced_tokens=self.unpriced_tokens,
                turns=list(self.unpriced_turns),
            )
        return new


def check_cost_budget(
    budgets: Budgets,
    spend: Spend,
    price: Mapping[str, Any],
    *,
    primary: str,
    prompt_tokens: int,
) -> Stop | None:
    """Decide whether the next model call fits the cost budget, over every route.

    Args:
        budgets: The run's budgets; ``max_cost`` must be set.
        spend: What the run has spent so far.
        price: The ``price:{turn}`` activity (see the module docs).
        primary: The first route's spec (what a legacy price record priced).
        prompt_tokens: The estimated prompt of the next call.

    Returns:
        The stop that ends the run, or None when the call may go ahead.
    """
    max_cost = budgets.max_cost
    if max_cost is None:  # pragma: no cover - the loop checks cost only with a cost budget
        return None
    legacy = "routes" not in price
    routes = price["routes"] if not legacy else [{**price, "route": primary}]
    able = [r for r in routes if "unavailable" not in r]
    unknown = [str(r["route"]) for r in able if r.get("worst_case_cost") is None]
    worst_cost = max(
        (float(r["worst_case_cost"]) for r in able if r.get("worst_case_cost") is not None),
        default=0.0,
    )
    if budgets.unknown_price == "block" and (unknown or spend.unpriced_turns):
        if legacy:  # word for word what such runs recorded, so they replay identically
            return Stop(
                "blocked",
                "unknown_price",
                f"a cost budget of ${max_cost:g} is set but the price of {primary} is unknown",
            )
        if unknown:
            what = f"no price is known for {', '.join(unknown)}, which could answer the next call"
        else:
            turns = ", ".join(map(str, spend.unpriced_turns))
            what = f"the price of the call(s) at turn(s) {turns} was unknown"
        return Stop(
            "blocked",
            "unknown_price",
            f"a cost budget of ${max_cost:g} is set but {what}; add the price to the provider's "
            "config, or allow such calls up to a number of tokens with "
            "unknown_price = 'cap' and unknown_price_max_tokens",
        )
    if spend.priced_cost + worst_cost > max_cost:
        return Stop(
            "exhausted",
            "cost",
            f"the next model call could bring the cost to "
            f"${spend.priced_cost + worst_cost:.4f}, over ${max_cost:g}",
        )
    if unknown:
        cap = budgets.unknown_price_max_tokens or 0  # Budgets refuses "cap" without a cap
        worst_tokens = spend.unpriced_tokens + prompt_tokens + budgets.max_output_tokens
        if worst_tokens > cap:
            return Stop(
                "exhausted",
                "unknown_price_tokens",
                f"the next call to {', '.join(unknown)} (price unknown) could bring the tokens "
                f"of calls with no known price to {worst_tokens}, over unknown_price_max_tokens "
                f"= {cap}",
            )
    return None
