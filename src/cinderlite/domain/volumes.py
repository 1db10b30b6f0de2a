"""Volume statuses and the transitions between them, as data."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from cinderlite.domain.transitions import Table, Transition


class VolumeStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    RESERVED = "reserved"
    ATTACHING = "attaching"
    DETACHING = "detaching"
    IN_USE = "in-use"
    UPLOADING = "uploading"
    DOWNLOADING = "downloading"
    DELETING = "deleting"
    ERROR = "error"
    ERROR_DELETING = "error_deleting"
    EXTENDING = "extending"
    # An extend that Nova reported failed (os-extend_volume_completion, 3.71).
    ERROR_EXTENDING = "error_extending"
    MAINTENANCE = "maintenance"
    # Cinder's revert to a snapshot (3.40).
    REVERTING = "reverting"
    # Backups (domain/backups.py): the volume is read, or written by a restore.
    BACKING_UP = "backing-up"
    RESTORING_BACKUP = "restoring-backup"
    ERROR_RESTORING = "error_restoring"
    # Offered to another project (a volume transfer exists): nothing but the
    # transfer's accept or delete may change it (domain/transfers.py).
    AWAITING_TRANSFER = "awaiting-transfer"


class AttachStatus(StrEnum):
    """A volume's attach_status, and an attachment's (Cinder VolumeAttachStatus)."""

    ATTACHED = "attached"
    DETACHED = "detached"
    ATTACHING = "attaching"
    DETACHING = "detaching"
    RESERVED = "reserved"
    ERROR_ATTACHING = "error_attaching"
    ERROR_DETACHING = "error_detaching"


S = VolumeStatus

# Which status may follow which, for the operations cinderlite performs itself.
# os-reset_status (admin) is deliberately outside this table, as in Cinder.
TRANSITIONS: dict[VolumeStatus, frozenset[VolumeStatus]] = {
    S.CREATING: frozenset({S.AVAILABLE, S.ERROR, S.DELETING}),
    S.AVAILABLE: frozenset({
        S.IN_USE, S.UPLOADING, S.DELETING, S.ATTACHING, S.RESERVED, S.REVERTING,
        S.BACKING_UP, S.RESTORING_BACKUP, S.AWAITING_TRANSFER, S.DOWNLOADING,
    }),
    # The attachment statuses move among themselves as attachments come and go
    # (Cinder volume_detached picks the status from the attachments left); a
    # reserved volume may be re-imaged (os-reimage with reimage_reserved, 3.68).
    S.RESERVED: frozenset({S.AVAILABLE, S.IN_USE, S.ATTACHING, S.DETACHING, S.DOWNLOADING}),
    S.ATTACHING: frozenset({S.IN_USE, S.AVAILABLE, S.RESERVED, S.DETACHING}),
    S.IN_USE: frozenset({
        S.AVAILABLE, S.UPLOADING, S.DETACHING, S.IN_USE, S.ATTACHING, S.RESERVED, S.BACKING_UP,
    }),
    S.DETACHING: frozenset({S.AVAILABLE, S.IN_USE, S.ATTACHING, S.RESERVED}),
    S.REVERTING: frozenset({S.AVAILABLE, S.ERROR}),
    # An upload always ends in available or in-use, never in error (Cinder
    # manager.copy_volume_to_image's finally block).
    S.UPLOADING: frozenset({S.AVAILABLE, S.IN_USE}),
    # Cinder lets an attachment reserve a volume still downloading its image.
    S.DOWNLOADING: frozenset({S.AVAILABLE, S.ERROR, S.RESERVED}),
    S.DELETING: frozenset({S.ERROR_DELETING}),
    # An errored volume may be re-imaged (os-reimage, 3.68).
    S.ERROR: frozenset({S.DELETING, S.DOWNLOADING}),
    S.ERROR_DELETING: frozenset({S.DELETING}),
    # Nova's os-extend_volume_completion (3.71) ends an extend of an attached volume.
    S.EXTENDING: frozenset({S.AVAILABLE, S.ERROR, S.IN_USE, S.ERROR_EXTENDING}),
    S.ERROR_EXTENDING: frozenset({S.DELETING}),
    S.MAINTENANCE: frozenset({S.AVAILABLE, S.ERROR}),
    # A backup returns the volume to the status it had (Cinder's previous_status).
    S.BACKING_UP: frozenset({S.AVAILABLE, S.IN_USE}),
    # A failed restore leaves the volume error_restoring (Cinder backup manager).
    S.RESTORING_BACKUP: frozenset({S.AVAILABLE, S.ERROR_RESTORING}),
    S.ERROR_RESTORING: frozenset({S.DELETING}),
    # Back to available when the transfer is deleted or accepted (Cinder
    # db transfer_destroy / transfer_accept).
    S.AWAITING_TRANSFER: frozenset({S.AVAILABLE}),
}

# Statuses from which a volume may be deleted without force (Cinder API.delete).
DELETABLE = frozenset({
    S.AVAILABLE, S.ERROR, S.ERROR_DELETING, S.ERROR_RESTORING, S.ERROR_EXTENDING,
})
# Statuses from which an upload may start, without and with force.
UPLOADABLE = frozenset({S.AVAILABLE})
UPLOADABLE_FORCED = frozenset({S.AVAILABLE, S.IN_USE})


_TABLE = Table(TRANSITIONS)
can_transition = _TABLE.allows
_rule = _TABLE.rule


# The status changes cinderlite makes (each a compare-and-swap in db/volumes.py).
FINISH_CREATE = _rule("finish create", frozenset({S.CREATING}), S.AVAILABLE)
FAIL_CREATE = _rule("fail create", frozenset({S.CREATING}), S.ERROR)
# Also only while attach_status is detached (services/volumes.delete).
BEGIN_DELETE = _rule("begin delete", DELETABLE, S.DELETING)
FAIL_DELETE = _rule("fail delete", frozenset({S.DELETING}), S.ERROR_DELETING)
ATTACH = _rule("attach", frozenset({S.AVAILABLE, S.RESERVED, S.ATTACHING}), S.IN_USE)
# When the last attachment ends; an uploading volume is left alone (Cinder db.volume_detached).
DETACH = _rule("detach", frozenset({S.IN_USE, S.DETACHING, S.ATTACHING}), S.AVAILABLE)
START_UPLOAD = _rule("start upload", UPLOADABLE, S.UPLOADING)
START_UPLOAD_FORCED = _rule("forced start upload", UPLOADABLE_FORCED, S.UPLOADING)
# One of the two, picked by the volume's attachments (`status_after_upload`).
FINISH_UPLOAD = _rule("finish upload", frozenset({S.UPLOADING}), S.AVAILABLE)
FINISH_UPLOAD_ATTACHED = _rule("finish upload, attached", frozenset({S.UPLOADING}), S.IN_USE)
# A transfer of the volume is created (Cinder db transfer_create), deleted
# (transfer_destroy) or accepted: the accept also gives the volume its new
# project and user in the same statement (transfer_accept).
BEGIN_TRANSFER = _rule("begin transfer", frozenset({S.AVAILABLE}), S.AWAITING_TRANSFER)
CANCEL_TRANSFER = _rule("cancel transfer", frozenset({S.AWAITING_TRANSFER}), S.AVAILABLE)
ACCEPT_TRANSFER = _rule("accept transfer", frozenset({S.AWAITING_TRANSFER}), S.AVAILABLE)

# The attachments API (Cinder volume/api.py attachment_*, db volume_attached).
ATTACHMENT_STATUSES = frozenset({S.RESERVED, S.ATTACHING, S.IN_USE, S.DETACHING})
ATTACHMENT_RESERVE = _rule("attachment reserve", frozenset({S.AVAILABLE, S.DOWNLOADING}),
                           S.RESERVED)
# A multiattach volume may be reserved again while it is in use (Cinder's
# attachment_create: `in-use` joins the expected statuses).
ATTACHMENT_RESERVE_MULTI = _rule(
    "attachment reserve (multiattach)", frozenset({S.AVAILABLE, S.IN_USE, S.DOWNLOADING}),
    S.RESERVED,
)
# An attachment given a connector: the volume is `attaching` until completed.
ATTACHMENT_CONNECT = _rule(
    "attachment connect", frozenset({S.RESERVED, S.IN_USE, S.DETACHING}), S.ATTACHING,
)
ATTACHMENT_COMPLETE = _rule(
    "attachment complete", frozenset({S.RESERVED, S.ATTACHING, S.IN_USE}), S.IN_USE,
)
# Legacy actions (os-reserve, os-unreserve, os-begin_detaching, os-roll_detaching).
RESERVE = _rule("reserve", frozenset({S.AVAILABLE}), S.ATTACHING)
UNRESERVE = _rule("unreserve", frozenset({S.ATTACHING}), S.AVAILABLE)
UNRESERVE_ATTACHED = _rule("unreserve, attached", frozenset({S.ATTACHING}), S.IN_USE)
BEGIN_DETACHING = _rule("begin detaching", frozenset({S.IN_USE}), S.DETACHING)
ROLL_DETACHING = _rule("roll detaching", frozenset({S.DETACHING}), S.IN_USE)
# Re-image (os-reimage, 3.68): from the statuses Cinder's API.reimage expects,
# back to the one the volume had (previous_status), or error when it fails.
BEGIN_REIMAGE = _rule("begin reimage", frozenset({S.AVAILABLE, S.ERROR}), S.DOWNLOADING)
BEGIN_REIMAGE_RESERVED = _rule(
    "begin reimage, reserved", frozenset({S.AVAILABLE, S.ERROR, S.RESERVED}), S.DOWNLOADING,
)
FINISH_REIMAGE_AVAILABLE = _rule("finish reimage, available", frozenset({S.DOWNLOADING}),
                                 S.AVAILABLE)
FINISH_REIMAGE_ERROR = _rule("finish reimage, error", frozenset({S.DOWNLOADING}), S.ERROR)
FINISH_REIMAGE_RESERVED = _rule("finish reimage, reserved", frozenset({S.DOWNLOADING}),
                                S.RESERVED)
FINISH_REIMAGE = {
    S.AVAILABLE: FINISH_REIMAGE_AVAILABLE, S.ERROR: FINISH_REIMAGE_ERROR,
    S.RESERVED: FINISH_REIMAGE_RESERVED,
}
FAIL_REIMAGE = _rule("fail reimage", frozenset({S.DOWNLOADING}), S.ERROR)
# os-extend_volume_completion (3.71): the status the attachments give, or error_extending.
COMPLETE_EXTEND = _rule("complete extend", frozenset({S.EXTENDING}), S.AVAILABLE)
COMPLETE_EXTEND_ATTACHED = _rule("complete extend, attached", frozenset({S.EXTENDING}), S.IN_USE)
FAIL_EXTEND = _rule("fail extend", frozenset({S.EXTENDING}), S.ERROR_EXTENDING)
# Revert to a snapshot (3.40).
BEGIN_REVERT = _rule("begin revert", frozenset({S.AVAILABLE}), S.REVERTING)
FINISH_REVERT = _rule("finish revert", frozenset({S.REVERTING}), S.AVAILABLE)
FAIL_REVERT = _rule("fail revert", frozenset({S.REVERTING}), S.ERROR)


def _settle(target: VolumeStatus) -> Transition[VolumeStatus]:
    return _rule(f"settle to {target}", ATTACHMENT_STATUSES - {target}, target)


# After an attachment ends: the status its remaining attachments give (`settled`).
SETTLE_IN_USE = _settle(S.IN_USE)
SETTLE_ATTACHING = _settle(S.ATTACHING)
SETTLE_DETACHING = _settle(S.DETACHING)
SETTLE_RESERVED = _settle(S.RESERVED)
SETTLE_AVAILABLE = _settle(S.AVAILABLE)
SETTLE = {r.target: r for r in (
    SETTLE_IN_USE, SETTLE_ATTACHING, SETTLE_DETACHING, SETTLE_RESERVED, SETTLE_AVAILABLE,
)}

# Backups: from available (or in-use with force) and back to that status; a
# restore writes an available volume.
START_BACKUP = _rule("start backup", frozenset({S.AVAILABLE}), S.BACKING_UP)
START_BACKUP_FORCED = _rule("forced start backup", frozenset({S.AVAILABLE, S.IN_USE}),
                            S.BACKING_UP)
FINISH_BACKUP = _rule("finish backup", frozenset({S.BACKING_UP}), S.AVAILABLE)
FINISH_BACKUP_ATTACHED = _rule("finish backup, attached", frozenset({S.BACKING_UP}), S.IN_USE)
START_RESTORE = _rule("start restore", frozenset({S.AVAILABLE}), S.RESTORING_BACKUP)
FINISH_RESTORE = _rule("finish restore", frozenset({S.RESTORING_BACKUP}), S.AVAILABLE)
FAIL_RESTORE = _rule("fail restore", frozenset({S.RESTORING_BACKUP}), S.ERROR_RESTORING)

RULES = (
    START_BACKUP, START_BACKUP_FORCED, FINISH_BACKUP, FINISH_BACKUP_ATTACHED, START_RESTORE,
    FINISH_RESTORE, FAIL_RESTORE,
    FINISH_CREATE, FAIL_CREATE, BEGIN_DELETE, FAIL_DELETE, ATTACH, DETACH, START_UPLOAD,
    START_UPLOAD_FORCED, FINISH_UPLOAD, FINISH_UPLOAD_ATTACHED, ATTACHMENT_RESERVE,
    ATTACHMENT_RESERVE_MULTI,
    ATTACHMENT_CONNECT, ATTACHMENT_COMPLETE, RESERVE, UNRESERVE, UNRESERVE_ATTACHED,
    BEGIN_DETACHING, ROLL_DETACHING, BEGIN_REVERT, FINISH_REVERT, FAIL_REVERT,
    BEGIN_TRANSFER, CANCEL_TRANSFER, ACCEPT_TRANSFER,
    *SETTLE.values(),
    BEGIN_REIMAGE, BEGIN_REIMAGE_RESERVED, FINISH_REIMAGE_AVAILABLE, FINISH_REIMAGE_ERROR,
    FINISH_REIMAGE_RESERVED, FAIL_REIMAGE,
    COMPLETE_EXTEND, COMPLETE_EXTEND_ATTACHED, FAIL_EXTEND,
)

# Changes Cinder makes outside the table, as os-reset_status is: a forced delete
# (3.23 `force`, os-force_delete) takes any status but `deleting` (which is
# already on its way) -- still only while detached.
FORCE_DELETE: Transition[VolumeStatus] = Transition(
    "force delete", frozenset(VolumeStatus) - {S.DELETING}, S.DELETING,
)
OVERRIDES = (FORCE_DELETE,)

# Attachment statuses in Cinder's order of precedence (_get_statuses_from_attachments:
# the first in alphabetical order wins; error ones are ignored).
_VOLUME_STATUS_OF = {
    AttachStatus.ATTACHED: S.IN_USE,
    AttachStatus.ATTACHING: S.ATTACHING,
    AttachStatus.DETACHING: S.DETACHING,
    AttachStatus.RESERVED: S.RESERVED,
}


def settled(attachment_statuses: Iterable[str]) -> tuple[VolumeStatus, AttachStatus]:
    """The volume's (status, attach_status) given its attachments' statuses."""
    live = sorted(s for s in attachment_statuses if not s.startswith("error_")
                  and s != AttachStatus.DETACHED)
    if not live:
        return S.AVAILABLE, AttachStatus.DETACHED
    first = AttachStatus(live[0])
    return _VOLUME_STATUS_OF[first], first


def status_after_upload(has_attachments: bool) -> VolumeStatus:
    """Cinder volume_update_status_based_on_attachment."""
    return (FINISH_UPLOAD_ATTACHED if has_attachments else FINISH_UPLOAD).target
