"""Generic volume groups (3.13, 3.14, 3.20): create, read, list, update (name,
description, members), delete (with `delete-volumes`), reset status, and the
groups made from a group snapshot or another group, with Cinder's policies and
messages (cinder/group/api.py, cinder/api/v3/groups.py).

What a crash leaves:

- create: one transaction inserts the group `available` with its volume types
  (there is nothing to build on the backend).
- create from a source: one transaction inserts the group `creating`, a
  `creating` volume for each source snapshot or volume, and one clone job per
  volume (the volume service's data path). Each job, once its volume is
  `available` or `error`, settles the group (`settle`): `available` when every
  member is, `error` when one failed. After a crash the jobs resume; `recover`
  settles the groups whose volumes all ended meanwhile.
- update: the members, name and description change in one transaction.
- delete: one transaction moves the group and its volumes to `deleting`; then
  each volume's bytes and row go (VolumeService.finish_delete), then the group
  row. A crash in between: `recover` finishes it. A volume that cannot be
  removed leaves the group `error_deleting`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from oslo_utils import uuidutils

from cinderlite.db.group_types import GroupTypeRepository
from cinderlite.db.groups import GROUP_FILTERS, GROUP_SORT, GroupRepository, GroupSnapshotRepository
from cinderlite.db.models import Group, GroupType, Volume, detached
from cinderlite.domain import groups as grp
from cinderlite.domain.capacity import NoValidBackend
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    GroupNotFound,
    GroupSnapshotNotFound,
    GroupTypeNotFound,
    GroupTypeNotFoundByName,
    InvalidGroup,
    InvalidRequest,
    InvalidSnapshot,
    InvalidVolume,
    NotFound,
    PolicyNotAuthorized,
)
from cinderlite.domain.filters import all_like
from cinderlite.domain.groups import GroupStatus
from cinderlite.domain.identity import Caller
from cinderlite.domain.volumes import AttachStatus, VolumeStatus
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy, target
from cinderlite.services.units import Unit, Units
from cinderlite.services.volumes import CLONE_JOB, VolumeService
from cinderlite.workers.runner import JobRunner

log = logging.getLogger("cinderlite.groups")

GiB = 1 << 30
SORT_KEYS = frozenset(GROUP_SORT.columns)


class GroupQuotas(Protocol):
    """The hook group quotas plug into (Cinder's GROUP_QUOTAS): called inside the
    write unit that adds (+1) or removes (-1) a group, so a refusal rolls the whole
    change back. Without quotas, `NoGroupQuotas` allows everything."""

    async def reserve_groups(self, unit: Unit, *, project_id: str, delta: int) -> None: ...

    async def lock_project(self, unit: Unit, project_id: str) -> None:
        """Take the project's quota lock first, before any row lock of the unit."""

    async def reserve_members(
        self, unit: Unit, *, project_id: str, resource: str,
        members: list[tuple[int, str | None]],
    ) -> None:
        """The member volumes ("volumes") or snapshots ("snapshots") a group
        operation inserts itself, as (size, volume type id), in one check."""


class NoGroupQuotas:
    async def reserve_groups(self, unit: Unit, *, project_id: str, delta: int) -> None:
        return None

    async def lock_project(self, unit: Unit, project_id: str) -> None:
        return None

    async def reserve_members(
        self, unit: Unit, *, project_id: str, resource: str,
        members: list[tuple[int, str | None]],
    ) -> None:
        return None


@dataclass(frozen=True)
class GroupQuery:
    filters: dict[str, Any]
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    all_tenants: bool = False
    project_id: str | None = None
    offset: int = 0
    like: dict[str, str] = field(default_factory=dict)




def _ids(text: str | None) -> list[str]:
    """Cinder's comma-separated volume lists ("a,b," -> ["a", "b"])."""
    if not text:
        return []
    return text.strip(",").split(",")


class GroupService:
    def __init__(
        self, *, units: Units, repo: GroupRepository, types: GroupTypeRepository,
        snapshots: GroupSnapshotRepository, volumes: VolumeService, policy: Policy,
        jobs: JobRunner, quotas: GroupQuotas | None = None,
    ) -> None:
        self._units = units
        self._repo = repo
        self._types = types
        self._snapshots = snapshots
        self._volumes = volumes
        self._policy = policy
        self._jobs = jobs
        self._quotas: GroupQuotas = quotas or NoGroupQuotas()

    # --- read ---------------------------------------------------------------------

    def shows_project(self, caller: Caller) -> bool:
        """Whether the views show `project_id` (3.58, Cinder's admin-only policy)."""
        return self._policy.allows(
            caller, P.GROUP_ATTRIBUTES, {"project_id": caller.project_id}
        )

    async def get(self, caller: Caller, group_id: str) -> Group:
        found = await self._repo.get(group_id)
        if found is None or not self._policy.allows(caller, P.GROUP_GET, target(found)):
            raise GroupNotFound(group_id)
        return found

    async def volume_types(self, group_ids: Sequence[str]) -> dict[str, list[str]]:
        return await self._repo.volume_types(group_ids)

    async def member_ids(self, group_ids: Sequence[str]) -> dict[str, list[str]]:
        return await self._repo.member_ids(group_ids)

    async def list_groups(self, caller: Caller, query: GroupQuery) -> list[Group]:
        self._policy.authorize(caller, P.GROUP_GET_ALL, {"project_id": caller.project_id})
        everyone = query.all_tenants and caller.is_admin
        project_id = query.project_id if everyone else caller.project_id
        filters = {k: v for k, v in query.filters.items() if k in GROUP_FILTERS}
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

    async def _group_type(self, caller: Caller, db: Unit, key: str) -> GroupType:
        """Cinder API.create: by name unless uuid-like; a uuid-like key that names
        no type by id is tried as a name."""
        def visible(t: GroupType | None) -> GroupType | None:
            return t if t is not None and (t.is_public or caller.is_admin) else None

        if not uuidutils.is_uuid_like(key):
            found = visible(await self._types.find_by_name(key, unit=db))
            if found is None:
                raise GroupTypeNotFoundByName(key)
            return found
        found = visible(await self._types.get(key, unit=db))
        if found is None:
            found = visible(await self._types.find_by_name(key, unit=db))
        if found is None:
            raise GroupTypeNotFound(key)
        return found

    async def create(
        self, caller: Caller, *, name: str | None, description: str | None, group_type: str,
        volume_types: Sequence[str], availability_zone: str | None,
    ) -> Group:
        self._policy.authorize(caller, P.GROUP_CREATE, {"project_id": caller.project_id})
        if not caller.project_id:
            raise PolicyNotAuthorized(P.GROUP_CREATE)
        now = utcnow()
        # The zone is read before the write unit (the services' rows), refused in
        # Cinder's order below.
        try:
            zone, bad_zone = await self._volumes.zone_for(availability_zone), None
        except InvalidRequest:
            zone, bad_zone = "", availability_zone
        async with self._units.write() as db:
            if not uuidutils.is_uuid_like(group_type):
                # The controller looks a name up before anything else.
                await self._group_type(caller, db, group_type)
            type_ids: list[str] = []
            for key, vtype in await self._repo.find_volume_types(db, volume_types):
                if vtype is None:
                    raise NotFound(
                        f"Volume type {key} could not be found." if uuidutils.is_uuid_like(key)
                        else f"Volume type with name {key} could not be found."
                    )
                if vtype.id not in type_ids:
                    type_ids.append(vtype.id)
            gtype = await self._group_type(caller, db, group_type)
            if bad_zone is not None:
                raise InvalidRequest(
                    f"Invalid input received: Availability zone '{bad_zone}' is invalid."
                )
            await self._quotas.reserve_groups(db, project_id=caller.project_id, delta=1)
            row = Group(
                id=str(uuid.uuid4()), project_id=caller.project_id, user_id=caller.user_id,
                name=name, description=description, status=GroupStatus.AVAILABLE,
                availability_zone=zone, group_type_id=gtype.id, group_snapshot_id=None,
                source_group_id=None, replication_status=grp.REPLICATION_DISABLED,
                created_at=now, updated_at=None,
            )
            await self._repo.add(db, row, type_ids)
            return detached(row)

    async def create_from_src(
        self, caller: Caller, *, name: str | None, description: str | None,
        group_snapshot_id: str | None, source_group_id: str | None, request_id: str,
    ) -> Group:
        """A group with a copy of each volume of a group snapshot (its snapshots)
        or of a group: the copies are made by clone jobs (see the module text)."""
        self._policy.authorize(caller, P.GROUP_CREATE, {"project_id": caller.project_id})
        if not caller.project_id:
            raise PolicyNotAuthorized(P.GROUP_CREATE)
        now = utcnow()
        group_id = str(uuid.uuid4())
        # Capacity first, in a read unit (a write unit waits on nothing but the
        # database): the copies' total size, as the sources are now.
        async with self._units.read() as db:
            if group_snapshot_id is not None:
                sizes = [s.volume_size for s in await self._snapshots.members(
                    db, group_snapshot_id)]
            else:
                assert source_group_id is not None
                sizes = [v.size for v in await self._repo.members(db, source_group_id)]
            try:
                await self._volumes.check_capacity(db, sum(sizes))
            except NoValidBackend:
                raise InvalidGroup(f"No valid host to create group {group_id}.") from None
        async with self._units.write() as db:
            # The quota lock is the first lock a unit takes (services/quotas.py).
            await self._quotas.lock_project(db, caller.project_id)
            # (source kind, source id, size, volume type id) of each copy.
            copies: list[tuple[str, str, int, str | None]] = []
            if group_snapshot_id is not None:
                gsnap = await self._snapshots.get(group_snapshot_id, unit=db)
                if gsnap is None or not self._policy.allows(
                    caller, P.GROUP_SNAPSHOT_GET, target(gsnap)
                ):
                    raise GroupSnapshotNotFound(group_snapshot_id)
                source = await self._repo.lock(db, gsnap.group_id)
                if source is None:
                    raise GroupSnapshotNotFound(group_snapshot_id)
                members = await self._snapshots.members(db, group_snapshot_id)
                if not members:
                    raise InvalidGroup("Group snapshot is empty. No group will be created.")
                for snap in members:
                    if snap.status != "available":
                        raise InvalidSnapshot("Originating snapshot status must be one of "
                                              "'available' values")
                    volume = await self._repo.lock_volume(db, snap.volume_id)
                    copies.append(("snapshot", snap.id, snap.volume_size,
                                   volume.volume_type_id if volume is not None else None))
            else:
                assert source_group_id is not None
                found = await self._repo.lock(db, source_group_id)
                if found is None or not self._policy.allows(caller, P.GROUP_GET, target(found)):
                    raise GroupNotFound(source_group_id)
                source = found
                volumes = await self._repo.members(db, source_group_id)
                if not volumes:
                    raise InvalidGroup("Source Group is empty. No group will be created.")
                for vol in volumes:
                    if vol.status not in ("available", "in-use"):
                        raise InvalidVolume("Originating source volume status must be one of "
                                            "'available', 'in-use' values")
                    copies.append(("volume", vol.id, vol.size, vol.volume_type_id))
            await self._quotas.reserve_groups(db, project_id=caller.project_id, delta=1)
            await self._quotas.reserve_members(
                db, project_id=caller.project_id, resource="volumes",
                members=[(size, type_id) for _, _, size, type_id in copies],
            )
            type_ids = (await self._repo.volume_types([source.id]))[source.id]
            for _, _, _, type_id in copies:
                if type_id is not None and type_id not in type_ids:
                    type_ids.append(type_id)
            row = Group(
                id=group_id, project_id=caller.project_id, user_id=caller.user_id, name=name,
                description=description, status=GroupStatus.CREATING,
                availability_zone=source.availability_zone, group_type_id=source.group_type_id,
                group_snapshot_id=group_snapshot_id, source_group_id=source_group_id,
                replication_status=grp.REPLICATION_DISABLED, created_at=now, updated_at=None,
            )
            await self._repo.add(db, row, type_ids)
            for kind, source_id, size, type_id in copies:
                volume = Volume(
                    id=str(uuid.uuid4()), project_id=caller.project_id, user_id=caller.user_id,
                    name=None, description=None, size=size, status=VolumeStatus.CREATING,
                    previous_status=None, attach_status=AttachStatus.DETACHED,
                    volume_type_id=type_id, availability_zone=row.availability_zone,
                    bootable=False, meta={}, image_meta={}, source_image_id=None,
                    created_at=now, updated_at=None, group_id=group_id,
                    snapshot_id=source_id if kind == "snapshot" else None,
                    source_volid=source_id if kind == "volume" else None,
                )
                await self._volumes.add_row(db, volume)
                await self._jobs.enqueue(
                    db, kind=CLONE_JOB, volume_id=volume.id, image_id=None,
                    project_id=caller.project_id, user_id=caller.user_id, request_id=request_id,
                    params={"kind": kind, "id": source_id}, now=now, bytes_total=size * GiB,
                )
            created = detached(row)
        self._jobs.wake()
        return created

    async def settle(self, group_id: str) -> None:
        """A `creating` group whose volumes have all ended: `available`, or `error`
        when one of them failed. Idempotent; called after each member's copy ends."""
        async with self._units.write() as db:
            group = await self._repo.lock(db, group_id)
            if group is None or group.status != GroupStatus.CREATING:
                return
            statuses = [v.status for v in await self._repo.members(db, group_id)]
            if any(s == VolumeStatus.CREATING for s in statuses):
                return
            failed = any(s != VolumeStatus.AVAILABLE for s in statuses)
            await self._repo.transition(
                db, group_id, grp.FAIL_CREATE if failed else grp.FINISH_CREATE, now=utcnow()
            )
        log.info("group %s made from its source: %s", group_id, "error" if failed else "available")

    async def member_settled(self, volume: Any) -> None:
        """The clone job's hook (VolumeService.run_clone): settle the volume's group."""
        if getattr(volume, "group_id", None):
            await self.settle(str(volume.group_id))

    # --- update -------------------------------------------------------------------

    async def update(
        self, caller: Caller, group_id: str, *, name: str | None, description: str | None,
        add_volumes: str | None, remove_volumes: str | None,
    ) -> None:
        current = await self.get(caller, group_id)
        self._policy.authorize(caller, P.GROUP_UPDATE, target(current))
        if name == current.name:
            name = None
        if description == current.description:
            description = None
        adds, removes = _ids(add_volumes), _ids(remove_volumes)
        both = [u for u in adds if u in removes]
        if both:
            raise InvalidVolume(f"UUIDs {both!r} are in both add and remove volume list.")
        async with self._units.write() as db:
            group = await self._repo.lock(db, group_id)
            if group is None:
                raise GroupNotFound(group_id)
            members = {v.id: v for v in await self._repo.members(db, group_id)}
            type_ids = (await self._repo.volume_types([group_id]))[group_id]
            to_add = [await self._addable(caller, db, group, vid, type_ids)
                      for vid in adds if vid not in members]
            to_remove = [_removable(group, members.get(vid), vid) for vid in removes]
            if name is None and description is None and not to_add and not to_remove:
                raise InvalidGroup(
                    f"Cannot update group {group_id} because no valid name, description, "
                    "add_volumes, or remove_volumes were provided."
                )
            if (to_add or to_remove) and group.status != GroupStatus.AVAILABLE:
                raise InvalidGroup("Group status must be available.")
            now = utcnow()
            values: dict[str, Any] = {"updated_at": now}
            if name is not None:
                values["name"] = name
            if description is not None:
                values["description"] = description
            await self._repo.update_fields(db, group_id, values)
            await self._repo.set_group_of(db, to_add, group_id, now=now)
            await self._repo.set_group_of(db, to_remove, None, now=now)

    async def _addable(
        self, caller: Caller, db: Unit, group: Group, volume_id: str, type_ids: list[str]
    ) -> str:
        """Cinder _validate_add_volumes, for one volume (its row locked)."""
        volume = await self._repo.lock_volume(db, volume_id)
        if volume is None or not self._policy.allows(
            caller, P.VOLUME_GET, {"project_id": volume.project_id}
        ) or (not caller.is_admin and volume.project_id != caller.project_id):
            raise InvalidVolume(
                f"Cannot add volume {volume_id} to group {group.id} because volume cannot be "
                "found."
            )
        if volume.group_id:
            raise InvalidVolume(
                f"Cannot add volume {volume.id} to group {group.id} because it is already in "
                f"group {volume.group_id}."
            )
        if volume.project_id != group.project_id:
            raise InvalidVolume(
                f"Cannot add volume {volume.id} to group {group.id} as they belong to "
                "different projects."
            )
        if not volume.volume_type_id:
            raise InvalidVolume(
                f"Cannot add volume {volume.id} to group {group.id} because it has no volume "
                "type."
            )
        if volume.volume_type_id not in type_ids:
            raise InvalidVolume(
                f"Cannot add volume {volume.id} to group {group.id} because volume type "
                f"{volume.volume_type_id} is not supported by the group."
            )
        if volume.status not in grp.VALID_ADD_VOL_TO_GROUP_STATUS:
            raise InvalidVolume(
                f"Cannot add volume {volume.id} to group {group.id} because volume is in an "
                f"invalid state: {volume.status}. Valid states are: "
                f"{grp.VALID_ADD_VOL_TO_GROUP_STATUS!r}."
            )
        return volume.id

    # --- delete -------------------------------------------------------------------

    async def delete(self, caller: Caller, group_id: str, *, delete_volumes: bool) -> None:
        current = await self.get(caller, group_id)
        self._policy.authorize(caller, P.GROUP_DELETE, target(current))
        now = utcnow()
        async with self._units.write() as db:
            group = await self._repo.lock(db, group_id)
            if group is None:
                raise GroupNotFound(group_id)
            if not delete_volumes and group.status not in grp.DELETABLE:
                raise InvalidGroup(
                    f"Group status must be available or error, but current status is: "
                    f"{group.status}"
                )
            if await self._repo.group_snapshot_count(db, group_id):
                raise InvalidGroup("Group has existing snapshots.")
            members = await self._repo.members(db, group_id)
            if members and not delete_volumes:
                raise InvalidGroup(
                    f"Group {group_id} still contains volumes. The delete-volumes flag is "
                    "required to delete it."
                )
            for volume in members:
                await self._repo.lock_volume(db, volume.id)
                if volume.attach_status != AttachStatus.DETACHED:
                    raise InvalidGroup(
                        f"Volume in group {group_id} is attached. Need to detach first."
                    )
                if await self._repo.has_snapshots(db, volume.id):
                    raise InvalidGroup("Volume in group still has dependent snapshots.")
            rule = grp.FORCE_DELETE if delete_volumes else grp.BEGIN_DELETE
            busy = await self._repo.creating_from(db, source_group_id=group_id)
            if busy or not await self._repo.transition(db, group_id, rule, now=now):
                reason = (
                    "Group status must be available or error and must not have dependent "
                    "group snapshots" if delete_volumes else
                    "Group must not have attached volumes, volumes with snapshots, or "
                    "dependent group snapshots"
                )
                raise InvalidGroup(
                    f"Cannot delete group {group_id}. {reason}, and it cannot be the source for "
                    "an ongoing group or group snapshot creation."
                )
            for volume in members:
                await self._repo.volume_transition(db, volume.id, grp.DELETE_MEMBER, now=now)
            await self._quotas.reserve_groups(db, project_id=group.project_id, delta=-1)
        await self.finish_delete(group_id)

    async def finish_delete(self, group_id: str) -> None:
        """Each `deleting` member's bytes and row, then the group row; a member that
        cannot be removed leaves the group `error_deleting`."""
        async with self._units.read() as db:
            members = await self._repo.members(db, group_id)
        for volume in members:
            if volume.status == VolumeStatus.DELETING:
                await self._volumes.finish_delete(volume.id)
        async with self._units.write() as db:
            if not await self._repo.remove(db, group_id):
                await self._repo.transition(db, group_id, grp.FAIL_DELETE, now=utcnow())
                log.warning("group %s: a volume could not be removed; error_deleting", group_id)

    # --- admin --------------------------------------------------------------------

    async def reset_status(self, caller: Caller, group_id: str, status: str) -> None:
        current = await self.get(caller, group_id)
        self._policy.authorize(caller, P.GROUP_RESET_STATUS, target(current))
        try:
            wanted = GroupStatus(status)
        except ValueError:
            raise InvalidGroup(f"status {status} is not used here.") from None
        async with self._units.write() as db:
            await self._repo.update_fields(db, group_id, {"status": wanted,
                                                          "updated_at": utcnow()})

    # --- start-up recovery --------------------------------------------------------

    async def recover(self) -> None:
        """Settle groups left `creating` whose copies all ended; finish deletes."""
        async with self._units.read() as db:
            creating = await self._repo.ids_with_status(db, [GroupStatus.CREATING])
            deleting = await self._repo.ids_with_status(db, [GroupStatus.DELETING])
        for group_id in creating:
            await self.settle(group_id)
        for group_id in deleting:
            log.info("finishing the interrupted delete of group %s", group_id)
            await self.finish_delete(group_id)


def _removable(group: Group, volume: Volume | None, volume_id: str) -> str:
    """Cinder _validate_remove_volumes, for one volume."""
    if volume is None:
        raise InvalidVolume(
            f"Cannot remove volume {volume_id} from group {group.id} because it is not in the "
            "group."
        )
    if volume.status not in grp.VALID_REMOVE_VOL_FROM_GROUP_STATUS:
        raise InvalidVolume(
            f"Cannot remove volume {volume.id} from group {group.id} because volume is in an "
            f"invalid state: {volume.status}. Valid states are: "
            f"{grp.VALID_REMOVE_VOL_FROM_GROUP_STATUS!r}."
        )
    return volume.id


__all__ = ["SORT_KEYS", "GroupQuery", "GroupQuotas", "GroupService", "NoGroupQuotas"]
