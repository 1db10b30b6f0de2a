"""The job runner: a bounded pool of tasks that claim durable jobs and run them.

Claim job -> handler (services/upload_worker.run_upload, ...) -> finish. A job's lease
is renewed while it runs, carrying its progress; a job whose owner died is taken
up again once its lease has run out, or at once on start when the dead owner
was a process on this host. Requests beyond the pool's size wait in the queue.

Fencing: every claim gets a new token (db/jobs.claim_next). A handler's writes
begin with `JobContext.fence` in their own transaction, and the runner's finish
checks the token too, so a worker that was paused (SIGSTOP, a long GC, a lost
network) past its lease while another claimed the job commits nothing: its
writes roll back with `LeaseLost`, and it only removes its own temporary files.
A renewal that finds the lease gone cancels the handler at once.

File steps outside any transaction (a finished copy renamed into place, a restore
writing into a volume) are guarded by the lease as this process's own clock
sees it (`JobContext.guard`): the monotonic time before the last renewal that
succeeded, plus the lease, less a margin. A worker paused past that point
(SIGSTOP, a stall) finds it passed when it resumes, and goes on only once a
renewal succeeded again with its token, that is only if no other worker
claimed the job meanwhile; so nothing it does lands after another claim. What
is left: a pause of more than the margin between the check and the system
call right after it, and wall clocks of several machines that differ by more
than the margin (the database's expiry is wall time: keep them in sync, NTP).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from cinderlite.db.database import SyncUnit, Unit
from cinderlite.db.models import Job
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.jobs import JobState, Lease, LeaseLost
from cinderlite.domain.transitions import Transition

log = logging.getLogger("cinderlite.workers")
T = TypeVar("T")


@dataclass
class JobContext:
    """What a handler gets: the claimed job, a way to report progress, and the fence
    its writes begin with."""

    job: Job
    owner: str
    lease: Lease
    store: JobStore
    bytes_done: int = 0
    bytes_total: int = 0
    started: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    # Set once the lease was found taken by another claim.
    lost: bool = False
    # time.monotonic() when the claim was asked for; `held_until` is then the time
    # until which this claim is known to hold the job: taken before the claim or
    # the last renewal that succeeded, plus the lease (`guard`). Only the runner's
    # renewals (each its own committed transaction) move it: a fence renews the
    # lease too, but inside a unit that may still roll back.
    claimed_at: float = field(default_factory=time.monotonic)
    held_until: float = 0.0
    _clock: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def __post_init__(self) -> None:
        self.held_until = self.claimed_at + self.lease.seconds

    @property
    def margin(self) -> float:
        """How long before `held_until` the guard stops trusting the lease."""
        return min(5.0, self.lease.seconds / 4)

    def renewed(self, started: float) -> None:
        """A claim renewal that began at monotonic `started` succeeded."""
        with self._clock:
            self.held_until = max(self.held_until, started + self.lease.seconds)
            self._clock.notify_all()

    def lose(self) -> None:
        """The lease was found taken by another claim."""
        with self._clock:
            self.lost = True
            self._clock.notify_all()

    def guard(self, wait: float | None = None) -> None:
        """Right before a step no transaction covers (a rename into place, a write
        into a volume), from the thread doing it: returns while this claim is
        known to hold the job for at least `margin` more seconds by this
        process's clock. Past that (the process was paused or the database
        slow), waits up to `wait` seconds (default: one lease) for a renewal,
        which succeeds only with this claim's token; LeaseLost when the lease
        was lost or no renewal came. Blocks: never call it on the event loop."""
        limit = time.monotonic() + (self.lease.seconds if wait is None else wait)
        with self._clock:
            while True:
                if self.lost:
                    raise LeaseLost(self.job.id)
                now = time.monotonic()
                if now < self.held_until - self.margin:
                    return
                if now >= limit:
                    raise LeaseLost(self.job.id)
                self._clock.wait(min(0.1, limit - now))

    async def fence(self, unit: Unit) -> None:
        """First in every write transaction of the handler: raises LeaseLost (and the
        transaction rolls back) once another worker claimed the job; otherwise the
        lease is renewed and the job's row stays locked until the commit."""
        if not await self.store.hold(unit, self.lease, now=utcnow()):
            self.lose()
            raise LeaseLost(self.job.id)

    def fence_sync(self, unit: SyncUnit) -> None:
        """`fence` in a synchronous transaction (`Database.run`)."""
        if not self.store.hold_sync(unit, self.lease, now=utcnow()):
            self.lose()
            raise LeaseLost(self.job.id)

    def report(self, bytes_done: int, bytes_total: int | None = None) -> None:
        self.bytes_done = bytes_done
        if bytes_total is not None:
            self.bytes_total = bytes_total

    async def follow(self, progress: Counter, work: Awaitable[T], interval: float = 0.25) -> T:
        """Await `work`, reporting `progress` (updated by the thread doing it) as it goes."""
        task = asyncio.ensure_future(work)
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=interval)
                self.report(progress.done, progress.total)
            return task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task


class Counter(Protocol):
    """Bytes done of a total, written by the thread doing the work (datapath's Progress)."""

    done: int
    total: int


