"""Per-request overhead of Tau's OpenAI provider next to the official ``openai`` SDK, in one run.

One loopback server speaks the Chat Completions wire format: a raw ``asyncio`` HTTP/1.1 server
(keep-alive, no framework) started by this script in a **child process**, so the process CPU
time measured here is the client's alone. Every answer is prebuilt bytes:

* ``sse``: a ``text/event-stream`` sent with chunked transfer encoding, one chunk per event: a
  role delta, four text deltas, one tool call (id and name, then two argument deltas), the
  ``finish_reason`` chunk, the ``usage`` chunk (``stream_options.include_usage``), ``[DONE]``;
* ``json``: the same answer as one ``chat.completion`` object with a ``Content-Length``.

Which one a request gets depends on its path (``/sse/v1/...`` or ``/json/v1/...``). Tau's
provider always asks for a stream; its ``json`` variant measures its plain-JSON path (a server
that ignores ``stream``). The SDK asks with ``stream=True`` for ``sse`` and without for ``json``.
The server also listens with TLS (``sse_tls`` variants), with a certificate from a throwaway CA
made here with ``cryptography``; ``SSL_CERT_FILE`` points both clients at the public roots
(``certifi``) plus that CA, so building an SSL context costs what it costs users. Without
``cryptography`` (or with ``--no-tls``) the TLS variants are skipped and the JSON says why.

Variants, each one request at a time on one event loop:

* ``tau_default_*``: ``openai_factory("gpt-4.1", config)``, built once, then ``complete()``:
  what a user gets by default (the provider opens an ``httpx.AsyncClient`` per call, and so
  a new connection);
* ``tau_reused_*``: the same provider with an injected, shared ``httpx.AsyncClient``
  (``http_client=``), so connections are kept alive;
* ``openai_reused_*``: one ``AsyncOpenAI`` for the whole run (how the SDK is meant to be used),
  ``chat.completions.create(...)``; for ``sse`` the chunks are iterated and the text, tool call
  and usage collected, which is what Tau's provider does for its caller;
* ``openai_fresh_*``: a new ``AsyncOpenAI`` per request, closed after it.

Both send the same conversation, tools and ``max_completion_tokens``; a warm-up checks every
variant returns the same text, tool call and token counts. Then rounds: each round runs a
batch of requests per variant, the variants in a new shuffled order (``gc.collect()`` before
each batch). Per request: wall time (``perf_counter``) and process CPU time (``process_time``).

Figures per variant: median and p90 of both, in µs. Ratios ``tau / openai`` of the medians
(below 1.0: Tau is lighter): ``reused`` (both keep their connections), ``fresh`` (both build a
client per request) and ``default`` (what each gives a user who writes the obvious code: Tau's
provider as built by its factory, the SDK with one long-lived client).

``tau_client_per_call_us`` is ``tau_default`` minus ``tau_reused`` (medians): what opening a
client, a connection and (for TLS) a handshake per call costs Tau's default.

Usage: ``python bench/bench_request.py [--runs R] [--batch B] [--seed S] [--no-tls]``; prints
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import json
import os
import platform
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

MODEL = "gpt-4.1"
KEY = "sk-bench-0123456789abcdefghijklmnop"
MAX_TOKENS = 256
SYSTEM = "You are Tau's coding agent. Read files before you change them."
USER = "Summarise notes/a.txt in one sentence."
READ_FILE = {
    "name": "read_file",
    "description": "Read a UTF-8 text file.",
    "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
TEXT_DELTAS = ("Reading", " the", " notes", " first.")
ARGUMENT_DELTAS = ('{"path": ', '"notes/a.txt"}')
USAGE = {
    "prompt_tokens": 88,
    "completion_tokens": 21,
    "total_tokens": 109,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
VERSIONS = ("tau-provider", "openai", "httpx", "httpx2", "httpcore", "anyio", "pydantic")

# (text, ((tool name, arguments), ...), prompt tokens, completion tokens)
Answer = tuple[str, tuple[tuple[str, Any], ...], int, int]
Request = Callable[[], Awaitable[Answer]]


# -- the server (runs in a child process) --------------------------------------------------------


def _sse_body() -> bytes:
    head = {
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        "object": "chat.completion.chunk",
        "created": 1741570283,
        "model": "gpt-4.1-2025-04-14",
        "service_tier": "default",
        "system_fingerprint": "fp_b705f0c291",
    }

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        )
        event = {**head, "choices": choices, "usage": None, **extra}
        return f"data: {json.dumps(event)}\n\n".encode()

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": text}) for text in TEXT_DELTAS]
    call = {"index": 0, "id": "call_read_1", "type": "function"}
    events.append(
        chunk({"tool_calls": [{**call, "function": {"name": "read_file", "arguments": ""}}]})
    )
    events += [
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        for piece in ARGUMENT_DELTAS
    ]
    events.append(chunk({}, "tool_calls"))
    events.append(chunk(None, usage=USAGE))
    events.append(b"data: [DONE]\n\n")
    body = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    head_lines = (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: text/event-stream; charset=utf-8\r\n"
        b"transfer-encoding: chunked\r\n"
        b"x-request-id: req_bench\r\n\r\n"
    )
    return head_lines + body


def _json_body() -> bytes:
    data = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4.1-2025-04-14",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "".join(TEXT_DELTAS),
                    "refusal": None,
                    "annotations": [],
                    "tool_calls": [
                        {
                            "id": "call_read_1",
                            "type": "function",
                            "function": {
                                "name": "read_file",
                                "arguments": "".join(ARGUMENT_DELTAS),
                            },
                        }
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
        "service_tier": "default",
        "system_fingerprint": "fp_b705f0c291",
    }
    body = json.dumps(data).encode()
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\n"
        b"x-request-id: req_bench\r\n\r\n%s" % (len(body), body)
    )


def _error(status: bytes, message: str) -> bytes:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    return b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


async def _serve(cert: str | None) -> None:
    answers = {b"sse": _sse_body(), b"json": _json_body()}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, _, header_block = head.partition(b"\r\n")
                method, target, _ = request_line.split(b" ", 2)
                length = 0
                for line in header_block.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                parts = target.split(b"/")  # b"", b"sse", b"v1", b"chat", b"completions"
                if method != b"POST" or parts[2:] != [b"v1", b"chat", b"completions"]:
                    writer.write(_error(b"404 Not Found", f"no route {target!r}"))
                elif b'"messages"' not in body or parts[1] not in answers:
                    writer.write(_error(b"400 Bad Request", "not a chat completions request"))
                else:
                    writer.write(answers[parts[1]])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client closed its connection
        except asyncio.CancelledError:
            return  # the server is stopping
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)]
    if cert is not None:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert)
        servers.append(await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls, backlog=1024))
    print(*(s.sockets[0].getsockname()[1] for s in servers), flush=True)
    stop = asyncio.get_running_loop().create_future()

    def watch_parent() -> None:  # the parent closes our stdin when it is done (or dies)
        sys.stdin.read()
        stop.get_loop().call_soon_threadsafe(stop.set_result, None)

    threading.Thread(target=watch_parent, daemon=True).start()
    await stop
    for server in servers:
        server.close()


def _certificates(directory: Path) -> tuple[Path, Path] | str:
    """A throwaway CA and a server certificate for 127.0.0.1, or why they cannot be made."""
    try:
        import certifi
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as exc:
        return f"no TLS variants: {exc}"

    now = datetime.now(UTC)

    def build(subject: str, key: Any, issuer: tuple[str, Any] | None) -> Any:
        issuer_name, issuer_key = issuer or (subject, key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if issuer is None:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=True, path_length=0), critical=True
            ).add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = build("tau bench CA", ca_key, None)
    leaf = build("127.0.0.1", server_key, ("tau bench CA", ca_key))
    pem = serialization.Encoding.PEM
    ca_file, server_file = directory / "ca.pem", directory / "server.pem"
    # The usual public roots plus this CA, so building an SSL context costs what it costs users.
    ca_file.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + ca.public_bytes(pem))
    server_file.write_bytes(
        leaf.public_bytes(pem)
        + server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, server_file


class Server:
    """The loopback server as a child process, on a plain port and (with *cert*) a TLS one."""

    def __init__(self, cert: Path | None) -> None:
        argv = [sys.executable, __file__, "--serve", *([str(cert)] if cert else [])]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ports = self.proc.stdout.readline().split()
        if not ports or not all(p.isdigit() for p in ports):
            self.close()
            raise SystemExit(f"the loopback server did not start (it printed {ports!r})")
        self.ports = [int(p) for p in ports]

    def url(self, mode: str, tls: bool) -> str:
        scheme, port = ("https", self.ports[1]) if tls else ("http", self.ports[0])
        return f"{scheme}://127.0.0.1:{port}/{mode}/v1"

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the clients ---------------------------------------------------------------------------------


def _tau_variants(
    server: Server, shared: Any, routes: list[tuple[str, bool]]
) -> dict[str, Request]:
    from tau_core._messages import Message, ModelRequest, ToolSpec
    from tau_provider._openai import openai_factory

    request = ModelRequest(
        model=MODEL,
        messages=(Message.system(SYSTEM), Message.user(USER)),
        tools=(ToolSpec(READ_FILE["name"], READ_FILE["description"], READ_FILE["parameters"]),),
        max_tokens=MAX_TOKENS,
    )

    def make(mode: str, tls: bool, http_client: Any) -> Request:
        config = {"providers.openai": {"base_url": server.url(mode, tls), "api_key": KEY}}
        provider = openai_factory(MODEL, config=config)
        provider.http_client = http_client

        async def call() -> Answer:
            response = await provider.complete(request)
            calls = tuple((c.name, c.arguments) for c in response.message.tool_calls)
            usage = response.usage
            return response.message.text, calls, usage.input_tokens, usage.output_tokens

        return call

    variants: dict[str, Request] = {}
    for mode, tls in routes:
        variants[_name("tau_default", mode, tls)] = make(mode, tls, None)
        variants[_name("tau_reused", mode, tls)] = make(mode, tls, shared)
    return variants


def _openai_variants(
    server: Server, routes: list[tuple[str, bool]], stack: contextlib.AsyncExitStack
) -> dict[str, Request] | str:
    try:
        from openai import AsyncOpenAI
    except ImportError as exc:
        return "not installed" if exc.name and exc.name.startswith("openai") else str(exc)

    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    tools = [{"type": "function", "function": READ_FILE}]

    async def ask(client: Any, stream: bool) -> Answer:
        if not stream:
            completion = await client.chat.completions.create(
                model=MODEL, messages=messages, tools=tools, max_completion_tokens=MAX_TOKENS
            )
            message = completion.choices[0].message
            calls = tuple(
                (c.function.name, json.loads(c.function.arguments))
                for c in message.tool_calls or ()
            )
            usage = completion.usage
            return message.content or "", calls, usage.prompt_tokens, usage.completion_tokens
        chunks = await client.chat.completions.create(
            model=MODEL,
            messages=messages,
            tools=tools,
            max_completion_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
        text: list[str] = []
        slots: dict[int, list[str]] = {}
        names: dict[int, str] = {}
        usage = None
        async for chunk in chunks:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                for piece in delta.tool_calls or ():
                    if piece.function is not None and piece.function.name:
                        names[piece.index] = piece.function.name
                    if piece.function is not None and piece.function.arguments:
                        slots.setdefault(piece.index, []).append(piece.function.arguments)
        calls = tuple((names[i], json.loads("".join(slots.get(i, [])))) for i in sorted(names))
        assert usage is not None
        return "".join(text), calls, usage.prompt_tokens, usage.completion_tokens

    def make(mode: str, tls: bool, fresh: bool) -> Request:
        stream = mode == "sse"
        url = server.url(mode, tls)
        reused = None if fresh else AsyncOpenAI(api_key=KEY, base_url=url)
        if reused is not None:
            stack.push_async_callback(reused.close)

        async def call() -> Answer:
            if reused is not None:
                return await ask(reused, stream)
            async with AsyncOpenAI(api_key=KEY, base_url=url) as client:
                return await ask(client, stream)

        return call

    variants: dict[str, Request] = {}
    for mode, tls in routes:
        variants[_name("openai_reused", mode, tls)] = make(mode, tls, False)
        variants[_name("openai_fresh", mode, tls)] = make(mode, tls, True)
    return variants


def _name(family: str, mode: str, tls: bool) -> str:
    return f"{family}_{mode}{'_tls' if tls else ''}"


# -- measuring -----------------------------------------------------------------------------------


async def _batch(call: Request, n: int, wall: list[float], cpu: list[float]) -> None:
    for _ in range(n):
        c0, t0 = time.process_time(), time.perf_counter()
        await call()
        t1, c1 = time.perf_counter(), time.process_time()
        wall.append(t1 - t0)
        cpu.append(c1 - c0)


def _quantiles(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples) * 1e6, 1),
        "p90": round(statistics.quantiles(samples, n=10)[-1] * 1e6, 1),
    }


async def _run(args: argparse.Namespace, server: Server, tls: bool) -> dict[str, Any]:
    import httpx

    routes = [("sse", False), ("json", False), *([("sse", True)] if tls else [])]
    result: dict[str, Any] = {}
    async with (
        contextlib.AsyncExitStack() as stack,
        httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=10.0)) as shared,
    ):
        variants = _tau_variants(server, shared, routes)
        peers = _openai_variants(server, routes, stack)
        if isinstance(peers, str):
            result["openai"] = {"error": peers}
        else:
            variants.update(peers)

        expected: Answer = (
            "".join(TEXT_DELTAS),
            (("read_file", {"path": "notes/a.txt"}),),
            USAGE["prompt_tokens"],
            USAGE["completion_tokens"],
        )
        for name, call in variants.items():  # warm-up, and the check that all agree
            for _ in range(args.warmup):
                answer = await call()
                if answer != expected:
                    raise SystemExit(f"{name} returned {answer!r}, not what the server sent")

        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        rng = random.Random(args.seed)
        order = list(variants)
        for _ in range(args.runs):
            rng.shuffle(order)
            for name in order:
                gc.collect()
                await _batch(variants[name], args.batch, wall[name], cpu[name])
    figures = {
        name: {"wall_us": _quantiles(wall[name]), "cpu_us": _quantiles(cpu[name])}
        for name in variants
    }
    result["figures"] = figures
    result["ratios_tau_over_openai"] = _ratios(figures, routes)
    result["tau_client_per_call_us"] = {
        _name("", mode, tls).lstrip("_"): {
            what: round(
                figures[_name("tau_default", mode, tls)][what]["median"]
                - figures[_name("tau_reused", mode, tls)][what]["median"],
                1,
            )
            for what in ("wall_us", "cpu_us")
        }
        for mode, tls in routes
    }
    return result


def _ratios(figures: dict[str, Any], routes: list[tuple[str, bool]]) -> dict[str, Any]:
    pairs = {
        "reused": ("tau_reused", "openai_reused"),
        "fresh": ("tau_default", "openai_fresh"),
        "default": ("tau_default", "openai_reused"),
    }
    out: dict[str, Any] = {}
    for mode, tls in routes:
        for label, (tau, peer) in pairs.items():
            key = _name(label, mode, tls)
            t, p = figures.get(_name(tau, mode, tls)), figures.get(_name(peer, mode, tls))
            if t is None or p is None:
                out[key] = None
                continue
            out[key] = {
                "pair": f"{_name(tau, mode, tls)} / {_name(peer, mode, tls)}",
                "wall_median": round(t["wall_us"]["median"] / p["wall_us"]["median"], 3),
                "wall_p90": round(t["wall_us"]["p90"] / p["wall_us"]["p90"], 3),
                "cpu_median": round(t["cpu_us"]["median"] / p["cpu_us"]["median"], 3),
            }
    return out


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30, help="rounds (default 30)")
    parser.add_argument("--batch", type=int, default=20, help="requests per variant per round")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests per variant")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-round shuffle")
    parser.add_argument("--no-tls", action="store_true", help="skip the TLS variants")
    parser.add_argument("--serve", nargs="?", const="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        asyncio.run(_serve(args.serve or None))
        return
    if args.runs < 2 or args.batch < 1 or args.warmup < 1:
        parser.error("--runs must be at least 2, --batch and --warmup at least 1")

    with tempfile.TemporaryDirectory(prefix="tau-bench-") as tmp:
        certs = "skipped (--no-tls)" if args.no_tls else _certificates(Path(tmp))
        tls_note: dict[str, Any] = {"tls": certs} if isinstance(certs, str) else {}
        if not isinstance(certs, str):
            # Both clients trust the throwaway CA the way a user adds a private one (on top of
            # the public roots); set before either builds its first SSL context.
            os.environ["SSL_CERT_FILE"] = str(certs[0])
        server = Server(None if isinstance(certs, str) else certs[1])
        try:
            result = asyncio.run(_run(args, server, tls=not isinstance(certs, str)))
        finally:
            server.close()
    print(
        json.dumps(
            {
                "benchmark": "request_overhead",
                "server": "raw asyncio HTTP/1.1 on 127.0.0.1"
                + (" (plain and TLS)" if not tls_note else "")
                + ", in a child process",
                "runs": args.runs,
                "requests_per_variant": args.runs * args.batch,
                **tls_note,
                **result,
                "ratio_meaning": "tau / openai; below 1.0 means Tau is lighter",
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "versions": {d: _version(d) for d in VERSIONS},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
