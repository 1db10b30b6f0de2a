"""Queries for domains, projects, users, roles, assignments and tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
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


async def get_domain(db: AsyncSession, *, domain_id: str) -> Domain | None:
    return await db.get(Domain, domain_id)


async def find_domain_by_name(db: AsyncSession, *, name: str) -> Domain | None:
    return (await db.execute(select(Domain).where(Domain.name == name))).scalar_one_or_none()


async def get_project(db: AsyncSession, *, project_id: str) -> Project | None:
    return await db.get(Project, project_id)


async def find_project(db: AsyncSession, *, name: str, domain_id: str) -> Project | None:
    stmt = select(Project).where(Project.name == name, Project.domain_id == domain_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def get_user(db: AsyncSession, *, user_id: str, lock: bool = False) -> User | None:
    """With `lock`, SELECT ... FOR SHARE (PostgreSQL; SQLite has no row locks) and
    fresh column values even if the session already holds the row."""
    if lock:
        return await db.get(
            User, user_id, with_for_update={"read": True}, populate_existing=True
        )
    return await db.get(User, user_id)


async def find_user(db: AsyncSession, *, name: str, domain_id: str) -> User | None:
    stmt = select(User).where(User.name == name, User.domain_id == domain_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def get_role(db: AsyncSession, *, role_id: str) -> Role | None:
    return await db.get(Role, role_id)


async def find_role(db: AsyncSession, *, name: str) -> Role | None:
    return (await db.execute(select(Role).where(Role.name == name))).scalar_one_or_none()


async def count_users(db: AsyncSession) -> int:
    return len((await db.execute(select(User.id))).all())


async def implications(db: AsyncSession) -> list[ImpliedRole]:
    """Every role inference rule (a small table: read whole)."""
    stmt = select(ImpliedRole).order_by(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)
    return list((await db.execute(stmt)).scalars())


async def get_implication(
    db: AsyncSession, *, prior_role_id: str, implied_role_id: str
) -> ImpliedRole | None:
    return await db.get(ImpliedRole, (prior_role_id, implied_role_id))


async def add_implication(db: AsyncSession, *, prior_role_id: str, implied_role_id: str) -> None:
    db.add(ImpliedRole(prior_role_id=prior_role_id, implied_role_id=implied_role_id))
    await db.flush()


async def delete_implication(
    db: AsyncSession, *, prior_role_id: str, implied_role_id: str
) -> bool:
    result = await db.execute(
        delete(ImpliedRole).where(
            ImpliedRole.prior_role_id == prior_role_id,
            ImpliedRole.implied_role_id == implied_role_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def effective_roles_on_project(
    db: AsyncSession, *, user_id: str, project_id: str
) -> list[Role]:
    """The roles granted on the project plus every role they imply, transitively."""
    return await _with_implied(
        db, await roles_on_project(db, user_id=user_id, project_id=project_id)
    )


async def effective_system_roles(db: AsyncSession, *, user_id: str) -> list[Role]:
    """The roles granted on the system plus every role they imply, transitively."""
    return await _with_implied(db, await roles_on_system(db, user_id=user_id))


async def _with_implied(db: AsyncSession, direct: list[Role]) -> list[Role]:
    if not direct:
        return []
    ids = implied_closure({r.id for r in direct}, await implications(db))
    stmt = select(Role).where(Role.id.in_(sorted(ids))).order_by(Role.name)
    return list((await db.execute(stmt)).scalars())


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


async def roles_on_system(db: AsyncSession, *, user_id: str) -> list[Role]:
    stmt = (
        select(Role)
        .join(SystemAssignment, SystemAssignment.role_id == Role.id)
        .where(SystemAssignment.user_id == user_id)
        .order_by(Role.name)
    )
    return list((await db.execute(stmt)).scalars())


async def grant_system(db: AsyncSession, *, user_id: str, role_id: str) -> None:
    if await db.get(SystemAssignment, (user_id, role_id)) is None:
        db.add(SystemAssignment(user_id=user_id, role_id=role_id))
        await db.flush()


async def has_system_grant(db: AsyncSession, *, user_id: str, role_id: str) -> bool:
    return await db.get(SystemAssignment, (user_id, role_id)) is not None


async def revoke_system_grant(db: AsyncSession, *, user_id: str, role_id: str) -> bool:
    result = await db.execute(
        delete(SystemAssignment).where(
            SystemAssignment.user_id == user_id, SystemAssignment.role_id == role_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_system_assignments(
    db: AsyncSession, *, user_id: str | None = None, role_id: str | None = None
) -> list[SystemAssignment]:
    stmt = select(SystemAssignment).order_by(SystemAssignment.user_id, SystemAssignment.role_id)
    if user_id is not None:
        stmt = stmt.where(SystemAssignment.user_id == user_id)
    if role_id is not None:
        stmt = stmt.where(SystemAssignment.role_id == role_id)
    return list((await db.execute(stmt)).scalars())


async def roles_on_project(db: AsyncSession, *, user_id: str, project_id: str) -> list[Role]:
    stmt = (
        select(Role)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        .order_by(Role.name)
    )
    return list((await db.execute(stmt)).scalars())


async def grant(db: AsyncSession, *, user_id: str, project_id: str, role_id: str) -> None:
    existing = await db.get(RoleAssignment, (user_id, project_id, role_id))
    if existing is None:
        db.add(RoleAssignment(user_id=user_id, project_id=project_id, role_id=role_id))
        await db.flush()


async def add_token(db: AsyncSession, token: Token) -> None:
    db.add(token)
    await db.flush()


async def get_token(db: AsyncSession, *, token_id: str) -> Token | None:
    return await db.get(Token, token_id)


async def revoke_token(db: AsyncSession, *, token_id: str) -> bool:
    result = await db.execute(
        update(Token).where(Token.id == token_id, Token.revoked.is_(False)).values(revoked=True)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def purge_expired_tokens(db: AsyncSession, *, now: datetime) -> None:
    await db.execute(delete(Token).where(Token.expires_at < now))


# --- management queries (identity API and CLI) --------------------------------


async def list_domains(db: AsyncSession, *, name: str | None = None) -> list[Domain]:
    stmt = select(Domain).order_by(Domain.name)
    if name is not None:
        stmt = stmt.where(Domain.name == name)
    return list((await db.execute(stmt)).scalars())


async def list_projects(
    db: AsyncSession, *, name: str | None = None, domain_id: str | None = None,
    ids: list[str] | None = None,
) -> list[Project]:
    stmt = select(Project).order_by(Project.name, Project.id)
    if name is not None:
        stmt = stmt.where(Project.name == name)
    if domain_id is not None:
        stmt = stmt.where(Project.domain_id == domain_id)
    if ids is not None:
        stmt = stmt.where(Project.id.in_(ids))
    return list((await db.execute(stmt)).scalars())


async def list_users(
    db: AsyncSession, *, name: str | None = None, domain_id: str | None = None
) -> list[User]:
    stmt = select(User).order_by(User.name, User.id)
    if name is not None:
        stmt = stmt.where(User.name == name)
    if domain_id is not None:
        stmt = stmt.where(User.domain_id == domain_id)
    return list((await db.execute(stmt)).scalars())


async def list_roles(db: AsyncSession, *, name: str | None = None) -> list[Role]:
    stmt = select(Role).order_by(Role.name)
    if name is not None:
        stmt = stmt.where(Role.name == name)
    return list((await db.execute(stmt)).scalars())


async def add_row(db: AsyncSession, row: Domain | Project | User | Role) -> None:
    """Insert a row; a unique-name clash raises sqlalchemy's IntegrityError at flush."""
    db.add(row)
    await db.flush()


