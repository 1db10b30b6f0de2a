"""web-download's HTTP client: fetch a URL the operator allows, and only that.

Every hop (the URL, then each redirect) passes the ImportFilter's scheme, host
and port rules; its host name is resolved here, every address it resolves to
must be allowed, and the connection goes to one of those checked addresses (the
request carries the name in Host and, for HTTPS, in SNI and the certificate
check), so a second lookup cannot send it elsewhere (DNS rebinding). Proxies
from the environment are not used: they would connect to a host unchecked.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from cinderlite.domain.errors import InvalidRequest, TooLarge
from cinderlite.domain.image_import import MAX_REDIRECTS, ImportFilter, Target


class UriRefused(InvalidRequest):
    """The URL (or a redirect's) does not pass the operator's rules."""


class FetchFailed(Exception):
    """The download failed (HTTP error, connection, short body): the message says how."""


async def resolve(import_filter: ImportFilter, uri: str) -> tuple[Target, str] | None:
    """The URL's target and the address to connect to, or None when the URL, its
    host name or any address it resolves to is not allowed (or it does not resolve)."""
    target = import_filter.target(uri)
    if target is None:
        return None
    if target.is_address:
        addresses = [target.host]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            return None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses or not all(import_filter.address_allowed(target, a) for a in addresses):
        return None
    return target, addresses[0]


def _pinned_url(uri: str, address: str) -> str:
    parts = urlsplit(uri)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _host_header(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{parts.port}" if parts.port is not None else host


async def fetch(
    uri: str, import_filter: ImportFilter, *, size_cap: int, idle_seconds: float = 60.0,
) -> AsyncGenerator[bytes, None]:
    """The body of `uri` in chunks, following at most MAX_REDIRECTS redirects.

    UriRefused when the URL or a redirect is not allowed (Glance's messages),
    TooLarge when the declared length exceeds `size_cap`, FetchFailed for an
    HTTP error status, a failed connection or a body shorter than declared.
    The caller caps what it reads (the body may be longer than declared).
    """
    current = uri
    limits = httpx.Timeout(idle_seconds)
    async with httpx.AsyncClient(
        timeout=limits, follow_redirects=False, trust_env=False,
    ) as client:
        for hop in range(MAX_REDIRECTS + 1):
            resolved = await resolve(import_filter, current)
            if resolved is None:
                if hop == 0:
                    raise UriRefused(f"URI for web-download does not pass filtering: {current}")
                raise UriRefused(f"Redirect to disallowed URL: {current}")
            target, address = resolved
            headers = {"Host": _host_header(current), "Accept-Encoding": "identity"}
            extensions = {"sni_hostname": urlsplit(current).hostname} if (
                target.scheme == "https") else {}
            request = client.build_request(
                "GET", _pinned_url(current, address), headers=headers, extensions=extensions,
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FetchFailed(f"<urlopen error {exc}>") from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = urljoin(current, location)
                    continue
                if response.status_code >= 400 or response.status_code < 200:
                    raise FetchFailed(
                        f"HTTP Error {response.status_code}: {response.reason_phrase}"
                    )
                declared = response.headers.get("content-length")
                expected = int(declared) if declared and declared.isdigit() else None
                if expected is not None and expected > size_cap:
                    raise TooLarge("The provided image is too large.")
                received = 0
                try:
                    async for chunk in response.aiter_raw():
                        received += len(chunk)
                        yield chunk
                except httpx.HTTPError as exc:
                    raise FetchFailed(f"Reading {uri} failed: {exc}") from exc
                if expected is not None and received != expected:
                    raise FetchFailed(
                        f"Downloaded data size {received} is different from expected "
                        f"{expected}"
                    )
                return
            finally:
                await response.aclose()
        raise FetchFailed(f"Too many redirects fetching {uri}")
