"""Snapshot statuses and the transitions between them, as data.

A snapshot is a point-in-time copy of a volume's bytes. It is `creating` until
its copy is durable, then `available`; a failed copy leaves it in `error`. A
delete moves it to `deleting` before its bytes go, and to `error_deleting` when
they cannot be removed. os-reset_status (admin) is outside this table, as in
Cinder: it sets any of RESETTABLE.
"""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Table, Transition


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    BACKING_UP = "backing-up"
    RESTORING = "restoring"
    UNMANAGING = "unmanaging"


S = SnapshotStatus

TRANSITIONS: dict[SnapshotStatus, frozenset[SnapshotStatus]] = {
    S.CREATING: frozenset({S.AVAILABLE, S.ERROR, S.DELETING}),
    S.AVAILABLE: frozenset({S.DELETING, S.BACKING_UP, S.RESTORING}),
    S.BACKING_UP: frozenset({S.AVAILABLE}),
    S.RESTORING: frozenset({S.AVAILABLE}),
    S.DELETING: frozenset({S.ERROR_DELETING}),
    S.ERROR: frozenset({S.DELETING}),
    S.ERROR_DELETING: frozenset({S.DELETING}),
    # Cinder's unmanage; only os-reset_status sets it here.
    S.UNMANAGING: frozenset(),
}

# Statuses a snapshot may be deleted from (Cinder API.delete_snapshot), and
# the ones os-force_delete takes: any (a stuck `deleting` included).
DELETABLE = frozenset({S.AVAILABLE, S.ERROR})
FORCE_DELETABLE = frozenset(SnapshotStatus)
# What os-reset_status may set: any status (Cinder's snapshot_status format).
RESETTABLE = frozenset(SnapshotStatus)

_TABLE = Table(TRANSITIONS)
can_transition = _TABLE.allows
_rule = _TABLE.rule

FINISH_CREATE = _rule("finish snapshot", frozenset({S.CREATING}), S.AVAILABLE)
FAIL_CREATE = _rule("fail snapshot", frozenset({S.CREATING}), S.ERROR)
BEGIN_DELETE = _rule("begin snapshot delete", DELETABLE, S.DELETING)
FAIL_DELETE = _rule("fail snapshot delete", frozenset({S.DELETING}), S.ERROR_DELETING)

# A volume reverted to its latest snapshot (3.40) holds the snapshot `restoring`.
BEGIN_RESTORE = _rule("begin restore", frozenset({S.AVAILABLE}), S.RESTORING)
FINISH_RESTORE = _rule("finish restore", frozenset({S.RESTORING}), S.AVAILABLE)
# A backup taken from a snapshot (domain/backups.py) holds it backing-up.
START_BACKUP = _rule("start snapshot backup", frozenset({S.AVAILABLE}), S.BACKING_UP)
FINISH_BACKUP = _rule("finish snapshot backup", frozenset({S.BACKING_UP}), S.AVAILABLE)

RULES = (
    FINISH_CREATE, FAIL_CREATE, BEGIN_DELETE, FAIL_DELETE, BEGIN_RESTORE, FINISH_RESTORE,
    START_BACKUP, FINISH_BACKUP,
)

# Two changes Cinder makes outside the table, as os-reset_status is: an admin's
# os-force_delete (from any status), and a volume's cascade delete (its
# snapshots in available, error or already deleting).
FORCE_DELETE: Transition[SnapshotStatus] = Transition("force delete", FORCE_DELETABLE, S.DELETING)
CASCADE_DELETE: Transition[SnapshotStatus] = Transition(
    "cascade delete", frozenset({S.AVAILABLE, S.ERROR, S.DELETING}), S.DELETING
)
OVERRIDES = (FORCE_DELETE, CASCADE_DELETE)
