"""The service catalog, as Keystone keeps it: regions, services, endpoints.

Tokens carry the catalog built from these rows (`token_catalog`). The built-in
entries, this service's own identity, block-storage and image endpoints, have
ids derived from their service type, interface and region, and `sync_builtin`
points their URLs at the configured host and ports at every start (as
keystone-manage bootstrap does with its URLs): change `public_host` or a port,
not those endpoints. Everything else an operator adds through the API is left
as it is. `CatalogService` holds the use cases; each write is one unit of work.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cinderlite.db.catalog import CatalogRepository
from cinderlite.db.models import Endpoint, Region, Service
from cinderlite.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from cinderlite.services.identity import new_id
from cinderlite.services.units import Unit, Units

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


def _circular(region_id: str) -> InvalidRequest:
    return InvalidRequest(
        f"Circular reference or a repeated entry found in region tree - {region_id}."
    )


def _duplicate_region(region_id: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {region_id}.")


class CatalogService:
    """Regions, services and endpoints (Keystone's /v3/regions, /v3/services,
    /v3/endpoints) and the catalog a token carries. Each method opens its own
    unit of work: reads in a read unit, each write in one write unit."""

    def __init__(self, *, units: Units, repo: CatalogRepository) -> None:
        self._units = units
        self._repo = repo

    async def sync_builtin(self, services: Sequence[BuiltinService], region: str) -> int:
        """Create the built-in region, services and endpoints that are missing, and
        point the built-in endpoints at today's URLs, in one write unit. Returns how
        many rows changed.

        Processes starting together may race to insert them: the loser's unit
        fails on the key, and its next try finds them made."""
        for attempt in range(3):
            try:
                async with self._units.write() as unit:
                    return await self._sync_builtin(unit, services, region)
            except Conflict:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _sync_builtin(
        self, unit: Unit, services: Sequence[BuiltinService], region: str
    ) -> int:
        repo = self._repo
        changed = 0
        if await repo.get_region(unit, region) is None:
            await repo.add(unit, Region(id=region, description="", parent_region_id=None))
            changed += 1
        for builtin in services:
            service_id = builtin.service_id()
            if await repo.get_service(unit, service_id) is None:
                await repo.add(unit, Service(id=service_id, type=builtin.type,
                                             name=builtin.name, description="", enabled=True))
                changed += 1
            for interface in INTERFACES:
                endpoint_id = builtin.endpoint_id(interface, region)
                endpoint = await repo.get_endpoint(unit, endpoint_id)
                if endpoint is None:
                    await repo.add(unit, Endpoint(
                        id=endpoint_id, service_id=service_id, interface=interface,
                        region_id=region, url=builtin.url, enabled=True,
                    ))
                    changed += 1
                elif endpoint.url != builtin.url:
                    await repo.update(unit, endpoint, {"url": builtin.url})
                    changed += 1
        return changed

    async def token_catalog(
        self, *, project_id: str | None, user_id: str
    ) -> list[dict[str, Any]]:
        """The catalog of a token: enabled services with their enabled endpoints."""
        values = {"user_id": user_id}
        if project_id:
            values["project_id"] = values["tenant_id"] = project_id
        async with self._units.read() as unit:
            rows = await self._repo.enabled_catalog(unit)
        entries: dict[str, dict[str, Any]] = {}
        for service, endpoint in rows:
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

    # --- regions ------------------------------------------------------------------------

    async def list_regions(self, *, parent_region_id: str | None = None) -> list[Region]:
        async with self._units.read() as unit:
            return await self._repo.list_regions(unit, parent_region_id=parent_region_id)

    async def get_region(self, region_id: str) -> Region:
        async with self._units.read() as unit:
            return await self._region(unit, region_id)

    async def create_region(self, *, region_id: str | None, description: str,
                            parent_region_id: str | None) -> Region:
        region_id = region_id or new_id()
        if len(region_id) > REGION_ID_MAX:  # a PUT's path is not checked by the body schema
            raise InvalidRequest(
                f"Invalid input for field 'id': '{region_id[:32]}...' is too long"
            )
        async with self._units.write() as unit:
            if await self._repo.get_region(unit, region_id) is not None:
                raise _duplicate_region(region_id)
            if parent_region_id is not None:
                if parent_region_id == region_id:
                    raise _circular(region_id)
                await self._region(unit, parent_region_id)
            region = Region(id=region_id, description=description,
                            parent_region_id=parent_region_id)
            try:
                await self._repo.add(unit, region)
            except Conflict:
                raise _duplicate_region(region_id) from None
        return region

    async def update_region(self, region_id: str, values: Mapping[str, Any]) -> Region:
        async with self._units.write() as unit:
            region = await self._region(unit, region_id)
            parent = values.get("parent_region_id", region.parent_region_id)
            if "parent_region_id" in values and parent is not None:
                await self._region(unit, parent)
                # Walk up from the new parent: meeting this region again is a cycle.
                seen = {region_id}
                current: str | None = parent
                while current is not None:
                    if current in seen:
                        raise _circular(region_id)
                    seen.add(current)
                    up = await self._repo.get_region(unit, current)
                    current = up.parent_region_id if up is not None else None
            await self._repo.update(unit, region, values)
        return region

    async def delete_region(self, region_id: str) -> None:
        """Delete a region and its child regions, unless one of them has endpoints."""
        async with self._units.write() as unit:
            await self._region(unit, region_id)
            tree: list[str] = []
            todo = [region_id]
            while todo:
                current = todo.pop()
                tree.append(current)
                todo.extend(
                    r.id for r in await self._repo.list_regions(unit, parent_region_id=current)
                )
            for rid in tree:
                if await self._repo.has_endpoints(unit, rid):
                    raise Forbidden(
                        f"Unable to delete region {region_id} because it or its child regions "
                        "have associated endpoints."
                    )
            for rid in reversed(tree):  # children first
                await self._repo.delete_region(unit, rid)

    async def _region(self, unit: Unit, region_id: str) -> Region:
        region = await self._repo.get_region(unit, region_id)
        if region is None:
            raise CatalogNotFound("region", region_id)
        return region

    # --- services -------------------------------------------------------------------------

    async def list_services(
        self, *, type: str | None = None, name: str | None = None
    ) -> list[Service]:
        async with self._units.read() as unit:
            return await self._repo.list_services(unit, type=type, name=name)

    async def get_service(self, service_id: str) -> Service:
        async with self._units.read() as unit:
            return await self._service(unit, service_id)

    async def create_service(self, *, type: str, name: str, description: str,
                             enabled: bool) -> Service:
        service = Service(id=new_id(), type=type, name=name, description=description,
                          enabled=enabled)
        async with self._units.write() as unit:
            await self._repo.add(unit, service)
        return service

    async def update_service(self, service_id: str, values: Mapping[str, Any]) -> Service:
        async with self._units.write() as unit:
            service = await self._service(unit, service_id)
            await self._repo.update(unit, service, values)
        return service

    async def delete_service(self, service_id: str) -> None:
        async with self._units.write() as unit:
            await self._service(unit, service_id)
            await self._repo.delete_service(unit, service_id)

    async def _service(self, unit: Unit, service_id: str) -> Service:
        service = await self._repo.get_service(unit, service_id)
        if service is None:
            raise CatalogNotFound("service", service_id)
        return service

    # --- endpoints --------------------------------------------------------------------------

    async def list_endpoints(
        self, *, service_id: str | None = None, interface: str | None = None,
        region_id: str | None = None,
    ) -> list[Endpoint]:
        async with self._units.read() as unit:
            return await self._repo.list_endpoints(
                unit, service_id=service_id, interface=interface, region_id=region_id
            )

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        async with self._units.read() as unit:
            return await self._endpoint(unit, endpoint_id)

    async def create_endpoint(self, *, service_id: str, interface: str, url: str,
                              region_id: str | None, enabled: bool) -> Endpoint:
        endpoint = Endpoint(id=new_id(), service_id=service_id, interface=interface, url=url,
                            region_id=region_id, enabled=enabled)
        async with self._units.write() as unit:
            await self._check_endpoint_refs(
                unit, {"service_id": service_id, "region_id": region_id}
            )
            await self._repo.add(unit, endpoint)
        return endpoint

    async def update_endpoint(self, endpoint_id: str, values: Mapping[str, Any]) -> Endpoint:
        async with self._units.write() as unit:
            endpoint = await self._endpoint(unit, endpoint_id)
            await self._check_endpoint_refs(unit, values)
            await self._repo.update(unit, endpoint, values)
        return endpoint

    async def delete_endpoint(self, endpoint_id: str) -> None:
        async with self._units.write() as unit:
            await self._endpoint(unit, endpoint_id)
            await self._repo.delete_endpoint(unit, endpoint_id)

    async def _endpoint(self, unit: Unit, endpoint_id: str) -> Endpoint:
        endpoint = await self._repo.get_endpoint(unit, endpoint_id)
        if endpoint is None:
            raise CatalogNotFound("endpoint", endpoint_id)
        return endpoint

    async def _check_endpoint_refs(self, unit: Unit, values: Mapping[str, Any]) -> None:
        if "service_id" in values and await self._repo.get_service(
            unit, values["service_id"]
        ) is None:
            raise _invalid("endpoint service_id", "service table")
        region_id = values.get("region_id")
        if region_id is not None and await self._repo.get_region(unit, region_id) is None:
            # Keystone makes a region an endpoint names but that does not exist yet.
            await self._repo.add(
                unit, Region(id=region_id, description="", parent_region_id=None)
            )
