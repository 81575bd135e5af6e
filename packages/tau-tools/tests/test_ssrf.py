"""SSRF: 200+ vectors blocked, redirects re-checked, rebinding defeated, public addresses allowed.

Every vector runs through the real ``http`` tool under an authority that core allows
(``net:*`` plus the canary's port), so the refusal is the tool's own. The attacker controls
DNS here: every name the stub resolver does not know resolves to 127.0.0.1. A canary listens
on loopback addresses (127.0.0.1, 127.0.0.2, ::1) at the port most vectors aim at, and a
recording network backend sits behind the pinning backend: neither may see a connection.
"""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import selectors
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpcore
import pytest

from tau_core._authority import Authority, check_capabilities
from tau_core._hookcontext import ToolCallContext
from tau_core._messages import ToolCall
from tau_core.errors import ToolError
from tau_tools._http import HttpTool
from tau_tools._ssrf import Guard, PinnedBackend, address_block, ip_text, parse_target

PUBLIC = "93.184.216.34"
TEREDO_LOOPBACK = "2001:0:4136:e378:8000:63bf:80ff:fffe"  # client 127.0.0.1, obfuscated


class Canary:
    """Listening sockets on loopback addresses, all on one port, recording every accept."""

    def __init__(self) -> None:
        self.hits: list[tuple[Any, ...]] = []
        first = socket.create_server(("127.0.0.1", 0))
        self.port = first.getsockname()[1]
        self.socks = [first]
        for host, family in (("127.0.0.2", socket.AF_INET), ("::1", socket.AF_INET6)):
            try:
                self.socks.append(socket.create_server((host, self.port), family=family))
            except OSError:
                continue
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            for s in self.socks:
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    conn, peer = key.fileobj.accept()  # type: ignore[union-attr]
                    self.hits.append((conn.getsockname(), peer))
                    conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.socks:
            s.close()


