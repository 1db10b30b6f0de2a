"""Identity management use cases: domains, projects, users, roles and grants.

Used by the identity API (admin only) and the `cinderlite` CLI. Each write is
a few statements in the caller's transaction: a crash before commit leaves
nothing behind, since the transaction rolls back as a whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db import identity as identity_db
from cinderlite.db.models import Domain, Project, Role, RoleAssignment, User
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    Unauthenticated,
)
from cinderlite.domain.identity import PROHIBITED_IMPLIED_ROLES, READER_ROLE, Caller
from cinderlite.services.identity import hash_password, new_id, verify_password


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


class IdentityForbidden(Forbidden):
    def __init__(self, action: str) -> None:
        super().__init__(f"You are not authorized to perform the requested action: {action}.")
        self.action = action


def check_admin(caller: Caller, op: str) -> None:
    """Keystone's `admin_required` rule for identity:<op>; raises IdentityForbidden."""
    if not caller.is_admin:
        raise IdentityForbidden(f"identity:{op}")


def check_admin_or_system_reader(caller: Caller, op: str) -> None:
    """Keystone's `admin_required or (role:reader and system_scope:all)`."""
    if not (caller.is_admin or (caller.system_scope and READER_ROLE in caller.roles)):
        raise IdentityForbidden(f"identity:{op}")


def check_admin_or_self(caller: Caller, op: str, user_id: str) -> None:
    if not caller.is_admin and caller.user_id != user_id:
        raise IdentityForbidden(f"identity:{op}")


# --- lookups ------------------------------------------------------------------


async def get_domain(db: AsyncSession, domain_id: str) -> Domain:
    domain = await identity_db.get_domain(db, domain_id=domain_id)
    if domain is None:
        raise IdentityNotFound("domain", domain_id)
    return domain


async def get_project(db: AsyncSession, project_id: str) -> Project:
    project = await identity_db.get_project(db, project_id=project_id)
    if project is None:
        raise IdentityNotFound("project", project_id)
    return project


async def get_user(db: AsyncSession, user_id: str) -> User:
    user = await identity_db.get_user(db, user_id=user_id)
    if user is None:
        raise IdentityNotFound("user", user_id)
    return user


async def get_role(db: AsyncSession, role_id: str) -> Role:
    role = await identity_db.get_role(db, role_id=role_id)
    if role is None:
        raise IdentityNotFound("role", role_id)
    return role


async def find_by_name_or_id(db: AsyncSession, kind: str, ref: str) -> Any:
    """For the CLI: a project, user or role in the default domain by id or name."""
    getter = {"project": get_project, "user": get_user, "role": get_role}[kind]
    try:
        return await getter(db, ref)
    except IdentityNotFound:
        pass
    found: list[Any]
    if kind == "project":
        found = await identity_db.list_projects(db, name=ref, domain_id="default")
    elif kind == "user":
        found = await identity_db.list_users(db, name=ref, domain_id="default")
    else:
        found = await identity_db.list_roles(db, name=ref)
    if not found:
        raise IdentityNotFound(kind, ref)
    return found[0]


async def list_domains(db: AsyncSession, *, name: str | None = None) -> list[Domain]:
    return await identity_db.list_domains(db, name=name)


async def list_projects(
    db: AsyncSession, *, name: str | None = None, domain_id: str | None = None
) -> list[Project]:
    return await identity_db.list_projects(db, name=name, domain_id=domain_id)


async def list_users(
    db: AsyncSession, *, name: str | None = None, domain_id: str | None = None
) -> list[User]:
    return await identity_db.list_users(db, name=name, domain_id=domain_id)


async def list_roles(db: AsyncSession, *, name: str | None = None) -> list[Role]:
    return await identity_db.list_roles(db, name=name)


# --- projects -------------------------------------------------------------------


async def create_project(
    db: AsyncSession, *, name: str, domain_id: str, description: str = "", enabled: bool = True
) -> Project:
    await get_domain(db, domain_id)
    if await identity_db.find_project(db, name=name, domain_id=domain_id) is not None:
        raise DuplicateEntry("project", name, domain_id)
    project = Project(
        id=new_id(), name=name, domain_id=domain_id, description=description,
        enabled=enabled, created_at=utcnow(),
    )
    try:
        await identity_db.add_row(db, project)
    except IntegrityError as exc:  # a concurrent create of the same name won the race
        raise DuplicateEntry("project", name, domain_id) from exc
    return project


