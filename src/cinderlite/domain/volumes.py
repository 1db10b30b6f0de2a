"""Volume statuses and the transitions between them, as data."""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Table


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
    MAINTENANCE = "maintenance"
    # Offered to another project (a volume transfer exists): nothing but the
    # transfer's accept or delete may change it (domain/transfers.py).
    AWAITING_TRANSFER = "awaiting-transfer"


class AttachStatus(StrEnum):
    ATTACHED = "attached"
    DETACHED = "detached"
    ATTACHING = "attaching"
    DETACHING = "detaching"


S = VolumeStatus

# Which status may follow which, for the operations cinderlite performs itself.
# os-reset_status (admin) is deliberately outside this table, as in Cinder.
TRANSITIONS: dict[VolumeStatus, frozenset[VolumeStatus]] = {
    S.CREATING: frozenset({S.AVAILABLE, S.ERROR, S.DELETING}),
    S.AVAILABLE: frozenset({
        S.IN_USE, S.UPLOADING, S.DELETING, S.ATTACHING, S.RESERVED, S.AWAITING_TRANSFER,
    }),
    S.RESERVED: frozenset({S.AVAILABLE, S.IN_USE, S.ATTACHING}),
    S.ATTACHING: frozenset({S.IN_USE, S.AVAILABLE}),
    S.IN_USE: frozenset({S.AVAILABLE, S.UPLOADING, S.DETACHING, S.IN_USE}),
    S.DETACHING: frozenset({S.AVAILABLE, S.IN_USE}),
    # An upload always ends in available or in-use, never in error (Cinder
    # manager.copy_volume_to_image's finally block).
    S.UPLOADING: frozenset({S.AVAILABLE, S.IN_USE}),
    S.DOWNLOADING: frozenset({S.AVAILABLE, S.ERROR}),
    S.DELETING: frozenset({S.ERROR_DELETING}),
    S.ERROR: frozenset({S.DELETING}),
    S.ERROR_DELETING: frozenset({S.DELETING}),
    S.EXTENDING: frozenset({S.AVAILABLE, S.ERROR}),
    S.MAINTENANCE: frozenset({S.AVAILABLE, S.ERROR}),
    # Back to available when the transfer is deleted or accepted (Cinder
    # db transfer_destroy / transfer_accept).
    S.AWAITING_TRANSFER: frozenset({S.AVAILABLE}),
}

# Statuses from which a volume may be deleted without force (Cinder API.delete).
DELETABLE = frozenset({S.AVAILABLE, S.ERROR, S.ERROR_DELETING})
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

RULES = (
    FINISH_CREATE, FAIL_CREATE, BEGIN_DELETE, FAIL_DELETE, ATTACH, DETACH, START_UPLOAD,
    START_UPLOAD_FORCED, FINISH_UPLOAD, FINISH_UPLOAD_ATTACHED, BEGIN_TRANSFER,
    CANCEL_TRANSFER, ACCEPT_TRANSFER,
)


def status_after_upload(has_attachments: bool) -> VolumeStatus:
    """Cinder volume_update_status_based_on_attachment."""
    return (FINISH_UPLOAD_ATTACHED if has_attachments else FINISH_UPLOAD).target