async def update_row(db: AsyncSession, row: Project | User, values: dict[str, object]) -> None:
    for key, value in values.items():
        setattr(row, key, value)
    await db.flush()


async def project_ids_for_user(db: AsyncSession, *, user_id: str) -> list[str]:
    stmt = (
        select(RoleAssignment.project_id)
        .where(RoleAssignment.user_id == user_id)
        .distinct()
    )
    return list((await db.execute(stmt)).scalars())


async def has_grant(db: AsyncSession, *, user_id: str, project_id: str, role_id: str) -> bool:
    return await db.get(RoleAssignment, (user_id, project_id, role_id)) is not None


async def revoke_grant(db: AsyncSession, *, user_id: str, project_id: str, role_id: str) -> bool:
    result = await db.execute(
        delete(RoleAssignment).where(
            RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id,
            RoleAssignment.role_id == role_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_assignments(
    db: AsyncSession, *, user_id: str | None = None, project_id: str | None = None,
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
    return list((await db.execute(stmt)).scalars())


async def revoke_user_tokens(db: AsyncSession, *, user_id: str) -> None:
    await db.execute(
        update(Token).where(Token.user_id == user_id, Token.revoked.is_(False)).values(revoked=True)
    )


async def delete_project(db: AsyncSession, *, project_id: str) -> None:
    """Delete a project with its assignments and tokens (explicitly, not by FK cascade)."""
    await db.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project_id))
    await db.execute(delete(Token).where(Token.project_id == project_id))
    await db.execute(delete(Project).where(Project.id == project_id))


async def delete_user(db: AsyncSession, *, user_id: str) -> None:
    await db.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user_id))
    await db.execute(delete(SystemAssignment).where(SystemAssignment.user_id == user_id))
    await db.execute(delete(Token).where(Token.user_id == user_id))
    await db.execute(delete(User).where(User.id == user_id))


async def delete_role(db: AsyncSession, *, role_id: str) -> None:
    await db.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role_id))
    await db.execute(delete(SystemAssignment).where(SystemAssignment.role_id == role_id))
    await db.execute(delete(ImpliedRole).where(
        (ImpliedRole.prior_role_id == role_id) | (ImpliedRole.implied_role_id == role_id)
    ))
    await db.execute(delete(Role).where(Role.id == role_id))
