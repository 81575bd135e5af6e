"""What reaches the caller and the evidence during a model call: streamed text, retries,
breaker changes, and fallback that never repeats text the caller already saw.

Real loopback servers speaking the Chat Completions wire format, and the real run loop.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tau_core import Agent, Authority
from tau_core.testing import ScriptedVerifier, WriteFile, fresh_plugin_manager, make_plugin
from tau_provider._breaker import breakers
from tau_provider._compatible import compatible_factory
from tau_provider._openai import OpenAIStyleProvider, openai_factory
from tau_provider._retry import RetryBudget

lb = sys.modules["tau_provider_tests_openai_loopback"]  # loaded by conftest.py
KEY = "sk-test-0123456789abcdef"
TEXT = lb.fixture("chat_text.sse")
# The text stream cut in the middle of its sixth event: "Hello, Tau" has reached the caller.
CUT = TEXT[: TEXT.index(b"is written") - 40]


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
def primary() -> Iterator[Any]:
    s = lb.LoopbackServer()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def backup() -> Iterator[Any]:
    s = lb.LoopbackServer()
    try:
        yield s
    finally:
        s.close()


def _plugins(primary: Any, backup: Any, attempts: int = 3) -> Any:
    def openai(model: str, config: Any = None) -> OpenAIStyleProvider:
        cfg = {"providers.openai": {"base_url": primary.url, "api_key": KEY}}
        p = openai_factory(model, config=cfg)
        p.retry_budget = lambda: RetryBudget(max_attempts=attempts, sleep=_no_sleep)
        return p

    def spare(model: str, config: Any = None) -> OpenAIStyleProvider:
        p = compatible_factory("spare")(model, config={"providers.spare": {"base_url": backup.url}})
        p.retry_budget = lambda: RetryBudget(max_attempts=attempts, sleep=_no_sleep)
        return p

    return fresh_plugin_manager(
        make_plugin(providers={"openai": openai, "spare": spare}, tools=[WriteFile()])
    )


def _run(plugins: Any, workdir: Path, seen: list[str] | None = None, **kwargs: Any) -> Any:
    workdir.mkdir(exist_ok=True)
    return Agent(
        "openai:gpt-4.1",
        fallback=["spare:qwen"],
        plugins=plugins,
        authority=Authority.from_preset("workspace-write"),
        verifier=ScriptedVerifier("green"),
        on_text=None if seen is None else seen.append,
        **kwargs,
    ).run("Say hello.", workdir=workdir)


def _events(outcome: Any, kind: str) -> list[dict[str, Any]]:
    return [
        e for e in outcome.evidence.events if e.get("kind") == "provider" and e["event"] == kind
    ]


def test_streamed_text_reaches_the_caller_as_it_arrives(primary, backup, tau_home, tmp_path):
    primary.queue(lb.sse_reply(TEXT))
    seen: list[str] = []
    outcome = _run(_plugins(primary, backup), tmp_path / "w", seen)
    assert outcome.status == "verified", outcome.summary
    assert seen == ["Hel", "lo", ", ", "Tau", "! The file ", "is written", " \u2014 \u2713."]
    assert (primary.count, backup.count) == (1, 0)


def test_a_cut_after_text_was_shown_never_falls_back_and_never_repeats_it(
    primary, backup, tau_home, tmp_path
):
    primary.queue(lb.sse_reply(CUT))
    backup.queue(lb.sse_reply(TEXT))
    seen: list[str] = []
    outcome = _run(_plugins(primary, backup), tmp_path / "w", seen)

    assert (outcome.status, outcome.reason) == ("blocked", "provider_unavailable")
    assert "not duplicated" in outcome.summary
    assert "".join(seen) == "Hello, Tau! The file "  # shown once, never again
    assert primary.count == 1, "a streamed answer is not retried on the same route"
    assert backup.count == 0, "nor answered again by the fallback"


def test_a_failure_before_any_text_falls_back_with_retry_events_in_the_evidence(
    primary, backup, tau_home, tmp_path
):
    for _ in range(3):
        primary.queue(
            lb.json_reply(
                {"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0"}
            )
        )
    backup.queue(lb.sse_reply(TEXT))
    seen: list[str] = []
    outcome = _run(_plugins(primary, backup), tmp_path / "w", seen)

    assert outcome.status == "verified", outcome.summary
    assert (primary.count, backup.count) == (3, 1), "3 attempts on one budget, then one fallback"
    assert "".join(seen) == "Hello, Tau! The file is written \u2014 \u2713."
    retries = _events(outcome, "retry")
    assert [(e["route"], e["attempt"], e["retry_after"]) for e in retries] == [
        ("openai:gpt-4.1", 1, 0.0),
        ("openai:gpt-4.1", 2, 0.0),
    ]
    assert all("429" in e["error"] and KEY not in e["error"] for e in retries)
    fallbacks = [e for e in outcome.evidence.events if e.get("kind") == "fallback"]
    assert [f["route"] for f in fallbacks] == ["openai:gpt-4.1"]


def test_breaker_changes_are_events_in_the_evidence_and_an_open_breaker_is_skipped(
    primary, backup, tau_home, tmp_path
):
    breakers().get("openai:gpt-4.1", failure_threshold=1, cool_down=3600)
    primary.queue(lb.json_reply({"error": {"message": "down"}}, status=503))
    backup.queue(lb.sse_reply(TEXT))
    first = _run(_plugins(primary, backup, attempts=1), tmp_path / "a")
    assert first.status == "verified", first.summary
    opened = _events(first, "breaker")
    assert [(e["route"], e["old"], e["new"]) for e in opened] == [
        ("openai:gpt-4.1", "closed", "open")
    ]

    backup.queue(lb.sse_reply(TEXT))
    second = _run(_plugins(primary, backup, attempts=1), tmp_path / "b")
    assert second.status == "verified", second.summary
    assert primary.count == 1, "the open breaker refused the call without a request"
    assert backup.count == 2
    skipped = [e for e in second.evidence.events if e.get("kind") == "fallback"]
    assert "open" in skipped[0]["error"]


def test_provider_events_replay_to_the_same_outcome(primary, backup, tau_home, tmp_path):
    for _ in range(2):
        primary.queue(lb.json_reply({"error": {"message": "busy"}}, status=500))
    primary.queue(lb.sse_reply(TEXT))
    plugins = _plugins(primary, backup)
    outcome = _run(plugins, tmp_path / "w")
    assert outcome.status == "verified"
    assert len(_events(outcome, "retry")) == 2
    assert outcome.evidence.usage.requests == 3, "usage counts every HTTP request"

    replayed = Agent(
        "openai:gpt-4.1",
        fallback=["spare:qwen"],
        plugins=plugins,
        verifier=ScriptedVerifier("green"),
    ).replay(outcome.evidence.run_id)
    assert replayed.evidence.events == outcome.evidence.events
    assert primary.count == 3, "replay makes no request"
