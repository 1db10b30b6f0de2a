"""Re-imaging a volume (os-reimage, 3.68) and Nova's volume-backed instance
snapshots as volume sources (3.46).

os-reimage rewrites an existing volume's bytes from an image, as Cinder's
API.reimage and manager.reimage do: the volume goes `downloading` (its status
kept as previous_status) in the transaction that queues a durable "reimage" job;
the job writes the image through the very path a volume made from an image takes
(gzip unpacking, format inspection, qemu-img with an explicit format: the
VolumeService's write_image), refreshes the volume's image metadata, makes it
bootable and gives it back its previous status; a failure leaves it `error`.
An image Nova made of a volume-backed instance (size 0, a `block_device_mapping`
property naming the boot volume's snapshot) is written from that snapshot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from cinderlite.datapath.hashing import Progress
from cinderlite.db import volumes as volumes_db
from cinderlite.db.database import Database, Unit
from cinderlite.db.models import Image
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    ImageNotFound,
    ImageUnacceptable,
    InvalidRequest,
    InvalidVolume,
    NotFound,
)
from cinderlite.domain.identity import Caller
from cinderlite.domain.volumes import VolumeStatus
from cinderlite.services import messages
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy, target
from cinderlite.services.snapshots import SnapshotService
from cinderlite.services.volumes import (
    GiB,
    ImageConversionNotAllowed,
    VolumeService,
    glance_metadata,
    image_visible,
    usable_image,
)
from cinderlite.storage.volumes.base import DataRef, VolumeBackend
from cinderlite.workers.runner import JobContext, JobRunner

log = logging.getLogger(__name__)

REIMAGE_JOB = "reimage"


def boot_snapshot_id(image: Image) -> tuple[str, Any] | None:
    """(snapshot id, its volume_size) of the boot volume an image Nova made of a
    volume-backed instance describes; None for any other image.

    Nova keeps the mapping as a JSON text property `block_device_mapping`
    (Cinder's glance client decodes it); the boot volume's snapshot is the entry
    with source_type snapshot and boot_index 0."""
    raw = (image.properties or {}).get("block_device_mapping")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, list):
        return None
    for bdm in raw:
        if (isinstance(bdm, Mapping) and bdm.get("source_type") == "snapshot"
                and bdm.get("boot_index") == 0):
            return str(bdm.get("snapshot_id")), bdm.get("volume_size")
    return None


class ReimageService:
    """os-reimage and the Nova-image lookups of the volume create flow."""

    def __init__(
        self, *, database: Database, volumes: VolumeService, snapshots: SnapshotService,
        backend: VolumeBackend, policy: Policy, jobs: JobRunner, message_ttl_seconds: int,
    ) -> None:
        self._database = database
        self._volumes = volumes
        self._snapshots = snapshots
        self._backend = backend
        self._policy = policy
        self._jobs = jobs
        self._ttl = message_ttl_seconds

    async def _visible_image(self, db: Unit, caller: Caller, image_id: str) -> Image | None:
        image = await volumes_db.get_image(db, image_id=image_id)
        if image is None or not await image_visible(db, caller, image):
            return None
        return image

    async def nova_image_snapshot(self, caller: Caller, image_id: str) -> str | None:
        """The snapshot a volume is made from when its image is one Nova made of a
        volume-backed instance (3.46); None for any other (or unknown) image.
        A snapshot the mapping names that the caller cannot see is Cinder's 404."""
        async with self._database.read() as db:
            image = await self._visible_image(db, caller, image_id)
        found = boot_snapshot_id(image) if image is not None else None
        if found is None:
            return None
        await self._snapshot(caller, found[0])
        return found[0]

    async def _snapshot(self, caller: Caller, snapshot_id: str) -> None:
        try:
            await self._snapshots.get(caller, snapshot_id)
        except NotFound:
            raise NotFound(
                f"Nova specific image is found, but boot volume snapshot id:{snapshot_id} "
                "not found."
            ) from None

    async def reimage(
        self, caller: Caller, volume_id: str, *, image_id: str, reimage_reserved: bool,
        request_id: str,
    ) -> None:
        """Check as Cinder's os-reimage does, in its order, then move the volume to
        `downloading` and queue the job, in one transaction."""
        current = await self._volumes.load(caller, volume_id)
        volume = current.volume
        async with self._database.read() as db:
            image = await self._visible_image(db, caller, image_id)
        if image is None:
            raise ImageNotFound(image_id)
        snapshot_id: str | None = None
        found = boot_snapshot_id(image)
        if found is not None:
            snapshot_id, snap_size = found
            if isinstance(snap_size, int) and snap_size > volume.size:
                raise InvalidRequest(
                    f"Volume size must be greater than the image size. (Image: {snap_size}, "
                    f"Volume: {volume.size})."
                )
            await self._snapshot(caller, snapshot_id)
        rule_name = (P.REIMAGE_RESERVED if volume.status == VolumeStatus.RESERVED
                     else P.REIMAGE)
        self._policy.authorize(caller, rule_name, target(volume))
        if len(current.attachments) > 1:
            raise Conflict("Cannot re-image a volume which is attached to more than one server.")
        rule = vol.BEGIN_REIMAGE_RESERVED if reimage_reserved else vol.BEGIN_REIMAGE
        now = utcnow()
        async with self._database.write() as db:
            row = await volumes_db.lock_row(db, volume_id)
            if row is None:
                raise InvalidVolume(f"Volume {volume_id} could not be found.")
            if row.status not in rule.source:
                expected = ("available", "error", "reserved") if reimage_reserved else (
                    "available", "error")
                raise InvalidVolume(
                    f"Volume {volume_id} status must be {' or '.join(expected)}, but current "
                    f"status is {row.status}."
                )
            previous = row.status
            await volumes_db.transition(
                db, volume_id=volume_id, rule=rule, now=now,
                values={"previous_status": previous},
            )
            # Cinder's check_image_metadata, after the status change and undone with
            # it: here the whole transaction is (an image Nova made is size 0).
            await usable_image(db, caller, image_id, row.size)
            await self._jobs.enqueue(
                db, kind=REIMAGE_JOB, volume_id=volume_id, image_id=image_id,
                project_id=row.project_id, user_id=caller.user_id, request_id=request_id,
                params={"snapshot_id": snapshot_id, "previous_status": previous},
                now=now, bytes_total=int(image.size or 0) or row.size * GiB,
            )
        self._jobs.wake()

    async def run_reimage(self, ctx: JobContext) -> None:
        """The job: write the image (or the Nova image's snapshot) over the volume,
        then refresh its image metadata and give it back its previous status.

        Idempotent: a re-run after a crash rewrites the whole volume; a volume no
        longer `downloading` is left alone. A failure sets `error`, with a user
        message when the image's format was refused, and re-raises."""
        job = ctx.job
        params = job.params or {}
        async with self._database.read() as db:
            volume = await self._volumes.repo.get(job.volume_id, unit=db)
            image = (await volumes_db.get_image(db, image_id=job.image_id)
                     if job.image_id else None)
        if volume is None or volume.status != VolumeStatus.DOWNLOADING:
            return
        try:
            if image is None or image.status != "active":
                raise InvalidRequest(f"Image {job.image_id} is not available.")
            snapshot_id = params.get("snapshot_id")
            if snapshot_id:
                source = DataRef("snapshot", str(snapshot_id))
                snapshot = await self._snapshots.find(str(snapshot_id))
                if snapshot is None or not await self._backend.has(source):
                    raise InvalidRequest(f"The snapshot {snapshot_id} is no longer available.")
                if snapshot.volume_size > volume.size:
                    raise InvalidRequest(
                        f"The snapshot {snapshot_id} ({snapshot.volume_size}GB) does not fit in "
                        f"the volume ({volume.size}GB)."
                    )
                progress = Progress(volume.size * GiB)
                await ctx.follow(progress, self._backend.copy(
                    source, DataRef("volume", volume.id), volume.size * GiB, progress,
                    ctx.guard,
                ))
            else:
                await self._volumes.write_image(ctx, volume, image)
            meta = glance_metadata(image)
        except Exception as exc:
            log.warning("re-imaging volume %s with image %s failed: %s", job.volume_id,
                        job.image_id, exc)
            async with self._database.write() as db:
                await ctx.fence(db)
                await volumes_db.transition(
                    db, volume_id=volume.id, rule=vol.FAIL_REIMAGE, now=utcnow(),
                    values={"previous_status": VolumeStatus.DOWNLOADING.value},
                )
                if isinstance(exc, ImageConversionNotAllowed | ImageUnacceptable):
                    await messages.record(
                        db, project_id=volume.project_id, resource_uuid=volume.id,
                        action=messages.REIMAGE_VOLUME, detail=messages.IMAGE_FORMAT_UNACCEPTABLE,
                        now=utcnow(), ttl_seconds=self._ttl, request_id=job.request_id,
                        reason=str(exc),
                    )
            raise
        previous = str(params.get("previous_status") or volume.previous_status)
        finish = next((rule for status, rule in vol.FINISH_REIMAGE.items() if status == previous),
                      vol.FINISH_REIMAGE[VolumeStatus.AVAILABLE])
        async with self._database.write() as db:
            await ctx.fence(db)
            await volumes_db.transition(
                db, volume_id=volume.id, rule=finish, now=utcnow(),
                values={"bootable": True, "image_meta": meta},
            )

    async def recover(self) -> None:
        """A volume left `downloading` by a crash with no reimage job left to finish
        it is `error` (a job still queued or leased runs again and finishes it)."""
        async with self._database.write() as db:
            for volume_id in await volumes_db.ids_with_status(
                db, statuses=[VolumeStatus.DOWNLOADING]
            ):
                if not await volumes_db.has_unfinished_job(
                    db, volume_id=volume_id, kinds=(REIMAGE_JOB,)
                ):
                    await volumes_db.transition(
                        db, volume_id=volume_id, rule=vol.FAIL_REIMAGE, now=utcnow(),
                    )
                    log.warning("volume %s was left downloading by a crash: now error",
                                volume_id)


__all__ = ["REIMAGE_JOB", "ReimageService", "boot_snapshot_id"]
