"""Group snapshots (3.14, 3.19): a snapshot of each volume of a group, taken with
the snapshot machinery (services/snapshots.py: one durable copy job per
snapshot), listed, shown, deleted and reset, with Cinder's policies and
messages (cinder/group/api.py, cinder/api/v3/group_snapshots.py).

What a crash leaves:

- create: one transaction inserts the group snapshot `creating`, a `creating`
  snapshot of each member volume and one copy job per snapshot. Each job, when
  its snapshot ends, settles the group snapshot (`settle`): `available` once
  every snapshot is, `error` when one failed. After a crash the jobs resume
  (or `SnapshotService.recover` fails the snapshots left without one), and
  `recover` settles what is left `creating`.
- delete: one transaction moves the group snapshot and its snapshots to
  `deleting`; then each snapshot's bytes and row go, then the group snapshot's
  row. A crash in between: `recover` finishes it. A snapshot whose bytes cannot
  be removed leaves the group snapshot `error_deleting`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from cinderlite.db.groups import (
    SNAPSHOT_FILTERS,
    SNAPSHOT_SORT,
    GroupRepository,
    GroupSnapshotRepository,
)
from cinderlite.db.models import GroupSnapshot, Snapshot, detached
from cinderlite.db.snapshots import SNAPSHOT_JOB, SnapshotRepository
from cinderlite.domain import groups as grp
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    GroupNotFound,
    GroupSnapshotNotFound,
    InvalidGroup,
    InvalidGroupSnapshot,
    InvalidVolume,
    NotFound,
    PolicyNotAuthorized,
)
from cinderlite.domain.filters import all_like
from cinderlite.domain.groups import GroupSnapshotStatus, GroupStatus
from cinderlite.domain.identity import Caller
from cinderlite.domain.snapshots import SnapshotStatus
from cinderlite.domain.volumes import VolumeStatus
from cinderlite.services import policy as P
from cinderlite.services.groups import GroupQuotas, NoGroupQuotas
from cinderlite.services.policy import Policy, target
from cinderlite.services.snapshots import SnapshotService
from cinderlite.services.units import Units
from cinderlite.workers.runner import JobRunner

log = logging.getLogger("cinderlite.group_snapshots")

GiB = 1 << 30
SORT_KEYS = frozenset(SNAPSHOT_SORT.columns)


@dataclass(frozen=True)
class GroupSnapshotQuery:
    filters: dict[str, Any]
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    all_tenants: bool = False
    project_id: str | None = None
    offset: int = 0
    like: dict[str, str] = field(default_factory=dict)




def _check_volume(volume: Any) -> None:
    """Cinder _create_snapshot_in_db_validate, for each member; a volume being
    made, changed or deleted has no bytes to take a snapshot of."""
    if volume.status == VolumeStatus.MAINTENANCE:
        raise InvalidVolume(
            "The snapshot cannot be created when the volume is in maintenance mode."
        )
    if volume.status == VolumeStatus.ERROR:
        raise InvalidVolume("The snapshot cannot be created when the volume is in error status.")
    if volume.status not in ("available", "in-use"):
        raise InvalidVolume(
            f"Volume {volume.id} status must be available, in-use, but current status is: "
            f"{volume.status}."
        )


class GroupSnapshotService:
    def __init__(
        self, *, units: Units, repo: GroupSnapshotRepository, groups: GroupRepository,
        snapshot_repo: SnapshotRepository, snapshots: SnapshotService, policy: Policy,
        jobs: JobRunner, quotas: GroupQuotas | None = None,
    ) -> None:
        self._quotas: GroupQuotas = quotas or NoGroupQuotas()
        self._units = units
        self._repo = repo
        self._groups = groups
        self._snapshot_repo = snapshot_repo
        self._snapshots = snapshots
        self._policy = policy
        self._jobs = jobs

    def shows_project(self, caller: Caller) -> bool:
        """Whether the views show `project_id` (3.58, Cinder's admin-only policy)."""
        return self._policy.allows(
            caller, P.GROUP_SNAPSHOT_ATTRIBUTES, {"project_id": caller.project_id}
        )

    async def get(self, caller: Caller, group_snapshot_id: str) -> GroupSnapshot:
        found = await self._repo.get(group_snapshot_id)
        if found is None or not self._policy.allows(caller, P.GROUP_SNAPSHOT_GET, target(found)):
            raise GroupSnapshotNotFound(group_snapshot_id)
        return found

    async def list_group_snapshots(
        self, caller: Caller, query: GroupSnapshotQuery
    ) -> list[GroupSnapshot]:
        self._policy.authorize(caller, P.GROUP_SNAPSHOT_GET_ALL, {"project_id": caller.project_id})
        everyone = query.all_tenants and caller.is_admin
        project_id = query.project_id if everyone else caller.project_id
        filters = {k: v for k, v in query.filters.items() if k in SNAPSHOT_FILTERS}
        found = await self._repo.page(
            project_id=project_id, filters=filters, sort=query.sort,
            limit=None if query.like else query.limit, offset=0 if query.like else query.offset,
            marker_id=query.marker,
        )
        if found is None:
            raise NotFound(f"Marker {query.marker} could not be found.")
        if query.like:
            found = [g for g in found if all_like(g, query.like)]
            end = None if query.limit is None else query.offset + query.limit
            found = found[query.offset:end]
        return found

    # --- create -------------------------------------------------------------------

    async def create(
        self, caller: Caller, group_id: str, *, name: str | None, description: str | None,
        request_id: str,
    ) -> GroupSnapshot:
        now = utcnow()
        async with self._units.write() as db:
            # The quota lock is the first lock a unit takes (services/quotas.py).
            owner = await self._groups.get(group_id, unit=db)
            if owner is not None:
                await self._quotas.lock_project(db, owner.project_id)
            group = await self._groups.lock(db, group_id)
            if group is None or not self._policy.allows(caller, P.GROUP_GET, target(group)):
                raise GroupNotFound(group_id)
            self._policy.authorize(caller, P.GROUP_SNAPSHOT_CREATE, target(group))
            if not caller.project_id:
                raise PolicyNotAuthorized(P.GROUP_SNAPSHOT_CREATE)
            if group.status in (GroupStatus.DELETING, GroupStatus.ERROR_DELETING):
                raise InvalidGroup(
                    f"Group status must be available or in-use, but current status is: "
                    f"{group.status}."
                )
            members = await self._groups.members(db, group_id)
            for volume in members:
                await self._groups.lock_volume(db, volume.id)
                self._policy.authorize(caller, P.SNAPSHOT_CREATE, target(volume))
                _check_volume(volume)
            by_project: dict[str, list[tuple[int, str | None]]] = {}
            for volume in members:
                by_project.setdefault(volume.project_id, []).append(
                    (volume.size, volume.volume_type_id))
            for project_id, sized in by_project.items():
                await self._quotas.reserve_members(
                    db, project_id=project_id, resource="snapshots", members=sized)
            row = GroupSnapshot(
                id=str(uuid.uuid4()), group_id=group_id, project_id=caller.project_id,
                user_id=caller.user_id, name=name, description=description,
                status=GroupSnapshotStatus.CREATING, group_type_id=group.group_type_id,
                created_at=now, updated_at=None,
            )
            await self._repo.add(db, row)
            for volume in members:
                snap = Snapshot(
                    id=str(uuid.uuid4()), project_id=volume.project_id, user_id=caller.user_id,
                    volume_id=volume.id, name=name, description=description,
                    status=SnapshotStatus.CREATING, progress="0%", volume_size=volume.size,
                    meta={}, created_at=now, updated_at=None, group_snapshot_id=row.id,
                    image_meta=dict(volume.image_meta or {}) if volume.bootable else None,
                )
                await self._snapshot_repo.add(db, snap)
                await self._jobs.enqueue(
                    db, kind=SNAPSHOT_JOB, volume_id=volume.id, image_id=None,
                    project_id=volume.project_id, user_id=caller.user_id, request_id=request_id,
                    params={"snapshot_id": snap.id}, now=now, bytes_total=volume.size * GiB,
                )
            created = detached(row)
        if members:
            self._jobs.wake()
        else:
            # Nothing to copy: available at once (Cinder's manager does the same).
            await self.settle(created.id)
        return created

    async def settle(self, group_snapshot_id: str) -> None:
        """A `creating` group snapshot whose snapshots all ended: `available`, or
        `error` when one failed. Idempotent; called after each snapshot's copy."""
        async with self._units.write() as db:
            found = await self._repo.get(group_snapshot_id, unit=db)
            if found is None or found.status != GroupSnapshotStatus.CREATING:
                return
            statuses = [s.status for s in await self._repo.members(db, group_snapshot_id)]
            if any(s == SnapshotStatus.CREATING for s in statuses):
                return
            failed = any(s != SnapshotStatus.AVAILABLE for s in statuses)
            await self._repo.transition(
                db, group_snapshot_id, grp.FAIL_SNAPSHOT if failed else grp.FINISH_SNAPSHOT,
                now=utcnow(),
            )

    # --- delete -------------------------------------------------------------------

    async def delete(self, caller: Caller, group_snapshot_id: str) -> None:
        current = await self.get(caller, group_snapshot_id)
        self._policy.authorize(caller, P.GROUP_SNAPSHOT_DELETE, target(current))
        now = utcnow()
        async with self._units.write() as db:
            # The group's row lock, as a group made from this one takes it: either
            # that group is seen below, or it finds these snapshots deleting.
            await self._groups.lock(db, current.group_id)
            busy = await self._groups.creating_from(db, group_snapshot_id=group_snapshot_id)
            if busy or not await self._repo.transition(
                db, group_snapshot_id, grp.BEGIN_SNAPSHOT_DELETE, now=now
            ):
                raise InvalidGroupSnapshot(
                    "GroupSnapshot status must be available or error, and no Group can be "
                    "currently using it as source for its creation."
                )
            await self._repo.members_deleting(db, group_snapshot_id, now=now)
        await self.finish_delete(group_snapshot_id)

    async def finish_delete(self, group_snapshot_id: str) -> None:
        async with self._units.read() as db:
            members = await self._repo.members(db, group_snapshot_id)
        for snap in members:
            if snap.status == SnapshotStatus.DELETING:
                await self._snapshots.finish_delete(snap.id)
        async with self._units.write() as db:
            if not await self._repo.remove(db, group_snapshot_id):
                await self._repo.transition(
                    db, group_snapshot_id, grp.FAIL_SNAPSHOT_DELETE, now=utcnow()
                )
                log.warning("group snapshot %s: a snapshot could not be removed",
                            group_snapshot_id)

    # --- admin --------------------------------------------------------------------

    async def reset_status(self, caller: Caller, group_snapshot_id: str, status: str) -> None:
        current = await self.get(caller, group_snapshot_id)
        self._policy.authorize(caller, P.GROUP_SNAPSHOT_RESET_STATUS, target(current))
        try:
            wanted = GroupSnapshotStatus(status)
        except ValueError:
            raise InvalidGroupSnapshot(f"status {status} is not used here.") from None
        async with self._units.write() as db:
            await self._repo.update_fields(
                db, group_snapshot_id, {"status": wanted, "updated_at": utcnow()}
            )

    # --- start-up recovery --------------------------------------------------------

    async def recover(self) -> None:
        """After SnapshotService.recover: settle what is left `creating`, finish deletes."""
        async with self._units.read() as db:
            creating = await self._repo.ids_with_status(db, [GroupSnapshotStatus.CREATING])
            deleting = await self._repo.ids_with_status(db, [GroupSnapshotStatus.DELETING])
        for group_snapshot_id in creating:
            await self.settle(group_snapshot_id)
        for group_snapshot_id in deleting:
            log.info("finishing the interrupted delete of group snapshot %s", group_snapshot_id)
            await self.finish_delete(group_snapshot_id)


__all__ = ["SORT_KEYS", "GroupSnapshotQuery", "GroupSnapshotService"]
