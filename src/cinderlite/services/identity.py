"""Identity use cases: bootstrap, password authentication, token validation."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db import identity as identity_db
from cinderlite.db.models import Domain, Project, Role, Token, User
from cinderlite.domain.errors import Unauthenticated
from cinderlite.domain.identity import (
    ADMIN_ROLE,
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    DEFAULT_ROLES,
    MEMBER_ROLE,
    READER_ROLE,
    Caller,
)

_hasher = PasswordHasher()


def utcnow() -> datetime:
    """Naive UTC now, the form every timestamp column holds."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class BootstrapResult:
    created: bool
    admin_password: str
    demo_password: str
    admin_project_id: str
    demo_project_id: str


async def ensure_default_domain_and_roles(db: AsyncSession) -> None:
    if await identity_db.get_domain(db, domain_id=DEFAULT_DOMAIN_ID) is None:
        db.add(Domain(id=DEFAULT_DOMAIN_ID, name=DEFAULT_DOMAIN_NAME, description="The default domain"))
        await db.flush()
    for name in DEFAULT_ROLES:
        if await identity_db.find_role(db, name=name) is None:
            db.add(Role(id=new_id(), name=name))
    await db.flush()


async def ensure_user(
    db: AsyncSession, *, name: str, password: str, project_name: str, roles: tuple[str, ...]
) -> tuple[User, Project, bool]:
    """Create project `project_name` and user `name` with `roles` on it, unless present."""
    created = False
    project = await identity_db.find_project(db, name=project_name, domain_id=DEFAULT_DOMAIN_ID)
    if project is None:
        project = Project(
            id=new_id(), name=project_name, domain_id=DEFAULT_DOMAIN_ID,
            description=f"{project_name} project", created_at=utcnow(),
        )
        db.add(project)
        await db.flush()
    user = await identity_db.find_user(db, name=name, domain_id=DEFAULT_DOMAIN_ID)
    if user is None:
        user = User(
            id=new_id(), name=name, domain_id=DEFAULT_DOMAIN_ID,
            password_hash=hash_password(password), default_project_id=project.id,
            created_at=utcnow(),
        )
        db.add(user)
        await db.flush()
        created = True
    for role_name in roles:
        role = await identity_db.find_role(db, name=role_name)
        assert role is not None
        await identity_db.grant(db, user_id=user.id, project_id=project.id, role_id=role.id)
    return user, project, created


async def bootstrap(
    db: AsyncSession, *, admin_password: str = "", demo_password: str = ""
) -> BootstrapResult:
    """Make the default domain, the three roles, admin/admin and demo/demo when missing.

    Idempotent: existing users keep their passwords; `created` says whether the
    admin user was made by this call (only then are the passwords meaningful).
    """
    await ensure_default_domain_and_roles(db)
    admin_password = admin_password or secrets.token_urlsafe(12)
    demo_password = demo_password or secrets.token_urlsafe(12)
    _, admin_project, created = await ensure_user(
        db, name="admin", password=admin_password, project_name="admin",
        roles=(ADMIN_ROLE, MEMBER_ROLE, READER_ROLE),
    )
    _, demo_project, _ = await ensure_user(
        db, name="demo", password=demo_password, project_name="demo",
        roles=(MEMBER_ROLE, READER_ROLE),
    )
    return BootstrapResult(created, admin_password, demo_password, admin_project.id, demo_project.id)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    caller: Caller
    issued_at: datetime
    expires_at: datetime
    audit_id: str
    methods: tuple[str, ...]


async def issue_token(
    db: AsyncSession, *, user: User, project: Project | None, lifetime_seconds: int,
    methods: tuple[str, ...] = ("password",),
) -> IssuedToken:
    """Store a new token for `user`, scoped to `project` (which must carry a role)."""
    roles: list[str] = []
    if project is not None:
        roles = await identity_db.role_names_on_project(db, user_id=user.id, project_id=project.id)
        if not roles:
            raise Unauthenticated(
                f"User {user.id} has no access to project {project.id}"
            )
    token = secrets.token_urlsafe(48)
    now = utcnow()
    expires = now + timedelta(seconds=lifetime_seconds)
    audit_id = secrets.token_urlsafe(16)[:22]
    await identity_db.add_token(
        db,
        Token(
            id=token_digest(token), user_id=user.id,
            project_id=project.id if project else None, methods=list(methods),
            audit_id=audit_id, issued_at=now, expires_at=expires,
        ),
    )
    caller = await _caller_for(db, user=user, project=project, roles=roles, expires=expires,
                               token_id=token_digest(token))
    return IssuedToken(token, caller, now, expires, audit_id, methods)


async def _caller_for(
    db: AsyncSession, *, user: User, project: Project | None, roles: list[str],
    expires: datetime, token_id: str,
) -> Caller:
    user_domain = await identity_db.get_domain(db, domain_id=user.domain_id)
    project_domain = (
        await identity_db.get_domain(db, domain_id=project.domain_id) if project else None
    )
    return Caller(
        user_id=user.id,
        user_name=user.name,
        project_id=project.id if project else "",
        project_name=project.name if project else "",
        roles=frozenset(roles),
        user_domain_id=user.domain_id,
        user_domain_name=user_domain.name if user_domain else user.domain_id,
        project_domain_id=project.domain_id if project else "",
        project_domain_name=project_domain.name if project_domain else "",
        expires_at=expires,
        token_id=token_id,
    )


async def validate_token(db: AsyncSession, *, token: str) -> tuple[Caller, Token]:
    """The caller a token stands for. Raises Unauthenticated if unknown, revoked or expired."""
    row = await identity_db.get_token(db, token_id=token_digest(token))
    if row is None or row.revoked or row.expires_at <= utcnow():
        raise Unauthenticated()
    user = await identity_db.get_user(db, user_id=row.user_id)
    if user is None or not user.enabled:
        raise Unauthenticated()
    project = None
    roles: list[str] = []
    if row.project_id:
        project = await identity_db.get_project(db, project_id=row.project_id)
        if project is None or not project.enabled:
            raise Unauthenticated()
        roles = await identity_db.role_names_on_project(db, user_id=user.id, project_id=project.id)
        if not roles:
            raise Unauthenticated()
    caller = await _caller_for(db, user=user, project=project, roles=roles,
                               expires=row.expires_at, token_id=row.id)
    return caller, row