JobHandler = Callable[[JobContext], Awaitable[None]]


class JobStore(Protocol):
    """What the runner asks of the jobs table (db/jobs.py JobRepository): each call
    is one write transaction."""

    async def claim_next(self, *, owner: str, now: datetime, lease_seconds: int) -> Job | None:
        ...

    async def renew_lease(
        self, *, job_id: str, owner: str, now: datetime, lease_seconds: int,
        bytes_done: int | None = None, bytes_total: int | None = None, token: str | None = None,
    ) -> bool: ...

    async def finish(
        self, *, job_id: str, rule: Transition[JobState], now: datetime, error: str | None,
        token: str | None = None,
    ) -> bool: ...

    async def finish_with_progress(
        self, *, job_id: str, rule: Transition[JobState], now: datetime, error: str | None,
        owner: str, lease_seconds: int, bytes_done: int, bytes_total: int,
        token: str | None = None,
    ) -> bool: ...

    async def hold(self, unit: Unit, lease: Lease, *, now: datetime) -> bool: ...

    def hold_sync(self, unit: SyncUnit, lease: Lease, *, now: datetime) -> bool: ...

    async def release_dead_leases(
        self, *, prefix: str, dead: Callable[[str], bool], now: datetime
    ) -> int: ...

    async def enqueue(
        self, unit: Unit, *, kind: str, volume_id: str, image_id: str | None,
        project_id: str, user_id: str | None, request_id: str | None, params: dict[str, Any],
        now: datetime, bytes_total: int = 0,
    ) -> Job: ...


