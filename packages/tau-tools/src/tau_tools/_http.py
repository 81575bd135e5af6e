"""The ``http`` tool: SSRF-safe HTTP requests with httpx.

Every target (the first URL and each redirect, at most five) is admitted by
:class:`tau_tools._ssrf.Guard` and the connection goes to the address it validated, through
:class:`tau_tools._ssrf.PinnedBackend`. The response body is capped (with a marker), the whole
call is capped in time, and binary bodies are reported, not shown. A non-2xx status is a
normal result, not a tool error: the model sees the status and the body.

Secrets granted to the tool (``secret:NAME@http``) are referenced in header values as
``${secret:NAME}``; request headers never appear in the result, headers that carried a secret
are dropped on a redirect to another origin, and secret values echoed by the server are
replaced by ``[REDACTED]``.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import re
import ssl
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpcore
import httpx

from tau_core._authority import Authority, Capability, capability_granted
from tau_core._hookcontext import ToolCallContext
from tau_core._messages import JSON, ToolResult, ToolSpec
from tau_core._redact import Redactor
from tau_core.errors import ToolError

from . import __version__
from ._ssrf import Guard, PinnedBackend, Resolver, Target, parse_target, system_resolver

__all__ = ["HttpTool"]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 256 * 1024
MAX_BYTES_LIMIT = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0
TIMEOUT_LIMIT = 300.0
_PLACEHOLDER = re.compile(r"\$\{secret:([^}]*)\}")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_MANAGED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "te", "upgrade", "trailer"}
)
_TEXT_TYPES = ("json", "xml", "javascript", "ecmascript", "x-www-form-urlencoded", "yaml", "toml")
_BINARY_TYPES = ("image/", "audio/", "video/", "font/", "model/", "application/octet-stream")

_PARAMETERS: dict[str, JSON] = {
    "type": "object",
    "required": ["url"],
    "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "description": "Absolute http:// or https:// URL."},
        "method": {"type": "string", "enum": list(METHODS), "description": "Default GET."},
        "headers": {
            "type": "object",
            "description": "Request headers; a value may use ${secret:NAME} for a granted secret.",
            "additionalProperties": {"type": "string"},
        },
        "body": {"type": "string", "description": "Request body as text."},
        "json": {"description": "Request body as JSON (instead of body)."},
        "follow_redirects": {"type": "boolean", "description": "Default true (at most 5)."},
        "max_bytes": {
            "type": "integer",
            "description": f"Response body cap; default {DEFAULT_MAX_BYTES}, at most "
            f"{MAX_BYTES_LIMIT}.",
        },
        "timeout": {
            "type": "number",
            "description": f"Seconds for the whole call; default {DEFAULT_TIMEOUT:g}, at most "
            f"{TIMEOUT_LIMIT:g}.",
        },
    },
}


def _bad(message: str, hint: str) -> ToolError:
    return ToolError(message, code="bad_arguments", hint=hint)


def _secret_names(arguments: Mapping[str, JSON]) -> list[str]:
    """Secret names the headers reference; placeholders anywhere else are refused."""
    for key in ("url", "body"):
        value = arguments.get(key)
        if isinstance(value, str) and _PLACEHOLDER.search(value):
            raise _bad(
                f"the {key!r} argument contains a ${{secret:...}} placeholder; secrets are "
                "only expanded in header values",
                'send the secret in a header, e.g. {"Authorization": "Bearer ${secret:NAME}"}',
            )
    headers = arguments.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise _bad(
            "the 'headers' argument must be an object of strings",
            'pass e.g. {"Accept": "application/json"}',
        )
    names: list[str] = []
    for value in headers.values():
        for name in _PLACEHOLDER.findall(str(value)):
            if not _SECRET_NAME.match(name):
                raise _bad(
                    f"${{secret:{name}}} does not name a secret",
                    "secret names are letters, digits, '_', '-' and '.'",
                )
            if name not in names:
                names.append(name)
    return names


def _url_arg(arguments: Mapping[str, JSON]) -> str:
    url = arguments.get("url")
    if not isinstance(url, str) or not url:
        raise _bad("the 'url' argument must be a non-empty string", "pass an absolute URL")
    return url


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """Translate httpcore's exceptions into httpx's, as httpx's own transport does."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        raise httpx.TimeoutException(str(exc)) from exc
    except httpcore.ConnectError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise httpx.TransportError(f"{type(exc).__name__}: {exc}") from exc


