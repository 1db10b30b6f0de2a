"""Identity use cases: bootstrap, password authentication, token validation."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db import identity as identity_db
from cinderlite.db.models import Domain, Project, Role, Token, User
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import InvalidRequest, NotFound, Unauthenticated
from cinderlite.domain.identity import (
    ADMIN_ROLE,
    DEFAULT_DOMAIN_ID,
    DEFAULT_DOMAIN_NAME,
    DEFAULT_IMPLIED_ROLES,
    DEFAULT_ROLES,
    MEMBER_ROLE,
    READER_ROLE,
    SYSTEM_ALL,
    Caller,
)

_hasher = PasswordHasher()


def configure_password_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Set the Argon2 cost for new password hashes (app wiring, from Settings).

    Existing hashes carry their own parameters, so verification is unaffected.
    """
    global _hasher, _dummy_hash
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _dummy_hash = None


def new_id() -> str:
    return uuid.uuid4().hex


def new_secret(nbytes: int) -> str:
    """A URL-safe random string that never starts with "-": a token or password
    that does would be read as an option by command-line clients
    (`openstack token revoke -abc...`)."""
    while True:
        value = secrets.token_urlsafe(nbytes)
        if not value.startswith("-"):
            return value


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# A hash of a random secret, made with the current cost: what a login for a user
# that does not exist is checked against (see verify_password).
_dummy_hash: str | None = None


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`.

    Without a hash (no such user, or none set) the password is still checked,
    against a dummy hash of the same cost, and refused: a wrong name must take
    as long as a wrong password, or response times would tell which user
    names exist (Keystone does the same).
    """
    global _dummy_hash
    if not password_hash:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash, password)
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
    """The default domain and roles; a role made here gets Keystone's default
    inference rules (admin implies member, member implies reader). Rules an
    operator removed later are not put back."""
    if await identity_db.get_domain(db, domain_id=DEFAULT_DOMAIN_ID) is None:
        await identity_db.add_row(db, Domain(
            id=DEFAULT_DOMAIN_ID, name=DEFAULT_DOMAIN_NAME, description="The default domain",
        ))
    made: set[str] = set()
    for name in DEFAULT_ROLES:
        if await identity_db.find_role(db, name=name) is None:
            await identity_db.add_row(db, Role(id=new_id(), name=name))
            made.add(name)
    for prior, implied in DEFAULT_IMPLIED_ROLES:
        if prior in made or implied in made:
            prior_role = await identity_db.find_role(db, name=prior)
            implied_role = await identity_db.find_role(db, name=implied)
            assert prior_role is not None
            assert implied_role is not None
            if await identity_db.get_implication(
                db, prior_role_id=prior_role.id, implied_role_id=implied_role.id
            ) is None:
                await identity_db.add_implication(
                    db, prior_role_id=prior_role.id, implied_role_id=implied_role.id
                )


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
        await identity_db.add_row(db, project)
    user = await identity_db.find_user(db, name=name, domain_id=DEFAULT_DOMAIN_ID)
    if user is None:
        user = User(
            id=new_id(), name=name, domain_id=DEFAULT_DOMAIN_ID,
            password_hash=hash_password(password), default_project_id=project.id,
            created_at=utcnow(),
        )
        await identity_db.add_row(db, user)
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
    admin_password = admin_password or new_secret(12)
    demo_password = demo_password or new_secret(12)
    admin, admin_project, created = await ensure_user(
        db, name="admin", password=admin_password, project_name="admin",
        roles=(ADMIN_ROLE, MEMBER_ROLE, READER_ROLE),
    )
    if created:
        # keystone-manage bootstrap: the admin also holds admin on the system.
        admin_role = await identity_db.find_role(db, name=ADMIN_ROLE)
        assert admin_role is not None
        await identity_db.grant_system(db, user_id=admin.id, role_id=admin_role.id)
    _, demo_project, _ = await ensure_user(
        db, name="demo", password=demo_password, project_name="demo",
        roles=(MEMBER_ROLE, READER_ROLE),
    )
    return BootstrapResult(
        created, admin_password, demo_password, admin_project.id, demo_project.id
    )


@dataclass(frozen=True)
class IssuedToken:
    token: str
    caller: Caller
    issued_at: datetime
    expires_at: datetime
    audit_id: str
    methods: tuple[str, ...]
    # The effective roles the token carries (empty when unscoped).
    roles: tuple[Role, ...] = ()


async def _scope_roles(
    db: AsyncSession, *, user_id: str, project: Project | None, system: bool
) -> list[Role]:
    """The effective roles of a token's scope: on its project, on the system, or none."""
    if project is not None:
        return await identity_db.effective_roles_on_project(
            db, user_id=user_id, project_id=project.id
        )
    if system:
        return await identity_db.effective_system_roles(db, user_id=user_id)
    return []


async def issue_token(
    db: AsyncSession, *, user: User, project: Project | None, lifetime_seconds: int,
    methods: tuple[str, ...] = ("password",), expires_at: datetime | None = None,
    system: bool = False,
) -> IssuedToken:
    """Store a new token for `user`, scoped to `project` (which must carry a role)
    or to the system (`system`: the user must hold a role on it), or unscoped.

    `expires_at`, when given, caps the expiry (a re-scoped token keeps its parent's).
    """
    system = system and project is None
    roles = await _scope_roles(db, user_id=user.id, project=project, system=system)
    if project is not None and not roles:
        raise Unauthenticated(f"User {user.id} has no access to project {project.id}")
    if system and not roles:
        raise Unauthenticated(f"User {user.id} has no access to the system")
    token = new_secret(48)
    # Whole seconds, as Keystone's tokens carry (`...07.000000Z` on the wire).
    now = utcnow().replace(microsecond=0)
    expires = now + timedelta(seconds=lifetime_seconds)
    if expires_at is not None:
        expires = min(expires, expires_at)
    audit_id = secrets.token_urlsafe(16)[:22]
    await identity_db.add_token(
        db,
        Token(
            id=token_digest(token), user_id=user.id,
            project_id=project.id if project else None, methods=list(methods),
            audit_id=audit_id, issued_at=now, expires_at=expires, system=system,
        ),
    )
    caller = await _caller_for(db, user=user, project=project,
                               roles=[r.name for r in roles], expires=expires,
                               token_id=token_digest(token), system=system)
    return IssuedToken(token, caller, now, expires, audit_id, methods, tuple(roles))


async def _caller_for(
    db: AsyncSession, *, user: User, project: Project | None, roles: list[str],
    expires: datetime, token_id: str, system: bool = False,
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
        system_scope=SYSTEM_ALL if system else "",
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
    if row.project_id:
        project = await identity_db.get_project(db, project_id=row.project_id)
        if project is None or not project.enabled:
            raise Unauthenticated()
    roles = await _scope_roles(db, user_id=user.id, project=project, system=row.system)
    if (project is not None or row.system) and not roles:
        # A role removed since issue ends a scoped token.
        raise Unauthenticated()
    caller = await _caller_for(db, user=user, project=project, roles=[r.name for r in roles],
                               expires=row.expires_at, token_id=row.id, system=row.system)
    return caller, row


# --- authentication requests (POST /v3/auth/tokens) ---------------------------


@dataclass(frozen=True)
class NamedRef:
    """Something named by id, or by name within a domain given by id or name."""

    id: str | None = None
    name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None


@dataclass(frozen=True)
class AuthRequest:
    methods: tuple[str, ...]
    user: NamedRef | None = None
    password: str | None = None
    token: str | None = None
    project: NamedRef | None = None
    # `"scope": {"system": {"all": true}}`
    system: bool = False


@dataclass(frozen=True)
class TokenInfo:
    """Everything a Keystone token body shows."""

    user: User
    user_domain: Domain
    project: Project | None
    project_domain: Domain | None
    roles: list[Role]
    methods: tuple[str, ...]
    audit_ids: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    system: bool = False


async def _domain_of(db: AsyncSession, ref: NamedRef) -> Domain | None:
    if ref.domain_id is not None:
        return await identity_db.get_domain(db, domain_id=ref.domain_id)
    if ref.domain_name is not None:
        return await identity_db.find_domain_by_name(db, name=ref.domain_name)
    return None


async def _password_user(db: AsyncSession, ref: NamedRef, password: str) -> User:
    """The enabled user `ref` whose password is `password`; Unauthenticated otherwise.

    Every failure gives the same 401 so that callers cannot probe for user names.
    """
    user: User | None
    if ref.id is not None:
        user = await identity_db.get_user(db, user_id=ref.id)
    else:
        domain = await _domain_of(db, ref)
        user = (
            await identity_db.find_user(db, name=ref.name or "", domain_id=domain.id)
            if domain is not None else None
        )
    ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    if user is None or not ok:
        raise Unauthenticated()
    await _check_user(db, user)
    return user


async def _check_user(db: AsyncSession, user: User | None) -> User:
    if user is None or not user.enabled:
        raise Unauthenticated()
    domain = await identity_db.get_domain(db, domain_id=user.domain_id)
    if domain is None or not domain.enabled:
        raise Unauthenticated()
    return user


async def _scope_project(db: AsyncSession, ref: NamedRef) -> Project:
    project: Project | None
    if ref.id is not None:
        project = await identity_db.get_project(db, project_id=ref.id)
    else:
        domain = await _domain_of(db, ref)
        project = (
            await identity_db.find_project(db, name=ref.name or "", domain_id=domain.id)
            if domain is not None else None
        )
    return await _check_project(db, project)


async def _check_project(db: AsyncSession, project: Project | None) -> Project:
    if project is None or not project.enabled:
        raise Unauthenticated()
    domain = await identity_db.get_domain(db, domain_id=project.domain_id)
    if domain is None or not domain.enabled:
        raise Unauthenticated()
    return project


@dataclass(frozen=True)
class VerifiedAuth:
    """Credentials `verify_auth` accepted; `issue_verified` re-checks what may change."""

    user_id: str
    methods: tuple[str, ...]
    project_id: str | None = None
    system: bool = False
    # The hash the password was checked against (password method).
    password_hash: str | None = None
    # The token re-scoped (token method) and the expiry it caps the new one to.
    parent_token: str | None = None
    expires_cap: datetime | None = None


async def verify_auth(db: AsyncSession, req: AuthRequest) -> VerifiedAuth:
    """Check the credentials in `req`, reading only. Raises Unauthenticated (401).

    The slow part (Argon2, ~0.1 s in a thread) runs here, outside any write
    transaction, so that on SQLite it does not hold the write lock.
    """
    if "token" in req.methods:
        if req.token is None:
            raise InvalidRequest("The token method needs auth.identity.token.id.")
        _, parent = await validate_token(db, token=req.token)
        verified = VerifiedAuth(
            user_id=parent.user_id, methods=tuple(dict.fromkeys([*parent.methods, "token"])),
            parent_token=req.token, expires_cap=parent.expires_at,
        )
    elif "password" in req.methods:
        if req.user is None or req.password is None:
            raise InvalidRequest("The password method needs auth.identity.password.user.")
        user = await _password_user(db, req.user, req.password)
        verified = VerifiedAuth(
            user_id=user.id, methods=("password",), password_hash=user.password_hash
        )
    else:
        raise Unauthenticated("Attempted to authenticate with an unsupported method.")
    if req.project is not None:
        project = await _scope_project(db, req.project)
        verified = replace(verified, project_id=project.id)
    elif req.system:
        verified = replace(verified, system=True)
    return verified


async def issue_verified(
    db: AsyncSession, auth: VerifiedAuth, *, lifetime_seconds: int
) -> tuple[IssuedToken, TokenInfo]:
    """Store a token for credentials `verify_auth` accepted (one INSERT; a crash
    before commit leaves no token behind). Raises Unauthenticated (401).

    Run it in a write transaction. It re-reads what may have changed since the
    check: the user is still enabled (as is its domain), its password is the
    one checked (a password change revokes tokens), a re-scoped token is still
    valid, the project is still enabled and the user holds a role on it. The
    user row is read with FOR SHARE where the database has it, so a concurrent
    disable or password change waits for this transaction and then revokes the
    new token too; SQLite runs one write transaction at a time anyway.
    """
    user = await _check_user(db, await identity_db.get_user(db, user_id=auth.user_id, lock=True))
    if auth.password_hash is not None and user.password_hash != auth.password_hash:
        raise Unauthenticated()
    if auth.parent_token is not None:
        _, parent = await validate_token(db, token=auth.parent_token)
        if parent.user_id != user.id:
            raise Unauthenticated()
    project = None
    if auth.project_id is not None:
        project = await _check_project(
            db, await identity_db.get_project(db, project_id=auth.project_id)
        )
    issued = await issue_token(
        db, user=user, project=project, lifetime_seconds=lifetime_seconds,
        methods=auth.methods, expires_at=auth.expires_cap, system=auth.system,
    )
    info = await _token_info(
        db, user=user, project=project, methods=auth.methods, audit_id=issued.audit_id,
        issued_at=issued.issued_at, expires_at=issued.expires_at, system=auth.system,
        roles=list(issued.roles),
    )
    return issued, info


async def authenticate(
    db: AsyncSession, req: AuthRequest, *, lifetime_seconds: int
) -> tuple[IssuedToken, TokenInfo]:
    """`verify_auth` and `issue_verified` in one session (CLI and tests; the
    token route runs them in a read session and a write transaction)."""
    auth = await verify_auth(db, req)
    return await issue_verified(db, auth, lifetime_seconds=lifetime_seconds)


async def _token_info(
    db: AsyncSession, *, user: User, project: Project | None, methods: tuple[str, ...],
    audit_id: str, issued_at: datetime, expires_at: datetime, system: bool = False,
    roles: list[Role] | None = None,
) -> TokenInfo:
    """`roles`, when the caller has just read them, saves reading them again."""
    user_domain = await identity_db.get_domain(db, domain_id=user.domain_id)
    assert user_domain is not None  # users.domain_id is a foreign key
    project_domain = None
    system = system and project is None
    if project is not None:
        project_domain = await identity_db.get_domain(db, domain_id=project.domain_id)
    if roles is None:
        roles = await _scope_roles(db, user_id=user.id, project=project, system=system)
    return TokenInfo(
        user=user, user_domain=user_domain, project=project, project_domain=project_domain,
        roles=roles, methods=methods, audit_ids=(audit_id,), issued_at=issued_at,
        expires_at=expires_at, system=system,
    )


async def describe_token(db: AsyncSession, *, token: str) -> TokenInfo:
    """The body of a valid token. Raises NotFound (Keystone's 404 for a bad subject)."""
    try:
        _, row = await validate_token(db, token=token)
    except Unauthenticated:
        raise NotFound(f"Could not find token: {token}.") from None
    user = await identity_db.get_user(db, user_id=row.user_id)
    project = (
        await identity_db.get_project(db, project_id=row.project_id) if row.project_id else None
    )
    assert user is not None
    return await _token_info(
        db, user=user, project=project, methods=tuple(row.methods), audit_id=row.audit_id,
        issued_at=row.issued_at, expires_at=row.expires_at, system=row.system,
    )


async def revoke_token(db: AsyncSession, *, token: str) -> None:
    """Mark a valid token revoked (one UPDATE). Raises NotFound for a bad subject."""
    await describe_token(db, token=token)
    await identity_db.revoke_token(db, token_id=token_digest(token))
