"""The service catalog, as Keystone keeps it: regions, services, endpoints.

Tokens carry the catalog built from these rows (`token_catalog`). The built-in
entries, this service's own identity, block-storage and image endpoints, have
ids derived from their service type, interface and region, and `sync_builtin`
points their URLs at the configured host and ports at every start (as
keystone-manage bootstrap does with its URLs): change `public_host` or a port,
not those endpoints. Everything else an operator adds through the API is left
as it is. Writes are a few statements in the caller's transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db import catalog as catalog_db
from cinderlite.db.models import Endpoint, Region, Service
from cinderlite.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from cinderlite.services.identity import new_id

INTERFACES = ("public", "internal", "admin")
REGION_ID_MAX = 255  # the column's width
GENERIC_400 = (
    "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect. The client is assumed to be in error."
)
# Keystone's endpoint URL substitutions: `$(project_id)s` and `%(project_id)s`.
_SUBSTITUTION = re.compile(r"[$%]\((\w+)\)s")


class CatalogNotFound(NotFound):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"Could not find {kind}: {ident}.")


def _invalid(attribute: str, target: str) -> InvalidRequest:
    """keystone.exception.ValidationError's message."""
    return InvalidRequest(f"Expecting to find {attribute} in {target}. {GENERIC_400}")


# --- the built-in entries -----------------------------------------------------------


@dataclass(frozen=True)
class BuiltinService:
    type: str
    name: str
    # URL template; `$(project_id)s` is filled in per token.
    url: str

    def service_id(self) -> str:
        return _stable_id(self.type)

    def endpoint_id(self, interface: str, region: str) -> str:
        return _stable_id(self.type, interface, region)


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "cinderlite:" + ":".join(parts)).hex


def builtin_services(
    *, identity_url: str, volume_url: str, image_url: str
) -> list[BuiltinService]:
    """SDK, OSC and cinderclient match service types through os-service-types
    aliases; Tempest matches its configured catalog_type exactly: all three
    block-storage types are listed."""
    return [
        BuiltinService("identity", "keystone", f"{identity_url}/v3"),
        BuiltinService("block-storage", "cinder", f"{volume_url}/v3/$(project_id)s"),
        BuiltinService("volumev3", "cinderv3", f"{volume_url}/v3/$(project_id)s"),
        BuiltinService("volumev2", "cinderv2", f"{volume_url}/v2/$(project_id)s"),
        BuiltinService("image", "glance", image_url),
    ]


async def sync_builtin(db: AsyncSession, services: Sequence[BuiltinService], region: str) -> int:
    """Create the built-in region, services and endpoints that are missing, and point
    the built-in endpoints at today's URLs. Returns how many rows changed."""
    changed = 0
    if await catalog_db.get_region(db, region) is None:
        await catalog_db.add(db, Region(id=region, description="", parent_region_id=None))
        changed += 1
    for builtin in services:
        service_id = builtin.service_id()
        if await catalog_db.get_service(db, service_id) is None:
            await catalog_db.add(db, Service(id=service_id, type=builtin.type, name=builtin.name,
                                             description="", enabled=True))
            changed += 1
        for interface in INTERFACES:
            endpoint_id = builtin.endpoint_id(interface, region)
            endpoint = await catalog_db.get_endpoint(db, endpoint_id)
            if endpoint is None:
                await catalog_db.add(db, Endpoint(
                    id=endpoint_id, service_id=service_id, interface=interface,
                    region_id=region, url=builtin.url, enabled=True,
                ))
                changed += 1
            elif endpoint.url != builtin.url:
                await catalog_db.update(db, endpoint, {"url": builtin.url})
                changed += 1
    return changed


# --- the catalog of a token ---------------------------------------------------------


def substitute(url: str, values: Mapping[str, str]) -> str | None:
    """`url` with Keystone's substitutions filled in; None when one has no value
    (Keystone leaves such an endpoint out, e.g. a project URL in a system token)."""
    missing = False

    def fill(match: re.Match[str]) -> str:
        nonlocal missing
        value = values.get(match.group(1))
        if value is None:
            missing = True
            return ""
        return value

    filled = _SUBSTITUTION.sub(fill, url)
    return None if missing else filled


async def token_catalog(db: AsyncSession, *, project_id: str | None,
                        user_id: str) -> list[dict[str, Any]]:
    """The catalog of a token: enabled services with their enabled endpoints."""
    values = {"user_id": user_id}
    if project_id:
        values["project_id"] = values["tenant_id"] = project_id
    entries: dict[str, dict[str, Any]] = {}
    for service, endpoint in await catalog_db.enabled_catalog(db):
        url = substitute(endpoint.url, values)
        if url is None:
            continue
        entry = entries.setdefault(service.id, {
            "id": service.id, "type": service.type, "name": service.name, "endpoints": [],
        })
        entry["endpoints"].append({
            "id": endpoint.id, "interface": endpoint.interface, "region": endpoint.region_id,
            "region_id": endpoint.region_id, "url": url,
        })
    return list(entries.values())


# --- regions --------------------------------------------------------------------------


