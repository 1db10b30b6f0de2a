"""Queries of the upload use case: compare-and-swap on volumes and images, cleanup lookups.

Every status change is a single `UPDATE ... WHERE status IN (...)`, so two
racing requests or workers cannot both win (Cinder's conditional_update).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, exists, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstanceState, Session

from cinderlite.db import images as images_db
from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import Image, Job, Volume, VolumeAttachment
from cinderlite.domain import images as image_rules
from cinderlite.domain import jobs as job_rules
from cinderlite.domain import volumes as volume_rules
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.transitions import Transition
from cinderlite.domain.volumes import AttachStatus, VolumeStatus

UPLOAD_KIND = "upload"
_UNFINISHED_IMAGE = tuple(sorted(image_rules.UNFINISHED))
_UNFINISHED_JOB = tuple(sorted(job_rules.UNFINISHED))


async def get_image(db: AsyncSession, *, image_id: str) -> Image | None:
    return await db.get(Image, image_id, populate_existing=True)


def image_status(db: Session, *, image_id: str) -> str | None:
    """The image's status, None when it is gone (synchronous, for `Database.run_read`)."""
    return db.execute(select(Image.status).where(Image.id == image_id)).scalar_one_or_none()


def _has_attachments(volume_id: Any) -> Any:
    return exists().where(
        VolumeAttachment.volume_id == volume_id,
        VolumeAttachment.attach_status != AttachStatus.DETACHED,
    )


def mark_uploading(
    db: Session, *, volume_id: str, rule: Transition[VolumeStatus], now: datetime
) -> bool:
    """START_UPLOAD(_FORCED): available/in-use -> uploading, previous_status := the
    status it had; False if no match.

    Synchronous, for `Database.run`; a Core statement (the ORM's
    UPDATE path costs several times as much on the upload action's hot path).
    """
    result = db.connection().execute(
        volumes_db.cas_stmt(volume_id, rule, now=now, previous_status=Volume.status)
    )
    return bool(result.rowcount)


def _finish_uploading_stmt(volume_id: str, now: datetime, job_id: str | None) -> Any:
    # FINISH_UPLOAD or FINISH_UPLOAD_ATTACHED (one source): the statement picks
    # the target by the attachments it sees. Plain strings, as the CASE's type
    # comes from its values.
    new_status = case(
        (_has_attachments(Volume.id), volume_rules.status_after_upload(True).value),
        else_=volume_rules.status_after_upload(False).value,
    )
    stmt = volumes_db.cas_stmt(volume_id, volume_rules.FINISH_UPLOAD, now=now, target=new_status)
    if job_id is not None:
        stmt = stmt.where(~exists().where(
            Job.volume_id == Volume.id, Job.kind == UPLOAD_KIND,
            Job.state.in_(_UNFINISHED_JOB), Job.id != job_id,
        ))
    return stmt.execution_options(synchronize_session=False)


async def finish_uploading(
    db: AsyncSession, *, volume_id: str, now: datetime, job_id: str | None = None
) -> str | None:
    """uploading -> in-use when attached, else available (Cinder's final reset).

    With `job_id`, only when no OTHER unfinished upload job holds the volume (a
    stale re-run must not end a newer upload). Returns the new status, or None
    when nothing changed.
    """
    result = await db.execute(_finish_uploading_stmt(volume_id, now, job_id))
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return (await db.execute(select(Volume.status).where(Volume.id == volume_id))).scalar()


def activate_image(
    db: Session, *, image_id: str, volume_id: str, job_id: str, now: datetime,
    disk_format: str, container_format: str, **values: Any,
) -> bool:
    """saving -> active with `values` (size, checksum, ...), then the volume's final
    status as `finish_uploading` sets it, in one transaction (synchronous, for
    `Database.run`). False, and nothing changed, when the image is
    no longer `saving` (deleted meanwhile) or no longer has the formats the data
    was written in: bytes written as raw never become active as a vmdk."""
    stmt = _image_cas_stmt(image_id, image_rules.ACTIVATE, now, values).where(
        Image.disk_format == disk_format, Image.container_format == container_format
    )
    result = db.execute(stmt)
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    db.execute(_finish_uploading_stmt(volume_id, now, job_id))
    return True


