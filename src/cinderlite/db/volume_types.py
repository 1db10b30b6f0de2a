"""Volume types as an admin API: the one place their queries live
(VolumeTypeRepository): types, their project access, encryption specs and the
projects' default types."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, or_, select, update

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import (
    DefaultVolumeType,
    Group,
    GroupVolumeType,
    Volume,
    VolumeType,
    VolumeTypeEncryption,
    VolumeTypeProject,
)
from cinderlite.db.paging import SortColumns
from cinderlite.db.type_rows import TypeRows

SORT = SortColumns({
    "id": VolumeType.id,
    "name": VolumeType.name,
    "description": VolumeType.description,
    "is_public": VolumeType.is_public,
    "created_at": VolumeType.created_at,
    "updated_at": VolumeType.updated_at,
})


def _visible(project_id: str | None) -> Any:
    """Public types, and the private ones `project_id` was given (None: every type)."""
    if project_id is None:
        return None
    granted = exists().where(
        (VolumeTypeProject.volume_type_id == VolumeType.id)
        & (VolumeTypeProject.project_id == project_id)
    )
    return or_(VolumeType.is_public.is_(True), granted)


class VolumeTypeRepository(TypeRows[VolumeType]):
    """Volume type rows and the rows that hang off them."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, VolumeType)

    # --- types ----------------------------------------------------------------------

    async def get(
        self, type_id: str, *, project_id: str | None = None, unit: Unit | None = None,
    ) -> VolumeType | None:
        """The type by id; with `project_id`, only when that project may see it."""
        return await self._one(VolumeType.id == type_id, project_id, unit)

    async def find_by_name(
        self, name: str, *, project_id: str | None = None, unit: Unit | None = None,
    ) -> VolumeType | None:
        return await self._one(VolumeType.name == name, project_id, unit)

    async def _one(self, cond: Any, project_id: str | None, unit: Unit | None) -> VolumeType | None:
        stmt = select(VolumeType).where(cond)
        visible = _visible(project_id)
        if visible is not None:
            stmt = stmt.where(visible)
        if unit is not None:
            result = await unit.execute(stmt.execution_options(populate_existing=True))
            return result.scalar_one_or_none()
        async with self._database.read() as db:
            return (await db.execute(stmt)).scalar_one_or_none()

    async def page(
        self, *, visible_to: str | None, project_id: str, is_public: bool | None,
        sort: Sequence[tuple[str, str]], limit: int | None, marker_id: str | None,
        offset: int = 0,
    ) -> list[VolumeType] | None:
        """Types `visible_to` may see (None: all), filtered on `is_public` as Cinder
        does (True: public ones and those `project_id` has access to; False:
        private ones; None: both), in `sort` order; None when the marker names no
        type."""
        keys = SORT.order_keys(sort)
        async with self._database.read() as db:
            stmt = select(VolumeType)
            visible = _visible(visible_to)
            if visible is not None:
                stmt = stmt.where(visible)
            if is_public:
                stmt = stmt.where(_visible(project_id))
            elif is_public is not None:
                stmt = stmt.where(VolumeType.is_public.is_(False))
            if marker_id is not None:
                marker = await db.get(VolumeType, marker_id)
                if marker is None:
                    return None
                stmt = stmt.where(SORT.after(marker, keys))
            stmt = stmt.order_by(*(SORT.order(k, d) for k, d in keys))
            if limit is not None:
                stmt = stmt.limit(limit)
            if offset:
                stmt = stmt.offset(offset)
            return list((await db.execute(stmt)).scalars())

    async def in_use(self, unit: Unit, type_id: str) -> bool:
        """Whether a volume has this type, or a group was made with it."""
        by_volume = select(exists().where(Volume.volume_type_id == type_id))
        if (await unit.execute(by_volume)).scalar():
            return True
        by_group = select(exists().where(
            (GroupVolumeType.volume_type_id == type_id)
            & (GroupVolumeType.group_id == Group.id)
        ))
        return bool((await unit.execute(by_group)).scalar())

    async def has_volumes(self, unit: Unit | None, type_id: str) -> bool:
        stmt = select(exists().where(Volume.volume_type_id == type_id))
        if unit is not None:
            return bool((await unit.execute(stmt)).scalar())
        async with self._database.read() as db:
            return bool((await db.execute(stmt)).scalar())

    async def remove(self, unit: Unit, type_id: str) -> bool:
        for model in (VolumeTypeProject, VolumeTypeEncryption, DefaultVolumeType):
            await unit.execute(delete(model).where(model.volume_type_id == type_id))
        result = await unit.execute(delete(VolumeType).where(VolumeType.id == type_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- project access ---------------------------------------------------------------

    async def projects(self, type_id: str) -> list[str]:
        stmt = (
            select(VolumeTypeProject.project_id)
            .where(VolumeTypeProject.volume_type_id == type_id)
            .order_by(VolumeTypeProject.project_id)
        )
        async with self._database.read() as db:
            return list((await db.execute(stmt)).scalars())

    async def has_access(self, unit: Unit, type_id: str, project_id: str) -> bool:
        stmt = select(exists().where(
            (VolumeTypeProject.volume_type_id == type_id)
            & (VolumeTypeProject.project_id == project_id)
        ))
        return bool((await unit.execute(stmt)).scalar())

    async def add_access(self, unit: Unit, type_id: str, project_id: str) -> None:
        unit.add(VolumeTypeProject(volume_type_id=type_id, project_id=project_id))
        await unit.flush()

    async def remove_access(self, unit: Unit, type_id: str, project_id: str) -> bool:
        result = await unit.execute(delete(VolumeTypeProject).where(
            (VolumeTypeProject.volume_type_id == type_id)
            & (VolumeTypeProject.project_id == project_id)
        ))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- encryption -------------------------------------------------------------------

    async def encryption(
        self, type_id: str, *, unit: Unit | None = None
    ) -> VolumeTypeEncryption | None:
        if unit is not None:
            return await unit.get(VolumeTypeEncryption, type_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(VolumeTypeEncryption, type_id)

    async def add_encryption(self, unit: Unit, row: VolumeTypeEncryption) -> None:
        unit.add(row)
        await unit.flush()

    async def update_encryption(self, unit: Unit, type_id: str, values: dict[str, Any]) -> bool:
        stmt = (
            update(VolumeTypeEncryption).where(VolumeTypeEncryption.volume_type_id == type_id)
            .values(**values).execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def remove_encryption(self, unit: Unit, type_id: str) -> bool:
        result = await unit.execute(
            delete(VolumeTypeEncryption).where(VolumeTypeEncryption.volume_type_id == type_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # --- projects' default types ---------------------------------------------------------

    async def project_default(
        self, project_id: str, *, unit: Unit | None = None
    ) -> DefaultVolumeType | None:
        if unit is not None:
            return await unit.get(DefaultVolumeType, project_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(DefaultVolumeType, project_id)

    async def is_project_default(self, unit: Unit, type_id: str) -> bool:
        stmt = select(exists().where(DefaultVolumeType.volume_type_id == type_id))
        return bool((await unit.execute(stmt)).scalar())

    async def project_defaults(self) -> list[DefaultVolumeType]:
        async with self._database.read() as db:
            stmt = select(DefaultVolumeType).order_by(DefaultVolumeType.project_id)
            return list((await db.execute(stmt)).scalars())

    async def set_project_default(self, unit: Unit, row: DefaultVolumeType) -> None:
        await unit.merge(row)
        await unit.flush()

    async def unset_project_default(self, unit: Unit, project_id: str) -> bool:
        result = await unit.execute(
            delete(DefaultVolumeType).where(DefaultVolumeType.project_id == project_id)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]
