"""Cassettes: real agent runs recorded against a loopback server speaking the OpenAI wire format,
then replayed with that server stopped."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import attrs
import pytest

from tau_core import Agent, Authority, ModelCallContext, hookimpl
from tau_core._messages import Message, ModelRequest, ModelResponse, TextPart, ToolCall, Usage
from tau_core._serialization import outcome_to_dict
from tau_core.errors import ProviderHTTPError, UsageError
from tau_core.testing import FileEquals, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider import _plugin
from tau_provider._cassette import Cassette, CassetteError, active_cassette, use_cassette

pytest_plugins = ["pytester"]


lb = sys.modules["tau_provider_tests_openai_loopback"]  # loaded by conftest.py
KEY = "sk-test-0123456789abcdefghij"
GOAL = "Write greeting.txt containing exactly Hello, Tau"
GREETING_ARGS = '{"path": "greeting.txt", "content": "Hello, Tau"}'


def _tool_turn(text: str = "") -> bytes:
    delta: dict[str, Any] = {
        "tool_calls": [
            {
                "index": 0,
                "id": "call_w",
                "type": "function",
                "function": {"name": "write_file", "arguments": GREETING_ARGS},
            }
        ]
    }
    if text:
        delta["content"] = text
    body: bytes = lb.sse_events(
        {
            "model": "gpt-4.1",
            "choices": [{"index": 0, "delta": delta, "finish_reason": "tool_calls"}],
        },
        {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 10}},
    )
    return body


def _queue_run(server: Any, text: str = "") -> None:
    server.queue(lb.sse_reply(_tool_turn(text)), lb.sse_reply("chat_text.sse"))


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TAU_CASSETTE", "TAU_CASSETTE_PATH"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def openai_env(tau_home: Path, server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real ``openai`` provider of tau-provider's plugin, pointed at the loopback server."""
    (tau_home / "config.toml").write_text("[providers.openai]\nmax_attempts = 1\n")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return server


def _run(workdir: Path, goal: str = GOAL, **options: Any) -> Any:
    workdir.mkdir(parents=True, exist_ok=True)
    plugins = fresh_plugin_manager(_plugin, make_plugin(tools=[WriteFile()]))
    return Agent(
        options.pop("model", "openai:gpt-4.1"),
        plugins=plugins,
        authority=Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", "Hello, Tau"),
        **options,
    ).run(goal, workdir=workdir)


def _comparable(outcome: Any, workdir: Path) -> str:
    """The outcome as JSON without what differs between any two runs: the run id, timings,
    durations and the working directory."""

    def strip(data: Any) -> Any:
        if isinstance(data, dict):
            return {k: strip(v) for k, v in data.items() if k not in ("duration", "timings")}
        if isinstance(data, list):
            return [strip(v) for v in data]
        return data

    data = strip(outcome_to_dict(outcome))
    data.pop("run_id")
    data["evidence"].pop("run_id")
    return json.dumps(data, sort_keys=True).replace(str(workdir), "<workdir>")


