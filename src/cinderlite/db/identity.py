"""Queries for domains, projects, users, roles, assignments and tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.models import Domain, Project, Role, RoleAssignment, Token, User


async def get_domain(db: AsyncSession, *, domain_id: str) -> Domain | None:
    return await db.get(Domain, domain_id)


async def find_domain_by_name(db: AsyncSession, *, name: str) -> Domain | None:
    return (await db.execute(select(Domain).where(Domain.name == name))).scalar_one_or_none()


async def get_project(db: AsyncSession, *, project_id: str) -> Project | None:
    return await db.get(Project, project_id)


async def find_project(db: AsyncSession, *, name: str, domain_id: str) -> Project | None:
    stmt = select(Project).where(Project.name == name, Project.domain_id == domain_id)
    return (await db.execute(stmt)).scalar_one_or_none()


async def get_user(db: AsyncSession, *, user_id: str) -> User | None:
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


async def role_names_on_project(db: AsyncSession, *, user_id: str, project_id: str) -> list[str]:
    stmt = (
        select(Role.name)
        .join(RoleAssignment, RoleAssignment.role_id == Role.id)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.project_id == project_id)
        .order_by(Role.name)
    )
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
