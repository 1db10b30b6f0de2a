"""User messages (Cinder's message API): what went wrong with an asynchronous operation.

Texts and ids follow cinder/message/message_field.py; the API shows
`user_message` as "<action text>:<detail text>" (no space after the colon).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cinderlite.db.messages import MessageRepository
from cinderlite.db.models import UserMessage
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import NotFound
from cinderlite.domain.filters import all_like
from cinderlite.domain.identity import Caller
from cinderlite.domain.records import UserMessageRecord
from cinderlite.services import policy as rules
from cinderlite.services.policy import Policy
from cinderlite.services.units import Unit, Units

RESOURCE_VOLUME = "VOLUME"
RESOURCE_SNAPSHOT = "VOLUME_SNAPSHOT"
RESOURCE_BACKUP = "VOLUME_BACKUP"
LEVEL_ERROR = "ERROR"


@dataclass(frozen=True)
class Action:
    id: str
    text: str


@dataclass(frozen=True)
class Detail:
    id: str
    text: str


SCHEDULE_ALLOCATE_VOLUME = Action("001", "schedule allocate volume")
COPY_VOLUME_TO_IMAGE = Action("003", "copy volume to image")
COPY_IMAGE_TO_VOLUME = Action("005", "copy image to volume")
CREATE_VOLUME_FROM_BACKEND = Action("008", "create volume from backend storage")
SNAPSHOT_CREATE = Action("009", "create snapshot")
SNAPSHOT_DELETE = Action("010", "delete snapshot")
BACKUP_CREATE = Action("013", "create backup")
BACKUP_DELETE = Action("014", "delete backup")
BACKUP_RESTORE = Action("015", "restore backup")
EXTEND_VOLUME = Action("007", "extend volume")
REIMAGE_VOLUME = Action("016", "reimage volume")

UNKNOWN_ERROR = Detail("001", "An unknown error occurred.")

DRIVER_NOT_INITIALIZED = Detail("002", "Driver is not initialized at present.")
NO_BACKEND_AVAILABLE = Detail("003", "Could not find any available weighted backend.")
FAILED_TO_UPLOAD_VOLUME = Detail("004", "Failed to upload volume to image at backend.")
NOT_ENOUGH_SPACE_FOR_IMAGE = Detail("006", "Not enough quota resource for operation.")
IMAGE_FROM_VOLUME_OVER_QUOTA = Detail(
    "007", "Image used for creating volume exceeds available space."
)
DRIVER_FAILED_EXTEND = Detail("010", "Volume Driver failed to extend volume.")
DRIVER_FAILED_CREATE = Detail("012", "Driver failed to create the volume.")
SNAPSHOT_CREATE_ERROR = Detail("013", "Snapshot failed to create.")
SNAPSHOT_DELETE_ERROR = Detail("016", "Snapshot failed to delete.")
BACKUP_CREATE_DRIVER_ERROR = Detail("020", "Backup driver failed to create backup.")
BACKUP_DELETE_DRIVER_ERROR = Detail("025", "Backup driver failed to delete backup.")
BACKUP_RESTORE_ERROR = Detail("026", "Backup driver failed to restore backup.")
IMAGE_FORMAT_UNACCEPTABLE = Detail(
    "029",
    "The image disk format must be the same as the volume format for the volume type you "
    "are requesting.",
)
# Beyond Cinder (which has no iso upload): ids from 900 up are cinderlite's own.
VOLUME_DATA_NOT_ISO = Detail(
    "900", "The volume data is not an ISO 9660 image, so no iso image was made."
)
UPLOAD_INTERRUPTED = Detail(
    "901", "The upload was interrupted by a service restart and has been rolled back."
)

ACTIONS = {
    a.id: a for a in (
        SCHEDULE_ALLOCATE_VOLUME, COPY_VOLUME_TO_IMAGE, COPY_IMAGE_TO_VOLUME,
        CREATE_VOLUME_FROM_BACKEND, SNAPSHOT_CREATE, SNAPSHOT_DELETE, BACKUP_CREATE,
        BACKUP_DELETE, BACKUP_RESTORE, EXTEND_VOLUME, REIMAGE_VOLUME,
    )
}
DETAILS = {
    d.id: d
    for d in (
        UNKNOWN_ERROR, DRIVER_NOT_INITIALIZED, NO_BACKEND_AVAILABLE, FAILED_TO_UPLOAD_VOLUME,
        NOT_ENOUGH_SPACE_FOR_IMAGE, IMAGE_FROM_VOLUME_OVER_QUOTA, DRIVER_FAILED_CREATE,
        IMAGE_FORMAT_UNACCEPTABLE, SNAPSHOT_CREATE_ERROR, SNAPSHOT_DELETE_ERROR,
        VOLUME_DATA_NOT_ISO, UPLOAD_INTERRUPTED, BACKUP_CREATE_DRIVER_ERROR,
        BACKUP_DELETE_DRIVER_ERROR, BACKUP_RESTORE_ERROR, DRIVER_FAILED_EXTEND,
    )
}


def event_id(resource_type: str, action_id: str, detail_id: str) -> str:
    """Cinder's event id, e.g. VOLUME_VOLUME_003_004."""
    return f"VOLUME_{resource_type}_{action_id}_{detail_id}"


def user_message(message: UserMessageRecord) -> str:
    action = ACTIONS.get(message.action_id)
    detail = DETAILS.get(message.detail_id)
    return f"{action.text if action else ''}:{detail.text if detail else ''}"


