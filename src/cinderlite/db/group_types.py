"""Group types (3.11): the one place their queries live (GroupTypeRepository)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, exists, select

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import Group, GroupType
from cinderlite.db.paging import SortColumns
from cinderlite.db.type_rows import TypeRows

# The keys group types may be sorted on (Cinder sorts on any of their columns).
SORT = SortColumns({
    "id": GroupType.id,
    "name": GroupType.name,
    "description": GroupType.description,
    "is_public": GroupType.is_public,
    "created_at": GroupType.created_at,
    "updated_at": GroupType.updated_at,
})


class GroupTypeRepository(TypeRows[GroupType]):
    """Group type rows: reads (in a unit when given, else a read of their own),
    inserts, updates, specs changes and removal."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, GroupType)

    async def get(self, type_id: str, *, unit: Unit | None = None) -> GroupType | None:
        if unit is not None:
            return await unit.get(GroupType, type_id, populate_existing=True)
        async with self._database.read() as db:
            return await db.get(GroupType, type_id)

    async def find_by_name(self, name: str, *, unit: Unit | None = None) -> GroupType | None:
        stmt = select(GroupType).where(GroupType.name == name)
        if unit is not None:
            return (await unit.execute(stmt)).scalar_one_or_none()
        async with self._database.read() as db:
            return (await db.execute(stmt)).scalar_one_or_none()

    async def page(
        self, *, is_public: bool | None, sort: Sequence[tuple[str, str]], limit: int | None,
        marker_id: str | None, offset: int = 0,
    ) -> list[GroupType] | None:
        """Group types (public only, private only, or both when `is_public` is None)
        in `sort` order; None when the marker names no group type."""
        keys = SORT.order_keys(sort)
        async with self._database.read() as db:
            stmt = select(GroupType)
            if is_public is not None:
                stmt = stmt.where(GroupType.is_public.is_(is_public))
            if marker_id is not None:
                marker = await db.get(GroupType, marker_id)
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
        """Whether a group has this type."""
        stmt = select(exists().where(Group.group_type_id == type_id))
        return bool((await unit.execute(stmt)).scalar())

    async def remove(self, unit: Unit, type_id: str) -> bool:
        result = await unit.execute(delete(GroupType).where(GroupType.id == type_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]
