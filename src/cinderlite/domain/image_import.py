"""Interoperable image import: the methods, and which URLs `web-download` may fetch.

The URL rules are Glance's `[import_filtering_opts]`
(glance/async_/flows/_internal_plugins/__init__.py and
glance/common/utils.py validate_import_uri): an allow-list of schemes, hosts
or ports, when set, wins over the matching deny-list, which is then ignored.
Beyond Glance, the address a host name resolves to must be a public one
(loopback, private, link-local, shared, reserved and multicast addresses are
refused) unless the operator names the host in `allowed_hosts` or the address
in `private_networks`: a tenant must not make the service fetch from the
machine it runs on or from the network behind it. The check runs on every
address the name resolves to, the connection goes to a checked address, and
again on each redirect.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

GLANCE_DIRECT = "glance-direct"
WEB_DOWNLOAD = "web-download"
COPY_IMAGE = "copy-image"
# What cinderlite can run. copy-image copies an active image between stores: it
# is offered only where several stores are configured (image_stores).
SUPPORTED_METHODS = (GLANCE_DIRECT, WEB_DOWNLOAD, COPY_IMAGE)

# The properties Glance keeps import state in (glance/async_/flows/api_image_import.py).
IMPORT_TASK_KEY = "os_glance_import_task"
STAGE_HOST_KEY = "os_glance_stage_host"
IMPORTING_STORES_KEY = "os_glance_importing_to_stores"
FAILED_STORES_KEY = "os_glance_failed_import"
# Properties Glance never shows (glance/api/v2/images.py ResponseSerializer).
HIDDEN_PROPERTIES = frozenset({STAGE_HOST_KEY, "os_glance_hash_op_host"})

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_REDIRECTS = 10  # urllib's HTTPRedirectHandler.max_redirections, as Glance fetches


def merge_stores(current: str | None, stores: list[str | None], *, subtract: bool) -> str:
    """A comma-separated store list with `stores` added or taken away, sorted
    (glance _ImportActions.merge_store_list). With one unnamed store (None) the
    list stays empty, as Glance's single-store import leaves it."""
    named = {s for s in stores if s}
    existing = {s for s in (current or "").split(",") if s}
    merged = existing - named if subtract else existing | named
    return ",".join(sorted(merged))


@dataclass(frozen=True)
class ImportFilter:
    """Glance's [import_filtering_opts], plus the private-address rule above."""

    allowed_schemes: tuple[str, ...] = ("http", "https")
    disallowed_schemes: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    disallowed_hosts: tuple[str, ...] = ()
    allowed_ports: tuple[int, ...] = (80, 443)
    disallowed_ports: tuple[int, ...] = ()
    # Networks (CIDR) of non-public addresses that may be fetched all the same.
    private_networks: tuple[str, ...] = ()
    _networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in self.private_networks)
        object.__setattr__(self, "_networks", nets)

    def target(self, uri: str) -> Target | None:
        """The URL's (scheme, host, port) if it passes the scheme, host and port
        rules, None if it does not (or is not a URL with a host)."""
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError:
            return None
        scheme = parts.scheme.lower()
        if not scheme or scheme not in DEFAULT_PORTS:
            # Only HTTP(S) is fetched, whatever the scheme lists say.
            return None
        if self.allowed_schemes:
            if scheme not in self.allowed_schemes:
                return None
        elif scheme in self.disallowed_schemes:
            return None
        host = normalize_host(parts.hostname)
        if host is None:
            return None
        if self.allowed_hosts:
            if host not in self.allowed_hosts:
                return None
        elif host in self.disallowed_hosts:
            return None
        # Glance checks only a port the URL names; the port a URL without one
        # goes to is checked too (beyond Glance).
        effective = port if port is not None else DEFAULT_PORTS[scheme]
        if self.allowed_ports:
            if effective not in self.allowed_ports:
                return None
        elif effective in self.disallowed_ports:
            return None
        return Target(scheme, host, effective)

    def address_allowed(self, target: Target, address: str) -> bool:
        """Whether `target`'s host may be reached at `address` (one it resolved to)."""
        ip = ipaddress.ip_address(address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_global and not ip.is_multicast:
            return True
        if target.host in self.allowed_hosts or str(ip) in self.allowed_hosts:
            return True
        return any(ip in net for net in self._networks)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # normalized: an IP address in its standard form, or a lower-case name
    port: int

    @property
    def is_address(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def normalize_host(host: str | None) -> str | None:
    """An IP address in its standard form, a host name in lower case, or None for
    what only looks like a name: all-digit or dotted-digit hosts ("2130706433",
    "127.1") that resolvers would read as encoded addresses (glance
    normalize_hostname, without its DNS lookup: resolution comes later)."""
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if all(c.isdigit() or c == "." for c in host):
        return None
    if host.lower().startswith("0x") or ".0x" in host.lower():
        return None
    return host.lower().rstrip(".") or None
