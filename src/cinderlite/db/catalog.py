"""The service catalog's queries: regions, services and endpoints.

`CatalogRepository` is the only way to them; its methods run in the unit of
work the service passes in. An insert that breaks a key (a concurrent create of
the same id) raises `Conflict` (domain/errors.py) and spoils the unit.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import Endpoint, Region, Service
from cinderlite.domain.errors import Conflict


class CatalogRepository:
    """Every query of the catalog tables; rows come back as the ORM models, which
    satisfy the read-only records of domain/records.py."""

    async def get_region(self, unit: AsyncSession, region_id: str) -> Region | None:
        return await unit.get(Region, region_id)

    async def list_regions(
        self, unit: AsyncSession, *, parent_region_id: str | None = None
    ) -> list[Region]:
        stmt = select(Region).order_by(Region.id)
        if parent_region_id is not None:
            stmt = stmt.where(Region.parent_region_id == parent_region_id)
        return list((await unit.execute(stmt)).scalars())

    async def get_service(self, unit: AsyncSession, service_id: str) -> Service | None:
        return await unit.get(Service, service_id)

    async def list_services(
        self, unit: AsyncSession, *, type: str | None = None, name: str | None = None
    ) -> list[Service]:
        stmt = select(Service).order_by(Service.type, Service.id)
        if type is not None:
            stmt = stmt.where(Service.type == type)
        if name is not None:
            stmt = stmt.where(Service.name == name)
        return list((await unit.execute(stmt)).scalars())

    async def get_endpoint(self, unit: AsyncSession, endpoint_id: str) -> Endpoint | None:
        return await unit.get(Endpoint, endpoint_id)

    async def list_endpoints(
        self, unit: AsyncSession, *, service_id: str | None = None,
        interface: str | None = None, region_id: str | None = None,
    ) -> list[Endpoint]:
        stmt = select(Endpoint).order_by(Endpoint.service_id, Endpoint.interface, Endpoint.id)
        if service_id is not None:
            stmt = stmt.where(Endpoint.service_id == service_id)
        if interface is not None:
            stmt = stmt.where(Endpoint.interface == interface)
        if region_id is not None:
            stmt = stmt.where(Endpoint.region_id == region_id)
        return list((await unit.execute(stmt)).scalars())

    async def has_endpoints(self, unit: AsyncSession, region_id: str) -> bool:
        stmt = select(Endpoint.id).where(Endpoint.region_id == region_id).limit(1)
        return (await unit.execute(stmt)).first() is not None

    async def enabled_catalog(self, unit: AsyncSession) -> list[tuple[Service, Endpoint]]:
        """Enabled endpoints of enabled services, ordered by service type."""
        stmt = (
            select(Service, Endpoint)
            .join(Endpoint, Endpoint.service_id == Service.id)
            .where(Service.enabled.is_(True), Endpoint.enabled.is_(True))
            .order_by(Service.type, Service.id, Endpoint.interface, Endpoint.id)
        )
        return [(s, e) for s, e in (await unit.execute(stmt)).all()]

    async def add(self, unit: AsyncSession, row: Region | Service | Endpoint) -> None:
        """Insert a row; an id already taken (a concurrent create) is a Conflict."""
        unit.add(row)
        try:
            await unit.flush()
        except IntegrityError as exc:
            raise Conflict("Conflict occurred attempting to store the row.") from exc

    async def update(
        self, unit: AsyncSession, row: Region | Service | Endpoint, values: Mapping[str, object]
    ) -> None:
        """Change a row read in this unit."""
        for key, value in values.items():
            setattr(row, key, value)
        await unit.flush()

    async def delete_region(self, unit: AsyncSession, region_id: str) -> None:
        await unit.execute(delete(Region).where(Region.id == region_id))

    async def delete_service(self, unit: AsyncSession, service_id: str) -> None:
        """A service and its endpoints (explicitly: SQLite may run without FK cascades)."""
        await unit.execute(delete(Endpoint).where(Endpoint.service_id == service_id))
        await unit.execute(delete(Service).where(Service.id == service_id))

    async def delete_endpoint(self, unit: AsyncSession, endpoint_id: str) -> None:
        await unit.execute(delete(Endpoint).where(Endpoint.id == endpoint_id))
