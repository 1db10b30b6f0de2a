"""Volume statuses and the transitions between them, as data."""

from __future__ import annotations

from enum import StrEnum


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
    S.AVAILABLE: frozenset({S.IN_USE, S.UPLOADING, S.DELETING, S.ATTACHING, S.RESERVED}),
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
}

# Statuses from which a volume may be deleted without force (Cinder API.delete).
DELETABLE = frozenset({S.AVAILABLE, S.ERROR, S.ERROR_DELETING})
# Statuses from which an upload may start, without and with force.
UPLOADABLE = frozenset({S.AVAILABLE})
UPLOADABLE_FORCED = frozenset({S.AVAILABLE, S.IN_USE})


def can_transition(current: VolumeStatus, new: VolumeStatus) -> bool:
    return new in TRANSITIONS.get(current, frozenset())


def status_after_upload(has_attachments: bool) -> VolumeStatus:
    """Cinder volume_update_status_based_on_attachment."""
    return S.IN_USE if has_attachments else S.AVAILABLE