async def update_project(db: AsyncSession, project_id: str, values: Mapping[str, Any]) -> Project:
    project = await get_project(db, project_id)
    if "domain_id" in values and values["domain_id"] != project.domain_id:
        raise InvalidRequest("Update of `domain_id` is not allowed.")
    changes = {k: v for k, v in values.items() if k in ("name", "description", "enabled")}
    name = changes.get("name")
    if (
        name is not None and name != project.name
        and await identity_db.find_project(db, name=name, domain_id=project.domain_id)
    ):
        raise DuplicateEntry("project", name, project.domain_id)
    try:
        await identity_db.update_row(db, project, changes)
    except IntegrityError as exc:
        raise DuplicateEntry("project", str(name), project.domain_id) from exc
    return project


async def delete_project(db: AsyncSession, project_id: str) -> None:
    await get_project(db, project_id)
    await identity_db.delete_project(db, project_id=project_id)


async def user_projects(db: AsyncSession, user_id: str) -> list[Project]:
    """Projects on which the user holds at least one role."""
    await get_user(db, user_id)
    ids = await identity_db.project_ids_for_user(db, user_id=user_id)
    return await identity_db.list_projects(db, ids=ids) if ids else []


# --- users ------------------------------------------------------------------------


async def create_user(
    db: AsyncSession, *, name: str, domain_id: str, password: str | None = None,
    default_project_id: str | None = None, enabled: bool = True, email: str | None = None,
    description: str = "",
) -> User:
    await get_domain(db, domain_id)
    if default_project_id is not None:
        await get_project(db, default_project_id)
    if await identity_db.find_user(db, name=name, domain_id=domain_id) is not None:
        raise DuplicateEntry("user", name, domain_id)
    password_hash = await asyncio.to_thread(hash_password, password) if password else None
    user = User(
        id=new_id(), name=name, domain_id=domain_id, password_hash=password_hash,
        default_project_id=default_project_id, enabled=enabled, email=email,
        description=description, created_at=utcnow(),
    )
    try:
        await identity_db.add_row(db, user)
    except IntegrityError as exc:
        raise DuplicateEntry("user", name, domain_id) from exc
    return user


async def update_user(db: AsyncSession, user_id: str, values: Mapping[str, Any]) -> User:
    """Apply a PATCH. A new password or disabling revokes the user's tokens, as Keystone does."""
    user = await get_user(db, user_id)
    if "domain_id" in values and values["domain_id"] != user.domain_id:
        raise InvalidRequest("Update of `domain_id` is not allowed.")
    fields = ("name", "description", "enabled", "email", "default_project_id")
    changes: dict[str, Any] = {k: v for k, v in values.items() if k in fields}
    if changes.get("default_project_id") is not None:
        await get_project(db, changes["default_project_id"])
    name = changes.get("name")
    if (
        name is not None and name != user.name
        and await identity_db.find_user(db, name=name, domain_id=user.domain_id)
    ):
        raise DuplicateEntry("user", name, user.domain_id)
    revoke = changes.get("enabled") is False
    if values.get("password") is not None:
        changes["password_hash"] = await asyncio.to_thread(hash_password, values["password"])
        revoke = True
    try:
        await identity_db.update_row(db, user, changes)
    except IntegrityError as exc:
        raise DuplicateEntry("user", str(name), user.domain_id) from exc
    if revoke:
        await identity_db.revoke_user_tokens(db, user_id=user.id)
    return user


async def change_password(
    db: AsyncSession, user_id: str, *, original_password: str, password: str
) -> None:
    """Self-service change: Unauthenticated unless `original_password` is right."""
    user = await get_user(db, user_id)
    if not await asyncio.to_thread(verify_password, user.password_hash, original_password):
        raise Unauthenticated()
    await update_user(db, user_id, {"password": password})


async def delete_user(db: AsyncSession, user_id: str) -> None:
    await get_user(db, user_id)
    await identity_db.delete_user(db, user_id=user_id)


# --- roles and grants -------------------------------------------------------------


async def create_role(db: AsyncSession, *, name: str, description: str = "") -> Role:
    if await identity_db.find_role(db, name=name) is not None:
        raise DuplicateEntry("role", name, None)
    role = Role(id=new_id(), name=name, description=description)
    try:
        await identity_db.add_row(db, role)
    except IntegrityError as exc:
        raise DuplicateEntry("role", name, None) from exc
    return role


