"""Queries for image memberships: the projects a `shared` image is shared with.

A membership belongs to its image (the images aggregate): ImageRepository
(db/images.py) is the way services reach these; rows go with their image.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import ImageMember
from cinderlite.domain.errors import Conflict


@dataclass(frozen=True, slots=True)
class ImageMemberRow:
    image_id: str
    member_id: str
    status: str
    created_at: datetime
    updated_at: datetime


def _row(member: ImageMember) -> ImageMemberRow:
    return ImageMemberRow(
        member.image_id, member.member_id, member.status, member.created_at, member.updated_at
    )


async def list_members(
    db: AsyncSession, *, image_id: str, member_id: str | None = None
) -> list[ImageMemberRow]:
    """The memberships of an image, oldest first; only `member_id`'s when given."""
    stmt = select(ImageMember).where(ImageMember.image_id == image_id)
    if member_id is not None:
        stmt = stmt.where(ImageMember.member_id == member_id)
    stmt = stmt.order_by(ImageMember.created_at, ImageMember.member_id)
    return [_row(m) for m in (await db.execute(stmt)).scalars()]


async def get_member(
    db: AsyncSession, *, image_id: str, member_id: str
) -> ImageMemberRow | None:
    found = await list_members(db, image_id=image_id, member_id=member_id)
    return found[0] if found else None


async def count_members(db: AsyncSession, *, image_id: str) -> int:
    stmt = select(func.count()).select_from(ImageMember).where(ImageMember.image_id == image_id)
    return int((await db.execute(stmt)).scalar_one())


async def add_member(
    db: AsyncSession, *, image_id: str, member_id: str, status: str, now: datetime,
    duplicate: str,
) -> ImageMemberRow:
    """Insert a membership; Conflict(`duplicate`) when the pair exists (a concurrent
    insert included: the unit then rolls back as the Conflict leaves it)."""
    member = ImageMember(
        image_id=image_id, member_id=member_id, status=status, created_at=now, updated_at=now
    )
    db.add(member)
    try:
        await db.flush()
    except IntegrityError:
        raise Conflict(duplicate) from None
    return _row(member)


async def set_status(
    db: AsyncSession, *, image_id: str, member_id: str, status: str, now: datetime
) -> bool:
    stmt = (
        update(ImageMember)
        .where(ImageMember.image_id == image_id, ImageMember.member_id == member_id)
        .values(status=status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    result = await db.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_member(db: AsyncSession, *, image_id: str, member_id: str) -> bool:
    stmt = delete(ImageMember).where(
        ImageMember.image_id == image_id, ImageMember.member_id == member_id
    )
    result = await db.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]