def _stored(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _record(path: Path, server: Any, workdir: Path, **kwargs: Any) -> Any:
    _queue_run(server)
    with use_cassette(path, "record", placeholders={"workdir": str(workdir)}):
        outcome = _run(workdir, **kwargs)
    assert outcome.status == "verified", outcome.summary
    return outcome


# -- record, then replay ------------------------------------------------------------------------


def test_a_recorded_run_replays_with_the_server_stopped_and_the_same_outcome(
    openai_env, tmp_path, monkeypatch
):
    server = openai_env
    cassette = tmp_path / "cassettes" / "greeting.json"
    monkeypatch.setenv("TAU_CASSETTE", "record")
    monkeypatch.setenv("TAU_CASSETTE_PATH", str(cassette))
    first = tmp_path / "checkout-a" / "work"
    first.mkdir(parents=True)
    monkeypatch.chdir(first)
    _queue_run(server)

    recorded = _run(first)

    assert recorded.status == "verified", recorded.summary
    assert server.count == 2
    stored = _stored(cassette)
    assert stored["schema"] == 1
    assert [i["model"] for i in stored["interactions"]] == ["openai:gpt-4.1"] * 2
    first_request = stored["interactions"][0]["request"]
    assert "run_id" not in first_request["metadata"]
    # The working directory (the current one here) is a placeholder, so another checkout matches.
    assert "[tau:cwd]" in first_request["messages"][0]["parts"][0]["text"]
    assert str(first) not in cassette.read_text(encoding="utf-8")
    assert stored["interactions"][1]["response"]["message"]["parts"][0]["text"].startswith("Hello")

    server.close()
    tripwire = lb.LoopbackServer()  # any request that still went out would be counted here
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", tripwire.url)
        monkeypatch.setenv("TAU_CASSETTE", "replay")
        second = tmp_path / "checkout-b" / "work"
        second.mkdir(parents=True)
        monkeypatch.chdir(second)

        replayed = _run(second)

        assert tripwire.count == 0
    finally:
        tripwire.close()
    assert server.count == 2
    assert replayed.status == "verified", replayed.summary
    assert (second / "greeting.txt").read_text(encoding="utf-8") == "Hello, Tau"
    assert _comparable(replayed, second) == _comparable(recorded, first)
    assert replayed.run_id != recorded.run_id


def test_without_tau_cassette_the_hooks_pass_through_and_write_nothing(
    openai_env, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    _queue_run(openai_env)

    outcome = _run(tmp_path / "work")

    assert outcome.status == "verified", outcome.summary
    assert openai_env.count == 2
    assert active_cassette() is None
    assert not (tmp_path / "tau-cassette.json").exists()


def test_replay_never_reads_the_provider_client(tmp_path):
    class NoClient(ModelCallContext):
        """A context whose provider object must not be touched."""

        @property
        def client(self) -> Any:
            raise AssertionError("replay read context.client")

        @client.setter
        def client(self, value: Any) -> None:
            pass

    request = ModelRequest("gpt-4.1", (Message.user("hi"),), metadata={"run_id": "r1"})
    answer = ModelResponse(Message.assistant("hello"), Usage(3, 1, 0.0), "stop", "gpt-4.1")
    path = tmp_path / "c.json"
    with use_cassette(path, "record") as cassette:
        cassette.record("openai:gpt-4.1", request, response=answer)
    manager = fresh_plugin_manager(_plugin)
    context = NoClient(
        request=attrs.evolve(request, metadata={"run_id": "r2"}),
        provider="openai",
        model="openai:gpt-4.1",
        run_id="r2",
    )

    with use_cassette(path, "replay") as cassette:
        response = asyncio.run(manager.hook.tau_model_request(context=context))

    assert response == answer
    assert cassette.unused == 0


def test_replay_needs_no_api_key_and_streams_the_recorded_text(openai_env, tmp_path, monkeypatch):
    lazy = "client_factory" in attrs.fields_dict(ModelCallContext)
    if not lazy or "on_text" not in inspect.signature(Agent).parameters:
        pytest.skip("this tau-core builds the provider before the hook runs and has no on_text")
    path = tmp_path / "c.json"
    recorded = _record(path, openai_env, tmp_path / "work")
    openai_env.close()
    monkeypatch.delenv("OPENAI_API_KEY")
    seen: list[str] = []

    with use_cassette(path, "replay", placeholders={"workdir": str(tmp_path / "again")}):
        replayed = _run(tmp_path / "again", on_text=seen.append)

    assert replayed.status == "verified", replayed.summary
    assert _comparable(replayed, tmp_path / "again") == _comparable(recorded, tmp_path / "work")
    assert "".join(seen) == "Hello, Tau! The file is written — ✓."


# -- secrets --------------------------------------------------------------------------------------


def test_secrets_in_requests_and_responses_never_reach_the_file(
    openai_env, tau_home, tmp_path, monkeypatch
):
    config_key = "plain-config-key-7f3a9c"  # known only to the provider object
    env_token = "not-a-known-format-9d8c7b6a"  # registered through its variable's name
    aws_key = "AKIAIOSFODNN7EXAMPLE"  # a well-known format nobody registered
    (tau_home / "config.toml").write_text(
        f'[providers.openai]\nmax_attempts = 1\napi_key = "{config_key}"\n'
    )
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("ACME_SERVICE_TOKEN", env_token)
    goal = f"{GOAL}. Use {KEY} and {env_token} if you need them."
    echo = f"Noted {KEY}, {env_token}, {config_key} and {aws_key}. "
    _queue_run(openai_env, text=echo)
    path = tmp_path / "c.json"
    workdir = tmp_path / "work"

    with use_cassette(path, "record", placeholders={"workdir": str(workdir)}):
        recorded = _run(workdir, goal=goal)

    assert recorded.status == "verified", recorded.summary
    assert openai_env.seen[0].headers["authorization"] == f"Bearer {config_key}"
    text = path.read_text(encoding="utf-8")
    for secret in (KEY, env_token, config_key, aws_key):
        assert secret not in text
    first, second = _stored(path)["interactions"]
    assert first["request"]["messages"][1]["parts"][0]["text"] == (
        f"{GOAL}. Use [REDACTED] and [REDACTED] if you need them."
    )
    assert first["response"]["message"]["parts"][0]["text"] == (
        "Noted [REDACTED], [REDACTED], [REDACTED] and [REDACTED]. "
    )
    # The next request carries the redacted answer back; it is stored redacted too.
    assert "[REDACTED]" in json.dumps(second["request"]["messages"][2])

    # A replay normalises the live request the same way, so it still matches.
    openai_env.close()
    with use_cassette(path, "replay", placeholders={"workdir": str(workdir)}):
        replayed = _run(workdir, goal=goal)
    assert replayed.status == "verified", replayed.summary


class _TicketFilter:
    """A run-level redaction filter, as tau-safety registers its scanner."""

    TAU_PLUGIN_API = 1

    @hookimpl
    def tau_run_start(self, run: Any) -> None:
        run.redactor.add_filter(lambda text: re.sub(r"ACME-[0-9]{6}", "[TICKET]", text))


def test_the_runs_own_redaction_reaches_the_cassette(openai_env, tmp_path):
    _queue_run(openai_env, text="Filed as ACME-123456. ")
    path = tmp_path / "c.json"
    workdir = tmp_path / "work"
    workdir.mkdir()
    plugins = fresh_plugin_manager(_plugin, make_plugin(tools=[WriteFile()]), _TicketFilter())
    with use_cassette(path, "record", placeholders={"workdir": str(workdir)}):
        outcome = Agent(
            "openai:gpt-4.1",
            plugins=plugins,
            authority=Authority.from_preset("workspace-write"),
            verifier=FileEquals("greeting.txt", "Hello, Tau"),
        ).run(GOAL, workdir=workdir)
    assert outcome.status == "verified", outcome.summary
    text = path.read_text(encoding="utf-8")
    assert "ACME-123456" not in text
    assert "Filed as [TICKET]." in text


# -- replay failures ------------------------------------------------------------------------------


def test_a_changed_request_fails_the_run_naming_file_interaction_field_and_fix(
    openai_env, tmp_path
):
    path = tmp_path / "c.json"
    workdir = tmp_path / "work"
    _record(path, openai_env, workdir)
    openai_env.close()

    with use_cassette(path, "replay", placeholders={"workdir": str(workdir)}) as cassette:
        outcome = _run(tmp_path / "other", goal="Write hello.txt")

    assert (outcome.status, outcome.reason) == ("failed", "CassetteError"), outcome.summary
    assert str(path) in outcome.summary
    assert "interactions[0]" in outcome.summary
    assert "request.messages[0].parts[0].text" in outcome.summary  # the workdir in the prompt
    assert "TAU_CASSETTE=record" in outcome.summary
    assert cassette.position == 0

    with use_cassette(path, "replay", placeholders={"workdir": str(workdir)}):
        outcome = _run(workdir, goal="Write hello.txt")
    assert "at request.messages[1].parts[0].text: recorded" in outcome.summary
    assert '"Write hello.txt"' in outcome.summary


def test_another_model_fails_the_run_naming_the_model(openai_env, tmp_path):
    path = tmp_path / "c.json"
    _record(path, openai_env, tmp_path / "work")

    with use_cassette(path, "replay", placeholders={"workdir": str(tmp_path / "work")}):
        outcome = _run(tmp_path / "work", model="openai:gpt-4.1-mini")

    assert (outcome.status, outcome.reason) == ("failed", "CassetteError")
    assert "at model: recorded 'openai:gpt-4.1', this run calls 'openai:gpt-4.1-mini'" in (
        outcome.summary
    )


def test_a_used_up_cassette_fails_the_run(openai_env, tmp_path):
    path = tmp_path / "c.json"
    workdir = tmp_path / "work"
    _record(path, openai_env, workdir)
    data = _stored(path)
    del data["interactions"][1:]
    path.write_text(json.dumps(data), encoding="utf-8")
    openai_env.close()

    with use_cassette(path, "replay", placeholders={"workdir": str(workdir)}) as cassette:
        outcome = _run(workdir)

    assert (outcome.status, outcome.reason) == ("failed", "CassetteError"), outcome.summary
    assert f"cassette {path} holds 1 interaction(s)" in outcome.summary
    assert "model request #2" in outcome.summary
    assert "TAU_CASSETTE=record" in outcome.summary
    assert cassette.position == 1
    assert outcome.evidence.turns == 1  # the first turn was replayed, its tool ran


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('["a list"]', "is not a Tau cassette"),
        ('{"interactions": []}', "has schema None; this tau-provider reads schema 1"),
        ('{"schema": 2, "interactions": []}', "reads schema 1: upgrade tau-provider, or re-record"),
        ('{"schema": 1, "interactions": [7]}', "interactions[0] is damaged (not an object)"),
    ],
)
def test_unreadable_cassettes_are_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "c.json"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(CassetteError) as info:
        Cassette.open(path, "replay")

    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "TAU_CASSETTE=record" in str(info.value)
    assert not info.value.retryable


