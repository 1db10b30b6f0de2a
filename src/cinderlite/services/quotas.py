"""Quota use cases: the os-quota-sets and os-quota-class-sets APIs, /limits, and
`reserve`, the check every path that consumes quota runs in its write unit.

As Cinder (cinder/api/contrib/quotas.py, quota_classes.py, cinder/quota.py): a
project's limit is its own row, else the `default` quota class's row, else the
configured default. Usage is counted from the rows (db/quotas.py), so
`reserve` is the reservation and the unit's commit its commit: the new row
and the check are one transaction, and a rollback or a crash leaves nothing
reserved. Deleting a row gives its usage back in the transaction that deletes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cinderlite.db.database import Database, Unit
from cinderlite.db.quotas import QuotaRepository
from cinderlite.domain import quotas as q
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy

# The absolute limits of GET /limits (cinder/api/views/limits.py) and the usage
# os-used-limits adds (cinder/api/contrib/used_limits.py).
LIMIT_NAMES = {
    "gigabytes": "maxTotalVolumeGigabytes",
    "backup_gigabytes": "maxTotalBackupGigabytes",
    "volumes": "maxTotalVolumes",
    "snapshots": "maxTotalSnapshots",
    "backups": "maxTotalBackups",
}
USED_NAMES = {
    "totalVolumesUsed": "volumes",
    "totalGigabytesUsed": "gigabytes",
    "totalSnapshotsUsed": "snapshots",
    "totalBackupsUsed": "backups",
    "totalBackupGigabytesUsed": "backup_gigabytes",
}


class QuotaService:
    def __init__(
        self, database: Database, repo: QuotaRepository, policy: Policy,
        defaults: Mapping[str, int] | None = None,
    ) -> None:
        self._database = database
        self._repo = repo
        self._policy = policy
        self._defaults = dict(q.DEFAULTS if defaults is None else defaults)

    # --- the limits of a project -----------------------------------------------------

    async def _defaults_in(self, unit: Unit) -> tuple[list[str], dict[str, int]]:
        names = q.resource_names(await self._repo.type_names(unit))
        klass = await self._repo.class_limits(unit, q.DEFAULT_CLASS)
        return names, {n: klass.get(n, q.default_limit(n, self._defaults)) for n in names}

    async def limits_in(self, unit: Unit, project_id: str) -> dict[str, int]:
        """Every quota key's limit for `project_id`, read in `unit`."""
        _names, values = await self._defaults_in(unit)
        values.update(await self._repo.project_limits(unit, project_id))
        return values

    async def reserve(self, unit: Unit, project_id: str, demand: q.Demand, *,
                      volume_size: int | None = None) -> None:
        """Check `demand` against `project_id`'s quota inside the caller's write unit,
        before it inserts or grows the consuming row; raises Cinder's QuotaError
        (413) when over. Call it first in the unit: it takes the project's quota
        lock, held until the unit commits (the reservation is committed with the
        row) or rolls back (nothing stays reserved). `volume_size`: the size of a
        new or extended volume, checked against per_volume_gigabytes."""
        await self._repo.lock(unit, project_id)
        await self.check(unit, project_id, demand, volume_size=volume_size)

    async def reserve_for_volume(
        self, unit: Unit, volume_id: str, make: Callable[[str | None, int], q.Demand]
    ) -> None:
        """`reserve` what `make(type name, size)` demands of the project owning
        `volume_id` (a snapshot or a backup of it), before the unit locks the
        volume's row: the quota lock is the first lock a unit takes."""
        found = await self._repo.volume_facts(unit, volume_id)
        if found is None:
            return  # the caller's own lookup answers 404
        await self._repo.lock(unit, found[0])
        again = await self._repo.volume_facts(unit, volume_id)
        if again is None or again[0] != found[0]:
            return  # deleted or given away meanwhile: the caller's checks answer
        project_id, type_name, size = again
        await self.check(unit, project_id, make(type_name, size))

    async def reserve_transfer(
        self, unit: Unit, project_id: str, volume_id: str, *, with_snapshots: bool
    ) -> None:
        """A transfer's accept takes the volume (and its snapshots) into `project_id`'s
        quota, in the accept's unit (Cinder transfer/api.py: volumes first)."""
        await self._repo.lock(unit, project_id)
        found = await self._repo.volume_facts(unit, volume_id)
        if found is None:
            return
        _project, type_name, size = found
        limits = await self.limits_in(unit, project_id)
        usage = await self._repo.usage(unit, project_id)
        volume = q.volume_demand(size, type_name)
        q.check(volume, limits, usage)
        if with_snapshots:
            count, gigabytes = await self._repo.snapshot_totals(unit, volume_id)
            if count:
                after = dict(usage)
                for key, delta in volume.deltas.items():
                    after[key] = after.get(key, 0) + delta
                deltas = {"snapshots": count, "gigabytes": gigabytes}
                if type_name:
                    deltas |= {f"snapshots_{type_name}": count,
                               f"gigabytes_{type_name}": gigabytes}
                q.check(q.Demand("snapshots", deltas, gigabytes), limits, after)

    async def reserve_groups(self, unit: Unit, *, project_id: str, delta: int) -> None:
        """services/groups.GroupQuotas: a group create checks `groups` (Cinder's
        GROUP_QUOTAS); a delete gives back by removing the row (usage is counted)."""
        if delta > 0:
            await self.reserve(unit, project_id, q.Demand("groups", {"groups": delta}))

    async def lock_project(self, unit: Unit, project_id: str) -> None:
        """services/groups.GroupQuotas: the project's quota lock, taken first in a
        unit that locks rows before it knows what it will reserve."""
        await self._repo.lock(unit, project_id)

    async def reserve_members(
        self, unit: Unit, *, project_id: str, resource: str,
        members: list[tuple[int, str | None]],
    ) -> None:
        """services/groups.GroupQuotas: the volumes (group from a source) or snapshots
        (group snapshot) a group operation inserts, checked together."""
        if not members:
            return
        await self._repo.lock(unit, project_id)
        deltas: dict[str, int] = {}
        for size, type_id in members:
            type_name = await self._repo.type_name(unit, type_id)
            one = (q.volume_demand(size, type_name) if resource == "volumes"
                   else q.snapshot_demand(size, type_name))
            for key, value in one.deltas.items():
                deltas[key] = deltas.get(key, 0) + value
        total = sum(size for size, _ in members)
        limits = await self.limits_in(unit, project_id)
        if resource == "volumes":
            for size, _ in members:
                q.check_volume_size(size, limits)
        q.check(q.Demand(resource, deltas, total), limits,
                await self._repo.usage(unit, project_id))

    async def reserve_retype(self, unit: Unit, volume_id: str, new_type_id: str | None) -> None:
        """os-retype's check, in the retype's write unit before it changes the
        volume's type: the new type's `volumes_<type>` and `gigabytes_<type>` take
        the volume (Cinder quota_utils.get_volume_type_reservation). The old type's
        usage is given back by the same row update: usage is counted from rows."""
        found = await self._repo.volume_facts(unit, volume_id)
        if found is None:
            return  # the caller's own lookup answers 404
        await self._repo.lock(unit, found[0])
        again = await self._repo.volume_facts(unit, volume_id)
        if again is None:
            return
        project_id, old_name, size = again
        new_name = await self._repo.type_name(unit, new_type_id)
        if not new_name or new_name == old_name:
            return
        deltas = {f"volumes_{new_name}": 1, f"gigabytes_{new_name}": size}
        await self.check(unit, project_id, q.Demand("volumes", deltas, size))

    async def check(self, unit: Unit, project_id: str, demand: q.Demand, *,
                    volume_size: int | None = None) -> None:
        """`reserve`'s check without the lock: an early answer (Cinder checks quota
        before its scheduler looks for capacity); `reserve` decides."""
        limits = await self.limits_in(unit, project_id)
        if volume_size is not None:
            q.check_volume_size(volume_size, limits)
        usage = await self._repo.usage(unit, project_id)
        q.check(demand, limits, usage)

    # --- os-quota-sets --------------------------------------------------------------

    async def show(self, caller: Caller, project_id: str, *, usage: bool) -> dict[str, Any]:
        self._policy.authorize(caller, P.QUOTAS_SHOW, {"project_id": project_id})
        async with self._database.read() as db:
            limits = await self.limits_in(db, project_id)
            if not usage:
                return dict(limits)
            used = await self._repo.usage(db, project_id)
        return {
            name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0, "allocated": 0}
            for name, limit in limits.items()
        }

    async def defaults(self, caller: Caller, project_id: str) -> dict[str, int]:
        self._policy.authorize(caller, P.QUOTAS_SHOW, {"project_id": project_id})
        async with self._database.read() as db:
            return (await self._defaults_in(db))[1]

    async def update(
        self, caller: Caller, project_id: str, body: Mapping[str, object]
    ) -> dict[str, int]:
        """Cinder's checks in its order: the body's keys and integers (400), the
        policy (admin), then no limit below what is in use (400)."""
        async with self._database.read() as db:
            names = q.resource_names(await self._repo.type_names(db))
        values = q.validate_limits(body, names)
        self._policy.authorize(caller, P.QUOTAS_UPDATE, {"project_id": project_id})
        if len(project_id) > 255:
            raise InvalidRequest(
                "Invalid input received: quota_set_name has more than 255 characters.")
        async with self._database.write() as db:
            await self._repo.lock(db, project_id)
            q.check_not_below_usage(values, await self._repo.usage(db, project_id))
            await self._repo.set_project_limits(db, project_id, values)
        async with self._database.read() as db:
            return await self.limits_in(db, project_id)

    async def delete(self, caller: Caller, project_id: str) -> None:
        """Back to the defaults (Cinder quota_destroy_by_project)."""
        self._policy.authorize(caller, P.QUOTAS_DELETE, {"project_id": project_id})
        async with self._database.write() as db:
            await self._repo.delete_project_limits(db, project_id)

    # --- os-quota-class-sets ----------------------------------------------------------

    async def class_show(self, caller: Caller, class_name: str) -> dict[str, int]:
        self._policy.authorize(caller, P.QUOTA_CLASSES_GET, {})
        return await self._class_limits(class_name)

    async def _class_limits(self, class_name: str) -> dict[str, int]:
        async with self._database.read() as db:
            names, defaults = await self._defaults_in(db)
            if class_name == q.DEFAULT_CLASS:
                return defaults
            own = await self._repo.class_limits(db, class_name)
        return {n: own.get(n, defaults[n]) for n in names}

    async def class_update(
        self, caller: Caller, class_name: str, body: Mapping[str, object]
    ) -> dict[str, int]:
        async with self._database.read() as db:
            names = q.resource_names(await self._repo.type_names(db))
        values = q.validate_limits(body, names, class_set=True)
        self._policy.authorize(caller, P.QUOTA_CLASSES_UPDATE, {})
        if len(class_name) > 255:
            raise InvalidRequest(
                "Invalid input received: quota_class_name has more than 255 characters.")
        async with self._database.write() as db:
            await self._repo.set_class_limits(db, class_name, values)
        return await self._class_limits(class_name)

    # --- /limits ------------------------------------------------------------------------

    async def absolute_limits(self, project_id: str) -> dict[str, int]:
        """maxTotal* (cinder/api/v3/limits.py) and total*Used (os-used-limits)."""
        async with self._database.read() as db:
            limits = await self.limits_in(db, project_id)
            used = await self._repo.usage(db, project_id)
        body = {LIMIT_NAMES[k]: v for k, v in limits.items() if k in LIMIT_NAMES}
        body.update({name: used.get(key, 0) for name, key in USED_NAMES.items()})
        return body
