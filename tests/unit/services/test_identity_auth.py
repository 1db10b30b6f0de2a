"""services/identity.py and identity_admin.py against a real (fresh) database session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.db.session import create_engine, create_sessionmaker
from cinderlite.domain.errors import InvalidRequest, NotFound, Unauthenticated
from cinderlite.services import identity
from cinderlite.services import identity_admin as admin
from cinderlite.services.identity import AuthRequest, NamedRef


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on a migrated database with admin/demo bootstrapped, rolled back after."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await identity.bootstrap(session, admin_password="a-pw", demo_password="d-pw")
            yield session
            await session.rollback()
    finally:
        await engine.dispose()


def demo_login(password: str = "d-pw", project: NamedRef | None = None) -> AuthRequest:
    return AuthRequest(
        methods=("password",), user=NamedRef(name="demo", domain_name="Default"),
        password=password, project=project,
    )


DEMO = NamedRef(name="demo", domain_id="default")


async def test_password_login_scoped_by_name(db: AsyncSession) -> None:
    issued, info = await identity.authenticate(db, demo_login(project=DEMO), lifetime_seconds=60)
    assert info.project is not None
    assert info.project.name == "demo"
    assert sorted(r.name for r in info.roles) == ["member", "reader"]
    assert info.expires_at - info.issued_at == timedelta(seconds=60)
    assert info.issued_at.microsecond == 0
    caller, _ = await identity.validate_token(db, token=issued.token)
    assert caller.project_id == info.project.id


async def test_wrong_password_is_unauthenticated(db: AsyncSession) -> None:
    with pytest.raises(Unauthenticated):
        await identity.authenticate(db, demo_login("nope"), lifetime_seconds=60)


async def test_no_role_on_project_is_unauthenticated(db: AsyncSession) -> None:
    with pytest.raises(Unauthenticated):
        await identity.authenticate(
            db, demo_login(project=NamedRef(name="admin", domain_id="default")),
            lifetime_seconds=60,
        )


async def test_token_method_needs_a_token(db: AsyncSession) -> None:
    with pytest.raises(InvalidRequest):
        await identity.authenticate(db, AuthRequest(methods=("token",)), lifetime_seconds=60)


async def test_unsupported_method_is_unauthenticated(db: AsyncSession) -> None:
    with pytest.raises(Unauthenticated):
        await identity.authenticate(db, AuthRequest(methods=("totp",)), lifetime_seconds=60)


async def test_rescope_keeps_parent_expiry(db: AsyncSession) -> None:
    parent, parent_info = await identity.authenticate(db, demo_login(), lifetime_seconds=30)
    _, info = await identity.authenticate(
        db, AuthRequest(methods=("token",), token=parent.token, project=DEMO),
        lifetime_seconds=3600,
    )
    assert info.expires_at == parent_info.expires_at
    assert info.methods == ("password", "token")


async def test_describe_revoked_token_is_not_found(db: AsyncSession) -> None:
    issued, _ = await identity.authenticate(db, demo_login(), lifetime_seconds=60)
    await identity.revoke_token(db, token=issued.token)
    with pytest.raises(NotFound, match="Could not find token"):
        await identity.describe_token(db, token=issued.token)


async def test_password_change_revokes_tokens(db: AsyncSession) -> None:
    issued, info = await identity.authenticate(db, demo_login(), lifetime_seconds=60)
    await admin.update_user(db, info.user.id, {"password": "new-pw"})
    with pytest.raises(Unauthenticated):
        await identity.validate_token(db, token=issued.token)
    await identity.authenticate(db, demo_login("new-pw"), lifetime_seconds=60)


async def test_grant_is_idempotent_and_revoke_is_checked(db: AsyncSession) -> None:
    project = await admin.create_project(db, name="p", domain_id="default")
    user = await admin.create_user(db, name="u", domain_id="default", password="pw")
    (reader,) = await admin.list_roles(db, name="reader")
    for _ in range(2):
        await admin.grant_role(db, project_id=project.id, user_id=user.id, role_id=reader.id)
    await admin.check_grant(db, project_id=project.id, user_id=user.id, role_id=reader.id)
    await admin.revoke_role(db, project_id=project.id, user_id=user.id, role_id=reader.id)
    with pytest.raises(NotFound, match="Could not find role assignment"):
        await admin.revoke_role(db, project_id=project.id, user_id=user.id, role_id=reader.id)


async def test_delete_project_removes_its_grants(db: AsyncSession) -> None:
    project = await admin.create_project(db, name="gone", domain_id="default")
    user = await admin.create_user(db, name="g", domain_id="default")
    (member,) = await admin.list_roles(db, name="member")
    await admin.grant_role(db, project_id=project.id, user_id=user.id, role_id=member.id)
    await admin.delete_project(db, project.id)
    assert await admin.list_assignments(db, user_id=user.id) == []
    with pytest.raises(NotFound):
        await admin.get_project(db, project.id)


# --- the token route checks credentials first, then issues in a short write
# transaction; issue_verified re-checks whatever may change in between.


async def test_issue_verified_refuses_a_user_disabled_after_the_check(db: AsyncSession) -> None:
    verified = await identity.verify_auth(db, demo_login(project=DEMO))
    await admin.update_user(db, verified.user_id, {"enabled": False})
    with pytest.raises(Unauthenticated):
        await identity.issue_verified(db, verified, lifetime_seconds=60)


async def test_issue_verified_refuses_after_a_password_change(db: AsyncSession) -> None:
    verified = await identity.verify_auth(db, demo_login())
    await admin.update_user(db, verified.user_id, {"password": "new-pw"})
    with pytest.raises(Unauthenticated):
        await identity.issue_verified(db, verified, lifetime_seconds=60)


async def test_issue_verified_refuses_a_parent_token_revoked_after_the_check(
    db: AsyncSession,
) -> None:
    parent, _ = await identity.authenticate(db, demo_login(), lifetime_seconds=60)
    verified = await identity.verify_auth(
        db, AuthRequest(methods=("token",), token=parent.token, project=DEMO)
    )
    await identity.revoke_token(db, token=parent.token)
    with pytest.raises(Unauthenticated):
        await identity.issue_verified(db, verified, lifetime_seconds=60)


async def test_issue_verified_refuses_a_project_disabled_after_the_check(
    db: AsyncSession,
) -> None:
    verified = await identity.verify_auth(db, demo_login(project=DEMO))
    assert verified.project_id is not None
    await admin.update_project(db, verified.project_id, {"enabled": False})
    with pytest.raises(Unauthenticated):
        await identity.issue_verified(db, verified, lifetime_seconds=60)


async def test_issue_verified_refuses_a_role_revoked_after_the_check(db: AsyncSession) -> None:
    verified = await identity.verify_auth(db, demo_login(project=DEMO))
    assert verified.project_id is not None
    for role in await admin.project_user_roles(
        db, project_id=verified.project_id, user_id=verified.user_id
    ):
        await admin.revoke_role(
            db, project_id=verified.project_id, user_id=verified.user_id, role_id=role.id
        )
    with pytest.raises(Unauthenticated, match="has no access to project"):
        await identity.issue_verified(db, verified, lifetime_seconds=60)


async def test_issue_verified_stores_the_token_when_nothing_changed(db: AsyncSession) -> None:
    verified = await identity.verify_auth(db, demo_login(project=DEMO))
    issued, info = await identity.issue_verified(db, verified, lifetime_seconds=60)
    caller, _ = await identity.validate_token(db, token=issued.token)
    assert caller.user_id == verified.user_id
    assert info.project is not None
    assert info.project.id == verified.project_id
