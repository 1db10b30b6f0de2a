"""The services this process runs (Cinder's services table, here `volume_services`):
the one place their queries live (ServiceRepository), and the per-host usage
figures the hosts and pools views read.

Every method runs in the unit of work the caller hands in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import BlockService, Snapshot, Volume, detached


class ServiceRepository:
    """Rows of `volume_services`, keyed by (host, binary)."""

    async def register(
        self, unit: AsyncSession, *, host: str, binary: str, topic: str, zone: str,
        now: datetime,
    ) -> None:
        """The row of a starting service: created, or its zone and heartbeat brought
        up to date (its disabled/frozen switches are kept, as Cinder keeps them)."""
        values = {
            "host": host, "binary": binary, "topic": topic, "availability_zone": zone,
            "disabled": False, "disabled_reason": None, "frozen": False, "report_count": 0,
            "created_at": now, "updated_at": now, "modified_at": None,
        }
        dialect = unit.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        # Two processes starting at once: one inserts, the other finds the row.
        await unit.execute(insert(BlockService).values(**values).on_conflict_do_nothing())
        await unit.execute(
            update(BlockService)
            .where(BlockService.host == host, BlockService.binary == binary)
            .values(availability_zone=zone, topic=topic, updated_at=now,
                    report_count=BlockService.report_count + 1)
        )

    async def heartbeat(
        self, unit: AsyncSession, *, keys: Sequence[tuple[str, str]], now: datetime,
    ) -> int:
        """Stamp `updated_at` of these (host, binary) rows; how many were found."""
        found = 0
        for host, binary in keys:
            result = await unit.execute(
                update(BlockService)
                .where(BlockService.host == host, BlockService.binary == binary)
                .values(updated_at=now, report_count=BlockService.report_count + 1)
            )
            found += int(result.rowcount or 0)  # type: ignore[attr-defined]
        return found

    async def list(self, unit: AsyncSession) -> list[BlockService]:
        stmt = select(BlockService).order_by(BlockService.id)
        return [detached(r) for r in (await unit.execute(stmt)).scalars()]

    async def get(self, unit: AsyncSession, *, host: str, binary: str) -> BlockService | None:
        stmt = select(BlockService).where(
            BlockService.host == host, BlockService.binary == binary
        )
        row = (await unit.execute(stmt)).scalars().first()
        return None if row is None else detached(row)

    async def set_values(
        self, unit: AsyncSession, *, host: str, binary: str, now: datetime,
        expect: dict[str, Any] | None = None, **values: Any,
    ) -> bool:
        """Change the row's switches (only while its columns hold `expect`); whether
        it changed."""
        stmt = update(BlockService).where(
            BlockService.host == host, BlockService.binary == binary
        )
        for key, value in (expect or {}).items():
            stmt = stmt.where(getattr(BlockService, key) == value)
        result = await unit.execute(stmt.values(modified_at=now, **values))
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def volume_usage(unit: AsyncSession) -> tuple[int, int]:
    """(count, total GiB) of the volumes that exist: the backend's allocation."""
    row = (await unit.execute(
        select(func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
    )).one()
    return int(row[0]), int(row[1])


async def usage_by_project(unit: AsyncSession) -> dict[str, tuple[int, int, int, int]]:
    """project id -> (volumes, volume GiB, snapshots, snapshot GiB)."""
    out: dict[str, list[int]] = {}
    volumes = await unit.execute(
        select(Volume.project_id, func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
        .group_by(Volume.project_id)
    )
    for project_id, count, size in volumes:
        out.setdefault(project_id, [0, 0, 0, 0])[0:2] = [int(count), int(size)]
    snapshots = await unit.execute(
        select(Snapshot.project_id, func.count(Snapshot.id),
               func.coalesce(func.sum(Snapshot.volume_size), 0))
        .group_by(Snapshot.project_id)
    )
    for project_id, count, size in snapshots:
        out.setdefault(project_id, [0, 0, 0, 0])[2:4] = [int(count), int(size)]
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}
