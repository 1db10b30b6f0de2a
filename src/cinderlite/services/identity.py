"""Identity use cases: bootstrap, password authentication, token validation.

`IdentityService` holds them; the password hashing and token helpers around it
are plain functions.
"""

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

from cinderlite.db.identity import IdentityRepository
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
from cinderlite.services.identity_policy import check_admin_or_self
from cinderlite.services.units import Unit, Units

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


@dataclass(frozen=True)
class _ValidToken:
    """A stored token that is still good, with what it stands for."""

    row: Token
    user: User
    project: Project | None
    # Its effective roles now (empty when unscoped).
    roles: list[Role]


class IdentityService:
    """Bootstrap, authentication and tokens (Keystone's /v3/auth/tokens).

    Each method opens the units of work it needs: reads in a read unit, each
    write in one write unit, so a crash before commit leaves nothing behind.
    """

    def __init__(
        self, *, units: Units, repo: IdentityRepository, token_lifetime_seconds: int
    ) -> None:
        self._units = units
        self._repo = repo
        self._lifetime = token_lifetime_seconds

    # --- bootstrap ------------------------------------------------------------------

    async def ensure_defaults(self) -> None:
        """The default domain and roles (one write unit)."""
        async with self._units.write() as unit:
            await self._ensure_defaults(unit)

    async def ensure_user(
        self, *, name: str, password: str, project_name: str, roles: tuple[str, ...]
    ) -> tuple[User, Project, bool]:
        """Create project `project_name` and user `name` with `roles` on it, unless
        present (one write unit)."""
        async with self._units.write() as unit:
            return await self._ensure_user(
                unit, name=name, password=password, project_name=project_name, roles=roles
            )

    async def bootstrap(
        self, *, admin_password: str = "", demo_password: str = ""
    ) -> BootstrapResult:
        """Make the default domain, the three roles, admin/admin and demo/demo when
        missing, in one write unit.

        Idempotent: existing users keep their passwords; `created` says whether the
        admin user was made by this call (only then are the passwords meaningful).
        """
        admin_password = admin_password or new_secret(12)
        demo_password = demo_password or new_secret(12)
        async with self._units.write() as unit:
            await self._ensure_defaults(unit)
            admin, admin_project, created = await self._ensure_user(
                unit, name="admin", password=admin_password, project_name="admin",
                roles=(ADMIN_ROLE, MEMBER_ROLE, READER_ROLE),
            )
            if created:
                # keystone-manage bootstrap: the admin also holds admin on the system.
                admin_role = await self._repo.find_role(unit, name=ADMIN_ROLE)
                assert admin_role is not None
                await self._repo.grant_system(unit, user_id=admin.id, role_id=admin_role.id)
            _, demo_project, _ = await self._ensure_user(
                unit, name="demo", password=demo_password, project_name="demo",
                roles=(MEMBER_ROLE, READER_ROLE),
            )
        return BootstrapResult(
            created, admin_password, demo_password, admin_project.id, demo_project.id
        )

    async def _ensure_defaults(self, unit: Unit) -> None:
        """The default domain and roles; a role made here gets Keystone's default
        inference rules (admin implies member, member implies reader). Rules an
        operator removed later are not put back."""
        repo = self._repo
        if await repo.get_domain(unit, DEFAULT_DOMAIN_ID) is None:
            await repo.add(unit, Domain(
                id=DEFAULT_DOMAIN_ID, name=DEFAULT_DOMAIN_NAME, description="The default domain",
            ))
        made: set[str] = set()
        for name in DEFAULT_ROLES:
            if await repo.find_role(unit, name=name) is None:
                await repo.add(unit, Role(id=new_id(), name=name))
                made.add(name)
        for prior, implied in DEFAULT_IMPLIED_ROLES:
            if prior in made or implied in made:
                prior_role = await repo.find_role(unit, name=prior)
                implied_role = await repo.find_role(unit, name=implied)
                assert prior_role is not None
                assert implied_role is not None
                if not await repo.has_implication(
                    unit, prior_role_id=prior_role.id, implied_role_id=implied_role.id
                ):
                    await repo.add_implication(
                        unit, prior_role_id=prior_role.id, implied_role_id=implied_role.id
                    )

    async def _ensure_user(
        self, unit: Unit, *, name: str, password: str, project_name: str,
        roles: tuple[str, ...],
    ) -> tuple[User, Project, bool]:
        repo = self._repo
        created = False
        project = await repo.find_project(unit, name=project_name, domain_id=DEFAULT_DOMAIN_ID)
        if project is None:
            project = Project(
                id=new_id(), name=project_name, domain_id=DEFAULT_DOMAIN_ID,
                description=f"{project_name} project", created_at=utcnow(),
            )
            await repo.add(unit, project)
        user = await repo.find_user(unit, name=name, domain_id=DEFAULT_DOMAIN_ID)
        if user is None:
            user = User(
                id=new_id(), name=name, domain_id=DEFAULT_DOMAIN_ID,
                password_hash=hash_password(password), default_project_id=project.id,
                created_at=utcnow(),
            )
            await repo.add(unit, user)
            created = True
        for role_name in roles:
            role = await repo.find_role(unit, name=role_name)
            assert role is not None
            await repo.grant(unit, user_id=user.id, project_id=project.id, role_id=role.id)
        return user, project, created

    # --- issuing --------------------------------------------------------------------

    async def authenticate(self, req: AuthRequest) -> tuple[IssuedToken, TokenInfo]:
        """POST /v3/auth/tokens: `verify_auth`, then `issue_verified`.

        The password check (Argon2, ~0.1 s) reads only; the write unit re-checks
        and inserts, so on SQLite the write lock is held for milliseconds.
        """
        return await self.issue_verified(await self.verify_auth(req))

    async def verify_auth(self, req: AuthRequest) -> VerifiedAuth:
        """Check the credentials in `req` in a read unit. Raises Unauthenticated (401)."""
        async with self._units.read() as unit:
            if "token" in req.methods:
                if req.token is None:
                    raise InvalidRequest("The token method needs auth.identity.token.id.")
                parent = (await self._valid(unit, req.token)).row
                verified = VerifiedAuth(
                    user_id=parent.user_id,
                    methods=tuple(dict.fromkeys([*parent.methods, "token"])),
                    parent_token=req.token, expires_cap=parent.expires_at,
                )
            elif "password" in req.methods:
                if req.user is None or req.password is None:
                    raise InvalidRequest(
                        "The password method needs auth.identity.password.user."
                    )
                user = await self._password_user(unit, req.user, req.password)
                verified = VerifiedAuth(
                    user_id=user.id, methods=("password",), password_hash=user.password_hash
                )
            else:
                raise Unauthenticated("Attempted to authenticate with an unsupported method.")
            if req.project is not None:
                project = await self._scope_project(unit, req.project)
                verified = replace(verified, project_id=project.id)
            elif req.system:
                verified = replace(verified, system=True)
        return verified

    async def issue_verified(self, auth: VerifiedAuth) -> tuple[IssuedToken, TokenInfo]:
        """Store a token for credentials `verify_auth` accepted, in one write unit
        (one INSERT; a crash before commit leaves no token behind). Raises
        Unauthenticated (401).

        It re-reads what may have changed since the check: the user is still
        enabled (as is its domain), its password is the one checked (a password
        change revokes tokens), a re-scoped token is still valid, the project is
        still enabled and the user holds a role on it. The user row is read with
        FOR SHARE where the database has it, so a concurrent disable or password
        change waits for this unit and then revokes the new token too; SQLite
        runs one write unit at a time anyway.
        """
        async with self._units.write() as unit:
            user = await self._check_user(
                unit, await self._repo.get_user(unit, auth.user_id, lock=True)
            )
            if auth.password_hash is not None and user.password_hash != auth.password_hash:
                raise Unauthenticated()
            if auth.parent_token is not None:
                parent = (await self._valid(unit, auth.parent_token)).row
                if parent.user_id != user.id:
                    raise Unauthenticated()
            project = None
            if auth.project_id is not None:
                project = await self._check_project(
                    unit, await self._repo.get_project(unit, auth.project_id)
                )
            issued = await self._issue(
                unit, user=user, project=project, methods=auth.methods,
                expires_at=auth.expires_cap, system=auth.system,
            )
            info = await self._token_info(
                unit, user=user, project=project, methods=auth.methods,
                audit_id=issued.audit_id, issued_at=issued.issued_at,
                expires_at=issued.expires_at, system=auth.system, roles=list(issued.roles),
            )
        return issued, info

    async def issue_token(
        self, *, user_id: str, project_id: str | None = None, system: bool = False
    ) -> IssuedToken:
        """A token for the user, scoped as asked, without credentials (tooling and
        tests; requests go through `authenticate`). One write unit."""
        async with self._units.write() as unit:
            user = await self._repo.get_user(unit, user_id)
            if user is None:
                raise Unauthenticated()
            project = None
            if project_id is not None:
                project = await self._repo.get_project(unit, project_id)
                if project is None:
                    raise Unauthenticated()
            return await self._issue(unit, user=user, project=project, system=system)

    async def _issue(
        self, unit: Unit, *, user: User, project: Project | None,
        methods: tuple[str, ...] = ("password",), expires_at: datetime | None = None,
        system: bool = False,
    ) -> IssuedToken:
        """Store a new token for `user`, scoped to `project` (which must carry a role)
        or to the system (`system`: the user must hold a role on it), or unscoped.

        `expires_at`, when given, caps the expiry (a re-scoped token keeps its parent's).
        """
        system = system and project is None
        roles = await self._scope_roles(unit, user_id=user.id, project=project, system=system)
        if project is not None and not roles:
            raise Unauthenticated(f"User {user.id} has no access to project {project.id}")
        if system and not roles:
            raise Unauthenticated(f"User {user.id} has no access to the system")
        token = new_secret(48)
        # Whole seconds, as Keystone's tokens carry (`...07.000000Z` on the wire).
        now = utcnow().replace(microsecond=0)
        expires = now + timedelta(seconds=self._lifetime)
        if expires_at is not None:
            expires = min(expires, expires_at)
        audit_id = secrets.token_urlsafe(16)[:22]
        await self._repo.add_token(
            unit,
            Token(
                id=token_digest(token), user_id=user.id,
                project_id=project.id if project else None, methods=list(methods),
                audit_id=audit_id, issued_at=now, expires_at=expires, system=system,
            ),
        )
        caller = await self._caller_for(unit, user=user, project=project,
                                        roles=[r.name for r in roles], expires=expires,
                                        token_id=token_digest(token), system=system)
        return IssuedToken(token, caller, now, expires, audit_id, methods, tuple(roles))

    # --- validating -----------------------------------------------------------------

    async def caller(self, token: str) -> Caller:
        """The caller a token stands for, in a read unit (the token validator's
        lookup behind its cache). Raises Unauthenticated if unknown, revoked or
        expired, or when its user, project or roles are gone."""
        async with self._units.read() as unit:
            valid = await self._valid(unit, token)
            return await self._caller_for(
                unit, user=valid.user, project=valid.project,
                roles=[r.name for r in valid.roles], expires=valid.row.expires_at,
                token_id=valid.row.id, system=valid.row.system,
            )

    async def describe_token(self, token: str) -> TokenInfo:
        """The body of a valid token. Raises NotFound (Keystone's 404 for a bad subject)."""
        async with self._units.read() as unit:
            return await self._describe(unit, token)

    async def revoke_token(self, caller: Caller, token: str) -> None:
        """Mark a valid token revoked, when `caller` is an admin or the token's user,
        in one write unit (one UPDATE). Raises NotFound for a bad subject."""
        async with self._units.write() as unit:
            info = await self._describe(unit, token)
            check_admin_or_self(caller, "revoke_token", info.user.id)
            await self._repo.revoke_token(unit, token_digest(token))

    async def _describe(self, unit: Unit, token: str) -> TokenInfo:
        try:
            valid = await self._valid(unit, token)
        except Unauthenticated:
            raise NotFound(f"Could not find token: {token}.") from None
        row = valid.row
        return await self._token_info(
            unit, user=valid.user, project=valid.project, methods=tuple(row.methods),
            audit_id=row.audit_id, issued_at=row.issued_at, expires_at=row.expires_at,
            system=row.system, roles=valid.roles,
        )

    async def _valid(self, unit: Unit, token: str) -> _ValidToken:
        """The stored token, if still good. Raises Unauthenticated otherwise."""
        repo = self._repo
        row = await repo.get_token(unit, token_digest(token))
        if row is None or row.revoked or row.expires_at <= utcnow():
            raise Unauthenticated()
        user = await repo.get_user(unit, row.user_id)
        if user is None or not user.enabled:
            raise Unauthenticated()
        project = None
        if row.project_id:
            project = await repo.get_project(unit, row.project_id)
            if project is None or not project.enabled:
                raise Unauthenticated()
        roles = await self._scope_roles(unit, user_id=user.id, project=project,
                                        system=row.system)
        if (project is not None or row.system) and not roles:
            # A role removed since issue ends a scoped token.
            raise Unauthenticated()
        return _ValidToken(row, user, project, roles)

    # --- the steps ------------------------------------------------------------------

    async def _scope_roles(
        self, unit: Unit, *, user_id: str, project: Project | None, system: bool
    ) -> list[Role]:
        """The effective roles of a token's scope: on its project, on the system, or none."""
        if project is None and not system:
            return []
        return await self._repo.effective_roles(
            unit, user_id=user_id, project_id=project.id if project is not None else None
        )

    async def _caller_for(
        self, unit: Unit, *, user: User, project: Project | None, roles: list[str],
        expires: datetime, token_id: str, system: bool = False,
    ) -> Caller:
        user_domain = await self._repo.get_domain(unit, user.domain_id)
        project_domain = (
            await self._repo.get_domain(unit, project.domain_id) if project else None
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

    async def _token_info(
        self, unit: Unit, *, user: User, project: Project | None, methods: tuple[str, ...],
        audit_id: str, issued_at: datetime, expires_at: datetime, system: bool,
        roles: list[Role],
    ) -> TokenInfo:
        user_domain = await self._repo.get_domain(unit, user.domain_id)
        assert user_domain is not None  # users.domain_id is a foreign key
        project_domain = None
        if project is not None:
            project_domain = await self._repo.get_domain(unit, project.domain_id)
        return TokenInfo(
            user=user, user_domain=user_domain, project=project, project_domain=project_domain,
            roles=roles, methods=methods, audit_ids=(audit_id,), issued_at=issued_at,
            expires_at=expires_at, system=system and project is None,
        )

    async def _domain_of(self, unit: Unit, ref: NamedRef) -> Domain | None:
        if ref.domain_id is not None:
            return await self._repo.get_domain(unit, ref.domain_id)
        if ref.domain_name is not None:
            return await self._repo.find_domain(unit, name=ref.domain_name)
        return None

    async def _password_user(self, unit: Unit, ref: NamedRef, password: str) -> User:
        """The enabled user `ref` whose password is `password`; Unauthenticated otherwise.

        Every failure gives the same 401 so that callers cannot probe for user names.
        """
        user: User | None
        if ref.id is not None:
            user = await self._repo.get_user(unit, ref.id)
        else:
            domain = await self._domain_of(unit, ref)
            user = (
                await self._repo.find_user(unit, name=ref.name or "", domain_id=domain.id)
                if domain is not None else None
            )
        ok = await asyncio.to_thread(
            verify_password, user.password_hash if user else None, password
        )
        if user is None or not ok:
            raise Unauthenticated()
        await self._check_user(unit, user)
        return user

    async def _check_user(self, unit: Unit, user: User | None) -> User:
        if user is None or not user.enabled:
            raise Unauthenticated()
        domain = await self._repo.get_domain(unit, user.domain_id)
        if domain is None or not domain.enabled:
            raise Unauthenticated()
        return user

    async def _scope_project(self, unit: Unit, ref: NamedRef) -> Project:
        project: Project | None
        if ref.id is not None:
            project = await self._repo.get_project(unit, ref.id)
        else:
            domain = await self._domain_of(unit, ref)
            project = (
                await self._repo.find_project(unit, name=ref.name or "", domain_id=domain.id)
                if domain is not None else None
            )
        return await self._check_project(unit, project)

    async def _check_project(self, unit: Unit, project: Project | None) -> Project:
        if project is None or not project.enabled:
            raise Unauthenticated()
        domain = await self._repo.get_domain(unit, project.domain_id)
        if domain is None or not domain.enabled:
            raise Unauthenticated()
        return project
