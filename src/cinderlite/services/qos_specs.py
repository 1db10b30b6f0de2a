"""QoS specs as an admin API: create, list, show, set and unset keys, delete, and
associate with volume types (one spec per type), with Cinder's policies,
statuses and messages (cinder/api/contrib/qos_specs_manage.py,
cinder/volume/qos_specs.py, cinder/db/api.py qos_specs_*).

Every write is one transaction, under the spec's row lock: a crash halfway
leaves the spec as it was before the request, and a full disk fails the
commit the same way (the request answers 500, nothing changed). Only
delete_keys commits part of its work before its 404, as Cinder does (the keys
before the first missing one are gone).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cinderlite.db.models import QosSpecs
from cinderlite.db.qos_specs import FILTERS, SORT, QosSpecRepository
from cinderlite.db.volume_types import VolumeTypeRepository
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Conflict, InvalidRequest
from cinderlite.domain.identity import Caller
from cinderlite.domain.qos import (
    Association,
    QosSpec,
    check_consumer,
    check_lengths,
    key_not_found,
    spec_not_found,
)
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.units import Units
from cinderlite.services.volume_types import type_not_found

SORT_KEYS = frozenset(SORT.columns)
FILTER_KEYS = frozenset(FILTERS)
NO_TYPE_ID = "Volume Type id must not be None."
IN_USE = "Qos specs still in use."


@dataclass(frozen=True)
class QosQuery:
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    offset: int = 0
    # Exact matches on the repository's FILTERS keys.
    filters: Mapping[str, str] | None = None
    # A filter Cinder reads as matching no spec (a key that is not one of its
    # table's columns, `name` and `consumer` among them).
    unmatched: bool = False


def _target(caller: Caller) -> dict[str, str]:
    return {"project_id": caller.project_id}


class QosSpecService:
    def __init__(
        self, *, units: Units, repo: QosSpecRepository, types: VolumeTypeRepository,
        policy: Policy,
    ) -> None:
        self._units = units
        self._repo = repo
        self._types = types
        self._policy = policy

    def _authorize(self, caller: Caller, rule: str) -> None:
        self._policy.authorize(caller, rule, _target(caller))

    def authorize_delete(self, caller: Caller) -> None:
        """Cinder checks the delete policy before it reads the request's `force`."""
        self._authorize(caller, P.QOS_DELETE)

    # --- read -------------------------------------------------------------------------

    async def show(self, caller: Caller, spec_id: str) -> QosSpec:
        self._authorize(caller, P.QOS_GET)
        found = await self._repo.get(spec_id)
        if found is None:
            raise spec_not_found(spec_id)
        return found

    async def list_specs(self, caller: Caller, query: QosQuery) -> list[QosSpec]:
        self._authorize(caller, P.QOS_GET_ALL)
        if query.unmatched:
            return []
        found = await self._repo.page(
            filters=query.filters or {}, sort=query.sort, limit=query.limit,
            marker_id=query.marker, offset=query.offset,
        )
        if found is None:
            raise spec_not_found(str(query.marker))
        return found

    async def associations(self, caller: Caller, spec_id: str) -> list[Association]:
        self._authorize(caller, P.QOS_GET_ALL)
        if await self._repo.get(spec_id) is None:
            raise spec_not_found(spec_id)
        return await self._repo.associations(spec_id)

    # --- write ------------------------------------------------------------------------

    async def create(
        self, caller: Caller, name: str, specs: Mapping[str, object]
    ) -> QosSpec:
        """A new spec named `name` (stripped); `specs` may hold `consumer`."""
        self._authorize(caller, P.QOS_CREATE)
        name = name.strip()
        check_lengths(specs)
        consumer = check_consumer(specs.get("consumer"))
        keys = {k: _text(v) for k, v in specs.items() if k != "consumer"}
        now = utcnow()
        row = QosSpecs(id=str(uuid.uuid4()), name=name, consumer=consumer,
                       created_at=now, updated_at=None)
        async with self._units.write() as db:
            if await self._repo.name_taken(db, name):
                raise Conflict(f"QoS Specs {name} already exists.")
            await self._repo.add(db, row, keys)
        return QosSpec(id=row.id, name=name, consumer=consumer, created_at=now, specs=keys)

    async def set_keys(
        self, caller: Caller, spec_id: str, specs: Mapping[str, str | None]
    ) -> None:
        """Add or overwrite keys; `consumer` changes the consumer (null: back-end)."""
        self._authorize(caller, P.QOS_UPDATE)
        async with self._units.write() as db:
            if await self._repo.lock(db, spec_id) is None:
                raise spec_not_found(spec_id)
            consumer = check_consumer(specs["consumer"]) if "consumer" in specs else None
            keys = {k: v for k, v in specs.items() if k != "consumer"}
            await self._repo.set_keys(db, spec_id, keys, consumer=consumer, now=utcnow())

    async def delete_keys(self, caller: Caller, spec_id: str, keys: Sequence[str]) -> None:
        """Remove `keys` in order; the first one the spec lacks is a 404, and the
        ones before it stay removed (cinder/volume/qos_specs.py delete_keys)."""
        self._authorize(caller, P.QOS_DELETE)
        missing: str | None = None
        async with self._units.write() as db:
            found = await self._repo.lock(db, spec_id)
            if found is None:
                raise spec_not_found(spec_id)
            gone: list[str] = []
            for key in keys:
                if key not in found.specs:
                    missing = key
                    break
                gone.append(key)
            if gone:
                await self._repo.delete_keys(db, spec_id, gone, now=utcnow())
        if missing is not None:
            raise key_not_found(spec_id, missing)

    async def delete(self, caller: Caller, spec_id: str, *, force: bool) -> None:
        """Delete the spec; associated with a type, only with `force`, which
        disassociates it in the same transaction."""
        self._authorize(caller, P.QOS_DELETE)
        async with self._units.write() as db:
            if await self._repo.lock(db, spec_id) is None:
                raise spec_not_found(spec_id)
            if await self._repo.associations(spec_id, unit=db):
                if not force:
                    raise InvalidRequest(IN_USE)
                await self._repo.disassociate(db, spec_id, type_id=None, now=utcnow())
            await self._repo.remove(db, spec_id)

    # --- associations -----------------------------------------------------------------

    async def associate(self, caller: Caller, spec_id: str, type_id: str | None) -> None:
        """Associate the spec with a volume type; a type has one spec at most."""
        self._authorize(caller, P.QOS_UPDATE)
        if not type_id:
            raise InvalidRequest(NO_TYPE_ID)
        async with self._units.write() as db:
            if await self._repo.lock(db, spec_id) is None:
                raise spec_not_found(spec_id)
            vtype = await self._types.lock(db, type_id)
            if vtype is None:
                raise type_not_found(type_id)
            if vtype.qos_specs_id == spec_id:
                return
            if vtype.qos_specs_id is not None:
                raise InvalidRequest(
                    f"Invalid volume type: Type {type_id} is already associated with another "
                    f"qos specs: {vtype.qos_specs_id}"
                )
            await self._repo.associate(db, spec_id, type_id, now=utcnow())

    async def disassociate(self, caller: Caller, spec_id: str, type_id: str | None) -> None:
        """Clear the type's association with this spec (none with it: nothing to do)."""
        self._authorize(caller, P.QOS_UPDATE)
        if not type_id:
            raise InvalidRequest(NO_TYPE_ID)
        async with self._units.write() as db:
            if await self._repo.lock(db, spec_id) is None:
                raise spec_not_found(spec_id)
            if await self._types.lock(db, type_id) is None:
                raise type_not_found(type_id)
            await self._repo.disassociate(db, spec_id, type_id=type_id, now=utcnow())

    async def disassociate_all(self, caller: Caller, spec_id: str) -> None:
        self._authorize(caller, P.QOS_UPDATE)
        async with self._units.write() as db:
            if await self._repo.lock(db, spec_id) is None:
                raise spec_not_found(spec_id)
            await self._repo.disassociate(db, spec_id, type_id=None, now=utcnow())


def _text(value: object) -> str | None:
    # check_lengths let only strings and nulls through.
    return None if value is None else str(value)


__all__ = ["FILTER_KEYS", "IN_USE", "NO_TYPE_ID", "SORT_KEYS", "QosQuery", "QosSpecService"]
