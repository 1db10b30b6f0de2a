"""Queries for durable background jobs: enqueue, claim with a lease, progress, finish.

`JobRepository` is how the job runner (workers/runner.py) and the services
reach them: the runner's steps each run as one synchronous function in one
write transaction (`Database.run`), a single hand-off to SQLite's database
thread; the services' reads run inside the unit of work they hand in.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from cinderlite.db.database import Database, Unit
from cinderlite.db.models import Job
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.jobs import JobState, Lease
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
            state=job_rules.CLAIM.target, lease_owner=owner, lease_token=uuid.uuid4().hex,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1, started_at=now, updated_at=now,
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return db.get(Job, job_id, populate_existing=True)


def renew_lease(
    db: Session, *, job_id: str, owner: str, now: datetime, lease_seconds: int,
    bytes_done: int | None = None, bytes_total: int | None = None, token: str | None = None,
) -> bool:
    """Extend the lease (and record progress); False if the job is no longer ours
    (with `token`: no longer this claim's)."""
    values: dict[str, Any] = {
        "lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now,
    }
    if bytes_done is not None:
        values["bytes_done"] = bytes_done
    if bytes_total is not None:
        values["bytes_total"] = bytes_total
    stmt = update(Job).where(
        Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING
    )
    if token is not None:
        stmt = stmt.where(Job.lease_token == token)
    result = db.execute(stmt.values(**values))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _hold_stmt(lease: Lease, now: datetime) -> Any:
    return (
        update(Job)
        .where(Job.id == lease.job_id, Job.lease_token == lease.token,
               Job.state == JobState.RUNNING)
        .values(lease_expires_at=now + timedelta(seconds=lease.seconds), updated_at=now)
        .execution_options(synchronize_session=False)
    )


def hold_sync(db: Session, lease: Lease, *, now: datetime) -> bool:
    """The fence: True, and the lease renewed, while `lease` is still the job's
    current claim; False once another claim replaced it (or the job ended).

    Run first in the transaction whose writes it guards: the UPDATE locks the
    job's row (PostgreSQL; SQLite's write lock is taken at BEGIN), so a claim by
    another worker waits for this transaction, and when this one commits the
    lease has just been renewed. A claim that came before makes this False, and
    the caller rolls back everything it wrote.
    """
    return bool(db.execute(_hold_stmt(lease, now)).rowcount)  # type: ignore[attr-defined]


async def hold(db: AsyncSession, lease: Lease, *, now: datetime) -> bool:
    """`hold_sync` inside an async unit of work."""
    return bool((await db.execute(_hold_stmt(lease, now))).rowcount)  # type: ignore[attr-defined]


def finish(
    db: Session, *, job_id: str, rule: Transition[JobState], now: datetime,
    error: str | None = None, owner: str | None = None, token: str | None = None,
) -> bool:
    """End the job by `rule` (SUCCEED, FAIL, CANCEL); False if it had already ended
    (or, with `owner`/`token`, was claimed again by someone else)."""
    stmt = update(Job).where(Job.id == job_id, Job.state.in_(sorted(rule.source)))
    if owner is not None:
        stmt = stmt.where(Job.lease_owner == owner)
    if token is not None:
        stmt = stmt.where(Job.lease_token == token)
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


def release_dead_leases(
    db: Session, *, prefix: str, dead: Callable[[str], bool], now: datetime
) -> int:
    """Expire the leases of running jobs whose owner starts with `prefix` and is
    `dead`, so that the next claim takes them up at once; how many."""
    released = 0
    for job in running_owned_by_prefix(db, prefix=prefix):
        if dead(job.lease_owner or ""):
            expire_lease(db, job_id=job.id, now=now)
            released += 1
    return released


def finish_with_progress(
    db: Session, *, job_id: str, rule: Transition[JobState], now: datetime, error: str | None,
    owner: str, lease_seconds: int, bytes_done: int, bytes_total: int,
    token: str | None = None,
) -> bool:
    """Record the job's last progress, then end it by `rule`; one transaction, and
    only while the lease is still `owner`'s (and `token`'s claim): a worker whose
    job was claimed again records nothing."""
    if not renew_lease(
        db, job_id=job_id, owner=owner, now=now, lease_seconds=lease_seconds,
        bytes_done=bytes_done, bytes_total=bytes_total, token=token,
    ):
        return False
    return finish(db, job_id=job_id, rule=rule, now=now, error=error, owner=owner, token=token)


async def unfinished_for_image(db: AsyncSession, *, image_id: str) -> list[Job]:
    stmt = select(Job).where(Job.image_id == image_id, Job.state.in_(_UNFINISHED))
    return list((await db.execute(stmt)).scalars())


async def images_being_written(db: AsyncSession) -> set[str]:
    """The images that an unfinished job writes."""
    stmt = select(Job.image_id).where(Job.image_id.is_not(None), Job.state.in_(_UNFINISHED))
    return {image_id for image_id in (await db.execute(stmt)).scalars() if image_id}


async def unfinished_for_volume(db: AsyncSession, *, volume_id: str) -> list[Job]:
    stmt = select(Job).where(Job.volume_id == volume_id, Job.state.in_(_UNFINISHED))
    return list((await db.execute(stmt)).scalars())


async def count_unfinished(db: AsyncSession) -> int:
    stmt = select(Job.id).where(Job.state.in_(_UNFINISHED))
    return len((await db.execute(stmt)).all())


class JobRepository:
    """The jobs table, one way whatever the database.

    The runner's steps (claim, renew, finish, release) each run as one
    synchronous function in one write transaction (`Database.run`): on SQLite a
    single hand-off to the database thread, which keeps a claim as cheap as the
    wake-up that asked for it. The services' questions take the unit of work
    they run in.
    """

    def __init__(self, database: Database) -> None:
        self._database = database

    # -- the runner ------------------------------------------------------------------

    async def claim_next(self, *, owner: str, now: datetime, lease_seconds: int) -> Job | None:
        """See `claim_next`: the oldest claimable job, now leased to `owner`."""
        return await self._database.run(functools.partial(
            claim_next, owner=owner, now=now, lease_seconds=lease_seconds,
        ))

    async def renew_lease(
        self, *, job_id: str, owner: str, now: datetime, lease_seconds: int,
        bytes_done: int | None = None, bytes_total: int | None = None, token: str | None = None,
    ) -> bool:
        """Extend `owner`'s lease and record progress; False if the job is no longer ours."""
        return await self._database.run(functools.partial(
            renew_lease, job_id=job_id, owner=owner, now=now, lease_seconds=lease_seconds,
            bytes_done=bytes_done, bytes_total=bytes_total, token=token,
        ))

    async def finish(
        self, *, job_id: str, rule: Transition[JobState], now: datetime, error: str | None,
        token: str | None = None,
    ) -> bool:
        """End the job by `rule`; False if it had already ended (or was claimed again)."""
        return await self._database.run(functools.partial(
            finish, job_id=job_id, rule=rule, now=now, error=error, token=token,
        ))

    async def finish_with_progress(
        self, *, job_id: str, rule: Transition[JobState], now: datetime, error: str | None,
        owner: str, lease_seconds: int, bytes_done: int, bytes_total: int,
        token: str | None = None,
    ) -> bool:
        """`finish`, recording the job's last progress first, in the same transaction;
        False when the claim `token` is no longer the job's."""
        return await self._database.run(functools.partial(
            finish_with_progress, job_id=job_id, rule=rule, now=now, error=error, owner=owner,
            lease_seconds=lease_seconds, bytes_done=bytes_done, bytes_total=bytes_total,
            token=token,
        ))

    async def hold(self, unit: Unit, lease: Lease, *, now: datetime) -> bool:
        """The fence, first in the caller's write `unit` (see `hold_sync`)."""
        return await hold(unit, lease, now=now)

    def hold_sync(self, unit: Session, lease: Lease, *, now: datetime) -> bool:
        """The fence in a synchronous transaction (`Database.run`)."""
        return hold_sync(unit, lease, now=now)

    async def release_dead_leases(
        self, *, prefix: str, dead: Callable[[str], bool], now: datetime
    ) -> int:
        """Expire the leases of running jobs whose owner (`prefix`...) is `dead`."""
        return await self._database.run(functools.partial(
            release_dead_leases, prefix=prefix, dead=dead, now=now,
        ))

    # -- inside a unit of work ---------------------------------------------------------

    async def enqueue(
        self, unit: Unit, *, kind: str, volume_id: str, image_id: str | None,
        project_id: str, user_id: str | None, request_id: str | None, params: dict[str, Any],
        now: datetime, bytes_total: int = 0,
    ) -> Job:
        """Add a queued job in `unit`: it exists for the runner once the unit commits
        (wake the runner after that)."""
        return await enqueue(
            unit, kind=kind, volume_id=volume_id, image_id=image_id, project_id=project_id,
            user_id=user_id, request_id=request_id, params=params, now=now,
            bytes_total=bytes_total,
        )

    async def unfinished_for_image(self, unit: AsyncSession, image_id: str) -> list[Job]:
        """The queued or running jobs writing `image_id`."""
        return await unfinished_for_image(unit, image_id=image_id)

    async def images_being_written(self, unit: AsyncSession) -> set[str]:
        """The images that a queued or running job writes (start-up recovery)."""
        return await images_being_written(unit)
