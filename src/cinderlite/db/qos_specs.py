"""QoS specs: the one place their queries live (QosSpecRepository): the specs,
their keys, and their association with volume types (volume_types.qos_specs_id)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, select, update
from sqlalchemy.exc import IntegrityError

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import QosSpecKey, QosSpecs, VolumeType
from cinderlite.db.paging import SortColumns
from cinderlite.domain.errors import Conflict
from cinderlite.domain.qos import Association, QosSpec

# Cinder sorts and filters on the columns of its quality_of_service_specs
# table, where a spec's name is the `value` of its root row: these are the
# ones that mean something for a spec.
SORT = SortColumns({
    "id": QosSpecs.id,
    "value": QosSpecs.name,
    "created_at": QosSpecs.created_at,
    "updated_at": QosSpecs.updated_at,
})
FILTERS = {"id": QosSpecs.id, "value": QosSpecs.name}


def _spec(row: QosSpecs, keys: Sequence[QosSpecKey]) -> QosSpec:
    return QosSpec(
        id=row.id, name=row.name, consumer=row.consumer, created_at=row.created_at,
        updated_at=row.updated_at, specs={k.key: k.value for k in keys},
    )


class QosSpecRepository:
    """QoS spec rows: reads (in a unit when given, else a read of their own),
    inserts, key changes, removal, and the association with volume types."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # --- specs ----------------------------------------------------------------------

    async def get(self, spec_id: str, *, unit: Unit | None = None) -> QosSpec | None:
        if unit is not None:
            return await self._get(unit, spec_id)
        async with self._database.read() as db:
            return await self._get(db, spec_id)

    async def _get(self, db: Unit, spec_id: str) -> QosSpec | None:
        row = await db.get(QosSpecs, spec_id, populate_existing=True)
        if row is None:
            return None
        return _spec(row, (await self._keys(db, [spec_id]))[spec_id])

    async def _keys(self, db: Unit, ids: Sequence[str]) -> dict[str, list[QosSpecKey]]:
        """The key rows of each spec of `ids`."""
        stmt = (
            select(QosSpecKey).where(QosSpecKey.qos_specs_id.in_(ids))
            .order_by(QosSpecKey.qos_specs_id, QosSpecKey.key)
        )
        by_spec: dict[str, list[QosSpecKey]] = {i: [] for i in ids}
        for key in (await db.execute(stmt)).scalars():
            by_spec[key.qos_specs_id].append(key)
        return by_spec

    async def lock(self, unit: Unit, spec_id: str) -> QosSpec | None:
        """The spec, its row locked for the rest of the unit (a writer of its keys
        or its associations waits for it)."""
        stmt = select(QosSpecs).where(QosSpecs.id == spec_id).with_for_update()
        result = await unit.execute(stmt.execution_options(populate_existing=True))
        row = result.scalar_one_or_none()
        if row is None:
            return None
        return _spec(row, (await self._keys(unit, [spec_id]))[spec_id])

    async def page(
        self, *, filters: Mapping[str, str], sort: Sequence[tuple[str, str]],
        limit: int | None, marker_id: str | None, offset: int = 0,
    ) -> list[QosSpec] | None:
        """Specs matching `filters` (keys of FILTERS) in `sort` order; None when
        the marker names no spec."""
        keys = SORT.order_keys(sort)
        async with self._database.read() as db:
            stmt = select(QosSpecs)
            for key, value in filters.items():
                stmt = stmt.where(FILTERS[key] == value)
            if marker_id is not None:
                marker = await db.get(QosSpecs, marker_id)
                if marker is None:
                    return None
                stmt = stmt.where(SORT.after(marker, keys))
            stmt = stmt.order_by(*(SORT.order(k, d) for k, d in keys))
            if limit is not None:
                stmt = stmt.limit(limit)
            if offset:
                stmt = stmt.offset(offset)
            rows = list((await db.execute(stmt)).scalars())
            if not rows:
                return []
            by_spec = await self._keys(db, [r.id for r in rows])
            return [_spec(row, by_spec[row.id]) for row in rows]

    async def name_taken(self, unit: Unit, name: str) -> bool:
        return bool((await unit.execute(select(exists().where(QosSpecs.name == name)))).scalar())

    async def add(
        self, unit: Unit, row: QosSpecs, specs: Mapping[str, str | None]
    ) -> None:
        """Insert the spec and its keys; Conflict when its name was taken meanwhile
        (two creates of one name: the unique index decides)."""
        unit.add(row)
        try:
            await unit.flush()
        except IntegrityError as exc:
            raise Conflict(f"QoS Specs {row.name} already exists.") from exc
        # After the spec's row: nothing orders the two inserts for the key's
        # foreign key otherwise.
        unit.add_all(QosSpecKey(qos_specs_id=row.id, key=k, value=v) for k, v in specs.items())
        await unit.flush()

    async def set_keys(
        self, unit: Unit, spec_id: str, specs: Mapping[str, str | None], *,
        consumer: str | None, now: datetime,
    ) -> None:
        """Insert or overwrite `specs`; change the consumer when given."""
        if specs:
            await unit.execute(delete(QosSpecKey).where(
                (QosSpecKey.qos_specs_id == spec_id) & QosSpecKey.key.in_(list(specs))
            ))
            unit.add_all(QosSpecKey(qos_specs_id=spec_id, key=k, value=v) for k, v in specs.items())
            await unit.flush()
        values: dict[str, Any] = {"updated_at": now}
        if consumer is not None:
            values["consumer"] = consumer
        await unit.execute(
            update(QosSpecs).where(QosSpecs.id == spec_id).values(**values)
            .execution_options(synchronize_session=False)
        )

    async def delete_keys(
        self, unit: Unit, spec_id: str, keys: Sequence[str], *, now: datetime,
    ) -> None:
        await unit.execute(delete(QosSpecKey).where(
            (QosSpecKey.qos_specs_id == spec_id) & QosSpecKey.key.in_(list(keys))
        ))
        await unit.execute(
            update(QosSpecs).where(QosSpecs.id == spec_id).values(updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def remove(self, unit: Unit, spec_id: str) -> None:
        await unit.execute(delete(QosSpecKey).where(QosSpecKey.qos_specs_id == spec_id))
        await unit.execute(delete(QosSpecs).where(QosSpecs.id == spec_id))

    # --- associations with volume types ------------------------------------------------

    async def associations(self, spec_id: str, *, unit: Unit | None = None) -> list[Association]:
        stmt = (
            select(VolumeType.id, VolumeType.name).where(VolumeType.qos_specs_id == spec_id)
            .order_by(VolumeType.name, VolumeType.id)
        )
        if unit is not None:
            rows = (await unit.execute(stmt)).all()
        else:
            async with self._database.read() as db:
                rows = (await db.execute(stmt)).all()
        return [Association(id=r.id, name=r.name) for r in rows]

    async def associate(self, unit: Unit, spec_id: str, type_id: str, *, now: datetime) -> None:
        await unit.execute(
            update(VolumeType).where(VolumeType.id == type_id)
            .values(qos_specs_id=spec_id, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def disassociate(
        self, unit: Unit, spec_id: str, *, type_id: str | None, now: datetime,
    ) -> None:
        """Clear the association of `type_id` with the spec (None: of every type)."""
        cond = VolumeType.qos_specs_id == spec_id
        if type_id is not None:
            cond = cond & (VolumeType.id == type_id)
        await unit.execute(
            update(VolumeType).where(cond).values(qos_specs_id=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def spec_of_type(self, type_id: str, *, unit: Unit | None = None) -> QosSpec | None:
        """The spec associated with a volume type, if any."""
        if unit is not None:
            return await self._spec_of_type(unit, type_id)
        async with self._database.read() as db:
            return await self._spec_of_type(db, type_id)

    async def _spec_of_type(self, db: Unit, type_id: str) -> QosSpec | None:
        stmt = select(VolumeType.qos_specs_id).where(VolumeType.id == type_id)
        spec_id = (await db.execute(stmt)).scalar_one_or_none()
        if spec_id is None:
            return None
        return await self._get(db, spec_id)


__all__ = ["FILTERS", "SORT", "QosSpecRepository"]
