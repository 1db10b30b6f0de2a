"""Volume transfers: the one place their queries live (TransferRepository).

A transfer row changes only together with its volume's status, in the unit of
the compare-and-swap on the volume row (db/volumes.transition with a named
transition of domain/volumes.py): the CAS takes the volume row's lock first
(PostgreSQL; SQLite's write transactions hold the database lock anyway), so a
snapshot cannot be added to the volume and no other transfer of it can begin
or end until the unit commits.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import Snapshot, Transfer, detached
from cinderlite.db.paging import SortColumns
from cinderlite.domain.snapshots import SnapshotStatus

# The keys transfers may be sorted on (3.59) and filtered by with plain
# equality (Cinder filters on any column of its transfers table; `project_id`
# is the giving project, the one whose volume it is while the transfer lives).
SORT = SortColumns({
    "id": Transfer.id,
    "name": Transfer.name,
    "display_name": Transfer.name,
    "volume_id": Transfer.volume_id,
    "created_at": Transfer.created_at,
    "updated_at": Transfer.updated_at,
    "source_project_id": Transfer.source_project_id,
    "project_id": Transfer.source_project_id,
})
FILTERS = {
    "id": Transfer.id,
    "volume_id": Transfer.volume_id,
    "display_name": Transfer.name,
    "source_project_id": Transfer.source_project_id,
    "project_id": Transfer.source_project_id,
    "no_snapshots": Transfer.no_snapshots,
}


class TransferRepository:
    """Transfer rows: reads (inside a unit when given, else in a read of their own),
    the insert and the removals, and the snapshot rows an accept moves."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, transfer_id: str, *, unit: Unit | None = None) -> Transfer | None:
        if unit is not None:
            return await unit.get(Transfer, transfer_id, populate_existing=True)
        async with self._database.read() as db:
            found = await db.get(Transfer, transfer_id)
            return None if found is None else detached(found)

    async def page(
        self, *, project_id: str | None, filters: dict[str, Any],
        sort: Sequence[tuple[str, str]], limit: int | None, offset: int = 0,
        marker_id: str | None = None,
    ) -> list[Transfer] | None:
        """A page of transfers (of `project_id`, or everyone's when None) matching
        `filters` (keys of FILTERS); None when `marker_id` names no transfer the
        caller could list."""
        keys = SORT.order_keys(sort)
        async with self._database.read() as db:
            stmt = select(Transfer)
            if marker_id is not None:
                marker = await db.get(Transfer, marker_id)
                if marker is None or (
                    project_id is not None and marker.source_project_id != project_id
                ):
                    return None
                stmt = stmt.where(SORT.after(marker, keys))
            if project_id is not None:
                stmt = stmt.where(Transfer.source_project_id == project_id)
            for key, value in filters.items():
                stmt = stmt.where(FILTERS[key] == value)
            stmt = stmt.order_by(*(SORT.order(k, d) for k, d in keys))
            if limit is not None:
                stmt = stmt.limit(limit)
            if offset:
                stmt = stmt.offset(offset)
            return [detached(t) for t in (await db.execute(stmt)).scalars()]

    async def add(self, unit: Unit, transfer: Transfer) -> Transfer:
        """Insert the row; its values as inserted, outside the session."""
        unit.add(transfer)
        await unit.flush()
        return detached(transfer)

    async def remove(self, unit: Unit, transfer_id: str) -> bool:
        result = await unit.execute(delete(Transfer).where(Transfer.id == transfer_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove_for_volume(self, unit: Unit, volume_id: str) -> int:
        """Every transfer of the volume (one, unless an admin reset its status meanwhile)."""
        result = await unit.execute(delete(Transfer).where(Transfer.volume_id == volume_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def snapshot_statuses(
        self, unit: Unit, volume_id: str, *, lock: bool = False
    ) -> list[tuple[str, str]]:
        """(id, status) of the volume's snapshots, in id order; `lock`: their rows
        stay locked to the end of the unit (FOR UPDATE on PostgreSQL)."""
        stmt = select(Snapshot.id, Snapshot.status).where(Snapshot.volume_id == volume_id)
        stmt = stmt.order_by(Snapshot.id)
        if lock:
            stmt = stmt.with_for_update()
        return [(str(i), str(s)) for i, s in (await unit.execute(stmt)).all()]

    async def move_snapshots(
        self, unit: Unit, volume_id: str, *, movable: Collection[SnapshotStatus],
        project_id: str, user_id: str, now: datetime,
    ) -> int:
        """Give the volume's snapshots in a `movable` status to the project and user;
        how many moved."""
        stmt = (
            update(Snapshot)
            .where(Snapshot.volume_id == volume_id, Snapshot.status.in_(sorted(movable)))
            .values(project_id=project_id, user_id=user_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return int((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]


__all__ = ["FILTERS", "SORT", "TransferRepository"]