list_regions = catalog_db.list_regions
list_services = catalog_db.list_services
list_endpoints = catalog_db.list_endpoints


async def get_region(db: AsyncSession, region_id: str) -> Region:
    region = await catalog_db.get_region(db, region_id)
    if region is None:
        raise CatalogNotFound("region", region_id)
    return region


async def create_region(db: AsyncSession, *, region_id: str | None, description: str,
                        parent_region_id: str | None) -> Region:
    region_id = region_id or new_id()
    if len(region_id) > REGION_ID_MAX:  # a PUT's path is not checked by the body schema
        raise InvalidRequest(f"Invalid input for field 'id': '{region_id[:32]}...' is too long")
    if await catalog_db.get_region(db, region_id) is not None:
        raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, "
                       f"{region_id}.")
    if parent_region_id is not None:
        if parent_region_id == region_id:
            raise _circular(region_id)
        await get_region(db, parent_region_id)
    region = Region(id=region_id, description=description, parent_region_id=parent_region_id)
    try:
        await catalog_db.add(db, region)
    except IntegrityError:
        raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, "
                       f"{region_id}.") from None
    return region


def _circular(region_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"Circular reference or a repeated entry found in region tree - {region_id}."
    )


async def update_region(db: AsyncSession, region_id: str, values: Mapping[str, Any]) -> Region:
    region = await get_region(db, region_id)
    parent = values.get("parent_region_id", region.parent_region_id)
    if "parent_region_id" in values and parent is not None:
        await get_region(db, parent)
        # Walk up from the new parent: meeting this region again is a cycle.
        seen = {region_id}
        current: str | None = parent
        while current is not None:
            if current in seen:
                raise _circular(region_id)
            seen.add(current)
            up = await catalog_db.get_region(db, current)
            current = up.parent_region_id if up is not None else None
    await catalog_db.update(db, region, dict(values))
    return region


async def delete_region(db: AsyncSession, region_id: str) -> None:
    """Delete a region and its child regions, unless one of them has endpoints."""
    await get_region(db, region_id)
    tree: list[str] = []
    todo = [region_id]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(r.id for r in await catalog_db.child_regions(db, current))
    for rid in tree:
        if await catalog_db.endpoints_in_region(db, rid):
            raise Forbidden(
                f"Unable to delete region {region_id} because it or its child regions have "
                "associated endpoints."
            )
    for rid in reversed(tree):  # children first
        await catalog_db.delete_region(db, rid)


# --- services ---------------------------------------------------------------------------


async def get_service(db: AsyncSession, service_id: str) -> Service:
    service = await catalog_db.get_service(db, service_id)
    if service is None:
        raise CatalogNotFound("service", service_id)
    return service


async def create_service(db: AsyncSession, *, type: str, name: str, description: str,
                         enabled: bool) -> Service:
    service = Service(id=new_id(), type=type, name=name, description=description,
                      enabled=enabled)
    await catalog_db.add(db, service)
    return service


async def update_service(db: AsyncSession, service_id: str,
                         values: Mapping[str, Any]) -> Service:
    service = await get_service(db, service_id)
    await catalog_db.update(db, service, dict(values))
    return service


async def delete_service(db: AsyncSession, service_id: str) -> None:
    await get_service(db, service_id)
    await catalog_db.delete_service(db, service_id)


# --- endpoints ----------------------------------------------------------------------------


async def get_endpoint(db: AsyncSession, endpoint_id: str) -> Endpoint:
    endpoint = await catalog_db.get_endpoint(db, endpoint_id)
    if endpoint is None:
        raise CatalogNotFound("endpoint", endpoint_id)
    return endpoint


async def _check_endpoint_refs(db: AsyncSession, values: Mapping[str, Any]) -> None:
    if "service_id" in values and await catalog_db.get_service(db, values["service_id"]) is None:
        raise _invalid("endpoint service_id", "service table")
    region_id = values.get("region_id")
    if region_id is not None and await catalog_db.get_region(db, region_id) is None:
        # Keystone makes a region an endpoint names but that does not exist yet.
        await catalog_db.add(db, Region(id=region_id, description="", parent_region_id=None))


async def create_endpoint(db: AsyncSession, *, service_id: str, interface: str, url: str,
                          region_id: str | None, enabled: bool) -> Endpoint:
    await _check_endpoint_refs(db, {"service_id": service_id, "region_id": region_id})
    endpoint = Endpoint(id=new_id(), service_id=service_id, interface=interface, url=url,
                        region_id=region_id, enabled=enabled)
    await catalog_db.add(db, endpoint)
    return endpoint


async def update_endpoint(db: AsyncSession, endpoint_id: str,
                          values: Mapping[str, Any]) -> Endpoint:
    endpoint = await get_endpoint(db, endpoint_id)
    await _check_endpoint_refs(db, values)
    await catalog_db.update(db, endpoint, dict(values))
    return endpoint


async def delete_endpoint(db: AsyncSession, endpoint_id: str) -> None:
    await get_endpoint(db, endpoint_id)
    await catalog_db.delete_endpoint(db, endpoint_id)
