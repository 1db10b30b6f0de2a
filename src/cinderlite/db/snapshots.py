"""Snapshots: the one place their queries live (SnapshotRepository).

Every status change is a compare-and-swap taking a named transition from
domain/snapshots.py. A snapshot and its volume are changed under the volume
row's lock (`lock_volume`), so a snapshot cannot be added to a volume that a
concurrent delete is taking away, on PostgreSQL as on SQLite (where every write
transaction is serialised anyway).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from cinderlite.db import cas
from cinderlite.db import volumes as volumes_db
from cinderlite.db.database import Database, Unit
from cinderlite.db.models import Job, Snapshot, Volume
from cinderlite.db.paging import SortColumns
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.snapshots import SnapshotStatus
from cinderlite.domain.transitions import Transition

# The keys snapshots may be sorted on (Cinder's snapshot sort keys), and filtered
# by with plain equality.
SORT = SortColumns({
    "id": Snapshot.id,
    "name": Snapshot.name,
    "display_name": Snapshot.name,
    "status": Snapshot.status,
    "volume_id": Snapshot.volume_id,
    "size": Snapshot.volume_size,
    "created_at": Snapshot.created_at,
    "updated_at": Snapshot.updated_at,
    "project_id": Snapshot.project_id,
    "user_id": Snapshot.user_id,
})
FILTER_KEYS = frozenset({"name", "status", "volume_id", "project_id", "availability_zone"})
# The job kind that makes a snapshot's bytes.
SNAPSHOT_JOB = "snapshot"


class SnapshotRepository:
    """Snapshot rows: reads (inside a unit when given, else in a read of their
    own), inserts, compare-and-swap status changes and removal."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, snapshot_id: str, *, unit: Unit | None = None) -> Snapshot | None:
        if unit is not None:
            return await unit.get(Snapshot, snapshot_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(Snapshot, snapshot_id)

    async def page(
        self, *, project_id: str | None, filters: dict[str, Any],
        sort: Sequence[tuple[str, str]], limit: int | None, marker_id: str | None,
        offset: int = 0,
    ) -> list[Snapshot] | None:
        """A page of snapshots (of `project_id`, or of everyone when None); None
        when `marker_id` names no snapshot the caller could list."""
        keys = SORT.order_keys(sort)
        async with self._database.read() as db:
            stmt = select(Snapshot)
            if marker_id is not None:
                marker = await db.get(Snapshot, marker_id)
                if marker is None or (project_id is not None and marker.project_id != project_id):
                    return None
                stmt = stmt.where(SORT.after(marker, keys))
            if project_id is not None:
                stmt = stmt.where(Snapshot.project_id == project_id)
            for key, value in filters.items():
                if key == "availability_zone":
                    # A snapshot is in its volume's zone (Cinder joins the volume).
                    stmt = stmt.join(Volume, Volume.id == Snapshot.volume_id).where(
                        Volume.availability_zone == value)
                    continue
                stmt = stmt.where(SORT.columns[key] == value)
            stmt = stmt.order_by(*(SORT.order(k, d) for k, d in keys))
            if limit is not None:
                stmt = stmt.limit(limit)
            if offset:
                stmt = stmt.offset(offset)
            return list((await db.execute(stmt)).scalars())

    async def for_volume(self, unit: Unit, volume_id: str) -> list[Snapshot]:
        stmt = select(Snapshot).where(Snapshot.volume_id == volume_id).order_by(Snapshot.id)
        return list((await unit.execute(stmt)).scalars())

    async def count_for_volume(self, unit: Unit, volume_id: str) -> int:
        stmt = select(func.count()).select_from(Snapshot).where(Snapshot.volume_id == volume_id)
        return int((await unit.execute(stmt)).scalar_one())

    async def lock_volume(self, unit: Unit, volume_id: str) -> Volume | None:
        """The volume row, locked for the rest of the unit (db/volumes.py lock_row)."""
        return await volumes_db.lock_row(unit, volume_id)

    async def add(self, unit: Unit, snapshot: Snapshot) -> None:
        unit.add(snapshot)
        await unit.flush()

    async def transition(
        self, unit: Unit, snapshot_id: str, rule: Transition[SnapshotStatus], *, now: datetime,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """`UPDATE snapshots SET status = rule.target ... WHERE id = ? AND status IN
        rule.source`; False when the row did not match."""
        stmt = cas.cas_stmt(Snapshot, snapshot_id, rule, now=now, **(values or {}))
        stmt = stmt.execution_options(synchronize_session=False)
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def update_fields(
        self, unit: Unit, snapshot_id: str, values: dict[str, Any]
    ) -> bool:
        stmt = (
            update(Snapshot).where(Snapshot.id == snapshot_id).values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def remove(self, unit: Unit, snapshot_id: str, *, expected: SnapshotStatus) -> bool:
        """Delete the row if it still has status `expected`."""
        result = await unit.execute(
            delete(Snapshot).where(Snapshot.id == snapshot_id, Snapshot.status == expected)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def ids_with_status(
        self, unit: Unit, statuses: Collection[SnapshotStatus]
    ) -> list[str]:
        stmt = select(Snapshot.id).where(Snapshot.status.in_(sorted(statuses)))
        return list((await unit.execute(stmt)).scalars())

    async def with_unfinished_jobs(self, unit: Unit) -> set[str]:
        """The snapshots whose copy job is still queued or running."""
        stmt = select(Job.params).where(
            Job.kind == SNAPSHOT_JOB, Job.state.in_(sorted(job_rules.UNFINISHED))
        )
        return {str(p.get("snapshot_id")) for p in (await unit.execute(stmt)).scalars()}
