"""Volume use cases: create (empty or from an image), read, update, delete, fill, recover.

Attach/detach/reset/extend live in services/volume_actions.py. Every status
change is a compare-and-swap in db/volumes.py; each write path says below what
a crash half-way leaves behind and how `recover` (run at start-up) mends it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cinderlite.datapath import inspect, qemu
from cinderlite.datapath.compress import gunzip_file
from cinderlite.datapath.hashing import Progress
from cinderlite.datapath.streams import run_blocking
from cinderlite.db import images as images_db
from cinderlite.db import volumes as volumes_db
from cinderlite.db.backups import RESTORE_JOB
from cinderlite.db.database import Database, Unit
from cinderlite.db.groups import GroupRepository
from cinderlite.db.models import Image, Volume, VolumeAttachment, VolumeType, detached
from cinderlite.db.volumes import VolumeRepository, VolumeRow
from cinderlite.domain import capacity, quotas
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    ConversionFailed,
    GroupNotFound,
    ImageUnacceptable,
    InvalidGroup,
    InvalidRequest,
    InvalidSnapshot,
    InvalidVolume,
    NotFound,
    PolicyNotAuthorized,
    ServiceError,
    StorageFull,
    VolumeNotFound,
)
from cinderlite.domain.filters import all_like, time_matches
from cinderlite.domain.identity import Caller
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.volumes import AttachStatus, VolumeStatus
from cinderlite.services import messages
from cinderlite.services import policy as P
from cinderlite.services.hosts import HostService
from cinderlite.services.policy import Policy, target
from cinderlite.services.quotas import QuotaService
from cinderlite.services.snapshots import SnapshotService
from cinderlite.storage.images.base import ImageStore
from cinderlite.storage.volumes.base import DataRef, VolumeBackend
from cinderlite.workers.runner import JobContext, JobRunner

log = logging.getLogger("cinderlite.volumes")

GiB = 1 << 30
# The keys volumes may be listed by and sorted on.
SORT_KEYS = frozenset(volumes_db.SORT_COLUMNS)
# Cinder IMAGE_ATTRIBUTES copied into volume_glance_metadata.
IMAGE_ATTRIBUTES = (
    "checksum", "container_format", "disk_format", "min_disk", "min_ram", "size",
)
# The job kinds that write a new volume: from an image, from a snapshot or volume.
FILL_JOB = "fill"
CLONE_JOB = "clone"
# Cinder's statuses a copy may be made from (flows/api/create_volume.py).
SNAPSHOT_PROCEED_STATUS = ("available",)
SOURCE_VOLUME_PROCEED_STATUS = ("available", "in-use")
DELETE_STATUS_MESSAGE = (
    "Volume status must be available or error or error_restoring or error_extending or "
    "error_managing and must not be migrating, attached, belong to a group, have snapshots, "
    "awaiting a transfer, or be disassociated from snapshots after volume transfer."
)
# Cinder's text when forced: no status condition, so an empty one.
FORCE_DELETE_MESSAGE = (
    "Volume  must not be migrating, attached, belong to a group, have snapshots, "
    "awaiting a transfer, or be disassociated from snapshots after volume transfer."
)


class ImageConversionNotAllowed(InvalidRequest):
    """Cinder's refusal to convert an image into a volume when conversion is off."""

    def __init__(self, image_id: str, disk_format: str) -> None:
        super().__init__(
            f"Image Conversion disallowed for image {image_id}: Image conversion is disabled. "
            "The volume type you have requested requires that the image it is being created "
            "from be in 'raw' format, but the image you are using has the disk_format "
            f"property '{disk_format}'. You must use an image with the disk_format property "
            "'raw' to create a volume of this type."
        )


@dataclass(frozen=True)
class VolumeLimits:
    """The settings the volume use cases read; the wiring makes them from Settings."""

    # Cinder's thin-provisioning rule (scheduler CapacityFilter).
    max_over_subscription_ratio: float
    reserved_percentage: int
    # How long a user message lives.
    message_ttl_seconds: int
    # Cinder image_conversion_disable / allow_compression_on_image_upload.
    image_conversion_disable: bool
    allow_compression_on_image_upload: bool
    # Sub-formats a VMDK may have to be read (Cinder vmdk_allowed_types).
    vmdk_allowed_types: tuple[str, ...]
    # qemu-img's resource limits (oslo.concurrency prlimit) for reading an image.
    qemu: qemu.QemuLimits


@dataclass(frozen=True)
class VolumeCreate:
    # None: the source snapshot's or volume's size (InvalidRequest without one).
    size: int | None
    name: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    volume_type: str | None = None
    availability_zone: str | None = None
    image_id: str | None = None
    snapshot_id: str | None = None
    source_volid: str | None = None
    # The generic volume group the volume is made in (3.13).
    group_id: str | None = None
    # The backup the volume is restored from (3.47; BackupService.create_volume).
    backup_id: str | None = None


@dataclass
class VolumeDetail:
    """What a volume view needs: the row, its type's name, its live attachments."""

    volume: Volume | VolumeRow
    type_name: str | None
    attachments: list[VolumeAttachment] = field(default_factory=list)


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, Any]
    metadata: dict[str, str] | None
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    all_tenants: bool = False
    project_id: str | None = None
    offset: int = 0
    # 3.4: matches against the image properties the volume was made with.
    glance_metadata: dict[str, str] | None = None
    # 3.34: field -> substring (LIKE %value%).
    like: dict[str, str] = field(default_factory=dict)
    # A filter on a field no volume here has a value in (migration_status).
    unmatched: bool = False
    # 3.60: created_at/updated_at -> {operator: time} (domain/filters.time_matches).
    times: dict[str, dict[str, datetime]] = field(default_factory=dict)