class Recorder(httpcore.AsyncNetworkBackend):
    """A network backend that records what it is asked to connect to.

    By default it never connects; with ``passthrough=True`` it opens the real socket, so a
    validation bug would reach the canary.
    """

    def __init__(self, *, passthrough: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.inner = httpcore.AnyIOBackend() if passthrough else None

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((host, port))
        if self.inner is not None:
            return await self.inner.connect_tcp(host, port, *args, **kwargs)
        raise httpcore.ConnectError(f"recorder: not connecting to {host}:{port}")

    async def connect_unix_socket(self, path: str, *args: Any, **kwargs: Any) -> Any:
        raise httpcore.ConnectError("recorder")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


ATTACKER_DNS: dict[str, list[str]] = {
    "example.com": [PUBLIC],
    "meta.example": ["169.254.169.254"],
    "alibaba.example": ["100.100.100.200"],
    "aws6.example": ["fd00:ec2::254"],
    "mixed.example": [PUBLIC, "127.0.0.1"],
    "mixed6.example": ["2606:2800:220:1:248:1893:25c8:1946", "::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
    "sixtofour.example": ["2002:c0a8:1::1"],
    "teredo.example": [TEREDO_LOOPBACK],
    "zone.example": ["fe80::1%eth0"],
    "private.example": ["10.1.2.3"],
    "private172.example": ["172.20.0.5"],
    "private192.example": ["192.168.49.2"],
    "cgnat.example": ["100.64.1.1"],
    "zero.example": ["0.0.0.0"],  # noqa: S104 - an answer to block, not a bind address
    "bcast.example": ["255.255.255.255"],
    "mcast.example": ["224.0.0.251"],
    "docs.example": ["192.0.2.10"],
    "bench.example": ["198.18.5.5"],
    "ula.example": ["fd12:3456::1"],
    "linklocal.example": ["169.254.1.1"],
    "reserved.example": ["240.1.2.3"],
    "v6loop.example": ["::1"],
    "later-private.example": ["8.8.8.8", "8.8.4.4", "192.168.0.1"],
    "empty.example": [],
    "garbage.example": ["not-an-address"],
}


async def attacker_resolver(host: str, port: int) -> Sequence[str]:
    if host == "nxdomain.example":
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return ATTACKER_DNS.get(host, ["127.0.0.1"])


V4_LOOPBACK_FORMS = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0X7F000001", "0x7f.1",
    "0x7f.0.0.1", "0x7f.0x0.0x0.0x1", "0177.1", "0177.0.1", "017700000001", "0177.0x0.1",
    "127.0.0.1.", "127.1.", "127.0.0.2", "127.127.127.127", "127.255.255.254", "2130706434",
    "0x7f.0xff.0xff.0xfe", "127。0。0。1", "0x7f",
]  # fmt: skip
V4_SPECIAL = [
    "0", "0.0.0.0", "0x0",  # noqa: S104 - addresses to block, not bind addresses "00", "0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "012.1",
    "167772161", "172.16.0.1", "172.31.255.254", "0xac.0x10.0.1", "192.168.0.1",
    "192.168.1.1", "3232235777", "0xc0a80101", "100.64.0.1", "100.127.255.254",
    "100.100.100.200", "169.254.0.1", "169.254.169.254", "169.254.170.2", "169.254.169.253",
    "2852039166", "0xa9fea9fe", "0251.0376.0xa9.0376", "0xA9.0xFE.0xA9.0xFE", "169.254.43518",
    "169.16689662", "192.0.0.1", "192.0.0.170", "192.0.0.192", "192.0.2.1", "198.51.100.7",
    "203.0.113.9", "198.18.0.1", "198.19.255.255", "192.88.99.1", "224.0.0.1",
    "239.255.255.250", "240.0.0.1", "255.255.255.255", "4294967295",
]  # fmt: skip
V6_BLOCKED = [
    "::1", "0:0:0:0:0:0:0:1", "0000::1", "::0001", "::", "::0", "0:0:0:0:0:0:0:0",
    "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:127.0.0.1", "::FFFF:7F00:0001",
    "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "::ffff:0.0.0.0",
    "::ffff:255.255.255.255", "::ffff:192.168.0.1", "::ffff:0:7f00:1", "::ffff:0:127.0.0.1",
    "::127.0.0.1", "::7f00:1", "::8.8.8.8", "64:ff9b::7f00:1", "64:ff9b::127.0.0.1",
    "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "64:ff9b:1::1", "2002:7f00:1::",
    "2002:7f00:0001::1", "2002:a9fe:a9fe::1", "2002:c0a8:0101::1", "2002:0a00:0001::",
    TEREDO_LOOPBACK, "2001:0:4136:e378:8000:63bf:f5ff:fffe", "fe80::1", "fe80::abcd:1234",
    "fc00::1", "fd00::1", "fd00:ec2::254", "fd00:ec2::23", "fec0::1", "ff02::1", "ff05::1:3",
    "2001:db8::1", "3fff::1", "100::1", "2001:2::1", "2001:10::1", "2001:20::1", "5f00::1",
]  # fmt: skip
BLOCKED_NAMES = [
    "localhost", "LOCALHOST", "localhost.", "LocalHost.", "a.localhost", "foo.bar.localhost",
    "bücher.localhost", "xn--bcher-kva.localhost", "localhost.localdomain", "ip6-localhost",
    "ip6-loopback", "localhost6", "broadcasthost", "metadata", "metadata.google.internal",
    "METADATA.GOOGLE.INTERNAL.", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.internal", "metadata.tencentyun.com", "metadata.platformequinix.com",
    "kubernetes.default.svc.cluster.local", "db.internal", "printer.local", "router.home.arpa",
    "intranet", "wpad", "host_underscore",
]  # fmt: skip
RESOLVED_BLOCKED = [
    "evil.com", "EVIL.COM.", "127.0.0.1.nip.io", "localtest.me", "bücher.example",
    "spoofed.burpcollaborator.net", "meta.example", "alibaba.example", "aws6.example",
    "mixed.example", "mixed6.example", "mapped.example", "nat64.example", "sixtofour.example",
    "teredo.example", "zone.example", "private.example", "private172.example",
    "private192.example", "cgnat.example", "zero.example", "bcast.example", "mcast.example",
    "docs.example", "bench.example", "ula.example", "linklocal.example", "reserved.example",
    "v6loop.example", "later-private.example",
]  # fmt: skip

VECTORS: list[tuple[str, str]] = [
    *((f"http://{h}:{{p}}/", "blocked_address") for h in V4_LOOPBACK_FORMS),
    *((f"http://{h}:{{p}}/", "blocked_address") for h in V4_SPECIAL),
    *((f"http://[{h}]:{{p}}/", "blocked_address") for h in V6_BLOCKED),
    *((f"http://{h}:{{p}}/", "blocked_host") for h in BLOCKED_NAMES),
    *((f"http://{h}:{{p}}/", "blocked_address") for h in RESOLVED_BLOCKED),
    # the same targets in other spellings and positions
    ("HTTP://127.0.0.1:{p}/", "blocked_address"),
    ("hTtPs://127.0.0.1:{p}/", "blocked_address"),
    ("http://127.0.0.1:{p}/?@evil.com", "blocked_address"),
    ("http://127.0.0.1:{p}#@evil.com", "blocked_address"),
    ("http://127.0.0.1:{p}/%2e%2e/", "blocked_address"),
    ("http://@127.0.0.1:{p}/", "blocked_address"),
    ("http://evil.com#@127.0.0.1:{p}/", "blocked_address"),
    ("http://evil.com?@127.0.0.1:{p}/", "blocked_address"),
    ("http://127.0.0.1/", "blocked_address"),
    ("http://[::1]/", "blocked_address"),
    ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "blocked_address"),
    ("http://metadata.google.internal/computeMetadata/v1/", "blocked_host"),
    ("http://100.100.100.200/latest/meta-data/", "blocked_address"),
    ("hTtP://LoCaLhOsT:{p}/", "blocked_host"),
    # numbers that are no address
    ("http://0177.0.0.1:{p}/", "bad_url"),
    ("http://127.000.000.001:{p}/", "bad_url"),
    ("http://08.0.0.1:{p}/", "bad_url"),
    ("http://1.2.3.4.5:{p}/", "bad_url"),
    ("http://127.0.0.1.1:{p}/", "bad_url"),
    ("http://0x100.0.0.1:{p}/", "bad_url"),
    ("http://4294967296:{p}/", "bad_url"),
    ("http://0x7g.1:{p}/", "bad_url"),
    ("http://127..0.1:{p}/", "bad_url"),
    ("http://127.0.0.1..:{p}/", "bad_url"),
    ("http://example.123:{p}/", "bad_url"),
    ("http://[127.0.0.1]:{p}/", "bad_url"),
    ("http://[fe80::1%25eth0]:{p}/", "bad_url"),
    ("http://[::1%25lo]:{p}/", "bad_url"),
    ("http://[::1/", "bad_url"),
    # userinfo and backslash tricks
    ("http://evil.com@127.0.0.1:{p}/", "bad_url"),
    ("http://user:pass@127.0.0.1:{p}/", "bad_url"),
    ("http://127.0.0.1:{p}@evil.com/", "bad_url"),
    ("http://evil.com:80@127.0.0.1:{p}/", "bad_url"),
    ("http://:@127.0.0.1:{p}/", "bad_url"),
    ("http://localhost%2f@evil.com/", "bad_url"),
    ("http://127.0.0.1%2509@evil.com/", "bad_url"),
    ("http://127.0.0.1:{p}\\@evil.com/", "bad_url"),
    ("http://evil.com\\@127.0.0.1:{p}/", "bad_url"),
    ("http:\\\\127.0.0.1:{p}\\", "bad_url"),
    ("http://127.0.0.1:{p}\\x", "bad_url"),
    # whitespace, control characters, percent-encoded and odd Unicode hosts
    ("http://127.0.0.1 :{p}/", "bad_url"),
    (" http://127.0.0.1:{p}/", "bad_url"),
    ("http://127.0.0.1:{p}/ ", "bad_url"),
    ("http://127.0.0.1\t:{p}/", "bad_url"),
    ("http://127.0.0.1:{p}/\r\nX-Injected: 1", "bad_url"),
    ("http://127.0.0.1\x00.evil.com:{p}/", "bad_url"),
    ("http://evil.com\x00@127.0.0.1:{p}/", "bad_url"),
    ("http://127.0.0.1:{p}/\x7f", "bad_url"),
    ("http://\u00a0127.0.0.1:{p}/", "bad_url"),
    ("http://127.0.0.1\u3000:{p}/", "bad_url"),
    ("http://%31%32%37.0.0.1:{p}/", "bad_url"),
    ("http://127.0.0.%31:{p}/", "bad_url"),
    ("http://127.0.0.1%00.evil.com:{p}/", "bad_url"),
    ("http://%6c%6f%63%61%6c%68%6f%73%74:{p}/", "bad_url"),
    ("http://[::1%2525]:{p}/", "bad_url"),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{p}/", "bad_url"),
    ("http://ｌｏｃａｌｈｏｓｔ:{p}/", "bad_url"),
    ("http://locaⅼhost:{p}/", "bad_url"),
    ("http://①②⑦.0.0.1:{p}/", "bad_url"),
    ("http:127.0.0.1:{p}/", "bad_url"),
    ("http:/127.0.0.1:{p}/", "bad_url"),
    ("http:///127.0.0.1:{p}/", "bad_url"),
    ("http://:{p}/", "bad_url"),
    ("http://a..b:{p}/", "bad_url"),
    # schemes
    ("//127.0.0.1:{p}/", "scheme_not_allowed"),
    ("127.0.0.1:{p}", "scheme_not_allowed"),
    ("localhost:{p}", "scheme_not_allowed"),
    ("file:///etc/passwd", "scheme_not_allowed"),
    ("file://127.0.0.1/etc/passwd", "scheme_not_allowed"),
    ("FILE:///etc/passwd", "scheme_not_allowed"),
    ("gopher://127.0.0.1:{p}/_GET%20/", "scheme_not_allowed"),
    ("dict://127.0.0.1:{p}/info", "scheme_not_allowed"),
    ("ftp://127.0.0.1:{p}/", "scheme_not_allowed"),
    ("sftp://127.0.0.1:{p}/", "scheme_not_allowed"),
    ("tftp://127.0.0.1:{p}/x", "scheme_not_allowed"),
    ("ldap://127.0.0.1:{p}/", "scheme_not_allowed"),
    ("ws://127.0.0.1:{p}/", "scheme_not_allowed"),
    ("wss://127.0.0.1:{p}/", "scheme_not_allowed"),
    ("redis://127.0.0.1:{p}/", "scheme_not_allowed"),
    ("jar:http://127.0.0.1:{p}!/", "scheme_not_allowed"),
    ("netdoc:///etc/passwd", "scheme_not_allowed"),
    ("javascript:alert(1)", "scheme_not_allowed"),
    ("data:text/plain,hi", "scheme_not_allowed"),
    ("mailto:root@127.0.0.1", "scheme_not_allowed"),
    ("unix:/var/run/docker.sock", "scheme_not_allowed"),
    ("http+unix://%2Fvar%2Frun%2Fdocker.sock/info", "scheme_not_allowed"),
    ("hxxp://127.0.0.1:{p}/", "scheme_not_allowed"),
    # ports
    ("http://example.com:22/", "port_not_allowed"),
    ("http://example.com:25/", "port_not_allowed"),
    ("http://example.com:6379/", "port_not_allowed"),
    ("http://example.com:11211/", "port_not_allowed"),
    ("http://example.com:2375/", "port_not_allowed"),
    ("http://example.com:5432/", "port_not_allowed"),
    ("http://example.com:8080/", "port_not_allowed"),
    ("http://example.com:65535/", "port_not_allowed"),
    ("https://example.com:8443/", "port_not_allowed"),
    (f"http://{PUBLIC}:3306/", "port_not_allowed"),
    ("http://[2606:2800:220:1:248:1893:25c8:1946]:9200/", "port_not_allowed"),
    ("http://example.com:0/", "bad_url"),
    ("http://example.com:65536/", "bad_url"),
    ("http://example.com:-1/", "bad_url"),
    # resolution that fails
    ("http://empty.example/", "dns_failed"),
    ("http://garbage.example/", "dns_failed"),
    ("http://nxdomain.example/", "dns_failed"),
]


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


