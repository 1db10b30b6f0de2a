"""Snapshot use cases: create (a durable copy job), read, list, update, delete,
metadata, the admin actions, and start-up recovery.

A snapshot's bytes are a point-in-time copy of its volume's (a reflink where the
file system has them, else a sparse copy: storage/volumes). What a crash leaves:

- create: the row is inserted `creating` with its job in one transaction. Crash
  before the copy is renamed into place: the job is taken up again (its lease
  runs out) and copies anew; a `creating` snapshot with no job left is failed
  by `recover`. The copy is written under a temporary name, so no half copy
  is ever taken for a snapshot.
- delete: `deleting` first (compare-and-swap), then the bytes, then the row.
  Crash in between: `recover` finishes it. Bytes that cannot be removed leave
  the snapshot in `error_deleting`, from which a delete may be retried.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from cinderlite.datapath.hashing import Progress
from cinderlite.db.models import Snapshot, Volume, detached
from cinderlite.db.snapshots import FILTER_KEYS, SNAPSHOT_JOB, SORT, SnapshotRepository
from cinderlite.domain import quotas
from cinderlite.domain import snapshots as snap
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    InvalidRequest,
    InvalidSnapshot,
    InvalidVolume,
    NotFound,
    PolicyNotAuthorized,
    ServiceError,
    SnapshotNotFound,
    VolumeNotFound,
)
from cinderlite.domain.filters import all_like
from cinderlite.domain.identity import Caller
from cinderlite.domain.snapshots import SnapshotStatus
from cinderlite.domain.transitions import Transition
from cinderlite.domain.volumes import VolumeStatus
from cinderlite.services import messages
from cinderlite.services import policy as P
from cinderlite.services.hosts import HostService
from cinderlite.services.policy import Policy, target
from cinderlite.services.quotas import QuotaService
from cinderlite.services.units import Unit, Units
from cinderlite.storage.volumes.base import DataRef, VolumeBackend
from cinderlite.workers.runner import JobContext, JobRunner

log = logging.getLogger("cinderlite.snapshots")

GiB = 1 << 30
SORT_KEYS = frozenset(SORT.columns)


@dataclass(frozen=True)
class SnapshotCreate:
    volume_id: str
    name: str | None = None
    description: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    force: bool = False


@dataclass(frozen=True)
class SnapshotQuery:
    filters: dict[str, Any]
    metadata: dict[str, str] | None
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    all_tenants: bool = False
    project_id: str | None = None
    offset: int = 0
    # 3.34: field -> substring (LIKE %value%).
    like: dict[str, str] = field(default_factory=dict)
    # A filter no snapshot here matches (3.65 consumes_quota=false).
    unmatched: bool = False




class SnapshotService:
    """Snapshots of volumes, with Cinder's statuses, messages and policies."""

    def __init__(
        self, *, units: Units, repo: SnapshotRepository, backend: VolumeBackend,
        policy: Policy, jobs: JobRunner, message_ttl_seconds: int, hosts: HostService,
    ) -> None:
        self._hosts = hosts
        self._units = units
        self._repo = repo
        self._backend = backend
        self._policy = policy
        self._jobs = jobs
        self._message_ttl = message_ttl_seconds
        # Called with a group snapshot's id when one of its snapshots' copy ended
        # (services/group_snapshots.py settles it); set by the wiring.
        self.member_settled: Callable[[str], Awaitable[None]] | None = None
        # Every create takes its quota in its write unit (None: unlimited); set by the wiring.
        self.quotas: QuotaService | None = None

    # --- read -------------------------------------------------------------------------

    async def get(self, caller: Caller, snapshot_id: str) -> Snapshot:
        """The snapshot as `caller` may see it; SnapshotNotFound when missing or hidden."""
        found = await self._repo.get(snapshot_id)
        if found is None or not self._policy.allows(caller, P.SNAPSHOT_GET, target(found)):
            raise SnapshotNotFound(snapshot_id)
        return found

    async def find(self, snapshot_id: str) -> Snapshot | None:
        """The snapshot, whoever asks (for the system's own jobs)."""
        return await self._repo.get(snapshot_id)

    async def list_snapshots(self, caller: Caller, query: SnapshotQuery) -> list[Snapshot]:
        self._policy.authorize(caller, P.SNAPSHOT_GET_ALL, {"project_id": caller.project_id})
        everyone = query.all_tenants and self._policy.allows(
            caller, P.GET_ALL_TENANTS, {"project_id": caller.project_id}
        )
        project_id: str | None = query.project_id if everyone else caller.project_id
        if query.unmatched:
            return []
        filters = {k: v for k, v in query.filters.items() if k in FILTER_KEYS}
        # The metadata and like filters are applied here, so with them the page is
        # cut here too.
        cut_here = bool(query.metadata or query.like)
        found = await self._repo.page(
            project_id=project_id, filters=filters, sort=query.sort,
            limit=None if cut_here else query.limit, offset=0 if cut_here else query.offset,
            marker_id=query.marker,
        )
        if found is None:
            # Cinder reads the marker as a snapshot: an unknown one is that 404.
            raise SnapshotNotFound(str(query.marker))
        if cut_here:
            wanted = query.metadata or {}
            found = [s for s in found if all(
                k in (s.meta or {}) and str(s.meta[k]) == str(v) for k, v in wanted.items()
            ) and all_like(s, query.like)]
            end = None if query.limit is None else query.offset + query.limit
            found = found[query.offset:end]
        return found

    async def count_snapshots(self, caller: Caller, query: SnapshotQuery) -> int:
        """How many snapshots match `query`'s filters, whatever its page (3.45
        `with_count`: Cinder's calculate_resource_count)."""
        whole = replace(query, limit=None, offset=0, marker=None)
        return len(await self.list_snapshots(caller, whole))

    async def latest_for_volume(self, volume_id: str) -> Snapshot | None:
        """The volume's newest snapshot (Cinder get_latest_snapshot), if any."""
        async with self._units.read() as db:
            found = await self._repo.for_volume(db, volume_id)
        return max(found, key=lambda s: (s.created_at, s.id), default=None)

    async def set_restoring(self, unit: Any, snapshot_id: str, restoring: bool) -> bool:
        """`available` -> `restoring` (a revert begins) or back, in the caller's unit."""
        rule = snap.BEGIN_RESTORE if restoring else snap.FINISH_RESTORE
        return await self._repo.transition(unit, snapshot_id, rule, now=utcnow())

    async def end_restores(self, unit: Any) -> None:
        """Start-up: a revert a crash interrupted leaves its snapshot `available`."""
        for snapshot_id in await self._repo.ids_with_status(unit, [SnapshotStatus.RESTORING]):
            await self._repo.transition(unit, snapshot_id, snap.FINISH_RESTORE, now=utcnow())

    # --- create -----------------------------------------------------------------------

    async def create(self, caller: Caller, req: SnapshotCreate, *, request_id: str) -> Snapshot:
        """Insert the snapshot `creating` and its copy job, under the volume's row lock
        (so a concurrent delete of the volume either sees it or runs first)."""
        now = utcnow()
        async with self._units.write() as db:
            if self.quotas is not None:
                await self.quotas.reserve_for_volume(
                    db, req.volume_id, lambda t, size: quotas.snapshot_demand(size, t))
            volume = await self._repo.lock_volume(db, req.volume_id)
            if volume is None or not self._policy.allows(
                caller, P.VOLUME_GET, {"project_id": volume.project_id}
            ):
                raise VolumeNotFound(req.volume_id)
            self._policy.authorize(caller, P.SNAPSHOT_CREATE, {"project_id": volume.project_id})
            if not caller.project_id:
                raise PolicyNotAuthorized(P.SNAPSHOT_CREATE)
            await self._hosts.assert_not_frozen()
            _check_snapshottable(volume, force=req.force)
            row = Snapshot(
                id=str(uuid.uuid4()), project_id=volume.project_id, user_id=caller.user_id,
                volume_id=volume.id, name=req.name, description=req.description,
                status=SnapshotStatus.CREATING, progress="0%", volume_size=volume.size,
                meta=dict(req.metadata), created_at=now, updated_at=None,
                # Cinder copies the image metadata of a bootable volume only.
                image_meta=dict(volume.image_meta or {}) if volume.bootable else None,
            )
            await self._repo.add(db, row)
            await self._jobs.enqueue(
                db, kind=SNAPSHOT_JOB, volume_id=volume.id, image_id=None,
                project_id=volume.project_id, user_id=caller.user_id, request_id=request_id,
                params={"snapshot_id": row.id}, now=now, bytes_total=volume.size * GiB,
            )
            created = detached(row)
        self._jobs.wake()
        return created

    async def run_copy(self, ctx: JobContext) -> None:
        """The job: copy the volume's bytes into the snapshot, then `available`.

        Idempotent: a re-run copies anew. A snapshot no longer `creating` (force
        deleted meanwhile) is left alone, and a copy made for it is discarded.
        """
        job = ctx.job
        snapshot_id = str(job.params["snapshot_id"])
        found = await self._repo.get(snapshot_id)
        if found is None or found.status != SnapshotStatus.CREATING:
            return
        ref = DataRef("snapshot", snapshot_id)
        progress = Progress(found.volume_size * GiB)
        try:
            copied = await ctx.follow(progress, self._backend.copy(
                DataRef("volume", found.volume_id), ref, found.volume_size * GiB, progress,
                ctx.guard,
            ))
        except Exception as exc:
            if isinstance(exc, ServiceError | OSError):
                log.warning("snapshot %s of volume %s failed: %s", snapshot_id,
                            found.volume_id, exc)
            else:
                log.exception("snapshot %s of volume %s failed", snapshot_id, found.volume_id)
            async with self._units.write() as db:
                await ctx.fence(db)
                await self._repo.transition(db, snapshot_id, snap.FAIL_CREATE, now=utcnow())
                await messages.record(
                    db, project_id=found.project_id, resource_uuid=snapshot_id,
                    resource_type=messages.RESOURCE_SNAPSHOT, action=messages.SNAPSHOT_CREATE,
                    detail=messages.SNAPSHOT_CREATE_ERROR,
                    now=utcnow(), ttl_seconds=self._message_ttl, request_id=job.request_id,
                    reason=str(exc),
                )
            await self._settled(found)
            raise
        async with self._units.write() as db:
            await ctx.fence(db)
            done = await self._repo.transition(
                db, snapshot_id, snap.FINISH_CREATE, now=utcnow(), values={"progress": "100%"}
            )
        if not done:
            await self._backend.discard(ref)
            await self._settled(found)
            return
        await self._settled(found)
        log.info("snapshot %s of volume %s made by %s copy (%d bytes of data)",
                 snapshot_id, found.volume_id, copied.method, copied.bytes_copied)

    async def _settled(self, found: Snapshot) -> None:
        if self.member_settled is not None and found.group_snapshot_id:
            await self.member_settled(found.group_snapshot_id)

    # --- update, metadata -------------------------------------------------------------

    async def update(
        self, caller: Caller, snapshot_id: str, changes: Mapping[str, Any]
    ) -> Snapshot:
        current = await self.get(caller, snapshot_id)
        self._policy.authorize(caller, P.SNAPSHOT_UPDATE, target(current))
        values = dict(changes)
        if values:
            values["updated_at"] = utcnow()
            async with self._units.write() as db:
                await self._repo.update_fields(db, snapshot_id, values)
        return await self.get(caller, snapshot_id)

    async def get_metadata(self, caller: Caller, snapshot_id: str) -> dict[str, str]:
        current = await self.get(caller, snapshot_id)
        self._policy.authorize(caller, P.SNAPSHOT_GET_METADATA, target(current))
        return {str(k): str(v) for k, v in (current.meta or {}).items()}

    async def change_metadata(
        self, caller: Caller, snapshot_id: str, *, items: Mapping[str, str],
        replace: bool = False, delete_key: str | None = None,
    ) -> dict[str, str]:
        """Merge `items` (or replace the whole set, or delete one key) in one write."""
        current = await self.get(caller, snapshot_id)
        rule = P.SNAPSHOT_DELETE_METADATA if delete_key is not None else P.SNAPSHOT_UPDATE_METADATA
        self._policy.authorize(caller, rule, target(current))
        async with self._units.write() as db:
            row = await self._repo.get(snapshot_id, unit=db)
            if row is None:
                raise SnapshotNotFound(snapshot_id)
            meta = {} if replace else {str(k): str(v) for k, v in (row.meta or {}).items()}
            if delete_key is not None:
                if delete_key not in meta:
                    raise NotFound(
                        f"Snapshot {snapshot_id} has no metadata with key {delete_key}."
                    )
                del meta[delete_key]
            meta.update(items)
            await self._repo.update_fields(db, snapshot_id, {"meta": meta, "updated_at": utcnow()})
        return meta

    # --- delete -----------------------------------------------------------------------

    async def delete(self, caller: Caller, snapshot_id: str) -> None:
        current = await self.get(caller, snapshot_id)
        self._policy.authorize(caller, P.SNAPSHOT_DELETE, target(current))
        await self._hosts.assert_not_frozen()
        await self._delete(snapshot_id, snap.BEGIN_DELETE, current.status,
                           in_group=bool(current.group_snapshot_id))

    async def force_delete(self, caller: Caller, snapshot_id: str) -> None:
        current = await self.get(caller, snapshot_id)
        self._policy.authorize(caller, P.SNAPSHOT_FORCE_DELETE, target(current))
        await self._hosts.assert_not_frozen()
        await self._delete(snapshot_id, snap.FORCE_DELETE, current.status,
                           in_group=bool(current.group_snapshot_id))

    async def _delete(
        self, snapshot_id: str, rule: Transition[SnapshotStatus], status: str, *,
        in_group: bool,
    ) -> None:
        async with self._units.write() as db:
            # A snapshot of a group snapshot goes with its group snapshot only
            # (group_snapshot_id never changes once set).
            if in_group or not await self._repo.transition(db, snapshot_id, rule, now=utcnow()):
                # Cinder API.delete_snapshot's message (its force variant names
                # no status: only a vanished row fails it here).
                raise InvalidSnapshot(
                    "Snapshot status must be available or error and must not be part of a "
                    "group." if rule is snap.BEGIN_DELETE else
                    "Snapshot must not be part of a group."
                )
        await self.finish_delete(snapshot_id)

    async def finish_delete(self, snapshot_id: str) -> None:
        """Bytes, then row, for a snapshot already `deleting`."""
        try:
            await self._backend.discard(DataRef("snapshot", snapshot_id))
        except OSError as exc:
            log.warning("could not remove the data of snapshot %s: %s", snapshot_id, exc)
            async with self._units.write() as db:
                await self._repo.transition(db, snapshot_id, snap.FAIL_DELETE, now=utcnow())
            return
        async with self._units.write() as db:
            await self._repo.remove(db, snapshot_id, expected=SnapshotStatus.DELETING)

    async def volume_deletable(self, db: Unit, volume_id: str, *, cascade: bool) -> bool:
        """Inside the volume delete's unit, after the volume row is locked: without
        `cascade`, whether it has no snapshots; with it, whether every snapshot may
        go (available, error or deleting), all of which are then `deleting`."""
        rows = await self._repo.for_volume(db, volume_id)
        if not cascade:
            return not rows
        if any(r.status not in snap.CASCADE_DELETE.source or r.group_snapshot_id for r in rows):
            return False
        for row in rows:
            await self._repo.transition(db, row.id, snap.CASCADE_DELETE, now=utcnow())
        return True

    async def finish_deletes_of(self, volume_id: str) -> bool:
        """Finish the delete of each of the volume's `deleting` snapshots (a cascade,
        or one interrupted by a crash); True when the volume has none left."""
        async with self._units.read() as db:
            rows = await self._repo.for_volume(db, volume_id)
        for row in rows:
            if row.status == SnapshotStatus.DELETING:
                await self.finish_delete(row.id)
        async with self._units.read() as db:
            return await self._repo.count_for_volume(db, volume_id) == 0

    async def lock_volume(self, db: Unit, volume_id: str) -> Volume | None:
        return await self._repo.lock_volume(db, volume_id)

    # --- admin actions ----------------------------------------------------------------

    async def reset_status(self, caller: Caller, snapshot_id: str, status: str) -> None:
        current = await self.get(caller, snapshot_id)
        self._policy.authorize(caller, P.SNAPSHOT_RESET_STATUS, target(current))
        if status not in CINDER_STATUSES:
            raise InvalidRequest(
                f"Snapshot status: {status} is invalid, valid statuses are: {CINDER_STATUSES!r}."
            )
        try:
            wanted = SnapshotStatus(status)
        except ValueError:
            # Cinder's `deleted` and `updating`: statuses no snapshot here ever takes.
            raise InvalidRequest(f"Invalid snapshot: status {status} is not used here.") from None
        async with self._units.write() as db:
            await self._repo.update_fields(
                db, snapshot_id, {"status": wanted, "updated_at": utcnow()}
            )

    async def update_status(
        self, caller: Caller, snapshot_id: str, status: str, *, progress: str | None
    ) -> None:
        """os-update_snapshot_status (the hypervisor's report on a snapshot it made):
        only creating -> creating/available/error and deleting -> deleting/error_deleting,
        as Cinder's snapshot_actions allows."""
        current = await self.get(caller, snapshot_id)
        self._policy.authorize(caller, P.SNAPSHOT_UPDATE_STATUS, target(current))
        allowed = _REPORTABLE.get(current.status, ())
        if status not in allowed:
            raise InvalidSnapshot(
                f"Provided snapshot status {status} not allowed for snapshot with status "
                f"{current.status}."
            )
        values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
        if progress is not None:
            values["progress"] = progress
        async with self._units.write() as db:
            await self._repo.update_fields(db, snapshot_id, values)

    def shows_extended(self, caller: Caller, project_id: str, user_id: str) -> bool:
        """Whether `caller` sees the extended snapshot attributes (progress, project)
        of a snapshot of `project_id`."""
        return self._policy.allows(
            caller, P.SNAPSHOT_EXTENDED, {"project_id": project_id, "user_id": user_id}
        )

    # --- start-up recovery ------------------------------------------------------------

    async def recover(self) -> None:
        """Fail `creating` snapshots whose job is gone; finish interrupted deletes."""
        async with self._units.write() as db:
            creating = await self._repo.ids_with_status(db, [SnapshotStatus.CREATING])
            deleting = await self._repo.ids_with_status(db, [SnapshotStatus.DELETING])
            running = await self._repo.with_unfinished_jobs(db)
            for snapshot_id in creating:
                if snapshot_id not in running:
                    await self._repo.transition(db, snapshot_id, snap.FAIL_CREATE, now=utcnow())
                    log.warning("snapshot %s was left creating by a crash: now error",
                                snapshot_id)
        for snapshot_id in creating:
            if snapshot_id not in running:
                await self._backend.discard(DataRef("snapshot", snapshot_id))
        for snapshot_id in deleting:
            log.info("finishing the interrupted delete of snapshot %s", snapshot_id)
            await self.finish_delete(snapshot_id)


