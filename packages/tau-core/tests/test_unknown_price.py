"""The cost budget over every model route, and the policy for models whose price is unknown.

Providers here are small objects registered through ``make_plugin`` (so fallbacks are real
routes), playing scripted turns; one reports no price at all, the way a provider does for a
model missing from its price table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from attrs import evolve

from tau_core import Agent, Authority, Budgets, Journal
from tau_core._cli import build_parser
from tau_core._cli_run import build_budgets
from tau_core._config import load_config
from tau_core._serialization import from_dict, to_dict
from tau_core.errors import ConfigError, ProviderConnectionError, UsageError
from tau_core.testing import (
    ScriptedModel,
    ScriptedVerifier,
    Sleep,
    fresh_plugin_manager,
    make_plugin,
)

SLEEP = {"name": "sleep", "arguments": {"seconds": 0}}


def turns(n: int, *, tokens: int = 1000, cost: float | None = None) -> list[dict]:
    """*n* turns calling the sleep tool, then a final answer; each reports *tokens*."""
    usage: dict = {"input_tokens": tokens - 100, "output_tokens": 100}
    if cost is not None:
        usage["cost"] = cost
    return [{"text": f"step {i}", "tool_calls": [SLEEP], "usage": usage} for i in range(n)] + [
        {"text": "done", "usage": usage}
    ]


class Priced(ScriptedModel):
    """A provider with a known price: a fixed worst case per call; fails on some turns."""

    def __init__(self, script, *, worst: float, fail_on=(), name="priced"):
        super().__init__(script, name=name)
        self.worst, self.fail_on = worst, set(fail_on)
        self.priced: list[str] = []

    def worst_case_cost(self, request):
        self.priced.append(request.model)
        return self.worst

    async def complete(self, request):
        if request.metadata["turn"] in self.fail_on:
            self.requests.append(request)
            raise ProviderConnectionError(f"{self.name} is down")
        return await super().complete(request)


class Unpriced(ScriptedModel):
    """A provider that knows no price for its model: no worst case, and ``cost=None``."""

    worst_case_cost = None

    async def complete(self, request):
        response = await super().complete(request)
        return evolve(response, usage=evolve(response.usage, cost=None))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    return wd


def run(providers: dict, budgets: Budgets, workdir: Path, *, model: str, fallback=(), **kw):
    pm = fresh_plugin_manager(make_plugin(tools=[Sleep()], providers=providers))
    authority = Authority.from_preset("workspace-write", budgets=budgets)
    agent = Agent(
        model,
        fallback=list(fallback),
        authority=authority,
        verifier=ScriptedVerifier(),
        plugins=pm,
        **kw,
    )
    return agent, agent.run("x", workdir=workdir)


def price_events(agent: Agent, run_id: str) -> list[dict]:
    return [e.data for e in agent.journal.events(run_id) if e.kind == "price"]


# -- the policy ---------------------------------------------------------------------------------


def test_block_is_the_default_and_names_the_route_and_the_fix(tau_home, workdir):
    model = Unpriced(turns(1))
    _, outcome = run({"free": model}, Budgets(max_cost=1.0), workdir, model="free:m")
    assert (outcome.status, outcome.reason) == ("blocked", "unknown_price")
    assert "free:m" in outcome.summary
    assert "unknown_price = 'cap'" in outcome.summary
    assert model.requests == []  # blocked before anything was spent


def test_without_a_cost_budget_an_unknown_price_is_reported_not_blocked(tau_home, workdir):
    agent, outcome = run({"free": Unpriced(turns(1))}, Budgets(), workdir, model="free:m")
    assert outcome.status == "verified"
    assert outcome.evidence.usage.cost is None  # unknown, never 0
    assert price_events(agent, outcome.run_id) == []  # nothing priced: nothing journaled


def test_cap_allows_unpriced_calls_until_the_cap_then_exhausts(tau_home, workdir):
    model = Unpriced(turns(10, tokens=1000))
    budgets = Budgets(
        max_cost=1.0, unknown_price="cap", unknown_price_max_tokens=2500, max_output_tokens=100
    )
    _, outcome = run({"free": model}, budgets, workdir, model="free:m")
    # Before each call: tokens spent on unpriced calls + prompt estimate + 100 output tokens.
    # 0, 1000 and 2000 (plus a small prompt) fit in 2500; 3000 does not.
    assert len(model.requests) == 3
    assert (outcome.status, outcome.reason) == ("exhausted", "unknown_price_tokens")
    assert "unknown_price_max_tokens = 2500" in outcome.summary
    assert "free:m" in outcome.summary
    usage = outcome.evidence.usage
    assert usage.cost is None  # the cost is not complete, so it is not presented as a number
    assert usage.total_tokens == 3000
    [note] = [e for e in outcome.evidence.events if e["kind"] == "unknown_price"]
    assert note["cost"] == "partial"
    assert note["unpriced_tokens"] == 3000
    assert note["turns"] == [0, 1, 2]
    assert note["priced_cost"] == 0.0
    assert note["routes"] == ["free:m"]
    markdown = outcome.to_markdown()
    assert "cost unknown" in markdown
    assert '"cost": "partial", "priced_cost": 0.0, "unpriced_tokens": 3000' in markdown


def test_cap_counts_a_call_that_reported_no_tokens_at_its_worst_case(tau_home, workdir):
    script = [
        {"text": "s", "tool_calls": [SLEEP], "usage": {"input_tokens": 0, "output_tokens": 0}}
    ]
    model = Unpriced(script * 10)
    budgets = Budgets(
        max_cost=1.0, unknown_price="cap", unknown_price_max_tokens=2500, max_output_tokens=1000
    )
    _, outcome = run({"free": model}, budgets, workdir, model="free:m")
    # Each call counts as its prompt estimate + 1000; a third one cannot fit in 2500.
    assert len(model.requests) == 2
    assert (outcome.status, outcome.reason) == ("exhausted", "unknown_price_tokens")


def test_priced_primary_with_an_unpriced_fallback(tau_home, workdir):
    script = turns(2, cost=0.05)
    primary = Priced(script, worst=0.1, fail_on={1})
    backup = Unpriced(script, name="backup")
    providers = {"paid": primary, "free": backup}

    # block: the fallback could answer any call, and its price is unknown.
    _, outcome = run(providers, Budgets(max_cost=1.0), workdir, model="paid:m", fallback=["free:m"])
    assert (outcome.status, outcome.reason) == ("blocked", "unknown_price")
    assert "free:m" in outcome.summary
    assert primary.requests == [] and backup.requests == []

    # cap: allowed; turn 1 falls back to the unpriced route.
    budgets = Budgets(max_cost=1.0, unknown_price="cap", unknown_price_max_tokens=50_000)
    agent, outcome = run(providers, budgets, workdir, model="paid:m", fallback=["free:m"])
    assert outcome.status == "verified", outcome
    assert [r.metadata["turn"] for r in backup.requests] == [1]
    assert outcome.evidence.usage.cost is None
    [note] = [e for e in outcome.evidence.events if e["kind"] == "unknown_price"]
    assert note["routes"] == ["free:m"]
    assert note["turns"] == [1]
    assert note["unpriced_tokens"] == 1000
    assert note["priced_cost"] == pytest.approx(0.10)  # turns 0 and 2 answered by paid:m
    first = price_events(agent, outcome.run_id)[0]
    assert first == {
        "worst_case_cost": None,
        "routes": [
            {"route": "paid:m", "worst_case_cost": 0.1},
            {"route": "free:m", "worst_case_cost": None},
        ],
    }


def test_cap_still_checks_the_known_cost_against_max_cost(tau_home, workdir):
    script = turns(5, cost=0.3)
    primary = Priced(script, worst=0.3)
    backup = Unpriced(script, name="backup")
    budgets = Budgets(max_cost=1.0, unknown_price="cap", unknown_price_max_tokens=1_000_000)
    _, outcome = run(
        {"paid": primary, "free": backup}, budgets, workdir, model="paid:m", fallback=["free:m"]
    )
    assert (outcome.status, outcome.reason) == ("exhausted", "cost")
    assert len(primary.requests) == 3  # 0.9 spent; 0.9 + 0.3 would pass $1


def test_worst_case_uses_the_dearest_route(tau_home, workdir):
    cheap = Priced(turns(1, cost=0.01), worst=0.01, name="cheap")
    dear = Priced(turns(1, cost=0.9), worst=0.9, name="dear")
    providers = {"cheap": cheap, "dear": dear}
    agent, outcome = run(
        providers, Budgets(max_cost=0.5), workdir, model="cheap:a", fallback=["dear:b"]
    )
    assert (outcome.status, outcome.reason) == ("exhausted", "cost")
    assert "$0.9000, over $0.5" in outcome.summary
    assert cheap.requests == [] and dear.requests == []
    # Each route is priced for its own model name.
    assert cheap.priced == ["a"] and dear.priced == ["b"]
    assert price_events(agent, outcome.run_id)[0]["worst_case_cost"] == 0.9

    # Within budget for the dearest route: the run goes ahead on the cheap one.
    _, outcome = run(
        providers, Budgets(max_cost=1.0), workdir, model="cheap:a", fallback=["dear:b"]
    )
    assert outcome.status == "verified"
    assert outcome.evidence.usage.cost == pytest.approx(0.02)


def test_a_route_that_cannot_be_created_is_not_priced(tau_home, workdir):
    from tau_core.errors import CredentialError

    def locked(model, config=None):
        raise CredentialError("no credential 'locked'; set it with `tau keys set locked`")

    cheap = Priced(turns(1, cost=0.01), worst=0.01)
    agent, outcome = run(
        {"cheap": cheap, "locked": locked},
        Budgets(max_cost=1.0),
        workdir,
        model="locked:m",
        fallback=["cheap:m"],
    )
    assert outcome.status == "verified", outcome
    routes = price_events(agent, outcome.run_id)[0]["routes"]
    assert routes[0] == {"route": "locked:m", "unavailable": "CredentialError"}
    assert "tau keys" not in json.dumps(routes)


def test_the_price_is_journaled_and_replay_reuses_it(tau_home, workdir):
    model = Unpriced(turns(2))
    budgets = Budgets(max_cost=1.0, unknown_price="cap", unknown_price_max_tokens=50_000)
    agent, outcome = run({"free": model}, budgets, workdir, model="free:m")
    assert outcome.status == "verified"
    assert len(price_events(agent, outcome.run_id)) == 3
    assert agent.replay(outcome.run_id).to_json() == outcome.to_json()


# -- journals written before this change ----------------------------------------------------------


class Boom(BaseException):
    """Stands in for the process dying."""


def legacy_copy(
    source: Journal, run_id: str, target: Journal, *, upto: str | None = None, unknown=False
) -> None:
    """Copy *run_id* into *target* as a Tau without the unknown-price policy wrote it: budgets
    without the policy fields, and ``price`` activities holding only the first route's worst
    case (None with *unknown*); stop after the event *upto*."""
    spec = source.get_run(run_id).spec
    budgets = spec["authority"]["budgets"]
    assert budgets.pop("unknown_price") == "block"
    budgets.pop("unknown_price_max_tokens")
    target.create_run(spec, run_id=run_id)
    for event in source.events(run_id):
        data = event.data
        if event.kind == "price":
            first = None if unknown else data["routes"][0]["worst_case_cost"]
            data = {"worst_case_cost": first}
        target.append(run_id, event.kind, event.key, data)
        if event.key == upto:
            break
    target.flush()


class DiesOnce(Sleep):
    def __init__(self):
        super().__init__()
        self.died = False

    async def run(self, arguments, context):
        if not self.died:
            self.died = True
            raise Boom
        return await super().run(arguments, context)


def test_resume_of_a_journal_recorded_before_the_policy(tau_home, workdir, tmp_path):
    model = Priced(turns(1, cost=0.05), worst=0.1)
    tool = DiesOnce()
    pm = fresh_plugin_manager(make_plugin(tools=[tool]))
    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_cost=1.0))
    agent = Agent(model, authority=authority, verifier=ScriptedVerifier(), plugins=pm)
    with pytest.raises(Boom):
        agent.run("x", workdir=workdir, run_id="old")
    old = Journal(tmp_path / "old.sqlite3")
    legacy_copy(agent.journal, "old", old)
    assert [e.data for e in old.events("old") if e.kind == "price"] == [{"worst_case_cost": 0.1}]
    assert "unknown_price" not in old.get_run("old").spec["authority"]["budgets"]

    again = Agent(model, verifier=ScriptedVerifier(), plugins=pm, journal=old)
    outcome = again.resume("old")
    assert outcome.status == "verified", outcome
    assert [r.metadata["turn"] for r in model.requests] == [0, 1]  # turn 0 was not asked again
    assert outcome.evidence.usage.cost == pytest.approx(0.10)
    prices = [e.data for e in old.events("old") if e.kind == "price"]
    assert prices[0] == {"worst_case_cost": 0.1}  # the recorded value stands
    assert prices[1]["routes"] == [{"route": "priced:object", "worst_case_cost": 0.1}]
    assert again.replay("old").to_json() == outcome.to_json()


def test_legacy_unknown_price_record_still_blocks_on_resume(tau_home, workdir, tmp_path):
    model = Priced(turns(1, cost=0.05), worst=0.1)
    pm = fresh_plugin_manager(make_plugin(tools=[Sleep()]))
    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_cost=1.0))
    agent = Agent(model, authority=authority, verifier=ScriptedVerifier(), plugins=pm)
    agent.run("x", workdir=workdir, run_id="old")
    # An older Tau recorded "price unknown" for turn 0 and was killed before acting on it.
    old = Journal(tmp_path / "old.sqlite3")
    legacy_copy(agent.journal, "old", old, upto="price:0", unknown=True)
    requests = len(model.requests)
    outcome = Agent(model, verifier=ScriptedVerifier(), plugins=pm, journal=old).resume("old")
    assert (outcome.status, outcome.reason) == ("blocked", "unknown_price")
    # Word for word what that Tau would have said.
    assert outcome.summary == "a cost budget of $1 is set but the price of priced:object is unknown"
    assert len(model.requests) == requests  # the recorded price stands; nothing was called


def test_a_finished_legacy_run_replays_to_its_recorded_outcome(tau_home, workdir, tmp_path):
    model = Priced(turns(3, cost=0.3), worst=0.3)
    pm = fresh_plugin_manager(make_plugin(tools=[Sleep()]))
    authority = Authority.from_preset("workspace-write", budgets=Budgets(max_cost=1.0))
    agent = Agent(model, authority=authority, verifier=ScriptedVerifier(), plugins=pm)
    outcome = agent.run("x", workdir=workdir, run_id="old")
    assert (outcome.status, outcome.reason) == ("exhausted", "cost")
    old = Journal(tmp_path / "old.sqlite3")
    legacy_copy(agent.journal, "old", old)
    replayed = Agent(model, verifier=ScriptedVerifier(), plugins=pm, journal=old).replay("old")
    assert replayed.to_json() == outcome.to_json()


# -- Budgets, config and flags --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unknown_price": "sometimes"}, "'block'"),
        ({"unknown_price": "cap"}, "needs unknown_price_max_tokens"),
        ({"unknown_price": "cap", "unknown_price_max_tokens": 0}, "not a positive number"),
        ({"unknown_price_max_tokens": True}, "not a positive number"),
        ({"unknown_price_max_tokens": 1.5}, "not a positive number"),
    ],
)
def test_budgets_refuse_a_bad_policy(kwargs, message):
    with pytest.raises(UsageError, match=message):
        Budgets(**kwargs)


def test_budgets_from_schema_1_data_default_to_block():
    data = to_dict(Budgets(max_cost=2.0))
    del data["unknown_price"], data["unknown_price_max_tokens"]
    budgets = from_dict(data, Budgets)
    assert (budgets.unknown_price, budgets.unknown_price_max_tokens) == ("block", None)
    assert budgets.max_cost == 2.0


def budgets_from(tau_home: Path, toml: str, *argv: str) -> Budgets:
    (tau_home / "config.toml").write_text(toml)
    args = build_parser({}).parse_args(["run", "x", *argv])
    return build_budgets(args, load_config())


def test_config_keys_and_flags(tau_home):
    toml = '[budgets]\nmax_cost = 2.5\nunknown_price = "cap"\nunknown_price_max_tokens = 50000\n'
    budgets = budgets_from(tau_home, toml)
    assert (budgets.max_cost, budgets.unknown_price) == (2.5, "cap")
    assert budgets.unknown_price_max_tokens == 50_000
    # Flags win over the config.
    budgets = budgets_from(tau_home, toml, "--unknown-price", "block", "--max-cost", "0.5")
    assert (budgets.max_cost, budgets.unknown_price) == (0.5, "block")
    budgets = budgets_from(tau_home, "", "--unknown-price", "cap:1200")
    assert (budgets.unknown_price, budgets.unknown_price_max_tokens) == ("cap", 1200)
    # A config cap with no tokens, overridden by the flag, is fine.
    budgets = budgets_from(
        tau_home, '[budgets]\nunknown_price = "cap"\n', "--unknown-price", "block"
    )
    assert budgets.unknown_price == "block"


@pytest.mark.parametrize(
    ("toml", "pattern"),
    [
        ('[budgets]\nunknown_price = "free"\n', r"config.toml:2, key 'budgets.unknown_price'"),
        ("[budgets]\nunknown_price_max_tokens = 0\n", r"'budgets.unknown_price_max_tokens': 0"),
        ('[budgets]\nunknown_price_max_tokens = "lots"\n', r"is not a positive integer"),
    ],
)
def test_bad_config_values_name_the_key(tau_home, toml, pattern):
    (tau_home / "config.toml").write_text(toml)
    with pytest.raises(ConfigError, match=pattern):
        load_config()


def test_cap_without_tokens_in_config_names_the_key_and_the_fix(tau_home):
    with pytest.raises(ConfigError) as info:
        budgets_from(tau_home, '[budgets]\nmax_cost = 1\nunknown_price = "cap"\n')
    message = str(info.value)
    assert "config.toml" in message and "key 'budgets.unknown_price'" in message
    assert "budgets.unknown_price_max_tokens" in message and "--unknown-price cap:TOKENS" in message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--unknown-price", "cap"], "cap:TOKENS"),
        (["--unknown-price", "cap:0"], "cap:TOKENS"),
        (["--unknown-price", "cap:lots"], "cap:TOKENS"),
        (["--unknown-price", "allow"], "--unknown-price allow"),
        (["--unknown-price", "block:5"], "use `block`"),
        (["--max-cost", "0"], "--max-cost 0: it must be a positive number"),
        (["--max-cost", "nan"], "positive number of US dollars"),
    ],
)
def test_bad_flags_are_usage_errors(tau_home, argv, message):
    with pytest.raises(UsageError, match=message):
        budgets_from(tau_home, "", *argv)


# -- the command line ----------------------------------------------------------------------------

UNPRICED_PLUGIN = """
from attrs import evolve
from tau_core import hookimpl
from tau_core.testing import ScriptedModel

