"""Queries for images and image members.

Status changes are compare-and-swap (`UPDATE ... WHERE status IN (...)`), so
two racing requests cannot both win. Deleting an image removes its row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Update,
    and_,
    delete,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db import cas
from cinderlite.db import image_members as members_db
from cinderlite.db.database import Database
from cinderlite.db.fastread import SqliteReader
from cinderlite.db.image_members import ImageMemberRow
from cinderlite.db.models import Image, ImageMember
from cinderlite.domain.errors import Conflict
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.records import ImageRecord
from cinderlite.domain.transitions import Transition

# Sort keys Glance accepts (api/v2/images.py _available_sort_keys) that we store.
SORT_KEYS = (
    "name", "status", "container_format", "disk_format", "size", "id", "created_at",
    "updated_at", "visibility", "owner", "min_disk", "min_ram", "virtual_size",
)
_NULLABLE_TEXT = {"name", "container_format", "disk_format", "owner"}
_NULLABLE_INT = {"size", "virtual_size"}


@dataclass(frozen=True)
class ImageFilters:
    """What a list request asks for. `project_id` None means "see everything" (admin);
    `caller_project` is the caller's project all the same (an admin's default
    listing leaves out community images of other projects, as Glance's does)."""

    project_id: str | None
    caller_project: str | None = None
    visibility: str | None = None
    os_hidden: bool | None = False
    protected: bool | None = None
    # (column, operator, value): operators eq, neq, gt, gte, lt, lte, in (a tuple).
    conditions: tuple[tuple[str, str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    # Custom properties that must have these exact values.
    properties: Mapping[str, str] = field(default_factory=dict)
    # Which memberships make a shared image visible: pending, accepted, rejected, all.
    member_status: str = "accepted"


async def create(db: AsyncSession, **values: Any) -> Image:
    image = Image(**values)
    db.add(image)
    await db.flush()
    return image


async def mirror(db: AsyncSession, **values: Any) -> None:
    """Insert or overwrite the local copy of an image whose record lives in a cloud's
    Glance (the row a volume made from it refers to)."""
    await db.merge(Image(**values))
    await db.flush()


async def get(db: AsyncSession, *, image_id: str, for_update: bool = False) -> Image | None:
    stmt = select(Image).where(Image.id == image_id).execution_options(populate_existing=True)
    if for_update and db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await db.execute(stmt)).scalar_one_or_none()


async def is_member(db: AsyncSession, *, image_id: str, project_id: str) -> bool:
    stmt = select(ImageMember.image_id).where(
        ImageMember.image_id == image_id, ImageMember.member_id == project_id
    )
    return (await db.execute(stmt)).first() is not None


# GET /v2/images/{id} on SQLite: hand-written statements on the inline reader
# (db/fastread.py) instead of a session, SQLAlchemy's compiler and the ORM. Clients
# (and the upload benchmark) poll this while an upload runs.


@dataclass(slots=True)
class ImageRow:
    """An images row read by the inline reader: the Image model's attributes
    without the ORM's per-object cost. Read-only by convention."""

    id: str
    name: str | None
    owner: str | None
    status: str
    visibility: str
    protected: bool
    os_hidden: bool
    disk_format: str | None
    container_format: str | None
    size: int | None
    virtual_size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    min_disk: int
    min_ram: int
    properties: dict[str, Any]
    tags: list[Any]
    created_at: datetime
    updated_at: datetime
    stores: str | None = None


_ROW_COLUMNS = [f.name for f in fields(ImageRow)]
_READ_SQL = f"SELECT {', '.join(_ROW_COLUMNS)} FROM images WHERE id = ?"
_MEMBER_SQL = "SELECT 1 FROM image_members WHERE image_id = ? AND member_id = ?"
_BOOL_COLUMNS = frozenset({"protected", "os_hidden"})
_JSON_COLUMNS = frozenset({"properties", "tags"})
_TIME_COLUMNS = frozenset({"created_at", "updated_at"})


def read(reader: SqliteReader, *, image_id: str) -> ImageRow | None:
    """`get` on the inline reader: the row as SQLAlchemy would have decoded it."""
    row = reader.fetchone(_READ_SQL, (image_id,))
    if row is None:
        return None
    values: list[Any] = []
    for name, value in zip(_ROW_COLUMNS, row, strict=True):
        if value is not None:
            if name in _JSON_COLUMNS:
                value = json.loads(value)
            elif name in _TIME_COLUMNS:
                value = datetime.fromisoformat(value)
            elif name in _BOOL_COLUMNS:
                value = bool(value)
        values.append(value)
    return ImageRow(*values)


def read_is_member(reader: SqliteReader, *, image_id: str, project_id: str) -> bool:
    """`is_member` on the inline reader."""
    return reader.fetchone(_MEMBER_SQL, (image_id, project_id)) is not None


def _sort_expr(key: str) -> ColumnElement[Any]:
    col = getattr(Image, key)
    # NULLs sort the same way on SQLite and PostgreSQL, and keyset paging works.
    if key in _NULLABLE_TEXT:
        return func.coalesce(col, literal(""))
    if key in _NULLABLE_INT:
        return func.coalesce(col, literal(-1))
    return col  # type: ignore[no-any-return]


def _visible(project_id: str, member_status: str = "accepted") -> ColumnElement[bool]:
    """What a project lists (Glance's _select_images_query for a regular user): its
    own images, public and community ones, and shared ones it is a member of with
    `member_status` (any status for "all")."""
    memberships = select(ImageMember.image_id).where(ImageMember.member_id == project_id)
    if member_status != "all":
        memberships = memberships.where(ImageMember.status == member_status)
    return or_(
        Image.owner == project_id,
        Image.visibility.in_(("public", "community")),
        and_(Image.visibility == "shared", Image.id.in_(memberships)),
    )


_OPERATORS: dict[str, Any] = {
    "eq": lambda col, v: col == v, "neq": lambda col, v: col != v,
    "gt": lambda col, v: col > v, "gte": lambda col, v: col >= v,
    "lt": lambda col, v: col < v, "lte": lambda col, v: col <= v,
    "in": lambda col, v: col.in_(list(v)),
}


def _where(f: ImageFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.project_id is not None:
        conds.append(_visible(f.project_id, f.member_status))
    if f.visibility is None:
        # Glance lists community images only when asked, or when they are ours.
        if f.caller_project is None:
            conds.append(Image.visibility != "community")
        else:
            conds.append(
                or_(Image.owner == f.caller_project, Image.visibility != "community")
            )
    elif f.visibility != "all":
        conds.append(Image.visibility == f.visibility)
    for column, op, value in f.conditions:
        conds.append(_OPERATORS[op](getattr(Image, column), value))
    if f.os_hidden is not None:
        conds.append(Image.os_hidden == f.os_hidden)
    if f.protected is not None:
        conds.append(Image.protected == f.protected)
    return conds


def _matches_in_python(image: Image, f: ImageFilters) -> bool:
    """Tags and custom properties live in JSON columns: filtered after the query."""
    if not all(t in (image.tags or []) for t in f.tags):
        return False
    props = image.properties or {}
    return all(props.get(k) == v for k, v in f.properties.items())


async def list_images(
    db: AsyncSession, *, filters: ImageFilters, sort: Sequence[tuple[str, str]],
    limit: int, marker: ImageRecord | None = None,
) -> list[Image]:
    """A page of images, ordered by `sort` [(key, "asc"|"desc")] then id.

    `marker` is the last image of the previous page; keyset paging on the sort
    columns. Tag filtering happens here in Python (tags are a JSON list).
    """
    keys = [*list(sort), ("id", sort[-1][1] if sort else "desc")]
    stmt = select(Image).where(*_where(filters))
    order = []
    for key, direction in keys:
        expr = _sort_expr(key)
        order.append(expr.asc() if direction == "asc" else expr.desc())
    stmt = stmt.order_by(*order)
    if marker is not None:
        stmt = stmt.where(_after(marker, keys))
    if not filters.tags and not filters.properties:
        return list((await db.execute(stmt.limit(limit))).scalars())
    out: list[Image] = []
    for image in (await db.execute(stmt)).scalars():
        if _matches_in_python(image, filters):
            out.append(image)
            if len(out) >= limit:
                break
    return out


def _marker_value(marker: ImageRecord, key: str) -> Any:
    value = getattr(marker, key)
    if value is None:
        return "" if key in _NULLABLE_TEXT else -1
    return value


def _after(marker: ImageRecord, keys: list[tuple[str, str]]) -> ColumnElement[bool]:
    """Rows strictly after `marker` in the (key1, key2, ..., id) order."""
    clause: ColumnElement[bool] | None = None
    for i in reversed(range(len(keys))):
        key, direction = keys[i]
        expr = _sort_expr(key)
        value = _marker_value(marker, key)
        beyond = expr > value if direction == "asc" else expr < value
        clause = beyond if clause is None else or_(beyond, and_(expr == value, clause))
    return clause if clause is not None else true()


async def update_fields(db: AsyncSession, *, image_id: str, values: dict[str, Any]) -> bool:
    result = await db.execute(update(Image).where(Image.id == image_id).values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cas_stmt(
    image_id: str, rule: Transition[ImageStatus], *, now: datetime, **values: Any
) -> Update:
    """The compare-and-swap every status change of an image is built on (db/cas.py)."""
    return cas.cas_stmt(Image, image_id, rule, now=now, **values)


async def transition(
    db: AsyncSession, *, image_id: str, rule: Transition[ImageStatus], now: datetime,
    values: dict[str, Any] | None = None,
) -> bool:
    """Compare-and-swap the status by `rule` (and set other columns); False if the
    row did not match."""
    stmt = cas_stmt(image_id, rule, now=now, **(values or {}))
    result = await db.execute(stmt.execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_image(db: AsyncSession, *, image_id: str) -> bool:
    await db.execute(delete(ImageMember).where(ImageMember.image_id == image_id))
    result = await db.execute(delete(Image).where(Image.id == image_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def ids_in_status(db: AsyncSession, *, statuses: Collection[ImageStatus]) -> list[str]:
    stmt = select(Image.id).where(Image.status.in_(list(statuses)))
    return list((await db.execute(stmt)).scalars())


def _record(image: Image) -> ImageRow:
    """The ImageRow of an ORM image: what every ImageRepository read returns."""
    return ImageRow(*(getattr(image, name) for name in _ROW_COLUMNS))


class ImageRepository:
    """Every query of images and their members, one way whatever the database:
    each read returns ImageRows. On SQLite, reads outside a unit of work go through
    the inline reader (db/fastread.py; GET /v2/images/{id} is polled while uploads
    run); elsewhere, and inside a unit, through the unit's session. Callers never
    see which. Writes take the unit they run in."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def get(
        self, image_id: str, *, unit: AsyncSession | None = None, for_update: bool = False,
    ) -> ImageRow | None:
        """The image; inside `unit` when given (it then sees that transaction's writes,
        and `for_update` locks the row where the database can)."""
        if unit is not None:
            image = await get(unit, image_id=image_id, for_update=for_update)
            return None if image is None else _record(image)
        reader = self._database.reader
        if reader is not None:
            return read(reader, image_id=image_id)
        async with self._database.read() as db:
            image = await get(db, image_id=image_id)
            return None if image is None else _record(image)

    async def is_member(
        self, image_id: str, project_id: str, *, unit: AsyncSession | None = None
    ) -> bool:
        """Whether `project_id` is a member of the image (any membership status)."""
        if unit is not None:
            return await is_member(unit, image_id=image_id, project_id=project_id)
        reader = self._database.reader
        if reader is not None:
            return read_is_member(reader, image_id=image_id, project_id=project_id)
        async with self._database.read() as db:
            return await is_member(db, image_id=image_id, project_id=project_id)

    async def list(
        self, unit: AsyncSession, *, filters: ImageFilters, sort: Sequence[tuple[str, str]],
        limit: int, marker: ImageRecord | None = None,
    ) -> list[ImageRow]:
        """A page of images (see `list_images`): filters on columns, visibility through
        memberships, tags and custom properties."""
        page = await list_images(unit, filters=filters, sort=sort, limit=limit, marker=marker)
        return [_record(image) for image in page]

    async def add(self, unit: AsyncSession, **values: Any) -> ImageRow:
        """Insert an image with these column values. Conflict when its id is taken
        (by a row the caller did not see, or by a concurrent insert)."""
        try:
            image = await create(unit, **values)
        except IntegrityError:
            # The unit rolls back as the Conflict leaves it.
            raise Conflict(f"Image with identifier {values['id']} already exists!") from None
        return _record(image)

    async def update(self, unit: AsyncSession, image_id: str, values: dict[str, Any]) -> bool:
        """Set columns of an image (not its status: see `transition`); False if it is gone."""
        return await update_fields(unit, image_id=image_id, values=values)

    async def transition(
        self, unit: AsyncSession, image_id: str, rule: Transition[ImageStatus], *,
        now: datetime, values: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-swap the status by `rule` (and set `values`); False if the row
        did not match."""
        return await transition(unit, image_id=image_id, rule=rule, now=now, values=values)

    async def delete(self, unit: AsyncSession, image_id: str) -> bool:
        """Delete the image and its memberships; False if it was gone."""
        return await delete_image(unit, image_id=image_id)

    # --- memberships (db/image_members.py) ---

    async def members(
        self, unit: AsyncSession, image_id: str, *, member_id: str | None = None
    ) -> Sequence[ImageMemberRow]:
        """The image's memberships, oldest first; only `member_id`'s when given."""
        return await members_db.list_members(unit, image_id=image_id, member_id=member_id)

    async def member(
        self, unit: AsyncSession, image_id: str, member_id: str
    ) -> ImageMemberRow | None:
        return await members_db.get_member(unit, image_id=image_id, member_id=member_id)

    async def count_members(self, unit: AsyncSession, image_id: str) -> int:
        return await members_db.count_members(unit, image_id=image_id)

    async def add_member(
        self, unit: AsyncSession, image_id: str, member_id: str, *, status: str,
        now: datetime, duplicate: str,
    ) -> ImageMemberRow:
        """Insert a membership; Conflict(`duplicate`) when it exists."""
        return await members_db.add_member(
            unit, image_id=image_id, member_id=member_id, status=status, now=now,
            duplicate=duplicate,
        )

    async def set_member_status(
        self, unit: AsyncSession, image_id: str, member_id: str, status: str, *,
        now: datetime,
    ) -> bool:
        return await members_db.set_status(
            unit, image_id=image_id, member_id=member_id, status=status, now=now
        )

    async def delete_member(self, unit: AsyncSession, image_id: str, member_id: str) -> bool:
        return await members_db.delete_member(unit, image_id=image_id, member_id=member_id)

    async def recorded_stores(
        self, unit: AsyncSession, statuses: Collection[str]
    ) -> dict[str, str | None]:
        """The recorded stores (comma-separated ids, or None) of the images in
        `statuses` (start-up recovery)."""
        stmt = select(Image.id, Image.stores).where(Image.status.in_(list(statuses)))
        return dict((await unit.execute(stmt)).tuples().all())

    async def statuses(self, unit: AsyncSession) -> dict[str, str]:
        """Every image's id and status (start-up recovery)."""
        stmt = select(Image.id, Image.status)
        return dict((await unit.execute(stmt)).tuples().all())