def test_a_hand_edited_request_is_refused(openai_env, tmp_path):
    path = tmp_path / "c.json"
    _record(path, openai_env, tmp_path / "work")
    data = _stored(path)
    data["interactions"][1]["request"]["max_tokens"] = 7
    path.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(CassetteError, match=r"interactions\[1\] is damaged .*edited by hand"):
        Cassette.open(path, "replay")


def test_a_missing_or_corrupt_cassette_named_by_the_environment_fails_the_run(
    openai_env, tmp_path, monkeypatch
):
    path = tmp_path / "c.json"
    monkeypatch.setenv("TAU_CASSETTE", "replay")
    monkeypatch.setenv("TAU_CASSETTE_PATH", str(path))

    missing = _run(tmp_path / "work")
    path.write_text('{"schema": 1, "interactions": [', encoding="utf-8")
    corrupt = _run(tmp_path / "work")

    assert (missing.status, missing.reason) == ("failed", "CassetteError")
    assert f"no cassette at {path}: record it first with TAU_CASSETTE=record" in missing.summary
    assert (corrupt.status, corrupt.reason) == ("failed", "CassetteError")
    assert f"cassette {path} is not JSON" in corrupt.summary
    assert openai_env.count == 0


def test_an_invalid_mode_is_a_usage_error_that_fails_the_run(openai_env, tmp_path, monkeypatch):
    monkeypatch.setenv("TAU_CASSETTE", "replya")

    with pytest.raises(UsageError, match="TAU_CASSETTE='replya' is not a cassette mode"):
        active_cassette()
    outcome = _run(tmp_path / "work")

    assert (outcome.status, outcome.reason) == ("failed", "UsageError")
    assert "use record" in outcome.summary and "or replay" in outcome.summary
    assert openai_env.count == 0
    with pytest.raises(UsageError, match="mode='both'"):
        Cassette.open(tmp_path / "c.json", "both")  # type: ignore[arg-type]


