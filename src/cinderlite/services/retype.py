"""os-retype: change a volume's type. Every volume lives on the one backend, so a
retype never moves data: the type (and the multiattach flag it implies) changes
in one transaction, whatever the migration policy (cinder/volume/api.py retype,
with the rules Cinder checks before it schedules).
"""

from __future__ import annotations

import logging

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import VolumeType
from cinderlite.db.qos_specs import QosSpecRepository
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import InvalidRequest, InvalidVolume, NotFound
from cinderlite.domain.identity import Caller
from cinderlite.domain.qos import retype_keeps_front_end
from cinderlite.services import policy as P
from cinderlite.services.hosts import HostService
from cinderlite.services.policy import Policy
from cinderlite.services.quotas import QuotaService
from cinderlite.services.units import Units
from cinderlite.services.volume_types import VolumeTypeService
from cinderlite.services.volumes import is_multiattach

log = logging.getLogger("cinderlite.retype")

RETYPE_STATE = (
    "Retype needs volume to be in available or in-use state, not be part of an active "
    "migration or a consistency group, requested type has to be different that the one "
    "from the volume, and for in-use volumes front-end qos specs cannot change."
)


class RetypeService:
    def __init__(
        self, *, units: Units, types: VolumeTypeService, policy: Policy,
        quotas: QuotaService | None = None, hosts: HostService | None = None,
        qos: QosSpecRepository | None = None,
    ) -> None:
        self._units = units
        # The types' QoS specs: an in-use volume keeps its front-end spec.
        self._qos = qos
        # The backend's capabilities, matched against the new type's extra specs.
        self._hosts = hosts
        self._types = types
        self._policy = policy
        # The new type's per-type usage is taken in the retype's write unit; the
        # old type's goes back by itself (usage is counted from the rows).
        self._quotas = quotas

    async def retype(
        self, caller: Caller, volume_id: str, new_type: str, migration_policy: str | None,
    ) -> None:
        async with self._units.read() as db:
            volume = await volumes_db.get(db, volume_id=volume_id)
        if volume is None or (volume.project_id != caller.project_id and not caller.is_admin):
            raise NotFound(f"Volume {volume_id} could not be found.")
        self._policy.authorize(caller, P.RETYPE, {"project_id": volume.project_id})
        # Cinder looks the type up elevated: any type, by id or name.
        found: VolumeType | None = await self._types.find_any(new_type)
        if found is None:
            raise InvalidRequest(f"Invalid input received: Invalid volume_type passed: {new_type}.")
        target_multiattach = is_multiattach(found)
        if bool(volume.multiattach) != target_multiattach and volume.status != "available":
            raise InvalidRequest(
                "Invalid input received: Invalid volume_type passed, retypes affecting "
                "multiattach are only allowed on available volumes, the specified volume "
                f"however currently has a status of: {volume.status}."
            )
        if (volume.status not in ("available", "in-use") or volume.group_id
                or volume.volume_type_id == found.id):
            raise InvalidVolume(RETYPE_STATE)
        if self._hosts is not None and not await self._hosts.satisfies(found.extra_specs):
            # Cinder's scheduler finds no backend for the new type (find_retype_backend):
            # the request was accepted (202) and the volume stays as it was.
            log.warning("retype of volume %s to type %s: no valid backend", volume_id, found.id)
            return
        async with self._units.write() as db:
            if self._quotas is not None:
                # The quota lock first (the lock order of every quota unit).
                await self._quotas.reserve_retype(db, volume_id, found.id)
            row = await volumes_db.lock_row(db, volume_id)
            if (row is None or row.status not in ("available", "in-use")
                    or row.volume_type_id == found.id or row.group_id):
                raise InvalidVolume(RETYPE_STATE)
            if row.status == "in-use" and self._qos is not None:
                old = (await self._qos.spec_of_type(row.volume_type_id, unit=db)
                       if row.volume_type_id else None)
                new = await self._qos.spec_of_type(found.id, unit=db)
                if not retype_keeps_front_end(old, new):
                    raise InvalidVolume(RETYPE_STATE)
            await volumes_db.update_fields(db, volume_id=volume_id, values={
                "volume_type_id": found.id, "multiattach": target_multiattach,
                "updated_at": utcnow(),
            })

