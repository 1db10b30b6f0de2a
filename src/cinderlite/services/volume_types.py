"""Volume types as an admin API: create, update, delete, list and show types, their
extra specs, private types' project access, encryption specs (metadata only: no
volume is encrypted here) and projects' default types (3.62), with Cinder's
policies, statuses and messages (cinder/api/contrib/types_manage.py,
types_extra_specs.py, volume_type_access.py, volume_type_encryption.py,
cinder/api/v3/types.py, default_types.py, cinder/volume/volume_types.py).

Every write is one transaction; nothing is left half-done by a crash.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cinderlite.db.models import DefaultVolumeType, VolumeType, VolumeTypeEncryption, detached
from cinderlite.db.volume_types import SORT, VolumeTypeRepository
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Conflict, Forbidden, InvalidRequest, NotFound
from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.units import Units

SORT_KEYS = frozenset(SORT.columns)
DEFAULT_TYPE_NAME = "__DEFAULT__"
# The extra specs a caller without read_sensitive sees (cinder/policies/type_extra_specs.py).
USER_VISIBLE_EXTRA_SPECS = ("RESKEY:availability_zones", "multiattach", "replication_enabled")
IS_TRUE = "<is> True"
ENCRYPTION_FIELDS = ("cipher", "key_size", "provider", "control_location")


@dataclass(frozen=True)
class TypeQuery:
    # True: public (and accessible) ones, False: private only, None: both (admins).
    is_public: bool | None
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    offset: int = 0
    # Extra specs every listed type must have (the `extra_specs` filter).
    extra_specs: Mapping[str, Any] | None = None


def type_not_found(type_id: str) -> NotFound:
    return NotFound(f"Volume type {type_id} could not be found.")



def _target(caller: Caller) -> dict[str, str]:
    return {"project_id": caller.project_id}


class VolumeTypeService:
    def __init__(self, *, units: Units, repo: VolumeTypeRepository, policy: Policy) -> None:
        self._units = units
        self._repo = repo
        self._policy = policy

    # --- what a caller sees -------------------------------------------------------------

    def _allows(self, caller: Caller, rule: str) -> bool:
        return self._policy.allows(caller, rule, _target(caller))

    def visible_specs(
        self, caller: Caller, specs: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The type's extra specs as `caller` sees them in a type's body (None: the
        key is left out), only the user-visible ones without read_sensitive."""
        if not self._allows(caller, P.TYPE_SHOW_SPECS):
            return None
        return self._trimmed(caller, specs)

    def _trimmed(self, caller: Caller, specs: Mapping[str, Any] | None) -> dict[str, Any]:
        specs = dict(specs or {})
        if self._allows(caller, P.SPEC_READ_SENSITIVE):
            return specs
        return {k: specs[k] for k in USER_VISIBLE_EXTRA_SPECS if k in specs}

    def shows_qos_id(self, caller: Caller) -> bool:
        return self._allows(caller, P.TYPE_QOS_ID)

    def shows_access(self, caller: Caller) -> bool:
        return self._allows(caller, P.TYPE_ACCESS)

    # --- read -------------------------------------------------------------------------

    def _scope(self, caller: Caller) -> str | None:
        return None if caller.is_admin else caller.project_id

    async def get(self, caller: Caller, type_id: str) -> VolumeType:
        """The type; a private one only for admins and the projects given access."""
        found = await self._repo.get(type_id, project_id=self._scope(caller))
        if found is None:
            raise type_not_found(type_id)
        return found

    async def show(self, caller: Caller, type_id: str) -> VolumeType:
        found = await self.get(caller, type_id)
        self._policy.authorize(caller, P.TYPE_GET, _target(caller))
        return found

    async def find(self, caller: Caller, name_or_id: str) -> VolumeType | None:
        """By id, then by name (Cinder get_by_name_or_id); None when the caller sees neither."""
        scope = self._scope(caller)
        found = await self._repo.get(name_or_id, project_id=scope)
        return found or await self._repo.find_by_name(name_or_id, project_id=scope)

    async def find_any(self, name_or_id: str) -> VolumeType | None:
        """By id, then by name, whoever may see it (Cinder's elevated lookup)."""
        found = await self._repo.get(name_or_id)
        return found or await self._repo.find_by_name(name_or_id)

    async def default_for(self, project_id: str) -> VolumeType | None:
        """The project's default type (3.62), else the `__DEFAULT__` one (None: not made yet)."""
        chosen = await self._repo.project_default(project_id)
        if chosen is not None:
            found = await self._repo.get(chosen.volume_type_id)
            if found is not None:
                return found
        return await self._repo.find_by_name(DEFAULT_TYPE_NAME)

    async def list_types(self, caller: Caller, query: TypeQuery) -> list[VolumeType]:
        self._policy.authorize(caller, P.TYPES_GET_ALL, _target(caller))
        is_public = query.is_public if caller.is_admin else True
        wanted = dict(query.extra_specs or {})
        # Cinder: a filter on a spec the caller may not read matches nothing.
        if (wanted and not self._allows(caller, P.SPEC_READ_SENSITIVE)
                and any(k not in USER_VISIBLE_EXTRA_SPECS for k in wanted)):
            return []
        found = await self._repo.page(
            visible_to=self._scope(caller), project_id=caller.project_id, is_public=is_public,
            sort=query.sort, limit=None if wanted else query.limit, marker_id=query.marker,
            offset=0 if wanted else query.offset,
        )
        if found is None:
            raise type_not_found(str(query.marker))
        if wanted:
            found = [t for t in found if _has_specs(t.extra_specs or {}, wanted)]
            found = found[query.offset:]
            if query.limit is not None:
                found = found[:query.limit]
        return found

    # --- write ------------------------------------------------------------------------

    async def create(
        self, caller: Caller, *, name: str, description: str | None,
        specs: Mapping[str, Any], is_public: bool,
    ) -> VolumeType:
        self._policy.authorize(caller, P.TYPE_CREATE, _target(caller))
        now = utcnow()
        async with self._units.write() as db:
            if await self._repo.name_taken(db, name):
                raise Conflict(f"Volume Type {name} already exists.")
            row = VolumeType(
                id=str(uuid.uuid4()), name=name, description=description, is_public=is_public,
                extra_specs=dict(specs), qos_specs_id=None, created_at=now, updated_at=now,
            )
            await self._repo.add(db, row)
            return detached(row)

    async def update(
        self, caller: Caller, type_id: str, *, name: str | None, description: str | None,
        is_public: bool | None,
    ) -> VolumeType:
        self._policy.authorize(caller, P.TYPE_UPDATE, _target(caller))
        if name and not name.strip():
            raise InvalidRequest("Volume type name can not be empty.")
        if name is None and description is None and is_public is None:
            raise InvalidRequest(
                "Specify volume type name, description, is_public or a combination thereof."
            )
        values: dict[str, object] = {"updated_at": utcnow()}
        for key, value in (("name", name), ("description", description),
                           ("is_public", is_public)):
            if value is not None:
                values[key] = value
        async with self._units.write() as db:
            row = await self._repo.lock(db, type_id)
            if row is None:
                raise type_not_found(type_id)
            if name is not None and await self._repo.name_taken(db, name, other_than=type_id):
                raise Conflict(f"Volume Type {name} already exists.")
            if row.name == DEFAULT_TYPE_NAME and name is not None and name != row.name:
                # Cinder: the default type keeps its name.
                raise InvalidRequest("The type of __DEFAULT__ cannot be updated.")
            await self._repo.update_fields(db, type_id, values)
        return await self.get(caller, type_id)

    async def delete(self, caller: Caller, type_id: str) -> None:
        self._policy.authorize(caller, P.TYPE_DELETE, _target(caller))
        async with self._units.write() as db:
            row = await self._repo.lock(db, type_id)
            if row is None:
                raise type_not_found(type_id)
            if row.name == DEFAULT_TYPE_NAME or await self._repo.is_project_default(db, type_id):
                raise InvalidRequest(
                    f"The volume type {type_id} is a default volume type and cannot be deleted."
                )
            if await self._repo.count(db) <= 1:
                raise InvalidRequest(
                    f"The volume type {type_id} is the only currently defined volume type "
                    "and cannot be deleted."
                )
            if await self._repo.in_use(db, type_id):
                raise InvalidRequest("Target volume type is still in use.")
            await self._repo.remove(db, type_id)

    # --- extra specs ------------------------------------------------------------------

    async def _allow_update(self, type_id: str) -> None:
        if await self._repo.has_volumes(None, type_id):
            raise InvalidRequest("Volume Type is currently in use.")

    async def get_specs(self, caller: Caller, type_id: str) -> dict[str, Any]:
        self._policy.authorize(caller, P.TYPE_GET_ALL, _target(caller))
        found = await self.get(caller, type_id)
        return self._trimmed(caller, found.extra_specs)

    async def get_spec(self, caller: Caller, type_id: str, key: str) -> Any:
        self._policy.authorize(caller, P.SPEC_GET, _target(caller))
        specs = self._trimmed(caller, (await self.get(caller, type_id)).extra_specs)
        if key not in specs:
            raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
        return specs[key]

    async def set_specs(
        self, caller: Caller, type_id: str, specs: Mapping[str, Any], *,
        uri_key: str | None = None,
    ) -> None:
        """Merge `specs` into the type's (create: several keys; update of `uri_key`:
        one, which must be the key the URL names)."""
        rule = P.SPEC_CREATE if uri_key is None else P.SPEC_UPDATE
        self._policy.authorize(caller, rule, _target(caller))
        await self._allow_update(type_id)
        await self.get(caller, type_id)
        if uri_key is not None and uri_key not in specs:
            raise InvalidRequest("Request body and URI mismatch")
        async with self._units.write() as db:
            row = await self._repo.lock(db, type_id)
            if row is None:
                raise type_not_found(type_id)
            current = dict(row.extra_specs or {})
            _check_cacheable(specs, current)
            await self._repo.update_fields(
                db, type_id, {"extra_specs": {**current, **specs}, "updated_at": utcnow()}
            )

    async def delete_spec(self, caller: Caller, type_id: str, key: str) -> None:
        await self.get(caller, type_id)
        self._policy.authorize(caller, P.SPEC_DELETE, _target(caller))
        await self._allow_update(type_id)
        async with self._units.write() as db:
            row = await self._repo.lock(db, type_id)
            if row is None:
                raise type_not_found(type_id)
            specs = dict(row.extra_specs or {})
            if key not in specs:
                raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
            del specs[key]
            await self._repo.update_fields(
                db, type_id, {"extra_specs": specs, "updated_at": utcnow()}
            )

    # --- project access -----------------------------------------------------------------

    async def access_list(self, caller: Caller, type_id: str) -> list[str]:
        self._policy.authorize(caller, P.TYPE_ACCESS_LIST, _target(caller))
        found = await self.get(caller, type_id)
        if found.is_public:
            raise NotFound("Access list not available for public volume types.")
        return await self._repo.projects(type_id)

    async def _lock_private(self, db: Any, type_id: str) -> None:
        """Lock the type whose access list changes; only a private type has one."""
        row = await self._repo.lock(db, type_id)
        if row is None:
            raise type_not_found(type_id)
        if row.is_public:
            raise InvalidRequest(
                "Invalid volume type: Type access modification is not applicable to "
                "public volume type."
            )

    async def add_access(self, caller: Caller, type_id: str, project_id: str) -> None:
        self._policy.authorize(caller, P.TYPE_ACCESS_ADD, _target(caller))
        async with self._units.write() as db:
            await self._lock_private(db, type_id)
            if await self._repo.has_access(db, type_id, project_id):
                raise Conflict(
                    f"Volume type access for {type_id} / {project_id} combination "
                    "already exists."
                )
            await self._repo.add_access(db, type_id, project_id)

    async def remove_access(self, caller: Caller, type_id: str, project_id: str) -> None:
        self._policy.authorize(caller, P.TYPE_ACCESS_REMOVE, _target(caller))
        async with self._units.write() as db:
            await self._lock_private(db, type_id)
            if not await self._repo.remove_access(db, type_id, project_id):
                raise NotFound(
                    f"Volume type access not found for {type_id} / {project_id} combination."
                )

    # --- encryption (metadata only) -------------------------------------------------------

    async def get_encryption(self, caller: Caller, type_id: str) -> VolumeTypeEncryption | None:
        self._policy.authorize(caller, P.ENCRYPTION_GET, _target(caller))
        await self.get(caller, type_id)
        return await self._repo.encryption(type_id)

    async def create_encryption(
        self, caller: Caller, type_id: str, specs: Mapping[str, Any]
    ) -> str:
        """Store the specs; the new encryption_id."""
        self._policy.authorize(caller, P.ENCRYPTION_CREATE, _target(caller))
        if await self._repo.has_volumes(None, type_id):
            raise InvalidRequest("Cannot create encryption specs. Volume type in use.")
        await self.get(caller, type_id)
        now = utcnow()
        async with self._units.write() as db:
            if await self._repo.lock(db, type_id) is None:
                raise type_not_found(type_id)
            if await self._repo.encryption(type_id, unit=db) is not None:
                raise InvalidRequest(
                    f"Volume type encryption for type {type_id} already exists."
                )
            encryption_id = str(uuid.uuid4())
            await self._repo.add_encryption(db, VolumeTypeEncryption(
                volume_type_id=type_id, encryption_id=encryption_id,
                cipher=specs.get("cipher"), key_size=specs.get("key_size"),
                provider=specs["provider"], control_location=specs["control_location"],
                created_at=now, updated_at=None,
            ))
        return encryption_id

    async def update_encryption(
        self, caller: Caller, type_id: str, specs: Mapping[str, Any]
    ) -> None:
        self._policy.authorize(caller, P.ENCRYPTION_UPDATE, _target(caller))
        await self.get(caller, type_id)
        if await self._repo.has_volumes(None, type_id):
            raise InvalidRequest("Cannot update encryption specs. Volume type in use.")
        values: dict[str, Any] = {k: specs[k] for k in ENCRYPTION_FIELDS if k in specs}
        values["updated_at"] = utcnow()
        async with self._units.write() as db:
            if not await self._repo.update_encryption(db, type_id, values):
                raise NotFound(f"Volume type encryption for type {type_id} does not exist.")

    async def delete_encryption(self, caller: Caller, type_id: str) -> None:
        self._policy.authorize(caller, P.ENCRYPTION_DELETE, _target(caller))
        if await self._repo.has_volumes(None, type_id):
            raise InvalidRequest("Cannot delete encryption specs. Volume type in use.")
        async with self._units.write() as db:
            if not await self._repo.remove_encryption(db, type_id):
                raise NotFound(f"Volume type encryption for type {type_id} does not exist.")

    # --- projects' default types (3.62) -----------------------------------------------------

    async def set_default(
        self, caller: Caller, project_id: str, type_ref: str
    ) -> DefaultVolumeType:
        self._policy.authorize(caller, P.DEFAULT_SET, {"project_id": project_id})
        found = await self.find(caller, type_ref)
        if found is None:
            raise InvalidRequest(f"Volume type {type_ref} could not be found.")
        now = utcnow()
        async with self._units.write() as db:
            if await self._repo.lock(db, found.id) is None:
                raise InvalidRequest(f"Volume type {type_ref} could not be found.")
            row = DefaultVolumeType(
                project_id=project_id, volume_type_id=found.id, created_at=now, updated_at=now,
            )
            await self._repo.set_project_default(db, row)
        return row

    async def get_default(self, caller: Caller, project_id: str) -> DefaultVolumeType:
        self._policy.authorize(caller, P.DEFAULT_GET, {"project_id": project_id})
        found = await self._repo.project_default(project_id)
        if found is None:
            raise NotFound(f"Default type for project {project_id} not found.")
        return found

    async def list_defaults(self, caller: Caller) -> list[DefaultVolumeType]:
        if not self._allows(caller, P.DEFAULT_GET_ALL):
            raise Forbidden("You are not authorized to perform this operation.")
        return await self._repo.project_defaults()

    async def unset_default(self, caller: Caller, project_id: str) -> None:
        self._policy.authorize(caller, P.DEFAULT_UNSET, {"project_id": project_id})
        async with self._units.write() as db:
            await self._repo.unset_project_default(db, project_id)


def _has_specs(specs: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    return all(k in specs and str(specs[k]) == str(v) for k, v in wanted.items())


def _check_cacheable(specs: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    """cinder/api/contrib/types_extra_specs.py _check_cacheable."""
    multiattach = specs.get("multiattach") == IS_TRUE or (
        current.get("multiattach") == IS_TRUE and "multiattach" not in specs
    )
    cacheable = specs.get("cacheable") == IS_TRUE or (
        current.get("cacheable") == IS_TRUE and "cacheable" not in specs
    )
    if multiattach and cacheable and (
        specs.get("multiattach") == IS_TRUE or specs.get("cacheable") == IS_TRUE
    ):
        raise InvalidRequest("cacheable cannot be set with multiattach.")


__all__ = ["SORT_KEYS", "TypeQuery", "VolumeTypeService", "type_not_found"]
