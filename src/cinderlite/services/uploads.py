"""Upload requests: the API side of os-volume_upload_image (start_upload).

Crash safety: the volume CAS, the image row and the job row commit in ONE
transaction; a crash before the commit leaves nothing, after it a job that a
worker (or the next start) runs (services/upload_worker.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cinderlite.datapath import qemu
from cinderlite.datapath.extents import estimate_image_bytes
from cinderlite.db import jobs as jobs_db
from cinderlite.db import uploads as uploads_db
from cinderlite.db.database import Database, SyncUnit
from cinderlite.db.models import Image, Job, VolumeType
from cinderlite.db.volumes import VolumeRepository, VolumeRow
from cinderlite.domain import volumes as volume_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    InvalidRequest,
    InvalidVolume,
    NotFound,
    PolicyNotAuthorized,
    ServiceError,
    StorageFull,
    TooLarge,
    VolumeNotFound,
)
from cinderlite.domain.identity import Caller
from cinderlite.domain.images import ImageStatus
from cinderlite.services import policy as rules
from cinderlite.services.policy import Policy
from cinderlite.storage.images.base import ImageDraft, ImageStore
from cinderlite.storage.volumes.base import VolumeBackend
from cinderlite.workers.runner import JobRunner

log = logging.getLogger("cinderlite.uploads")

GIB = 1 << 30
# Cinder image_utils: prefixes never copied from a volume's image metadata.
RESERVED_PREFIXES = ("os_glance", "img_signature", "signature_verified")
# The attributes of Glance's image schema (and the names Glance reserves): Cinder
# would hand such a key to Glance as the new image's own attribute, which Glance
# refuses (read-only, reserved, wrong type) or takes (id, owner, visibility,
# tags). They are never custom properties, so they are not passed on (beyond
# Cinder: a volume's metadata does not choose the new image's id or owner).
GLANCE_ATTRIBUTES = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk",
    "container_format", "disk_format", "created_at", "updated_at", "tags", "direct_url",
    "locations", "self", "file", "schema", "stores", "location", "deleted", "deleted_at",
})
RAW_FORMATS = ("raw", "iso")


class ImageCompressionNotAllowed(InvalidRequest):
    def __init__(self) -> None:
        super().__init__("Image compression upload disallowed, but container_format is compressed")


class ImageConversionNotAllowed(InvalidRequest):
    def __init__(self, image_id: str, disk_format: str) -> None:
        super().__init__(
            f"Image Conversion disallowed for image {image_id}: Image conversion is disabled. "
            f"The image disk_format you have requested is '{disk_format}', but your volume "
            "can only be uploaded in the format 'raw'."
        )


class VolumeDataNotIso(InvalidRequest):
    def __init__(self, volume_id: str) -> None:
        super().__init__(f"Volume {volume_id} does not hold an ISO 9660 image.")


@dataclass(frozen=True)
class UploadRequest:
    image_name: str
    disk_format: str = "raw"
    container_format: str | None = "bare"
    force: bool = False
    # None: not sent (v2, v3 at 3.0), so Glance's defaults apply (shared, False).
    visibility: str | None = None
    protected: bool | None = None


@dataclass(frozen=True)
class UploadStarted:
    volume: VolumeRow  # as loaded before the status change
    volume_type: VolumeType | None
    image: Image
    job_id: str


def image_properties(
    image_meta: dict[str, Any], *, core: tuple[str, ...], reserved: tuple[str, ...],
    top_level: set[str],
) -> dict[str, str]:
    """The new image's custom properties: the volume's image metadata as Cinder
    passes it on (volume/api.py _merge_volume_image_meta, then
    image_utils.filter_out_reserved_namespaces_metadata).

    Nothing when `core` (glance_core_properties) is empty; else every key but
    the core ones, those the upload request sets itself (`top_level`), those in
    a reserved namespace (Glance's three and `reserved`), and Glance's own
    attributes (GLANCE_ATTRIBUTES).
    """
    if not core:
        return {}
    prefixes = RESERVED_PREFIXES + tuple(reserved)
    return {
        str(k): v if isinstance(v, str) else str(v)
        for k, v in (image_meta or {}).items()
        if k not in core and k not in top_level and k not in GLANCE_ATTRIBUTES
        and not str(k).startswith(prefixes)
    }


@dataclass(frozen=True)
class UploadLimits:
    """The settings the upload start reads; the wiring makes them from Settings."""

    # Cinder allow_compression_on_image_upload.
    allow_compression: bool
    # Glance image_size_cap: streamed (raw/iso) uploads larger than this are refused.
    image_size_cap: int
    # Cinder glance_core_properties / reserved_image_namespaces.
    core_properties: tuple[str, ...]
    reserved_namespaces: tuple[str, ...]


class NoUploadRunning(NotFound):
    def __init__(self, volume_id: str) -> None:
        super().__init__(f"No upload is running for volume {volume_id}.")


class UploadService:
    """os-volume_upload_image's API side: start an upload, report its progress."""

    def __init__(
        self, *, database: Database, repo: VolumeRepository, backend: VolumeBackend,
        store: ImageStore, policy: Policy, jobs: JobRunner, limits: UploadLimits,
    ) -> None:
        self._database = database
        self._repo = repo
        self._backend = backend
        self._store = store
        self._policy = policy
        self._jobs = jobs
        self._limits = limits

    async def start(
        self, caller: Caller, volume_id: str, req: UploadRequest, *, request_id: str | None,
    ) -> UploadStarted:
        """Check rules, move the volume to `uploading`, make the queued image, enqueue the job.

        Order as Cinder (cinder/api/contrib/volume_actions.py _volume_upload_image,
        cinder/volume/api.py copy_volume_to_image): 404 volume -> 403 upload -> 403 public ->
        400 status -> 403 reading the image metadata -> 400 compression; then (beyond
        Cinder) the space check. The
        checks after the status CAS raise inside its transaction, so nothing is
        left behind (Cinder leaves a queued image on the compression error).

        The database sees two primary-key reads (inline on SQLite) and one short
        write transaction, the CAS and both INSERTs, handed to its thread in one
        go. Nothing slow (policy checks, the size estimate reading the volume
        file's extents, statvfs) runs while the write lock is held.
        """
        volume, volume_type = await self._repo.get_with_type(volume_id)
        if volume is None or not self._policy.allows(
            caller, rules.VOLUME_GET, {"project_id": volume.project_id}
        ):
            # Cinder hides volumes the caller may not see: 404, not 403.
            raise VolumeNotFound(volume_id)
        self._authorize(caller, req)
        rule = volume_rules.START_UPLOAD_FORCED if req.force else volume_rules.START_UPLOAD
        # Decided before the transaction, raised in it once the status CAS has won.
        refusal = self._metadata_refusal(caller, volume) or await self._refusal(volume, req)
        now = utcnow()
        image = self._new_image(caller, volume, req, now)
        params: dict[str, Any] = {
            "disk_format": req.disk_format, "container_format": req.container_format,
            "image_project_id": caller.project_id,
        }
        store = self._store.as_user(caller.auth_token)
        if store.remote_catalog:
            # The worker sends the data to the cloud's Glance as the caller (with its
            # own service token beside, so a token that expires meanwhile still
            # works): the job keeps the token, as Cinder's RPC message does.
            params["auth_token"] = caller.auth_token
        job = jobs_db.new_job(
            kind=uploads_db.UPLOAD_KIND, volume_id=volume_id, image_id=image.id,
            project_id=volume.project_id, user_id=caller.user_id, request_id=request_id,
            params=params, now=now, bytes_total=volume.size * GIB,
        )

        def write(db: SyncUnit) -> None:
            # The CAS first: on SQLite the transaction holds the write lock from BEGIN.
            if not uploads_db.mark_uploading(db, volume_id=volume_id, rule=rule, now=now):
                wanted = "available or in-use" if req.force else "available"
                raise InvalidVolume(f"Volume {volume_id} status must be {wanted}")
            # Raising from here on rolls the status change back with the transaction.
            if refusal is not None:
                raise refusal
            uploads_db.add_image_and_job(db, image=image, job=job)

        registered = refusal is None and store.remote_catalog
        if registered:
            # The image's record where the store keeps records (a cloud's Glance,
            # created with the caller's token as Cinder does); the file store's
            # record is the row written below. Made before the write
            # unit (no call to another service while it holds the write lock), and
            # deleted again when that unit refuses the upload. A crash between the
            # two leaves a queued image in Glance that nothing refers to.
            await store.register(ImageDraft(
                id=image.id, name=image.name or "", disk_format=image.disk_format,
                container_format=image.container_format, visibility=req.visibility,
                protected=req.protected, properties=dict(image.properties or {}),
            ))
        try:
            await self._database.run(write)
        except BaseException:
            if registered:
                try:
                    await store.delete(image.id)
                except Exception:
                    log.exception("could not delete image %s after a refused upload", image.id)
            raise
        self._jobs.wake()
        return UploadStarted(volume=volume, volume_type=volume_type, image=image, job_id=job.id)

    async def progress(
        self, caller: Caller, volume_id: str
    ) -> tuple[Job, tuple[int, int, float] | None]:
        """The volume's unfinished upload job and, when this process runs it, its live
        (bytes done, bytes total, seconds elapsed); NoUploadRunning when none runs."""
        volume = await self._repo.get(volume_id)
        if volume is None or not self._policy.allows(
            caller, rules.VOLUME_GET, {"project_id": volume.project_id}
        ):
            raise VolumeNotFound(volume_id)
        async with self._database.read() as db:
            job = await uploads_db.unfinished_upload_for_volume(db, volume_id=volume_id)
        if job is None:
            raise NoUploadRunning(volume_id)
        return job, self._jobs.progress(job.id)

    def _authorize(self, caller: Caller, req: UploadRequest) -> None:
        self._policy.authorize(caller, rules.UPLOAD_IMAGE, {"project_id": caller.project_id})
        if not caller.project_id:
            # A system-scoped token has no project to own the image it would make.
            raise PolicyNotAuthorized(rules.UPLOAD_IMAGE)
        if req.visibility == "public":
            self._policy.authorize(
                caller, rules.UPLOAD_PUBLIC, {"project_id": caller.project_id}
            )

    def _metadata_refusal(self, caller: Caller, volume: VolumeRow) -> ServiceError | None:
        """Cinder reads the volume's image metadata to pass it on (when
        glance_core_properties is set) under the volume:get_volume_metadata rule,
        after the status change: a caller without it is refused there (403)."""
        if self._limits.core_properties and not self._policy.allows(
            caller, rules.VOLUME_GET_METADATA,
            {"project_id": volume.project_id, "user_id": volume.user_id},
        ):
            return PolicyNotAuthorized(rules.VOLUME_GET_METADATA)
        return None

    async def _refusal(self, volume: VolumeRow, req: UploadRequest) -> ServiceError | None:
        """What refuses this upload once its status CAS has won, if anything."""
        if req.container_format == "compressed" and not self._limits.allow_compression:
            return ImageCompressionNotAllowed()
        try:
            self._check_space(await self._estimate(volume.id, req), req, volume)
        except ServiceError as exc:
            return exc
        return None

    def _new_image(
        self, caller: Caller, volume: VolumeRow, req: UploadRequest, now: datetime
    ) -> Image:
        top_level = {"name", "disk_format", "container_format", "visibility", "protected"}
        return Image(
            id=str(uuid.uuid4()), name=req.image_name, owner=caller.project_id,
            status=ImageStatus.QUEUED.value, visibility=req.visibility or "shared",
            protected=bool(req.protected), os_hidden=False, disk_format=req.disk_format,
            container_format=req.container_format, min_disk=0, min_ram=0,
            properties=image_properties(
                volume.image_meta, core=self._limits.core_properties,
                reserved=self._limits.reserved_namespaces, top_level=top_level,
            ),
            tags=[], created_at=now, updated_at=now,
        )

    async def _estimate(self, volume_id: str, req: UploadRequest) -> int | None:
        """Store bytes the upload will need, or None when the volume has no data file."""
        try:
            return await asyncio.to_thread(
                estimate_image_bytes, self._backend.path(volume_id),
                qemu_format=qemu.qemu_format(req.disk_format),
                compressed=req.container_format == "compressed",
            )
        except FileNotFoundError:
            return None

    def _check_space(self, need: int | None, req: UploadRequest, volume: VolumeRow) -> None:
        """Refuse before the 202 what cannot fit, instead of failing half-way (beyond Cinder)."""
        if need is None:
            raise InvalidVolume(f"Volume {volume.id} has no data on this host")
        size = volume.size * GIB
        cap = self._limits.image_size_cap
        streamed = req.disk_format in RAW_FORMATS and req.container_format != "compressed"
        if streamed and size > cap:
            raise TooLarge(f"Image of {size} bytes exceeds the image size cap of {cap} bytes.")
        free = self._store.free_bytes()
        if need > free:
            raise StorageFull(
                f"Not enough space in the image store for this upload: it needs about "
                f"{need} bytes and {free} bytes are free."
            )


__all__ = [
    "ImageCompressionNotAllowed", "ImageConversionNotAllowed", "NoUploadRunning",
    "UploadLimits", "UploadRequest", "UploadService", "UploadStarted", "VolumeDataNotIso",
]
