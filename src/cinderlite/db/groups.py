"""Generic volume groups and group snapshots: the one place their queries live
(GroupRepository, GroupSnapshotRepository).

Every status change is a compare-and-swap taking a named transition from
domain/groups.py. A change of a group's members, a delete and a group snapshot
lock the group row first (`lock`), and each member volume's row
(db/volumes.lock_row) before reading its status, so a volume cannot be both
added to a group and deleted, on PostgreSQL as on SQLite.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update

from cinderlite.db import cas
from cinderlite.db import volumes as volumes_db
from cinderlite.db.database import Database, Unit
from cinderlite.db.models import (
    Group,
    GroupSnapshot,
    GroupVolumeType,
    Snapshot,
    Volume,
    VolumeType,
)
from cinderlite.db.paging import SortColumns
from cinderlite.domain.groups import GroupSnapshotStatus, GroupStatus
from cinderlite.domain.snapshots import SnapshotStatus
from cinderlite.domain.transitions import Transition

GROUP_SORT = SortColumns({
    "id": Group.id,
    "name": Group.name,
    "status": Group.status,
    "created_at": Group.created_at,
    "updated_at": Group.updated_at,
    "project_id": Group.project_id,
    "availability_zone": Group.availability_zone,
    "group_type_id": Group.group_type_id,
})
GROUP_FILTERS = frozenset({"name", "status", "availability_zone", "group_type_id"})
SNAPSHOT_SORT = SortColumns({
    "id": GroupSnapshot.id,
    "name": GroupSnapshot.name,
    "status": GroupSnapshot.status,
    "group_id": GroupSnapshot.group_id,
    "created_at": GroupSnapshot.created_at,
    "updated_at": GroupSnapshot.updated_at,
    "project_id": GroupSnapshot.project_id,
})
SNAPSHOT_FILTERS = frozenset({"name", "status", "group_id"})


async def _page(
    db: Unit, model: Any, sort_columns: SortColumns, *, project_id: str | None,
    filters: dict[str, Any], sort: Sequence[tuple[str, str]], limit: int | None,
    marker_id: str | None, offset: int,
) -> list[Any] | None:
    keys = sort_columns.order_keys(sort)
    stmt = select(model)
    if marker_id is not None:
        marker = await db.get(model, marker_id)
        if marker is None or (project_id is not None and marker.project_id != project_id):
            return None
        stmt = stmt.where(sort_columns.after(marker, keys))
    if project_id is not None:
        stmt = stmt.where(model.project_id == project_id)
    for key, value in filters.items():
        stmt = stmt.where(sort_columns.columns[key] == value)
    stmt = stmt.order_by(*(sort_columns.order(k, d) for k, d in keys))
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return list((await db.execute(stmt)).scalars())


class GroupRepository:
    """Group rows, their volume types and their member volumes."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, group_id: str, *, unit: Unit | None = None) -> Group | None:
        if unit is not None:
            return await unit.get(Group, group_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(Group, group_id)

    async def lock(self, unit: Unit, group_id: str) -> Group | None:
        """The group row, locked for the rest of the unit (FOR UPDATE on PostgreSQL)."""
        stmt = select(Group).where(Group.id == group_id).with_for_update()
        result = await unit.execute(stmt.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def page(
        self, *, project_id: str | None, filters: dict[str, Any],
        sort: Sequence[tuple[str, str]], limit: int | None, marker_id: str | None,
        offset: int = 0,
    ) -> list[Group] | None:
        async with self._database.read() as db:
            return await _page(
                db, Group, GROUP_SORT, project_id=project_id, filters=filters, sort=sort,
                limit=limit, marker_id=marker_id, offset=offset,
            )

    async def volume_types(self, group_ids: Collection[str]) -> dict[str, list[str]]:
        """The volume type ids of each group, in the order they were given."""
        if not group_ids:
            return {}
        stmt = (
            select(GroupVolumeType.group_id, GroupVolumeType.volume_type_id)
            .where(GroupVolumeType.group_id.in_(sorted(group_ids)))
            .order_by(GroupVolumeType.group_id, GroupVolumeType.position)
        )
        found: dict[str, list[str]] = {g: [] for g in group_ids}
        async with self._database.read() as db:
            for group_id, type_id in (await db.execute(stmt)).all():
                found[group_id].append(type_id)
        return found

    async def member_ids(self, group_ids: Collection[str]) -> dict[str, list[str]]:
        """The ids of each group's volumes (3.25 `list_volume`)."""
        if not group_ids:
            return {}
        stmt = (
            select(Volume.group_id, Volume.id).where(Volume.group_id.in_(sorted(group_ids)))
            .order_by(Volume.created_at, Volume.id)
        )
        found: dict[str, list[str]] = {g: [] for g in group_ids}
        async with self._database.read() as db:
            for group_id, volume_id in (await db.execute(stmt)).all():
                found[str(group_id)].append(volume_id)
        return found

    async def find_volume_types(
        self, unit: Unit, names_or_ids: Sequence[str]
    ) -> list[tuple[str, VolumeType | None]]:
        """Each name or id with the volume type it names (by id first, then by name)."""
        out: list[tuple[str, VolumeType | None]] = []
        for key in names_or_ids:
            out.append((key, await volumes_db.find_type(unit, name_or_id=key)))
        return out

    async def add(self, unit: Unit, group: Group, volume_type_ids: Sequence[str]) -> None:
        unit.add(group)
        await unit.flush()
        for position, type_id in enumerate(volume_type_ids):
            unit.add(GroupVolumeType(group_id=group.id, volume_type_id=type_id,
                                     position=position))
        await unit.flush()

    async def transition(
        self, unit: Unit, group_id: str, rule: Transition[GroupStatus], *, now: datetime,
        values: dict[str, Any] | None = None,
    ) -> bool:
        stmt = cas.cas_stmt(Group, group_id, rule, now=now, **(values or {}))
        stmt = stmt.execution_options(synchronize_session=False)
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def update_fields(self, unit: Unit, group_id: str, values: dict[str, Any]) -> bool:
        stmt = (
            update(Group).where(Group.id == group_id).values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def members(self, unit: Unit, group_id: str) -> list[Volume]:
        stmt = (
            select(Volume).where(Volume.group_id == group_id)
            .order_by(Volume.created_at, Volume.id)
            .execution_options(populate_existing=True)
        )
        return list((await unit.execute(stmt)).scalars())

    async def lock_volume(self, unit: Unit, volume_id: str) -> Volume | None:
        return await volumes_db.lock_row(unit, volume_id)

    async def set_group_of(
        self, unit: Unit, volume_ids: Collection[str], group_id: str | None, *, now: datetime
    ) -> None:
        if volume_ids:
            await unit.execute(
                update(Volume).where(Volume.id.in_(sorted(volume_ids)))
                .values(group_id=group_id, updated_at=now)
                .execution_options(synchronize_session=False)
            )

    async def volume_transition(
        self, unit: Unit, volume_id: str, rule: Transition[Any], *, now: datetime
    ) -> bool:
        return await volumes_db.transition(unit, volume_id=volume_id, rule=rule, now=now)

    async def has_snapshots(self, unit: Unit, volume_id: str) -> bool:
        stmt = select(exists().where(Snapshot.volume_id == volume_id))
        return bool((await unit.execute(stmt)).scalar())

    async def group_snapshot_count(self, unit: Unit, group_id: str) -> int:
        stmt = select(func.count()).select_from(GroupSnapshot).where(
            GroupSnapshot.group_id == group_id
        )
        return int((await unit.execute(stmt)).scalar_one())

    async def creating_from(
        self, unit: Unit, *, source_group_id: str | None = None,
        group_snapshot_id: str | None = None,
    ) -> bool:
        """Whether a group is being made (`creating`) from this source."""
        cond = Group.status == GroupStatus.CREATING
        if source_group_id is not None:
            cond = cond & (Group.source_group_id == source_group_id)
        if group_snapshot_id is not None:
            cond = cond & (Group.group_snapshot_id == group_snapshot_id)
        return bool((await unit.execute(select(exists().where(cond)))).scalar())

    async def remove(self, unit: Unit, group_id: str) -> bool:
        """The group row (its volume type rows go with it), if it has no volumes and
        no group snapshots left."""
        if (await unit.execute(select(exists().where(Volume.group_id == group_id)))).scalar():
            return False
        held = select(exists().where(GroupSnapshot.group_id == group_id))
        if (await unit.execute(held)).scalar():
            return False
        await unit.execute(delete(GroupVolumeType).where(GroupVolumeType.group_id == group_id))
        result = await unit.execute(delete(Group).where(Group.id == group_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def ids_with_status(self, unit: Unit, statuses: Collection[GroupStatus]) -> list[str]:
        stmt = select(Group.id).where(Group.status.in_(sorted(statuses)))
        return list((await unit.execute(stmt)).scalars())


class GroupSnapshotRepository:
    """Group snapshot rows and the snapshots they hold."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(
        self, group_snapshot_id: str, *, unit: Unit | None = None
    ) -> GroupSnapshot | None:
        if unit is not None:
            return await unit.get(GroupSnapshot, group_snapshot_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(GroupSnapshot, group_snapshot_id)

    async def page(
        self, *, project_id: str | None, filters: dict[str, Any],
        sort: Sequence[tuple[str, str]], limit: int | None, marker_id: str | None,
        offset: int = 0,
    ) -> list[GroupSnapshot] | None:
        async with self._database.read() as db:
            return await _page(
                db, GroupSnapshot, SNAPSHOT_SORT, project_id=project_id, filters=filters,
                sort=sort, limit=limit, marker_id=marker_id, offset=offset,
            )

    async def add(self, unit: Unit, row: GroupSnapshot) -> None:
        unit.add(row)
        await unit.flush()

    async def members(self, unit: Unit, group_snapshot_id: str) -> list[Snapshot]:
        stmt = (
            select(Snapshot).where(Snapshot.group_snapshot_id == group_snapshot_id)
            .order_by(Snapshot.created_at, Snapshot.id)
            .execution_options(populate_existing=True)
        )
        return list((await unit.execute(stmt)).scalars())

    async def transition(
        self, unit: Unit, group_snapshot_id: str, rule: Transition[GroupSnapshotStatus], *,
        now: datetime,
    ) -> bool:
        stmt = cas.cas_stmt(GroupSnapshot, group_snapshot_id, rule, now=now)
        stmt = stmt.execution_options(synchronize_session=False)
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def update_fields(
        self, unit: Unit, group_snapshot_id: str, values: dict[str, Any]
    ) -> bool:
        stmt = (
            update(GroupSnapshot).where(GroupSnapshot.id == group_snapshot_id).values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def members_deleting(self, unit: Unit, group_snapshot_id: str, *, now: datetime) -> None:
        """Every snapshot of the group snapshot `deleting` (Cinder sets them so
        whatever their status)."""
        await unit.execute(
            update(Snapshot).where(Snapshot.group_snapshot_id == group_snapshot_id)
            .values(status=SnapshotStatus.DELETING, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def remove(self, unit: Unit, group_snapshot_id: str) -> bool:
        """The row, if it is `deleting` and has no snapshots left."""
        left = select(exists().where(Snapshot.group_snapshot_id == group_snapshot_id))
        if (await unit.execute(left)).scalar():
            return False
        result = await unit.execute(delete(GroupSnapshot).where(
            GroupSnapshot.id == group_snapshot_id,
            GroupSnapshot.status == GroupSnapshotStatus.DELETING,
        ))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def ids_with_status(
        self, unit: Unit, statuses: Collection[GroupSnapshotStatus]
    ) -> list[str]:
        stmt = select(GroupSnapshot.id).where(GroupSnapshot.status.in_(sorted(statuses)))
        return list((await unit.execute(stmt)).scalars())
