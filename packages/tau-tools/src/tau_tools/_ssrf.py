"""SSRF defences for the ``http`` tool: one URL parser, address rules, grants, pinned connections.

The request URL is parsed once, with ``httpx.URL``, and what is validated is exactly what httpx
will hand to the network layer: its scheme, its encoded host and its port. Then, per target:

1. the scheme must be ``http`` or ``https`` and the port 80, 443 or one a ``net:`` grant names;
2. the ``net:HOST:PORT`` capability must be granted (checked again here for every redirect);
3. local and cloud-metadata host names (``localhost``, ``*.internal``, ``metadata``…) are
   refused unless a grant names the host exactly;
4. the host is resolved **once**, and **every** answer is checked: loopback, private,
   link-local, CGNAT, multicast, reserved, documentation, benchmarking, broadcast and metadata
   addresses are refused, looking through IPv4-mapped, NAT64, 6to4 and Teredo wrappers;
5. the connection goes to one of the validated addresses: :class:`PinnedBackend` is the
   network backend of the connection pool and only ever connects to pinned addresses, while
   TLS still verifies (and sends SNI for) the host name.

A refused address is allowed only when a grant names it literally (``net:127.0.0.1:8080``), or
names the URL's host exactly (``net:localhost:8080``); wildcard grants (``net:*``,
``net:*.example.com``) never unblock anything. Cloud metadata addresses need a grant naming the
address itself.
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeAlias

import httpcore
import httpx
from attrs import frozen

from tau_core._authority import Authority, Capability, Grant, capability_granted
from tau_core.errors import ToolError

__all__ = [
    "DEFAULT_PORTS",
    "Guard",
    "PinnedBackend",
    "Resolver",
    "Target",
    "address_block",
    "hostname_block",
    "ip_text",
    "is_metadata",
    "parse_target",
    "system_resolver",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver: TypeAlias = Callable[[str, int], Awaitable[Sequence[str]]]
"""``resolver(host, port)`` returns the host's addresses as text, in connection order."""

DEFAULT_PORTS = {"http": 80, "https": 443}
_OPEN_PORTS = frozenset(DEFAULT_PORTS.values())
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")
_WILDCARD = re.compile(r"[*?\[]")
_BAD_URL_HINT = "pass an absolute http:// or https:// URL with a plain host name or IP address"


def _bad_url(message: str) -> ToolError:
    return ToolError(message, code="bad_url", hint=_BAD_URL_HINT)


