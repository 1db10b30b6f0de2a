"""Image statuses and the transitions between them, as data."""

from __future__ import annotations

from enum import StrEnum

from cinderlite.domain.transitions import Table


class ImageStatus(StrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    ACTIVE = "active"
    KILLED = "killed"
    DELETED = "deleted"
    PENDING_DELETE = "pending_delete"
    DEACTIVATED = "deactivated"
    UPLOADING = "uploading"
    IMPORTING = "importing"


S = ImageStatus

# Which status may follow which (Glance's domain Image.valid_state_targets). In
# v2, saving -> queued replaces `killed`, so that an upload can be retried.
TRANSITIONS: dict[ImageStatus, frozenset[ImageStatus]] = {
    S.QUEUED: frozenset({S.SAVING, S.UPLOADING, S.IMPORTING, S.ACTIVE, S.DELETED}),
    S.SAVING: frozenset({S.ACTIVE, S.KILLED, S.DELETED, S.QUEUED}),
    # uploading -> uploading: the staged data's size is recorded on the same status.
    S.UPLOADING: frozenset({S.UPLOADING, S.IMPORTING, S.QUEUED, S.DELETED}),
    S.IMPORTING: frozenset({S.ACTIVE, S.DELETED, S.QUEUED}),
    S.ACTIVE: frozenset({S.PENDING_DELETE, S.DELETED, S.DEACTIVATED}),
    S.KILLED: frozenset({S.DELETED}),
    S.PENDING_DELETE: frozenset({S.DELETED, S.ACTIVE}),
    S.DELETED: frozenset(),
    S.DEACTIVATED: frozenset({S.ACTIVE, S.DELETED}),
}

# Images without their data yet: a volume upload may still fill them.
UNFINISHED = frozenset({S.QUEUED, S.SAVING})
# Images whose data is being written: their staging files are in use.
WRITING = frozenset({S.SAVING, S.UPLOADING, S.IMPORTING})


_TABLE = Table(TRANSITIONS)
can_transition = _TABLE.allows
_rule = _TABLE.rule


# The status changes cinderlite makes (each a compare-and-swap on db/images.py's).
BEGIN_SAVING = _rule("begin saving", frozenset({S.QUEUED}), S.SAVING)
ACTIVATE = _rule("activate", frozenset({S.SAVING}), S.ACTIVE)
BACK_TO_QUEUED = _rule("back to queued", frozenset({S.SAVING}), S.QUEUED)
# Glance 2.3 image actions (glance/domain Image.deactivate / reactivate).
DEACTIVATE = _rule("deactivate", frozenset({S.ACTIVE}), S.DEACTIVATED)
REACTIVATE = _rule("reactivate", frozenset({S.DEACTIVATED}), S.ACTIVE)
# Interoperable import (Glance 2.6): PUT /stage, then POST /import.
BEGIN_STAGING = _rule("begin staging", frozenset({S.QUEUED}), S.UPLOADING)
UNSTAGE = _rule("unstage", frozenset({S.UPLOADING}), S.QUEUED)
# Set when the staged data is in place (size, os_glance_stage_host).
STAGED = _rule("staged", frozenset({S.UPLOADING}), S.UPLOADING)
# web-download starts from `queued`, glance-direct from `uploading` (staged).
BEGIN_IMPORT = _rule("begin import", frozenset({S.QUEUED, S.UPLOADING}), S.IMPORTING)
FINISH_IMPORT = _rule("finish import", frozenset({S.IMPORTING}), S.ACTIVE)
# A failed import goes back to `queued` (glance/async_/flows: the reverts).
ABANDON_IMPORT = _rule("abandon import", frozenset({S.IMPORTING}), S.QUEUED)

RULES = (
    BEGIN_SAVING, ACTIVATE, BACK_TO_QUEUED, DEACTIVATE, REACTIVATE, BEGIN_STAGING, UNSTAGE,
    STAGED, BEGIN_IMPORT, FINISH_IMPORT, ABANDON_IMPORT,
)


class MemberStatus(StrEnum):
    """An image membership's status (glance/domain ImageMembership): a new one
    is `pending`; only the member project moves it."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


MEMBER_STATUS_MESSAGE = 'Status must be "pending", "accepted" or "rejected".'
# Glance image_member_quota default: members per image (negative: unlimited).
IMAGE_MEMBER_QUOTA = 128
