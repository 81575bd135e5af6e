"""The http tool against real HTTP servers on loopback, granted explicitly (``net:127.0.0.1:PORT``).

Covers GET/POST JSON, headers, the body cap and its marker, the total-time cap, redirect
chains, status codes (a non-2xx status is a result, not a tool error), binary bodies, secret
placeholders and their redaction, and runs through ``tau_core.Agent`` with the tool loaded from
tau-tools' own plugin registration.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tau_core import Agent, Authority, Credential
from tau_core._hookcontext import ToolCallContext
from tau_core._messages import ToolCall, ToolResult
from tau_core.errors import ToolError
from tau_core.hookspecs import hookimpl
from tau_core.testing import ScriptedModel, ScriptedVerifier, fresh_plugin_manager
from tau_tools import _plugin
from tau_tools._http import MAX_REDIRECTS, HttpTool

SECRET = "tok-5f2c9a71e3b84d06"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


class Handler(http.server.BaseHTTPRequestHandler):
    server: LoopbackServer

    def _send(self, status: int, body: bytes, ctype: str | None = None, **headers: str) -> None:
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.log.append((self.command, self.path, dict(self.headers.items()), body))
        path, _, query = self.path.partition("?")
        if path == "/json":
            self._send(200, b'{"hello": "world"}', "application/json")
        elif path == "/echo":
            echo = {
                "method": self.command,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8"),
            }
            self._send(200, json.dumps(echo).encode(), "application/json", X_Echo="see body")
        elif path == "/echo-secret":
            auth = self.headers.get("Authorization", "")
            self._send(200, f"you sent {auth}".encode(), "text/plain", X_Echo=auth)
        elif path == "/big":
            self._send(200, b"0123456789" * (int(query) // 10), "text/plain")
        elif path == "/utf8":
            self._send(200, "é".encode() * 1000, "text/plain; charset=utf-8")
        elif path == "/latin1":
            self._send(200, "café crème".encode("latin-1"), "text/html; charset=iso-8859-1")
        elif path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            for _ in range(100):  # at most ~10 s; the client gives up long before
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
        elif path.startswith("/redirect/"):
            n = int(path.rsplit("/", 1)[1])
            if n == 0:
                self._send(200, b"arrived", "text/plain")
            else:
                self._send(302, b"", Location=f"/redirect/{n - 1}")
        elif path == "/to":
            self._send(int(self.headers.get("X-Status", "302")), b"", Location=query)
        elif path.startswith("/status/"):
            code = int(path.rsplit("/", 1)[1])
            self._send(code, f"status {code}".encode(), "text/plain")
        elif path == "/png":
            self._send(200, PNG, "image/png")
        elif path == "/blob":
            self._send(200, b"\x00\x01\x02binary\xff\xfe")
        else:
            self._send(404, b"no such page", "text/plain")

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _handle

    def log_message(self, *args: Any) -> None:
        return


class LoopbackServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.log: list[tuple[str, str, dict[str, str], bytes]] = []
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    s = LoopbackServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def other() -> Iterator[LoopbackServer]:
    s = LoopbackServer()
    yield s
    s.stop()


def call(
    args: dict[str, Any],
    grants: list[str],
    *,
    secrets: dict[str, str] | None = None,
    workdir: Path = Path("/"),
) -> ToolResult:
    tool = HttpTool()
    context = ToolCallContext(
        call=ToolCall("c1", "http", args),
        spec=tool.spec,
        run_id="run",
        workdir=workdir,
        idempotency_key="run:1:c1",
        secrets=dict(secrets or {}),
        tool=tool,
        authority=Authority.parse(grants),
    )
    return asyncio.run(tool.run(args, context))


def fails(args: dict[str, Any], grants: list[str], **kwargs: Any) -> ToolError:
    with pytest.raises(ToolError) as info:
        call(args, grants, **kwargs)
    assert info.value.hint
    return info.value


def grant(s: LoopbackServer) -> str:
    return f"net:127.0.0.1:{s.port}"


def test_get_json(server: LoopbackServer) -> None:
    result = call({"url": server.url("/json")}, [grant(server)])
    content = result.content
    assert result.ok
    assert (content["status"], content["reason"]) == (200, "OK")
    assert json.loads(content["body"]) == {"hello": "world"}
    assert content["content_type"] == "application/json"
    assert content["headers"]["content-type"] == "application/json"
    assert (content["truncated"], content["binary"], content["redirects"]) == (False, False, [])
    assert content["peer"] == f"127.0.0.1:{server.port}"
    assert result.metadata == {
        "status": 200,
        "bytes": 18,
        "truncated": False,
        "binary": False,
        "peer": f"127.0.0.1:{server.port}",
        "redirects": 0,
    }


def test_post_json_and_headers_reach_the_server(server: LoopbackServer) -> None:
    args = {
        "url": server.url("/echo"),
        "method": "POST",
        "json": {"name": "tau", "n": [1, 2]},
        "headers": {"X-Trace": "abc-123", "Accept": "application/json"},
    }
    echo = json.loads(call(args, [grant(server)]).content["body"])
    assert echo["method"] == "POST"
    assert json.loads(echo["body"]) == {"name": "tau", "n": [1, 2]}
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["headers"]["x-trace"] == "abc-123"
    assert echo["headers"]["user-agent"].startswith("tau-tools/")
    assert echo["headers"]["host"] == f"127.0.0.1:{server.port}"


def test_put_with_a_text_body(server: LoopbackServer) -> None:
    args = {"url": server.url("/echo"), "method": "PUT", "body": "plain text ü"}
    echo = json.loads(call(args, [grant(server)]).content["body"])
    assert (echo["method"], echo["body"]) == ("PUT", "plain text ü")


def test_head_has_no_body(server: LoopbackServer) -> None:
    content = call({"url": server.url("/json"), "method": "HEAD"}, [grant(server)]).content
    assert (content["status"], content["body"], content["bytes"]) == (200, "", 0)


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"Content-Length": "5"}, {"Bad Name": "x"}, {"X-A": "1\r\nX-B: 2"}],
)
def test_headers_the_client_manages_or_that_are_malformed_are_refused(
    headers: dict[str, str], server: LoopbackServer
) -> None:
    before = len(server.log)
    error = fails({"url": server.url("/json"), "headers": headers}, [grant(server)])
    assert error.code == "bad_arguments"
    assert len(server.log) == before


@pytest.mark.parametrize(
    "extra",
    [
        {"method": "TRACE"},
        {"body": "a", "json": {"a": 1}},
        {"max_bytes": 0},
        {"max_bytes": 10 * 1024 * 1024 + 1},
        {"max_bytes": True},
        {"timeout": 0},
        {"timeout": 301},
        {"headers": ["X-A: 1"]},
        {"headers": {"X-A": "${secret:bad name}"}},
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    extra: dict[str, Any], server: LoopbackServer
) -> None:
    before = len(server.log)
    error = fails({"url": server.url("/echo"), **extra}, [grant(server)])
    assert error.code == "bad_arguments", error
    assert len(server.log) == before


def test_body_cap_truncates_with_a_marker(server: LoopbackServer) -> None:
    content = call({"url": server.url("/big?100000"), "max_bytes": 1000}, [grant(server)]).content
    assert (content["bytes"], content["truncated"]) == (1000, True)
    text, marker = content["body"].split("\n[truncated:", 1)
    assert text == "0123456789" * 100
    assert "first 1000 bytes" in marker
    whole = call({"url": server.url("/big?1000"), "max_bytes": 1000}, [grant(server)]).content
    assert (whole["truncated"], whole["body"]) == (False, "0123456789" * 100)


def test_body_cap_cuts_on_a_character_boundary(server: LoopbackServer) -> None:
    content = call({"url": server.url("/utf8"), "max_bytes": 1001}, [grant(server)]).content
    text = content["body"].split("\n[truncated:", 1)[0]
    assert text == "é" * 500
    assert "\ufffd" not in content["body"]


def test_declared_charset_is_used(server: LoopbackServer) -> None:
    assert call({"url": server.url("/latin1")}, [grant(server)]).content["body"] == "café crème"


def test_total_time_is_capped(server: LoopbackServer) -> None:
    error = fails({"url": server.url("/slow"), "timeout": 0.5}, [grant(server)])
    assert error.code == "timeout"
    assert "0.5s" in str(error)


def test_a_chain_of_five_redirects_is_followed(server: LoopbackServer) -> None:
    content = call({"url": server.url(f"/redirect/{MAX_REDIRECTS}")}, [grant(server)]).content
    assert (content["status"], content["body"]) == (200, "arrived")
    assert content["url"] == server.url("/redirect/0")
    assert [r["url"] for r in content["redirects"]] == [
        server.url(f"/redirect/{n}") for n in range(5, 0, -1)
    ]


def test_a_chain_of_six_redirects_is_too_many(server: LoopbackServer) -> None:
    before = len(server.log)
    error = fails({"url": server.url("/redirect/6")}, [grant(server)])
    assert error.code == "too_many_redirects"
    assert [path for _, path, _, _ in server.log[before:]] == [
        f"/redirect/{n}" for n in range(6, 0, -1)
    ]


def test_redirects_are_not_followed_when_asked(server: LoopbackServer) -> None:
    args = {"url": server.url("/redirect/2"), "follow_redirects": False}
    content = call(args, [grant(server)]).content
    assert content["status"] == 302
    assert content["headers"]["location"] == "/redirect/1"


@pytest.mark.parametrize("status", [201, 204, 400, 401, 404, 418, 500, 503])
def test_status_codes_are_results_not_tool_errors(status: int, server: LoopbackServer) -> None:
    result = call({"url": server.url(f"/status/{status}")}, [grant(server)])
    assert result.ok and result.error is None
    assert result.content["status"] == status
    assert result.content["body"] == ("" if status == 204 else f"status {status}")


def test_binary_bodies_are_reported_not_shown(server: LoopbackServer) -> None:
    png = call({"url": server.url("/png")}, [grant(server)]).content
    assert (png["binary"], png["body"], png["bytes"]) == (True, None, len(PNG))
    assert "image/png" in png["note"]
    blob = call({"url": server.url("/blob")}, [grant(server)]).content
    assert (blob["binary"], blob["body"]) == (True, None)


def test_an_ungranted_loopback_server_is_blocked_even_with_a_wildcard(
    server: LoopbackServer,
) -> None:
    before = len(server.log)
    error = fails({"url": server.url("/json")}, ["net:*", f"net:*:{server.port}"])
    assert error.code == "blocked_address"
    assert len(server.log) == before


def test_a_granted_local_name_is_resolved_by_the_system_and_reached(
    server: LoopbackServer,
) -> None:
    url = f"http://localhost:{server.port}/json"
    error = fails({"url": url}, ["net:*", f"net:*:{server.port}"])
    assert error.code == "blocked_host"
    content = call({"url": url}, [f"net:localhost:{server.port}"]).content
    assert content["status"] == 200
    assert content["peer"] == f"127.0.0.1:{server.port}"


def test_a_refused_connection_is_a_tool_error(tmp_path: Path) -> None:
    gone = LoopbackServer()
    port = gone.port
    gone.stop()
    error = fails({"url": f"http://127.0.0.1:{port}/"}, [f"net:127.0.0.1:{port}"])
    assert error.code == "connect_failed"


def test_secret_placeholders_need_grants() -> None:
    tool = HttpTool()
    args = {
        "url": "https://api.example.com/v1",
        "headers": {"Authorization": "Bearer ${secret:api_token}", "X-Key": "${secret:other}"},
    }
    assert [str(c) for c in tool.capabilities(args, Path("/"))] == [
        "net:api.example.com:443",
        "secret:api_token@http",
        "secret:other@http",
    ]
    for bad in ({"url": "https://x.example/?k=${secret:api_token}"}, {"body": "${secret:a}"}):
        with pytest.raises(ToolError) as info:
            tool.capabilities({"url": "https://x.example/", **bad}, Path("/"))
        assert info.value.code == "bad_arguments"


def test_secret_is_sent_and_redacted_from_the_result(server: LoopbackServer) -> None:
    args = {
        "url": server.url("/echo-secret"),
        "headers": {"Authorization": "Bearer ${secret:api_token}"},
    }
    result = call(args, [grant(server), "secret:api_token@http"], secrets={"api_token": SECRET})
    assert server.log[-1][2]["Authorization"] == f"Bearer {SECRET}"
    assert result.content["body"] == "you sent Bearer [REDACTED]"
    assert result.content["headers"]["x-echo"] == "Bearer [REDACTED]"
    assert SECRET not in json.dumps(result.content)
    assert "authorization" not in json.dumps(result.content).lower()


def test_an_ungranted_secret_placeholder_is_refused(server: LoopbackServer) -> None:
    before = len(server.log)
    args = {"url": server.url("/echo"), "headers": {"X-Key": "${secret:api_token}"}}
    error = fails(args, [grant(server)], secrets={})
    assert error.code == "secret_not_granted"
    # Holding the value is not enough: the grant must name this tool.
    error = fails(args, [grant(server), "secret:api_token@shell"], secrets={"api_token": SECRET})
    assert error.code == "secret_not_granted"
    assert len(server.log) == before


def test_secret_headers_are_dropped_on_a_cross_origin_redirect(
    server: LoopbackServer, other: LoopbackServer
) -> None:
    headers = {"X-Api-Key": "${secret:api_token}", "X-Plain": "kept"}
    grants = [grant(server), grant(other), "secret:api_token@http"]
    away = call(
        {"url": server.url(f"/to?{other.url('/echo')}"), "headers": headers},
        grants,
        secrets={"api_token": SECRET},
    )
    sent = json.loads(away.content["body"])["headers"]
    assert "x-api-key" not in sent
    assert sent["x-plain"] == "kept"
    home = call(
        {"url": server.url("/to?/echo"), "headers": headers}, grants, secrets={"api_token": SECRET}
    )
    assert server.log[-1][2]["X-Api-Key"] == SECRET  # same origin: still sent
    assert SECRET not in json.dumps(home.content)


def test_see_other_turns_a_post_into_a_get(server: LoopbackServer) -> None:
    args = {
        "url": server.url("/to?/echo"),
        "method": "POST",
        "body": "data",
        "headers": {"X-Status": "303"},
    }
    echo = json.loads(call(args, [grant(server)]).content["body"])
    assert (echo["method"], echo["body"]) == ("GET", "")


class Vault:
    TAU_PLUGIN_API = 1

    @hookimpl
    def tau_resolve_credential(self, name: str, config: Any) -> Credential | None:
        return Credential(name, SECRET) if name == "api_token" else None


def _agent(grants: list[str], url: str, **kwargs: Any) -> tuple[Agent, ScriptedModel]:
    model = ScriptedModel(
        [
            {"tool_calls": [{"name": "http", "arguments": {"url": url, **kwargs}}]},
            {"text": "fetched"},
        ]
    )
    agent = Agent(
        model,
        authority=Authority.from_preset("read-only", *grants),
        plugins=fresh_plugin_manager(_plugin, Vault()),
        tools=["http"],
        verifier=ScriptedVerifier("green"),
    )
    return agent, model


def test_agent_run_fetches_through_the_registered_tool(
    tau_home: Path, tmp_path: Path, server: LoopbackServer
) -> None:
    agent, _ = _agent([grant(server)], server.url("/json"))
    outcome = agent.run("fetch the greeting", workdir=tmp_path)
    assert outcome.status == "verified", outcome
    [record] = outcome.evidence.tool_calls
    assert record.decision is not None and record.decision.allowed
    assert record.decision.message == f"granted (net:127.0.0.1:{server.port})"
    assert record.result is not None and record.result.ok
    assert record.result.content["status"] == 200
    assert json.loads(record.result.content["body"]) == {"hello": "world"}


def test_agent_run_without_the_net_grant_never_reaches_the_server(
    tau_home: Path, tmp_path: Path, server: LoopbackServer
) -> None:
    before = len(server.log)
    agent, _ = _agent([], server.url("/json"))
    outcome = agent.run("fetch the greeting", workdir=tmp_path)
    assert (outcome.status, outcome.reason) == ("blocked", "missing_authority"), outcome
    assert f"net:127.0.0.1:{server.port}" in outcome.summary
    assert len(server.log) == before


def test_agent_run_returns_a_blocked_address_as_a_structured_tool_error(
    tau_home: Path, tmp_path: Path, server: LoopbackServer
) -> None:
    before = len(server.log)
    agent, model = _agent(["net:*", f"net:*:{server.port}"], server.url("/json"))
    outcome = agent.run("fetch the greeting", workdir=tmp_path)
    assert outcome.status == "verified", outcome
    [record] = outcome.evidence.tool_calls
    assert record.result is not None and record.result.error is not None
    assert record.result.error.code == "blocked_address"
    assert "loopback" in record.result.error.message
    seen = [r for m in model.requests[1].messages for r in m.tool_results]
    assert [r.error.code for r in seen if r.error] == ["blocked_address"]  # the model sees it
    assert len(server.log) == before


def test_agent_run_injects_a_granted_secret_and_keeps_it_out_of_the_evidence(
    tau_home: Path, tmp_path: Path, server: LoopbackServer
) -> None:
    agent, model = _agent(
        [grant(server), "secret:api_token@http"],
        server.url("/echo-secret"),
        headers={"Authorization": "Bearer ${secret:api_token}"},
    )
    outcome = agent.run("call the api", workdir=tmp_path)
    assert outcome.status == "verified", outcome
    assert server.log[-1][2]["Authorization"] == f"Bearer {SECRET}"
    [record] = outcome.evidence.tool_calls
    assert record.result is not None
    assert record.result.content["body"] == "you sent Bearer [REDACTED]"
    assert SECRET not in outcome.to_json()
    assert SECRET not in json.dumps([str(m) for m in model.requests])
