"""The price table, price lookups, cost arithmetic, and cost reported by the real providers.

The providers run against the loopback server of the OpenAI tests (it serves any path), with
each provider's own recorded wire-format fixtures; a tau-core agent run proves a cost budget is
enforced for a priced model and blocks, never counting as free, for an unpriced one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tau_core import Agent, Authority, Budgets
from tau_core._compaction import estimate_tokens
from tau_core._messages import Message, ModelRequest
from tau_core.errors import ConfigError
from tau_core.testing import FileEquals, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._anthropic import AnthropicProvider, anthropic_factory
from tau_provider._breaker import breakers
from tau_provider._gemini import gemini_factory
from tau_provider._openai import OpenAIChatProvider, openai_factory
from tau_provider._prices import (
    PRICE_KEYS,
    Price,
    cost,
    price_for,
    price_table,
    worst_case,
)
from tau_provider._ratelimit import rate_limits
from tau_provider._retry import RetryBudget

FIXTURES = Path(__file__).parent / "fixtures"


def _load_loopback() -> ModuleType:
    name = "tau_provider_tests_openai_loopback"
    if name not in sys.modules:
        path = FIXTURES / "openai" / "loopback.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


lb = _load_loopback()


@pytest.fixture(autouse=True)
def _fresh_shared_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    breakers().clear()
    rate_limits().clear()
    yield
    breakers().clear()
    rate_limits().clear()


async def _no_sleep(seconds: float) -> None:
    pass


def _root(server: Any) -> str:
    return server.url.removesuffix("/v1")


def _request(model: str, max_tokens: int | None = 1000) -> ModelRequest:
    return ModelRequest(
        model=model, messages=(Message.user("Write greeting.txt"),), max_tokens=max_tokens
    )


PROMPT = estimate_tokens(_request("any").messages)


# -- the table --------------------------------------------------------------------------------


def test_the_packaged_table_loads_and_every_entry_is_well_formed() -> None:
    text = resources.files("tau_provider").joinpath("prices.toml").read_text(encoding="utf-8")
    assert "2026-11-21" in text.split("\n[", 1)[0], "the header dates the figures"
    raw = tomllib.loads(text)
    assert set(raw) == {"openai", "anthropic", "gemini"}
    for provider, models in raw.items():
        assert models, provider
        for model, entry in models.items():
            assert {"input", "output"} <= set(entry) <= PRICE_KEYS, (provider, model)
            for key, value in entry.items():
                assert isinstance(value, int | float) and not isinstance(value, bool)
                assert value > 0, (provider, model, key)
            # A cache read is never dearer than a plain prompt token.
            assert entry.get("cached_input", entry["input"]) <= entry["input"], model
    table = price_table()
    assert table["openai"]["gpt-4.1"] == Price(2.0, 8.0, cached_input=0.5)
    assert table["anthropic"]["claude-sonnet-4-5"] == Price(3.0, 15.0, 0.3, 3.75)
    assert table["gemini"]["gemini-2.5-flash"] == Price(0.3, 2.5)


# -- lookups ----------------------------------------------------------------------------------


def test_exact_and_dated_snapshot_names_find_the_listed_price() -> None:
    assert price_for("openai", "gpt-4.1", None) == Price(2.0, 8.0, 0.5)
    assert price_for("openai", "gpt-4.1-2025-04-14", None) == price_for("openai", "gpt-4.1", None)
    assert price_for("openai", "gpt-4.1-mini-2025-04-14") == price_for("openai", "gpt-4.1-mini")
    sonnet = price_for("anthropic", "claude-sonnet-4-5", None)
    assert sonnet is not None
    assert price_for("anthropic", "claude-sonnet-4-5-20250929", None) == sonnet
    assert price_for("gemini", "models/gemini-2.5-pro", None) == Price(1.25, 10.0)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-4.1-turbo"),  # not a dated snapshot: no fuzzy match
        ("openai", "ft:gpt-4.1:acme::abc123"),  # a fine-tune has its own price
        ("openai", "gpt-4.1-2025"),
        ("anthropic", "claude-sonnet-4-6"),
        ("anthropic", "claude-sonnet"),
        ("gemini", "gemini-2.5-flash-preview-05-20"),
        ("openrouter", "openai/gpt-4.1"),  # the table prices direct API calls only
        ("ollama", "gpt-4o"),
    ],
)
def test_an_unknown_model_has_no_price_rather_than_a_guess(provider: str, model: str) -> None:
    assert price_for(provider, model, None) is None


def test_a_configured_price_beats_the_table() -> None:
    assert price_for("openai", "gpt-4.1", {"input": 1, "output": 2}) == Price(1.0, 2.0)
    assert price_for("anthropic", "claude-sonnet-4-6", {"input": 3, "output": 15}) == Price(3, 15)
    per_model = {"claude-sonnet-4-5": {"input": 2.5, "output": 12, "cache_write": 3}}
    assert price_for("anthropic", "claude-sonnet-4-5-20250929", per_model) == Price(
        2.5, 12.0, None, 3.0
    )
    # A per-model table that does not name the model leaves the table's price.
    assert price_for("anthropic", "claude-haiku-4-5", per_model) == Price(1.0, 5.0, 0.1, 1.25)
    # Dotted names arrive split by the config loader: price."gemini-2"."5-pro".
    split = {"gemini-2": {"5-pro": {"input": 1, "output": 9}}}
    assert price_for("gemini", "gemini-2.5-pro", split) == Price(1.0, 9.0)


@pytest.mark.parametrize(
    "bad",
    [3, {"input": 1}, {"input": -1, "output": 2}, {"input": "1", "output": 2},
     {"input": 1, "output": 2, "cache_read": 1}, {"input": True, "output": 2}],
)  # fmt: skip
def test_a_malformed_configured_price_is_a_config_error(bad: Any) -> None:
    with pytest.raises(ConfigError, match="price"):
        price_for("openai", "gpt-4.1", bad)


# -- arithmetic -------------------------------------------------------------------------------


def test_cost_bills_plain_cached_and_cache_written_prompt_tokens_at_their_rates() -> None:
    price = Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    assert cost(price, input_tokens=1_000_000, output_tokens=0) == pytest.approx(3.0)
    assert cost(price, input_tokens=0, output_tokens=1_000_000) == pytest.approx(15.0)
    mixed = cost(
        price,
        input_tokens=3544,  # 472 plain + 1024 written + 2048 read
        output_tokens=89,
        cached_tokens=2048,
        cache_write_tokens=1024,
    )
    assert mixed == pytest.approx((472 * 3.0 + 1024 * 3.75 + 2048 * 0.3 + 89 * 15.0) / 1e6)
    # Without cache rates, cached tokens cost as much as any prompt token.
    plain = Price(2.0, 8.0)
    assert plain.cost(1000, 500, 800) == pytest.approx((1000 * 2.0 + 500 * 8.0) / 1e6)
    # Counts that overrun the prompt are clamped, never negative money.
    assert cost(price, input_tokens=10, output_tokens=0, cached_tokens=50) == pytest.approx(
        10 * 0.3 / 1e6
    )


def test_worst_case_assumes_every_output_token_and_the_dearest_prompt_rate() -> None:
    assert worst_case(Price(2.0, 8.0, 0.5), 1000, 4096) == pytest.approx(
        (1000 * 2.0 + 4096 * 8.0) / 1e6
    )
    assert worst_case(Price(3.0, 15.0, 0.3, 3.75), 1000, 0) == pytest.approx(1000 * 3.75 / 1e6)
    price = Price(3.0, 15.0, 0.3, 3.75)
    assert worst_case(price, 3544, 89) >= price.cost(3544, 89, 2048, 1024)


# -- the providers ----------------------------------------------------------------------------


def _openai(server: Any, model: str) -> OpenAIChatProvider:
    config = {"providers.openai": {"base_url": server.url, "api_key": "sk-test-0123456789"}}
    p = openai_factory(model, config=config)
    assert isinstance(p, OpenAIChatProvider)
    p.retry_budget = lambda: RetryBudget(max_attempts=1, sleep=_no_sleep)
    return p


def test_openai_reports_the_table_cost_for_a_listed_model_and_none_for_another(server) -> None:
    server.queue(lb.sse_reply("chat_tools.sse"), lb.sse_reply("chat_tools.sse"))
    known = _openai(server, "gpt-4.1")
    response = asyncio.run(known.complete(_request("gpt-4.1")))
    # chat_tools.sse: 120 prompt tokens of which 64 cached, 40 completion tokens.
    assert response.usage.cost == pytest.approx((56 * 2.0 + 64 * 0.5 + 40 * 8.0) / 1e6)
    assert known.worst_case_cost(_request("gpt-4.1")) is not None

    unknown = _openai(server, "my-finetune")
    assert asyncio.run(unknown.complete(_request("my-finetune"))).usage.cost is None
    assert unknown.worst_case_cost(_request("my-finetune")) is None


def test_openai_configured_price_still_wins_over_the_table(server) -> None:
    server.queue(lb.sse_reply("chat_tools.sse"))
    config = {
        "providers.openai": {
            "base_url": server.url,
            "api_key": "sk-test-0123456789",
            "price": {"input": 1.0, "output": 1.0},
        }
    }
    p = openai_factory("gpt-4.1", config=config)
    assert asyncio.run(p.complete(_request("gpt-4.1"))).usage.cost == pytest.approx(160 / 1e6)


def _anthropic(server: Any, model: str, **options: Any) -> AnthropicProvider:
    return anthropic_factory(
        model,
        api_key="sk-ant-api03-loopbacktestkey0123456789",
        base_url=_root(server),
        retry_budget=lambda: RetryBudget(max_attempts=1, sleep=_no_sleep),
        **options,
    )


def test_anthropic_cost_bills_cache_reads_and_writes_from_the_table(server) -> None:
    stream = (FIXTURES / "anthropic" / "stream_tool_use.sse").read_bytes()
    server.queue(lb.Reply(body=stream), lb.Reply(body=stream))
    known = _anthropic(server, "claude-sonnet-4-5")
    response = asyncio.run(known.complete(_request("claude-sonnet-4-5")))
    # input 472, cache written 1024, cache read 2048, output 89.
    assert response.usage.input_tokens == 3544 and response.usage.output_tokens == 89
    expected = (472 * 3.0 + 1024 * 3.75 + 2048 * 0.3 + 89 * 15.0) / 1e6
    assert response.usage.cost == pytest.approx(expected)
    worst = known.worst_case_cost(_request("claude-sonnet-4-5", max_tokens=1000))
    assert worst is not None and worst >= 1000 * 15.0 / 1e6
    # No max_tokens on the request: the max_tokens option is what is sent, and the bound.
    assert known.worst_case_cost(_request("claude-sonnet-4-5", max_tokens=None)) == pytest.approx(
        worst_case(Price(3.0, 15.0, 0.3, 3.75), PROMPT, 4096)
    )

    unknown = _anthropic(server, "claude-sonnet-4-6")
    assert asyncio.run(unknown.complete(_request("claude-sonnet-4-6"))).usage.cost is None
    assert unknown.worst_case_cost(_request("claude-sonnet-4-6")) is None


def test_anthropic_price_option_prices_an_unlisted_model_and_is_checked(server) -> None:
    stream = (FIXTURES / "anthropic" / "stream_text.sse").read_bytes()
    server.queue(lb.Reply(body=stream))
    p = _anthropic(server, "claude-sonnet-4-6", price={"input": 3, "output": 15})
    response = asyncio.run(p.complete(_request("claude-sonnet-4-6")))
    assert response.usage.cost == pytest.approx((25 * 3.0 + 12 * 15.0) / 1e6)
    with pytest.raises(ConfigError, match="price"):
        _anthropic(server, "claude-sonnet-4-6", price={"input": 3})


def test_gemini_reports_the_table_cost_for_a_listed_model_and_none_for_another(server) -> None:
    stream = (FIXTURES / "gemini" / "stream_function_call.sse").read_bytes()
    server.queue(lb.Reply(body=stream), lb.Reply(body=stream))

    def gemini(model: str) -> Any:
        return gemini_factory(
            model,
            api_key="AIzaSyLoopbackTestKey0123456789abcdefg",
            base_url=_root(server),
            retry_budget=lambda: RetryBudget(max_attempts=1, sleep=_no_sleep),
        )

    known = gemini("gemini-2.5-flash")
    response = asyncio.run(known.complete(_request("gemini-2.5-flash")))
    # 61 prompt tokens; 40 candidate + 30 thinking tokens, all billed as output.
    assert response.usage.cost == pytest.approx((61 * 0.30 + 70 * 2.50) / 1e6)
    assert known.worst_case_cost(_request("gemini-2.5-flash", max_tokens=None)) == pytest.approx(
        worst_case(Price(0.3, 2.5), PROMPT, 65_536)
    )

    unknown = gemini("gemini-9-ultra")
    assert asyncio.run(unknown.complete(_request("gemini-9-ultra"))).usage.cost is None
    assert unknown.worst_case_cost(_request("gemini-9-ultra")) is None


# -- a cost budget in a real agent run --------------------------------------------------------


def _run(server: Any, model: str, max_cost: float, workdir: Path) -> Any:
    def factory(name: str, config: Any = None) -> AnthropicProvider:
        return anthropic_factory(
            name,
            config=config,
            api_key="sk-ant-api03-loopbacktestkey0123456789",
            base_url=_root(server),
            retry_budget=lambda: RetryBudget(max_attempts=1, sleep=_no_sleep),
        )

    manager = fresh_plugin_manager(
        make_plugin(providers={"anthropic": factory}, tools=[WriteFile()])
    )
    return Agent(
        f"anthropic:{model}",
        plugins=manager,
        authority=Authority.from_preset(
            "workspace-write", budgets=Budgets(max_cost=max_cost, max_output_tokens=1024)
        ),
        verifier=FileEquals("greeting.txt", "Hello, Tau"),
    ).run("Write greeting.txt containing exactly Hello, Tau", workdir=workdir)


def test_a_cost_budget_runs_a_priced_model_and_stops_it_when_the_next_call_could_overrun(
    server, tau_home: Path, tmp_path: Path
) -> None:
    tool = (FIXTURES / "anthropic" / "stream_tool_use.sse").read_bytes()
    text = (FIXTURES / "anthropic" / "stream_text.sse").read_bytes()
    server.queue(lb.Reply(body=tool), lb.Reply(body=text))
    ok_dir = tmp_path / "ok"
    ok_dir.mkdir()
    outcome = _run(server, "claude-sonnet-4-5", 1.0, ok_dir)
    assert outcome.status == "verified", outcome
    assert outcome.evidence.usage.cost is not None and outcome.evidence.usage.cost > 0
    assert server.count == 2

    tight_dir = tmp_path / "tight"
    tight_dir.mkdir()
    # 1024 output tokens at $15 per million alone is over $0.01: no call is made.
    outcome = _run(server, "claude-sonnet-4-5", 0.01, tight_dir)
    assert (outcome.status, outcome.reason) == ("exhausted", "cost"), outcome
    assert server.count == 2


def test_a_cost_budget_blocks_a_model_with_no_known_price_instead_of_counting_it_free(
    server, tau_home: Path, tmp_path: Path
) -> None:
    outcome = _run(server, "claude-sonnet-4-6", 100.0, tmp_path)
    assert (outcome.status, outcome.reason) == ("blocked", "unknown_price"), outcome
    assert server.count == 0
