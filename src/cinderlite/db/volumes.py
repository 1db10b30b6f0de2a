"""Queries for volumes, volume types and attachments (and the image rows a fill reads).

Status changes are compare-and-swap updates (`UPDATE ... WHERE status IN (...)`):
they return whether the row was changed, so two racing requests cannot both win.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Update, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cinderlite.db import cas
from cinderlite.db.database import Database
from cinderlite.db.fastread import SqliteReader
from cinderlite.db.models import (
    DefaultVolumeType,
    Image,
    ImageMember,
    Job,
    Volume,
    VolumeAttachment,
    VolumeType,
    VolumeTypeProject,
)
from cinderlite.db.paging import SortColumns
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.transitions import Transition
from cinderlite.domain.volumes import AttachStatus, VolumeStatus

DEFAULT_TYPE_NAME = "__DEFAULT__"
DEFAULT_TYPE_DESCRIPTION = "Default Volume Type"

# API sort key -> column. Cinder accepts the volume columns; these are the ones we hold.
SORT_COLUMNS = {
    "id": Volume.id,
    "name": Volume.name,
    "display_name": Volume.name,
    "status": Volume.status,
    "size": Volume.size,
    "created_at": Volume.created_at,
    "updated_at": Volume.updated_at,
    "availability_zone": Volume.availability_zone,
    "bootable": Volume.bootable,
    "project_id": Volume.project_id,
    "user_id": Volume.user_id,
    "group_id": Volume.group_id,
}

# Sortable columns that may hold NULL.
_NULLABLE = frozenset(c.key for c in Volume.__table__.columns if c.nullable)
_SORT = SortColumns(SORT_COLUMNS)


# --- volume types ---------------------------------------------------------------


async def get_type(db: AsyncSession, *, type_id: str) -> VolumeType | None:
    return await db.get(VolumeType, type_id)


async def find_type(db: AsyncSession, *, name_or_id: str) -> VolumeType | None:
    stmt = select(VolumeType).where(
        or_(VolumeType.id == name_or_id, VolumeType.name == name_or_id)
    )
    rows = list((await db.execute(stmt)).scalars())
    # An id match wins over a name match (Cinder get_by_name_or_id tries the id first).
    for row in rows:
        if row.id == name_or_id:
            return row
    return rows[0] if rows else None


async def list_types(db: AsyncSession, *, public_only: bool) -> list[VolumeType]:
    stmt = select(VolumeType).order_by(VolumeType.name)
    if public_only:
        stmt = stmt.where(VolumeType.is_public.is_(True))
    return list((await db.execute(stmt)).scalars())


async def find_type_by_name(db: AsyncSession, *, name: str) -> VolumeType | None:
    stmt = select(VolumeType).where(VolumeType.name == name)
    return (await db.execute(stmt)).scalar_one_or_none()


async def type_granted(db: AsyncSession, *, type_id: str, project_id: str) -> bool:
    """Whether `project_id` was given access to the (private) type."""
    stmt = select(VolumeTypeProject.project_id).where(
        (VolumeTypeProject.volume_type_id == type_id)
        & (VolumeTypeProject.project_id == project_id)
    )
    return (await db.execute(stmt)).first() is not None


async def project_default_type(db: AsyncSession, *, project_id: str) -> VolumeType | None:
    """The project's default volume type (3.62), if one is set."""
    stmt = select(VolumeType).join(
        DefaultVolumeType, DefaultVolumeType.volume_type_id == VolumeType.id
    ).where(DefaultVolumeType.project_id == project_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def add_default_type(db: AsyncSession, *, now: datetime) -> VolumeType:
    """Insert the `__DEFAULT__` type (IntegrityError if it exists)."""
    row = VolumeType(
        id=str(uuid.uuid4()), name=DEFAULT_TYPE_NAME, description=DEFAULT_TYPE_DESCRIPTION,
        is_public=True, extra_specs={}, qos_specs_id=None, created_at=now, updated_at=now,
    )
    db.add(row)
    await db.flush()
    return row


# --- volumes ----------------------------------------------------------------------


async def add(db: AsyncSession, volume: Volume) -> None:
    db.add(volume)
    await db.flush()


async def provisioned_gib(db: AsyncSession) -> int:
    """The sizes of all volumes, in GiB (what thin provisioning has promised)."""
    total = (await db.execute(select(func.coalesce(func.sum(Volume.size), 0)))).scalar()
    return int(total or 0)


async def get_with_type_name(
    db: AsyncSession, *, volume_id: str
) -> tuple[Volume, str | None] | None:
    """One query: the volume row and the name of its type."""
    stmt = (
        select(Volume, VolumeType.name)
        .outerjoin(VolumeType, VolumeType.id == Volume.volume_type_id)
        .where(Volume.id == volume_id)
    )
    row = (await db.execute(stmt)).first()
    return (row[0], row[1]) if row is not None else None


# The hot GET paths on SQLite: hand-written statements on the inline reader
# (db/fastread.py), skipping the pool, aiosqlite's thread, SQLAlchemy's statement
# compiler and the ORM. Rows come back as VolumeRow. Other databases use the ORM.


@dataclass(slots=True)
class VolumeRow:
    """A volumes row read by the inline reader: the attributes of the Volume model,
    without the ORM's per-object cost. Read-only by convention."""

    id: str
    project_id: str
    user_id: str
    name: str | None
    description: str | None
    size: int
    status: str
    previous_status: str | None
    attach_status: str
    volume_type_id: str | None
    availability_zone: str
    bootable: bool
    meta: dict[str, Any]
    image_meta: dict[str, Any]
    source_image_id: str | None
    created_at: datetime
    updated_at: datetime | None
    snapshot_id: str | None
    source_volid: str | None
    admin_meta: dict[str, Any] = field(default_factory=dict)
    group_id: str | None = None
    multiattach: bool = False


_COLUMNS = [f.name for f in fields(VolumeRow)]
_SELECT = (
    "SELECT " + ", ".join(f"v.{c}" for c in _COLUMNS) + ", t.name FROM volumes AS v "
    "LEFT OUTER JOIN volume_types AS t ON t.id = v.volume_type_id"
)
_FAST_SQL = _SELECT + " WHERE v.id = ?"


def _json_value(value: str | None) -> Any:
    if value is None:
        return None
    return {} if value == "{}" else json.loads(value)


def _time_value(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _from_raw(row: Sequence[Any]) -> tuple[VolumeRow, str | None]:
    """A (volume columns..., type name) row of the inline reader -> (VolumeRow, type name)."""
    (vid, project_id, user_id, name, description, size, status, previous_status,
     attach_status, volume_type_id, availability_zone, bootable, meta, image_meta,
     source_image_id, created_at, updated_at, snapshot_id, source_volid, admin_meta,
     group_id, multiattach, type_name) = row
    return VolumeRow(
        vid, project_id, user_id, name, description, size, status, previous_status,
        attach_status, volume_type_id, availability_zone, bool(bootable),
        _json_value(meta), _json_value(image_meta), source_image_id,
        datetime.fromisoformat(created_at), _time_value(updated_at), snapshot_id, source_volid,
        _json_value(admin_meta) or {}, group_id, bool(multiattach),
    ), type_name


def _sqlite_param(value: Any) -> Any:
    # SQLAlchemy stores SQLite DATETIMEs as "YYYY-MM-DD HH:MM:SS.ffffff"; compare like with like.
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


async def get(db: AsyncSession, *, volume_id: str) -> Volume | None:
    return await db.get(Volume, volume_id, populate_existing=True)


async def list_volumes(
    db: AsyncSession,
    *,
    project_id: str | None,
    filters: dict[str, Any],
    sort: Sequence[tuple[str, str]],
    limit: int | None,
    marker: Volume | VolumeRow | None,
    offset: int = 0,
) -> list[tuple[Volume, str | None]]:
    """Volumes (with type names) of `project_id` (all projects if None), paginated.

    `filters` holds column equality filters (name, status, availability_zone,
    bootable); `sort` is [(api key, "asc"|"desc")], with id appended as a tiebreaker.
    On SQLite the repository runs the same query on the inline reader instead
    (`read_volumes`, hand-written SQL; tests/integration/volume/test_list_fast_path.py
    checks that both give the same pages).
    """
    keys = _SORT.order_keys(sort)
    stmt = select(Volume, VolumeType.name).outerjoin(
        VolumeType, VolumeType.id == Volume.volume_type_id
    )
    if project_id is not None:
        stmt = stmt.where(Volume.project_id == project_id)
    for key, value in filters.items():
        stmt = stmt.where(SORT_COLUMNS[key] == value)
    if marker is not None:
        stmt = stmt.where(_SORT.after(marker, keys))
    stmt = stmt.order_by(*(_SORT.order(k, d) for k, d in keys))
    if limit is not None:
        stmt = stmt.limit(limit)
    if offset:
        stmt = stmt.offset(offset)
    return [(row[0], row[1]) for row in (await db.execute(stmt)).all()]


def read_volumes(
    reader: SqliteReader,
    *,
    project_id: str | None,
    filters: dict[str, Any],
    sort: Sequence[tuple[str, str]],
    limit: int | None,
    marker: Volume | VolumeRow | None,
    offset: int = 0,
) -> list[tuple[VolumeRow, str | None]]:
    """`list_volumes` on the inline reader (SQLite)."""
    sql, params = _list_sql(project_id, filters, _SORT.order_keys(sort), limit, marker, offset)
    return [_from_raw(row) for row in reader.fetchall(sql, params)]


def _list_sql(
    project_id: str | None, filters: dict[str, Any], keys: Sequence[tuple[str, str]],
    limit: int | None, marker: Volume | VolumeRow | None, offset: int = 0,
) -> tuple[str, list[Any]]:
    """`list_volumes`'s statement for SQLite, written out: the same WHERE, marker
    condition (see `SortColumns.after`, db/paging.py), ORDER BY and LIMIT as the SQLAlchemy one.
    Column names come from SORT_COLUMNS, never from the request."""
    where: list[str] = []
    params: list[Any] = []
    if project_id is not None:
        where.append("v.project_id = ?")
        params.append(project_id)
    for key, value in filters.items():
        where.append(f"v.{SORT_COLUMNS[key].key} = ?")
        params.append(value)
    if marker is not None:
        clauses: list[str] = []
        for i, (key, direction) in enumerate(keys):
            column = SORT_COLUMNS[key].key
            value = getattr(marker, column)
            if value is None:
                if direction != "asc":
                    continue
                step = f"v.{column} IS NOT NULL"
                step_params: list[Any] = []
            else:
                step = f"v.{column} {'>' if direction == 'asc' else '<'} ?"
                if direction != "asc" and column in _NULLABLE:
                    step = f"({step} OR v.{column} IS NULL)"
                step_params = [_sqlite_param(value)]
            parts: list[str] = []
            for k, _ in keys[:i]:
                prior = SORT_COLUMNS[k].key
                prior_value = getattr(marker, prior)
                if prior_value is None:
                    parts.append(f"v.{prior} IS NULL")
                else:
                    parts.append(f"v.{prior} = ?")
                    params.append(_sqlite_param(prior_value))
            parts.append(step)
            params.extend(step_params)
            clauses.append("(" + " AND ".join(parts) + ")")
        where.append("(" + " OR ".join(clauses) + ")" if clauses else "v.id IS NULL")
    sql = _SELECT
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY " + ", ".join(
        f"v.{SORT_COLUMNS[k].key} {'ASC' if d == 'asc' else 'DESC'}" for k, d in keys
    )
    if limit is not None or offset:
        # SQLite takes OFFSET only after a LIMIT; -1 is "no limit".
        sql += " LIMIT ?"
        params.append(-1 if limit is None else limit)
    if offset:
        sql += " OFFSET ?"
        params.append(offset)
    return sql, params


def cas_stmt(
    volume_id: str, rule: Transition[VolumeStatus], *, now: datetime, target: Any = None,
    **values: Any,
) -> Update:
    """The compare-and-swap every status change of a volume is built on (db/cas.py)."""
    return cas.cas_stmt(Volume, volume_id, rule, now=now, target=target, **values)


async def transition(
    db: AsyncSession, *, volume_id: str, rule: Transition[VolumeStatus], now: datetime,
    values: dict[str, Any] | None = None,
    expected_attach_status: Collection[AttachStatus] | None = None,
) -> bool:
    """Compare-and-swap the status by `rule` (and set other columns); False if the
    row did not match."""
    stmt = cas_stmt(volume_id, rule, now=now, **(values or {}))
    if expected_attach_status is not None:
        stmt = stmt.where(Volume.attach_status.in_(list(expected_attach_status)))
    result = await db.execute(stmt.execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(db: AsyncSession, *, volume_id: str, now: datetime) -> bool:
    """Set updated_at. As a transaction's first statement it takes the write lock
    up front, so later reads and writes in it cannot hit SQLite's stale-snapshot
    "database is locked"."""
    return await update_fields(db, volume_id=volume_id, values={"updated_at": now})


async def lock_row(unit: AsyncSession, volume_id: str) -> Volume | None:
    """The volume row, locked for the rest of the unit (FOR UPDATE on PostgreSQL;
    SQLite's write transactions hold the database lock already)."""
    stmt = select(Volume).where(Volume.id == volume_id).with_for_update()
    result = await unit.execute(stmt.execution_options(populate_existing=True))
    return result.scalar_one_or_none()


async def lock(db: AsyncSession, *, volume_id: str) -> bool:
    """Take the row's write lock without changing it (a no-op UPDATE), as a
    transaction's first statement: a read-modify-write after it cannot lose a
    concurrent change. False when the volume does not exist."""
    result = await db.execute(
        update(Volume).where(Volume.id == volume_id).values(id=Volume.id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def update_fields(db: AsyncSession, *, volume_id: str, values: dict[str, Any]) -> bool:
    result = await db.execute(
        update(Volume).where(Volume.id == volume_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def extend(
    db: AsyncSession, *, volume_id: str, old_size: int, new_size: int, now: datetime,
    status: VolumeStatus = VolumeStatus.AVAILABLE,
) -> bool:
    """Set the new size if the volume still has `status` and the old size."""
    result = await db.execute(
        update(Volume)
        .where(Volume.id == volume_id, Volume.status == status,
               Volume.size == old_size)
        .values(size=new_size, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove(
    db: AsyncSession, *, volume_id: str, expected_status: VolumeStatus
) -> bool:
    """Delete the row (and its attachments) if it still has `expected_status`."""
    await db.execute(delete(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id))
    result = await db.execute(
        delete(Volume).where(Volume.id == volume_id, Volume.status == expected_status)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def ids_with_status(
    db: AsyncSession, *, statuses: Collection[VolumeStatus]
) -> list[str]:
    stmt = select(Volume.id).where(Volume.status.in_(list(statuses)))
    return list((await db.execute(stmt)).scalars())


async def has_unfinished_job(
    db: AsyncSession, *, volume_id: str, kinds: Collection[str]
) -> bool:
    stmt = select(func.count()).select_from(Job).where(
        Job.volume_id == volume_id, Job.kind.in_(sorted(kinds)),
        Job.state.in_(sorted(job_rules.UNFINISHED)),
    )
    return bool((await db.execute(stmt)).scalar_one())


# --- attachments ------------------------------------------------------------------


async def attachments(db: AsyncSession, *, volume_id: str) -> list[VolumeAttachment]:
    stmt = (
        select(VolumeAttachment)
        .where(VolumeAttachment.volume_id == volume_id,
               VolumeAttachment.attach_status == AttachStatus.ATTACHED)
        .order_by(VolumeAttachment.attached_at, VolumeAttachment.id)
    )
    return list((await db.execute(stmt)).scalars())


async def attachments_for(
    db: AsyncSession, *, volume_ids: Collection[str]
) -> dict[str, list[VolumeAttachment]]:
    out: dict[str, list[VolumeAttachment]] = {}
    if not volume_ids:
        return out
    stmt = (
        select(VolumeAttachment)
        .where(VolumeAttachment.volume_id.in_(list(volume_ids)),
               VolumeAttachment.attach_status == AttachStatus.ATTACHED)
        .order_by(VolumeAttachment.attached_at, VolumeAttachment.id)
    )
    for row in (await db.execute(stmt)).scalars():
        out.setdefault(row.volume_id, []).append(row)
    return out


async def add_attachment(db: AsyncSession, attachment: VolumeAttachment) -> None:
    db.add(attachment)
    await db.flush()


async def detach_attachment(db: AsyncSession, *, attachment_id: str, now: datetime) -> bool:
    result = await db.execute(
        update(VolumeAttachment)
        .where(VolumeAttachment.id == attachment_id,
               VolumeAttachment.attach_status == AttachStatus.ATTACHED)
        .values(attach_status=AttachStatus.DETACHED, detached_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_attached(db: AsyncSession, *, volume_id: str) -> int:
    stmt = select(func.count()).select_from(VolumeAttachment).where(
        VolumeAttachment.volume_id == volume_id,
        VolumeAttachment.attach_status == AttachStatus.ATTACHED,
    )
    return int((await db.execute(stmt)).scalar_one())


async def live_attachments(db: AsyncSession, *, volume_id: str) -> list[VolumeAttachment]:
    """Every attachment of the volume not ended (reserved, attaching, attached, ...)."""
    stmt = (
        select(VolumeAttachment)
        .where(VolumeAttachment.volume_id == volume_id,
               VolumeAttachment.attach_status != AttachStatus.DETACHED)
        .order_by(VolumeAttachment.attached_at, VolumeAttachment.id)
    )
    return list((await db.execute(stmt)).scalars())


async def get_attachment(
    db: AsyncSession, *, attachment_id: str
) -> tuple[VolumeAttachment, str] | None:
    """A live attachment and its volume's project."""
    stmt = (
        select(VolumeAttachment, Volume.project_id)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(VolumeAttachment.id == attachment_id,
               VolumeAttachment.attach_status != AttachStatus.DETACHED)
    )
    row = (await db.execute(stmt.execution_options(populate_existing=True))).first()
    return (row[0], row[1]) if row is not None else None


async def list_attachments(
    db: AsyncSession, *, project_id: str | None, filters: dict[str, str],
) -> list[VolumeAttachment]:
    """Live attachments of the volumes of `project_id` (all when None), with
    equality `filters` on volume_id, instance_uuid and attach_status."""
    stmt = (
        select(VolumeAttachment)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(VolumeAttachment.attach_status != AttachStatus.DETACHED)
    )
    if project_id is not None:
        stmt = stmt.where(Volume.project_id == project_id)
    columns = {"volume_id": VolumeAttachment.volume_id,
               "instance_uuid": VolumeAttachment.instance_uuid,
               "attach_status": VolumeAttachment.attach_status}
    for key, value in filters.items():
        stmt = stmt.where(columns[key] == value)
    return list((await db.execute(stmt)).scalars())


async def update_attachment(
    db: AsyncSession, *, attachment_id: str, values: dict[str, Any]
) -> bool:
    result = await db.execute(
        update(VolumeAttachment).where(VolumeAttachment.id == attachment_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_attachment(db: AsyncSession, *, attachment_id: str) -> bool:
    result = await db.execute(
        delete(VolumeAttachment).where(VolumeAttachment.id == attachment_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- images (read only; the image API owns these rows) ------------------------------


async def get_image(db: AsyncSession, *, image_id: str) -> Image | None:
    return await db.get(Image, image_id, populate_existing=True)


async def is_image_member(db: AsyncSession, *, image_id: str, project_id: str) -> bool:
    stmt = select(func.count()).select_from(ImageMember).where(
        ImageMember.image_id == image_id, ImageMember.member_id == project_id,
        ImageMember.status != "rejected",
    )
    return bool((await db.execute(stmt)).scalar_one())


# --- the repository -----------------------------------------------------------------


def _record(volume: Volume) -> VolumeRow:
    """An ORM volume as the one record type reads return."""
    return VolumeRow(*(getattr(volume, name) for name in _COLUMNS))


class VolumeRepository:
    """Reads of volumes, one way: every method returns VolumeRows (with the type's
    name or the type where asked), whatever the database. On SQLite, reads outside
    a unit of work go through the inline reader (db/fastread.py); elsewhere, and
    inside a unit, through the unit's session. Callers never see which."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(self, volume_id: str, *, unit: AsyncSession | None = None) -> VolumeRow | None:
        """The volume; inside `unit` when given (it then sees that transaction's writes)."""
        found = await self.get_with_type_name(volume_id, unit=unit)
        return None if found is None else found[0]

    async def get_with_type_name(
        self, volume_id: str, *, unit: AsyncSession | None = None
    ) -> tuple[VolumeRow, str | None] | None:
        """The volume and its type's name, in one statement."""
        reader = self._database.reader
        if unit is None and reader is not None:
            row = reader.fetchone(_FAST_SQL, (volume_id,))
            return None if row is None else _from_raw(row)
        if unit is None:
            async with self._database.read() as db:
                found = await get_with_type_name(db, volume_id=volume_id)
        else:
            found = await get_with_type_name(unit, volume_id=volume_id)
        return None if found is None else (_record(found[0]), found[1])

    async def get_with_type(self, volume_id: str) -> tuple[VolumeRow | None, VolumeType | None]:
        """The volume and its type (the upload action's read)."""
        reader = self._database.reader
        if reader is None:
            return await self._database.run_read(
                functools.partial(_volume_and_type, volume_id=volume_id)
            )
        row = reader.fetchone(_FAST_SQL, (volume_id,))
        if row is None:
            return None, None
        volume = _from_raw(row)[0]
        if not volume.volume_type_id:
            return volume, None
        return volume, _read_type(reader, volume.volume_type_id)

    async def default_type(self, *, now: datetime) -> VolumeType:
        """The `__DEFAULT__` volume type, inserted on first use. Two first uses at
        once: the loser's insert fails on the unique name and it reads the winner's."""
        async with self._database.read() as db:
            found = await find_type_by_name(db, name=DEFAULT_TYPE_NAME)
        if found is not None:
            return found
        try:
            async with self._database.write() as db:
                return await add_default_type(db, now=now)
        except IntegrityError:
            async with self._database.read() as db:
                found = await find_type_by_name(db, name=DEFAULT_TYPE_NAME)
            assert found is not None
            return found

    async def list(
        self, *, project_id: str | None, filters: dict[str, Any],
        sort: Sequence[tuple[str, str]], limit: int | None, marker_id: str | None,
        offset: int = 0,
    ) -> list[tuple[VolumeRow, str | None]] | None:
        """A page of volumes with their types' names (see `list_volumes`); None when
        `marker_id` names no volume (of `project_id`, when given)."""
        reader = self._database.reader
        if reader is not None:
            marker = None
            if marker_id is not None:
                raw = reader.fetchone(_FAST_SQL, (marker_id,))
                marker = None if raw is None else _from_raw(raw)[0]
                if not _marker_in(marker, project_id):
                    return None
            return read_volumes(
                reader, project_id=project_id, filters=filters, sort=sort, limit=limit,
                marker=marker, offset=offset,
            )
        async with self._database.read() as db:
            orm_marker = None
            if marker_id is not None:
                orm_marker = await get(db, volume_id=marker_id)
                if not _marker_in(orm_marker, project_id):
                    return None
            rows = await list_volumes(
                db, project_id=project_id, filters=filters, sort=sort, limit=limit,
                marker=orm_marker, offset=offset,
            )
        return [(_record(v), name) for v, name in rows]


def _marker_in(marker: Volume | VolumeRow | None, project_id: str | None) -> bool:
    return marker is not None and (project_id is None or marker.project_id == project_id)


def _volume_and_type(db: Session, *, volume_id: str) -> tuple[VolumeRow | None, VolumeType | None]:
    volume = db.get(Volume, volume_id)
    if volume is None:
        return None, None
    vtype = db.get(VolumeType, volume.volume_type_id) if volume.volume_type_id else None
    return _record(volume), vtype


_TYPE_SQL = (
    "SELECT id, name, description, is_public, extra_specs, qos_specs_id, created_at, "
    "updated_at FROM volume_types WHERE id = ?"
)


def _read_type(reader: SqliteReader, type_id: str) -> VolumeType | None:
    """A volume type read by the inline reader, as a detached VolumeType."""
    row = reader.fetchone(_TYPE_SQL, (type_id,))
    if row is None:
        return None
    type_id, name, description, is_public, extra_specs, qos_specs_id, created, updated = row
    return VolumeType(
        id=type_id, name=name, description=description, is_public=bool(is_public),
        extra_specs=json.loads(extra_specs) if extra_specs else {}, qos_specs_id=qos_specs_id,
        created_at=datetime.fromisoformat(created),
        updated_at=datetime.fromisoformat(updated) if updated else None,
    )