def _context(tool: HttpTool, args: dict[str, Any], authority: Authority, workdir: Path) -> Any:
    call = ToolCall("call-1", "http", args)
    return ToolCallContext(
        call=call,
        spec=tool.spec,
        run_id="run-1",
        workdir=workdir,
        idempotency_key="run-1:1:call-1",
        tool=tool,
        authority=authority,
    )


async def _attempt(tool: HttpTool, url: str, authority: Authority, workdir: Path) -> ToolError:
    args: dict[str, Any] = {"url": url, "timeout": 5}
    try:
        needed = tool.capabilities(args, workdir)
    except ToolError as exc:
        return exc
    decision = check_capabilities(authority, "call-1", "http", needed, workdir)
    assert decision.allowed, decision  # core lets it through: the refusal is the tool's own
    try:
        result = await tool.run(args, _context(tool, args, authority, workdir))
    except ToolError as exc:
        return exc
    raise AssertionError(f"{url!r} was fetched: {result.content!r}")


def test_canary_listens_and_records(canary: Canary) -> None:
    assert len(canary.socks) >= 2  # 127.0.0.1 and 127.0.0.2 at least (and ::1 when available)
    before = len(canary.hits)
    with socket.create_connection(("127.0.0.2", canary.port), timeout=5):
        pass
    for _ in range(100):
        if len(canary.hits) > before:
            break
        threading.Event().wait(0.02)
    assert canary.hits[before][0][0] == "127.0.0.2"
    del canary.hits[before:]


