"""Backups: the one place their queries live (BackupRepository).

Every status change is a compare-and-swap taking a named transition from
domain/backups.py. A backup's start and its volume's status change happen in
one unit under the volume row's lock (`lock_volume`), like snapshots.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from cinderlite.db import cas
from cinderlite.db import volumes as volumes_db
from cinderlite.db.database import Database, Unit
from cinderlite.db.models import Backup, Job, Volume
from cinderlite.db.paging import SortColumns
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.backups import BackupStatus
from cinderlite.domain.errors import Conflict
from cinderlite.domain.transitions import Transition

# The keys backups may be sorted on, and filtered by with plain equality
# (Cinder's non-admin backup filters: name, status, volume_id).
SORT = SortColumns({
    "id": Backup.id,
    "name": Backup.name,
    "display_name": Backup.name,
    "status": Backup.status,
    "volume_id": Backup.volume_id,
    "size": Backup.size,
    "created_at": Backup.created_at,
    "updated_at": Backup.updated_at,
    "project_id": Backup.project_id,
})
FILTER_KEYS = frozenset({"name", "status", "volume_id"})
# The job kinds that write a backup and restore one.
BACKUP_JOB = "backup"
RESTORE_JOB = "restore"
# How many parents an incremental chain may have (a bound on the walk up it).
MAX_CHAIN = 1000


class BackupRepository:
    """Backup rows: reads, inserts, compare-and-swap status changes and removal."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, backup_id: str, *, unit: Unit | None = None) -> Backup | None:
        if unit is not None:
            return await unit.get(Backup, backup_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(Backup, backup_id)

    async def page(
        self, *, project_id: str | None, filters: dict[str, Any],
        sort: Sequence[tuple[str, str]], limit: int | None, marker_id: str | None,
        offset: int = 0,
    ) -> list[Backup] | None:
        """A page of backups (of `project_id`, or everyone's when None); None when
        `marker_id` names no backup the caller could list."""
        keys = SORT.order_keys(sort)
        async with self._database.read() as db:
            stmt = select(Backup)
            if marker_id is not None:
                marker = await db.get(Backup, marker_id)
                if marker is None or (project_id is not None and marker.project_id != project_id):
                    return None
                stmt = stmt.where(SORT.after(marker, keys))
            if project_id is not None:
                stmt = stmt.where(Backup.project_id == project_id)
            for key, value in filters.items():
                stmt = stmt.where(SORT.columns[key] == value)
            stmt = stmt.order_by(*(SORT.order(k, d) for k, d in keys))
            if limit is not None:
                stmt = stmt.limit(limit)
            if offset:
                stmt = stmt.offset(offset)
            return list((await db.execute(stmt)).scalars())

    async def with_children(self, backup_ids: Collection[str]) -> set[str]:
        """Which of `backup_ids` have incremental backups taken on top of them."""
        if not backup_ids:
            return set()
        async with self._database.read() as db:
            stmt = select(Backup.parent_id).where(Backup.parent_id.in_(sorted(backup_ids)))
            return {str(p) for p in (await db.execute(stmt)).scalars()}

    async def count_children(self, unit: Unit, backup_id: str) -> int:
        stmt = select(func.count()).select_from(Backup).where(Backup.parent_id == backup_id)
        return int((await unit.execute(stmt)).scalar_one())

    async def for_volume(self, unit: Unit, volume_id: str, project_id: str) -> list[Backup]:
        stmt = select(Backup).where(
            Backup.volume_id == volume_id, Backup.project_id == project_id
        ).order_by(Backup.created_at, Backup.id)
        return list((await unit.execute(stmt)).scalars())

    async def ancestors(self, backup: Backup) -> list[Backup]:
        """The backup's parent, its parent's parent, ...: nearest first."""
        found: list[Backup] = []
        parent_id = backup.parent_id
        async with self._database.read() as db:
            while parent_id is not None and len(found) < MAX_CHAIN:
                row = await db.get(Backup, parent_id)
                if row is None:
                    break
                found.append(row)
                parent_id = row.parent_id
        return found

    async def lock_volume(self, unit: Unit, volume_id: str) -> Volume | None:
        """The volume row, locked for the rest of the unit (db/volumes.py lock_row)."""
        return await volumes_db.lock_row(unit, volume_id)

    async def add(self, unit: Unit, backup: Backup) -> None:
        """Insert the row; Conflict when a backup with its id exists."""
        unit.add(backup)
        try:
            await unit.flush()
        except IntegrityError as exc:
            raise Conflict(f"Backup {backup.id} already exists.") from exc

    async def transition(
        self, unit: Unit, backup_id: str, rule: Transition[BackupStatus], *, now: datetime,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """`UPDATE backups SET status = rule.target ... WHERE id = ? AND status IN
        rule.source`; False when the row did not match."""
        stmt = cas.cas_stmt(Backup, backup_id, rule, now=now, **(values or {}))
        stmt = stmt.execution_options(synchronize_session=False)
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def hold_available(self, unit: Unit, backup_id: str) -> bool:
        """Lock the row of an `available` backup for the rest of the unit (an UPDATE
        that changes nothing); False when it is not available (any more)."""
        stmt = (
            update(Backup)
            .where(Backup.id == backup_id, Backup.status == BackupStatus.AVAILABLE)
            .values(status=Backup.status)
            .execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def update_fields(self, unit: Unit, backup_id: str, values: dict[str, Any]) -> bool:
        stmt = (
            update(Backup).where(Backup.id == backup_id).values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def remove(self, unit: Unit, backup_id: str, *, expected: BackupStatus) -> bool:
        """Delete the row if it still has status `expected` and no children."""
        result = await unit.execute(
            delete(Backup).where(Backup.id == backup_id, Backup.status == expected)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def with_status(
        self, unit: Unit, statuses: Collection[BackupStatus]
    ) -> list[Backup]:
        stmt = select(Backup).where(Backup.status.in_(sorted(statuses)))
        return list((await unit.execute(stmt)).scalars())

    async def with_unfinished_jobs(self, unit: Unit, kind: str) -> set[str]:
        """The backups whose job of `kind` is still queued or running."""
        stmt = select(Job.params).where(
            Job.kind == kind, Job.state.in_(sorted(job_rules.UNFINISHED))
        )
        return {str(p.get("backup_id")) for p in (await unit.execute(stmt)).scalars()}
