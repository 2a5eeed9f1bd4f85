"""Outbound HTTP to addresses customers give us (webhooks): the SSRF guard.

https only (plain http only to loopback, and only in development); in production the host
name is resolved and every address must be public: private, loopback, link-local, reserved
and multicast addresses are refused, and the connection goes to the address that was
checked (no second lookup an attacker's DNS could answer differently).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

MAX_URL = 2000
LOOPBACK_NAMES = ("localhost",)


class EgressRefused(ValueError):
    """The URL or the address it resolves to may not be called; the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    scheme: str

    def pinned(self, address: str) -> tuple[str, str]:
        """The URL with the host replaced by the checked address, and the Host header."""
        parts = urlsplit(self.url)
        literal = f"[{address}]" if ":" in address else address
        default = parts.port is None
        netloc = literal if default else f"{literal}:{self.port}"
        host = self.host if default else f"{self.host}:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc)), host


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    ip = _ip(host)
    return (ip is not None and ip.is_loopback) or host.lower() in LOOPBACK_NAMES


# NAT64 prefixes (RFC 6052 well-known, RFC 8215 local-use): the last 32 bits are IPv4
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# IPv4-compatible addresses (RFC 4291, deprecated): ::a.b.c.d, routed as IPv4 by some stacks
COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries inside it: mapped, compatible, 6to4,
    Teredo (server and client) and NAT64. A guard that checks only the IPv6 form would let
    `[2002:7f00:1::]` (6to4 for 127.0.0.1) through."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in net for net in NAT64) or (ip in COMPATIBLE and int(ip) > 1):
        found.append(low32)
    return found


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner:
            return all(_public(v4) for v4 in inner)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def check_url(url: str, *, development: bool) -> Target:
    """The static rules: scheme, shape, and literal addresses. Raises EgressRefused."""
    if len(url) > MAX_URL:
        raise EgressRefused("INVALID_URL", f"The URL may be at most {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("INVALID_URL", "Not a URL.") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise EgressRefused("INVALID_URL", "Give an absolute https:// URL.")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("INVALID_URL", "The URL may not carry a user name or password.")
    if parts.scheme == "http" and not (development and _is_loopback(host)):
        raise EgressRefused(
            "HTTPS_REQUIRED",
            "Webhook URLs must use https (plain http is allowed to loopback in development only).",
        )
    ip = _ip(host)
    if not development and (_is_loopback(host) or (ip is not None and not _public(ip))):
        raise EgressRefused(
            "PRIVATE_ADDRESS", "The URL names a private, loopback or link-local address."
        )
    return Target(
        url=url,
        host=host,
        port=port or (443 if parts.scheme == "https" else 80),
        scheme=parts.scheme,
    )


async def resolve_public(target: Target) -> str:
    """One public address of the target's host (production); raises EgressRefused if any
    address it resolves to is not public (a name may point at both)."""
    literal = _ip(target.host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError:
            raise EgressRefused("UNRESOLVABLE", f"{target.host} does not resolve.") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(_public(a) for a in addresses):
        raise EgressRefused(
            "PRIVATE_ADDRESS",
            f"{target.host} resolves to a private, loopback or link-local address.",
        )
    return str(addresses[0])
