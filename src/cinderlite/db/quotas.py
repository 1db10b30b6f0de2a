"""Quotas: the one place their queries live (QuotaRepository).

Limits are rows of `quotas` (a project's own) and `quota_classes` (the
`default` class). Usage is not stored: `usage` counts the rows that consume
it (volumes, snapshots, backups, groups of the project), so it is exact
whatever crashed when. A unit that adds a consuming row first calls `lock`:
on PostgreSQL a transaction-scoped advisory lock on the project, so two
creates of one project check and insert one after the other; SQLite's write
units hold the database lock already.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, func, select, text

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import (
    Backup,
    Group,
    ProjectQuota,
    QuotaClassLimit,
    Snapshot,
    Volume,
    VolumeType,
)


class QuotaRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def lock(self, unit: Unit, project_id: str) -> None:
        """Serialise, until the unit ends, the units that consume `project_id`'s quota."""
        if unit.get_bind().dialect.name == "postgresql":
            await unit.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"quota:{project_id}"},
            )

    async def type_names(self, unit: Unit) -> list[str]:
        rows = await unit.execute(select(VolumeType.name).order_by(VolumeType.created_at,
                                                                   VolumeType.name))
        return [name for (name,) in rows]

    async def type_name(self, unit: Unit, type_id: str | None) -> str | None:
        if type_id is None:
            return None
        return (await unit.execute(
            select(VolumeType.name).where(VolumeType.id == type_id)
        )).scalar()

    async def volume_facts(
        self, unit: Unit, volume_id: str
    ) -> tuple[str, str | None, int] | None:
        """(project, type name, size) of a volume, read without a lock."""
        row = (await unit.execute(
            select(Volume.project_id, VolumeType.name, Volume.size)
            .outerjoin(VolumeType, VolumeType.id == Volume.volume_type_id)
            .where(Volume.id == volume_id)
        )).first()
        return None if row is None else (row[0], row[1], int(row[2]))

    async def snapshot_totals(self, unit: Unit, volume_id: str) -> tuple[int, int]:
        """(count, GiB) of the snapshots of a volume."""
        row = (await unit.execute(
            select(func.count(Snapshot.id), func.coalesce(func.sum(Snapshot.volume_size), 0))
            .where(Snapshot.volume_id == volume_id)
        )).one()
        return int(row[0]), int(row[1])

    async def class_limits(self, unit: Unit, class_name: str) -> dict[str, int]:
        rows = await unit.execute(
            select(QuotaClassLimit.resource, QuotaClassLimit.hard_limit)
            .where(QuotaClassLimit.class_name == class_name)
        )
        return {r: int(v) for r, v in rows}

    async def project_limits(self, unit: Unit, project_id: str) -> dict[str, int]:
        rows = await unit.execute(
            select(ProjectQuota.resource, ProjectQuota.hard_limit)
            .where(ProjectQuota.project_id == project_id)
        )
        return {r: int(v) for r, v in rows}

    async def set_project_limits(
        self, unit: Unit, project_id: str, values: Mapping[str, int]
    ) -> None:
        for resource, limit in values.items():
            row = await unit.get(ProjectQuota, (project_id, resource))
            if row is None:
                unit.add(ProjectQuota(project_id=project_id, resource=resource,
                                      hard_limit=limit))
            else:
                row.hard_limit = limit
        await unit.flush()

    async def set_class_limits(
        self, unit: Unit, class_name: str, values: Mapping[str, int]
    ) -> None:
        for resource, limit in values.items():
            row = await unit.get(QuotaClassLimit, (class_name, resource))
            if row is None:
                unit.add(QuotaClassLimit(class_name=class_name, resource=resource,
                                         hard_limit=limit))
            else:
                row.hard_limit = limit
        await unit.flush()

    async def delete_project_limits(self, unit: Unit, project_id: str) -> None:
        await unit.execute(delete(ProjectQuota).where(ProjectQuota.project_id == project_id))

    async def usage(self, unit: Unit, project_id: str) -> dict[str, int]:
        """What the project's rows consume, by quota key (per-type keys included)."""
        used: dict[str, int] = {}

        def add(key: str, value: object) -> None:
            used[key] = used.get(key, 0) + int(value or 0)  # type: ignore[call-overload]

        vols = await unit.execute(
            select(VolumeType.name, func.count(Volume.id), func.coalesce(func.sum(Volume.size), 0))
            .select_from(Volume).outerjoin(VolumeType, VolumeType.id == Volume.volume_type_id)
            .where(Volume.project_id == project_id).group_by(VolumeType.name)
        )
        for type_name, count, size in vols:
            add("volumes", count)
            add("gigabytes", size)
            if type_name:
                add(f"volumes_{type_name}", count)
                add(f"gigabytes_{type_name}", size)
        snaps = await unit.execute(
            select(VolumeType.name, func.count(Snapshot.id),
                   func.coalesce(func.sum(Snapshot.volume_size), 0))
            .select_from(Snapshot).join(Volume, Volume.id == Snapshot.volume_id)
            .outerjoin(VolumeType, VolumeType.id == Volume.volume_type_id)
            .where(Snapshot.project_id == project_id).group_by(VolumeType.name)
        )
        for type_name, count, size in snaps:
            add("snapshots", count)
            add("gigabytes", size)
            if type_name:
                add(f"snapshots_{type_name}", count)
                add(f"gigabytes_{type_name}", size)
        backups = (await unit.execute(
            select(func.count(Backup.id), func.coalesce(func.sum(Backup.size), 0))
            .where(Backup.project_id == project_id)
        )).one()
        add("backups", backups[0])
        add("backup_gigabytes", backups[1])
        groups = (await unit.execute(
            select(func.count(Group.id)).where(Group.project_id == project_id)
        )).scalar()
        add("groups", groups)
        return used
