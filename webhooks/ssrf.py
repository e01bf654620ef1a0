"""Where a webhook may be sent.

A webhook URL is chosen by the tenant, so a careless or hostile one could make
our workers talk to the database, the metadata service or anything else on
the private network. Every address a host resolves to must be public
(globally routable unicast). The same check runs when an endpoint is saved and
again right before each connection; the sender then connects to the vetted
address itself, so a DNS answer that changes between the check and the connect
(DNS rebinding) cannot swap in another target.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from webhooks import errors

ALLOWED_SCHEMES = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ParsedUrl:
    scheme: str
    host: str  # as written (lower-cased), without brackets: what goes in Host and SNI
    port: int
    target: str  # path + query, what goes on the request line

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == ALLOWED_SCHEMES[self.scheme] else f"{host}:{self.port}"


def url_parse(url: str) -> ParsedUrl:
    """Syntax only: http(s), a host, no credentials, no fragment."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise errors.WebhookUrlInvalid(f"A webhook URL is 1-{MAX_URL_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise errors.WebhookUrlInvalid("A webhook URL cannot contain whitespace or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise errors.WebhookUrlInvalid(f"The webhook URL is malformed: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise errors.WebhookUrlInvalid("A webhook URL must use http or https.")
    if not parts.hostname:
        raise errors.WebhookUrlInvalid("A webhook URL needs a host.")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs and listings; use the signature instead.
        raise errors.WebhookUrlInvalid("A webhook URL cannot carry credentials (user:password@).")
    if parts.fragment:
        raise errors.WebhookUrlInvalid("A webhook URL cannot have a #fragment.")
    if port == 0:
        raise errors.WebhookUrlInvalid("A webhook URL cannot use port 0.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return ParsedUrl(scheme=scheme, host=parts.hostname.lower(), port=port or ALLOWED_SCHEMES[scheme], target=target)


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address tunnelled inside it (mapped, NAT64,
    6to4, Teredo): each of them must pass."""
    out: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            out.append(ip.ipv4_mapped)
        if ip in _NAT64:
            out.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour:
            out.append(ip.sixtofour)
        if ip.teredo:
            out.extend(ip.teredo)
    return out


def address_forbidden_reason(ip: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why this address may not be a webhook target, or None if it may."""
    for addr in _embedded(ip):
        if addr.is_loopback:
            if allow_loopback and addr is ip:
                continue
            return "loopback"
        if addr in _METADATA:
            return "cloud metadata"
        if addr.is_unspecified:
            return "unspecified"
        if addr.is_multicast:
            return "multicast"
        if addr.is_link_local:
            return "link-local"
        if isinstance(addr, ipaddress.IPv4Address) and addr in _CGNAT:
            return "carrier-grade NAT (100.64.0.0/10)"
        if addr.is_private:
            return "private"
        if addr.is_reserved or not addr.is_global:
            return "reserved"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise errors.WebhookUrlUnresolvable(f"The host '{host}' does not resolve.") from exc
    ips: list[IPAddress] = []
    for info in infos:
        raw = info[4][0].split("%", 1)[0]  # drop an IPv6 zone id
        ip = ipaddress.ip_address(raw)
        if ip not in ips:
            ips.append(ip)
    if not ips:
        raise errors.WebhookUrlUnresolvable(f"The host '{host}' does not resolve.")
    return ips


def url_vet(url: str, *, allow_loopback: bool) -> tuple[ParsedUrl, list[IPAddress]]:
    """Parse, resolve and vet a URL; every resolved address must be allowed
    (one bad answer among good ones is how rebinding attacks hide)."""
    parsed = url_parse(url)
    ips = resolve(parsed.host, parsed.port)
    for ip in ips:
        reason = address_forbidden_reason(ip, allow_loopback=allow_loopback)
        if reason:
            raise errors.WebhookUrlForbidden(
                f"The webhook host resolves to a {reason} address ({ip}); only public addresses are allowed.",
                address=str(ip),
            )
    return parsed, ips
