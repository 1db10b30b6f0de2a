"""Background job states and the transitions between them, as data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from cinderlite.domain.transitions import Table


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = JobState

UNFINISHED = frozenset({S.QUEUED, S.RUNNING})

# An ended job never changes again; a running one may be claimed again (its
# owner died and the lease ran out).
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    S.QUEUED: frozenset({S.RUNNING, S.DONE, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.RUNNING, S.DONE, S.FAILED, S.CANCELLED}),
    S.DONE: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


_TABLE = Table(TRANSITIONS)
can_transition = _TABLE.allows
_rule = _TABLE.rule


# The state changes of db/jobs.py.
CLAIM = _rule("claim", frozenset({S.QUEUED}), S.RUNNING)
# Only once the lease has run out (db/jobs.claim_next).
RECLAIM = _rule("claim again", frozenset({S.RUNNING}), S.RUNNING)
SUCCEED = _rule("succeed", UNFINISHED, S.DONE)
FAIL = _rule("fail", UNFINISHED, S.FAILED)
CANCEL = _rule("cancel", UNFINISHED, S.CANCELLED)

RULES = (CLAIM, RECLAIM, SUCCEED, FAIL, CANCEL)


@dataclass(frozen=True)
class Lease:
    """One claim of a job: `token` is new at every claim (the fencing token), and a
    holder's writes renew the lease for `seconds`."""

    job_id: str
    token: str
    seconds: int


class LeaseLost(Exception):
    """The job was claimed again by another worker (this one paused, or lost the
    database for longer than its lease): nothing of this claim may commit any more.
    Never reaches a client."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id}: the lease was lost to another worker")
        self.job_id = job_id


# Called (in the thread doing the work) right before a step no transaction can
# roll back: a rename of finished data into place, a write into a volume in use.
# Raises LeaseLost when this worker can no longer show it holds the job
# (workers/runner.JobContext.guard).
Guard = Callable[[], None]
