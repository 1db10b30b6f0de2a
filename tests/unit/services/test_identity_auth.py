"""services/identity.py and identity_admin.py against a real (fresh) database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest

from cinderlite.db.database import Database
from cinderlite.db.identity import IdentityRepository
from cinderlite.domain.errors import InvalidRequest, NotFound, Unauthenticated
from cinderlite.services.identity import AuthRequest, IdentityService, NamedRef
from cinderlite.services.identity_admin import IdentityAdminService


@dataclass
class Services:
    database: Database

    def identity(self, lifetime_seconds: int = 60) -> IdentityService:
        """The token service, issuing tokens that live `lifetime_seconds`."""
        return IdentityService(units=self.database, repo=IdentityRepository(),
                               token_lifetime_seconds=lifetime_seconds)

    @property
    def admin(self) -> IdentityAdminService:
        return IdentityAdminService(units=self.database, repo=IdentityRepository())


@pytest.fixture
async def svc(database_url: str) -> AsyncIterator[Services]:
    """The identity services on a migrated database with admin/demo bootstrapped."""
    async with Database.open(database_url) as database:
        services = Services(database)
        await services.identity().bootstrap(admin_password="a-pw", demo_password="d-pw")
        yield services


def demo_login(password: str = "d-pw", project: NamedRef | None = None) -> AuthRequest:
    return AuthRequest(
        methods=("password",), user=NamedRef(name="demo", domain_name="Default"),
        password=password, project=project,
    )


DEMO = NamedRef(name="demo", domain_id="default")


async def test_password_login_scoped_by_name(svc: Services) -> None:
    issued, info = await svc.identity().authenticate(demo_login(project=DEMO))
    assert info.project is not None
    assert info.project.name == "demo"
    assert sorted(r.name for r in info.roles) == ["member", "reader"]
    assert info.expires_at - info.issued_at == timedelta(seconds=60)
    assert info.issued_at.microsecond == 0
    caller = await svc.identity().caller(issued.token)
    assert caller.project_id == info.project.id


async def test_wrong_password_is_unauthenticated(svc: Services) -> None:
    with pytest.raises(Unauthenticated):
        await svc.identity().authenticate(demo_login("nope"))


async def test_no_role_on_project_is_unauthenticated(svc: Services) -> None:
    with pytest.raises(Unauthenticated):
        await svc.identity().authenticate(
            demo_login(project=NamedRef(name="admin", domain_id="default"))
        )


async def test_token_method_needs_a_token(svc: Services) -> None:
    with pytest.raises(InvalidRequest):
        await svc.identity().authenticate(AuthRequest(methods=("token",)))


async def test_unsupported_method_is_unauthenticated(svc: Services) -> None:
    with pytest.raises(Unauthenticated):
        await svc.identity().authenticate(AuthRequest(methods=("totp",)))


async def test_rescope_keeps_parent_expiry(svc: Services) -> None:
    parent, parent_info = await svc.identity(lifetime_seconds=30).authenticate(demo_login())
    _, info = await svc.identity(lifetime_seconds=3600).authenticate(
        AuthRequest(methods=("token",), token=parent.token, project=DEMO)
    )
    assert info.expires_at == parent_info.expires_at
    assert info.methods == ("password", "token")


async def test_describe_revoked_token_is_not_found(svc: Services) -> None:
    issued, _ = await svc.identity().authenticate(demo_login())
    await svc.identity().revoke_token(issued.caller, issued.token)
    with pytest.raises(NotFound, match="Could not find token"):
        await svc.identity().describe_token(issued.token)


async def test_password_change_revokes_tokens(svc: Services) -> None:
    issued, info = await svc.identity().authenticate(demo_login())
    await svc.admin.update_user(info.user.id, {"password": "new-pw"})
    with pytest.raises(Unauthenticated):
        await svc.identity().caller(issued.token)
    await svc.identity().authenticate(demo_login("new-pw"))


async def test_grant_is_idempotent_and_revoke_is_checked(svc: Services) -> None:
    project = await svc.admin.create_project(name="p", domain_id="default")
    user = await svc.admin.create_user(name="u", domain_id="default", password="pw")
    (reader,) = await svc.admin.list_roles(name="reader")
    for _ in range(2):
        await svc.admin.grant_role(project_id=project.id, user_id=user.id, role_id=reader.id)
    await svc.admin.check_grant(project_id=project.id, user_id=user.id, role_id=reader.id)
    await svc.admin.revoke_role(project_id=project.id, user_id=user.id, role_id=reader.id)
    with pytest.raises(NotFound, match="Could not find role assignment"):
        await svc.admin.revoke_role(project_id=project.id, user_id=user.id, role_id=reader.id)


async def test_delete_project_removes_its_grants(svc: Services) -> None:
    project = await svc.admin.create_project(name="gone", domain_id="default")
    user = await svc.admin.create_user(name="g", domain_id="default")
    (member,) = await svc.admin.list_roles(name="member")
    await svc.admin.grant_role(project_id=project.id, user_id=user.id, role_id=member.id)
    await svc.admin.delete_project(project.id)
    assert await svc.admin.list_assignments(user_id=user.id) == []
    with pytest.raises(NotFound):
        await svc.admin.get_project(project.id)


# --- the token route checks credentials first, then issues in a short write
# transaction; issue_verified re-checks whatever may change in between.


async def test_issue_verified_refuses_a_user_disabled_after_the_check(svc: Services) -> None:
    verified = await svc.identity().verify_auth(demo_login(project=DEMO))
    await svc.admin.update_user(verified.user_id, {"enabled": False})
    with pytest.raises(Unauthenticated):
        await svc.identity().issue_verified(verified)


async def test_issue_verified_refuses_after_a_password_change(svc: Services) -> None:
    verified = await svc.identity().verify_auth(demo_login())
    await svc.admin.update_user(verified.user_id, {"password": "new-pw"})
    with pytest.raises(Unauthenticated):
        await svc.identity().issue_verified(verified)


async def test_issue_verified_refuses_a_parent_token_revoked_after_the_check(
    svc: Services,
) -> None:
    parent, _ = await svc.identity().authenticate(demo_login())
    verified = await svc.identity().verify_auth(
        AuthRequest(methods=("token",), token=parent.token, project=DEMO)
    )
    await svc.identity().revoke_token(parent.caller, parent.token)
    with pytest.raises(Unauthenticated):
        await svc.identity().issue_verified(verified)


async def test_issue_verified_refuses_a_project_disabled_after_the_check(
    svc: Services,
) -> None:
    verified = await svc.identity().verify_auth(demo_login(project=DEMO))
    assert verified.project_id is not None
    await svc.admin.update_project(verified.project_id, {"enabled": False})
    with pytest.raises(Unauthenticated):
        await svc.identity().issue_verified(verified)


async def test_issue_verified_refuses_a_role_revoked_after_the_check(svc: Services) -> None:
    verified = await svc.identity().verify_auth(demo_login(project=DEMO))
    assert verified.project_id is not None
    for role in await svc.admin.project_user_roles(
        project_id=verified.project_id, user_id=verified.user_id
    ):
        await svc.admin.revoke_role(
            project_id=verified.project_id, user_id=verified.user_id, role_id=role.id
        )
    with pytest.raises(Unauthenticated, match="has no access to project"):
        await svc.identity().issue_verified(verified)


async def test_issue_verified_stores_the_token_when_nothing_changed(svc: Services) -> None:
    verified = await svc.identity().verify_auth(demo_login(project=DEMO))
    issued, info = await svc.identity().issue_verified(verified)
    caller = await svc.identity().caller(issued.token)
    assert caller.user_id == verified.user_id
    assert info.project is not None
    assert info.project.id == verified.project_id
