"""Queries for image tasks (Glance's tasks): the records of image imports.

Status changes are compare-and-swap on the task's status (db/cas.py). Tasks
that have expired (their `expires_at`, set when they end, has passed) are not
listed and are deleted by `delete_expired`, as Glance soft-deletes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db import cas
from cinderlite.db.models import ImageTask
from cinderlite.domain.image_tasks import TaskStatus
from cinderlite.domain.transitions import Transition

# Columns a list may be sorted and filtered by (Glance: any column of its tasks table).
COLUMNS = (
    "id", "type", "status", "owner", "image_id", "user_id", "request_id", "expires_at",
    "created_at", "updated_at",
)
_NULLABLE_TEXT = {"owner", "image_id", "user_id", "request_id"}
_NULLABLE_TIME = {"expires_at"}
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class ImageTaskRow:
    id: str
    type: str
    status: str
    owner: str | None
    image_id: str | None
    user_id: str | None
    request_id: str | None
    input: dict[str, Any] | None
    result: dict[str, Any] | None
    message: str
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _row(task: ImageTask) -> ImageTaskRow:
    return ImageTaskRow(
        task.id, task.type, task.status, task.owner, task.image_id, task.user_id,
        task.request_id, task.input, task.result, task.message or "", task.expires_at,
        task.created_at, task.updated_at,
    )


def _live(now: datetime) -> ColumnElement[bool]:
    return or_(ImageTask.expires_at.is_(None), ImageTask.expires_at > now)


def _sort_expr(key: str) -> ColumnElement[Any]:
    col = getattr(ImageTask, key)
    if key in _NULLABLE_TEXT:
        return func.coalesce(col, literal(""))
    if key in _NULLABLE_TIME:
        return func.coalesce(col, literal(_EPOCH))
    return col  # type: ignore[no-any-return]


def _marker_value(marker: ImageTaskRow, key: str) -> Any:
    value = getattr(marker, key)
    if value is None:
        return _EPOCH if key in _NULLABLE_TIME else ""
    return value


def _after(marker: ImageTaskRow, keys: list[str], direction: str) -> ColumnElement[bool]:
    clause: ColumnElement[bool] | None = None
    for key in reversed(keys):
        expr = _sort_expr(key)
        value = _marker_value(marker, key)
        beyond = expr > value if direction == "asc" else expr < value
        clause = beyond if clause is None else or_(beyond, and_(expr == value, clause))
    return clause if clause is not None else true()


class ImageTaskRepository:
    """Every query of image tasks; each takes the unit of work it runs in."""

    async def add(self, unit: AsyncSession, **values: Any) -> ImageTaskRow:
        task = ImageTask(**values)
        unit.add(task)
        await unit.flush()
        return _row(task)

    async def get(self, unit: AsyncSession, task_id: str) -> ImageTaskRow | None:
        task = await unit.get(ImageTask, task_id, populate_existing=True)
        return None if task is None else _row(task)

    async def page(
        self, unit: AsyncSession, *, owner: str | None, filters: Mapping[str, Any],
        sort_key: str, sort_dir: str, limit: int, marker: ImageTaskRow | None, now: datetime,
    ) -> list[ImageTaskRow]:
        """A page of live tasks (of `owner` unless None), by `sort_key` then
        created_at and id (Glance's order), `filters` column == value."""
        stmt = select(ImageTask).where(_live(now))
        if owner is not None:
            stmt = stmt.where(ImageTask.owner == owner)
        for column, value in filters.items():
            stmt = stmt.where(getattr(ImageTask, column) == value)
        keys = [sort_key, *(k for k in ("created_at", "id") if k != sort_key)]
        exprs = [_sort_expr(k) for k in keys]
        stmt = stmt.order_by(*(e.asc() if sort_dir == "asc" else e.desc() for e in exprs))
        if marker is not None:
            stmt = stmt.where(_after(marker, keys, sort_dir))
        return [_row(t) for t in (await unit.execute(stmt.limit(limit))).scalars()]

    async def for_image(
        self, unit: AsyncSession, image_id: str, *, owner: str | None, now: datetime
    ) -> list[ImageTaskRow]:
        """The live tasks of an image (those of `owner` unless None), oldest first."""
        stmt = select(ImageTask).where(ImageTask.image_id == image_id, _live(now))
        if owner is not None:
            stmt = stmt.where(or_(ImageTask.owner == owner, ImageTask.owner.is_(None)))
        stmt = stmt.order_by(ImageTask.created_at, ImageTask.id)
        return [_row(t) for t in (await unit.execute(stmt)).scalars()]

    async def transition(
        self, unit: AsyncSession, task_id: str, rule: Transition[TaskStatus], *,
        now: datetime, values: dict[str, Any] | None = None,
    ) -> bool:
        """Compare-and-swap the status by `rule` (and set `values`); False if the
        task was not in one of its source statuses."""
        stmt = cas.cas_stmt(ImageTask, task_id, rule, now=now, **(values or {}))
        result = await unit.execute(stmt.execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def unfinished(self, unit: AsyncSession, statuses: Sequence[TaskStatus]) -> list[
        ImageTaskRow
    ]:
        stmt = select(ImageTask).where(ImageTask.status.in_(sorted(statuses)))
        return [_row(t) for t in (await unit.execute(stmt)).scalars()]

    async def delete_expired(self, unit: AsyncSession, *, now: datetime) -> int:
        result = await unit.execute(
            delete(ImageTask).where(ImageTask.expires_at.is_not(None), ImageTask.expires_at <= now)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
