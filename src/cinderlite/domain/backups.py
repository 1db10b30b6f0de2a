"""Backup statuses and the transitions between them, as data.

A backup is a copy of a volume's (or a snapshot's) bytes kept in the backup
store, apart from the volume. It is `creating` until its chunks and its
metadata file are durable, then `available`; a failed backup ends in `error`.
A restore moves it `available -> restoring -> available` whatever the outcome
(Cinder's manager leaves the backup available and fails the volume instead).
A delete moves it to `deleting` before its chunks go, and to `error_deleting`
when they cannot be removed. os-reset_status (admin) is outside this table, as
in Cinder: it sets one of RESETTABLE.
"""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Table, Transition


class BackupStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    RESTORING = "restoring"


S = BackupStatus

TRANSITIONS: dict[BackupStatus, frozenset[BackupStatus]] = {
    S.CREATING: frozenset({S.AVAILABLE, S.ERROR}),
    S.AVAILABLE: frozenset({S.RESTORING, S.DELETING}),
    S.RESTORING: frozenset({S.AVAILABLE}),
    S.DELETING: frozenset({S.ERROR_DELETING}),
    S.ERROR: frozenset({S.DELETING}),
    S.ERROR_DELETING: frozenset(),
}

# Statuses a backup may be deleted from (Cinder backup API.delete without force).
DELETABLE = frozenset({S.AVAILABLE, S.ERROR})
# What os-reset_status may set (Cinder's `backup_status` format).
RESETTABLE = (S.AVAILABLE, S.ERROR)

_TABLE = Table(TRANSITIONS)
can_transition = _TABLE.allows
_rule = _TABLE.rule

FINISH_CREATE = _rule("finish backup", frozenset({S.CREATING}), S.AVAILABLE)
FAIL_CREATE = _rule("fail backup", frozenset({S.CREATING}), S.ERROR)
BEGIN_RESTORE = _rule("begin restore", frozenset({S.AVAILABLE}), S.RESTORING)
END_RESTORE = _rule("end restore", frozenset({S.RESTORING}), S.AVAILABLE)
BEGIN_DELETE = _rule("begin backup delete", DELETABLE, S.DELETING)
FAIL_DELETE = _rule("fail backup delete", frozenset({S.DELETING}), S.ERROR_DELETING)

RULES = (FINISH_CREATE, FAIL_CREATE, BEGIN_RESTORE, END_RESTORE, BEGIN_DELETE, FAIL_DELETE)

# An admin's os-force_delete takes a backup from any status, as Cinder's force
# delete skips the status check (outside the table, as os-reset_status is).
FORCE_DELETE: Transition[BackupStatus] = Transition(
    "force backup delete", frozenset(BackupStatus), S.DELETING
)
OVERRIDES = (FORCE_DELETE,)
