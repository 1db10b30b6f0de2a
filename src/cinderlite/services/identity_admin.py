"""Identity management use cases: domains, projects, users, roles and grants.

Used by the identity API (admin only) and the `cinderlite` CLI through
`IdentityAdminService`. Each method opens its own unit of work: reads in a
read unit, each write in one write unit of a few statements, so a crash before
commit leaves nothing behind (the unit rolls back as a whole).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cinderlite.db.identity import IdentityRepository, implied_closure
from cinderlite.db.models import Domain, Project, Role, User
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unauthenticated,
)
from cinderlite.domain.identity import DEFAULT_DOMAIN_ID, PROHIBITED_IMPLIED_ROLES
from cinderlite.services.identity import hash_password, new_id, verify_password
from cinderlite.services.units import Unit, Units


class IdentityNotFound(NotFound):
    """Keystone's `Could not find <kind>: <id>.`"""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"Could not find {kind}: {ident}.")
        self.kind = kind
        self.ident = ident


class DuplicateEntry(Conflict):
    def __init__(self, kind: str, name: str, domain_id: str | None) -> None:
        where = f" at domain ID {domain_id}" if domain_id is not None else ""
        super().__init__(
            f"Conflict occurred attempting to store {kind} - Duplicate entry found with "
            f"name {name}{where}."
        )


GRANT_CONFLICT = "Conflict occurred attempting to store role grant."
IMPLIED_CONFLICT = "Conflict occurred attempting to store implied_role - Duplicate entry."


def _no_grant(role_id: str, user_id: str, project_id: str) -> IdentityNotFound:
    err = IdentityNotFound("role assignment", "")
    err.message = (
        f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
        f"project, domain, or system: {project_id}."
    )
    err.args = (err.message,)
    return err


@dataclass(frozen=True)
class Inference:
    """A prior role and the roles a grant of it also gives."""

    prior: Role
    implies: list[Role]


@dataclass(frozen=True)
class Assignment:
    """A role of a user on a project, or on the system (`project` None)."""

    user: User
    project: Project | None
    project_domain: Domain | None
    user_domain: Domain
    role: Role
    # Set on an effective assignment that a grant of this role implies.
    prior_role: Role | None = None


