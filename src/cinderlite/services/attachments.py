"""The attachments API's use cases (3.27; `os-complete` at 3.44): reserve a volume
for a consumer, connect it, complete and end the attachment, with Cinder's
statuses (volume/api.py attachment_*, manager attachment_update, db
volume_attached and volume_detached) and policies.

The connection is real for this machine: `connection_info` is os-brick's `local`
type with `device_path`, the volume's file, so a process on the host reads and
writes the volume's bytes through it.

Each change is one write unit (the attachment row and the volume's status
together), so a crash leaves the state before or after it, never between;
nothing is left for `recover` to mend.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import VolumeAttachment
from cinderlite.db.qos_specs import QosSpecRepository
from cinderlite.db.volumes import VolumeRow
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Conflict, InvalidVolume, NotFound, VolumeNotFound
from cinderlite.domain.filters import all_like
from cinderlite.domain.identity import Caller
from cinderlite.domain.qos import connection_specs
from cinderlite.domain.volumes import AttachStatus, VolumeStatus
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy, target
from cinderlite.services.units import Units
from cinderlite.services.volumes import VolumeService
from cinderlite.storage.volumes.base import VolumeBackend

S = VolumeStatus
# An attachment made without a mode (Cinder's marker for "take the connector's").
NO_MODE = "null"
# The fields an attachment listing may filter on (Cinder allowed_filters; the API's
# instance_id is the column instance_uuid).
FILTER_KEYS = ("volume_id", "status", "instance_id", "attach_status")
SORT_KEYS = frozenset({"id", "volume_id", "instance_uuid", "attach_status",
                       "attached_at", "detached_at", "attach_mode"})


class AttachmentNotFound(NotFound):
    def __init__(self, attachment_id: str) -> None:
        super().__init__(
            f"Volume attachment could not be found with filter: attachment_id = "
            f"{attachment_id}."
        )


@dataclass(frozen=True)
class AttachmentQuery:
    filters: dict[str, str]
    like: dict[str, str] = field(default_factory=dict)
    all_tenants: bool = False
    sort: list[tuple[str, str]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    marker: str | None = None


def connection_info(
    device_path: str, *, readonly: bool, attachment_id: str | None = None,
    enforce_multipath: bool = False, flat: bool, qos_specs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a consumer connects with: os-brick's `local` connector reads `device_path`.

    Cinder's initialize_connection answers {"driver_volume_type", "data": {...}};
    the attachments API flattens `data` into the top level and adds the
    attachment's id (manager._connection_create). `access_mode`, `encrypted`
    and `qos_specs` (the type's front-end QoS keys, domain/qos.py
    connection_specs) are what _parse_connection_options adds to `data`."""
    data: dict[str, Any] = {
        "device_path": device_path,
        "access_mode": "ro" if readonly else "rw",
        "encrypted": False,
        "qos_specs": dict(qos_specs) if qos_specs is not None else None,
    }
    info: dict[str, Any] = {"driver_volume_type": "local"}
    if not flat:
        return {**info, "data": data}
    out = {**data, **info, "enforce_multipath": enforce_multipath}
    if attachment_id is not None:
        out["attachment_id"] = attachment_id
    return out


def is_readonly(volume: Any) -> bool:
    return str((getattr(volume, "admin_meta", None) or {}).get("readonly", "False")) == "True"


def _connector(value: object) -> dict[str, Any]:
    """A tenant's connector: only a JSON object is read, and only for what is shown."""
    return dict(value) if isinstance(value, dict) else {}


