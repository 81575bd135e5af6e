"""The public test kit isolates what it promises to and restores everything after."""

from __future__ import annotations

import os

import keyring  # noqa: TID251 - the test checks which keyring backend the kit installs

from tau_core import Agent, Authority
from tau_core._plugins import get_plugin_manager
from tau_core.testing import (
    FakeTool,
    FileEquals,
    ScriptedModel,
    fresh_plugin_manager,
    isolated_home,
    make_plugin,
)
from tau_core.testing._keyring import MemoryKeyring


def test_isolated_home_isolates_and_restores(tmp_path, monkeypatch):
    monkeypatch.setenv("TAU_HOME", "/somewhere/else")
    monkeypatch.setenv("TAU_PLUGINS", "x")
    before = keyring.get_keyring()
    with isolated_home(tmp_path / "home") as home:
        assert os.environ["TAU_HOME"] == str(home)
        assert os.environ["TAU_DISABLE_PLUGIN_AUTOLOAD"] == "1"
        assert "TAU_PLUGINS" not in os.environ
        assert isinstance(keyring.get_keyring(), MemoryKeyring)
        keyring.set_password("svc", "user", "value")
        assert keyring.get_password("svc", "user") == "value"
        manager = get_plugin_manager()
        assert [r.name for r in manager.reports if r.status == "loaded"] == ["core"]
    assert os.environ["TAU_HOME"] == "/somewhere/else"
    assert os.environ["TAU_PLUGINS"] == "x"
    assert keyring.get_keyring() is before


def test_fake_tool_records_calls_and_declares_what_it_is_given(tau_home, tmp_path):
    fake = FakeTool("deploy", "deployed", side_effect="exec", needs=["exec:deploy"])
    pm = fresh_plugin_manager(make_plugin(tools=[fake]))
    model = ScriptedModel(
        [{"tool_calls": [{"name": "deploy", "arguments": {"env": "prod"}}]}, {"text": "ok"}]
    )
    outcome = Agent(
        model,
        authority=Authority.parse(["exec:deploy"]),
        plugins=pm,
        verifier=FileEquals("missing.txt", "x"),
    ).run("x", workdir=tmp_path)
    assert fake.calls == [{"env": "prod"}]
    assert outcome.evidence.decisions[0].message == "granted (exec:deploy)"
    denied = Agent(
        ScriptedModel([{"tool_calls": [{"name": "deploy", "arguments": {}}]}]),
        authority=Authority(),
        plugins=pm,
        verifier=FileEquals("m", "x"),
    ).run("x", workdir=tmp_path)
    assert (denied.status, denied.reason) == ("blocked", "missing_authority")
    assert len(fake.calls) == 1