class IdentityAdminService:
    def __init__(self, *, units: Units, repo: IdentityRepository) -> None:
        self._units = units
        self._repo = repo

    # --- lookups ----------------------------------------------------------------

    async def get_domain(self, domain_id: str) -> Domain:
        async with self._units.read() as unit:
            return await self._domain(unit, domain_id)

    async def get_project(self, project_id: str) -> Project:
        async with self._units.read() as unit:
            return await self._project(unit, project_id)

    async def get_user(self, user_id: str) -> User:
        async with self._units.read() as unit:
            return await self._user(unit, user_id)

    async def get_role(self, role_id: str) -> Role:
        async with self._units.read() as unit:
            return await self._role(unit, role_id)

    async def find_by_name_or_id(self, kind: str, ref: str) -> Any:
        """For the CLI: a project, user or role (of the default domain) by id or name."""
        repo = self._repo
        async with self._units.read() as unit:
            found: Project | User | Role | None
            if kind == "project":
                found = await repo.get_project(unit, ref) or await repo.find_project(
                    unit, name=ref, domain_id=DEFAULT_DOMAIN_ID
                )
            elif kind == "user":
                found = await repo.get_user(unit, ref) or await repo.find_user(
                    unit, name=ref, domain_id=DEFAULT_DOMAIN_ID
                )
            else:
                found = await repo.get_role(unit, ref) or await repo.find_role(unit, name=ref)
        if found is None:
            raise IdentityNotFound(kind, ref)
        return found

    async def list_domains(self, *, name: str | None = None) -> list[Domain]:
        async with self._units.read() as unit:
            return await self._repo.list_domains(unit, name=name)

    async def list_projects(
        self, *, name: str | None = None, domain_id: str | None = None
    ) -> list[Project]:
        async with self._units.read() as unit:
            return await self._repo.list_projects(unit, name=name, domain_id=domain_id)

    async def list_users(
        self, *, name: str | None = None, domain_id: str | None = None
    ) -> list[User]:
        async with self._units.read() as unit:
            return await self._repo.list_users(unit, name=name, domain_id=domain_id)

    async def list_roles(self, *, name: str | None = None) -> list[Role]:
        async with self._units.read() as unit:
            return await self._repo.list_roles(unit, name=name)

    # --- projects -----------------------------------------------------------------

    async def create_project(
        self, *, name: str, domain_id: str, description: str = "", enabled: bool = True
    ) -> Project:
        async with self._units.write() as unit:
            await self._domain(unit, domain_id)
            if await self._repo.find_project(unit, name=name, domain_id=domain_id) is not None:
                raise DuplicateEntry("project", name, domain_id)
            project = Project(
                id=new_id(), name=name, domain_id=domain_id, description=description,
                enabled=enabled, created_at=utcnow(),
            )
            try:
                await self._repo.add(unit, project)
            except Conflict as exc:  # a concurrent create of the same name won the race
                raise DuplicateEntry("project", name, domain_id) from exc
        return project

    async def update_project(self, project_id: str, values: Mapping[str, Any]) -> Project:
        async with self._units.write() as unit:
            project = await self._project(unit, project_id)
            if "domain_id" in values and values["domain_id"] != project.domain_id:
                raise InvalidRequest("Update of `domain_id` is not allowed.")
            changes = {k: v for k, v in values.items() if k in ("name", "description", "enabled")}
            name = changes.get("name")
            if (
                name is not None and name != project.name
                and await self._repo.find_project(unit, name=name, domain_id=project.domain_id)
            ):
                raise DuplicateEntry("project", name, project.domain_id)
            try:
                await self._repo.update(unit, project, changes)
            except Conflict as exc:
                raise DuplicateEntry("project", str(name), project.domain_id) from exc
        return project

    async def delete_project(self, project_id: str) -> None:
        async with self._units.write() as unit:
            await self._project(unit, project_id)
            await self._repo.delete_project(unit, project_id)

    async def user_projects(self, user_id: str) -> list[Project]:
        """Projects on which the user holds at least one role."""
        async with self._units.read() as unit:
            await self._user(unit, user_id)
            return await self._repo.list_projects(unit, user_id=user_id)

    # --- users ----------------------------------------------------------------------

    async def create_user(
        self, *, name: str, domain_id: str, password: str | None = None,
        default_project_id: str | None = None, enabled: bool = True, email: str | None = None,
        description: str = "", roles: Sequence[str] = (),
    ) -> User:
        """A new user; `roles` (ids) are granted on the default project in the same unit."""
        # Argon2 (~0.1 s) before the write unit: on SQLite every writer waits for it.
        password_hash = await asyncio.to_thread(hash_password, password) if password else None
        async with self._units.write() as unit:
            await self._domain(unit, domain_id)
            if default_project_id is not None:
                await self._project(unit, default_project_id)
            if await self._repo.find_user(unit, name=name, domain_id=domain_id) is not None:
                raise DuplicateEntry("user", name, domain_id)
            user = User(
                id=new_id(), name=name, domain_id=domain_id, password_hash=password_hash,
                default_project_id=default_project_id, enabled=enabled, email=email,
                description=description, created_at=utcnow(),
            )
            try:
                await self._repo.add(unit, user)
            except Conflict as exc:
                raise DuplicateEntry("user", name, domain_id) from exc
            for role_id in roles:
                if default_project_id is None:
                    raise InvalidRequest("Roles are granted on the default project: give one.")
                await self._grant(unit, project_id=default_project_id, user_id=user.id,
                                  role_id=role_id)
        return user

    async def update_user(self, user_id: str, values: Mapping[str, Any]) -> User:
        """Apply a PATCH. A new password or disabling revokes the user's tokens, as
        Keystone does."""
        password_hash = None
        if values.get("password") is not None:
            password_hash = await asyncio.to_thread(hash_password, values["password"])
        async with self._units.write() as unit:
            return await self._update_user(unit, user_id, values, password_hash)

    async def change_password(
        self, user_id: str, *, original_password: str, password: str
    ) -> None:
        """Self-service change: Unauthenticated unless `original_password` is right.

        Both Argon2 runs happen outside the write unit; the write unit checks that
        the password checked is still the user's."""
        checked = (await self.get_user(user_id)).password_hash
        if not await asyncio.to_thread(verify_password, checked, original_password):
            raise Unauthenticated()
        password_hash = await asyncio.to_thread(hash_password, password)
        async with self._units.write() as unit:
            user = await self._repo.get_user(unit, user_id, lock=True)
            if user is None or user.password_hash != checked:
                raise Unauthenticated()
            await self._update_user(unit, user_id, {}, password_hash)

    async def _update_user(
        self, unit: Unit, user_id: str, values: Mapping[str, Any], password_hash: str | None
    ) -> User:
        user = await self._user(unit, user_id)
        if "domain_id" in values and values["domain_id"] != user.domain_id:
            raise InvalidRequest("Update of `domain_id` is not allowed.")
        fields = ("name", "description", "enabled", "email", "default_project_id")
        changes: dict[str, Any] = {k: v for k, v in values.items() if k in fields}
        if changes.get("default_project_id") is not None:
            await self._project(unit, changes["default_project_id"])
        name = changes.get("name")
        if (
            name is not None and name != user.name
            and await self._repo.find_user(unit, name=name, domain_id=user.domain_id)
        ):
            raise DuplicateEntry("user", name, user.domain_id)
        revoke = changes.get("enabled") is False
        if password_hash is not None:
            changes["password_hash"] = password_hash
            revoke = True
        try:
            await self._repo.update(unit, user, changes)
        except Conflict as exc:
            raise DuplicateEntry("user", str(name), user.domain_id) from exc
        if revoke:
            await self._repo.revoke_user_tokens(unit, user.id)
        return user

    async def delete_user(self, user_id: str) -> None:
        async with self._units.write() as unit:
            await self._user(unit, user_id)
            await self._repo.delete_user(unit, user_id)

    # --- roles ----------------------------------------------------------------------

    async def create_role(self, *, name: str, description: str = "") -> Role:
        async with self._units.write() as unit:
            if await self._repo.find_role(unit, name=name) is not None:
                raise DuplicateEntry("role", name, None)
            role = Role(id=new_id(), name=name, description=description)
            try:
                await self._repo.add(unit, role)
            except Conflict as exc:
                raise DuplicateEntry("role", name, None) from exc
        return role

    async def delete_role(self, role_id: str) -> None:
        async with self._units.write() as unit:
            await self._role(unit, role_id)
            await self._repo.delete_role(unit, role_id)

    # --- role inference rules (Keystone's implied roles) ---------------------------------

    async def implied_role(self, prior_role_id: str, implied_role_id: str) -> Inference:
        async with self._units.read() as unit:
            return await self._implied_role(unit, prior_role_id, implied_role_id)

    async def create_implied_role(self, prior_role_id: str, implied_role_id: str) -> Inference:
        """Keystone's rules: both roles exist, the implied one is not prohibited
        ([assignment] prohibited_implied_role: admin), no duplicate (409)."""
        async with self._units.write() as unit:
            prior = await self._role(unit, prior_role_id)
            implied = await self._role(unit, implied_role_id)
            if implied.name in PROHIBITED_IMPLIED_ROLES:
                raise Forbidden(f"{implied_role_id} cannot be an implied roles.")
            if await self._repo.has_implication(
                unit, prior_role_id=prior.id, implied_role_id=implied.id
            ):
                raise Conflict(IMPLIED_CONFLICT)
            try:
                await self._repo.add_implication(
                    unit, prior_role_id=prior.id, implied_role_id=implied.id
                )
            except Conflict as exc:
                raise Conflict(IMPLIED_CONFLICT) from exc
        return Inference(prior, [implied])

    async def delete_implied_role(self, prior_role_id: str, implied_role_id: str) -> None:
        async with self._units.write() as unit:
            await self._implied_role(unit, prior_role_id, implied_role_id)
            await self._repo.delete_implication(
                unit, prior_role_id=prior_role_id, implied_role_id=implied_role_id
            )

    async def implied_roles_of(self, prior_role_id: str) -> Inference:
        async with self._units.read() as unit:
            prior = await self._role(unit, prior_role_id)
            rules = [r for r in await self._repo.implications(unit)
                     if r.prior_role_id == prior.id]
            roles = {r.id: r for r in await self._repo.list_roles(unit)}
        return Inference(prior, [roles[r.implied_role_id] for r in rules
                                 if r.implied_role_id in roles])

    async def role_inferences(self) -> list[Inference]:
        """Every prior role with what it implies (GET /v3/role_inferences)."""
        async with self._units.read() as unit:
            roles = {r.id: r for r in await self._repo.list_roles(unit)}
            rules = await self._repo.implications(unit)
        found: dict[str, Inference] = {}
        for rule in rules:
            if rule.prior_role_id in roles and rule.implied_role_id in roles:
                found.setdefault(rule.prior_role_id, Inference(roles[rule.prior_role_id], []))
                found[rule.prior_role_id].implies.append(roles[rule.implied_role_id])
        return list(found.values())

    async def _implied_role(
        self, unit: Unit, prior_role_id: str, implied_role_id: str
    ) -> Inference:
        prior = await self._role(unit, prior_role_id)
        implied = await self._role(unit, implied_role_id)
        if not await self._repo.has_implication(
            unit, prior_role_id=prior.id, implied_role_id=implied.id
        ):
            raise NotFound(f"{prior_role_id} does not imply {implied_role_id}.")
        return Inference(prior, [implied])

    # --- grants on projects -------------------------------------------------------------

    async def grant_role(self, *, project_id: str, user_id: str, role_id: str) -> None:
        """Idempotent: granting a held role again is a no-op (Keystone answers 204
        both times)."""
        async with self._units.write() as unit:
            await self._grant(unit, project_id=project_id, user_id=user_id, role_id=role_id)

    async def check_grant(self, *, project_id: str, user_id: str, role_id: str) -> None:
        async with self._units.read() as unit:
            await self._grant_parts(unit, project_id, user_id, role_id)
            if not await self._repo.has_grant(
                unit, user_id=user_id, project_id=project_id, role_id=role_id
            ):
                raise _no_grant(role_id, user_id, project_id)

    async def revoke_role(self, *, project_id: str, user_id: str, role_id: str) -> None:
        async with self._units.write() as unit:
            await self._grant_parts(unit, project_id, user_id, role_id)
            if not await self._repo.revoke_grant(
                unit, user_id=user_id, project_id=project_id, role_id=role_id
            ):
                raise _no_grant(role_id, user_id, project_id)

    async def project_user_roles(self, *, project_id: str, user_id: str) -> list[Role]:
        async with self._units.read() as unit:
            await self._project(unit, project_id)
            await self._user(unit, user_id)
            return await self._repo.roles_on_project(
                unit, user_id=user_id, project_id=project_id
            )

    async def _grant(self, unit: Unit, *, project_id: str, user_id: str, role_id: str) -> None:
        await self._grant_parts(unit, project_id, user_id, role_id)
        try:
            await self._repo.grant(
                unit, user_id=user_id, project_id=project_id, role_id=role_id
            )
        except Conflict:
            # A concurrent identical grant committed first; the state asked for is
            # there, but the unit is spoiled: let the caller retry cleanly.
            raise Conflict(GRANT_CONFLICT) from None

    async def _grant_parts(
        self, unit: Unit, project_id: str, user_id: str, role_id: str
    ) -> None:
        await self._role(unit, role_id)
        await self._project(unit, project_id)
        await self._user(unit, user_id)

    # --- grants on the system -------------------------------------------------------------

    async def system_user_roles(self, *, user_id: str) -> list[Role]:
        async with self._units.read() as unit:
            await self._user(unit, user_id)
            return await self._repo.roles_on_system(unit, user_id=user_id)

    async def grant_system_role(self, *, user_id: str, role_id: str) -> None:
        """Idempotent, as a project grant (Keystone answers 204 both times)."""
        async with self._units.write() as unit:
            await self._system_grant_parts(unit, user_id, role_id)
            try:
                await self._repo.grant_system(unit, user_id=user_id, role_id=role_id)
            except Conflict:
                raise Conflict(GRANT_CONFLICT) from None

    async def check_system_grant(self, *, user_id: str, role_id: str) -> None:
        async with self._units.read() as unit:
            await self._system_grant_parts(unit, user_id, role_id)
            if not await self._repo.has_system_grant(unit, user_id=user_id, role_id=role_id):
                raise _no_grant(role_id, user_id, "system")

    async def revoke_system_role(self, *, user_id: str, role_id: str) -> None:
        async with self._units.write() as unit:
            await self._system_grant_parts(unit, user_id, role_id)
            if not await self._repo.revoke_system_grant(
                unit, user_id=user_id, role_id=role_id
            ):
                raise _no_grant(role_id, user_id, "system")

    async def _system_grant_parts(self, unit: Unit, user_id: str, role_id: str) -> None:
        await self._role(unit, role_id)
        await self._user(unit, user_id)

    # --- role assignments ---------------------------------------------------------------

    async def list_assignments(
        self, *, user_id: str | None = None, project_id: str | None = None,
        role_id: str | None = None, effective: bool = False, projects: bool = True,
        system: bool = True,
    ) -> list[Assignment]:
        """User-on-project and user-on-system assignments (there are no groups or
        inheritance); `projects`/`system` choose which. With `effective`, each grant
        also yields the roles it implies, transitively, as Keystone lists them (the
        `role_id` filter then applies to those too)."""
        async with self._units.read() as unit:
            return await self._list_assignments(
                unit, user_id=user_id, project_id=project_id, role_id=role_id,
                effective=effective, projects=projects, system=system,
            )

    async def _list_assignments(
        self, unit: Unit, *, user_id: str | None, project_id: str | None,
        role_id: str | None, effective: bool, projects: bool, system: bool,
    ) -> list[Assignment]:
        repo = self._repo
        grants: list[tuple[str, str | None, str]] = []
        if projects:
            rows = await repo.list_assignments(
                unit, user_id=user_id, project_id=project_id,
                role_id=None if effective else role_id,
            )
            grants += [(r.user_id, r.project_id, r.role_id) for r in rows]
        if system and project_id is None:
            system_rows = await repo.list_system_assignments(
                unit, user_id=user_id, role_id=None if effective else role_id
            )
            grants += [(r.user_id, None, r.role_id) for r in system_rows]
        rules = await repo.implications(unit) if effective else []
        out: list[Assignment] = []
        seen: set[tuple[str, str | None, str]] = set()
        for grant_user_id, grant_project_id, grant_role_id in grants:
            user = await repo.get_user(unit, grant_user_id)
            role = await repo.get_role(unit, grant_role_id)
            project = None
            project_domain = None
            if grant_project_id is not None:
                project = await repo.get_project(unit, grant_project_id)
                if project is None:
                    continue
                project_domain = await self._domain(unit, project.domain_id)
            if user is None or role is None:
                continue
            user_domain = await self._domain(unit, user.domain_id)
            found: list[tuple[Role, Role | None]] = [(role, None)]
            for implied_id in implied_closure({role.id}, rules) - {role.id}:
                implied = await repo.get_role(unit, implied_id)
                if implied is not None:
                    found.append((implied, role))
            for granted, prior in found:
                key = (user.id, grant_project_id, granted.id)
                if key in seen or (role_id is not None and granted.id != role_id):
                    continue
                seen.add(key)
                out.append(Assignment(user, project, project_domain, user_domain, granted,
                                      prior))
        return out

    # --- one row or IdentityNotFound --------------------------------------------------------

    async def _domain(self, unit: Unit, domain_id: str) -> Domain:
        domain = await self._repo.get_domain(unit, domain_id)
        if domain is None:
            raise IdentityNotFound("domain", domain_id)
        return domain

    async def _project(self, unit: Unit, project_id: str) -> Project:
        project = await self._repo.get_project(unit, project_id)
        if project is None:
            raise IdentityNotFound("project", project_id)
        return project

    async def _user(self, unit: Unit, user_id: str) -> User:
        user = await self._repo.get_user(unit, user_id)
        if user is None:
            raise IdentityNotFound("user", user_id)
        return user

    async def _role(self, unit: Unit, role_id: str) -> Role:
        role = await self._repo.get_role(unit, role_id)
        if role is None:
            raise IdentityNotFound("role", role_id)
        return role