@frozen
class Target:
    """One validated-to-parse request target.

    Attributes:
        url: The URL as httpx parsed it (the object that is sent).
        scheme: ``http`` or ``https``.
        host: The canonical host: a lower-case IDNA name without a trailing dot, or an IP
            address in its canonical text form (legacy forms such as ``0x7f.1`` converted).
        connect_host: The host exactly as httpx hands it to the network backend.
        port: The effective port.
        address: The address when the host is an IP literal.
    """

    url: httpx.URL
    scheme: str
    host: str
    connect_host: str
    port: int
    address: IPAddress | None

    @property
    def netloc(self) -> str:
        """``HOST:PORT``, with IPv6 hosts in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def capability(self) -> Capability:
        """The ``net`` capability a request to this target needs."""
        return Capability("net", self.netloc)

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


def ip_text(address: IPAddress) -> str:
    """The canonical text of *address*; IPv4-mapped IPv6 keeps the dotted quad (RFC 5952).

    Spelled out because ``str()`` of a mapped address differs between Python versions.
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse the forms ``inet_aton`` accepts (``2130706433``, ``0177.1``, ``0x7f.0.0.1``).

    Returns None when the host does not end in a number, i.e. it is a name. A host that ends
    in a number but is no valid address is refused, as the URL standard does.
    """
    labels = host.split(".")
    if not _NUMERIC_LABEL.match(labels[-1]):
        return None
    if len(labels) > 4:
        raise _bad_url(f"host {host!r} looks like an IPv4 address but has {len(labels)} parts")
    values = []
    for label in labels:
        try:
            if label.startswith("0x"):
                values.append(int(label[2:] or "0", 16))
            elif len(label) > 1 and label.startswith("0"):
                values.append(int(label, 8))
            else:
                values.append(int(label, 10))
        except ValueError:
            raise _bad_url(f"host {host!r} is neither a host name nor an IPv4 address") from None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise _bad_url(f"host {host!r} is an IPv4 address with a part out of range")
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def canonical_host(raw: str) -> tuple[str, IPAddress | None]:
    """Normalise an encoded host: strip one trailing dot, canonicalise IP literals.

    Raises:
        ToolError: ``bad_url`` when the host is empty or not a plain name or address.
    """
    host = raw.lower()
    if ":" in host:
        if "%" in host:
            raise _bad_url(f"IPv6 host {raw!r} carries a zone id; zone ids are not allowed")
        try:
            v6 = ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad_url(f"host {raw!r} is not a valid IPv6 address") from None
        return ip_text(v6), v6
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise _bad_url("the URL has no host")
    v4 = _legacy_ipv4(host)
    if v4 is not None:
        return str(v4), v4
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise _bad_url(
            f"host {raw!r} cannot be normalised: a host name is dot-separated labels of "
            "letters, digits, '-' and '_' (no %-escapes, spaces or empty labels)"
        )
    return host, None


def parse_target(url: str | httpx.URL) -> Target:
    """Parse and normalise *url* with httpx's parser; nothing is resolved yet.

    Raises:
        ToolError: ``bad_url`` (unparseable, userinfo, control characters, bad host or port)
            or ``scheme_not_allowed``.
    """
    if isinstance(url, str):
        if any(ord(c) < 0x21 or c in "\x7f\\" for c in url):
            raise _bad_url(
                f"URL {url!r} contains whitespace, a control character or a backslash; "
                "percent-encode them in the path or query"
            )
        try:
            url = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise _bad_url(f"URL {url!r} cannot be parsed: {exc}") from None
    scheme = url.scheme
    if scheme not in DEFAULT_PORTS:
        raise ToolError(
            f"URL {str(url)!r} uses the scheme {scheme or '(none)'!r}; only http and https "
            "are allowed",
            code="scheme_not_allowed",
            hint="use an http:// or https:// URL",
        )
    if url.userinfo:
        raise _bad_url(
            f"URL {str(url)!r} carries user information before '@'; credentials in URLs "
            "are not allowed (send them in a header, e.g. with ${secret:NAME})"
        )
    try:
        connect_host = url.raw_host.decode("ascii")
    except UnicodeDecodeError:
        raise _bad_url(f"URL {str(url)!r} has a host that is not ASCII after encoding") from None
    host, address = canonical_host(connect_host)
    port = url.port if url.port is not None else DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        raise _bad_url(f"URL {str(url)!r} has port {port}, outside 1-65535")
    return Target(url, scheme, host, connect_host, port, address)


_V4_RULES = tuple(
    (ipaddress.IPv4Network(net), why)
    for net, why in (
        ("0.0.0.0/8", "unspecified (this network)"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_V6_RULES = tuple(
    (ipaddress.IPv6Network(net), why)
    for net, why in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("100::/64", "discard-only"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("2001:2::/48", "benchmarking"),
        ("2001:10::/28", "ORCHID"),
        ("2001:20::/28", "ORCHIDv2"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "unique local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    )
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, OpenStack, DigitalOcean…
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS VPC DNS
        "169.254.169.123",  # AWS time sync
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS DNS over IPv6
        "fd00:ec2::123",  # AWS time sync over IPv6
    )
)


def embedded_ipv4(address: IPAddress) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses carried inside an IPv6 address (mapped, translated, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    low = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return [("IPv4-mapped", address.ipv4_mapped)]
    if address in _TRANSLATED:
        return [("IPv4-translated", low)]
    if address in _NAT64:
        return [("NAT64", low)]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


def is_metadata(address: IPAddress) -> bool:
    """Whether *address* is a cloud metadata endpoint, directly or wrapped in IPv6."""
    return address in METADATA_ADDRESSES or any(
        v4 in METADATA_ADDRESSES for _, v4 in embedded_ipv4(address)
    )


def address_block(address: IPAddress) -> str | None:
    """Why *address* may not be reached without a grant naming it, or None when it is public."""
    if address in METADATA_ADDRESSES:
        return "cloud metadata"
    if isinstance(address, ipaddress.IPv4Address):
        return next((why for net, why in _V4_RULES if address in net), None)
    inner = embedded_ipv4(address)
    for kind, v4 in inner:
        why = address_block(v4)
        if why is not None:
            return f"{why} ({v4} inside a {kind} address)"
    if inner and address not in _GLOBAL_UNICAST:
        return None  # mapped / translated / NAT64 of a public IPv4 address
    why = next((why for net, why in _V6_RULES if address in net), None)
    if why is None and address not in _GLOBAL_UNICAST:
        why = "reserved (outside global unicast 2000::/3)"
    return why


_LOCAL_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
        "broadcasthost",
    }
)
_METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "metadata.platformequinix.com",
        "metadata.packet.net",
        "metadata.oraclecloud.com",
    }
)
_LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa")


def hostname_block(host: str) -> str | None:
    """Why the name *host* may not be used without a grant naming it, or None."""
    if host in _METADATA_NAMES:
        return "a cloud metadata host name"
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        return "a local host name"
    if "." not in host:
        return "a single-label name (resolved through local search domains)"
    return None


def _grant_host_port(grant: Grant) -> tuple[str, str]:
    target = grant.target
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host, port
    return target, ""


def _grant_pattern(host: str) -> str:
    try:
        return canonical_host(host)[0]
    except ToolError:
        return host.lower().rstrip(".")


def _names_port(grant: Grant, target: Target) -> bool:
    """Whether *grant* names *target*'s port explicitly and its host pattern covers the host."""
    host, port = _grant_host_port(grant)
    if port != str(target.port):
        return False
    return host == "*" or fnmatch.fnmatchcase(target.host, _grant_pattern(host))


