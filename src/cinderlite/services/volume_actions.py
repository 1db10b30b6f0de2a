"""Volume actions other than upload (attach, detach, reset status, extend, set
bootable) and the volume metadata sub-resource.

Attachments are records only (no hypervisor). Each action is one transaction,
so a crash leaves either the old or the new state, never half of it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Mapping

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import VolumeAttachment
from cinderlite.db.volumes import VolumeRepository
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import InvalidRequest, InvalidVolume, NotFound, VolumeNotFound
from cinderlite.domain.identity import Caller
from cinderlite.domain.volumes import AttachStatus, VolumeStatus
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.units import Units
from cinderlite.services.volumes import GiB, VolumeService, target
from cinderlite.storage.volumes.base import VolumeBackend

S = VolumeStatus


class VolumeActionService:
    """The actions on one volume, each checked against its policy after the volume
    is loaded as the caller may see it (VolumeService.load)."""

    def __init__(
        self, *, units: Units, repo: VolumeRepository, volumes: VolumeService,
        backend: VolumeBackend, policy: Policy,
    ) -> None:
        self._units = units
        self._policy = policy
        self._repo = repo
        self._volumes = volumes
        self._backend = backend

    async def attach(
        self, caller: Caller, volume_id: str, *, instance_uuid: str | None,
        host_name: str | None, mountpoint: str, mode: str,
    ) -> None:
        """Record an attachment: `available` (or `reserved`) -> `in-use`, attach_status attached."""
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.ATTACH, target(current.volume))
        now = utcnow()
        async with self._units.write() as db:
            ok = await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.ATTACH, now=now,
                values={"attach_status": AttachStatus.ATTACHED},
            )
            if not ok:
                raise InvalidVolume(
                    f"Volume status must be available or reserved to attach, but the current "
                    f"status is {current.volume.status}."
                )
            await volumes_db.add_attachment(db, VolumeAttachment(
                id=str(uuid.uuid4()), volume_id=volume_id, instance_uuid=instance_uuid,
                attached_host=host_name, mountpoint=mountpoint, attach_mode=mode,
                attach_status=AttachStatus.ATTACHED, attached_at=now,
            ))

    async def detach(
        self, caller: Caller, volume_id: str, *, attachment_id: str | None
    ) -> None:
        """End one attachment; with none left the volume becomes `available`.

        While `uploading` the status is left alone (Cinder db.volume_detached); the
        upload's end picks available/in-use from the attachments.
        """
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.DETACH, target(current.volume))
        now = utcnow()
        async with self._units.write() as db:
            await volumes_db.touch(db, volume_id=volume_id, now=now)
            live = await volumes_db.attachments(db, volume_id=volume_id)
            if attachment_id is None:
                if not live:
                    raise InvalidVolume("Volume must be attached in order to detach.")
                if len(live) > 1:
                    raise InvalidRequest(
                        "Detach volume failed: More than one attachment, but no attachment_id "
                        "provided."
                    )
                attachment_id = live[0].id
            elif not any(a.id == attachment_id for a in live):
                raise NotFound(
                    f"Volume attachment could not be found with filter: attachment_id = "
                    f"{attachment_id}."
                )
            await volumes_db.detach_attachment(db, attachment_id=attachment_id, now=now)
            if await volumes_db.count_attached(db, volume_id=volume_id) == 0:
                await volumes_db.update_fields(
                    db, volume_id=volume_id,
                    values={"attach_status": AttachStatus.DETACHED, "updated_at": now},
                )
                await volumes_db.transition(db, volume_id=volume_id, rule=vol.DETACH, now=now)

    async def reset_status(
        self, caller: Caller, volume_id: str, *, status: str | None,
        attach_status: str | None,
    ) -> None:
        """Admin override of status/attach_status, outside the transition table (as Cinder)."""
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.RESET_STATUS, target(current.volume))
        values: dict[str, object] = {"updated_at": utcnow()}
        if status is not None:
            values["status"] = status
            values["previous_status"] = None
        if attach_status is not None:
            values["attach_status"] = attach_status
        async with self._units.write() as db:
            await volumes_db.update_fields(db, volume_id=volume_id, values=values)
            if attach_status == AttachStatus.DETACHED:
                for attachment in await volumes_db.attachments(db, volume_id=volume_id):
                    await volumes_db.detach_attachment(db, attachment_id=attachment.id,
                                                       now=utcnow())

    async def extend(self, caller: Caller, volume_id: str, *, new_size: int) -> None:
        """Grow an `available` volume. The file grows first, then the row in one update:
        a crash in between leaves a larger file under the old size, which is harmless."""
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_UPDATE, target(current.volume))
        volume = current.volume
        if volume.status != S.AVAILABLE:
            raise InvalidVolume(
                f"Volume {volume_id} status must be available to extend, but current status is: "
                f"{volume.status}."
            )
        if new_size <= volume.size:
            raise InvalidRequest(
                f"Invalid input received: New size for extend must be greater than current size. "
                f"(current: {volume.size}, extended: {new_size})."
            )
        async with self._units.read() as db:
            await self._volumes.check_capacity(db, new_size - volume.size)
        path = self._backend.path(volume_id)
        await asyncio.to_thread(os.truncate, path, new_size * GiB)
        async with self._units.write() as db:
            ok = await volumes_db.extend(
                db, volume_id=volume_id, old_size=volume.size, new_size=new_size, now=utcnow()
            )
            if not ok:
                raise InvalidVolume(
                    f"Volume {volume_id} status must be available to extend, but current status "
                    f"is: {volume.status}."
                )

    async def set_bootable(self, caller: Caller, volume_id: str, *, bootable: bool) -> None:
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_UPDATE, target(current.volume))
        async with self._units.write() as db:
            await volumes_db.update_fields(
                db, volume_id=volume_id, values={"bootable": bootable, "updated_at": utcnow()}
            )

    # --- metadata (GET/POST/PUT .../volumes/{id}/metadata[/{key}]) ----------------------

    async def get_metadata(self, caller: Caller, volume_id: str) -> dict[str, str]:
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_GET_METADATA, target(current.volume))
        return dict(current.volume.meta or {})

    async def change_metadata(
        self, caller: Caller, volume_id: str, *, items: Mapping[str, str],
        replace: bool = False, delete_key: str | None = None,
    ) -> dict[str, str]:
        """Merge `items` into the metadata (or replace it, or drop `delete_key`); one
        transaction that takes the row's write lock first, so concurrent changes serialize."""
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_UPDATE, target(current.volume))
        now = utcnow()
        async with self._units.write() as db:
            if not await volumes_db.touch(db, volume_id=volume_id, now=now):
                raise VolumeNotFound(volume_id)
            row = await self._repo.get(volume_id, unit=db)
            assert row is not None
            meta = {} if replace else dict(row.meta or {})
            if delete_key is not None:
                if delete_key not in meta:
                    raise NotFound(f"Volume {volume_id} has no metadata with key {delete_key}.")
                del meta[delete_key]
            meta.update(items)
            await volumes_db.update_fields(db, volume_id=volume_id, values={"meta": meta})
        return meta
