"""Queries for volumes, volume types and attachments (and the image rows a fill reads).

Status changes are compare-and-swap updates (`UPDATE ... WHERE status IN (...)`):
they return whether the row was changed, so two racing requests cannot both win.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cinderlite.db.fastread import SqliteReader
from cinderlite.db.models import Image, ImageMember, Job, Volume, VolumeAttachment, VolumeType

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
}


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


async def add_default_type(db: AsyncSession, *, now: datetime) -> VolumeType:
    """Insert the `__DEFAULT__` type (IntegrityError if it exists)."""
    row = VolumeType(
        id=str(uuid.uuid4()), name=DEFAULT_TYPE_NAME, description=DEFAULT_TYPE_DESCRIPTION,
        is_public=True, extra_specs={}, qos_specs_id=None, created_at=now, updated_at=None,
    )
    db.add(row)
    await db.flush()
    return row


# --- volumes ----------------------------------------------------------------------


async def add(db: AsyncSession, volume: Volume) -> None:
    db.add(volume)
    await db.flush()


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


# The hot GET path on SQLite: one statement on the inline reader (db/fastread.py),
# skipping the pool, aiosqlite's thread and the ORM. Other databases use the ORM.
_COLUMNS = [c.name for c in Volume.__table__.columns]
_FAST_SQL = (
    "SELECT " + ", ".join(f"v.{c}" for c in _COLUMNS) + ", t.name FROM volumes AS v "
    "LEFT OUTER JOIN volume_types AS t ON t.id = v.volume_type_id WHERE v.id = ?"
)
_SQLITE = sqlite_dialect.dialect(paramstyle="qmark")
_JSON_COLUMNS = frozenset({"meta", "image_meta"})
_TIME_COLUMNS = frozenset({"created_at", "updated_at"})
_BOOL_COLUMNS = frozenset({"bootable"})


async def read_with_type_name(
    engine: AsyncEngine, reader: SqliteReader | None, *, volume_id: str
) -> tuple[Volume, str | None] | None:
    """The volume (a transient row object) and its type's name, in one statement."""
    if reader is None:
        async with AsyncSession(engine) as db:
            return await get_with_type_name(db, volume_id=volume_id)
    row = reader.fetchone(_FAST_SQL, (volume_id,))
    return None if row is None else _from_raw(row)


def _sqlite_param(value: Any) -> Any:
    # SQLAlchemy stores SQLite DATETIMEs as "YYYY-MM-DD HH:MM:SS.ffffff"; compare like with like.
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def _from_raw(row: Sequence[Any]) -> tuple[Volume, str | None]:
    """A (volume columns..., type name) row of the inline reader -> (Volume, type name)."""
    values: dict[str, Any] = {}
    for name, value in zip(_COLUMNS, row, strict=False):
        if value is not None:
            if name in _JSON_COLUMNS:
                value = json.loads(value)
            elif name in _TIME_COLUMNS:
                value = datetime.fromisoformat(value)
            elif name in _BOOL_COLUMNS:
                value = bool(value)
        values[name] = value
    return Volume(**values), row[len(_COLUMNS)]


async def get(db: AsyncSession, *, volume_id: str) -> Volume | None:
    return await db.get(Volume, volume_id, populate_existing=True)


async def list_volumes(
    db: AsyncSession,
    *,
    project_id: str | None,
    filters: dict[str, Any],
    sort: Sequence[tuple[str, str]],
    limit: int | None,
    marker: Volume | None,
    reader: SqliteReader | None = None,
) -> list[tuple[Volume, str | None]]:
    """Volumes (with type names) of `project_id` (all projects if None), paginated.

    `filters` holds column equality filters (name, status, availability_zone,
    bootable); `sort` is [(api key, "asc"|"desc")], with id appended as a tiebreaker.
    With a `reader` (SQLite), the same statement runs on the inline reader and rows
    skip the ORM.
    """
    if reader is not None:
        stmt = select(*Volume.__table__.columns, VolumeType.name).outerjoin(
            VolumeType, VolumeType.id == Volume.volume_type_id
        )
    else:
        stmt = select(Volume, VolumeType.name).outerjoin(
            VolumeType, VolumeType.id == Volume.volume_type_id
        )
    if project_id is not None:
        stmt = stmt.where(Volume.project_id == project_id)
    for key, value in filters.items():
        stmt = stmt.where(SORT_COLUMNS[key] == value)
    keys = list(sort)
    if not any(k == "id" for k, _ in keys):
        keys.append(("id", keys[-1][1] if keys else "desc"))
    if marker is not None:
        stmt = stmt.where(_after_marker(marker, keys))
    stmt = stmt.order_by(
        *(SORT_COLUMNS[k].asc() if d == "asc" else SORT_COLUMNS[k].desc() for k, d in keys)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    if reader is not None:
        compiled = stmt.compile(dialect=_SQLITE)
        params = [_sqlite_param(compiled.params[name]) for name in compiled.positiontup or ()]
        return [_from_raw(row) for row in reader.fetchall(compiled.string, params)]
    return [(row[0], row[1]) for row in (await db.execute(stmt)).all()]


def _after_marker(marker: Volume, keys: Sequence[tuple[str, str]]) -> Any:
    """Rows strictly after `marker` in the (key, dir) order: a lexicographic comparison.

    NULLs sort as in the database; a NULL marker value only compares for equality.
    """
    clauses = []
    for i, (key, direction) in enumerate(keys):
        column = SORT_COLUMNS[key]
        value = getattr(marker, column.key)
        equal_prefix = [
            SORT_COLUMNS[k] == getattr(marker, SORT_COLUMNS[k].key)
            if getattr(marker, SORT_COLUMNS[k].key) is not None
            else SORT_COLUMNS[k].is_(None)
            for k, _ in keys[:i]
        ]
        if value is None:
            step = column.is_not(None) if direction == "asc" else None
        else:
            step = column > value if direction == "asc" else column < value
        if step is None:
            continue
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses) if clauses else Volume.id.is_(None)


