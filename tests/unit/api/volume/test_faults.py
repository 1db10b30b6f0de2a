"""render_error: Cinder fault bodies, version headers, and the dependency-failure rules."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from starlette.requests import Request

from cinderlite.api.volume.context import ApiVersion, VolumeContext
from cinderlite.api.volume.routes import render_error, render_status
from cinderlite.domain.errors import (
    DependencyUnavailable,
    InvalidVolume,
    PolicyNotAuthorized,
    VolumeNotFound,
)
from cinderlite.domain.identity import Caller

CALLER = Caller(user_id="u", user_name="u", project_id="p", project_name="p",
                roles=frozenset({"member"}))


def _request(api: str, *, with_ctx: bool = True) -> Request:
    # The one field of VolumeApi that rendering a fault reads.
    deps = SimpleNamespace(identity_url="http://id:5000")
    state: dict[str, object] = {"volume_api": api}
    if with_ctx:
        version = ApiVersion(3, 2) if api == "v3" else ApiVersion(2, 0)
        state["volume_ctx"] = VolumeContext(CALLER, api, version, "req-1")  # type: ignore[arg-type]
    scope = {"type": "http", "app": SimpleNamespace(state=SimpleNamespace(api=deps)),
             "state": state, "headers": []}
    return Request(scope)


def _body(resp) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return json.loads(resp.body)


@pytest.mark.parametrize("api", ["v2", "v3"])
def test_image_service_down_is_500_compute_fault(api: str) -> None:
    exc = DependencyUnavailable("image", "Connection to glance failed")
    resp = render_error(_request(api), exc)
    assert resp.status_code == 500
    assert _body(resp) == {"computeFault": {"code": 500,
                                            "message": "Connection to glance failed"}}


def test_identity_down_is_503_on_v3_and_401_on_v2() -> None:
    resp = render_error(_request("v3"), DependencyUnavailable("identity", "x"))
    assert resp.status_code == 503
    assert _body(resp)["serviceUnavailable"]["message"] == (
        "The Keystone service is temporarily unavailable."
    )
    resp = render_error(_request("v2"), DependencyUnavailable("identity", "x"))
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == 'Keystone uri="http://id:5000"'


def test_v3_faults_echo_the_version_and_v2_faults_do_not() -> None:
    resp = render_error(_request("v3"), VolumeNotFound("abc"))
    assert resp.status_code == 404
    assert resp.headers["OpenStack-API-Version"] == "volume 3.2"
    assert resp.headers["Vary"] == "OpenStack-API-Version"
    resp = render_error(_request("v2"), VolumeNotFound("abc"))
    assert "OpenStack-API-Version" not in resp.headers
    assert _body(resp) == {"itemNotFound": {"code": 404,
                                            "message": "Volume abc could not be found."}}


def test_status_table() -> None:
    assert render_error(_request("v3"), PolicyNotAuthorized("volume:create")).status_code == 403
    resp = render_error(_request("v3"), InvalidVolume("Volume x status must be available"))
    assert _body(resp)["badRequest"]["message"] == (
        "Invalid volume: Volume x status must be available"
    )
    assert render_status(_request("v3", with_ctx=False), 405, "x").status_code == 405