def add_image_and_job(db: Session, *, image: Image, job: Job) -> None:
    """Insert a new image and its upload job (synchronous, for `Database.run`).

    Two Core INSERTs of the attributes set on the (transient) objects, which stay
    out of the session: half the cost of the ORM's flush.
    """
    conn = db.connection()
    for model, row in ((Image, image), (Job, job)):
        state: InstanceState[Any] = inspect(row)
        values = {c.key: state.dict[c.key] for c in model.__table__.columns if c.key in state.dict}
        conn.execute(insert(model), values)


def _image_cas_stmt(
    image_id: str, rule: Transition[ImageStatus], now: datetime, values: dict[str, Any]
) -> Any:
    return images_db.cas_stmt(image_id, rule, now=now, **values).execution_options(
        synchronize_session=False
    )


def begin_saving(db: Session, *, image_id: str, volume_id: str, now: datetime) -> bool:
    """queued -> saving, when the volume is `uploading`: a fresh upload's start, in
    one transaction (synchronous, for `Database.run`). False, and
    nothing changed, in every other case (the caller sorts those out)."""
    volume = db.execute(
        select(Volume.status).where(Volume.id == volume_id)
    ).scalar_one_or_none()
    if volume != VolumeStatus.UPLOADING:
        return False
    result = db.execute(_image_cas_stmt(image_id, image_rules.BEGIN_SAVING, now, {}))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def delete_unfinished_image(db: AsyncSession, *, image_id: str) -> bool:
    """Delete the image row if it is still queued/saving (Cinder manager `_delete_image`)."""
    result = await db.execute(
        delete(Image)
        .where(Image.id == image_id, Image.status.in_(_UNFINISHED_IMAGE))
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def uploading_volumes_without_job(db: AsyncSession) -> list[str]:
    """Ids of volumes `uploading` that no unfinished upload job will ever finish."""
    job_exists = exists().where(
        Job.volume_id == Volume.id, Job.kind == UPLOAD_KIND, Job.state.in_(_UNFINISHED_JOB)
    )
    stmt = select(Volume.id).where(Volume.status == VolumeStatus.UPLOADING, ~job_exists)
    return list((await db.execute(stmt)).scalars())


async def abandoned_upload_images(db: AsyncSession) -> list[tuple[str, str]]:
    """(image id, volume id) of queued/saving images whose upload jobs have all ended."""
    ended = (
        select(Job.image_id.label("image_id"), Job.volume_id.label("volume_id"))
        .where(Job.kind == UPLOAD_KIND, Job.state.not_in(_UNFINISHED_JOB))
        .subquery()
    )
    unfinished = exists().where(Job.image_id == Image.id, Job.state.in_(_UNFINISHED_JOB))
    stmt = (
        select(Image.id, ended.c.volume_id)
        .join(ended, Image.id == ended.c.image_id)
        .where(Image.status.in_(_UNFINISHED_IMAGE), ~unfinished)
        .distinct()
    )
    return [(row[0], row[1]) for row in (await db.execute(stmt)).all()]


async def image_ids_in_progress(db: AsyncSession) -> set[str]:
    """Images whose staging files must survive a sweep: unfinished jobs, Glance uploads."""
    jobs = select(Job.image_id).where(Job.state.in_(_UNFINISHED_JOB), Job.image_id.is_not(None))
    images = select(Image.id).where(Image.status.in_(sorted(image_rules.WRITING)))
    ids = set((await db.execute(jobs)).scalars()) | set((await db.execute(images)).scalars())
    return {i for i in ids if i}


async def unfinished_upload_for_volume(db: AsyncSession, *, volume_id: str) -> Job | None:
    stmt = (
        select(Job)
        .where(Job.volume_id == volume_id, Job.kind == UPLOAD_KIND, Job.state.in_(_UNFINISHED_JOB))
        .order_by(Job.created_at.desc())
        .limit(1)
    )
    return (await db.execute(stmt)).scalars().first()
