"""Queries for the service catalog: regions, services and endpoints."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import Endpoint, Region, Service


async def get_region(db: AsyncSession, region_id: str) -> Region | None:
    return await db.get(Region, region_id)


async def list_regions(db: AsyncSession, *, parent_region_id: str | None = None) -> list[Region]:
    stmt = select(Region).order_by(Region.id)
    if parent_region_id is not None:
        stmt = stmt.where(Region.parent_region_id == parent_region_id)
    return list((await db.execute(stmt)).scalars())


async def child_regions(db: AsyncSession, region_id: str) -> list[Region]:
    stmt = select(Region).where(Region.parent_region_id == region_id)
    return list((await db.execute(stmt)).scalars())


async def get_service(db: AsyncSession, service_id: str) -> Service | None:
    return await db.get(Service, service_id)


async def list_services(
    db: AsyncSession, *, type: str | None = None, name: str | None = None
) -> list[Service]:
    stmt = select(Service).order_by(Service.type, Service.id)
    if type is not None:
        stmt = stmt.where(Service.type == type)
    if name is not None:
        stmt = stmt.where(Service.name == name)
    return list((await db.execute(stmt)).scalars())


async def get_endpoint(db: AsyncSession, endpoint_id: str) -> Endpoint | None:
    return await db.get(Endpoint, endpoint_id)


async def list_endpoints(
    db: AsyncSession, *, service_id: str | None = None, interface: str | None = None,
    region_id: str | None = None,
) -> list[Endpoint]:
    stmt = select(Endpoint).order_by(Endpoint.service_id, Endpoint.interface, Endpoint.id)
    if service_id is not None:
        stmt = stmt.where(Endpoint.service_id == service_id)
    if interface is not None:
        stmt = stmt.where(Endpoint.interface == interface)
    if region_id is not None:
        stmt = stmt.where(Endpoint.region_id == region_id)
    return list((await db.execute(stmt)).scalars())


async def enabled_catalog(db: AsyncSession) -> list[tuple[Service, Endpoint]]:
    """Enabled endpoints of enabled services, ordered by service type."""
    stmt = (
        select(Service, Endpoint)
        .join(Endpoint, Endpoint.service_id == Service.id)
        .where(Service.enabled.is_(True), Endpoint.enabled.is_(True))
        .order_by(Service.type, Service.id, Endpoint.interface, Endpoint.id)
    )
    return [(s, e) for s, e in (await db.execute(stmt)).all()]


async def add(db: AsyncSession, row: Region | Service | Endpoint) -> None:
    """Insert a row; an id clash raises sqlalchemy's IntegrityError at flush."""
    db.add(row)
    await db.flush()


async def update(db: AsyncSession, row: Region | Service | Endpoint,
                 values: dict[str, object]) -> None:
    for key, value in values.items():
        setattr(row, key, value)
    await db.flush()


async def delete_region(db: AsyncSession, region_id: str) -> None:
    await db.execute(delete(Region).where(Region.id == region_id))


async def delete_service(db: AsyncSession, service_id: str) -> None:
    """A service and its endpoints (explicitly: SQLite may run without FK cascades)."""
    await db.execute(delete(Endpoint).where(Endpoint.service_id == service_id))
    await db.execute(delete(Service).where(Service.id == service_id))


async def delete_endpoint(db: AsyncSession, endpoint_id: str) -> None:
    await db.execute(delete(Endpoint).where(Endpoint.id == endpoint_id))


async def endpoints_in_region(db: AsyncSession, region_id: str) -> int:
    stmt = select(Endpoint.id).where(Endpoint.region_id == region_id).limit(1)
    return len((await db.execute(stmt)).all())