# Cinder's SnapshotStatus.ALL, in its order (the reset_status message lists them).
CINDER_STATUSES = (
    "error", "available", "creating", "deleting", "deleted", "updating", "error_deleting",
    "unmanaging", "backing-up", "restoring",
)
# cinder/api/contrib/snapshot_actions.py: the statuses a report may set, by current status.
_REPORTABLE: dict[str, tuple[str, ...]] = {
    SnapshotStatus.CREATING: ("creating", "available", "error"),
    SnapshotStatus.DELETING: ("deleting", "error_deleting"),
}


def _check_snapshottable(volume: Volume, *, force: bool) -> None:
    """Cinder API.create_snapshot_in_db's checks of the volume's status, in its order."""
    if volume.status == VolumeStatus.MAINTENANCE:
        raise InvalidVolume(
            "The snapshot cannot be created when the volume is in maintenance mode."
        )
    if volume.status == VolumeStatus.ERROR:
        raise InvalidVolume("The snapshot cannot be created when the volume is in error status.")
    allowed = ("available", "in-use") if force else ("available",)
    if volume.status not in allowed:
        raise InvalidVolume(
            f"Volume {volume.id} status must be {', '.join(allowed)}, but current status is: "
            f"{volume.status}."
        )


__all__ = ["SORT_KEYS", "SnapshotCreate", "SnapshotQuery", "SnapshotService"]