async def transition(
    db: AsyncSession, *, volume_id: str, expected: Collection[str], new: str,
    now: datetime, values: dict[str, Any] | None = None,
    expected_attach_status: Collection[str] | None = None,
) -> bool:
    """Compare-and-swap the status (and other columns); False if the row did not match."""
    stmt = update(Volume).where(Volume.id == volume_id, Volume.status.in_(list(expected)))
    if expected_attach_status is not None:
        stmt = stmt.where(Volume.attach_status.in_(list(expected_attach_status)))
    result = await db.execute(
        stmt.values(status=new, updated_at=now, **(values or {}))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def touch(db: AsyncSession, *, volume_id: str, now: datetime) -> bool:
    """Set updated_at. As a transaction's first statement it takes the write lock
    up front, so later reads and writes in it cannot hit SQLite's stale-snapshot
    "database is locked"."""
    return await update_fields(db, volume_id=volume_id, values={"updated_at": now})


async def update_fields(db: AsyncSession, *, volume_id: str, values: dict[str, Any]) -> bool:
    result = await db.execute(
        update(Volume).where(Volume.id == volume_id).values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def extend(
    db: AsyncSession, *, volume_id: str, old_size: int, new_size: int, now: datetime
) -> bool:
    """Set the new size if the volume is still available with the old size."""
    result = await db.execute(
        update(Volume)
        .where(Volume.id == volume_id, Volume.status == "available", Volume.size == old_size)
        .values(size=new_size, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def remove(db: AsyncSession, *, volume_id: str, expected_status: str) -> bool:
    """Delete the row (and its attachments) if it still has `expected_status`."""
    await db.execute(delete(VolumeAttachment).where(VolumeAttachment.volume_id == volume_id))
    result = await db.execute(
        delete(Volume).where(Volume.id == volume_id, Volume.status == expected_status)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def ids_with_status(db: AsyncSession, *, statuses: Collection[str]) -> list[str]:
    stmt = select(Volume.id).where(Volume.status.in_(list(statuses)))
    return list((await db.execute(stmt)).scalars())


async def has_unfinished_job(db: AsyncSession, *, volume_id: str, kind: str) -> bool:
    stmt = select(func.count()).select_from(Job).where(
        Job.volume_id == volume_id, Job.kind == kind, Job.state.in_(("queued", "running"))
    )
    return bool((await db.execute(stmt)).scalar_one())


# --- attachments ------------------------------------------------------------------


async def attachments(db: AsyncSession, *, volume_id: str) -> list[VolumeAttachment]:
    stmt = (
        select(VolumeAttachment)
        .where(VolumeAttachment.volume_id == volume_id,
               VolumeAttachment.attach_status == "attached")
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
               VolumeAttachment.attach_status == "attached")
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
        .where(VolumeAttachment.id == attachment_id, VolumeAttachment.attach_status == "attached")
        .values(attach_status="detached", detached_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_attached(db: AsyncSession, *, volume_id: str) -> int:
    stmt = select(func.count()).select_from(VolumeAttachment).where(
        VolumeAttachment.volume_id == volume_id, VolumeAttachment.attach_status == "attached"
    )
    return int((await db.execute(stmt)).scalar_one())


# --- images (read only; the image API owns these rows) ------------------------------


async def get_image(db: AsyncSession, *, image_id: str) -> Image | None:
    return await db.get(Image, image_id, populate_existing=True)


async def is_image_member(db: AsyncSession, *, image_id: str, project_id: str) -> bool:
    stmt = select(func.count()).select_from(ImageMember).where(
        ImageMember.image_id == image_id, ImageMember.member_id == project_id,
        ImageMember.status != "rejected",
    )
    return bool((await db.execute(stmt)).scalar_one())
