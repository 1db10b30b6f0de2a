"""Queries for durable background jobs: enqueue, claim with a lease, progress, finish."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cinderlite.db.models import Job
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.jobs import JobState
from cinderlite.domain.transitions import Transition

_UNFINISHED = tuple(sorted(job_rules.UNFINISHED))


def new_job(
    *, kind: str, volume_id: str, image_id: str | None, project_id: str,
    user_id: str | None, request_id: str | None, params: dict[str, Any], now: datetime,
    bytes_total: int = 0,
) -> Job:
    """A queued job row, not yet added to a session."""
    return Job(
        id=str(uuid.uuid4()), kind=kind, state=JobState.QUEUED.value, volume_id=volume_id,
        image_id=image_id, project_id=project_id, user_id=user_id, request_id=request_id,
        params=params, attempts=0, bytes_done=0, bytes_total=bytes_total, created_at=now,
        updated_at=now,
    )


async def enqueue(
    db: AsyncSession, *, kind: str, volume_id: str, image_id: str | None, project_id: str,
    user_id: str | None, request_id: str | None, params: dict[str, Any], now: datetime,
    bytes_total: int = 0,
) -> Job:
    job = new_job(
        kind=kind, volume_id=volume_id, image_id=image_id, project_id=project_id,
        user_id=user_id, request_id=request_id, params=params, now=now, bytes_total=bytes_total,
    )
    db.add(job)
    await db.flush()
    return job


async def get(db: AsyncSession, *, job_id: str) -> Job | None:
    return await db.get(Job, job_id)


# The runner's queries are synchronous: it runs each as one function in one write
# transaction (`Transactions.run`), a single hand-off to the database on SQLite.


def claim_next(db: Session, *, owner: str, now: datetime, lease_seconds: int) -> Job | None:
    """Take the oldest queued job (CLAIM), or a running one whose lease ran out (RECLAIM).

    The select locks with SKIP LOCKED where the database supports it
    (PostgreSQL); the UPDATE re-checks the claimable condition, so on SQLite two
    claimers cannot both win either.
    """
    claimable = or_(
        Job.state.in_(sorted(job_rules.CLAIM.source)),
        Job.state.in_(sorted(job_rules.RECLAIM.source)) & (Job.lease_expires_at < now),
    )
    stmt = select(Job.id).where(claimable).order_by(Job.created_at).limit(1)
    if db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    job_id = db.execute(stmt).scalar_one_or_none()
    if job_id is None:
        return None
    result = db.execute(
        update(Job)
        .where(Job.id == job_id, claimable)
        .values(
            state=job_rules.CLAIM.target, lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1, started_at=now, updated_at=now,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return db.get(Job, job_id, populate_existing=True)


def renew_lease(
    db: Session, *, job_id: str, owner: str, now: datetime, lease_seconds: int,
    bytes_done: int | None = None, bytes_total: int | None = None,
) -> bool:
    """Extend the lease (and record progress); False if the job is no longer ours."""
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now,
    }
    if bytes_done is not None:
        values["bytes_done"] = bytes_done
    if bytes_total is not None:
        values["bytes_total"] = bytes_total
    result = db.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
        .values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def finish(
    db: Session, *, job_id: str, rule: Transition[JobState], now: datetime,
    error: str | None = None, owner: str | None = None,
) -> bool:
    """End the job by `rule` (SUCCEED, FAIL, CANCEL); False if it had already ended."""
    stmt = update(Job).where(Job.id == job_id, Job.state.in_(sorted(rule.source)))
    if owner is not None:
        stmt = stmt.where(Job.lease_owner == owner)
    result = db.execute(
        stmt.values(state=rule.target, finished_at=now, updated_at=now, error=error,
                    lease_expires_at=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def running_owned_by_prefix(db: Session, *, prefix: str) -> list[Job]:
    stmt = select(Job).where(Job.state == JobState.RUNNING, Job.lease_owner.like(prefix + "%"))
    return list(db.execute(stmt).scalars())


def expire_lease(db: Session, *, job_id: str, now: datetime) -> None:
    db.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=now))


async def unfinished_for_image(db: AsyncSession, *, image_id: str) -> list[Job]:
    stmt = select(Job).where(Job.image_id == image_id, Job.state.in_(_UNFINISHED))
    return list((await db.execute(stmt)).scalars())


async def unfinished_for_volume(db: AsyncSession, *, volume_id: str) -> list[Job]:
    stmt = select(Job).where(Job.volume_id == volume_id, Job.state.in_(_UNFINISHED))
    return list((await db.execute(stmt)).scalars())


async def count_unfinished(db: AsyncSession) -> int:
    stmt = select(Job.id).where(Job.state.in_(_UNFINISHED))
    return len((await db.execute(stmt)).all())