async def record(
    unit: Unit, *, project_id: str, resource_uuid: str | None, action: Action,
    detail: Detail, now: datetime, ttl_seconds: int, request_id: str | None = None,
    reason: str | None = None, resource_type: str = RESOURCE_VOLUME,
) -> UserMessage:
    """Add an ERROR message for `project_id` in `unit`; it expires `ttl_seconds` after
    `now`. The same as `MessageService.record`, for the services not yet handed one."""
    return await _record(
        _REPOSITORY, unit, project_id=project_id, resource_uuid=resource_uuid, action=action,
        detail=detail, now=now, ttl_seconds=ttl_seconds, request_id=request_id, reason=reason,
        resource_type=resource_type,
    )


# The messages table holds no state of its own: one repository serves `record`.
_REPOSITORY = MessageRepository()


async def _record(
    repo: MessageRepository, unit: Unit, *, project_id: str, resource_uuid: str | None,
    action: Action, detail: Detail, now: datetime, ttl_seconds: int, request_id: str | None,
    reason: str | None, resource_type: str,
) -> UserMessage:
    return await repo.add(
        unit, id=str(uuid.uuid4()), project_id=project_id, request_id=request_id,
        resource_type=resource_type, resource_uuid=resource_uuid,
        event_id=event_id(resource_type, action.id, detail.id), message_level=LEVEL_ERROR,
        action_id=action.id, detail_id=detail.id, reason=(reason or "")[:2000] or None,
        created_at=now, expires_at=now + timedelta(seconds=ttl_seconds),
    )


def _sort_value(key: str, message: UserMessage) -> tuple[bool, Any]:
    """A message's value for `key`, None first ascending (as SQL's NULLs in SQLite)."""
    value = getattr(message, key)
    return (value is not None, value if value is not None else "")


class MessageNotFound(NotFound):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"Message {message_id} could not be found.")


class MessageService:
    """The messages API's use cases: list, show, delete, each in a read unit
    (the delete in a write unit), with Cinder's policies; and `record`, the
    message other services leave inside their own unit of work."""

    def __init__(
        self, units: Units, policy: Policy, repo: MessageRepository | None = None
    ) -> None:
        self._units = units
        self._policy = policy
        self._repo = repo or _REPOSITORY

    async def list(
        self, caller: Caller, *, project_id: str, resource_uuid: str | None, limit: int | None,
    ) -> list[UserMessage]:
        """Unexpired messages of `project_id` (every project's for admins), newest first."""
        self._policy.authorize(caller, rules.MESSAGE_GET_ALL, {"project_id": project_id})
        async with self._units.read() as unit:
            return await self._repo.list_for_project(
                unit, project_id=None if caller.is_admin else project_id, now=utcnow(),
                resource_uuid=resource_uuid, limit=limit,
            )

    async def page(
        self, caller: Caller, *, project_id: str, filters: Mapping[str, str],
        like: Mapping[str, str], sort: Sequence[tuple[str, str]], limit: int | None,
        offset: int, marker: str | None,
    ) -> Sequence[UserMessage]:
        """The 3.5+ listing: `list`'s messages filtered (equality and `like`), sorted by
        `sort` (id breaking ties), then after `marker`, `offset` and `limit`. A
        project holds few live messages (they expire), so this is done here."""
        found = await self.list(caller, project_id=project_id, resource_uuid=None, limit=None)
        found = [m for m in found
                 if all(str(getattr(m, k, None)) == v for k, v in filters.items())
                 and all_like(m, like)]
        keys = [*sort, ("id", sort[-1][1] if sort else "desc")]
        for key, direction in reversed(keys):
            found.sort(key=functools.partial(_sort_value, key), reverse=direction == "desc")
        if marker is not None:
            at = next((i for i, m in enumerate(found) if m.id == marker), None)
            if at is None:
                raise NotFound(f"Marker {marker} could not be found.")
            found = found[at + 1:]
        found = found[offset:]
        return found if limit is None else found[:limit]

    async def get(self, caller: Caller, *, project_id: str, message_id: str) -> UserMessage:
        message = await self._visible(caller, project_id, message_id)
        self._policy.authorize(caller, rules.MESSAGE_GET, {"project_id": message.project_id})
        return message

    async def delete(self, caller: Caller, *, project_id: str, message_id: str) -> None:
        message = await self._visible(caller, project_id, message_id)
        self._policy.authorize(caller, rules.MESSAGE_DELETE, {"project_id": message.project_id})
        async with self._units.write() as unit:
            await self._repo.delete(unit, message_id)

    async def record(
        self, unit: Unit, *, project_id: str, resource_uuid: str | None, action: Action,
        detail: Detail, now: datetime, ttl_seconds: int, request_id: str | None = None,
        reason: str | None = None, resource_type: str = RESOURCE_VOLUME,
    ) -> UserMessage:
        """Add an ERROR message for `project_id` in the caller's `unit` (so it is
        written with the failure it reports, or not at all); it expires
        `ttl_seconds` after `now`."""
        return await _record(
            self._repo, unit, project_id=project_id, resource_uuid=resource_uuid,
            action=action, detail=detail, now=now, ttl_seconds=ttl_seconds,
            request_id=request_id, reason=reason, resource_type=resource_type,
        )

    async def delete_expired(self, unit: Unit, *, now: datetime) -> int:
        """Remove the messages that expired by `now`, in the caller's `unit`."""
        return await self._repo.delete_expired(unit, now=now)

    async def _visible(self, caller: Caller, project_id: str, message_id: str) -> UserMessage:
        async with self._units.read() as unit:
            message = await self._repo.get(unit, message_id, now=utcnow())
        # Like Cinder's project_only queries: other projects' messages do not exist
        # for non-admins.
        if message is None or (not caller.is_admin and message.project_id != project_id):
            raise MessageNotFound(message_id)
        return message