class AttachmentService:
    def __init__(
        self, *, units: Units, volumes: VolumeService, backend: VolumeBackend, policy: Policy,
        qos: QosSpecRepository,
    ) -> None:
        self._units = units
        self._volumes = volumes
        self._backend = backend
        self._policy = policy
        self._qos = qos

    # --- read -------------------------------------------------------------------------

    async def get(self, caller: Caller, attachment_id: str) -> VolumeAttachment:
        """The attachment if the caller may see its volume; AttachmentNotFound else."""
        async with self._units.read() as db:
            found = await volumes_db.get_attachment(db, attachment_id=attachment_id)
        if found is None:
            raise AttachmentNotFound(attachment_id)
        attachment, project_id = found
        if not caller.is_admin and project_id != caller.project_id:
            raise AttachmentNotFound(attachment_id)
        return attachment

    async def find(self, caller: Caller, query: AttachmentQuery) -> list[VolumeAttachment]:
        filters: dict[str, str] = {}
        for key, value in query.filters.items():
            column = {"instance_id": "instance_uuid", "status": "attach_status"}.get(key, key)
            filters[column] = value
        everyone = query.all_tenants and caller.is_admin
        async with self._units.read() as db:
            found = await volumes_db.list_attachments(
                db, project_id=None if everyone else caller.project_id, filters=filters,
            )
        like = {{"instance_id": "instance_uuid", "status": "attach_status"}.get(k, k): v
                for k, v in query.like.items()}
        found = [a for a in found if all_like(a, like)]
        keys = [*(query.sort or [("created_at", "desc")]), ("id", "asc")]
        for key, direction in reversed(keys):
            column = "attached_at" if key == "created_at" else key
            found.sort(key=lambda a, c=column: (getattr(a, c) is not None,  # type: ignore[misc]
                                                getattr(a, c) or ""),
                       reverse=direction == "desc")
        if query.marker is not None:
            at = next((i for i, a in enumerate(found) if a.id == query.marker), None)
            if at is None:
                raise NotFound(f"Marker {query.marker} could not be found.")
            found = found[at + 1:]
        found = found[query.offset:]
        return found if query.limit is None else found[:query.limit]

    # --- create, update, complete, delete ---------------------------------------------

    async def create(
        self, caller: Caller, volume_id: str, *, instance_uuid: str | None,
        connector: Mapping[str, Any] | None, mode: str = NO_MODE,
    ) -> VolumeAttachment:
        """Reserve the volume (`available`/`downloading` -> `reserved`) and add a
        `reserved` attachment; with a connector also connect it (`attaching`).
        One write unit: a crash leaves neither."""
        current = await self._volumes.load(caller, volume_id)
        volume = current.volume
        self._policy.authorize(caller, P.ATTACHMENT_CREATE, target(volume))
        if "error" in volume.status:
            raise InvalidVolume(
                "Volume attachments can not be created if the volume is in an error state. "
                f"The Volume {volume.id} currently has a status of: {volume.status} "
            )
        if volume.multiattach and volume.status == S.IN_USE and volume.bootable:
            self._policy.authorize(caller, P.MULTIATTACH_BOOTABLE, target(volume))
        now = utcnow()
        attachment_id = str(uuid.uuid4())
        # A multiattach volume may be reserved again while in use (Cinder's
        # attachment_create expected statuses).
        rule = vol.ATTACHMENT_RESERVE_MULTI if volume.multiattach else vol.ATTACHMENT_RESERVE
        async with self._units.write() as db:
            ok = await volumes_db.transition(db, volume_id=volume_id, rule=rule, now=now)
            if not ok:
                # The same instance may reserve again (a server moving hosts).
                row = await self._volumes_row(db, volume_id)
                live = await volumes_db.live_attachments(db, volume_id=volume_id)
                same = instance_uuid is not None and row.status in (S.IN_USE, S.RESERVED) and any(
                    a.instance_uuid == instance_uuid for a in live)
                if not same:
                    statuses = ("available, in-use or downloading" if volume.multiattach
                                else "available or downloading")
                    raise InvalidVolume(
                        f"Volume {volume_id} status must be {statuses} to reserve, but the "
                        f"current status is {row.status}."
                    )
            row = await self._volumes_row(db, volume_id)
            attachment = VolumeAttachment(
                id=attachment_id, volume_id=volume_id, instance_uuid=instance_uuid,
                attached_host=None, mountpoint=None,
                attach_mode="ro" if is_readonly(row) else mode,
                attach_status=AttachStatus.RESERVED, attached_at=None,
            )
            await volumes_db.add_attachment(db, attachment)
            if connector:
                await self._connect(db, row, attachment_id, attachment.attach_mode,
                                    dict(connector))
        return await self.get(caller, attachment_id)

    async def update(
        self, caller: Caller, attachment_id: str, connector: Mapping[str, Any]
    ) -> VolumeAttachment:
        """Connect a reserved attachment: it and the volume become `attaching`, and
        it keeps the connector and the connection info. One write unit."""
        attachment = await self.get(caller, attachment_id)
        current = await self._volumes.load(caller, attachment.volume_id)
        self._policy.authorize(caller, P.ATTACHMENT_UPDATE, target(current.volume))
        if "error" in current.volume.status:
            raise Conflict(
                "Volume attachments can not be updated if the volume is in an error state. "
                f"The Volume {current.volume.id} currently has a status of: "
                f"{current.volume.status} "
            )
        async with self._units.write() as db:
            row = await self._volumes_row(db, attachment.volume_id)
            if not row.multiattach:
                # Cinder: a second connection of a volume that is not multiattach
                # (two attachments are allowed for a server moving hosts, but only
                # one of them connected).
                live = await volumes_db.live_attachments(db, volume_id=row.id)
                if len(live) > 1 and any(
                    a.connection_info for a in live if a.id != attachment_id
                ):
                    raise Conflict(f"duplicate connectors detected on volume {row.id}")
            await self._connect(db, row, attachment_id, attachment.attach_mode,
                                _connector(connector))
        return await self.get(caller, attachment_id)

    async def _connect(
        self, db: Any, volume: VolumeRow, attachment_id: str, attach_mode: str,
        connector: dict[str, Any],
    ) -> None:
        """Cinder's attachment_update on the volume service: the mode (the one given
        at create, else the connector's, else rw), the connection info, then
        volume_attached without marking it attached."""
        mode = attach_mode if attach_mode != NO_MODE else str(connector.get("mode") or "rw")
        spec = (await self._qos.spec_of_type(volume.volume_type_id, unit=db)
                if volume.volume_type_id else None)
        info = connection_info(
            str(self._backend.path(volume.id)), readonly=mode == "ro" or is_readonly(volume),
            attachment_id=attachment_id,
            enforce_multipath=bool(connector.get("enforce_multipath", False)), flat=True,
            qos_specs=connection_specs(spec, volume.size),
        )
        now = utcnow()
        host = connector.get("host")
        mountpoint = connector.get("mountpoint")
        await volumes_db.update_attachment(db, attachment_id=attachment_id, values={
            "attach_status": AttachStatus.ATTACHING, "connector": connector,
            "connection_info": info, "attach_mode": mode, "attached_at": now,
            "attached_host": str(host)[:255] if host is not None else "",
            "mountpoint": str(mountpoint)[:255] if mountpoint is not None else "na",
        })
        await volumes_db.transition(
            db, volume_id=volume.id, rule=vol.ATTACHMENT_CONNECT, now=now,
            values={"attach_status": AttachStatus.ATTACHING},
        )
        admin = dict(volume.admin_meta or {})
        admin["attached_mode"] = mode
        await volumes_db.update_fields(db, volume_id=volume.id, values={"admin_meta": admin})

    async def complete(self, caller: Caller, attachment_id: str) -> None:
        """`os-complete`: the attachment `attached`, the volume `in-use`/attached."""
        attachment = await self.get(caller, attachment_id)
        current = await self._volumes.load(caller, attachment.volume_id)
        self._policy.authorize(caller, P.ATTACHMENT_COMPLETE, target(current.volume))
        now = utcnow()
        async with self._units.write() as db:
            await volumes_db.update_attachment(db, attachment_id=attachment_id, values={
                "attach_status": AttachStatus.ATTACHED,
            })
            done = await volumes_db.transition(
                db, volume_id=attachment.volume_id, rule=vol.ATTACHMENT_COMPLETE, now=now,
                values={"attach_status": AttachStatus.ATTACHED},
            )
            if not done:
                # Cinder sets it whatever the status (an upload keeps its own).
                await volumes_db.update_fields(db, volume_id=attachment.volume_id, values={
                    "attach_status": AttachStatus.ATTACHED, "updated_at": now,
                })

    async def delete(self, caller: Caller, attachment_id: str) -> list[VolumeAttachment]:
        """Remove the attachment; the volume takes the status its remaining
        attachments give (`domain.volumes.settled`). Returns those attachments."""
        attachment = await self.get(caller, attachment_id)
        current = await self._volumes.load(caller, attachment.volume_id)
        self._policy.authorize(caller, P.ATTACHMENT_DELETE, target(current.volume))
        async with self._units.write() as db:
            await volumes_db.touch(db, volume_id=attachment.volume_id, now=utcnow())
            await volumes_db.delete_attachment(db, attachment_id=attachment_id)
            return await settle(db, attachment.volume_id)

    async def _volumes_row(self, db: Any, volume_id: str) -> VolumeRow:
        row = await self._volumes.repo.get(volume_id, unit=db)
        if row is None:
            raise VolumeNotFound(volume_id)
        return row


async def settle(db: Any, volume_id: str) -> list[VolumeAttachment]:
    """Cinder's volume_detached after an attachment ended: status and attach_status
    from the attachments left; `attached_mode` goes with the last one. While the
    volume is `uploading` its status is left to the upload's end."""
    live = await volumes_db.live_attachments(db, volume_id=volume_id)
    status, attach_status = vol.settled(a.attach_status for a in live)
    now = utcnow()
    await volumes_db.transition(
        db, volume_id=volume_id, rule=vol.SETTLE[status], now=now,
        values={"attach_status": attach_status},
    )
    values: dict[str, Any] = {"attach_status": attach_status}
    if not live:
        row = await volumes_db.get(db, volume_id=volume_id)
        if row is not None and row.admin_meta and "attached_mode" in row.admin_meta:
            values["admin_meta"] = {k: v for k, v in row.admin_meta.items()
                                    if k != "attached_mode"}
    await volumes_db.update_fields(db, volume_id=volume_id, values=values)
    return live


__all__ = [
    "FILTER_KEYS", "SORT_KEYS", "AttachmentNotFound", "AttachmentQuery", "AttachmentService",
    "connection_info", "is_readonly", "settle",
]
