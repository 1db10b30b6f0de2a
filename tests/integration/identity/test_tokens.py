"""POST/GET/HEAD/DELETE /v3/auth/tokens and the version documents, through the ASGI app."""

from __future__ import annotations

import re

import httpx
import pytest

from cinderlite.db.identity import IdentityRepository
from cinderlite.services import identity
from tests.conftest import make_user

pytestmark = pytest.mark.integration

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UNAUTHORIZED = {
    "error": {
        "code": 401, "title": "Unauthorized",
        "message": "The request you have made requires authentication.",
    }
}


def password_auth(user: dict, password: str, scope: dict | None = None) -> dict:
    body: dict = {"auth": {"identity": {"methods": ["password"],
                                         "password": {"user": {**user, "password": password}}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


BY_NAME = {"name": "demo", "domain": {"name": "Default"}}
DEMO_SCOPE = {"project": {"name": "demo", "domain": {"name": "Default"}}}


async def test_root_lists_v3_with_300(identity_client: httpx.AsyncClient, settings) -> None:
    resp = await identity_client.get("/")
    assert resp.status_code == 300
    (entry,) = resp.json()["versions"]["values"]
    assert entry["id"] == "v3.14"
    assert entry["links"] == [{"rel": "self", "href": f"{settings.identity_url()}/v3/"}]


@pytest.mark.parametrize("path", ["/v3", "/v3/"])
async def test_v3_version_document(identity_client: httpx.AsyncClient, settings, path) -> None:
    resp = await identity_client.get(path)
    assert resp.status_code == 200
    version = resp.json()["version"]
    assert version["status"] == "stable"
    assert version["media-types"] == [
        {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
    ]
    assert version["links"][0]["href"] == f"{settings.identity_url()}/v3/"


async def test_password_auth_by_names_returns_scoped_token(
    identity_client: httpx.AsyncClient, rt, settings
) -> None:
    resp = await identity_client.post(
        "/v3/auth/tokens", json=password_auth(BY_NAME, "demo-secret", DEMO_SCOPE)
    )
    assert resp.status_code == 201, resp.text
    subject = resp.headers["X-Subject-Token"]
    token = resp.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "demo"
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["user"]["password_expires_at"] is None
    assert token["project"]["name"] == "demo"
    assert token["project"]["domain"] == {"id": "default", "name": "Default"}
    assert token["is_domain"] is False
    assert sorted(r["name"] for r in token["roles"]) == ["member", "reader"]
    assert all(r["id"] for r in token["roles"])
    assert TIME.match(token["expires_at"])
    assert TIME.match(token["issued_at"])
    assert len(token["audit_ids"]) == 1
    project_id = token["project"]["id"]
    by_type = {s["type"]: s for s in token["catalog"]}
    assert set(by_type) == {"identity", "block-storage", "volumev3", "volumev2", "image"}
    urls = {t: s["endpoints"][0]["url"] for t, s in by_type.items()}
    assert urls["identity"] == f"{settings.identity_url()}/v3"
    assert urls["block-storage"] == f"{settings.volume_url()}/v3/{project_id}"
    assert urls["volumev3"] == f"{settings.volume_url()}/v3/{project_id}"
    assert urls["volumev2"] == f"{settings.volume_url()}/v2/{project_id}"
    assert urls["image"] == settings.image_url()
    for service in token["catalog"]:
        assert service["id"]
        assert service["name"]
        assert {e["interface"] for e in service["endpoints"]} == {"public", "internal", "admin"}
        for ep in service["endpoints"]:
            assert ep["region"] == ep["region_id"] == settings.region
            assert ep["id"]
    # The token works for the other APIs' validator.
    caller = await rt.validator.validate(subject)
    assert caller.project_id == project_id


async def test_password_auth_by_ids(identity_client: httpx.AsyncClient, demo) -> None:
    body = password_auth(
        {"id": demo.caller.user_id}, "demo-secret",
        {"project": {"id": demo.project_id, "domain": {"id": "default"}}},
    )
    resp = await identity_client.post("/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    assert resp.json()["token"]["project"]["id"] == demo.project_id


async def test_auth_without_scope_is_unscoped(identity_client: httpx.AsyncClient) -> None:
    resp = await identity_client.post("/v3/auth/tokens", json=password_auth(BY_NAME, "demo-secret"))
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert "project" not in token
    assert "catalog" not in token
    assert "roles" not in token
    assert token["user"]["name"] == "demo"


async def test_token_method_rescopes_and_keeps_expiry(identity_client: httpx.AsyncClient) -> None:
    first = await identity_client.post(
        "/v3/auth/tokens", json=password_auth(BY_NAME, "demo-secret")
    )
    body = {"auth": {"identity": {"methods": ["token"],
                                  "token": {"id": first.headers["X-Subject-Token"]}},
                     "scope": DEMO_SCOPE}}
    resp = await identity_client.post("/v3/auth/tokens", json=body)
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    assert token["project"]["name"] == "demo"
    assert "token" in token["methods"]
    assert token["expires_at"] == first.json()["token"]["expires_at"]
    assert resp.headers["X-Subject-Token"] != first.headers["X-Subject-Token"]


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (BY_NAME, "wrong"),
        ({"name": "nobody", "domain": {"name": "Default"}}, "demo-secret"),
        ({"name": "demo", "domain": {"name": "NoSuchDomain"}}, "demo-secret"),
        ({"id": "0" * 32}, "demo-secret"),
    ],
)
async def test_bad_credentials_get_401(identity_client: httpx.AsyncClient, user, password) -> None:
    resp = await identity_client.post(
        "/v3/auth/tokens", json=password_auth(user, password, DEMO_SCOPE)
    )
    assert resp.status_code == 401
    assert resp.json() == UNAUTHORIZED


async def test_disabled_user_gets_401(identity_client: httpx.AsyncClient, admin, demo) -> None:
    resp = await identity_client.patch(
        f"/v3/users/{demo.caller.user_id}", json={"user": {"enabled": False}},
        headers=admin.headers,
    )
    assert resp.status_code == 200
    resp = await identity_client.post(
        "/v3/auth/tokens", json=password_auth(BY_NAME, "demo-secret", DEMO_SCOPE)
    )
    assert resp.status_code == 401
    # Disabling revoked the user's existing tokens too.
    check = await identity_client.get(
        "/v3/auth/tokens", headers={**admin.headers, "X-Subject-Token": demo.token}
    )
    assert check.status_code == 404


async def test_user_without_role_on_project_gets_401(identity_client: httpx.AsyncClient) -> None:
    scope = {"project": {"name": "admin", "domain": {"id": "default"}}}
    resp = await identity_client.post(
        "/v3/auth/tokens", json=password_auth(BY_NAME, "demo-secret", scope)
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == 401


async def test_unknown_project_scope_gets_401(identity_client: httpx.AsyncClient) -> None:
    resp = await identity_client.post(
        "/v3/auth/tokens",
        json=password_auth(BY_NAME, "demo-secret", {"project": {"id": "f" * 32}}),
    )
    assert resp.status_code == 401


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"auth": {}}',
        b'{"auth": {"identity": {"methods": "password"}}}',
        b'{"auth": {"identity": {"methods": ["password"]}}}',
        b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo",'
        b' "password": "x"}}}}}',
        b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": 5,'
        b' "password": "x"}}}}}',
        b'{"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "x",'
        b' "password": "x"}}}, "scope": {"project": {"name": "demo"}}}}',
        b"\xff\xfe",
    ],
)
async def test_malformed_auth_body_gets_400(identity_client: httpx.AsyncClient, content) -> None:
    resp = await identity_client.post(
        "/v3/auth/tokens", content=content, headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == 400
    assert error["title"] == "Bad Request"
    assert error["message"]


async def test_oversized_body_gets_413(identity_client: httpx.AsyncClient, settings) -> None:
    big = b'{"auth": "' + b"x" * settings.max_request_body_bytes + b'"}'
    resp = await identity_client.post("/v3/auth/tokens", content=big)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == 413


async def test_validate_token_as_admin_and_as_self(
    identity_client: httpx.AsyncClient, admin, demo
) -> None:
    for caller in (admin, demo):
        resp = await identity_client.get(
            "/v3/auth/tokens", headers={**caller.headers, "X-Subject-Token": demo.token}
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["X-Subject-Token"] == demo.token
        assert resp.json()["token"]["project"]["id"] == demo.project_id
        head = await identity_client.head(
            "/v3/auth/tokens", headers={**caller.headers, "X-Subject-Token": demo.token}
        )
        assert head.status_code == 200
        assert head.content == b""


async def test_validate_someone_elses_token_is_forbidden(
    identity_client: httpx.AsyncClient, admin, demo
) -> None:
    resp = await identity_client.get(
        "/v3/auth/tokens", headers={**demo.headers, "X-Subject-Token": admin.token}
    )
    assert resp.status_code == 403
    assert resp.json()["error"]["message"] == (
        "You are not authorized to perform the requested action: identity:validate_token."
    )


async def test_validate_without_caller_token_is_401(
    identity_client: httpx.AsyncClient, demo
) -> None:
    resp = await identity_client.get("/v3/auth/tokens", headers={"X-Subject-Token": demo.token})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


async def test_validate_invalid_subject_is_404(identity_client: httpx.AsyncClient, admin) -> None:
    resp = await identity_client.get(
        "/v3/auth/tokens", headers={**admin.headers, "X-Subject-Token": "bogus"}
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["message"] == "Could not find token: bogus."


async def test_revoke_token(identity_client: httpx.AsyncClient, rt, admin) -> None:
    victim = await make_user(rt, name="victim", project="demo", roles=("member",))
    assert (await rt.validator.validate(victim.token)).user_name == "victim"  # now cached
    resp = await identity_client.delete(
        "/v3/auth/tokens", headers={**victim.headers, "X-Subject-Token": victim.token}
    )
    assert resp.status_code == 204
    check = await identity_client.get(
        "/v3/auth/tokens", headers={**admin.headers, "X-Subject-Token": victim.token}
    )
    assert check.status_code == 404
    with pytest.raises(identity.Unauthenticated):
        await rt.validator.validate(victim.token)
    again = await identity_client.delete(
        "/v3/auth/tokens", headers={**admin.headers, "X-Subject-Token": victim.token}
    )
    assert again.status_code == 404


async def test_expired_token_is_404(identity_client: httpx.AsyncClient, rt, admin) -> None:
    # The runtime's service, with a lifetime that has already run out.
    expired = identity.IdentityService(
        units=rt.db, repo=IdentityRepository(), token_lifetime_seconds=-1
    )
    user = await rt.services.identity_admin.find_by_name_or_id("user", "demo")
    issued = await expired.issue_token(user_id=user.id)
    resp = await identity_client.get(
        "/v3/auth/tokens", headers={**admin.headers, "X-Subject-Token": issued.token}
    )
    assert resp.status_code == 404


async def test_nocatalog(identity_client: httpx.AsyncClient, admin, demo) -> None:
    resp = await identity_client.get(
        "/v3/auth/tokens?nocatalog", headers={**admin.headers, "X-Subject-Token": demo.token}
    )
    assert resp.status_code == 200
    assert "catalog" not in resp.json()["token"]


async def test_auth_projects_lists_callers_projects(
    identity_client: httpx.AsyncClient, demo
) -> None:
    resp = await identity_client.get("/v3/auth/projects", headers=demo.headers)
    assert resp.status_code == 200
    assert [p["name"] for p in resp.json()["projects"]] == ["demo"]
    catalog = await identity_client.get("/v3/auth/catalog", headers=demo.headers)
    assert {s["type"] for s in catalog.json()["catalog"]} >= {"block-storage", "image"}


async def test_password_check_holds_no_write_lock(
    identity_client: httpx.AsyncClient, rt, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2 takes ~0.1 s; on SQLite every other writer of the process would wait
    for it if it ran inside the token's write transaction."""
    import asyncio
    import threading

    from sqlalchemy import text

    entered, release = threading.Event(), threading.Event()
    check = identity.verify_password

    def slow_check(password_hash: str | None, password: str) -> bool:
        entered.set()
        release.wait(30)
        return check(password_hash, password)

    monkeypatch.setattr(identity, "verify_password", slow_check)
    login = asyncio.create_task(
        identity_client.post("/v3/auth/tokens", json=password_auth(BY_NAME, "demo-secret"))
    )
    try:
        assert await asyncio.to_thread(entered.wait, 30)

        async def other_writer() -> None:
            async with rt.transaction() as db:
                await db.execute(text("UPDATE domains SET description = description"))

        # Done while the password check is still running (a liveness bound, not a timing).
        await asyncio.wait_for(other_writer(), 20)
    finally:
        release.set()
    resp = await login
    assert resp.status_code == 201
