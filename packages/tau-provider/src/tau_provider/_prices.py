"""Model prices: a table kept as data (``prices.toml``), overridden by config.

A price is looked up as::

    price_for(provider, model, config_price)
      1. config: ``price = {input, output, …}`` of the provider (or of that model)
      2. the table: the exact model name, then a dated snapshot of a listed name
         (``gpt-4.1-2025-04-14`` → ``gpt-4.1``, ``claude-sonnet-4-5-20250929`` →
         ``claude-sonnet-4-5``)
      3. None: the price is unknown, and so is the cost (never zero)

No other fuzzy matching: ``gpt-4.1-turbo`` or a fine-tune is not ``gpt-4.1``. The table is
read once, on first use.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from attrs import frozen

from tau_core.errors import ConfigError

__all__ = ["PRICE_KEYS", "Price", "cost", "parse_price", "price_for", "price_table", "worst_case"]

PRICE_KEYS = frozenset({"input", "output", "cached_input", "cache_write"})
"""The keys of one price, in config and in the table."""

_SNAPSHOT = re.compile(r"^(?P<base>.+?)-(?:\d{4}-\d{2}-\d{2}|\d{8})$")


@frozen
class Price:
    """A model's price in US dollars per million tokens.

    Attributes:
        input: Per million prompt tokens.
        output: Per million completion tokens (reasoning tokens included).
        cached_input: Per million prompt tokens read from a cache; ``input`` when None.
        cache_write: Per million prompt tokens written to a cache; ``input`` when None.

    .. versionadded:: 0.1
    """

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """The cost of one call; *input_tokens* counts every prompt token, cached ones too."""
        return cost(
            self,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_tokens=cached_tokens,
            cache_write_tokens=cache_write_tokens,
        )


def cost(
    price: Price,
    *,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """The cost in US dollars of one call's token counts.

    Args:
        price: The model's price.
        input_tokens: All prompt tokens, including those read from or written to a cache.
        output_tokens: Completion tokens, reasoning included.
        cached_tokens: Prompt tokens read from a cache (billed at ``cached_input``).
        cache_write_tokens: Prompt tokens written to a cache (billed at ``cache_write``).
    """
    total = max(input_tokens, 0)
    cached = min(max(cached_tokens, 0), total)
    written = min(max(cache_write_tokens, 0), total - cached)
    plain = total - cached - written
    cached_rate = price.input if price.cached_input is None else price.cached_input
    write_rate = price.input if price.cache_write is None else price.cache_write
    return (
        plain * price.input
        + cached * cached_rate
        + written * write_rate
        + max(output_tokens, 0) * price.output
    ) / 1e6


def worst_case(price: Price, input_tokens_estimate: int, max_output_tokens: int) -> float:
    """The most a call can cost: every prompt token uncached (or a cache write, when that is
    dearer) and every allowed output token spent."""
    input_rate = max(price.input, price.cache_write or 0.0)
    return (
        max(input_tokens_estimate, 0) * input_rate + max(max_output_tokens, 0) * price.output
    ) / 1e6


def parse_price(raw: Any, key: str) -> Price:
    """A :class:`Price` from a config or table entry.

    Raises:
        ConfigError: *raw* is not a table with non-negative numbers ``input`` and ``output``
            (and optionally ``cached_input``, ``cache_write``), or has other keys.
    """
    if not isinstance(raw, Mapping) or "input" not in raw or "output" not in raw:
        raise ConfigError(
            "must be a table {input = USD per million tokens, output = …, cached_input = …, "
            "cache_write = …}",
            key=key,
        )
    unknown = sorted(set(raw) - PRICE_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown price key(s) {', '.join(unknown)}; known: {', '.join(sorted(PRICE_KEYS))}",
            key=key,
        )
    values: dict[str, float | None] = {}
    for name in sorted(PRICE_KEYS):
        value = raw.get(name)
        if value is None:
            values[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(
                f"must be a non-negative number of US dollars per million tokens, got {value!r}",
                key=f"{key}.{name}",
            )
        values[name] = float(value)
    return Price(
        input=values["input"] or 0.0,
        output=values["output"] or 0.0,
        cached_input=values["cached_input"],
        cache_write=values["cache_write"],
    )


@functools.cache
def price_table() -> Mapping[str, Mapping[str, Price]]:
    """The packaged table, ``{provider: {model: Price}}``, read on first use."""
    text = resources.files(__package__).joinpath("prices.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    return {
        provider: {
            model: parse_price(entry, f"prices.toml:{provider}.{model}")
            for model, entry in models.items()
        }
        for provider, models in data.items()
    }


def _model_entry(table: Mapping[str, Any], model: str) -> Any:
    """*model*'s entry in a per-model config table (dotted names arrive split: ``a."2".b``)."""
    if model in table:
        return table[model]
    node: Any = table
    for piece in model.split("."):
        node = node.get(piece) if isinstance(node, Mapping) else None
    return node


def _candidates(model: str) -> tuple[str, ...]:
    name = model.removeprefix("models/")  # Gemini's resource names
    match = _SNAPSHOT.match(name)
    return (name, match.group("base")) if match else (name,)


def price_for(
    provider: str, model: str, config_price: Mapping[str, Any] | Any = None
) -> Price | None:
    """The price of *provider*'s *model*: config first, then the table; None when unknown.

    Args:
        provider: The provider name (``openai``, ``anthropic``, ``gemini``).
        model: The model name as requested.
        config_price: The provider's ``price`` option: one price for every model
            (``{input = 2, output = 8}``), or a price per model
            (``{"claude-sonnet-4-5" = {input = 3, output = 15}}``); None when not configured.
            Typed loosely: it is a raw config value, checked here.

    Raises:
        ConfigError: The configured price is malformed.
    """
    key = f"providers.{provider}.price"
    if config_price is not None:
        if not isinstance(config_price, Mapping):
            parse_price(config_price, key)  # raises with the expected shape
        elif set(config_price) & PRICE_KEYS:
            return parse_price(config_price, key)
        else:
            for name in _candidates(model):
                entry = _model_entry(config_price, name)
                if entry is not None:
                    return parse_price(entry, f'{key}."{name}"')
    models = price_table().get(provider, {})
    for name in _candidates(model):
        if name in models:
            return models[name]
    return None
