"""Background job states and the transitions between them, as data."""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Transition, named


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


def can_transition(current: JobState, new: JobState) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def _rule(name: str, source: frozenset[JobState], target: JobState) -> Transition[S]:
    return named(can_transition, name, source, target)


# The state changes of db/jobs.py.
CLAIM = _rule("claim", frozenset({S.QUEUED}), S.RUNNING)
# Only once the lease has run out (db/jobs.claim_next).
RECLAIM = _rule("claim again", frozenset({S.RUNNING}), S.RUNNING)
SUCCEED = _rule("succeed", UNFINISHED, S.DONE)
FAIL = _rule("fail", UNFINISHED, S.FAILED)
CANCEL = _rule("cancel", UNFINISHED, S.CANCELLED)

RULES = (CLAIM, RECLAIM, SUCCEED, FAIL, CANCEL)
