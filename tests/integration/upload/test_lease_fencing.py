"""The lease token as a fence (db/jobs.py hold, finish, renew): a claim that was
replaced by another can no longer write, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from cinderlite.db import jobs as jobs_db
from cinderlite.db.jobs import JobRepository
from cinderlite.db.models import Job
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.jobs import Lease

pytestmark = pytest.mark.integration

LEASE = 2


async def _queued(rt) -> str:  # type: ignore[no-untyped-def]
    # The runtime's own runner would race the test for the job (and fail it: its
    # kind is unknown): the test's claims must be the only ones.
    await rt.jobs.stop()
    async with rt.transaction() as db:
        job = await jobs_db.enqueue(
            db, kind="none", volume_id="v", image_id=None, project_id="p", user_id=None,
            request_id=None, params={}, now=utcnow(),
        )
        return job.id


async def _claim(repo: JobRepository, owner: str, at) -> Lease:  # type: ignore[no-untyped-def]
    job = await repo.claim_next(owner=owner, now=at, lease_seconds=LEASE)
    assert job is not None
    assert job.lease_token
    return Lease(job_id=job.id, token=job.lease_token, seconds=LEASE)


async def test_a_claim_taken_over_after_its_lease_can_no_longer_write(rt) -> None:  # type: ignore[no-untyped-def]
    repo = JobRepository(rt.db)
    job_id = await _queued(rt)
    now = utcnow()
    first = await _claim(repo, "host:1:a", now)
    async with rt.transaction() as db:
        assert await repo.hold(db, first, now=now)
    # The lease runs out; another worker claims the job: a new token.
    later = now + timedelta(seconds=LEASE + 1)
    second = await _claim(repo, "host:2:b", later)
    assert second.job_id == job_id
    assert second.token != first.token
    async with rt.transaction() as db:
        assert not await repo.hold(db, first, now=later)
        assert await repo.hold(db, second, now=later)
    assert not await repo.renew_lease(
        job_id=job_id, owner="host:1:a", now=later, lease_seconds=LEASE, token=first.token
    )
    assert not await repo.finish_with_progress(
        job_id=job_id, rule=job_rules.SUCCEED, now=later, error=None, owner="host:1:a",
        lease_seconds=LEASE, bytes_done=1, bytes_total=1, token=first.token,
    )
    assert await repo.finish_with_progress(
        job_id=job_id, rule=job_rules.SUCCEED, now=later, error=None, owner="host:2:b",
        lease_seconds=LEASE, bytes_done=1, bytes_total=1, token=second.token,
    )
    async with rt.sessionmaker() as db:
        row = (await db.execute(select(Job).where(Job.id == job_id))).scalar_one()
    assert (row.state, row.lease_owner, row.attempts) == ("done", "host:2:b", 2)


async def test_the_same_process_claiming_again_gets_a_new_token(rt) -> None:  # type: ignore[no-untyped-def]
    # One owner name, two claims (this process stalled past its own lease): the
    # token still tells them apart.
    repo = JobRepository(rt.db)
    await _queued(rt)
    now = utcnow()
    first = await _claim(repo, "host:1:a", now)
    second = await _claim(repo, "host:1:a", now + timedelta(seconds=LEASE + 1))
    async with rt.transaction() as db:
        assert not await repo.hold(db, first, now=now)
        assert await repo.hold(db, second, now=now)
