"""The data model: grants, the authority check, JSON forms, and compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tau_core import (
    Authority,
    Capability,
    Grant,
    Message,
    ModelRequest,
    ModelResponse,
    TextPart,
    ThinkingPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from tau_core._authority import check_capabilities
from tau_core._compaction import compact, estimate_tokens
from tau_core._serialization import dumps, from_dict, loads, to_dict
from tau_core.errors import UsageError


@pytest.mark.parametrize(
    "text",
    [
        "read:src",
        "write:/tmp/x",
        "exec:pytest",
        "net:example.com:443",
        "tool:write",
        "secret:github@http",
        "net:*",
    ],
)
def test_grant_roundtrip(text):
    assert str(Grant.parse(text)) == text


@pytest.mark.parametrize("text", ["", "read", "read:", "fly:away", "secret:github"])
def test_bad_grants(text):
    with pytest.raises(UsageError):
        Grant.parse(text)


def decide(authority, *caps, workdir=Path("/work"), protected=()):
    return check_capabilities(
        authority, "c1", "t", [Capability(*c) for c in caps], workdir, protected
    )


def test_paths_are_resolved_against_the_workdir(tmp_path):
    a = Authority.parse(["write:sub"])
    (tmp_path / "sub").mkdir()
    assert decide(a, ("write", "sub/x.txt"), workdir=tmp_path).allowed
    assert decide(a, ("write", str(tmp_path / "sub" / "deep" / "y")), workdir=tmp_path).allowed
    denied = decide(a, ("write", "other.txt"), workdir=tmp_path)
    assert not denied.allowed and denied.needed_grant == f"write:{tmp_path / 'other.txt'}"
    assert not decide(a, ("write", "sub/../other.txt"), workdir=tmp_path).allowed
    assert not decide(a, ("read", "sub/x.txt"), workdir=tmp_path).allowed  # write is not read


def test_prefix_is_not_containment(tmp_path):
    (tmp_path / "src").mkdir()
    a = Authority.parse([f"write:{tmp_path / 'src'}"])
    assert not decide(a, ("write", str(tmp_path / "src-evil" / "x")), workdir=tmp_path).allowed


def test_exec_net_secret_tool_grants():
    a = Authority.parse(
        ["exec:pytest", "net:api.example.com:443", "net:*.internal", "secret:github@http"]
    )
    assert decide(a, ("exec", "pytest")).allowed
    assert not decide(a, ("exec", "/usr/bin/pytest")).allowed  # a path needs a path grant
    assert not decide(a, ("exec", "./pytest")).allowed
    assert decide(a.with_grants("exec:/usr/bin/pytest"), ("exec", "/usr/bin/pytest")).allowed
    assert not decide(a, ("exec", "curl")).allowed
    assert decide(a, ("net", "api.example.com:443")).allowed
    assert not decide(a, ("net", "api.example.com:80")).allowed
    assert decide(a, ("net", "db.internal:5432")).allowed
    assert decide(a, ("secret", "github@http")).allowed
    assert not decide(a, ("secret", "github@shell")).allowed
    a = a.with_grants("tool:http")
    assert check_capabilities(a, "c", "http", [], Path("/")).allowed
    d = check_capabilities(a, "c", "shell", [], Path("/"))
    assert not d.allowed and d.rule_id == "tool.grant" and d.needed_grant == "tool:shell"


def test_presets():
    ro = Authority.from_preset("read-only")
    assert decide(ro, ("read", "x")).allowed and not decide(ro, ("write", "x")).allowed
    ww = Authority.from_preset("workspace-write")
    assert decide(ww, ("write", "x")).allowed and not decide(ww, ("write", "/etc/passwd")).allowed
    full = Authority.from_preset("full")
    assert decide(full, ("write", "/etc/x"), ("exec", "rm"), ("net", "h:1")).allowed
    assert not decide(full, ("secret", "github@http")).allowed  # secrets are always named


def test_fail_closed_on_unknown_kind():
    assert not decide(Authority.from_preset("full"), ("teleport", "mars")).allowed


def test_bad_side_effect_class():
    with pytest.raises(ValueError, match="side-effect class"):
        ToolSpec("x", side_effect="explode")  # type: ignore[arg-type]


def test_every_type_roundtrips_through_json():
    call = ToolCall("c1", "write", {"path": "a", "n": [1, 2]})
    message = Message("assistant", (ThinkingPart("hmm", "sig"), TextPart("hi"), call))
    request = ModelRequest(
        "m",
        (Message.user("go"), message, Message("tool", (ToolResult("c1", "write", {"ok": True}),))),
        (ToolSpec("write", side_effect="write", capabilities=("write",)),),
        max_tokens=10,
    )
    response = ModelResponse(message, Usage(3, 4, None, 1), "tool_calls", "m", "p")
    authority = Authority.from_preset("workspace-write", "exec:pytest", approval="ask")
    for obj in (request, response, authority):
        text = dumps(obj)
        assert json.loads(text)["schema"] == 1
        assert loads(text, type(obj)) == obj
        assert dumps(loads(text, type(obj))) == text  # stable bytes


def test_bad_json_is_a_clear_error():
    with pytest.raises(UsageError, match="cannot read Message"):
        from_dict({"role": "assistant", "parts": [{"type": "laser"}]}, Message)
    with pytest.raises(UsageError, match="not JSON"):
        loads("{", Message)


def test_usage_sums_and_unknown_cost_stays_unknown():
    total = Usage(1, 2, 0.5, 1) + Usage(3, 4, None, 1)
    assert (total.total_tokens, total.cost, total.requests) == (10, None, 2)


def conversation(draw_sizes: list[tuple[int, int]]) -> list[Message]:
    msgs = [Message.system("sys"), Message.user("task " * 20)]
    for turn, (n_calls, size) in enumerate(draw_sizes):
        calls = tuple(ToolCall(f"{turn}-{i}", "t", {"x": "y" * size}) for i in range(n_calls))
        msgs.append(Message.assistant("thinking " * (size % 7), calls))
        if calls:
            msgs.append(Message("tool", tuple(ToolResult(c.id, "t", "r" * size) for c in calls)))
        if size % 5 == 0:
            msgs.append(Message.user("feedback " * 3))
    return msgs


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 400)), max_size=25), st.integers(50, 3000)
)
def test_compaction_never_separates_a_call_from_its_result(sizes, limit):
    msgs = conversation(sizes)
    kept, dropped = compact(msgs, limit)
    assert kept[:2] == msgs[:2]  # system prompt and task always kept
    calls = {c.id for m in kept for c in m.tool_calls}
    results = {r.call_id for m in kept for r in m.tool_results}
    assert calls == results
    # Every tool message directly follows the assistant message holding its calls.
    for i, m in enumerate(kept):
        if m.role == "tool":
            assert kept[i - 1].role == "assistant"
            assert {r.call_id for r in m.tool_results} == {c.id for c in kept[i - 1].tool_calls}
    if dropped:
        assert len(kept) < len(msgs) + 1
        assert "removed to fit the context window" in kept[2].text
    else:
        assert kept == msgs or estimate_tokens(msgs) <= limit


def test_to_dict_tags_parts():
    assert to_dict(TextPart("x")) == {"type": "text", "text": "x"}


@pytest.mark.parametrize(
    ("grant", "target", "allowed"),
    [
        ("net:[::1]:8080", "[::1]:8080", True),
        ("net:[::1]:8080", "[::1]:9090", False),
        ("net:[::1]", "[::1]:443", True),
        ("net:*:8080", "example.com:8080", True),
        ("net:*:8080", "example.com:80", False),
        ("net:*.example.com", "api.example.com:443", True),
        ("net:*.example.com", "example.com:443", False),
        ("net:*.example.com", "evil.com:443", False),
        ("net:api.example.com", "API.Example.com:443", True),
        ("net:[::1]", "[::2]:443", False),
        ("net:10.0.0.1", "10.0.0.11:80", False),
    ],
)
def test_net_grants(grant, target, allowed):
    assert decide(Authority.parse([grant]), ("net", target)).allowed is allowed