# -- provider errors are part of the traffic ------------------------------------------------------


def test_a_fallback_after_a_provider_error_replays_the_same_way(openai_env, tmp_path):
    server = openai_env
    server.queue(lb.json_reply({"error": {"message": "overloaded"}}, status=503))
    _queue_run(server)
    path = tmp_path / "c.json"
    workdir = tmp_path / "work"
    with use_cassette(path, "record", placeholders={"workdir": str(workdir)}):
        recorded = _run(workdir, fallback=["openai:gpt-4.1-mini"])
    assert recorded.status == "verified", recorded.summary
    stored = _stored(path)["interactions"]
    assert [i["model"] for i in stored] == [
        "openai:gpt-4.1",
        "openai:gpt-4.1-mini",
        "openai:gpt-4.1",
    ]
    assert stored[0]["error"]["type"] == "ProviderHTTPError"
    assert (stored[0]["error"]["status"], stored[0]["error"]["retryable"]) == (503, True)
    server.close()

    again = tmp_path / "again"
    with use_cassette(path, "replay", placeholders={"workdir": str(again)}):
        replayed = _run(again, fallback=["openai:gpt-4.1-mini"])

    assert replayed.status == "verified", replayed.summary
    assert _comparable(replayed, again) == _comparable(recorded, workdir)
    assert any(e.get("kind") == "fallback" for e in replayed.evidence.events)


