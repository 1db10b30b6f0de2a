"""Volume actions other than upload (attach, detach, reset status, extend, set
bootable, image metadata) and the volume metadata sub-resource.

Attachments are records only (no hypervisor). Each action is one transaction,
so a crash leaves either the old or the new state, never half of it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Mapping
from typing import Any

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import VolumeAttachment
from cinderlite.db.qos_specs import QosSpecRepository
from cinderlite.db.volumes import VolumeRepository, VolumeRow
from cinderlite.domain import quotas
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    GlanceMetadataNotFound,
    InvalidRequest,
    InvalidVolume,
    NotFound,
    VolumeNotFound,
)
from cinderlite.domain.identity import Caller
from cinderlite.domain.qos import connection_specs
from cinderlite.domain.volumes import AttachStatus, VolumeStatus
from cinderlite.services import policy as P
from cinderlite.services.attachments import connection_info, is_readonly, settle
from cinderlite.services.policy import Policy, target
from cinderlite.services.snapshots import SnapshotService
from cinderlite.services.units import Unit, Units
from cinderlite.services.volumes import GiB, VolumeService
from cinderlite.storage.volumes.base import DataRef, VolumeBackend

S = VolumeStatus
# Cinder's volume API refuses metadata changes (user and image) in these statuses.
METADATA_FROZEN = (S.MAINTENANCE, S.UPLOADING)


class VolumeActionService:
    """The actions on one volume, each checked against its policy after the volume
    is loaded as the caller may see it (VolumeService.load)."""

    def __init__(
        self, *, units: Units, repo: VolumeRepository, volumes: VolumeService,
        backend: VolumeBackend, policy: Policy, snapshots: SnapshotService,
        qos: QosSpecRepository,
    ) -> None:
        self._qos = qos
        self._snapshots = snapshots
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
        if current.volume.status == S.MAINTENANCE:
            raise InvalidVolume("The volume cannot be attached in maintenance mode.")
        # Cinder adds readonly=False to the admin metadata when absent, and refuses
        # a read-write attachment of a read-only volume.
        admin = dict(current.volume.admin_meta or {})
        admin.setdefault("readonly", "False")
        if admin["readonly"] == "True" and mode != "ro":
            raise InvalidRequest(f"Invalid attaching mode '{mode}' for volume {volume_id}.")
        admin["attached_mode"] = mode
        now = utcnow()
        async with self._units.write() as db:
            ok = await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.ATTACH, now=now,
                values={"attach_status": AttachStatus.ATTACHED, "admin_meta": admin},
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
            # The status the attachments left give (uploading is left to the upload).
            await settle(db, volume_id)

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

    async def extend(
        self, caller: Caller, volume_id: str, *, new_size: int, attached_ok: bool = False,
    ) -> None:
        """Grow an `available` volume (or, with `attached_ok` (3.42), an `in-use` one:
        a process holding the file sees it grow). The file grows first, then the row
        in one update: a crash in between leaves a larger file under the old size,
        which is harmless."""
        current = await self._volumes.load(caller, volume_id)
        volume = current.volume
        attached = attached_ok and volume.status == S.IN_USE
        self._policy.authorize(caller, P.VOLUME_UPDATE, target(current.volume))
        if attached:
            self._policy.authorize(caller, P.EXTEND_ATTACHED, target(volume))
            status: VolumeStatus = S.IN_USE
        else:
            status = S.AVAILABLE
        if volume.status != status:
            raise InvalidVolume(
                f"Volume {volume_id} status must be available to extend, but current status is: "
                f"{volume.status}."
            )
        if new_size <= volume.size:
            raise InvalidRequest(
                f"Invalid input received: New size for extend must be greater than current size. "
                f"(current: {volume.size}, extended: {new_size})."
            )
        demand = quotas.extend_demand(new_size - volume.size, current.type_name)
        quota = self._volumes.quotas
        async with self._units.read() as db:
            if quota is not None:
                await quota.check(db, volume.project_id, demand, volume_size=new_size)
            await self._volumes.check_capacity(db, new_size - volume.size)
        path = self._backend.path(volume_id)
        await asyncio.to_thread(os.truncate, path, new_size * GiB)
        async with self._units.write() as db:
            # Refused here (a racing create took the room): the larger file under
            # the old size is harmless, as after a crash.
            if quota is not None:
                await quota.reserve(db, volume.project_id, demand, volume_size=new_size)
            ok = await volumes_db.extend(
                db, volume_id=volume_id, old_size=volume.size, new_size=new_size, now=utcnow(),
                status=status,
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

    # --- the legacy attach/detach protocol (os-reserve ... os-force_detach) -------------

    async def _guarded(self, caller: Caller, volume_id: str, rule: str) -> Any:
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, rule, target(current.volume))
        return current.volume

    async def reserve(self, caller: Caller, volume_id: str) -> None:
        """os-reserve: `available` -> `attaching` (one compare-and-swap)."""
        volume = await self._guarded(caller, volume_id, P.RESERVE)
        async with self._units.write() as db:
            if not await volumes_db.transition(db, volume_id=volume_id, rule=vol.RESERVE,
                                               now=utcnow()):
                raise InvalidVolume(
                    f"Volume status must be available to reserve, but the status is "
                    f"{volume.status}."
                )

    async def unreserve(self, caller: Caller, volume_id: str) -> None:
        """os-unreserve: `attaching` -> `in-use` with attachments, else `available`;
        nothing when not `attaching` (Cinder logs and returns)."""
        await self._guarded(caller, volume_id, P.UNRESERVE)
        async with self._units.write() as db:
            await self._unreserve(db, volume_id)

    async def _unreserve(self, db: Any, volume_id: str) -> None:
        attached = await volumes_db.count_attached(db, volume_id=volume_id) > 0
        await volumes_db.transition(
            db, volume_id=volume_id,
            rule=vol.UNRESERVE_ATTACHED if attached else vol.UNRESERVE, now=utcnow(),
        )

    async def begin_detaching(self, caller: Caller, volume_id: str) -> None:
        """os-begin_detaching: `in-use` and attached -> `detaching`."""
        await self._guarded(caller, volume_id, P.BEGIN_DETACHING)
        async with self._units.write() as db:
            if not await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.BEGIN_DETACHING, now=utcnow(),
                expected_attach_status=[AttachStatus.ATTACHED],
            ):
                raise InvalidVolume(
                    "Unable to detach volume. Volume status must be 'in-use' and "
                    "attach_status must be 'attached' to detach."
                )

    async def roll_detaching(self, caller: Caller, volume_id: str) -> None:
        """os-roll_detaching: `detaching` -> `in-use`; nothing otherwise."""
        await self._guarded(caller, volume_id, P.ROLL_DETACHING)
        async with self._units.write() as db:
            await volumes_db.transition(db, volume_id=volume_id, rule=vol.ROLL_DETACHING,
                                        now=utcnow())

    async def initialize_connection(
        self, caller: Caller, volume_id: str, connector: object
    ) -> dict[str, Any]:
        """os-initialize_connection: the `local` connection info (device_path, the
        volume's file); no status changes, as Cinder's."""
        volume = await self._guarded(caller, volume_id, P.INITIALIZE_CONNECTION)
        if volume.status == S.MAINTENANCE:
            raise InvalidVolume(
                "The volume connection cannot be initialized in maintenance mode."
            )
        enforce = isinstance(connector, dict) and bool(connector.get("enforce_multipath"))
        spec = (await self._qos.spec_of_type(volume.volume_type_id)
                if volume.volume_type_id else None)
        info = connection_info(str(self._backend.path(volume_id)),
                               readonly=is_readonly(volume), flat=False,
                               qos_specs=connection_specs(spec, volume.size))
        info["enforce_multipath"] = enforce
        return info

    async def terminate_connection(self, caller: Caller, volume_id: str) -> None:
        """os-terminate_connection: nothing to tear down for a local file; then
        os-unreserve's change."""
        await self._guarded(caller, volume_id, P.TERMINATE_CONNECTION)
        async with self._units.write() as db:
            await self._unreserve(db, volume_id)

    async def force_detach(
        self, caller: Caller, volume_id: str, *, attachment_id: str | None
    ) -> None:
        """os-force_detach (admin): terminate, then detach as os-detach does."""
        await self._guarded(caller, volume_id, P.FORCE_DETACH)
        async with self._units.write() as db:
            await self._unreserve(db, volume_id)
        try:
            await self.detach(caller, volume_id, attachment_id=attachment_id)
        except (InvalidVolume, NotFound) as exc:
            kind = "InvalidVolume" if isinstance(exc, InvalidVolume) else (
                "VolumeAttachmentNotFound")
            raise InvalidRequest(
                f"Error force detaching volume - {kind}: {exc.message}"
            ) from None

    async def update_readonly_flag(self, caller: Caller, volume_id: str, *, readonly: bool) -> None:
        """os-update_readonly_flag: the `readonly` admin metadata of an `available` volume."""
        volume = await self._guarded(caller, volume_id, P.UPDATE_READONLY)
        if volume.status != S.AVAILABLE:
            raise InvalidVolume(
                f"Volume {volume_id} status must be available to update readonly flag, but "
                f"current status is: {volume.status}."
            )
        admin = {**(volume.admin_meta or {}), "readonly": str(readonly)}
        async with self._units.write() as db:
            await volumes_db.update_fields(db, volume_id=volume_id,
                                           values={"admin_meta": admin, "updated_at": utcnow()})

    # --- revert to the latest snapshot (3.40) ----------------------------------------

    async def revert(self, caller: Caller, volume_id: str, *, snapshot_id: str) -> None:
        """The volume's bytes become its latest snapshot's, in place.

        `available` -> `reverting` and the snapshot `available` -> `restoring` in one
        unit; the copy replaces the volume file atomically (backend.copy); then both
        go back to `available` (the volume to `error` if the copy failed). A crash
        in between leaves `reverting`/`restoring`; `recover` ends them: the file is
        whole, old or new, but which is unknown, so the volume is `error` (as a
        failed revert in Cinder) and the snapshot `available`.
        """
        current = await self._volumes.load(caller, volume_id)
        volume = current.volume
        self._policy.authorize(caller, P.REVERT, target(volume))
        latest = await self._snapshots.latest_for_volume(volume_id)
        if latest is None:
            raise InvalidRequest(f"Volume {volume_id} doesn't have any snapshots.")
        if snapshot_id != latest.id:
            raise InvalidRequest(
                f"Specified snapshot {snapshot_id} is None or not the latest one of volume "
                f"{volume_id}."
            )
        if volume.size != latest.volume_size:
            raise InvalidRequest(
                f"Can't revert volume {volume_id} to its latest snapshot {snapshot_id}. The "
                "volume size must be equal to the snapshot size."
            )
        async with self._units.write() as db:
            if not await volumes_db.transition(db, volume_id=volume_id, rule=vol.BEGIN_REVERT,
                                               now=utcnow()):
                raise Conflict(
                    f"Invalid volume: Can't revert volume {volume_id} to its latest snapshot "
                    f"{snapshot_id}. Volume's status must be 'available'."
                )
            if not await self._snapshots.set_restoring(db, snapshot_id, True):
                raise Conflict(
                    f"Invalid snapshot: Can't revert volume {volume_id} to its latest "
                    f"snapshot {snapshot_id}. Snapshot's status must be 'available'."
                )
        ok = True
        try:
            await self._backend.copy(DataRef("snapshot", snapshot_id),
                                     DataRef("volume", volume_id), volume.size * GiB)
        except OSError:
            ok = False
        async with self._units.write() as db:
            await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.FINISH_REVERT if ok else vol.FAIL_REVERT,
                now=utcnow(),
            )
            await self._snapshots.set_restoring(db, snapshot_id, False)

    async def recover(self) -> None:
        """Ends reverts a crash interrupted (see `revert`)."""
        async with self._units.write() as db:
            for volume_id in await volumes_db.ids_with_status(db, statuses=[S.REVERTING]):
                await volumes_db.transition(db, volume_id=volume_id, rule=vol.FAIL_REVERT,
                                            now=utcnow())
            await self._snapshots.end_restores(db)

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

    # --- image metadata (os-show/set/unset_image_metadata) -------------------------------
    #
    # Cinder's volume_glance_metadata, kept here as the volume's `image_meta`: what
    # was copied from the image it was made from (services/volumes.py), changed by
    # these actions, passed on to the images uploaded from it (services/uploads.py).

    def shows_image_metadata(self, caller: Caller) -> bool:
        """Whether volume show and the detail listing carry `volume_image_metadata`
        for `caller`. Cinder checks this rule without a target, that is against the
        caller's own project, and leaves the attribute out when it fails."""
        return self._policy.allows(
            caller, P.IMAGE_METADATA_SHOW,
            {"project_id": caller.project_id, "user_id": caller.user_id},
        )

    async def get_image_metadata(self, caller: Caller, volume_id: str) -> dict[str, str]:
        """os-show_image_metadata: 404 (GlanceMetadataNotFound) for a volume with none."""
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_GET_METADATA, target(current.volume))
        meta = _strings(current.volume.image_meta)
        if not meta:
            raise GlanceMetadataNotFound(volume_id)
        return meta

    async def set_image_metadata(
        self, caller: Caller, volume_id: str, *, items: Mapping[str, str]
    ) -> dict[str, str]:
        """os-set_image_metadata: merge `items` into the image metadata, return all of it.

        One transaction that takes the row's lock first (`volumes_db.lock`, which
        leaves updated_at alone as Cinder does), then reads, checks the status and
        writes: concurrent changes serialize and a crash leaves the old or the new
        metadata, nothing to recover.
        """
        current = await self._volumes.load(caller, volume_id)
        self._policy.authorize(caller, P.IMAGE_METADATA_SET, target(current.volume))
        self._policy.authorize(caller, P.VOLUME_UPDATE_METADATA, target(current.volume))
        async with self._units.write() as db:
            row = await self._locked(db, volume_id)
            _check_unfrozen(row.status, "Updating")
            meta = _strings(row.image_meta)
            meta.update(items)
            if meta != row.image_meta:
                await volumes_db.update_fields(db, volume_id=volume_id, values={"image_meta": meta})
        return meta

    async def unset_image_metadata(self, caller: Caller, volume_id: str, *, key: str) -> None:
        """os-unset_image_metadata: drop one key; 404 when the volume has no such key.

        Cinder's order: the volume (404), the remove rule (403), reading the image
        metadata (404 for a missing key), the delete rule (403), the status (400).
        One transaction as in `set_image_metadata`.
        """
        current = await self._volumes.load(caller, volume_id)
        volume_target = target(current.volume)
        self._policy.authorize(caller, P.IMAGE_METADATA_REMOVE, volume_target)
        self._policy.authorize(caller, P.VOLUME_GET_METADATA, volume_target)
        if key not in (current.volume.image_meta or {}):
            raise GlanceMetadataNotFound(volume_id)
        self._policy.authorize(caller, P.VOLUME_DELETE_METADATA, volume_target)
        async with self._units.write() as db:
            row = await self._locked(db, volume_id)
            meta = _strings(row.image_meta)
            if key not in meta:  # removed by a concurrent request meanwhile
                raise GlanceMetadataNotFound(volume_id)
            _check_unfrozen(row.status, "Deleting")
            del meta[key]
            await volumes_db.update_fields(db, volume_id=volume_id, values={"image_meta": meta})

    async def _locked(self, db: Unit, volume_id: str) -> VolumeRow:
        """The volume's row inside the write unit `db`, its lock taken first."""
        if not await volumes_db.lock(db, volume_id=volume_id):
            raise VolumeNotFound(volume_id)
        row = await self._repo.get(volume_id, unit=db)
        if row is None:
            raise VolumeNotFound(volume_id)
        return row


def _strings(meta: Mapping[str, Any] | None) -> dict[str, str]:
    """Image metadata as Cinder holds it: text keys and values."""
    return {str(k): v if isinstance(v, str) else str(v) for k, v in (meta or {}).items()}


def _check_unfrozen(status: str, verb: str) -> None:
    """Cinder's refusal to change a volume's metadata while it uploads or is in maintenance."""
    if status in METADATA_FROZEN:
        raise InvalidVolume(
            f"{verb} volume metadata is not allowed for volumes in {status} status."
        )
