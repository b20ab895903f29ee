"""Sending to a URL someone typed, without letting it reach inside our network (SSRF).

A URL must be http(s), name a host and carry no user name or password. Every address
its host resolves to must be a public one: loopback, private, link-local, shared,
multicast, reserved and unspecified addresses are refused unless the deployment allows
private ones (``webhooks_allow_private``; multicast and unspecified never). The check is
made when an endpoint is registered and again at every connection: the host is resolved,
each address checked, and the connection made to that checked address (aiohttp's
resolver, ``CheckedResolver``: the host name is kept for ``Host`` and TLS), so a name
that resolves elsewhere the second time (DNS rebinding) gains nothing. Timeouts bound
every attempt, redirects are not followed (a 3xx is a failed attempt) and at most
``MAX_READ`` bytes of an answer are read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc

#: the most of a receiver's answer ever read (bytes)
MAX_READ = 4096
USER_AGENT = "Reclaim-Webhooks/1.0"


class UnsafeURL(ValueError):
    """The URL may not be sent to (its reason says why)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int


def parse(url: str) -> Target:
    """The URL's parts, or UnsafeURL when it is not one we send to."""
    if len(url) > 2000:
        raise UnsafeURL("is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("must be an http:// or https:// URL")
    if not parts.hostname:
        raise UnsafeURL("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("may not carry a user name or password")
    if parts.fragment:
        raise UnsafeURL("may not have a #fragment")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def check_address(address: str, *, allow_private: bool) -> None:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        raise UnsafeURL(f"resolves to {ip}, which is not a host")
    if ip.is_global:
        return
    if allow_private and (ip.is_private or ip.is_loopback or ip.is_link_local):
        return
    raise UnsafeURL(
        f"resolves to {ip}, a loopback, private or link-local address (refused unless "
        "RECLAIM_WEBHOOKS_ALLOW_PRIVATE is set for a private deployment)"
    )


async def resolve(target: Target, *, allow_private: bool) -> str:
    """The first address of the host, once every address it resolves to is checked."""
    try:
        ipaddress.ip_address(target.host)
        addresses = [target.host]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise UnsafeURL(f"names a host that does not resolve ({exc})") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise UnsafeURL("names a host with no address")
    for address in addresses:
        check_address(address, allow_private=allow_private)
    return addresses[0]


def check_url(url: str, *, allow_private: bool) -> None:
    """At registration: the URL's form and every address of its host (blocking)."""
    asyncio.run(resolve(parse(url), allow_private=allow_private))


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    body: str
    latency_ms: int
    error: str | None


class CheckedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's resolver for every new connection (the DNS cache is off): a host's
    addresses, each one checked (``resolve``), so a connection is only ever made to an
    address that passed, however the name resolves this time."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[dict[str, Any]]:
        scheme = "https" if port == 443 else "http"
        address = await resolve(Target(scheme, host, port), allow_private=self.allow_private)
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": kind,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    timeout: float,
) -> Answer:
    """POST ``body`` to ``url`` over a connection to a checked address; never raises.

    A host name is checked by the session's ``CheckedResolver`` as each connection is
    made; an address written in the URL (which aiohttp does not resolve) here."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse(url)
        try:
            ipaddress.ip_address(target.host)
        except ValueError:
            pass
        else:
            check_address(target.host, allow_private=allow_private)
        async with (
            asyncio.timeout(timeout),
            client.post(
                url,
                data=body,
                headers={**headers, "User-Agent": USER_AGENT},
                allow_redirects=False,
            ) as response,
        ):
            kept = await response.content.read(MAX_READ)
        text = kept.decode("utf-8", "replace")
        return Answer(response.status, text, elapsed(), None)
    except UnsafeURL as exc:
        return Answer(None, "", elapsed(), f"refused: the URL {exc}")
    except TimeoutError:
        return Answer(None, "", elapsed(), f"timed out after {timeout:g} s")
    except (aiohttp.ClientError, OSError) as exc:
        return Answer(None, "", elapsed(), f"{type(exc).__name__}: {exc}"[:300])


def new_client(timeout: float, *, allow_private: bool) -> aiohttp.ClientSession:
    """The dispatcher's session: every new connection's host checked (no DNS cache), no
    proxies from the environment, no redirects, no decompression, timeouts, and
    connections kept alive between deliveries to the same receiver."""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(allow_private=allow_private),
        use_dns_cache=False,
        limit=100,
        limit_per_host=50,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0)),
        auto_decompress=False,
        trust_env=False,
        skip_auto_headers=("Accept-Encoding",),
    )
