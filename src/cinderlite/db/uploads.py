"""Queries of the upload use case: compare-and-swap on volumes and images, cleanup lookups.

Every status change is a single `UPDATE ... WHERE status IN (...)`, so two
racing requests or workers cannot both win (Cinder's conditional_update).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import Image, Job, Volume, VolumeAttachment, VolumeType

UPLOAD_KIND = "upload"
UNFINISHED_IMAGE = ("queued", "saving")
UNFINISHED_JOB = ("queued", "running")


async def get_volume(db: AsyncSession, *, volume_id: str) -> Volume | None:
    return await db.get(Volume, volume_id, populate_existing=True)


async def get_volume_type(db: AsyncSession, *, type_id: str) -> VolumeType | None:
    return await db.get(VolumeType, type_id)


async def get_image(db: AsyncSession, *, image_id: str) -> Image | None:
    return await db.get(Image, image_id, populate_existing=True)


def _has_attachments(volume_id: Any) -> Any:
    return exists().where(
        VolumeAttachment.volume_id == volume_id,
        VolumeAttachment.attach_status != "detached",
    )


async def has_attachments(db: AsyncSession, *, volume_id: str) -> bool:
    return bool((await db.execute(select(_has_attachments(volume_id)))).scalar())


async def mark_uploading(
    db: AsyncSession, *, volume_id: str, expected: Iterable[str], now: datetime
) -> bool:
    """available/in-use -> uploading, previous_status := the status it had; False if no match.

    Run it as the first statement of its transaction: on SQLite that takes the
    write lock at once, instead of upgrading a read snapshot (which fails).
    """
    result = await db.execute(
        update(Volume)
        .where(Volume.id == volume_id, Volume.status.in_(list(expected)))
        .values(status="uploading", previous_status=Volume.status, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def finish_uploading(
    db: AsyncSession, *, volume_id: str, now: datetime, job_id: str | None = None
) -> str | None:
    """uploading -> in-use when attached, else available (Cinder's final reset).

    With `job_id`, only when no OTHER unfinished upload job holds the volume (a
    stale re-run must not end a newer upload). Returns the new status, or None
    when nothing changed.
    """
    new_status = case((_has_attachments(Volume.id), "in-use"), else_="available")
    stmt = update(Volume).where(Volume.id == volume_id, Volume.status == "uploading")
    if job_id is not None:
        stmt = stmt.where(~exists().where(
            Job.volume_id == Volume.id, Job.kind == UPLOAD_KIND,
            Job.state.in_(UNFINISHED_JOB), Job.id != job_id,
        ))
    result = await db.execute(
        stmt.values(status=new_status, updated_at=now).execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return (await db.execute(select(Volume.status).where(Volume.id == volume_id))).scalar()


async def create_image(db: AsyncSession, **values: Any) -> Image:
    image = Image(**values)
    db.add(image)
    await db.flush()
    return image


async def set_image_status(
    db: AsyncSession, *, image_id: str, expected: Iterable[str], new: str, now: datetime,
    **values: Any,
) -> bool:
    """CAS on the image status; extra `values` (size, checksum, ...) go in the same UPDATE."""
    result = await db.execute(
        update(Image)
        .where(Image.id == image_id, Image.status.in_(list(expected)))
        .values(status=new, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_unfinished_image(db: AsyncSession, *, image_id: str) -> bool:
    """Delete the image row if it is still queued/saving (Cinder manager `_delete_image`)."""
    result = await db.execute(
        delete(Image)
        .where(Image.id == image_id, Image.status.in_(UNFINISHED_IMAGE))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def uploading_volumes_without_job(db: AsyncSession) -> list[str]:
    """Ids of volumes `uploading` that no unfinished upload job will ever finish."""
    job_exists = exists().where(
        Job.volume_id == Volume.id, Job.kind == UPLOAD_KIND, Job.state.in_(UNFINISHED_JOB)
    )
    stmt = select(Volume.id).where(Volume.status == "uploading", ~job_exists)
    return list((await db.execute(stmt)).scalars())


async def abandoned_upload_images(db: AsyncSession) -> list[tuple[str, str]]:
    """(image id, volume id) of queued/saving images whose upload jobs have all ended."""
    ended = (
        select(Job.image_id.label("image_id"), Job.volume_id.label("volume_id"))
        .where(Job.kind == UPLOAD_KIND, Job.state.not_in(UNFINISHED_JOB))
        .subquery()
    )
    unfinished = exists().where(Job.image_id == Image.id, Job.state.in_(UNFINISHED_JOB))
    stmt = (
        select(Image.id, ended.c.volume_id)
        .join(ended, Image.id == ended.c.image_id)
        .where(Image.status.in_(UNFINISHED_IMAGE), ~unfinished)
        .distinct()
    )
    return [(row[0], row[1]) for row in (await db.execute(stmt)).all()]


async def image_ids_in_progress(db: AsyncSession) -> set[str]:
    """Images whose staging files must survive a sweep: unfinished jobs, Glance uploads."""
    jobs = select(Job.image_id).where(Job.state.in_(UNFINISHED_JOB), Job.image_id.is_not(None))
    images = select(Image.id).where(Image.status.in_(("saving", "uploading", "importing")))
    ids = set((await db.execute(jobs)).scalars()) | set((await db.execute(images)).scalars())
    return {i for i in ids if i}


async def unfinished_upload_for_volume(db: AsyncSession, *, volume_id: str) -> Job | None:
    stmt = (
        select(Job)
        .where(Job.volume_id == volume_id, Job.kind == UPLOAD_KIND, Job.state.in_(UNFINISHED_JOB))
        .order_by(Job.created_at.desc())
        .limit(1)
    )
    return (await db.execute(stmt)).scalars().first()