class JobCancelled(Exception):
    """Raised inside a handler's task when its job was cancelled (e.g. image deleted)."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JobRunner:
    def __init__(
        self,
        store: JobStore,
        handlers: Mapping[str, JobHandler] | None = None,
        *,
        workers: int = 4,
        lease_seconds: int = 60,
        poll_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._handlers = dict(handlers or {})
        self._workers = max(1, workers)
        self._lease_seconds = lease_seconds
        self._poll_seconds = poll_seconds
        self._host = socket.gethostname()
        self.owner = f"{self._host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Idle workers' wake-up futures, oldest first; wakes that found no idle
        # worker are counted so the next worker to go idle claims at once.
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()
        self._unclaimed_wakes = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, tuple[asyncio.Task[None], JobContext]] = {}
        self._cancel_requested: set[str] = set()
        self._stopping = False

    def register(self, kind: str, handler: JobHandler) -> None:
        """Run jobs of `kind` with `handler` (the wiring registers them before `start`)."""
        self._handlers[kind] = handler

    async def enqueue(
        self, unit: Unit, *, kind: str, volume_id: str, image_id: str | None,
        project_id: str, user_id: str | None, request_id: str | None, params: dict[str, Any],
        now: datetime, bytes_total: int = 0,
    ) -> Job:
        """Queue a job in the caller's `unit`: it exists for the runners once the unit
        commits, together with the rows it works on, or not at all. Call `wake`
        after the commit."""
        return await self._store.enqueue(
            unit, kind=kind, volume_id=volume_id, image_id=image_id, project_id=project_id,
            user_id=user_id, request_id=request_id, params=params, now=now,
            bytes_total=bytes_total,
        )

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        await self.release_dead_local_leases()
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._worker_loop(i), name=f"job-worker-{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        """Stop claiming and abandon running jobs; their leases let the next start resume."""
        self._stopping = True
        while self._idle:
            self._release(self._idle.popleft())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def release_dead_local_leases(self) -> int:
        """Expire the leases of running jobs whose owner was a dead process on this host."""

        def dead(owner: str) -> bool:
            parts = owner.split(":")
            pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else -1
            return owner != self.owner and (pid == os.getpid() or not _pid_alive(pid))

        released = await self._store.release_dead_leases(
            prefix=self._host + ":", dead=dead, now=utcnow()
        )
        if released:
            log.info("released %d job(s) left running by a dead process", released)
        return released

    # -- control -----------------------------------------------------------------

    def wake(self) -> None:
        """One job was enqueued: wake one idle worker to claim it.

        One, not all: every woken worker runs a claim transaction, and on SQLite
        those queue behind each other (and behind API writes) while only one
        can win. With no worker idle, the next one to finish claims at once.
        """
        while self._idle:
            if self._release(self._idle.popleft()):
                return
        # Bounded: each counted wake costs one claim later, found work or not.
        self._unclaimed_wakes = min(self._unclaimed_wakes + 1, self._workers)

    @staticmethod
    def _release(waiter: asyncio.Future[None]) -> bool:
        if waiter.done():
            return False
        waiter.set_result(None)
        return True

    async def _wait_for_work(self) -> None:
        """Until `wake` picks this worker, or the poll interval passes (jobs from
        other processes, expired leases)."""
        if self._unclaimed_wakes:
            self._unclaimed_wakes -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle.append(waiter)
        try:
            await asyncio.wait_for(waiter, self._poll_seconds)
        except TimeoutError:
            pass
        finally:
            with contextlib.suppress(ValueError):
                self._idle.remove(waiter)

    def cancel(self, job_id: str) -> bool:
        """Cancel a job running in this process; True if it was running here."""
        entry = self._running.get(job_id)
        if entry is None:
            return False
        self._cancel_requested.add(job_id)
        entry[0].cancel()
        return True

    def cancel_requested(self, job_id: str) -> bool:
        """True once `cancel(job_id)` was called for a job that is still running here."""
        return job_id in self._cancel_requested

    def progress(self, job_id: str) -> tuple[int, int, float] | None:
        """(bytes_done, bytes_total, seconds running) of a job running in this process."""
        entry = self._running.get(job_id)
        if entry is None:
            return None
        ctx = entry[1]
        return ctx.bytes_done, ctx.bytes_total, asyncio.get_running_loop().time() - ctx.started

    @property
    def busy(self) -> int:
        return len(self._running)

    # -- internals -----------------------------------------------------------------

    async def _claim(self) -> Job | None:
        return await self._store.claim_next(
            owner=self.owner, now=utcnow(), lease_seconds=self._lease_seconds
        )

    async def _worker_loop(self, index: int) -> None:
        while not self._stopping:
            asked = time.monotonic()
            try:
                job = await self._claim()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not claim a job")
                job = None
            if job is None:
                await self._wait_for_work()
                continue
            await self._run(job, asked)

    async def _run(self, job: Job, claimed_at: float) -> None:
        handler = self._handlers.get(job.kind)
        lease = Lease(job_id=job.id, token=job.lease_token or "", seconds=self._lease_seconds)
        if handler is None:
            log.error("job %s has unknown kind %r", job.id, job.kind)
            await self._store.finish(
                job_id=job.id, rule=job_rules.FAIL, now=utcnow(),
                error=f"unknown job kind {job.kind}", token=lease.token,
            )
            return
        ctx = JobContext(job=job, owner=self.owner, lease=lease, store=self._store,
                         bytes_total=job.bytes_total, claimed_at=claimed_at)
        task = asyncio.create_task(self._call(handler, ctx), name=f"job-{job.id}")
        self._running[job.id] = (task, ctx)
        renewer = asyncio.create_task(self._renew_loop(ctx, task))
        try:
            await asyncio.shield(task)
            rule, error = job_rules.SUCCEED, None
        except LeaseLost:
            ctx.lose()
        except asyncio.CancelledError:
            if ctx.lost and not self._stopping:
                pass  # the renewal found the lease taken: nothing to record
            elif self._stopping or job.id not in self._cancel_requested:
                # Shutdown: leave the job running; its lease lets the next start resume it.
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise
            else:
                rule, error = job_rules.CANCEL, "cancelled"
        except JobCancelled:
            rule, error = job_rules.CANCEL, "cancelled"
        except Exception as exc:
            if ctx.lost:  # a write after the loss failed (its fence raised, chained)
                pass
            else:
                rule, error = job_rules.FAIL, f"{type(exc).__name__}: {exc}"
        finally:
            renewer.cancel()
            with contextlib.suppress(BaseException):
                await renewer
            self._running.pop(job.id, None)
            self._cancel_requested.discard(job.id)
        if ctx.lost:
            log.warning("job %s (%s) lost its lease to another worker: its outcome is that "
                        "worker's", job.id, job.kind)
            return
        if not await self._finish(rule, error, ctx):
            log.warning("job %s (%s): not recorded as %s, its lease was taken by another "
                        "worker", job.id, job.kind, rule.target)

    async def _call(self, handler: JobHandler, ctx: JobContext) -> None:
        try:
            await handler(ctx)
        except asyncio.CancelledError:
            if ctx.job.id in self._cancel_requested:
                raise JobCancelled() from None
            raise

    async def _finish(
        self, rule: Transition[JobState], error: str | None, ctx: JobContext
    ) -> bool:
        """Record the outcome and last progress, fenced by the claim's token."""
        return await self._store.finish_with_progress(
            job_id=ctx.job.id, rule=rule, now=utcnow(), error=error, owner=self.owner,
            lease_seconds=self._lease_seconds, bytes_done=ctx.bytes_done,
            bytes_total=ctx.bytes_total, token=ctx.lease.token,
        )

    async def _renew_loop(self, ctx: JobContext, task: asyncio.Task[None]) -> None:
        interval = max(0.5, self._lease_seconds / 4)
        while True:
            await asyncio.sleep(min(interval, 2.0))
            started = time.monotonic()
            try:
                held = await self._store.renew_lease(
                    job_id=ctx.job.id, owner=self.owner, now=utcnow(),
                    lease_seconds=self._lease_seconds, bytes_done=ctx.bytes_done,
                    bytes_total=ctx.bytes_total, token=ctx.lease.token,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not renew the lease of job %s", ctx.job.id)
                continue
            if not held:
                # Claimed again by another worker (this process was paused or cut
                # off past the lease): stop working for nothing; the handler's
                # writes would be refused by their fence anyway.
                log.warning("job %s: lease taken by another worker; stopping", ctx.job.id)
                ctx.lose()
                task.cancel()
                return
            ctx.renewed(started)