def _explicit_hosts(authority: Authority, port: int) -> set[str]:
    """Canonical hosts that ``net:`` grants name literally (no wildcard) for *port*."""
    out = set()
    for grant in authority.grants_of("net"):
        host, gport = _grant_host_port(grant)
        if gport not in ("", str(port)) or _WILDCARD.search(host):
            continue
        try:
            out.add(canonical_host(host)[0])
        except ToolError:
            continue
    return out


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve *host* with the event loop's ``getaddrinfo``; addresses in the order given."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Guard:
    """Admits request targets for one tool call and remembers the addresses it validated.

    Args:
        authority: The run's authority (grants decide ports, hosts and exceptions).
        workdir: The task's working directory (for grant matching).
        resolver: Resolves host names; called at most once per host and port.
    """

    def __init__(self, authority: Authority, workdir: Path, resolver: Resolver) -> None:
        self.authority = authority
        self.workdir = workdir
        self.resolver = resolver
        self.pins: dict[tuple[str, int], tuple[str, ...]] = {}

    def check_grants(self, target: Target) -> None:
        """Refuse a target whose port or ``net`` capability no grant covers."""
        cap = target.capability
        if not capability_granted(self.authority, cap, self.workdir):
            raise ToolError(
                f"{target.url} needs the grant net:{target.netloc}, which the run does not have",
                code="not_granted",
                hint="ask for that grant, or use a host the run may reach",
            )
        if target.port not in _OPEN_PORTS and not any(
            _names_port(g, target) for g in self.authority.grants_of("net")
        ):
            raise ToolError(
                f"port {target.port} of {target.url} is not allowed: only 80 and 443, or a "
                "port a net: grant names (net:HOST:PORT), may be used",
                code="port_not_allowed",
                hint=f"use port 80 or 443, or ask for the grant net:{target.netloc}",
            )

    async def admit(self, target: Target) -> tuple[str, ...]:
        """Check *target* completely and pin the addresses a connection may use.

        Raises:
            ToolError: ``not_granted``, ``port_not_allowed``, ``blocked_host``,
                ``blocked_address`` or ``dns_failed``.
        """
        self.check_grants(target)
        key = (target.connect_host, target.port)
        if key in self.pins:  # one lookup per host: a redirect back never resolves again
            return self.pins[key]
        explicit = _explicit_hosts(self.authority, target.port)
        why = hostname_block(target.host) if target.address is None else None
        if why is not None and target.host not in explicit:
            raise ToolError(
                f"{target.host} is {why}; requests to it are blocked",
                code="blocked_host",
                hint=f"only a grant naming it (net:{target.netloc}) allows it",
            )
        if target.address is not None:
            addresses: list[IPAddress] = [target.address]
        else:
            addresses = await self._resolve(target)
        for address in addresses:
            self._check_address(target, address, explicit)
        pinned = tuple(ip_text(a) for a in addresses)
        self.pins[key] = pinned
        return pinned

    async def _resolve(self, target: Target) -> list[IPAddress]:
        try:
            answers = await self.resolver(target.host, target.port)
        except OSError as exc:
            raise ToolError(
                f"{target.host} could not be resolved: {exc}",
                code="dns_failed",
                hint="check the host name",
            ) from None
        out: list[IPAddress] = []
        for text in answers:
            try:
                out.append(ipaddress.ip_address(text.partition("%")[0]))
            except ValueError:
                raise ToolError(
                    f"resolving {target.host} returned {text!r}, which is not an address",
                    code="dns_failed",
                    hint="the resolver is misbehaving; try again later or use another host",
                ) from None
        if not out:
            raise ToolError(
                f"{target.host} has no addresses",
                code="dns_failed",
                hint="check the host name",
            )
        return out

    def _check_address(self, target: Target, address: IPAddress, explicit: set[str]) -> None:
        why = address_block(address)
        if why is None:
            return
        literal = {ip_text(address), *(str(v4) for _, v4 in embedded_ipv4(address))}
        if literal & explicit:
            return
        if not is_metadata(address) and target.address is None and target.host in explicit:
            return
        shown = target.connect_host
        if shown != ip_text(address):
            shown = f"{shown} ({ip_text(address)})"
        raise ToolError(
            f"{shown} is blocked: {why} address",
            code="blocked_address",
            hint=f"only a grant naming it (net:{_bracket(address)}:{target.port}) allows it",
        )


def _bracket(address: IPAddress) -> str:
    return f"[{ip_text(address)}]" if address.version == 6 else str(address)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that connects only to addresses a :class:`Guard` pinned.

    httpcore asks it for ``(host, port)`` exactly as in the URL; it connects to the pinned
    addresses of that pair in order instead, and refuses anything unpinned. TLS runs on top
    with the host name, so certificates are verified for the name and SNI carries the name.

    Args:
        pins: ``(host, port)`` → validated addresses (usually :attr:`Guard.pins`).
        inner: The backend that opens the sockets (default: httpcore's anyio backend).
    """

    def __init__(
        self,
        pins: dict[tuple[str, int], tuple[str, ...]],
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.pins = pins
        self.inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self.pins.get((host, port))
        if not addresses:
            raise httpcore.ConnectError(f"{host}:{port} was not validated; refusing to connect")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # noqa: S101 - addresses is non-empty
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable through the http tool")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