def test_a_recorded_error_is_raised_again_with_its_details(tmp_path):
    request = ModelRequest("m", (Message.user("hi"),))
    error = ProviderHTTPError("rate limited (429)", status=429, retry_after=7.0)
    path = tmp_path / "c.json"
    with use_cassette(path, "record") as cassette:
        cassette.record("openai:m", request, error=error)

    with use_cassette(path, "replay") as cassette, pytest.raises(ProviderHTTPError) as info:
        cassette.replay("openai:m", request)

    assert str(info.value) == "rate limited (429)"
    assert (info.value.status, info.value.retry_after, info.value.retryable) == (429, 7.0, True)


def test_a_cassette_answers_only_in_the_mode_it_was_opened_for(tmp_path):
    request = ModelRequest("m", (Message.user("hi"),))
    path = tmp_path / "c.json"
    with use_cassette(path, "record") as cassette:
        with pytest.raises(UsageError, match="open for record, not replay"):
            cassette.replay("openai:m", request)
        with pytest.raises(UsageError, match="exactly one of response= and error="):
            cassette.record("openai:m", request)
        cassette.record("openai:m", request, response=ModelResponse(Message.assistant("ok")))

    with use_cassette(path, "replay") as cassette, pytest.raises(UsageError, match="not record"):
        cassette.record("openai:m", request, response=ModelResponse(Message.assistant("ok")))
    assert len(Cassette.open(path, "replay").interactions) == 1


# -- crash safety ---------------------------------------------------------------------------------


def _answer(text: str) -> ModelResponse:
    return ModelResponse(Message("assistant", (TextPart(text), ToolCall("c1", "noop", {}))))


