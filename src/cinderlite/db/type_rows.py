"""What the volume-type and group-type tables share: a named row with specs,
inserted, renamed, updated and locked the same way (db/volume_types.py,
db/group_types.py build on it)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from sqlalchemy import exists, func, select, update

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import GroupType, VolumeType

TypeRowT = TypeVar("TypeRowT", VolumeType, GroupType)


class TypeRows(Generic[TypeRowT]):
    """Insert, name check, field update, row lock and count of one type table."""

    def __init__(self, database: Database, model: type[TypeRowT]) -> None:
        self._database = database
        self._model: type[TypeRowT] = model

    async def add(self, unit: Unit, row: TypeRowT) -> None:
        unit.add(row)
        await unit.flush()

    async def name_taken(self, unit: Unit, name: str, *, other_than: str | None = None) -> bool:
        cond = self._model.name == name
        if other_than is not None:
            cond = cond & (self._model.id != other_than)
        return bool((await unit.execute(select(exists().where(cond)))).scalar())

    async def update_fields(self, unit: Unit, type_id: str, values: dict[str, Any]) -> bool:
        stmt = (
            update(self._model).where(self._model.id == type_id).values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool((await unit.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def lock(self, unit: Unit, type_id: str) -> TypeRowT | None:
        """The row, locked for the rest of the unit (its specs are read, changed, written)."""
        stmt = select(self._model).where(self._model.id == type_id).with_for_update()
        result = await unit.execute(stmt.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def count(self, unit: Unit) -> int:
        return int((await unit.execute(select(func.count()).select_from(self._model))).scalar_one())
