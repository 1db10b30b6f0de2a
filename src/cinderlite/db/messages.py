"""Queries for user messages (Cinder's `messages` table); `MessageRepository` is
how the services reach them, inside the unit of work they hand in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import UserMessage


async def create(db: AsyncSession, *, message: UserMessage) -> UserMessage:
    db.add(message)
    await db.flush()
    return message


async def list_for_project(
    db: AsyncSession, *, project_id: str | None, now: datetime, resource_uuid: str | None = None,
    limit: int | None = None,
) -> list[UserMessage]:
    """Unexpired messages, newest first; `project_id=None` lists every project's."""
    stmt = select(UserMessage).where(UserMessage.expires_at > now)
    if project_id is not None:
        stmt = stmt.where(UserMessage.project_id == project_id)
    if resource_uuid is not None:
        stmt = stmt.where(UserMessage.resource_uuid == resource_uuid)
    stmt = stmt.order_by(UserMessage.created_at.desc(), UserMessage.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await db.execute(stmt)).scalars())


async def get(db: AsyncSession, *, message_id: str, now: datetime) -> UserMessage | None:
    stmt = select(UserMessage).where(UserMessage.id == message_id, UserMessage.expires_at > now)
    return (await db.execute(stmt)).scalars().first()


async def delete_one(db: AsyncSession, *, message_id: str) -> bool:
    result = await db.execute(delete(UserMessage).where(UserMessage.id == message_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_expired(db: AsyncSession, *, now: datetime) -> int:
    result = await db.execute(delete(UserMessage).where(UserMessage.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class MessageRepository:
    """The messages table. Every method runs in the caller's unit of work."""

    async def add(self, unit: AsyncSession, **values: Any) -> UserMessage:
        """Insert a message with these column values."""
        return await create(unit, message=UserMessage(**values))

    async def list_for_project(
        self, unit: AsyncSession, *, project_id: str | None, now: datetime,
        resource_uuid: str | None = None, limit: int | None = None,
    ) -> list[UserMessage]:
        """Unexpired messages, newest first; `project_id=None` lists every project's."""
        return await list_for_project(
            unit, project_id=project_id, now=now, resource_uuid=resource_uuid, limit=limit,
        )

    async def get(
        self, unit: AsyncSession, message_id: str, *, now: datetime
    ) -> UserMessage | None:
        """The message, unless it expired by `now`."""
        return await get(unit, message_id=message_id, now=now)

    async def delete(self, unit: AsyncSession, message_id: str) -> bool:
        return await delete_one(unit, message_id=message_id)

    async def delete_expired(self, unit: AsyncSession, *, now: datetime) -> int:
        """Remove the messages that expired by `now`; how many."""
        return await delete_expired(unit, now=now)