async def delete_role(db: AsyncSession, role_id: str) -> None:
    await get_role(db, role_id)
    await identity_db.delete_role(db, role_id=role_id)


# --- role inference rules (Keystone's implied roles) ---------------------------------


@dataclass(frozen=True)
class Inference:
    """A prior role and the roles a grant of it also gives."""

    prior: Role
    implies: list[Role]


async def implied_role(db: AsyncSession, prior_role_id: str, implied_role_id: str) -> Inference:
    prior = await get_role(db, prior_role_id)
    implied = await get_role(db, implied_role_id)
    if await identity_db.get_implication(
        db, prior_role_id=prior.id, implied_role_id=implied.id
    ) is None:
        raise NotFound(f"{prior_role_id} does not imply {implied_role_id}.")
    return Inference(prior, [implied])


async def create_implied_role(
    db: AsyncSession, prior_role_id: str, implied_role_id: str
) -> Inference:
    """Keystone's rules: both roles exist, the implied one is not prohibited
    ([assignment] prohibited_implied_role: admin), no duplicate (409)."""
    prior = await get_role(db, prior_role_id)
    implied = await get_role(db, implied_role_id)
    if implied.name in PROHIBITED_IMPLIED_ROLES:
        raise Forbidden(f"{implied_role_id} cannot be an implied roles.")
    if await identity_db.get_implication(
        db, prior_role_id=prior.id, implied_role_id=implied.id
    ) is not None:
        raise Conflict("Conflict occurred attempting to store implied_role - Duplicate entry.")
    try:
        await identity_db.add_implication(
            db, prior_role_id=prior.id, implied_role_id=implied.id
        )
    except IntegrityError as exc:
        raise Conflict(
            "Conflict occurred attempting to store implied_role - Duplicate entry."
        ) from exc
    return Inference(prior, [implied])


async def delete_implied_role(db: AsyncSession, prior_role_id: str, implied_role_id: str) -> None:
    await implied_role(db, prior_role_id, implied_role_id)
    await identity_db.delete_implication(
        db, prior_role_id=prior_role_id, implied_role_id=implied_role_id
    )


async def implied_roles_of(db: AsyncSession, prior_role_id: str) -> Inference:
    prior = await get_role(db, prior_role_id)
    rules = [r for r in await identity_db.implications(db) if r.prior_role_id == prior.id]
    roles = {r.id: r for r in await identity_db.list_roles(db)}
    return Inference(prior, [roles[r.implied_role_id] for r in rules
                             if r.implied_role_id in roles])


async def role_inferences(db: AsyncSession) -> list[Inference]:
    """Every prior role with what it implies (GET /v3/role_inferences)."""
    roles = {r.id: r for r in await identity_db.list_roles(db)}
    found: dict[str, Inference] = {}
    for rule in await identity_db.implications(db):
        if rule.prior_role_id in roles and rule.implied_role_id in roles:
            found.setdefault(rule.prior_role_id, Inference(roles[rule.prior_role_id], []))
            found[rule.prior_role_id].implies.append(roles[rule.implied_role_id])
    return list(found.values())


async def _grant_parts(db: AsyncSession, project_id: str, user_id: str, role_id: str) -> None:
    await get_role(db, role_id)
    await get_project(db, project_id)
    await get_user(db, user_id)


async def grant_role(db: AsyncSession, *, project_id: str, user_id: str, role_id: str) -> None:
    """Idempotent: granting a held role again is a no-op (Keystone answers 204 both times)."""
    await _grant_parts(db, project_id, user_id, role_id)
    try:
        await identity_db.grant(db, user_id=user_id, project_id=project_id, role_id=role_id)
    except IntegrityError:
        # A concurrent identical grant committed first; the state asked for is there.
        # The session's transaction is spoiled, so let the caller retry cleanly.
        raise Conflict("Conflict occurred attempting to store role grant.") from None


def _no_grant(role_id: str, user_id: str, project_id: str) -> IdentityNotFound:
    err = IdentityNotFound("role assignment", "")
    err.message = (
        f"Could not find role assignment with role: {role_id}, user or group: {user_id}, "
        f"project, domain, or system: {project_id}."
    )
    err.args = (err.message,)
    return err


