"""Routing, auth, microversions and faults of the volume API."""

from __future__ import annotations

import dataclasses

import pytest

from cinderlite import app as app_module
from cinderlite.domain.errors import DependencyUnavailable
from tests.conftest import _client

pytestmark = pytest.mark.integration


async def test_root_is_300_and_each_api_root_is_200_without_token(volume_client) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get("/")
    assert resp.status_code == 300
    v2, v3 = resp.json()["versions"]
    assert v3["id"] == "v3.0"
    assert v3["status"] == "CURRENT"
    assert v3["version"] == "3.71"
    assert v3["min_version"] == "3.0"
    assert {"updated", "links", "media-types"} <= set(v3)
    assert v3["links"][1]["href"].endswith("/v3/")
    # v2 is listed as Cinder listed it until it removed it, so that version
    # discovery (keystoneauth, openstacksdk) finds the volumev2 endpoint.
    assert v2["id"] == "v2.0"
    assert v2["status"] == "DEPRECATED"
    assert v2["links"][1]["href"].endswith("/v2/")
    for path, entry in (("/v3/", v3), ("/v3", v3), ("/v2/", v2), ("/v2", v2)):
        resp = await volume_client.get(path)
        assert resp.status_code == 200
        assert resp.json()["versions"] == [entry]


async def test_missing_or_bad_token_is_keystonemiddleware_401(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"X-Auth-Token": "nope"}):
        resp = await volume_client.get(f"/v3/{demo.project_id}/volumes", headers=headers)
        assert resp.status_code == 401
        assert resp.json()["error"]["message"] == (
            "The request you have made requires authentication."
        )
        assert resp.headers["WWW-Authenticate"].startswith("Keystone uri=")


class _DownValidator:
    async def validate(self, token: str):  # type: ignore[no-untyped-def]
        raise DependencyUnavailable("identity", "keystone down")

    async def forget(self, token: str) -> None:
        return None

    async def clear(self) -> None:
        return None


async def test_identity_down_is_503_on_v3_and_401_on_v2(demo, rt) -> None:  # type: ignore[no-untyped-def]
    # The volume API with a validator that cannot reach Keystone.
    down = dataclasses.replace(rt, volume_api=dataclasses.replace(
        rt.volume_api, validator=_DownValidator()
    ))
    async with _client(app_module.create_volume_app(down), rt.settings.volume_url()) as client:
        resp = await client.get(f"/v3/{demo.project_id}/volumes", headers=demo.headers)
        assert resp.status_code == 503
        assert resp.json()["serviceUnavailable"]["message"] == (
            "The Keystone service is temporarily unavailable."
        )
        resp = await client.get(f"/v2/{demo.project_id}/volumes", headers=demo.headers)
        assert resp.status_code == 401


@pytest.mark.parametrize(
    ("header", "status", "fragment"),
    [
        ("volume 3.1.1", 400, "API Version String 3.1.1 is of invalid format"),
        ("volume 3.01", 400, "is of invalid format"),
        ("volume 3.72", 406, "Version 3.72 is not supported by the API. Minimum is 3.0 and "
                            "maximum is 3.71."),
        ("volume 2.0", 406, "not supported"),
        ("compute 2.1", 400, "The server could not comply"),
    ],
)
async def test_bad_microversions(volume_client, demo, header, status, fragment) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes",
                                   headers={**demo.headers, "OpenStack-API-Version": header})
    assert resp.status_code == status
    name = "badRequest" if status == 400 else "computeFault"
    assert fragment in resp.json()[name]["message"]
    assert "OpenStack-API-Version" not in resp.headers


@pytest.mark.parametrize(("header", "echo"), [("volume latest", "3.71"), ("volume 3.2", "3.2"),
                                              ("compute 2.1, volume 3.1", "3.1")])
async def test_good_microversions_are_echoed(volume_client, demo, header, echo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes",
                                   headers={**demo.headers, "OpenStack-API-Version": header})
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == f"volume {echo}"
    assert resp.headers["Vary"] == "OpenStack-API-Version"


async def test_unknown_route_404_and_wrong_method_405(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    # (A route not served: groups.)
    resp = await volume_client.get(f"/v3/{demo.project_id}/groups", headers=demo.headers)
    assert resp.status_code == 404
    assert "itemNotFound" in resp.json()
    resp = await volume_client.patch(f"/v3/{demo.project_id}/volumes", headers=demo.headers)
    assert resp.status_code == 405
    assert resp.json()["badMethod"]["code"] == 405


async def test_unknown_v3_route_needs_a_token_first(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/backups")
    assert resp.status_code == 401


async def test_body_limits_media_type_and_malformed_json(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    url = f"/v3/{demo.project_id}/volumes"
    big = b'{"volume": {"size": 1, "name": "' + b"x" * rt.settings.max_request_body_bytes + b'"}}'
    resp = await volume_client.post(url, content=big,
                                    headers={**demo.headers, "Content-Type": "application/json"})
    assert resp.status_code == 413
    assert "overLimit" in resp.json()
    resp = await volume_client.post(url, content=b"{nope",
                                    headers={**demo.headers, "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Malformed request body"
    resp = await volume_client.post(url, content=b'{"volume": {"size": 1}}',
                                    headers={**demo.headers, "Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert resp.json() == {"badMediaType": {"code": 415, "message": "Unsupported Content-Type"}}
    resp = await volume_client.post(
        url, content=b'{"volume": {"size": 1}}',
        headers={**demo.headers, "Content-Type": "application/vnd.openstack.volume+json"},
    )
    assert resp.status_code == 202


async def test_request_ids_on_faults_too(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes/nope", headers=demo.headers)
    assert resp.headers["x-openstack-request-id"].startswith("req-")
    assert resp.headers["x-compute-request-id"] == resp.headers["x-openstack-request-id"]
