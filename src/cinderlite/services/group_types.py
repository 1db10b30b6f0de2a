"""Group types (3.11): create, list, show, update, delete, the default group type,
and group specs, with Cinder's policies, statuses and messages
(cinder/api/v3/group_types.py, group_specs.py, cinder/volume/group_types.py).

Every write is one transaction; nothing is left half-done by a crash.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cinderlite.db.group_types import SORT, GroupTypeRepository
from cinderlite.db.models import GroupType, detached
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    GroupTypeExists,
    GroupTypeNotFound,
    GroupTypeNotFoundByName,
    InvalidRequest,
    NotFound,
)
from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.units import Units

SORT_KEYS = frozenset(SORT.columns)


@dataclass(frozen=True)
class GroupTypeQuery:
    # True: public only, False: private only, None: both (admins' `is_public=None`).
    is_public: bool | None
    sort: list[tuple[str, str]]
    limit: int | None
    marker: str | None
    offset: int = 0



class GroupTypeService:
    """Group types and their specs; `default_name` is Cinder's default_group_type."""

    def __init__(
        self, *, units: Units, repo: GroupTypeRepository, policy: Policy,
        default_name: str | None,
    ) -> None:
        self._units = units
        self._repo = repo
        self._policy = policy
        self._default_name = default_name

    def shows_specs(self, caller: Caller) -> bool:
        return self._policy.allows(
            caller, P.GROUP_TYPE_SHOW_SPECS, {"project_id": caller.project_id}
        )

    # --- read ---------------------------------------------------------------------

    async def get(self, caller: Caller, type_id: str) -> GroupType:
        """The group type; a private one is seen by admins only (Cinder's query)."""
        found = await self._repo.get(type_id)
        if found is None or (not found.is_public and not caller.is_admin):
            raise GroupTypeNotFound(type_id)
        return found

    async def find(self, caller: Caller, name_or_id: str) -> GroupType:
        """By id, then by name (Cinder API.create of groups)."""
        found = await self._repo.get(name_or_id)
        if found is None or (not found.is_public and not caller.is_admin):
            found = await self._repo.find_by_name(name_or_id)
            if found is None or (not found.is_public and not caller.is_admin):
                raise GroupTypeNotFound(name_or_id)
        return found

    async def find_by_name(self, caller: Caller, name: str) -> GroupType:
        found = await self._repo.find_by_name(name)
        if found is None or (not found.is_public and not caller.is_admin):
            raise GroupTypeNotFoundByName(name)
        return found

    async def default(self) -> GroupType:
        """The group type named by default_group_type; NotFound with Cinder's text
        when none is configured or it names no type."""
        found = None
        if self._default_name is not None:
            found = await self._repo.find_by_name(self._default_name)
        if found is None:
            raise NotFound("Default group type can not be found.")
        return found

    async def list_types(self, caller: Caller, query: GroupTypeQuery) -> list[GroupType]:
        # Only admins choose: everyone else sees the public types.
        is_public = query.is_public if caller.is_admin else True
        found = await self._repo.page(
            is_public=is_public, sort=query.sort, limit=query.limit, marker_id=query.marker,
            offset=query.offset,
        )
        if found is None:
            raise GroupTypeNotFound(str(query.marker))
        return found

    # --- write --------------------------------------------------------------------

    async def create(
        self, caller: Caller, *, name: str, description: str | None,
        specs: Mapping[str, str | None], is_public: bool,
    ) -> GroupType:
        self._policy.authorize(caller, P.GROUP_TYPE_CREATE, {"project_id": caller.project_id})
        async with self._units.write() as db:
            if await self._repo.name_taken(db, name):
                raise GroupTypeExists(name)
            row = GroupType(
                id=str(uuid.uuid4()), name=name, description=description, is_public=is_public,
                group_specs=dict(specs), created_at=utcnow(), updated_at=None,
            )
            await self._repo.add(db, row)
            return detached(row)

    async def update(
        self, caller: Caller, type_id: str, *, name: str | None, description: str | None,
        is_public: bool | None,
    ) -> GroupType:
        self._policy.authorize(caller, P.GROUP_TYPE_UPDATE, {"project_id": caller.project_id})
        if name is not None and name and not name.strip():
            raise InvalidRequest("Group type name can not be empty.")
        if name is None and description is None and is_public is None:
            raise InvalidRequest("Specify group type name, description or a combination thereof.")
        values: dict[str, object] = {"updated_at": utcnow()}
        for key, value in (("name", name), ("description", description),
                           ("is_public", is_public)):
            if value is not None:
                values[key] = value
        async with self._units.write() as db:
            if name is not None and await self._repo.name_taken(db, name, other_than=type_id):
                raise GroupTypeExists(name)
            if not await self._repo.update_fields(db, type_id, values):
                raise GroupTypeNotFound(type_id)
        return await self.get(caller, type_id)

    async def delete(self, caller: Caller, type_id: str) -> None:
        self._policy.authorize(caller, P.GROUP_TYPE_DELETE, {"project_id": caller.project_id})
        async with self._units.write() as db:
            if await self._repo.lock(db, type_id) is None:
                raise GroupTypeNotFound(type_id)
            if await self._repo.in_use(db, type_id):
                # cinder/volume/group_types.py destroy: the controller's own text,
                # then GroupTypeInUse's.
                raise InvalidRequest(
                    f"Target group type is still in use. Group Type {type_id} deletion is "
                    "not allowed with groups present with the type."
                )
            await self._repo.remove(db, type_id)

    # --- specs --------------------------------------------------------------------

    async def _check_type(self, caller: Caller, type_id: str) -> GroupType:
        return await self.get(caller, type_id)

    async def get_specs(self, caller: Caller, type_id: str) -> dict[str, str | None]:
        self._policy.authorize(caller, P.GROUP_SPEC_GET_ALL, {"project_id": caller.project_id})
        found = await self._check_type(caller, type_id)
        return dict(found.group_specs or {})

    async def get_spec(self, caller: Caller, type_id: str, key: str) -> str | None:
        self._policy.authorize(caller, P.GROUP_SPEC_GET, {"project_id": caller.project_id})
        specs = dict((await self._check_type(caller, type_id)).group_specs or {})
        if key not in specs:
            raise NotFound(f"Group Type {type_id} has no extra spec with key {key}.")
        value = specs[key]
        return None if value is None else str(value)

    async def set_specs(
        self, caller: Caller, type_id: str, specs: Mapping[str, str | None], *,
        uri_key: str | None = None,
    ) -> None:
        """Merge `specs` into the type's (create: several keys; update of `uri_key`:
        one, which must be the key the URL names)."""
        rule = P.GROUP_SPEC_CREATE if uri_key is None else P.GROUP_SPEC_UPDATE
        self._policy.authorize(caller, rule, {"project_id": caller.project_id})
        await self._check_type(caller, type_id)
        if uri_key is not None and uri_key not in specs:
            raise InvalidRequest("Request body and URI mismatch")
        async with self._units.write() as db:
            row = await self._repo.lock(db, type_id)
            if row is None:
                raise GroupTypeNotFound(type_id)
            merged = {**(row.group_specs or {}), **specs}
            await self._repo.update_fields(db, type_id, {"group_specs": merged,
                                                          "updated_at": utcnow()})

    async def delete_spec(self, caller: Caller, type_id: str, key: str) -> None:
        self._policy.authorize(caller, P.GROUP_SPEC_DELETE, {"project_id": caller.project_id})
        await self._check_type(caller, type_id)
        async with self._units.write() as db:
            row = await self._repo.lock(db, type_id)
            if row is None:
                raise GroupTypeNotFound(type_id)
            specs = dict(row.group_specs or {})
            if key not in specs:
                raise NotFound(f"Group Type {type_id} has no specs with key {key}.")
            del specs[key]
            await self._repo.update_fields(db, type_id, {"group_specs": specs,
                                                          "updated_at": utcnow()})


__all__ = ["SORT_KEYS", "GroupTypeQuery", "GroupTypeService"]