# The fields a like filter (`name~=`) may name.
LIKE_KEYS = frozenset({"name", "description", "status", "availability_zone"})


@dataclass(frozen=True)
class CopySource:
    """What a new volume is copied from: a snapshot or a volume, and its size in GiB;
    `volume` is the source volume (the snapshot's volume for a snapshot)."""

    ref: DataRef
    size: int
    volume: Volume | VolumeRow


def _never_scheduled(volume: Volume | VolumeRow) -> bool:
    """A volume the scheduler found no backend for (one with no host in Cinder,
    which a frozen backend does not hold): `_fail_scheduling` made it `error`
    in the unit that inserted it, stamping it with its creation time."""
    return volume.status == VolumeStatus.ERROR and volume.updated_at == volume.created_at


def _size_for(requested: int | None, source: CopySource | None) -> int:
    """Cinder's _extract_size: the source's size when none is asked, never less."""
    size = requested if requested else (source.size if source is not None else requested)
    if size is None or size <= 0:
        raise InvalidRequest(
            f"Invalid input received: Volume size '{size}' must be an integer and greater "
            "than 0"
        )
    if source is not None and size < source.size:
        if source.ref.kind == "snapshot":
            raise InvalidRequest(
                f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
                f"snapshot size {source.size}GB. They must be >= original snapshot size."
            )
        raise InvalidRequest(
            f"Invalid input received: Volume size '{size}'GB cannot be smaller than original "
            f"volume size  {source.size}GB. They must be >= original volume size."
        )
    return size


def zones_of_type(vtype: VolumeType | None) -> list[str] | None:
    """Cinder's extract_availability_zones_from_volume_type: the zones of the
    type's `RESKEY:availability_zones` extra spec, None when it has none."""
    specs = (vtype.extra_specs or {}) if vtype is not None else {}
    if "RESKEY:availability_zones" not in specs:
        return None
    return [z.strip() for z in str(specs["RESKEY:availability_zones"]).split(",") if z != ""]


def is_multiattach(vtype: VolumeType | None) -> bool:
    """Cinder's _is_multiattach: the type's extra spec `multiattach` is "<is> True"."""
    specs = (vtype.extra_specs or {}) if vtype is not None else {}
    return bool(specs.get("multiattach", "False") == "<is> True")



