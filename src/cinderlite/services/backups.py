"""Backup use cases: create (a durable "backup" job), read, list, restore (a
durable "restore" job), delete, the admin actions, and start-up recovery.

A backup's bytes are chunk files in the backup store (storage/backups,
docs/backups.md), apart from the volumes. What a crash leaves:

- create: the backup row (`creating`), the volume's (or the snapshot's) move
  to `backing-up` and the job are one transaction. The chunks are written into
  a staging directory renamed into place only when whole, and the backup is
  made `available` (and the volume given back its status) in one transaction
  after that. Crash in between: the job is taken up again and writes anew;
  a `creating` backup with no job left is failed by `recover`, which gives
  the volume or snapshot back its status and removes what was written.
- restore: the volume's move to `restoring-backup`, the backup's to
  `restoring` and the job are one transaction; the job writes the volume and
  then ends both in one more. Crash in between: the job runs again (a restore
  is idempotent); with no job left `recover` ends the backup `available` and
  the volume `error_restoring`, as Cinder's backup manager does on restart.
- delete: `deleting` first (compare-and-swap), then the bytes, then the row.
  Crash in between: `recover` finishes it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cinderlite.db import jobs as jobs_db
from cinderlite.db import volumes as volumes_db
from cinderlite.db.backups import (
    BACKUP_JOB,
    FILTER_KEYS,
    RESTORE_JOB,
    SORT,
    BackupRepository,
)
from cinderlite.db.models import Backup, Volume, detached
from cinderlite.db.snapshots import SnapshotRepository
from cinderlite.domain import backups as bk
from cinderlite.domain import quotas
from cinderlite.domain import snapshots as snap
from cinderlite.domain import volumes as vol
from cinderlite.domain.backups import BackupStatus
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    BackupCorrupt,
    BackupNotFound,
    InvalidBackup,
    InvalidRequest,
    InvalidSnapshot,
    InvalidVolume,
    NotFound,
    PolicyNotAuthorized,
    ServiceError,
    ServiceUnavailable,
    SnapshotNotFound,
    VolumeNotFound,
)
from cinderlite.domain.filters import all_like
from cinderlite.domain.identity import Caller
from cinderlite.domain.snapshots import SnapshotStatus
from cinderlite.domain.transitions import Transition
from cinderlite.domain.volumes import AttachStatus, VolumeStatus
from cinderlite.services import messages
from cinderlite.services import policy as P
from cinderlite.services.hosts import HostService
from cinderlite.services.policy import Policy, target
from cinderlite.services.units import Units
from cinderlite.services.volumes import VolumeCreate, VolumeDetail, VolumeService
from cinderlite.storage.backups.base import BackupStore
from cinderlite.storage.volumes.base import DataRef, VolumeBackend
from cinderlite.workers.runner import JobRunner

# A job's fence (workers/runner.JobContext.fence), first in its write units.
Fence = Callable[[Any], Awaitable[None]]

log = logging.getLogger("cinderlite.backups")

GiB = 1 << 30
SORT_KEYS = frozenset(SORT.columns)
# Cinder's BackupStatus.ALL, as its reset_status check lists the valid ones.
RESET_STATUSES = ["available", "error"]
# Cinder's backup manager, on a `creating` backup found at start-up.
RESTART_REASON = "incomplete backup reset on manager restart"
NO_PARENT = "No backups available to do an incremental backup."


@dataclass(frozen=True)
class BackupCreate:
    volume_id: str
    name: str | None = None
    description: str | None = None
    container: str | None = None
    incremental: bool = False
    force: bool = False
    snapshot_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    # 3.51: the zone whose backup service takes the backup (None: the volume's).
    availability_zone: str | None = None


# Cinder's ServiceNotFound when no backup service is enabled and up.
NO_BACKUP_SERVICE = "Service cinder-backup could not be found."


@dataclass(frozen=True)
class BackupQuery:
    filters: dict[str, Any]
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    all_tenants: bool = False
    project_id: str | None = None
    offset: int = 0
    # 3.34: field -> substring (LIKE %value%).
    like: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Restored:
    """The restore action's answer (Cinder's restore summary)."""

    backup_id: str
    volume_id: str
    volume_name: str | None




def _volume_return(volume: Volume) -> Transition[VolumeStatus]:
    """How a backed-up volume gets its status back (Cinder's previous_status)."""
    if volume.previous_status == VolumeStatus.IN_USE:
        return vol.FINISH_BACKUP_ATTACHED
    return vol.FINISH_BACKUP


class BackupService:
    """Volume backups with Cinder's statuses, rules, messages and policies."""

    def __init__(
        self, *, units: Units, repo: BackupRepository, snapshots: SnapshotRepository,
        volumes: VolumeService, backend: VolumeBackend, store: BackupStore, policy: Policy,
        jobs: JobRunner, message_ttl_seconds: int, hosts: HostService,
    ) -> None:
        self._hosts = hosts
        self._units = units
        self._repo = repo
        self._snapshots = snapshots
        self._volumes = volumes
        self._backend = backend
        self._store = store
        self._policy = policy
        self._jobs = jobs
        self._message_ttl = message_ttl_seconds

    # --- read -------------------------------------------------------------------------

    async def get(self, caller: Caller, backup_id: str) -> Backup:
        """The backup as `caller` may see it; BackupNotFound when missing or hidden."""
        found = await self._repo.get(backup_id)
        if found is None or not self._policy.allows(caller, P.BACKUP_GET, target(found)):
            raise BackupNotFound(backup_id)
        return found

    async def with_children(self, backup_ids: list[str]) -> set[str]:
        """Which of the backups have incremental backups depending on them."""
        return await self._repo.with_children(backup_ids)

    async def list_backups(self, caller: Caller, query: BackupQuery) -> list[Backup]:
        self._policy.authorize(caller, P.BACKUP_GET_ALL, {"project_id": caller.project_id})
        everyone = query.all_tenants and self._policy.allows(
            caller, P.GET_ALL_TENANTS, {"project_id": caller.project_id}
        )
        project_id: str | None = query.project_id if everyone else caller.project_id
        filters = {k: v for k, v in query.filters.items() if k in FILTER_KEYS}
        # Like filters are applied here, so with them the page is cut here too.
        cut_here = bool(query.like)
        found = await self._repo.page(
            project_id=project_id, filters=filters, sort=query.sort,
            limit=None if cut_here else query.limit, offset=0 if cut_here else query.offset,
            marker_id=query.marker,
        )
        if found is None:
            raise BackupNotFound(str(query.marker))
        if cut_here:
            found = [b for b in found if all_like(b, query.like)]
            end = None if query.limit is None else query.offset + query.limit
            found = found[query.offset:end]
        return found

    async def count_backups(self, caller: Caller, query: BackupQuery) -> int:
        """How many backups match `query`'s filters, whatever its page (3.45
        `with_count`: Cinder's calculate_resource_count)."""
        whole = replace(query, limit=None, offset=0, marker=None)
        return len(await self.list_backups(caller, whole))

    def shows_project(self, caller: Caller) -> bool:
        return self._policy.allows(caller, P.BACKUP_ATTRIBUTES, {"project_id": caller.project_id})

    # --- create -----------------------------------------------------------------------

    async def create(self, caller: Caller, req: BackupCreate, *, request_id: str) -> Backup:
        """Cinder backup API.create's checks in its order, then one unit under the
        volume's row lock: the volume (or snapshot) `backing-up`, the backup row
        `creating` (with its parent when incremental) and the job."""
        now = utcnow()
        async with self._units.write() as db:
            if self._volumes.quotas is not None:
                await self._volumes.quotas.reserve_for_volume(
                    db, req.volume_id, lambda _t, size: quotas.backup_demand(size))
            volume = await self._repo.lock_volume(db, req.volume_id)
            if volume is None or not self._policy.allows(
                caller, P.VOLUME_GET, {"project_id": volume.project_id}
            ):
                raise VolumeNotFound(req.volume_id)
            self._policy.authorize(caller, P.BACKUP_CREATE, {"project_id": volume.project_id})
            if not caller.project_id:
                raise PolicyNotAuthorized(P.BACKUP_CREATE)
            snapshot = None
            if req.snapshot_id is not None:
                snapshot = await self._snapshots.get(req.snapshot_id, unit=db)
                if snapshot is None or not self._policy.allows(
                    caller, P.SNAPSHOT_GET, {"project_id": snapshot.project_id}
                ):
                    raise SnapshotNotFound(req.snapshot_id)
                if snapshot.volume_id != volume.id:
                    raise InvalidVolume(
                        f"Volume {volume.id} does not match with snapshot.volume_id "
                        f"{snapshot.volume_id}."
                    )
                if snapshot.status != SnapshotStatus.AVAILABLE:
                    raise InvalidSnapshot(
                        "Snapshot to be backed up must be available, but the current status "
                        f'is "{snapshot.status}".'
                    )
            elif volume.status not in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
                raise InvalidVolume(
                    "Volume to be backed up must be available or in-use, but the current "
                    f'status is "{volume.status}".'
                )
            elif volume.status == VolumeStatus.IN_USE and not req.force:
                raise InvalidVolume("Backing up an in-use volume must use the force flag.")
            parent = None
            if req.incremental:
                parent = await self._parent_for(db, volume, caller, snapshot)
            zone = req.availability_zone or volume.availability_zone
            if not await self._hosts.backup_service_available(zone):
                raise ServiceUnavailable(NO_BACKUP_SERVICE)
            if snapshot is not None:
                await self._snapshots.transition(db, snapshot.id, snap.START_BACKUP, now=now)
            else:
                rule = vol.START_BACKUP_FORCED if req.force else vol.START_BACKUP
                await volumes_db.transition(
                    db, volume_id=volume.id, rule=rule, now=now,
                    values={"previous_status": volume.status},
                )
            backup_id = str(uuid.uuid4())
            row = Backup(
                id=backup_id, project_id=caller.project_id, user_id=caller.user_id,
                volume_id=volume.id, snapshot_id=req.snapshot_id,
                parent_id=parent.id if parent else None, name=req.name,
                description=req.description, status=BackupStatus.CREATING, fail_reason=None,
                size=volume.size, object_count=0,
                # The POSIX driver's container when none is given: <id[0:2]>/<id[2:4]>/<id>.
                # Shown only: the store's paths never come from it.
                container=req.container if req.container is not None
                else f"{backup_id[0:2]}/{backup_id[2:4]}/{backup_id}",
                availability_zone=zone, restore_volume_id=None,
                data_timestamp=snapshot.created_at if snapshot is not None else now,
                meta=dict(req.metadata), created_at=now, updated_at=None,
            )
            await self._repo.add(db, row)
            await jobs_db.enqueue(
                db, kind=BACKUP_JOB, volume_id=volume.id, image_id=None,
                project_id=caller.project_id, user_id=caller.user_id, request_id=request_id,
                params={"backup_id": backup_id}, now=now, bytes_total=volume.size * GiB,
            )
            created = detached(row)
        self._jobs.wake()
        return created

    async def _parent_for(
        self, db: Any, volume: Volume, caller: Caller, snapshot: Any
    ) -> Backup:
        """Cinder's rule: the available backup of the volume with the latest data
        timestamp (for a backup of a snapshot, one older than the snapshot). The
        parent row is touched so a concurrent delete of it waits or refuses."""
        rows = await self._repo.for_volume(db, volume.id, caller.project_id)
        if not rows:
            raise InvalidBackup(NO_PARENT)
        candidates = [
            b for b in rows if b.status == BackupStatus.AVAILABLE
            and (snapshot is None or b.data_timestamp < snapshot.created_at)
        ]
        if not candidates:
            raise InvalidBackup(NO_PARENT)
        parent = max(candidates, key=lambda b: (b.data_timestamp, b.created_at))
        # A no-op compare-and-swap: it holds the parent's row (and fails if it
        # has just started to be deleted).
        if not await self._repo.hold_available(db, parent.id):
            raise InvalidBackup(NO_PARENT)
        return parent

    async def run_backup(self, ctx: Any) -> None:
        """The job: write the chunks, then `available` and the volume's status back.

        Idempotent: a re-run writes anew. A backup no longer `creating` (force
        deleted or reset meanwhile) gets its bytes discarded; the volume is given
        its status back either way.
        """
        job = ctx.job
        backup_id = str(job.params["backup_id"])
        found = await self._repo.get(backup_id)
        if found is None or found.status != BackupStatus.CREATING:
            return
        source = (DataRef("snapshot", found.snapshot_id) if found.snapshot_id
                  else DataRef("volume", found.volume_id))
        total = found.size * GiB
        ctx.report(0, total)
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            ctx.report(done[0], total)

        try:
            parents = await self._repo.ancestors(found) if found.parent_id else []
            written = await self._store.write(
                backup_id, self._backend.data_path(source), total,
                parents=[p.id for p in parents], progress=progress,
                parent_size_bytes=parents[0].size * GiB if parents else None, guard=ctx.guard,
            )
        except Exception as exc:
            if isinstance(exc, ServiceError | OSError):
                log.warning("backup %s of volume %s failed: %s", backup_id, found.volume_id, exc)
            else:
                log.exception("backup %s of volume %s failed", backup_id, found.volume_id)
            await self._end_backup(found, None, reason=_reason(exc), request_id=job.request_id,
                                   fence=ctx.fence)
            raise
        ctx.report(total, total)
        if not await self._end_backup(found, written.object_count, reason=None,
                                      request_id=job.request_id, fence=ctx.fence):
            await self._store.discard(backup_id)
            return
        log.info("backup %s of volume %s made: %d chunk files", backup_id, found.volume_id,
                 written.object_count)

    async def _end_backup(
        self, backup: Backup, object_count: int | None, *, reason: str | None,
        request_id: str | None, fence: Fence | None = None,
    ) -> bool:
        """One unit: the backup `available` (object_count given) or `error` (with
        `reason` and Cinder's message), and its volume or snapshot given back its
        status. False when the backup was no longer `creating`. A job's `fence`
        comes first: a worker that lost the job ends nothing (LeaseLost)."""
        now = utcnow()
        async with self._units.write() as db:
            if fence is not None:
                await fence(db)
            if object_count is not None:
                ok = await self._repo.transition(
                    db, backup.id, bk.FINISH_CREATE, now=now,
                    values={"object_count": object_count},
                )
            else:
                ok = await self._repo.transition(
                    db, backup.id, bk.FAIL_CREATE, now=now,
                    values={"fail_reason": (reason or "")[:255]},
                )
                await messages.record(
                    db, project_id=backup.project_id, resource_uuid=backup.id,
                    resource_type=messages.RESOURCE_BACKUP, action=messages.BACKUP_CREATE,
                    detail=messages.BACKUP_CREATE_DRIVER_ERROR, now=now,
                    ttl_seconds=self._message_ttl, request_id=request_id, reason=reason,
                )
            await self._give_back(db, backup)
        return ok

    async def _give_back(self, db: Any, backup: Backup) -> None:
        now = utcnow()
        if backup.snapshot_id:
            await self._snapshots.transition(db, backup.snapshot_id, snap.FINISH_BACKUP, now=now)
            return
        volume = await self._repo.lock_volume(db, backup.volume_id)
        if volume is not None and volume.status == VolumeStatus.BACKING_UP:
            await volumes_db.transition(
                db, volume_id=volume.id, rule=_volume_return(volume), now=now,
                values={"previous_status": VolumeStatus.BACKING_UP.value},
            )

    # --- restore ----------------------------------------------------------------------

    async def restore(
        self, caller: Caller, backup_id: str, *, volume_id: str | None, name: str | None,
        request_id: str,
    ) -> Restored:
        """Cinder backup API.restore: to `volume_id`, or to a new volume of the
        backup's size; then one unit moving the volume to `restoring-backup`, the
        backup to `restoring` and queueing the job. Crash after a new volume is
        made and before that unit: the new volume stays, empty and available
        (as with Cinder)."""
        backup = await self.get(caller, backup_id)
        self._policy.authorize(caller, P.BACKUP_RESTORE, target(backup))
        if backup.status != BackupStatus.AVAILABLE:
            raise InvalidBackup("Backup status must be available")
        # Checked before a new volume is made (Cinder makes it first and leaves it).
        if not await self._hosts.backup_service_available(backup.availability_zone):
            raise NotFound(NO_BACKUP_SERVICE)
        fresh = volume_id is None
        if volume_id is None:
            made = await self._volumes.create(caller, VolumeCreate(
                size=backup.size, name=name if name is not None else f"restore_backup_{backup_id}",
                description="auto-created_from_restore_from_backup",
            ), request_id=request_id)
            volume_id = made.volume.id
            volume = (await self._volumes.load(caller, volume_id)).volume
            if volume.status == VolumeStatus.ERROR:
                raise InvalidVolume(
                    f"Error while creating volume {volume_id} for restoring backup {backup_id}."
                )
        else:
            volume = (await self._volumes.load(caller, volume_id)).volume
        if volume.status != VolumeStatus.AVAILABLE:
            raise InvalidVolume("Volume to be restored to must be available")
        if backup.size > volume.size:
            raise InvalidVolume(
                f"volume size {volume.size} is too small to restore backup of size "
                f"{backup.size}."
            )
        now = utcnow()
        async with self._units.write() as db:
            await self._repo.lock_volume(db, volume_id)
            if not await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.START_RESTORE, now=now,
                expected_attach_status=[AttachStatus.DETACHED],
            ):
                raise InvalidVolume("Volume to be restored to must be available")
            if not await self._repo.transition(
                db, backup_id, bk.BEGIN_RESTORE, now=now, values={"restore_volume_id": volume_id}
            ):
                raise InvalidBackup("Backup status must be available")
            await jobs_db.enqueue(
                db, kind=RESTORE_JOB, volume_id=volume_id, image_id=None,
                project_id=volume.project_id, user_id=caller.user_id, request_id=request_id,
                params={"backup_id": backup_id, "volume_id": volume_id, "fresh": fresh},
                now=now, bytes_total=backup.size * GiB,
            )
        self._jobs.wake()
        return Restored(backup_id, volume_id, volume.name)

    async def create_volume(
        self, caller: Caller, req: VolumeCreate, *, request_id: str
    ) -> VolumeDetail:
        """A new volume restored from a backup (`backup_id` in POST /volumes, 3.47):
        the volume `creating`, the backup `restoring` and the restore job in one
        transaction; the job ends the volume `available` (or `error`) and the
        backup `available`. A crash before it ends: the job resumes, or, without
        it, recovery makes the volume `error` and the backup `available`."""
        backup_id = str(req.backup_id)
        backup = await self.get(caller, backup_id)
        if backup.status != BackupStatus.AVAILABLE:
            raise InvalidBackup("Originating backup status must be one of 'available' values")
        size = req.size if req.size else backup.size
        if size < backup.size:
            raise InvalidRequest(
                f"Invalid input received: Volume size {size}GB cannot be smaller than the "
                f"backup size {backup.size}GB. It must be >= backup size."
            )

        async def restore_job(db: Any, volume: Volume) -> None:
            if not await self._repo.transition(
                db, backup_id, bk.BEGIN_RESTORE, now=utcnow(),
                values={"restore_volume_id": volume.id},
            ):
                raise InvalidBackup(
                    "Originating backup status must be one of 'available' values"
                )
            await jobs_db.enqueue(
                db, kind=RESTORE_JOB, volume_id=volume.id, image_id=None,
                project_id=volume.project_id, user_id=caller.user_id, request_id=request_id,
                params={"backup_id": backup_id, "volume_id": volume.id, "fresh": True,
                        "new_volume": True},
                now=utcnow(), bytes_total=backup.size * GiB,
            )

        return await self._volumes.create(
            caller, replace(req, size=size), request_id=request_id, fill=restore_job,
        )

    async def run_restore(self, ctx: Any) -> None:
        """The job: write the backup into the volume, verifying every chunk; then the
        volume `available` (or `error_restoring` with Cinder's message) and the
        backup `available`, in one unit. Idempotent: a re-run writes the same bytes."""
        job = ctx.job
        backup_id = str(job.params["backup_id"])
        volume_id = str(job.params["volume_id"])
        backup = await self._repo.get(backup_id)
        if backup is None or backup.status != BackupStatus.RESTORING:
            await self._end_restore(backup_id, volume_id, backup, failed=True, reason=None,
                                    request_id=job.request_id, fence=ctx.fence)
            return
        total = backup.size * GiB
        ctx.report(0, total)
        done = [0]

        def progress(n: int) -> None:
            done[0] += n
            ctx.report(done[0], total)

        stop = threading.Event()
        try:
            parents = await self._repo.ancestors(backup) if backup.parent_id else []

            async def restore(target: Path, fresh: bool) -> None:
                await self._store.restore(
                    backup_id, total, parents=[p.id for p in parents], target=target,
                    fresh=fresh, progress=progress, stop=stop, guard=ctx.guard,
                )

            if job.params.get("new_volume"):
                # A volume made from the backup: a new sparse file of its size, the
                # volume's data once whole (a re-run after a crash starts again
                # from an empty file; a worker that lost the job places nothing).
                volume = await self._volumes.repo.get(volume_id)
                if volume is None:
                    raise VolumeNotFound(volume_id)
                async with self._backend.replacing(
                    volume_id, volume.size * GiB, ctx.guard
                ) as target:
                    await restore(target, True)
            else:
                # Into an existing volume, in place: every write is guarded.
                await restore(self._backend.path(volume_id), bool(job.params.get("fresh")))
        except Exception as exc:
            stop.set()
            if isinstance(exc, ServiceError | OSError | ValueError):
                log.warning("restore of backup %s to volume %s failed: %s", backup_id,
                            volume_id, exc)
            else:
                log.exception("restore of backup %s to volume %s failed", backup_id, volume_id)
            await self._end_restore(backup_id, volume_id, backup, failed=True,
                                    reason=_reason(exc), request_id=job.request_id,
                                    fence=ctx.fence)
            if isinstance(exc, BackupCorrupt):
                return  # the outcome is recorded; the job itself did its work
            raise
        await self._end_restore(backup_id, volume_id, backup, failed=False, reason=None,
                                request_id=job.request_id, fence=ctx.fence)

    async def _end_restore(
        self, backup_id: str, volume_id: str, backup: Backup | None, *, failed: bool,
        reason: str | None, request_id: str | None, fence: Fence | None = None,
    ) -> None:
        now = utcnow()
        async with self._units.write() as db:
            if fence is not None:  # a job's: a worker that lost the job ends nothing
                await fence(db)
            await self._repo.transition(
                db, backup_id, bk.END_RESTORE, now=now, values={"restore_volume_id": None}
            )
            if failed:
                # A volume restored into ends `error_restoring`; one made from the
                # backup (still `creating`) ends `error`, as with Cinder.
                changed = await volumes_db.transition(
                    db, volume_id=volume_id, rule=vol.FAIL_RESTORE, now=now
                ) or await volumes_db.transition(
                    db, volume_id=volume_id, rule=vol.FAIL_CREATE, now=now
                )
                if changed and backup is not None:
                    await messages.record(
                        db, project_id=backup.project_id, resource_uuid=backup_id,
                        resource_type=messages.RESOURCE_BACKUP,
                        action=messages.BACKUP_RESTORE, detail=messages.BACKUP_RESTORE_ERROR,
                        now=now, ttl_seconds=self._message_ttl, request_id=request_id,
                        reason=reason,
                    )
                return
            volume = await self._repo.lock_volume(db, volume_id)
            values: dict[str, Any] = {}
            if volume is not None and backup is not None and backup.volume_id != volume_id:
                # Cinder records where a restored volume's data came from.
                values["meta"] = {**(volume.meta or {}), "src_backup_id": backup_id}
            if not await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.FINISH_RESTORE, now=now, values=values,
            ):
                await volumes_db.transition(
                    db, volume_id=volume_id, rule=vol.FINISH_CREATE, now=now, values=values,
                )

    # --- delete -----------------------------------------------------------------------

    async def delete(self, caller: Caller, backup_id: str, *, force: bool = False) -> None:
        """`deleting` (refused while incremental backups depend on it), then bytes,
        then row. The status change comes first and the children are counted after
        it, in the same unit: an incremental backup being made now holds the
        parent's row, so one of the two waits for the other and sees it."""
        current = await self.get(caller, backup_id)
        if force:
            self._policy.authorize(caller, P.BACKUP_FORCE_DELETE, target(current))
        self._policy.authorize(caller, P.BACKUP_DELETE, target(current))
        if not force and current.status not in bk.DELETABLE:
            raise InvalidBackup("Backup status must be available or error")
        rule = bk.FORCE_DELETE if force else bk.BEGIN_DELETE
        if not await self._hosts.backup_service_available(current.availability_zone):
            raise NotFound(NO_BACKUP_SERVICE)
        async with self._units.write() as db:
            if not await self._repo.transition(db, backup_id, rule, now=utcnow()):
                raise InvalidBackup("Backup status must be available or error")
            if await self._repo.count_children(db, backup_id):
                raise InvalidBackup("Incremental backups exist for this backup.")
            if current.status == BackupStatus.CREATING:
                await self._give_back(db, current)
        await self.finish_delete(backup_id)

    async def finish_delete(self, backup_id: str) -> None:
        """Bytes, then row, for a backup already `deleting`."""
        try:
            await self._store.discard(backup_id)
        except OSError as exc:
            log.warning("could not remove the data of backup %s: %s", backup_id, exc)
            row = await self._repo.get(backup_id)
            async with self._units.write() as db:
                await self._repo.transition(db, backup_id, bk.FAIL_DELETE, now=utcnow(),
                                            values={"fail_reason": str(exc)[:255]})
                if row is not None:
                    await messages.record(
                        db, project_id=row.project_id, resource_uuid=backup_id,
                        resource_type=messages.RESOURCE_BACKUP, action=messages.BACKUP_DELETE,
                        detail=messages.BACKUP_DELETE_DRIVER_ERROR, now=utcnow(),
                        ttl_seconds=self._message_ttl, reason=str(exc),
                    )
            return
        async with self._units.write() as db:
            await self._repo.remove(db, backup_id, expected=BackupStatus.DELETING)

    # --- update (3.9; metadata 3.43) ---------------------------------------------------

    async def update(
        self, caller: Caller, backup_id: str, changes: Mapping[str, Any]
    ) -> Backup:
        """Cinder backup API.update: `name`, `description` and (3.43) `metadata`,
        which replaces the backup's metadata; any status."""
        current = await self.get(caller, backup_id)
        self._policy.authorize(caller, P.BACKUP_UPDATE, target(current))
        values: dict[str, Any] = {"updated_at": utcnow()}
        if "name" in changes:
            values["name"] = changes["name"]
        if "description" in changes:
            values["description"] = changes["description"]
        if "metadata" in changes:
            values["meta"] = dict(changes["metadata"] or {})
        async with self._units.write() as db:
            if not await self._repo.update_fields(db, backup_id, values):
                raise BackupNotFound(backup_id)
        return await self.get(caller, backup_id)

    # --- admin actions ----------------------------------------------------------------

    async def reset_status(self, caller: Caller, backup_id: str, status: str) -> None:
        current = await self.get(caller, backup_id)
        self._policy.authorize(caller, P.BACKUP_RESET_STATUS, target(current))
        if status.lower() not in RESET_STATUSES:
            raise InvalidRequest(
                f"Backup status: {status} is invalid, valid statuses are: {RESET_STATUSES!r}."
            )
        async with self._units.write() as db:
            await self._repo.update_fields(
                db, backup_id, {"status": BackupStatus(status.lower()), "updated_at": utcnow()}
            )

    # --- start-up recovery ------------------------------------------------------------

    async def recover(self) -> None:
        """Fail `creating` backups whose job is gone (volume or snapshot given back
        its status, partial chunks removed); end `restoring` ones whose job is gone
        (the volume `error_restoring`); finish interrupted deletes."""
        async with self._units.write() as db:
            creating = await self._repo.with_status(db, [BackupStatus.CREATING])
            restoring = await self._repo.with_status(db, [BackupStatus.RESTORING])
            deleting = await self._repo.with_status(db, [BackupStatus.DELETING])
            backing_up = await self._repo.with_unfinished_jobs(db, BACKUP_JOB)
            restoring_jobs = await self._repo.with_unfinished_jobs(db, RESTORE_JOB)
        failed = [b for b in creating if b.id not in backing_up]
        for backup in failed:
            log.warning("backup %s was left creating by a crash: now error", backup.id)
            await self._store.discard(backup.id)
            await self._end_backup(backup, None, reason=RESTART_REASON, request_id=None)
        for backup in restoring:
            if backup.id in restoring_jobs or backup.restore_volume_id is None:
                continue
            log.warning("restore of backup %s was interrupted: volume %s error_restoring",
                        backup.id, backup.restore_volume_id)
            await self._end_restore(backup.id, backup.restore_volume_id, backup, failed=True,
                                    reason=RESTART_REASON, request_id=None)
        for backup in deleting:
            log.info("finishing the interrupted delete of backup %s", backup.id)
            await self.finish_delete(backup.id)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


__all__ = [
    "SORT_KEYS", "BackupCreate", "BackupQuery", "BackupService", "Restored",
]