def test_a_failed_write_leaves_the_previous_cassette_whole(tmp_path, monkeypatch):
    path = tmp_path / "c.json"
    request = ModelRequest("m", (Message.user("hi"),))
    with use_cassette(path, "record") as cassette:
        cassette.record("openai:m", request, response=_answer("one"))
        before = path.read_bytes()

        def no_space(fd: int) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "fsync", no_space)
        with pytest.raises(CassetteError, match=r"cannot write cassette .*No space left on device"):
            cassette.record("openai:m", request, response=_answer("two"))
        monkeypatch.undo()

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]  # no temporary file left
    assert len(cassette.interactions) == 1
    assert len(Cassette.open(path, "replay").interactions) == 1


def test_a_killed_recorder_keeps_every_interaction_recorded_before_the_kill(tmp_path):
    path = tmp_path / "c.json"
    script = textwrap.dedent(
        f"""
        import os, signal
        from tau_core._messages import Message, ModelRequest, ModelResponse
        from tau_provider._cassette import use_cassette

        with use_cassette({str(path)!r}, "record") as cassette:
            for n in range(2):
                request = ModelRequest("m", (Message.user(f"turn {{n}}"),))
                answer = ModelResponse(Message.assistant("ok"))
                cassette.record("openai:m", request, response=answer)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)

    assert done.returncode == -9, done.stderr
    replay = Cassette.open(path, "replay")
    assert [i["request"]["messages"][0]["parts"][0]["text"] for i in replay.interactions] == [
        "turn 0",
        "turn 1",
    ]


# -- the pytest fixture ---------------------------------------------------------------------------

INNER_TEST = """
import os
import re

import tau_core
from tau_core.testing import FileEquals, WriteFile, make_plugin
from tau_provider import _plugin as tau_provider_plugin


def test_greeting(tau_cassette, tau_plugins, tau_home, tmp_path):
    (tau_home / "config.toml").write_text("[providers.openai]\\nmax_attempts = 1\\n")
    if os.environ.get("INNER_SKIP_RUN"):
        return
    tau_plugins.register(tau_provider_plugin)
    tau_plugins.register(make_plugin(tools=[WriteFile()]))
    outcome = tau_core.run(
        "Write greeting.txt containing exactly Hello, Tau",
        model="openai:gpt-4.1",
        authority=tau_core.Authority.from_preset("workspace-write"),
        verifier=FileEquals("greeting.txt", "Hello, Tau"),
        workdir=tmp_path,
        plugins=tau_plugins,
    )
    assert outcome.status == "verified", outcome.summary
    assert tau_cassette.position == 2
"""


def test_the_fixture_records_then_replays_next_to_the_test_file(pytester, openai_env, monkeypatch):
    server = openai_env
    pytester.makepyfile(test_inner=INNER_TEST)
    cassette = pytester.path / "cassettes" / "test_inner" / "test_greeting.json"

    missing = pytester.runpytest_inprocess()
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(
        [
            "no cassette for test_inner.py::test_greeting at *test_greeting.json: record it once "
            "with `pytest --tau-cassette=record test_inner.py::test_greeting`*"
        ]
    )
    assert server.count == 0

    _queue_run(server)
    recorded = pytester.runpytest_inprocess(
        "--tau-cassette=record", f"--basetemp={pytester.path / 'bt1'}"
    )
    recorded.assert_outcomes(passed=1)
    assert server.count == 2
    text = cassette.read_text(encoding="utf-8")
    assert "[tau:basetemp]/test_greeting0" in text
    assert KEY not in text
    server.close()

    # Replay is the default once the file exists; another base temp dir still matches.
    replayed = pytester.runpytest_inprocess(f"--basetemp={pytester.path / 'bt2'}")
    replayed.assert_outcomes(passed=1)
    assert server.count == 2

    monkeypatch.setenv("INNER_SKIP_RUN", "1")
    unused = pytester.runpytest_inprocess(f"--basetemp={pytester.path / 'bt3'}")
    unused.assert_outcomes(passed=1, errors=1)
    unused.stdout.fnmatch_lines(["*2 of 2 recorded model call(s) were never made*"])
