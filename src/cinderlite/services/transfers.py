"""Volume transfer use cases: create, read, list, delete and accept, with Cinder's
statuses, messages and policies (cinder/transfer/api.py and its db functions).

Crash safety: every write below is one transaction, so a crash leaves either
all of it or none of it, and start-up recovery has nothing to mend:

- create: the volume's compare-and-swap `available -> awaiting-transfer`, the
  check of its snapshots and the transfer's INSERT, in one unit;
- delete: `awaiting-transfer -> available` and the transfer's DELETE, in one unit;
- accept: `awaiting-transfer -> available` with the new project and user, the
  move of the snapshots, and the DELETE of the transfer, in one unit.

So a volume is `awaiting-transfer` exactly while a transfer of it exists (an
admin's os-reset_status aside, which is outside the transition table as in
Cinder). No bytes move: a transfer changes who owns the volume, not its data.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import Transfer
from cinderlite.db.transfers import FILTERS, SORT, TransferRepository
from cinderlite.db.volumes import VolumeRepository, VolumeRow
from cinderlite.domain import transfers as rules
from cinderlite.domain import volumes as vol
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    InvalidAuthKey,
    InvalidSnapshot,
    InvalidVolume,
    PolicyNotAuthorized,
    TransferNotFound,
    VolumeNotFound,
)
from cinderlite.domain.identity import Caller
from cinderlite.domain.volumes import VolumeStatus
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.quotas import QuotaService
from cinderlite.services.units import Unit, Units

log = logging.getLogger("cinderlite.transfers")

SORT_KEYS = frozenset(SORT.columns)
FILTER_KEYS = frozenset(FILTERS)
_TRUE = frozenset({"true", "1", "on", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "off", "no", "n", "f"})


@dataclass(frozen=True)
class TransferQuery:
    """A listing: `filters` are the request's other query parameters (Cinder takes
    each as a filter on a column of its transfers table; a key naming no column,
    or a hash column, matches nothing)."""

    filters: dict[str, str] = field(default_factory=dict)
    all_tenants: bool = False
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "asc")])
    limit: int | None = None
    offset: int = 0
    marker: str | None = None


@dataclass(frozen=True)
class CreatedTransfer:
    """The new transfer and its auth key, which is shown this once."""

    transfer: Transfer
    auth_key: str


def _volume_target(volume: VolumeRow) -> dict[str, object]:
    return {"project_id": volume.project_id, "user_id": volume.user_id}


class TransferService:
    """Transfers of volumes between projects."""

    def __init__(
        self, *, units: Units, repo: TransferRepository, volumes: VolumeRepository,
        policy: Policy,
    ) -> None:
        self._units = units
        self._repo = repo
        self._volumes = volumes
        self._policy = policy
        # An accept takes the volume into the taker's quota (None: unlimited); the wiring sets it.
        self.quotas: QuotaService | None = None

    # --- read -------------------------------------------------------------------------

    def _visible(self, caller: Caller, transfer: Transfer | None) -> bool:
        """Cinder's transfer_get: a non-admin sees the transfers of its own project's
        volumes (while a transfer lives its volume stays in source_project_id)."""
        return transfer is not None and (
            caller.is_admin or transfer.source_project_id == caller.project_id
        )

    async def get(self, caller: Caller, transfer_id: str) -> Transfer:
        self._policy.authorize(caller, P.TRANSFER_GET, {"project_id": caller.project_id})
        found = await self._repo.get(transfer_id)
        if found is None or not self._visible(caller, found):
            raise TransferNotFound(transfer_id)
        return found

    async def list_transfers(self, caller: Caller, query: TransferQuery) -> list[Transfer]:
        """The caller's project's transfers; everyone's for an admin asking
        `all_tenants` (then `project_id` filters by the giving project)."""
        self._policy.authorize(caller, P.TRANSFER_GET_ALL, {"project_id": caller.project_id})
        filters = dict(query.filters)
        everyone = query.all_tenants and caller.is_admin
        if not everyone:
            # Cinder transfer_get_all_by_project: the caller's project, whatever is asked.
            filters.pop("project_id", None)
        project_id = None if everyone else caller.project_id
        typed: dict[str, Any] = {}
        for key, value in filters.items():
            if key not in FILTER_KEYS:
                return []
            if key == "no_snapshots":
                lowered = value.strip().lower()
                if lowered not in _TRUE | _FALSE:
                    return []
                typed[key] = lowered in _TRUE
            else:
                typed[key] = value
        found = await self._repo.page(
            project_id=project_id, filters=typed, sort=query.sort, limit=query.limit,
            offset=query.offset, marker_id=query.marker,
        )
        if found is None:
            raise TransferNotFound(str(query.marker))
        return found

    # --- create -----------------------------------------------------------------------

    async def create(
        self, caller: Caller, volume_id: str, *, name: str | None, no_snapshots: bool = False,
    ) -> CreatedTransfer:
        """Offer the volume: one unit makes it `awaiting-transfer` (compare-and-swap
        from `available`), checks its snapshots and inserts the transfer. A crash
        leaves all of it or none of it; nothing to recover."""
        volume = await self._volumes.get(volume_id)
        if volume is None or not self._policy.allows(
            caller, P.VOLUME_GET, _volume_target(volume)
        ):
            raise VolumeNotFound(volume_id)
        self._policy.authorize(caller, P.TRANSFER_CREATE, _volume_target(volume))
        if volume.status != VolumeStatus.AVAILABLE:
            raise InvalidVolume("status must be available")
        auth_key, salt = rules.new_auth_key(), rules.new_salt()
        now = utcnow()
        transfer_id = str(uuid.uuid4())
        async with self._units.write() as db:
            # The CAS first: it takes the volume row (and on SQLite the write lock).
            if not await volumes_db.transition(
                db, volume_id=volume_id, rule=vol.BEGIN_TRANSFER, now=now,
            ):
                raise InvalidVolume(
                    f"Transfer {transfer_id}: Volume id {volume_id} expected in available "
                    "state."
                )
            if not no_snapshots:
                for snapshot_id, status in await self._repo.snapshot_statuses(db, volume_id):
                    if status not in rules.SNAPSHOTS_MOVABLE:
                        # Rolls the volume's status back with the unit.
                        raise InvalidSnapshot(f"snapshot: {snapshot_id} status must be available")
            created = await self._repo.add(db, Transfer(
                id=transfer_id, volume_id=volume_id, name=name, salt=salt,
                crypt_hash=rules.key_hash(salt, auth_key), no_snapshots=no_snapshots,
                source_project_id=volume.project_id, created_at=now, updated_at=None,
            ))
        log.info("transfer %s of volume %s created", transfer_id, volume_id)
        return CreatedTransfer(created, auth_key)

    # --- delete -----------------------------------------------------------------------

    async def delete(self, caller: Caller, transfer_id: str) -> None:
        """Withdraw the offer: one unit moves the volume back to `available` and
        deletes the transfer. A crash leaves all of it or none of it."""
        transfer = await self._repo.get(transfer_id)
        if transfer is None or not self._visible(caller, transfer):
            raise TransferNotFound(transfer_id)
        volume = await self._volumes.get(transfer.volume_id)
        if volume is None:
            raise VolumeNotFound(transfer.volume_id)
        self._policy.authorize(caller, P.TRANSFER_DELETE, _volume_target(volume))
        async with self._units.write() as db:
            # Volume row first, as the accept takes it: two racing units wait in line.
            if not await volumes_db.transition(
                db, volume_id=transfer.volume_id, rule=vol.CANCEL_TRANSFER, now=utcnow(),
            ):
                # Cinder transfer_destroy: a volume in another status keeps it; the
                # transfer goes all the same.
                log.warning("transfer %s: volume %s was not awaiting-transfer", transfer_id,
                            transfer.volume_id)
            if not await self._repo.remove(db, transfer_id):
                # Accepted or deleted meanwhile: the unit rolls back.
                raise TransferNotFound(transfer_id)
        log.info("transfer %s of volume %s deleted", transfer_id, transfer.volume_id)

    # --- accept -----------------------------------------------------------------------

    async def accept(self, caller: Caller, transfer_id: str, auth_key: str) -> Transfer:
        """Take the volume: with the right key, one unit gives the volume (and unless
        `no_snapshots` its snapshots, all of which must be available) to the
        caller's project and user, makes it `available` and deletes the transfer.
        A crash leaves all of it or none of it; nothing to recover.

        Any project may accept a transfer whose id and key it was given: the
        transfer is read whoever owns it (Cinder reads it elevated).
        """
        self._policy.authorize(caller, P.TRANSFER_ACCEPT, {"project_id": caller.project_id})
        if not caller.project_id:
            # A system-scoped token has no project to take the volume.
            raise PolicyNotAuthorized(P.TRANSFER_ACCEPT)
        transfer = await self._repo.get(transfer_id)
        if transfer is None:
            raise TransferNotFound(transfer_id)
        if not rules.key_matches(transfer.salt, transfer.crypt_hash, auth_key):
            log.warning("transfer %s: accept with an invalid auth key", transfer_id)
            raise InvalidAuthKey(f"Attempt to transfer {transfer_id} with invalid auth key.")
        volume = await self._volumes.get(transfer.volume_id)
        if volume is None:
            raise VolumeNotFound(transfer.volume_id)
        if volume.status == VolumeStatus.MAINTENANCE:
            raise InvalidVolume("The volume cannot accept transfer in maintenance mode.")
        now = utcnow()
        async with self._units.write() as db:
            if self.quotas is not None:
                await self.quotas.reserve_transfer(
                    db, caller.project_id, volume.id, with_snapshots=not transfer.no_snapshots)
            if not await volumes_db.transition(
                db, volume_id=volume.id, rule=vol.ACCEPT_TRANSFER, now=now,
                values={"project_id": caller.project_id, "user_id": caller.user_id},
            ):
                if await self._repo.get(transfer_id, unit=db) is None:
                    # Accepted or deleted since it was read: say so, whichever
                    # database and however the race fell.
                    raise TransferNotFound(transfer_id)
                raise InvalidVolume(
                    f"Transfer {transfer_id}: Volume id {volume.id} expected in "
                    "awaiting-transfer state."
                )
            if not transfer.no_snapshots:
                await self._move_snapshots(db, transfer, caller, now=now)
            if not await self._repo.remove(db, transfer_id):
                # Deleted meanwhile: the unit rolls back, the volume stays offered.
                raise TransferNotFound(transfer_id)
            # Any other transfer of the volume (possible only after an admin reset
            # its status) is void now that the volume has changed hands.
            await self._repo.remove_for_volume(db, volume.id)
        log.info("volume %s transferred from project %s to project %s (transfer %s)",
                 volume.id, transfer.source_project_id, caller.project_id, transfer_id)
        return transfer

    async def _move_snapshots(
        self, db: Unit, transfer: Transfer, caller: Caller, *, now: datetime
    ) -> None:
        """Inside the accept's unit: every snapshot of the volume must be available
        (rows locked, so none changes before the commit); then all of them move."""
        statuses = await self._repo.snapshot_statuses(db, transfer.volume_id, lock=True)
        for snapshot_id, status in statuses:
            if status not in rules.SNAPSHOTS_MOVABLE:
                raise InvalidSnapshot(
                    f"Transfer {transfer.id}: Snapshot {snapshot_id} is not in the expected "
                    "available state."
                )
        moved = await self._repo.move_snapshots(
            db, transfer.volume_id, movable=rules.SNAPSHOTS_MOVABLE,
            project_id=caller.project_id, user_id=caller.user_id, now=now,
        )
        if moved != len(statuses):  # pragma: no cover - the rows are locked
            raise InvalidSnapshot(
                f"Transfer {transfer.id}: a snapshot is not in the expected available state."
            )


__all__ = ["SORT_KEYS", "CreatedTransfer", "TransferQuery", "TransferService"]
