"""The identity tables' queries: domains, projects, users, roles, grants, tokens.

`IdentityRepository` is the only way to them. Its methods run in the unit of
work the service opened and passed in (`unit`), so that the steps of one
request share one transaction. An insert or update that breaks a unique or
foreign key raises `Conflict` (domain/errors.py), and the unit is then spoiled:
the service lets the error end it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import (
    Domain,
    ImpliedRole,
    Project,
    Role,
    RoleAssignment,
    SystemAssignment,
    Token,
    User,
)
from cinderlite.domain.errors import Conflict


def implied_closure(role_ids: set[str], rules: list[ImpliedRole]) -> set[str]:
    """`role_ids` and all they imply through `rules` (cycles allowed, as Keystone)."""
    implies: dict[str, set[str]] = {}
    for rule in rules:
        implies.setdefault(rule.prior_role_id, set()).add(rule.implied_role_id)
    seen = set(role_ids)
    todo = list(role_ids)
    while todo:
        for implied in implies.get(todo.pop(), ()):
            if implied not in seen:
                seen.add(implied)
                todo.append(implied)
    return seen


async def _flush(unit: AsyncSession) -> None:
    """Send pending writes; a unique or foreign key they break is a Conflict."""
    try:
        await unit.flush()
    except IntegrityError as exc:
        raise Conflict("Conflict occurred attempting to store the row.") from exc


def _touched(result: object) -> bool:
    """Whether an UPDATE or DELETE matched a row."""
    return bool(result.rowcount)  # type: ignore[attr-defined]


class IdentityRepository:
    """Every query of the identity tables; rows come back as the ORM models, which
    satisfy the read-only records of domain/records.py."""

    # --- lookups ----------------------------------------------------------------

    async def get_domain(self, unit: AsyncSession, domain_id: str) -> Domain | None:
        return await unit.get(Domain, domain_id)

    async def find_domain(self, unit: AsyncSession, *, name: str) -> Domain | None:
        stmt = select(Domain).where(Domain.name == name)
        return (await unit.execute(stmt)).scalar_one_or_none()

    async def get_project(self, unit: AsyncSession, project_id: str) -> Project | None:
        return await unit.get(Project, project_id)

    async def find_project(
        self, unit: AsyncSession, *, name: str, domain_id: str
    ) -> Project | None:
        stmt = select(Project).where(Project.name == name, Project.domain_id == domain_id)
        return (await unit.execute(stmt)).scalar_one_or_none()

    async def get_user(
        self, unit: AsyncSession, user_id: str, *, lock: bool = False
    ) -> User | None:
        """With `lock`, SELECT ... FOR SHARE (PostgreSQL; SQLite has no row locks) and
        fresh column values even if the unit already holds the row."""
        if lock:
            return await unit.get(
                User, user_id, with_for_update={"read": True}, populate_existing=True
            )
        return await unit.get(User, user_id)

    async def find_user(self, unit: AsyncSession, *, name: str, domain_id: str) -> User | None:
        stmt = select(User).where(User.name == name, User.domain_id == domain_id)
        return (await unit.execute(stmt)).scalar_one_or_none()

    async def get_role(self, unit: AsyncSession, role_id: str) -> Role | None:
        return await unit.get(Role, role_id)

    async def find_role(self, unit: AsyncSession, *, name: str) -> Role | None:
        return (await unit.execute(select(Role).where(Role.name == name))).scalar_one_or_none()

    async def list_domains(self, unit: AsyncSession, *, name: str | None = None) -> list[Domain]:
        stmt = select(Domain).order_by(Domain.name)
        if name is not None:
            stmt = stmt.where(Domain.name == name)
        return list((await unit.execute(stmt)).scalars())

    async def list_projects(
        self, unit: AsyncSession, *, name: str | None = None, domain_id: str | None = None,
        user_id: str | None = None,
    ) -> list[Project]:
        """Projects by name and domain; with `user_id`, only those on which that user
        holds at least one role."""
        stmt = select(Project).order_by(Project.name, Project.id)
        if name is not None:
            stmt = stmt.where(Project.name == name)
        if domain_id is not None:
            stmt = stmt.where(Project.domain_id == domain_id)
        if user_id is not None:
            granted = select(RoleAssignment.project_id).where(RoleAssignment.user_id == user_id)
            stmt = stmt.where(Project.id.in_(granted))
        return list((await unit.execute(stmt)).scalars())

    async def list_users(
        self, unit: AsyncSession, *, name: str | None = None, domain_id: str | None = None
    ) -> list[User]:
        stmt = select(User).order_by(User.name, User.id)
        if name is not None:
            stmt = stmt.where(User.name == name)
        if domain_id is not None:
            stmt = stmt.where(User.domain_id == domain_id)
        return list((await unit.execute(stmt)).scalars())

    async def list_roles(self, unit: AsyncSession, *, name: str | None = None) -> list[Role]:
        stmt = select(Role).order_by(Role.name)
        if name is not None:
            stmt = stmt.where(Role.name == name)
        return list((await unit.execute(stmt)).scalars())

    # --- writes of domains, projects, users and roles -----------------------------

    async def add(self, unit: AsyncSession, row: Domain | Project | User | Role) -> None:
        """Insert a row; a name already taken (a concurrent create) is a Conflict."""
        unit.add(row)
        await _flush(unit)

    async def update(
        self, unit: AsyncSession, row: Project | User, values: Mapping[str, object]
    ) -> None:
        """Change a row read in this unit; a name already taken is a Conflict."""
        for key, value in values.items():
            setattr(row, key, value)
        await _flush(unit)

    async def delete_project(self, unit: AsyncSession, project_id: str) -> None:
        """A project with its assignments and tokens (explicitly, not by FK cascade)."""
        await unit.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project_id))
        await unit.execute(delete(Token).where(Token.project_id == project_id))
        await unit.execute(delete(Project).where(Project.id == project_id))

    async def delete_user(self, unit: AsyncSession, user_id: str) -> None:
        await unit.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user_id))
        await unit.execute(delete(SystemAssignment).where(SystemAssignment.user_id == user_id))
        await unit.execute(delete(Token).where(Token.user_id == user_id))
        await unit.execute(delete(User).where(User.id == user_id))

    async def delete_role(self, unit: AsyncSession, role_id: str) -> None:
        await unit.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role_id))
        await unit.execute(delete(SystemAssignment).where(SystemAssignment.role_id == role_id))
        await unit.execute(delete(ImpliedRole).where(
            (ImpliedRole.prior_role_id == role_id) | (ImpliedRole.implied_role_id == role_id)
        ))
        await unit.execute(delete(Role).where(Role.id == role_id))

    # --- role inference rules -------------------------------------------------------

    async def implications(self, unit: AsyncSession) -> list[ImpliedRole]:
        """Every role inference rule (a small table: read whole)."""
        stmt = select(ImpliedRole).order_by(
            ImpliedRole.prior_role_id, ImpliedRole.implied_role_id
        )
        return list((await unit.execute(stmt)).scalars())

    async def has_implication(
        self, unit: AsyncSession, *, prior_role_id: str, implied_role_id: str
    ) -> bool:
        return await unit.get(ImpliedRole, (prior_role_id, implied_role_id)) is not None

    async def add_implication(
        self, unit: AsyncSession, *, prior_role_id: str, implied_role_id: str
    ) -> None:
        """A new rule; one that exists already (a concurrent create) is a Conflict."""
        unit.add(ImpliedRole(prior_role_id=prior_role_id, implied_role_id=implied_role_id))
        await _flush(unit)

    async def delete_implication(
        self, unit: AsyncSession, *, prior_role_id: str, implied_role_id: str
    ) -> bool:
        return _touched(await unit.execute(
            delete(ImpliedRole).where(
                ImpliedRole.prior_role_id == prior_role_id,
                ImpliedRole.implied_role_id == implied_role_id,
            )
        ))

    async def effective_roles(
        self, unit: AsyncSession, *, user_id: str, project_id: str | None
    ) -> list[Role]:
        """The roles granted to the user on the project (on the system when
        `project_id` is None) plus every role they imply, transitively."""
        if project_id is None:
            direct = await self.roles_on_system(unit, user_id=user_id)
        else:
            direct = await self.roles_on_project(unit, user_id=user_id, project_id=project_id)
        if not direct:
            return []
        ids = implied_closure({r.id for r in direct}, await self.implications(unit))
        stmt = select(Role).where(Role.id.in_(sorted(ids))).order_by(Role.name)
        return list((await unit.execute(stmt)).scalars())

    # --- grants on projects -----------------------------------------------------------

    async def roles_on_project(
        self, unit: AsyncSession, *, user_id: str, project_id: str
    ) -> list[Role]:
        stmt = (
            select(Role)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
            .order_by(Role.name)
        )
        return list((await unit.execute(stmt)).scalars())

    async def has_grant(
        self, unit: AsyncSession, *, user_id: str, project_id: str, role_id: str
    ) -> bool:
        return await unit.get(RoleAssignment, (user_id, project_id, role_id)) is not None

    async def grant(
        self, unit: AsyncSession, *, user_id: str, project_id: str, role_id: str
    ) -> None:
        """Idempotent; a concurrent identical grant that committed first is a Conflict."""
        if not await self.has_grant(unit, user_id=user_id, project_id=project_id,
                                    role_id=role_id):
            unit.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
            await _flush(unit)

    async def revoke_grant(
        self, unit: AsyncSession, *, user_id: str, project_id: str, role_id: str
    ) -> bool:
        return _touched(await unit.execute(
            delete(RoleAssignment).where(
                RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id,
                RoleAssignment.role_id == role_id,
            )
        ))

    async def list_assignments(
        self, unit: AsyncSession, *, user_id: str | None = None, project_id: str | None = None,
        role_id: str | None = None,
    ) -> list[RoleAssignment]:
        stmt = select(RoleAssignment).order_by(
            RoleAssignment.user_id, RoleAssignment.project_id, RoleAssignment.role_id
        )
        if user_id is not None:
            stmt = stmt.where(RoleAssignment.user_id == user_id)
        if project_id is not None:
            stmt = stmt.where(RoleAssignment.project_id == project_id)
        if role_id is not None:
            stmt = stmt.where(RoleAssignment.role_id == role_id)
        return list((await unit.execute(stmt)).scalars())

    # --- grants on the system -----------------------------------------------------------

    async def roles_on_system(self, unit: AsyncSession, *, user_id: str) -> list[Role]:
        stmt = (
            select(Role)
            .join(SystemAssignment, SystemAssignment.role_id == Role.id)
            .where(SystemAssignment.user_id == user_id)
            .order_by(Role.name)
        )
        return list((await unit.execute(stmt)).scalars())

    async def has_system_grant(self, unit: AsyncSession, *, user_id: str, role_id: str) -> bool:
        return await unit.get(SystemAssignment, (user_id, role_id)) is not None

    async def grant_system(self, unit: AsyncSession, *, user_id: str, role_id: str) -> None:
        """Idempotent; a concurrent identical grant that committed first is a Conflict."""
        if not await self.has_system_grant(unit, user_id=user_id, role_id=role_id):
            unit.add(SystemAssignment(user_id=user_id, role_id=role_id))
            await _flush(unit)

    async def revoke_system_grant(
        self, unit: AsyncSession, *, user_id: str, role_id: str
    ) -> bool:
        return _touched(await unit.execute(
            delete(SystemAssignment).where(
                SystemAssignment.user_id == user_id, SystemAssignment.role_id == role_id
            )
        ))

    async def list_system_assignments(
        self, unit: AsyncSession, *, user_id: str | None = None, role_id: str | None = None
    ) -> list[SystemAssignment]:
        stmt = select(SystemAssignment).order_by(
            SystemAssignment.user_id, SystemAssignment.role_id
        )
        if user_id is not None:
            stmt = stmt.where(SystemAssignment.user_id == user_id)
        if role_id is not None:
            stmt = stmt.where(SystemAssignment.role_id == role_id)
        return list((await unit.execute(stmt)).scalars())

    # --- tokens -------------------------------------------------------------------------

    async def add_token(self, unit: AsyncSession, token: Token) -> None:
        unit.add(token)
        await _flush(unit)

    async def get_token(self, unit: AsyncSession, token_id: str) -> Token | None:
        return await unit.get(Token, token_id)

    async def revoke_token(self, unit: AsyncSession, token_id: str) -> bool:
        return _touched(await unit.execute(
            update(Token).where(Token.id == token_id, Token.revoked.is_(False))
            .values(revoked=True)
        ))

    async def revoke_user_tokens(self, unit: AsyncSession, user_id: str) -> None:
        await unit.execute(
            update(Token).where(Token.user_id == user_id, Token.revoked.is_(False))
            .values(revoked=True)
        )