TAU_PLUGIN_API = 1


class Unpriced(ScriptedModel):
    worst_case_cost = None

    async def complete(self, request):
        response = await super().complete(request)
        return evolve(response, usage=evolve(response.usage, cost=None))


@hookimpl
def tau_register_providers(registry):
    registry.register("unpriced", lambda model, config=None: Unpriced([{"text": "hello"}]))
"""


@pytest.mark.parametrize(
    ("flags", "code", "status", "reason"),
    [
        ([], 3, "blocked", "unknown_price"),
        (["--unknown-price", "cap:100"], 4, "exhausted", "unknown_price_tokens"),
        (["--unknown-price", "cap:100000"], 0, "unverified", None),
    ],
)
def test_tau_run_with_the_policy(tmp_path, workdir, flags, code, status, reason):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "unpriced_provider.py").write_text(UNPRICED_PLUGIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAU_")}
    env.update(
        TAU_HOME=str(tmp_path / "home"),
        TAU_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTHONPATH=str(tmp_path / "plugins"),
    )
    tau = Path(sys.executable).with_name("tau")
    proc = subprocess.run(
        [
            *(str(tau), "-p", "unpriced_provider", "run", "x", "--model", "unpriced:m"),
            *("--unverified", "--max-cost", "1", "--workdir", str(workdir), "--json", *flags),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == code, proc.stderr
    data = json.loads(proc.stdout)
    assert (data["status"], data["reason"]) == (status, reason)
    if status == "unverified":
        assert data["evidence"]["usage"]["cost"] is None
        assert [e["kind"] for e in data["evidence"]["events"]] == ["unknown_price"]