class _Stream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        await self._stream.aclose()


class _PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool whose sockets come from a PinnedBackend."""

    def __init__(self, backend: PinnedBackend, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, network_backend=backend, max_connections=4, retries=0
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped():
            response = await self._pool.handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Stream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


_DECODE_STEP = 64 * 1024
_MAX_CODINGS = 3


class _Layer:
    """One ``gzip`` or ``deflate`` content coding, decoded at most ``_DECODE_STEP`` bytes a step.

    Decoding in bounded steps is what keeps a compression bomb (a few hundred bytes that
    inflate to gigabytes, possibly through several stacked codings) from being inflated in
    memory before the body cap is ever checked.
    """

    def __init__(self, coding: str) -> None:
        self.deflate = coding == "deflate"
        self.started = False
        self.out = 0
        # deflate is zlib-wrapped, or raw deflate from servers that get it wrong (as in httpx)
        self.zlib = zlib.decompressobj(zlib.MAX_WBITS if self.deflate else zlib.MAX_WBITS | 16)

    def feed(self, data: bytes) -> Iterator[bytes]:
        while True:
            try:
                out = self.zlib.decompress(data, _DECODE_STEP)
            except zlib.error as exc:
                if self.deflate and not self.started:
                    self.started = True
                    self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise httpx.DecodingError(f"the body is not valid {self.kind}: {exc}") from None
            self.started = True
            data = self.zlib.unconsumed_tail
            if out:
                self.out += len(out)
                yield out
            if not data and len(out) < _DECODE_STEP:
                return

    @property
    def kind(self) -> str:
        return "deflate" if self.deflate else "gzip"


class _Decoder:
    """Decodes a response body's content codings incrementally, with bounded memory.

    Only ``gzip`` and ``deflate`` (up to three stacked) are decoded; a body with any other
    coding is passed on as received. Every layer but the last may produce at most *budget*
    bytes in all: an honest intermediate stream is hardly larger than the decoded body, so a
    layer that exceeds it means the decoded body is over the cap anyway (or is hostile).
    """

    def __init__(self, header: list[str], budget: int) -> None:
        codings = [c.strip().lower() for c in header if c.strip().lower() not in ("", "identity")]
        supported = all(c in ("gzip", "deflate") for c in codings)
        self.layers = (
            [_Layer(c) for c in reversed(codings)]
            if supported and len(codings) <= _MAX_CODINGS
            else []
        )
        self.budget = budget
        self.overflow = False

    def push(self, data: bytes, first: int = 0) -> Iterator[bytes]:
        if first == len(self.layers):
            if data:
                yield data
            return
        layer = self.layers[first]
        for piece in layer.feed(data):
            if first < len(self.layers) - 1 and layer.out > self.budget:
                self.overflow = True
                return
            yield from self.push(piece, first + 1)
            if self.overflow:
                return


def _is_binary(content_type: str, data: bytes, encoding: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind.startswith("text/") or any(t in kind for t in _TEXT_TYPES):
        return False
    if kind.startswith(_BINARY_TYPES) or b"\x00" in data[:8192]:
        return True
    try:
        codecs.getincrementaldecoder(encoding)(errors="strict").decode(data, final=False)
    except UnicodeDecodeError:
        return True
    return False


def _decode(data: bytes, encoding: str, complete: bool) -> str:
    # A cut body may end inside a multi-byte character: drop the partial tail.
    return codecs.getincrementaldecoder(encoding)(errors="replace").decode(data, final=complete)


def _peer(address: object) -> str | None:
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    host = str(address[0])
    return f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}"


class HttpTool:
    """Makes one HTTP request (following up to five validated redirects).

    Args:
        resolver: Resolves host names (default: the event loop's ``getaddrinfo``); tests pass a
            stub. Validation and connection use the same answer.
        network_backend: The httpcore backend that opens sockets, behind the pinning backend
            (default: httpcore's anyio backend).
    """

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.resolver: Resolver = resolver if resolver is not None else system_resolver
        self.network_backend = network_backend
        self._ssl: ssl.SSLContext | None = None
        self.spec = ToolSpec(
            "http",
            "Make an HTTP(S) request and return status, headers and body (text bodies only, "
            "capped). Private, loopback and metadata addresses are blocked unless granted; "
            "redirects are followed (at most 5) and checked again. Non-2xx statuses are "
            "returned normally. Reference granted secrets in header values as ${secret:NAME}.",
            _PARAMETERS,
            side_effect="network",
            capabilities=("net", "secret"),
            idempotent=False,
        )

    def capabilities(self, arguments: Mapping[str, JSON], workdir: Path) -> list[Capability]:
        """``net:HOST:PORT`` for the URL, and ``secret:NAME@http`` for every placeholder."""
        target = parse_target(_url_arg(arguments))
        caps = [target.capability]
        caps.extend(
            Capability("secret", f"{name}@{self.spec.name}") for name in _secret_names(arguments)
        )
        return caps

    def _headers(
        self, arguments: Mapping[str, JSON], context: ToolCallContext, authority: Authority
    ) -> tuple[dict[str, str], set[str]]:
        """Expand placeholders; return the headers and the names of those that carry secrets."""
        for name in _secret_names(arguments):
            cap = Capability("secret", f"{name}@{self.spec.name}")
            if name not in context.secrets or not capability_granted(
                authority, cap, context.workdir
            ):
                raise ToolError(
                    f"${{secret:{name}}} names a secret that is not granted to the http tool",
                    code="secret_not_granted",
                    hint=f"this needs the grant secret:{name}@{self.spec.name}",
                )
        headers: dict[str, str] = {}
        carrying: set[str] = set()
        for key, raw in dict(arguments.get("headers") or {}).items():
            value = str(raw)
            if not _HEADER_NAME.match(key) or key.lower() in _MANAGED_HEADERS:
                raise _bad(
                    f"header {key!r} cannot be set: it is not a header name or is managed by "
                    "the client",
                    f"leave out {', '.join(sorted(_MANAGED_HEADERS))}",
                )
            expanded = _PLACEHOLDER.sub(lambda m: context.secrets[m.group(1)], value)
            if any(c in expanded for c in "\r\n\x00"):
                raise _bad(
                    f"the value of header {key!r} contains a line break or NUL",
                    "send one header per key, on one line",
                )
            if expanded != value:
                carrying.add(key.lower())
            headers[key] = expanded
        return headers, carrying

    async def run(self, arguments: Mapping[str, JSON], context: ToolCallContext) -> ToolResult:
        """Make the request; see the module docs for the rules."""
        url = _url_arg(arguments)
        method = str(arguments.get("method") or "GET").upper()
        if method not in METHODS:
            raise _bad(f"method {method!r} is not allowed", f"use one of {', '.join(METHODS)}")
        if "body" in arguments and "json" in arguments:
            raise _bad("both 'body' and 'json' were given", "pass either 'body' or 'json'")
        max_bytes = arguments.get("max_bytes", DEFAULT_MAX_BYTES)
        if type(max_bytes) is not int or not 0 < max_bytes <= MAX_BYTES_LIMIT:
            raise _bad(
                f"max_bytes={max_bytes!r} is out of range",
                f"pass an integer from 1 to {MAX_BYTES_LIMIT}",
            )
        timeout = arguments.get("timeout", DEFAULT_TIMEOUT)
        if type(timeout) not in (int, float) or not 0 < timeout <= TIMEOUT_LIMIT:
            raise _bad(
                f"timeout={timeout!r} is out of range",
                f"pass a number of seconds above 0 and at most {TIMEOUT_LIMIT:g}",
            )
        authority = context.authority if context.authority is not None else Authority()
        target = parse_target(url)
        headers, carrying = self._headers(arguments, context, authority)
        if not any(k.lower() == "accept-encoding" for k in headers):
            headers["Accept-Encoding"] = "identity"  # no decompression bombs by default
        guard = Guard(authority, context.workdir, self.resolver)
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()
        transport = _PinnedTransport(PinnedBackend(guard.pins, self.network_backend), self._ssl)
        client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(float(timeout)),
            headers={"User-Agent": f"tau-tools/{__version__}"},
        )
        request = client.build_request(
            method,
            target.url,
            headers=headers,
            content=arguments.get("body"),
            json=arguments.get("json"),
        )
        follow = arguments.get("follow_redirects", True) is not False
        try:
            async with client, asyncio.timeout(float(timeout)):
                content = await self._exchange(
                    client, guard, request, target, carrying, follow=follow, max_bytes=max_bytes
                )
        except TimeoutError:
            raise ToolError(
                f"{method} {url} did not complete within {timeout:g}s",
                code="timeout",
                hint="raise 'timeout', or ask for less data",
            ) from None
        except httpx.TimeoutException as exc:
            raise ToolError(
                f"{method} {url} timed out: {exc}", code="timeout", hint="raise 'timeout'"
            ) from None
        except httpx.ConnectError as exc:
            raise ToolError(
                f"could not connect for {method} {url}: {exc}",
                code="connect_failed",
                hint="check that the server is up and the URL is right",
            ) from None
        except httpx.HTTPError as exc:
            raise ToolError(
                f"{method} {url} failed: {exc}", code="http_error", hint="check the URL"
            ) from None
        content = Redactor(tuple(context.secrets.values())).obj(content)
        metadata = {k: content[k] for k in ("status", "bytes", "truncated", "binary", "peer")}
        metadata["redirects"] = len(content["redirects"])
        return ToolResult(context.call.id, self.spec.name, content, metadata=metadata)

    async def _exchange(
        self,
        client: httpx.AsyncClient,
        guard: Guard,
        request: httpx.Request,
        target: Target,
        carrying: set[str],
        *,
        follow: bool,
        max_bytes: int,
    ) -> dict[str, JSON]:
        redirects: list[dict[str, JSON]] = []
        await guard.admit(target)
        while True:
            response = await client.send(request, stream=True)
            nxt = response.next_request
            if not follow or nxt is None:
                return await self._render(request, response, redirects, max_bytes)
            await response.aclose()
            location = response.headers.get("location", "")
            if len(redirects) == MAX_REDIRECTS:
                raise ToolError(
                    f"{request.url} redirected more than {MAX_REDIRECTS} times "
                    f"(the last Location was {location!r})",
                    code="too_many_redirects",
                    hint="call the final URL directly, or pass follow_redirects=false",
                )
            redirects.append({"status": response.status_code, "url": str(request.url)})
            try:
                new_target = parse_target(nxt.url)
                await guard.admit(new_target)
            except ToolError as exc:
                raise ToolError(
                    f"redirect from {request.url} to {location!r} refused: {exc}",
                    code=exc.code,
                    hint=exc.hint,
                ) from None
            if new_target.origin != target.origin:
                for name in carrying:
                    nxt.headers.pop(name, None)
            request, target = nxt, new_target

    async def _render(
        self,
        request: httpx.Request,
        response: httpx.Response,
        redirects: list[dict[str, JSON]],
        max_bytes: int,
    ) -> dict[str, JSON]:
        stream = response.extensions.get("network_stream")
        peer = stream.get_extra_info("server_addr") if stream is not None else None
        chunks: list[bytes] = []
        size, truncated = 0, False
        # The cap applies to the decoded body, and decoding itself is bounded: httpx's own
        # decoders inflate a whole network chunk at once, however far it expands.
        decoder = _Decoder(
            response.headers.get_list("content-encoding", split_commas=True),
            budget=2 * max_bytes + _DECODE_STEP,
        )
        try:
            async for raw in response.aiter_raw():
                for chunk in decoder.push(raw):
                    if size + len(chunk) > max_bytes:
                        chunks.append(chunk[: max_bytes - size])
                        truncated = True
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                if truncated or decoder.overflow:
                    truncated = True
                    break
        finally:
            await response.aclose()
        data = b"".join(chunks)
        content_type = response.headers.get("content-type", "")
        encoding = response.charset_encoding or "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            encoding = "utf-8"
        binary = bool(data) and _is_binary(content_type, data, encoding)
        body: str | None
        if binary:
            body = None
        else:
            body = _decode(data, encoding, complete=not truncated)
            if truncated:
                body += (
                    f"\n[truncated: only the first {max_bytes} bytes of the body are shown; "
                    f"raise max_bytes (at most {MAX_BYTES_LIMIT}) to see more]"
                )
        out: dict[str, JSON] = {
            "method": request.method,
            "url": str(request.url),
            "status": response.status_code,
            "reason": response.reason_phrase,
            "headers": {k: ", ".join(response.headers.get_list(k)) for k in response.headers},
            "redirects": redirects,
            "content_type": content_type,
            "bytes": len(data),
            "truncated": truncated,
            "binary": binary,
            "body": body,
            "peer": _peer(peer),
        }
        if binary:
            out["note"] = (
                f"binary body ({content_type or 'no content type'}, {len(data)} bytes"
                f"{' received before the cap' if truncated else ''}) not shown"
            )
        return out