def test_there_are_at_least_200_vectors() -> None:
    assert len(VECTORS) >= 200
    assert len({url for url, _ in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize(("url", "code"), VECTORS)
def test_ssrf_vector_is_blocked(url: str, code: str, canary: Canary, tmp_path: Path) -> None:
    url = url.replace("{p}", str(canary.port))
    recorder = Recorder(passthrough=True)
    tool = HttpTool(resolver=attacker_resolver, network_backend=recorder)
    authority = Authority.parse(["net:*", f"net:*:{canary.port}"])
    error = asyncio.run(_attempt(tool, url, authority, tmp_path))
    assert error.code == code, f"{url!r}: [{error.code}] {error}"
    assert error.hint
    assert recorder.calls == []
    assert canary.hits == []


class _Redirector(http.server.BaseHTTPRequestHandler):
    """``/to?URL`` answers 302 to URL; everything else 200."""

    def do_GET(self) -> None:
        if self.path.startswith("/to?"):
            self.send_response(302)
            self.send_header("Location", self.path[4:])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"granted server"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def redirector() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()
    thread.join(5)


REDIRECT_TARGETS = [
    ("http://127.0.0.2:{c}/", "blocked_address"),
    ("http://127.0.0.1:{c}/", "blocked_address"),
    ("http://[::1]:{c}/", "blocked_address"),
    ("http://2130706434:{c}/", "blocked_address"),
    ("http://localhost:{c}/", "blocked_host"),
    ("http://evil.com:{c}/", "blocked_address"),
    ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
    ("http://[fd00:ec2::254]/", "blocked_address"),
    ("http://metadata.google.internal/", "blocked_host"),
    ("http://meta.example/", "blocked_address"),
    ("http://127.0.0.1:22/", "port_not_allowed"),
    ("file:///etc/passwd", "scheme_not_allowed"),
    ("gopher://127.0.0.1:{c}/", "scheme_not_allowed"),
    ("http://evil.com@127.0.0.1:{c}/", "bad_url"),
]


@pytest.mark.parametrize(("location", "code"), REDIRECT_TARGETS)
def test_redirect_from_granted_loopback_server_to_blocked_target_is_refused(
    location: str, code: str, redirector: int, canary: Canary, tmp_path: Path
) -> None:
    location = location.replace("{c}", str(canary.port))
    # The granted server is named exactly; the rest only through wildcards, which unblock nothing.
    authority = Authority.parse([f"net:127.0.0.1:{redirector}", "net:*", f"net:*:{canary.port}"])
    tool = HttpTool(resolver=attacker_resolver)
    url = f"http://127.0.0.1:{redirector}/to?{location}"
    error = asyncio.run(_attempt(tool, url, authority, tmp_path))
    assert error.code == code, f"{location!r}: [{error.code}] {error}"
    assert "redirect" in str(error)
    assert canary.hits == []


def test_redirect_to_a_target_no_grant_covers_is_refused(
    redirector: int, canary: Canary, tmp_path: Path
) -> None:
    authority = Authority.parse([f"net:127.0.0.1:{redirector}"])
    tool = HttpTool(resolver=attacker_resolver)
    url = f"http://127.0.0.1:{redirector}/to?http://127.0.0.2:{canary.port}/"
    error = asyncio.run(_attempt(tool, url, authority, tmp_path))
    assert error.code == "not_granted"
    assert f"net:127.0.0.2:{canary.port}" in str(error)
    assert canary.hits == []


def test_the_granted_server_itself_is_reached(redirector: int, tmp_path: Path) -> None:
    # Control for the redirect tests: the same server and grants, without the redirect.
    authority = Authority.parse([f"net:127.0.0.1:{redirector}", "net:*"])
    tool = HttpTool(resolver=attacker_resolver)
    args = {"url": f"http://127.0.0.1:{redirector}/"}
    result = asyncio.run(tool.run(args, _context(tool, args, authority, tmp_path)))
    assert (result.content["status"], result.content["body"]) == (200, "granted server")
    assert result.content["peer"] == f"127.0.0.1:{redirector}"


class Rebinder:
    """Answers a public address first and loopback on every later lookup."""

    def __init__(self, first: list[str]) -> None:
        self.first = first
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.first if len(self.lookups) == 1 else ["127.0.0.1"]


def test_dns_rebinding_connects_to_the_validated_address_only(
    canary: Canary, tmp_path: Path
) -> None:
    rebinder, recorder = Rebinder([PUBLIC]), Recorder()
    tool = HttpTool(resolver=rebinder, network_backend=recorder)
    authority = Authority.parse(["net:*"])
    error = asyncio.run(_attempt(tool, "http://rebind.example/", authority, tmp_path))
    assert error.code == "connect_failed"  # the recorder refuses to open sockets
    assert rebinder.lookups == ["rebind.example"]  # one lookup: validation and connection share it
    assert recorder.calls == [(PUBLIC, 80)]
    assert canary.hits == []


def test_dns_rebinding_that_answers_loopback_first_never_connects(
    canary: Canary, tmp_path: Path
) -> None:
    rebinder, recorder = Rebinder(["127.0.0.1"]), Recorder()
    tool = HttpTool(resolver=rebinder, network_backend=recorder)
    error = asyncio.run(
        _attempt(tool, "http://rebind.example/", Authority.parse(["net:*"]), tmp_path)
    )
    assert error.code == "blocked_address"
    assert (rebinder.lookups, recorder.calls, canary.hits) == (["rebind.example"], [], [])


def test_guard_resolves_each_host_once_per_call(tmp_path: Path) -> None:
    rebinder = Rebinder([PUBLIC])
    guard = Guard(Authority.parse(["net:*"]), tmp_path, rebinder)
    target = parse_target("http://rebind.example/a")
    first = asyncio.run(guard.admit(target))
    again = asyncio.run(guard.admit(parse_target("http://rebind.example/b")))
    assert first == again == (PUBLIC,)
    assert rebinder.lookups == ["rebind.example"]


class _TLSProbe:
    def __init__(self) -> None:
        self.server_hostname: str | None = None

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: Any = None
    ) -> Any:
        self.server_hostname = server_hostname
        raise httpcore.ConnectError("probe: TLS stops here")

    async def aclose(self) -> None:
        return

    def get_extra_info(self, info: str) -> Any:
        return None


class _TLSRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.stream = _TLSProbe()

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((host, port))
        return self.stream


def test_tls_connects_to_the_pinned_address_with_the_host_name_for_sni(tmp_path: Path) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        return [PUBLIC]

    backend = _TLSRecorder()
    tool = HttpTool(resolver=resolver, network_backend=backend)
    error = asyncio.run(
        _attempt(tool, "https://www.example.org/", Authority.parse(["net:*"]), tmp_path)
    )
    assert error.code == "connect_failed"
    assert backend.calls == [(PUBLIC, 443)]
    assert backend.stream.server_hostname == "www.example.org"


def test_pinned_backend_refuses_hosts_that_were_not_validated() -> None:
    recorder = Recorder()
    backend = PinnedBackend({("good.example", 80): (PUBLIC,)}, recorder)
    with pytest.raises(httpcore.ConnectError, match="not validated"):
        asyncio.run(backend.connect_tcp("evil.example", 80))
    with pytest.raises(httpcore.ConnectError, match="not validated"):
        asyncio.run(backend.connect_tcp("good.example", 8080))
    with pytest.raises(httpcore.ConnectError, match="unix"):
        asyncio.run(backend.connect_unix_socket("/var/run/docker.sock"))
    assert recorder.calls == []
    with pytest.raises(httpcore.ConnectError, match="recorder"):
        asyncio.run(backend.connect_tcp("good.example", 80))
    assert recorder.calls == [(PUBLIC, 80)]


PUBLIC_ADDRESSES = [
    "8.8.8.8", "1.1.1.1", "1.0.0.1", PUBLIC, "142.250.0.1", "151.101.1.69", "104.16.0.1",
    "13.32.0.1", "52.95.110.1", "9.255.255.255", "11.0.0.1", "100.63.255.255", "100.128.0.1",
    "126.255.255.255", "128.0.0.1", "169.253.255.255", "169.255.0.1", "172.15.255.255",
    "172.32.0.1", "192.0.1.1", "192.0.3.1", "192.88.98.1", "192.167.255.255", "192.169.0.1",
    "198.17.255.255", "198.20.0.1", "198.51.99.1", "203.0.112.255", "203.0.114.1",
    "223.255.255.254", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1",
    "2620:fe::fe", "2400:cb00::1", "2001:db9::1", "2001:3::1", "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1", "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
]  # fmt: skip


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_address_is_allowed_and_pinned(address: str, tmp_path: Path) -> None:
    assert address_block(ipaddress.ip_address(address)) is None
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [address]

    guard = Guard(Authority.parse(["net:*"]), tmp_path, resolver)
    assert asyncio.run(guard.admit(parse_target("https://service.example.net/v1"))) == (address,)
    assert guard.pins == {("service.example.net", 443): (address,)}
    assert lookups == ["service.example.net"]
    literal = f"[{address}]" if ":" in address else address
    assert asyncio.run(guard.admit(parse_target(f"http://{literal}/"))) == (
        ip_text(ipaddress.ip_address(address)),
    )
    assert lookups == ["service.example.net"]  # a literal address is never resolved


def test_a_name_with_several_public_addresses_pins_them_all(tmp_path: Path) -> None:
    answers = ["8.8.8.8", "8.8.4.4", "2001:4860:4860::8888"]

    async def resolver(host: str, port: int) -> list[str]:
        return answers

    guard = Guard(Authority.parse(["net:*"]), tmp_path, resolver)
    assert asyncio.run(guard.admit(parse_target("http://dns.example/"))) == tuple(answers)


@pytest.mark.parametrize(
    ("url", "netloc"),
    [
        ("http://Example.COM/x", "example.com:80"),
        ("https://example.com./", "example.com:443"),
        ("http://bücher.de:8080/", "xn--bcher-kva.de:8080"),
        ("http://2130706433/", "127.0.0.1:80"),
        ("http://0x7f.1:8080/", "127.0.0.1:8080"),
        ("http://[::FFFF:7F00:1]/", "[::ffff:127.0.0.1]:80"),
        ("https://[2606:4700:4700:0::1111]:443/", "[2606:4700:4700::1111]:443"),
        ("http://example.com:443/", "example.com:443"),
    ],
)
def test_capability_names_the_normalised_host_and_port(url: str, netloc: str) -> None:
    caps = HttpTool().capabilities({"url": url}, Path("/"))
    assert [str(c) for c in caps] == [f"net:{netloc}"]


def _granted(grants: list[str], url: str, resolver: Any, tmp_path: Path) -> Any:
    guard = Guard(Authority.parse(grants), tmp_path, resolver)
    try:
        return asyncio.run(guard.admit(parse_target(url)))
    except ToolError as exc:
        return exc.code


def test_only_a_grant_naming_the_address_or_host_unblocks_it(tmp_path: Path) -> None:
    async def local(host: str, port: int) -> list[str]:
        return {"localhost": ["127.0.0.1", "::1"]}.get(host, ["127.0.0.1"])

    url = "http://127.0.0.1:8080/"
    assert _granted(["net:*"], url, local, tmp_path) == "port_not_allowed"
    assert _granted(["net:*:8080"], url, local, tmp_path) == "blocked_address"
    assert _granted(["net:127.0.0.*:8080"], url, local, tmp_path) == "blocked_address"
    assert _granted(["net:127.0.0.1:8080"], url, local, tmp_path) == ("127.0.0.1",)
    assert _granted(["net:127.0.0.1"], url, local, tmp_path) == "port_not_allowed"
    assert _granted(["net:127.0.0.1", "net:*:8080"], url, local, tmp_path) == ("127.0.0.1",)
    assert _granted(["net:127.0.0.1:9090", "net:*:8080"], url, local, tmp_path) == (
        "blocked_address"
    )
    # A grant for the address also covers its other spellings.
    assert _granted(["net:127.0.0.1:8080"], "http://0x7f.1:8080/", local, tmp_path) == (
        "127.0.0.1",
    )
    # A host name granted exactly allows what it resolves to; a wildcard does not.
    assert _granted(["net:localhost:8080"], "http://localhost:8080/", local, tmp_path) == (
        "127.0.0.1",
        "::1",
    )
    assert _granted(["net:*:8080"], "http://localhost:8080/", local, tmp_path) == "blocked_host"
    assert _granted(["net:*.localhost:8080"], "http://a.localhost:8080/", local, tmp_path) == (
        "blocked_host"
    )
    assert _granted(["net:*.example:80"], "http://app.example/", local, tmp_path) == (
        "blocked_address"
    )
    assert _granted(["net:app.example:80"], "http://app.example/", local, tmp_path) == (
        "127.0.0.1",
    )


def test_metadata_addresses_need_a_grant_naming_the_address(tmp_path: Path) -> None:
    async def cloud(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    name = "http://metadata.google.internal/"
    assert _granted(["net:*"], name, cloud, tmp_path) == "blocked_host"
    assert _granted(["net:metadata.google.internal"], name, cloud, tmp_path) == ("blocked_address")
    assert _granted(["net:api.example.com"], "http://api.example.com/", cloud, tmp_path) == (
        "blocked_address"
    )
    both = ["net:metadata.google.internal", "net:169.254.169.254:80"]
    assert _granted(both, name, cloud, tmp_path) == ("169.254.169.254",)
    assert _granted(["net:169.254.169.254:80"], "http://169.254.169.254/", cloud, tmp_path) == (
        "169.254.169.254",
    )


def test_a_redirect_target_is_checked_against_the_grants(tmp_path: Path) -> None:
    async def public(host: str, port: int) -> list[str]:
        return [PUBLIC]

    grants = ["net:api.example.com:443"]
    assert _granted(grants, "https://api.example.com/", public, tmp_path) == (PUBLIC,)
    assert _granted(grants, "https://other.example.com/", public, tmp_path) == "not_granted"
    assert _granted(grants, "http://api.example.com/", public, tmp_path) == "not_granted"
