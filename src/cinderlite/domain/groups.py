"""Generic volume groups and group snapshots: statuses and transitions, as data.

A group holds volumes of the volume types it was made with (Cinder's generic
volume groups, 3.13). Made empty, it is `available` at once (there is nothing
to build); made from a group snapshot or another group (3.14) it is `creating`
until each member volume's copy has ended, then `available`, or `error` when
one failed. A change of its members holds it `updating` in Cinder; here the
change is one transaction, so it never shows. A delete moves it to `deleting`,
and to `error_deleting` when a member's bytes cannot be removed.

A group snapshot is a snapshot of each member volume (3.14), `creating` until
each has been copied, then `available` (or `error`). os-reset_status (3.19,
3.20, admin) sets any status outside these tables, as in Cinder.
"""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Table, Transition
from cinderlite.domain.volumes import VolumeStatus


class GroupStatus(StrEnum):
    ERROR = "error"
    AVAILABLE = "available"
    CREATING = "creating"
    DELETING = "deleting"
    UPDATING = "updating"
    IN_USE = "in-use"
    ERROR_DELETING = "error_deleting"


class GroupSnapshotStatus(StrEnum):
    ERROR = "error"
    AVAILABLE = "available"
    CREATING = "creating"
    DELETING = "deleting"
    UPDATING = "updating"
    ERROR_DELETING = "error_deleting"


G = GroupStatus
GS = GroupSnapshotStatus

GROUP_TRANSITIONS: dict[GroupStatus, frozenset[GroupStatus]] = {
    G.CREATING: frozenset({G.AVAILABLE, G.ERROR}),
    G.AVAILABLE: frozenset({G.DELETING, G.UPDATING}),
    G.IN_USE: frozenset({G.DELETING}),
    G.UPDATING: frozenset({G.AVAILABLE}),
    G.ERROR: frozenset({G.DELETING}),
    G.DELETING: frozenset({G.ERROR_DELETING}),
    G.ERROR_DELETING: frozenset({G.DELETING}),
}
SNAPSHOT_TRANSITIONS: dict[GroupSnapshotStatus, frozenset[GroupSnapshotStatus]] = {
    GS.CREATING: frozenset({GS.AVAILABLE, GS.ERROR}),
    GS.AVAILABLE: frozenset({GS.DELETING}),
    GS.ERROR: frozenset({GS.DELETING}),
    GS.DELETING: frozenset({GS.ERROR_DELETING}),
    GS.ERROR_DELETING: frozenset(),
    GS.UPDATING: frozenset(),
}

_GROUPS = Table(GROUP_TRANSITIONS)
_SNAPSHOTS = Table(SNAPSHOT_TRANSITIONS)
can_transition = _GROUPS.allows
can_transition_snapshot = _SNAPSHOTS.allows

# Cinder API.delete: without delete-volumes the group must be available or error.
DELETABLE = frozenset({G.AVAILABLE, G.ERROR})
FINISH_CREATE = _GROUPS.rule("finish group", frozenset({G.CREATING}), G.AVAILABLE)
FAIL_CREATE = _GROUPS.rule("fail group", frozenset({G.CREATING}), G.ERROR)
BEGIN_DELETE = _GROUPS.rule("begin group delete", DELETABLE, G.DELETING)
FAIL_DELETE = _GROUPS.rule("fail group delete", frozenset({G.DELETING}), G.ERROR_DELETING)

FINISH_SNAPSHOT = _SNAPSHOTS.rule("finish group snapshot", frozenset({GS.CREATING}), GS.AVAILABLE)
FAIL_SNAPSHOT = _SNAPSHOTS.rule("fail group snapshot", frozenset({GS.CREATING}), GS.ERROR)
BEGIN_SNAPSHOT_DELETE = _SNAPSHOTS.rule(
    "begin group snapshot delete", frozenset({GS.AVAILABLE, GS.ERROR}), GS.DELETING
)
FAIL_SNAPSHOT_DELETE = _SNAPSHOTS.rule(
    "fail group snapshot delete", frozenset({GS.DELETING}), GS.ERROR_DELETING
)

RULES = (FINISH_CREATE, FAIL_CREATE, BEGIN_DELETE, FAIL_DELETE)
SNAPSHOT_RULES = (FINISH_SNAPSHOT, FAIL_SNAPSHOT, BEGIN_SNAPSHOT_DELETE, FAIL_SNAPSHOT_DELETE)

# Outside the table, as Cinder: a delete with `delete-volumes` takes the group
# from any status but a running creation from a source (checked apart), and sets
# every member volume `deleting` whatever its status (attached ones are refused).
FORCE_DELETE: Transition[GroupStatus] = Transition(
    "group delete with its volumes", frozenset(GroupStatus) - {G.DELETING}, G.DELETING
)
DELETE_MEMBER: Transition[VolumeStatus] = Transition(
    "delete with its group", frozenset(VolumeStatus), VolumeStatus.DELETING
)
OVERRIDES = (FORCE_DELETE,)

# Cinder's GroupStatus.ALL and GroupSnapshotStatus.ALL, in their order: what
# reset_status accepts (`deleted` is one no row here ever keeps).
CINDER_GROUP_STATUSES = (
    "error", "available", "creating", "deleting", "deleted", "updating", "in-use",
    "error_deleting",
)
CINDER_GROUP_SNAPSHOT_STATUSES = (
    "error", "available", "creating", "deleting", "deleted", "updating", "error_deleting",
)
# cinder/group/api.py: the volume statuses a member may be added or removed in.
VALID_ADD_VOL_TO_GROUP_STATUS = ("available", "in-use")
VALID_REMOVE_VOL_FROM_GROUP_STATUS = ("available", "in-use", "error", "error_deleting")
# Cinder's ReplicationStatus a group starts with (replication is not served).
REPLICATION_DISABLED = "disabled"