async def check_grant(db: AsyncSession, *, project_id: str, user_id: str, role_id: str) -> None:
    await _grant_parts(db, project_id, user_id, role_id)
    if not await identity_db.has_grant(
        db, user_id=user_id, project_id=project_id, role_id=role_id
    ):
        raise _no_grant(role_id, user_id, project_id)


async def revoke_role(db: AsyncSession, *, project_id: str, user_id: str, role_id: str) -> None:
    await _grant_parts(db, project_id, user_id, role_id)
    if not await identity_db.revoke_grant(
        db, user_id=user_id, project_id=project_id, role_id=role_id
    ):
        raise _no_grant(role_id, user_id, project_id)


async def _system_grant_parts(db: AsyncSession, user_id: str, role_id: str) -> None:
    await get_role(db, role_id)
    await get_user(db, user_id)


async def system_user_roles(db: AsyncSession, *, user_id: str) -> list[Role]:
    await get_user(db, user_id)
    return await identity_db.roles_on_system(db, user_id=user_id)


async def grant_system_role(db: AsyncSession, *, user_id: str, role_id: str) -> None:
    """Idempotent, as a project grant (Keystone answers 204 both times)."""
    await _system_grant_parts(db, user_id, role_id)
    try:
        await identity_db.grant_system(db, user_id=user_id, role_id=role_id)
    except IntegrityError:
        raise Conflict("Conflict occurred attempting to store role grant.") from None


async def check_system_grant(db: AsyncSession, *, user_id: str, role_id: str) -> None:
    await _system_grant_parts(db, user_id, role_id)
    if not await identity_db.has_system_grant(db, user_id=user_id, role_id=role_id):
        raise _no_grant(role_id, user_id, "system")


async def revoke_system_role(db: AsyncSession, *, user_id: str, role_id: str) -> None:
    await _system_grant_parts(db, user_id, role_id)
    if not await identity_db.revoke_system_grant(db, user_id=user_id, role_id=role_id):
        raise _no_grant(role_id, user_id, "system")


async def project_user_roles(db: AsyncSession, *, project_id: str, user_id: str) -> list[Role]:
    await get_project(db, project_id)
    await get_user(db, user_id)
    return await identity_db.roles_on_project(db, user_id=user_id, project_id=project_id)


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


async def list_assignments(
    db: AsyncSession, *, user_id: str | None = None, project_id: str | None = None,
    role_id: str | None = None, effective: bool = False, projects: bool = True,
    system: bool = True,
) -> list[Assignment]:
    """User-on-project and user-on-system assignments (there are no groups or
    inheritance); `projects`/`system` choose which. With `effective`, each grant
    also yields the roles it implies, transitively, as Keystone lists them (the
    `role_id` filter then applies to those too)."""
    grants: list[tuple[str, str | None, str]] = []
    if projects:
        rows: list[RoleAssignment] = await identity_db.list_assignments(
            db, user_id=user_id, project_id=project_id,
            role_id=None if effective else role_id,
        )
        grants += [(r.user_id, r.project_id, r.role_id) for r in rows]
    if system and project_id is None:
        system_rows = await identity_db.list_system_assignments(
            db, user_id=user_id, role_id=None if effective else role_id
        )
        grants += [(r.user_id, None, r.role_id) for r in system_rows]
    rules = await identity_db.implications(db) if effective else []
    out: list[Assignment] = []
    seen: set[tuple[str, str | None, str]] = set()
    for grant_user_id, grant_project_id, grant_role_id in grants:
        user = await identity_db.get_user(db, user_id=grant_user_id)
        role = await identity_db.get_role(db, role_id=grant_role_id)
        project = None
        project_domain = None
        if grant_project_id is not None:
            project = await identity_db.get_project(db, project_id=grant_project_id)
            if project is None:
                continue
            project_domain = await get_domain(db, project.domain_id)
        if user is None or role is None:
            continue
        user_domain = await get_domain(db, user.domain_id)
        found: list[tuple[Role, Role | None]] = [(role, None)]
        for implied_id in identity_db.implied_closure({role.id}, rules) - {role.id}:
            implied = await identity_db.get_role(db, role_id=implied_id)
            if implied is not None:
                found.append((implied, role))
        for granted, prior in found:
            key = (user.id, grant_project_id, granted.id)
            if key in seen or (role_id is not None and granted.id != role_id):
                continue
            seen.add(key)
            out.append(Assignment(user, project, project_domain, user_domain, granted, prior))
    return out
