"""The replication actions of groups (3.38): enable_replication,
disable_replication, failover_replication and list_replication_targets, with
Cinder's checks (cinder/group/api.py _check_type) and policies."""

from __future__ import annotations

from cinderlite.db.group_types import GroupTypeRepository
from cinderlite.db.groups import GroupRepository
from cinderlite.domain.errors import InvalidGroup, InvalidGroupType, InvalidVolumeType
from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P
from cinderlite.services.groups import GroupService
from cinderlite.services.policy import Policy, target
from cinderlite.services.units import Units


class GroupReplicationService:
    def __init__(
        self, *, units: Units, groups: GroupService, repo: GroupRepository,
        types: GroupTypeRepository, policy: Policy,
    ) -> None:
        self._units = units
        self._groups = groups
        self._repo = repo
        self._types = types
        self._policy = policy

    async def check_replication(self, caller: Caller, group_id: str, action: str) -> None:
        """Cinder's checks before a replication action (its policy, then _check_type):
        the group's type must be a replication one and each of its volume types
        replicated. No backend here replicates, so an action that passes them is
        refused too; `list_replication_targets` then has none to list."""
        current = await self._groups.get(caller, group_id)
        rule = {
            "enable_replication": P.GROUP_ENABLE_REP,
            "disable_replication": P.GROUP_DISABLE_REP,
            "failover_replication": P.GROUP_FAILOVER_REP,
            "list_replication_targets": P.GROUP_LIST_REP,
        }[action]
        self._policy.authorize(caller, rule, target(current))
        gtype = await self._types.get(current.group_type_id)
        specs = dict(gtype.group_specs or {}) if gtype is not None else {}
        if "<is> True" not in (specs.get("group_replication_enabled"),
                               specs.get("consistent_group_replication_enabled")):
            raise InvalidGroupType(f"Group {group_id} is not a replication group type.")
        async with self._units.read() as db:
            type_ids = (await self._repo.volume_types([group_id]))[group_id]
            for key, vtype in await self._repo.find_volume_types(db, type_ids):
                extra = dict(vtype.extra_specs or {}) if vtype is not None else {}
                if str(extra.get("replication_enabled", "")).lower() not in (
                    "<is> true", "true", "1", "yes", "y", "on", "t"
                ):
                    raise InvalidVolumeType(
                        f"Volume type {key} does not have 'replication_enabled' spec key set "
                        "to '<is> True'."
                    )
        if action != "list_replication_targets":
            raise InvalidGroup(
                f"Group {group_id} cannot be replicated: no volume backend here replicates."
            )


__all__ = ["GroupReplicationService"]
