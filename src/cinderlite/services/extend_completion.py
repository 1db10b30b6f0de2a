"""os-extend_volume_completion (3.71): Nova's answer to a `volume-extended` event.

Cinder's volume API and manager (extend_volume_completion): a volume that is
`extending` and whose admin metadata holds the pending size (`extend_new_size`)
and its quota reservations (`extend_reservations`, a JSON list) gets the new
size and the status its attachments give (available or in-use); with `error`,
it becomes `error_extending` with Cinder's user message instead. The admin
metadata keys go either way. Only admins (Nova's service user) may send it.

cinderlite extends its volumes itself (the file grows, in-use ones included,
3.42), so its own extends never wait in `extending`: a volume gets there
through an operator's os-reset_status, or a deployment whose Nova extends
the attached volume and reports back.
"""

from __future__ import annotations

import asyncio
import json
import os

from cinderlite.db import volumes as volumes_db
from cinderlite.db.database import Database
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import InvalidVolume
from cinderlite.domain.identity import Caller
from cinderlite.domain.volumes import VolumeStatus
from cinderlite.services import messages
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy, target
from cinderlite.services.volumes import GiB, VolumeService
from cinderlite.storage.volumes.base import VolumeBackend

NEW_SIZE_KEY = "extend_new_size"
RESERVATIONS_KEY = "extend_reservations"


class ExtendCompletionService:
    def __init__(
        self, *, database: Database, volumes: VolumeService, backend: VolumeBackend,
        policy: Policy, message_ttl_seconds: int,
    ) -> None:
        self._database = database
        self._volumes = volumes
        self._backend = backend
        self._policy = policy
        self._ttl = message_ttl_seconds

    async def complete(
        self, caller: Caller, volume_id: str, *, error: bool, request_id: str,
    ) -> None:
        current = await self._volumes.load(caller, volume_id)
        volume = current.volume
        self._policy.authorize(caller, P.EXTEND_COMPLETE, target(volume))
        if volume.status != VolumeStatus.EXTENDING:
            raise InvalidVolume("Volume is not being extended.")
        admin = dict(volume.admin_meta or {})
        try:
            new_size = int(admin[NEW_SIZE_KEY])
            reservations = json.loads(admin[RESERVATIONS_KEY])
        except (KeyError, ValueError, TypeError):
            raise InvalidVolume("Required volume admin metadata is malformed or missing.") from None
        if new_size <= volume.size:
            raise InvalidVolume(
                "The target volume size provided in volume admin metadata "
                f"{admin[NEW_SIZE_KEY]} is smaller or equal to the current volume size."
            )
        if not isinstance(reservations, list):
            raise InvalidVolume(
                "The stored quota reservations for extending the volume must be in a list "
                "format."
            )
        kept = {k: v for k, v in admin.items() if k not in (NEW_SIZE_KEY, RESERVATIONS_KEY)}
        now = utcnow()
        if error:
            async with self._database.write() as db:
                if await volumes_db.transition(
                    db, volume_id=volume_id, rule=vol.FAIL_EXTEND, now=now,
                    values={"admin_meta": kept},
                ):
                    await messages.record(
                        db, project_id=volume.project_id, resource_uuid=volume_id,
                        action=messages.EXTEND_VOLUME, detail=messages.DRIVER_FAILED_EXTEND,
                        now=now, ttl_seconds=self._ttl, request_id=request_id,
                    )
            return
        # The file holds at least the new size before the row says so (growing a
        # file Nova already grew changes nothing).
        path = self._backend.path(volume_id)
        if (await asyncio.to_thread(os.stat, path)).st_size < new_size * GiB:
            await asyncio.to_thread(os.truncate, path, new_size * GiB)
        attached = bool(current.attachments)
        rule = vol.COMPLETE_EXTEND_ATTACHED if attached else vol.COMPLETE_EXTEND
        async with self._database.write() as db:
            await volumes_db.transition(
                db, volume_id=volume_id, rule=rule, now=now,
                values={"size": new_size, "admin_meta": kept},
            )


__all__ = ["ExtendCompletionService"]