async def usable_image(
    db: Unit, caller: Caller, image_id: str, size_gib: int, *, vouched: bool = False
) -> Image:
    """The image a new volume is made from; 400s as Cinder's create flow. `vouched`:
    the image store's own catalog (a cloud's Glance) just showed it to the caller."""
    image = await volumes_db.get_image(db, image_id=image_id)
    if image is None or not (vouched or await image_visible(db, caller, image)):
        raise InvalidRequest("Invalid imageRef provided.")
    if image.status != ImageStatus.ACTIVE:
        raise InvalidRequest(f"Invalid input received: Image {image_id} is not active.")
    image_gib = -(-int(image.size or 0) // GiB)
    if image_gib > size_gib:
        raise InvalidRequest(
            f"Invalid input received: Size of specified image {image_gib}GB is larger than "
            f"volume size {size_gib}GB."
        )
    if size_gib < (image.min_disk or 0):
        raise InvalidRequest(
            f"Invalid input received: Volume size {size_gib}GB cannot be smaller than the "
            f"image minDisk size {image.min_disk}GB."
        )
    virtual = image.virtual_size
    if virtual is None and image.disk_format in ("raw", "iso"):
        virtual = image.size
    if virtual is not None:
        virtual_gib = -(-int(virtual) // GiB)
        if virtual_gib > size_gib:
            raise InvalidRequest(
                f"Image virtual size is {virtual_gib}GB and doesn't fit in a volume of size "
                f"{size_gib}GB."
            )
    return image


async def image_visible(db: Unit, caller: Caller, image: Image) -> bool:
    if caller.is_admin or image.owner == caller.project_id:
        return True
    if image.visibility in ("public", "community"):
        return True
    if image.visibility == "shared":
        return await volumes_db.is_image_member(
            db, image_id=image.id, project_id=caller.project_id
        )
    return False


def _meta_matches(meta: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    return all(str(meta.get(k)) == str(v) and k in meta for k, v in wanted.items())


def _fill_failure_detail(exc: BaseException) -> messages.Detail:
    """Cinder's detail for a failed copy of an image to a volume."""
    if isinstance(exc, ImageUnacceptable | ImageConversionNotAllowed):
        return messages.IMAGE_FORMAT_UNACCEPTABLE
    if isinstance(exc, StorageFull):
        return messages.IMAGE_FROM_VOLUME_OVER_QUOTA  # "exceeds available space"
    return messages.UNKNOWN_ERROR


# A qcow2/vmdk/... file is a little larger than the data it holds: room allowed
# beyond the volume's size when a compressed image unpacks to one.
UNPACK_METADATA_ALLOWANCE = 64 << 20


def glance_metadata(image: Image) -> dict[str, str]:
    """Cinder's volume_glance_metadata (volume_utils.get_volume_image_metadata): the
    image's custom properties (those not in Glance's image schema; null values
    skipped), then over them image_id, image_name (when the name is not empty)
    and the IMAGE_ATTRIBUTES that are not null; every value as text."""
    meta: dict[str, str] = {
        str(key): str(value)
        for key, value in (image.properties or {}).items() if value is not None
    }
    meta["image_id"] = image.id
    if image.name:
        meta["image_name"] = image.name
    for key in IMAGE_ATTRIBUTES:
        value = getattr(image, key)
        if value is not None:
            meta[key] = str(value)
    return meta


class VolumeService:
    """Volume use cases (create, read, list, update, delete, fill, recover) and the
    volume types they use. Every status change is a compare-and-swap in
    db/volumes.py taking its transition from domain/volumes.py."""

    def __init__(
        self, *, database: Database, repo: VolumeRepository, backend: VolumeBackend,
        store: ImageStore, policy: Policy, jobs: JobRunner, limits: VolumeLimits,
        snapshots: SnapshotService, hosts: HostService, groups: GroupRepository | None = None,
        quotas: QuotaService | None = None,
    ) -> None:
        self._database = database
        self._hosts = hosts
        # Every create checks and takes its quota in its write unit (None: unlimited).
        self.quotas = quotas
        self._groups = groups
        # Called with the volume after a clone job ends it (a group made from a
        # source settles then: services/groups.py); set by the wiring.
        self.member_settled: Callable[[Any], Awaitable[None]] | None = None
        self._snapshots = snapshots
        self._repo = repo
        self._backend = backend
        self._store = store
        self._policy = policy
        self._jobs = jobs
        self._limits = limits

    @property
    def repo(self) -> VolumeRepository:
        return self._repo

    async def load(self, caller: Caller, volume_id: str) -> VolumeDetail:
        """The volume as `caller` may see it; VolumeNotFound when missing or not allowed.

        One query for a detached volume (row + type name), two when attached.
        """
        found = await self._repo.get_with_type_name(volume_id)
        if found is None:
            raise VolumeNotFound(volume_id)
        volume, type_name = found
        # Cinder API.get: a failed volume:get policy looks like a missing volume.
        if not self._policy.allows(caller, P.VOLUME_GET, target(volume)):
            raise VolumeNotFound(volume_id)
        attached: list[VolumeAttachment] = []
        if volume.attach_status != AttachStatus.DETACHED:
            async with self._database.read() as db:
                attached = await volumes_db.attachments(db, volume_id=volume_id)
        return VolumeDetail(volume, type_name, attached)

    async def list_types(self, caller: Caller) -> list[VolumeType]:
        """The volume types `caller` may see: public ones, every one for admins."""
        async with self._database.read() as db:
            return await volumes_db.list_types(db, public_only=not caller.is_admin)

    async def get_type(self, caller: Caller, type_id: str) -> VolumeType:
        async with self._database.read() as db:
            vtype = await volumes_db.get_type(db, type_id=type_id)
        if vtype is None or (not vtype.is_public and not caller.is_admin):
            raise NotFound(f"Volume type {type_id} could not be found.")
        return vtype

    # --- create ---------------------------------------------------------------------

    async def create(
        self, caller: Caller, req: VolumeCreate, *, request_id: str,
        fill: Callable[[Unit, Volume], Awaitable[None]] | None = None,
    ) -> VolumeDetail:
        """Create a volume; returns it in status `creating` (the 202 body).

        Without an image the sparse file is made at once and the volume becomes
        `available` (or `error`). With an image a durable "fill" job is queued in
        the same transaction as the row. Crash after the insert commits: the row
        stays `creating`; `recover` turns it into `error` unless a fill job for it
        is still queued or running (the job runner resumes that one).

        `fill`, when given, queues the job that writes the volume's bytes (a
        restore from a backup) in the same transaction as the row: the volume
        stays `creating` until that job ends it.
        """
        self._policy.authorize(caller, P.VOLUME_CREATE, {"project_id": caller.project_id})
        if not caller.project_id:
            # A system-scoped token has no project to own the volume.
            raise PolicyNotAuthorized(P.VOLUME_CREATE)
        # Cinder's API checks the zone (400); its scheduler then finds no backend
        # while the volume service is disabled, frozen or down (the volume fails below).
        zone, scheduled = await self._hosts.place(req.availability_zone)
        now = utcnow()
        source = await self._copy_source(caller, req)
        size = _size_for(req.size, source)
        # Reads first, in their own session; the write transaction then starts with
        # its INSERT. (On SQLite a transaction that reads and then writes fails at
        # once with "database is locked" when another writer committed in between;
        # one that writes first waits for the lock instead.)
        # A cloud's Glance showed the image to the caller: its copy in the images
        # table needs no visibility check of ours.
        vouched = req.image_id is not None and self._store.remote_catalog
        if vouched:
            await self._mirror_image(caller, str(req.image_id))
        async with self._database.read() as db:
            vtype: VolumeType | None
            if req.volume_type is not None:
                vtype = await volumes_db.find_type(db, name_or_id=req.volume_type)
                if vtype is None:
                    raise NotFound(f"Volume type with name {req.volume_type} could not be found.")
                if not vtype.is_public and not caller.is_admin and not await (
                    volumes_db.type_granted(db, type_id=vtype.id, project_id=caller.project_id)
                ):
                    raise NotFound(f"Volume type {req.volume_type} could not be found.")
            elif source is not None and source.volume.volume_type_id is not None:
                # Cinder: a copy keeps its source's type unless told otherwise.
                vtype = await volumes_db.get_type(db, type_id=source.volume.volume_type_id)
            else:
                # The project's default type (3.62), else __DEFAULT__.
                vtype = await volumes_db.project_default_type(db, project_id=caller.project_id)
                if vtype is None:
                    vtype = await volumes_db.find_type_by_name(
                        db, name=volumes_db.DEFAULT_TYPE_NAME
                    )
            image: Image | None = None
            if req.image_id is not None:
                image = await usable_image(db, caller, req.image_id, size, vouched=vouched)
            type_name = vtype.name if vtype is not None else volumes_db.DEFAULT_TYPE_NAME
            demand = quotas.volume_demand(size, type_name)
        if vtype is None:
            vtype = await self.default_type()
        zone = await self._zone_of_type(vtype, req.availability_zone, zone)
        # Cinder's CapabilitiesFilter: a type asking for what the backend does not
        # have finds no backend (the volume fails below, with a user message).
        scheduled = scheduled and await self._hosts.satisfies(vtype.extra_specs)
        async with self._database.write() as db:
            # Quota first (Cinder checks it before its scheduler looks for room), once,
            # under the project's quota lock; then the backend's room.
            if self.quotas is not None:
                await self.quotas.reserve(db, caller.project_id, demand, volume_size=size)
            if scheduled:
                await self.check_capacity(db, size)
            if req.group_id is not None:
                await self._check_group(db, caller, req.group_id, vtype)
            volume = Volume(
                id=str(uuid.uuid4()), project_id=caller.project_id, user_id=caller.user_id,
                name=req.name, description=req.description, size=size,
                status=VolumeStatus.CREATING, previous_status=None,
                attach_status=AttachStatus.DETACHED,
                volume_type_id=vtype.id, availability_zone=zone, bootable=False,
                meta=dict(req.metadata), image_meta={},
                source_image_id=image.id if image else None, created_at=now, updated_at=None,
                snapshot_id=req.snapshot_id, source_volid=req.source_volid,
                group_id=req.group_id, multiattach=is_multiattach(vtype),
            )
            await volumes_db.add(db, volume)
            detail = VolumeDetail(detached(volume), vtype.name)
            if not scheduled:
                await self._fail_scheduling(db, volume, request_id=request_id, now=now)
                return detail
            if fill is not None:
                await fill(db, volume)
            elif source is not None:
                await self._jobs.enqueue(
                    db, kind=CLONE_JOB, volume_id=volume.id, image_id=None,
                    project_id=caller.project_id, user_id=caller.user_id, request_id=request_id,
                    params={"kind": source.ref.kind, "id": source.ref.id},
                    now=now, bytes_total=source.size * GiB,
                )
            elif image is not None:
                await self._jobs.enqueue(
                    db, kind=FILL_JOB, volume_id=volume.id, image_id=image.id,
                    project_id=caller.project_id, user_id=caller.user_id, request_id=request_id,
                    params=self._fill_params(caller, image), now=now,
                    bytes_total=int(image.size or 0),
                )
        if image is not None or source is not None or fill is not None:
            self._jobs.wake()
            return detail
        await self._make_empty(volume, request_id=request_id)
        return detail

    async def _zone_of_type(
        self, vtype: VolumeType, requested: str | None, placed: str
    ) -> str:
        """Cinder's _extract_availability_zones for a type whose extra spec
        `RESKEY:availability_zones` lists the zones it may be made in (3.52 made
        the key reserved): the asked zone must be one of them; without one, the
        placed zone when it is one, else the first of them the services have."""
        type_zones = zones_of_type(vtype)
        if type_zones is None:
            return placed
        served = {z for z, _ in await self._hosts.zones()}
        safe = [z for z in type_zones if z in served]
        if not safe:
            raise InvalidRequest(
                f"Volume type is only supported in these availability zones: {type_zones}"
            )
        if requested is not None:
            if requested not in safe:
                raise InvalidRequest(f"Availability zone '{requested}' is invalid.")
            return requested
        return placed if placed in safe else safe[0]

    async def zone_for(self, requested: str | None) -> str:
        """The zone a new volume or group goes to: the one asked, else the default
        (InvalidRequest for a zone no volume service is in)."""
        zone, _ = await self._hosts.place(requested)
        return zone

    async def _check_group(
        self, db: Unit, caller: Caller, group_id: str, vtype: VolumeType
    ) -> None:
        """A volume made in a group (3.13): the group, locked, as the caller may see
        it (404), taking the volume's type (Cinder's InvalidInput) and not being
        deleted (its members are then going)."""
        group = await self._groups.lock(db, group_id) if self._groups is not None else None
        if group is None or not self._policy.allows(
            caller, P.GROUP_GET, {"project_id": group.project_id}
        ):
            raise GroupNotFound(group_id)
        assert self._groups is not None
        if vtype.id not in (await self._groups.volume_types([group_id]))[group_id]:
            raise InvalidRequest(
                f"Invalid input received: Invalid volume_type provided: {vtype.id} (requested "
                "type must be supported by this group)."
            )
        if group.status not in ("available", "in-use"):
            raise InvalidGroup(
                f"Group status must be available or in-use, but current status is: "
                f"{group.status}."
            )

    async def add_row(self, db: Unit, volume: Volume) -> None:
        """Insert a volume row in the caller's unit (a group's copies, made with their jobs)."""
        await volumes_db.add(db, volume)

    async def _copy_source(self, caller: Caller, req: VolumeCreate) -> CopySource | None:
        """The snapshot or volume the new one is copied from, as the caller may see it
        (404 otherwise) and in a status a copy may start from (400 otherwise)."""
        if req.snapshot_id is not None:
            snapshot = await self._snapshots.get(caller, req.snapshot_id)
            if snapshot.status not in SNAPSHOT_PROCEED_STATUS:
                raise InvalidSnapshot(
                    "Originating snapshot status must be one of "
                    f"'{', '.join(SNAPSHOT_PROCEED_STATUS)}' values"
                )
            volume = await self._repo.get(snapshot.volume_id)
            if volume is None:
                raise VolumeNotFound(snapshot.volume_id)
            return CopySource(DataRef("snapshot", snapshot.id), snapshot.volume_size, volume)
        if req.source_volid is not None:
            source = (await self.load(caller, req.source_volid)).volume
            if source.status not in SOURCE_VOLUME_PROCEED_STATUS:
                raise InvalidVolume(
                    "Originating source volume status must be one of "
                    f"'{', '.join(SOURCE_VOLUME_PROCEED_STATUS)}' values"
                )
            return CopySource(DataRef("volume", source.id), source.size, source)
        return None

    async def _fail_scheduling(
        self, db: Unit, volume: Volume, *, request_id: str, now: datetime,
    ) -> None:
        """Cinder's scheduler finding no backend: the volume (inserted in the same
        unit, so a crash leaves neither) is `error`, with a user message."""
        await volumes_db.transition(db, volume_id=volume.id, rule=vol.FAIL_CREATE, now=now)
        await messages.record(
            db, project_id=volume.project_id, resource_uuid=volume.id,
            action=messages.SCHEDULE_ALLOCATE_VOLUME, detail=messages.NO_BACKEND_AVAILABLE,
            now=now, ttl_seconds=self._limits.message_ttl_seconds, request_id=request_id,
            reason="No valid backend was found. No weighed backends available",
        )

    async def check_capacity(self, db: Unit, requested_gib: int) -> None:
        """NoValidBackend (refused before anything is written) when the volumes' file
        system cannot take `requested_gib` more, by Cinder's thin-provisioning rule."""
        total, free = await asyncio.to_thread(self._backend.capacity)
        capacity.check_fits(requested_gib, capacity.Capacity(
            total_bytes=total, free_bytes=free,
            provisioned_gib=await volumes_db.provisioned_gib(db),
            max_over_subscription_ratio=self._limits.max_over_subscription_ratio,
            reserved_percentage=self._limits.reserved_percentage,
        ))

    async def default_type(self) -> VolumeType:
        """The `__DEFAULT__` volume type, created on first use (and by `recover`)."""
        return await self._repo.default_type(now=utcnow())

    async def _make_empty(self, volume: Volume, *, request_id: str) -> None:
        """The volume's sparse file, then `available`; on failure `error` with Cinder's
        "create volume from backend storage: Driver failed to create the volume." message."""
        try:
            await self._backend.create(volume.id, volume.size * GiB)
        except (OSError, StorageFull) as exc:
            log.warning("could not create the data file of volume %s: %s", volume.id, exc)
            async with self._database.write() as db:
                await volumes_db.transition(
                    db, volume_id=volume.id, rule=vol.FAIL_CREATE, now=utcnow(),
                )
                await messages.record(
                    db, project_id=volume.project_id, resource_uuid=volume.id,
                    action=messages.CREATE_VOLUME_FROM_BACKEND,
                    detail=messages.DRIVER_FAILED_CREATE, now=utcnow(),
                    ttl_seconds=self._limits.message_ttl_seconds, request_id=request_id,
                    reason=str(exc),
                )
            return
        async with self._database.write() as db:
            await volumes_db.transition(
                db, volume_id=volume.id, rule=vol.FINISH_CREATE, now=utcnow(),
            )

    # --- list, update -----------------------------------------------------------------

    async def list_volumes(self, caller: Caller, query: ListQuery) -> list[VolumeDetail]:
        self._policy.authorize(caller, P.VOLUME_GET_ALL, {"project_id": caller.project_id})
        # cinderclient sends all_tenants=1 on every name lookup: honour it for admins
        # only and silently ignore it for everyone else, as Cinder does.
        everyone = query.all_tenants and self._policy.allows(
            caller, P.GET_ALL_TENANTS, {"project_id": caller.project_id}
        )
        project_id: str | None = caller.project_id
        if everyone:
            project_id = query.project_id
        if query.unmatched:
            return []
        # The metadata, image metadata and like filters are applied here, so with
        # them the page is cut in Python.
        cut_here = bool(query.metadata or query.glance_metadata or query.like or query.times)
        found = await self._repo.list(
            project_id=project_id, filters=query.filters, sort=query.sort,
            limit=None if cut_here else query.limit, offset=0 if cut_here else query.offset,
            marker_id=query.marker,
        )
        if found is None:
            raise NotFound(f"Marker {query.marker} could not be found.")
        rows: Sequence[tuple[VolumeRow, str | None]] = found
        if cut_here:
            rows = [r for r in rows
                    if _meta_matches(r[0].meta, query.metadata or {})
                    and _meta_matches(r[0].image_meta or {}, query.glance_metadata or {})
                    and all_like(r[0], query.like)
                    and all(time_matches(getattr(r[0], k), ops) for k, ops in query.times.items())]
            end = None if query.limit is None else query.offset + query.limit
            rows = rows[query.offset:end]
        attached: dict[str, list[VolumeAttachment]] = {}
        attached_ids = [v.id for v, _ in rows if v.attach_status != AttachStatus.DETACHED]
        if attached_ids:
            async with self._database.read() as db:
                attached = await volumes_db.attachments_for(db, volume_ids=attached_ids)
        return [VolumeDetail(v, t, attached.get(v.id, [])) for v, t in rows]

    async def count_volumes(self, caller: Caller, query: ListQuery) -> int:
        """How many volumes match `query`'s filters, whatever its page (3.45
        `with_count`: Cinder's calculate_resource_count)."""
        whole = replace(query, limit=None, offset=0, marker=None)
        return len(await self.list_volumes(caller, whole))

    async def summary(
        self, caller: Caller, *, all_tenants: bool
    ) -> tuple[int, int, dict[str, list[str]]]:
        """(count, total GiB, distinct metadata values per key) of the caller's
        volumes, or of every project's for an admin asking `all_tenants` (Cinder's
        get_volume_summary; it applies no other filter)."""
        self._policy.authorize(caller, P.VOLUME_GET_ALL, {"project_id": caller.project_id})
        everyone = all_tenants and caller.is_admin
        found = await self._repo.list(
            project_id=None if everyone else caller.project_id, filters={},
            sort=[("created_at", "desc")], limit=None, marker_id=None,
        )
        rows = [v for v, _ in (found or [])]
        meta: dict[str, list[str]] = {}
        for v in rows:
            for key, value in (v.meta or {}).items():
                values = meta.setdefault(str(key), [])
                if str(value) not in values:
                    values.append(str(value))
        return len(rows), sum(v.size for v in rows), meta

    async def update(
        self, caller: Caller, volume_id: str, changes: Mapping[str, Any]
    ) -> VolumeDetail:
        """Change name/description/metadata (metadata is replaced as a whole, as Cinder).

        One UPDATE statement: a crash leaves either the old or the new values.
        """
        current = await self.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_UPDATE, target(current.volume))
        values = dict(changes)
        if "metadata" in values:
            values["meta"] = dict(values.pop("metadata") or {})
        if values:
            values["updated_at"] = utcnow()
            async with self._database.write() as db:
                await volumes_db.update_fields(db, volume_id=volume_id, values=values)
        return await self.load(caller, volume_id)

    # --- delete -----------------------------------------------------------------------

    async def delete(
        self, caller: Caller, volume_id: str, *, cascade: bool = False, force: bool = False,
        force_policy: str = P.VOLUME_FORCE_DELETE,
    ) -> None:
        """`deleting` (CAS from a deletable, detached status), then data file, then row.

        Crash after the CAS commits: the row stays `deleting`; `recover` finishes
        the delete. Crash after the file is gone: the same, removing a missing
        file is not an error.

        With `force` (3.23, os-force_delete; `force_policy`) any status but
        `deleting` will do, as Cinder's forced delete; the volume must still be
        detached.
        """
        current = await self.load(caller, volume_id)
        self._policy.authorize(caller, P.VOLUME_DELETE, target(current.volume))
        if force:
            self._policy.authorize(caller, force_policy, target(current.volume))
        if not _never_scheduled(current.volume):
            await self._hosts.assert_not_frozen()
        async with self._database.write() as db:
            # The row lock first: a snapshot being added now either committed
            # (and is seen below) or waits and then finds the volume deleting.
            locked = await self._snapshots.lock_volume(db, volume_id)
            # A member of a group goes with its group only (Cinder: group_id None).
            ok = locked is not None and not locked.group_id
            ok = ok and await self._snapshots.volume_deletable(db, volume_id, cascade=cascade)
            ok = ok and await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.FORCE_DELETE if force else vol.BEGIN_DELETE,
                now=utcnow(), expected_attach_status=[AttachStatus.DETACHED],
            )
            if not ok:
                # Rolls the cascade's snapshot changes back with the unit.
                raise InvalidVolume(FORCE_DELETE_MESSAGE if force else DELETE_STATUS_MESSAGE)
        await self.finish_delete(volume_id)

    async def finish_delete(self, volume_id: str) -> None:
        """Its `deleting` snapshots (a cascade), then its bytes, then its row."""
        try:
            if not await self._snapshots.finish_deletes_of(volume_id):
                raise OSError("a snapshot of the volume could not be removed")
            await self._backend.delete(volume_id)
        except OSError as exc:
            log.warning("could not remove the data of volume %s: %s", volume_id, exc)
            async with self._database.write() as db:
                await volumes_db.transition(
                    db, volume_id=volume_id, rule=vol.FAIL_DELETE, now=utcnow(),
                )
            return
        async with self._database.write() as db:
            await volumes_db.remove(db, volume_id=volume_id, expected_status=VolumeStatus.DELETING)

    async def _mirror_image(self, caller: Caller, image_id: str) -> None:
        """Copy the record of an image in the store's own catalog (a cloud's Glance,
        asked with the caller's token, so with Glance's visibility rules) into the
        images table, where the create flow and the fill job read it; an image
        Glance does not show the caller is refused as Cinder does."""
        record = await self._store.as_user(caller.auth_token).lookup(image_id)
        if record is None:
            raise InvalidRequest("Invalid imageRef provided.")
        now = utcnow()
        async with self._database.write() as db:
            await images_db.mirror(
                db, id=record.id, name=record.name, owner=record.owner, status=record.status,
                visibility=record.visibility, protected=record.protected, os_hidden=False,
                disk_format=record.disk_format, container_format=record.container_format,
                size=record.size, virtual_size=record.virtual_size, checksum=record.checksum,
                os_hash_algo=record.os_hash_algo, os_hash_value=record.os_hash_value,
                min_disk=record.min_disk, min_ram=record.min_ram,
                properties=dict(record.properties), tags=[], created_at=now, updated_at=now,
            )

    def _fill_params(self, caller: Caller, image: Image) -> dict[str, Any]:
        params: dict[str, Any] = {"disk_format": image.disk_format}
        if self._store.remote_catalog:
            # The fill job downloads from the cloud's Glance as the caller (see uploads.py).
            params["auth_token"] = caller.auth_token
        return params

    # --- fill from an image (job kind "fill") ---------------------------------------

    async def run_fill(self, ctx: Any) -> None:
        """Write the job's image into its `creating` volume, then make it `available`.

        Idempotent: a re-run after a crash rewrites the whole volume from the
        start; a volume no longer `creating` (finished, deleted) is left alone.
        Any failure sets the volume to `error`, records a user message saying why
        (Cinder's "copy image to volume" messages) and re-raises (the job is failed).
        """
        job = ctx.job
        async with self._database.read() as db:
            volume = await self._repo.get(job.volume_id, unit=db)
            image = await volumes_db.get_image(db, image_id=job.image_id) if job.image_id else None
        if volume is None or volume.status != VolumeStatus.CREATING:
            return
        store = self._store.as_user(str((job.params or {}).get("auth_token") or ""))
        try:
            if (image is None or image.status != ImageStatus.ACTIVE
                    or not await store.exists(image.id)):
                raise InvalidRequest(f"Image {job.image_id} is not available.")
            await self._write_image(ctx, volume, image, store)
            meta = glance_metadata(image)
        except Exception as exc:
            if isinstance(exc, ServiceError):
                log.warning("volume %s from image %s failed: %s", job.volume_id, job.image_id, exc)
            else:
                log.exception("filling volume %s from image %s failed", job.volume_id, job.image_id)
            async with self._database.write() as db:
                await ctx.fence(db)
                await volumes_db.transition(
                    db, volume_id=volume.id, rule=vol.FAIL_CREATE, now=utcnow(),
                )
                await messages.record(
                    db, project_id=volume.project_id, resource_uuid=volume.id,
                    action=messages.COPY_IMAGE_TO_VOLUME, detail=_fill_failure_detail(exc),
                    now=utcnow(), ttl_seconds=self._limits.message_ttl_seconds,
                    request_id=job.request_id, reason=str(exc),
                )
            raise
        async with self._database.write() as db:
            await ctx.fence(db)
            await volumes_db.transition(
                db, volume_id=volume.id, rule=vol.FINISH_CREATE, now=utcnow(),
                values={"bootable": True, "image_meta": meta},
            )

    # --- copy of a snapshot or a volume (job kind "clone") ---------------------------

    async def run_clone(self, ctx: JobContext) -> None:
        """Copy the job's snapshot or volume into its `creating` volume, then make it
        `available` with the bootable flag and image metadata Cinder gives a copy
        (`_copied_attributes`).

        Idempotent like `run_fill`: the copy lands under its name only when whole
        (storage/volumes), a re-run copies anew, and a volume no longer `creating`
        is left alone. A source gone meanwhile, or no space, fails the volume to
        `error` with a user message (the job is failed).
        """
        job = ctx.job
        source = DataRef(job.params["kind"], str(job.params["id"]))
        async with self._database.read() as db:
            volume = await self._repo.get(job.volume_id, unit=db)
        if volume is None or volume.status != VolumeStatus.CREATING:
            return
        copied = await self._copied_attributes(source)
        try:
            if copied is None or not await self._backend.has(source):
                raise InvalidRequest(f"The {source.kind} {source.id} is no longer available.")
            progress = Progress(volume.size * GiB)
            await ctx.follow(progress, self._backend.copy(
                source, DataRef("volume", volume.id), volume.size * GiB, progress, ctx.guard,
            ))
        except Exception as exc:
            log.warning("volume %s from %s %s failed: %s", volume.id, source.kind, source.id, exc)
            async with self._database.write() as db:
                await ctx.fence(db)
                await volumes_db.transition(
                    db, volume_id=volume.id, rule=vol.FAIL_CREATE, now=utcnow(),
                )
                await messages.record(
                    db, project_id=volume.project_id, resource_uuid=volume.id,
                    action=messages.CREATE_VOLUME_FROM_BACKEND,
                    detail=messages.DRIVER_FAILED_CREATE, now=utcnow(),
                    ttl_seconds=self._limits.message_ttl_seconds, request_id=job.request_id,
                    reason=str(exc),
                )
            await self._settled(volume)
            raise
        async with self._database.write() as db:
            await ctx.fence(db)
            done = await volumes_db.transition(
                db, volume_id=volume.id, rule=vol.FINISH_CREATE, now=utcnow(),
                values={"bootable": copied[0], "image_meta": copied[1]},
            )
        if not done:
            # Deleted while the copy ran: its delete may have come before the rename.
            await self._backend.delete(volume.id)
        await self._settled(volume)

    async def _settled(self, volume: VolumeRow) -> None:
        if self.member_settled is not None and volume.group_id:
            await self.member_settled(volume)

    async def _copied_attributes(self, source: DataRef) -> tuple[bool, dict[str, Any]] | None:
        """The bootable flag and image metadata of a copy of `source`, as Cinder's
        create flow gives them: a copy is bootable when the volume whose bytes it
        copies (a snapshot's volume) is bootable now, and only then gets image
        metadata: the source volume's, or what the snapshot kept when it was
        taken. None when the source is gone."""
        snapshot = None
        volume_id = source.id
        if source.kind == "snapshot":
            snapshot = await self._snapshots.find(source.id)
            if snapshot is None:
                return None
            volume_id = snapshot.volume_id
        origin = await self._repo.get(volume_id)
        if origin is None:
            return None
        if not origin.bootable:
            return False, {}
        kept = snapshot.image_meta if snapshot is not None else origin.image_meta
        return True, dict(kept or {})

    async def write_image(self, ctx: Any, volume: VolumeRow, image: Image) -> None:
        """`_write_image` for the other services that write an image into a volume
        (os-reimage): the same unpacking, inspection and conversion."""
        await self._write_image(ctx, volume, image)

    async def _write_image(
        self, ctx: Any, volume: VolumeRow, image: Image, store: ImageStore | None = None
    ) -> None:
        """Unwrap (gzip), inspect, then copy or convert the image into the volume.

        The image file is opened once; the inspection reads that open file and
        qemu-img is handed the same one (/proc/self/fd/N), so the bytes checked
        are the bytes converted, whatever the image row says meanwhile. Nothing
        but the format inspector reads them before they pass (`inspect.check_source`).
        """
        size_bytes = volume.size * GiB
        disk_format = image.disk_format or "raw"
        src_format = qemu.qemu_format(disk_format)
        if src_format != "raw" and self._limits.image_conversion_disable:
            raise ImageConversionNotAllowed(image.id, disk_format)
        store = store or self._store
        # The committed file itself, or (a cloud's Glance) a checked download that
        # goes when the block ends: the descriptor keeps its bytes readable.
        async with store.local_copy(image.id) as path:
            fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
        try:
            if image.container_format == "compressed":
                if not self._limits.allow_compression_on_image_upload:
                    raise ImageUnacceptable(
                        image.id,
                        "Image compression disallowed, but container_format is compressed.",
                    )
                limit = size_bytes + (0 if src_format == "raw" else UNPACK_METADATA_ALLOWANCE)
                # Never committed: the unpacked file goes when the block ends, its
                # bytes stay readable through the descriptor until it is closed.
                async with self._store.staging(image.id) as scratch:
                    await run_blocking(
                        gunzip_file, fd, scratch.path, limit=limit, image_id=image.id,
                        stop=threading.Event(),
                    )
                    unpacked = await asyncio.to_thread(os.open, scratch.path, os.O_RDONLY)
                    os.close(fd)
                    fd = unpacked
            checked = await asyncio.to_thread(
                inspect.check_source, fd, disk_format, image_id=image.id,
                vmdk_allowed_types=self._limits.vmdk_allowed_types,
            )
            if src_format == "raw":
                await self._copy_raw(ctx, volume, fd, size_bytes)
            else:
                await self._convert_to_volume(ctx, volume, image, fd, src_format, checked)
        finally:
            os.close(fd)

    async def _copy_raw(self, ctx: Any, volume: VolumeRow, fd: int, size_bytes: int) -> None:
        """Raw data is copied as it is (no tool reads it): only the image file's data
        extents, in the kernel (or shared by a reflink where the file system can),
        so its holes stay holes (the image store leaves all-zero blocks unwritten);
        the volume's file is replaced by the whole, fsynced copy (storage/volumes
        `fill`)."""
        total = (await asyncio.to_thread(os.fstat, fd)).st_size
        if total > size_bytes:
            raise ConversionFailed("Image data does not fit in the volume.")
        progress = Progress(total)
        ctx.report(0, total)
        # /proc/self/fd/N opens this same file (even an unpacked one already unlinked).
        await ctx.follow(progress, self._backend.fill(
            volume.id, Path(f"/proc/self/fd/{fd}"), size_bytes, progress, ctx.guard,
        ))
        ctx.report(total, total)

    async def _convert_to_volume(
        self, ctx: Any, volume: VolumeRow, image: Image, fd: int, src_format: str,
        checked: inspect.CheckedSource,
    ) -> None:
        size_bytes = volume.size * GiB
        src = Path(f"/proc/self/fd/{fd}")
        # qemu-img's own reading of the header agrees with the inspector's: no
        # backing or data file, a VMDK that is its own single extent.
        info = await qemu.info(src, src_format, limits=self._limits.qemu, pass_fds=(fd,))
        qemu.check_source_info(
            info, src, image_id=image.id, vmdk_allowed_types=self._limits.vmdk_allowed_types
        )
        virtual = max(info.virtual_size, checked.virtual_size or 0)
        if virtual > size_bytes:
            raise ConversionFailed(
                f"Image virtual size is {-(-virtual // GiB)}GB and doesn't fit in a "
                f"volume of size {volume.size}GB."
            )
        ctx.report(0, info.virtual_size)
        # qemu-img writes into a new (sparse, all-zero, private) file beside the
        # volume's, skipping the source's zero areas; the whole file then replaces
        # the volume's data, once the job's guard let it (a worker that lost the
        # job never overwrites what another made). The source format is always
        # explicit. Cache mode writeback: qemu-img flushes (fdatasync) before it
        # exits (its default for convert, unsafe, never flushes); the backend
        # fsyncs again before the rename.
        async with self._backend.replacing(volume.id, size_bytes, ctx.guard) as dst:
            args = qemu.convert_args(
                src, dst, src_format=src_format, dst_format="raw", target_is_zero=True,
                cache="writeback",
            )
            await qemu.run(
                args,
                limits=replace(self._limits.qemu, address_space=0),
                pass_fds=(fd,),
            )
        ctx.report(info.virtual_size, info.virtual_size)

    # --- start-up recovery ------------------------------------------------------------

    async def recover(self) -> None:
        """Ensure `__DEFAULT__` exists; finish interrupted deletes; fail orphaned creates."""
        await self.default_type()
        async with self._database.write() as db:
            deleting = await volumes_db.ids_with_status(db, statuses=[VolumeStatus.DELETING])
            creating = await volumes_db.ids_with_status(db, statuses=[VolumeStatus.CREATING])
            for volume_id in creating:
                if not await volumes_db.has_unfinished_job(
                    db, volume_id=volume_id, kinds=(FILL_JOB, CLONE_JOB, RESTORE_JOB)
                ):
                    await volumes_db.transition(
                        db, volume_id=volume_id, rule=vol.FAIL_CREATE, now=utcnow(),
                    )
                    log.warning("volume %s was left creating by a crash: now error", volume_id)
        for volume_id in deleting:
            log.info("finishing the interrupted delete of volume %s", volume_id)
            await self.finish_delete(volume_id)


__all__ = [
    "LIKE_KEYS", "SORT_KEYS", "ImageConversionNotAllowed", "ListQuery", "VolumeCreate",
    "VolumeDetail", "VolumeLimits", "VolumeService",
]
