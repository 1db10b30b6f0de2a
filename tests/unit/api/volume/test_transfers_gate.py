"""The volume transfer routes: /os-volume-transfer at every version on /v2 and /v3,
/volume-transfers on /v3 only and only from 3.55 (Cinder's answer below: 404)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.responses import Response

from cinderlite.api.volume import routes, transfers
from cinderlite.api.volume.context import ApiVersion, VolumeContext
from cinderlite.domain.errors import NotFound
from cinderlite.domain.identity import Caller

CALLER = Caller(user_id="u", user_name="u", project_id="p", project_name="p",
                roles=frozenset({"member"}))
TID = "5a0c9e3e-8d1f-4a5b-9c2d-3e4f5a6b7c8d"


def _ctx(version: ApiVersion, api: str = "v3") -> VolumeContext:
    return VolumeContext(CALLER, api, version, "req-1")  # type: ignore[arg-type]


async def test_since_refuses_below_its_version_and_serves_from_it() -> None:
    calls: list[ApiVersion] = []

    async def handler(api: Any, ctx: VolumeContext, request: Any, args: Any,
                      body: Any) -> Response:
        calls.append(ctx.version)
        return Response(status_code=204)

    gated = transfers.since(ApiVersion(3, 55), handler)
    with pytest.raises(NotFound) as refused:
        await gated(None, _ctx(ApiVersion(3, 54)), None, (), None)
    assert refused.value.message == "The resource could not be found."
    assert calls == []
    for version in (ApiVersion(3, 55), ApiVersion(3, 70)):
        response = await gated(None, _ctx(version), None, (), None)
        assert response.status_code == 204
    assert calls == [ApiVersion(3, 55), ApiVersion(3, 70)]


@pytest.mark.parametrize(("method", "rest"), [
    ("GET", "/volume-transfers"),
    ("POST", "/volume-transfers"),
    ("GET", "/volume-transfers/detail"),
    ("GET", f"/volume-transfers/{TID}"),
    ("DELETE", f"/volume-transfers/{TID}"),
    ("POST", f"/volume-transfers/{TID}/accept"),
])
async def test_volume_transfers_routes_are_gated_at_3_55(method: str, rest: str) -> None:
    handler, args = routes.match_route("v3", method, rest)
    # Below 3.55 (all that is served while MAX_VERSION is lower) the handler
    # answers 404 before it looks at anything else: no API object is needed.
    for minor in (0, 3, 54):
        with pytest.raises(NotFound):
            await handler(None, _ctx(ApiVersion(3, minor)), None, args, None)  # type: ignore[arg-type]
    # /v2 has no such resource at all.
    with pytest.raises(NotFound):
        routes.match_route("v2", method, rest)


@pytest.mark.parametrize(("method", "rest"), [
    ("GET", "/os-volume-transfer"),
    ("POST", "/os-volume-transfer"),
    ("GET", "/os-volume-transfer/detail"),
    ("GET", f"/os-volume-transfer/{TID}"),
    ("DELETE", f"/os-volume-transfer/{TID}"),
    ("POST", f"/os-volume-transfer/{TID}/accept"),
])
def test_os_volume_transfer_routes_are_served_on_both_apis(method: str, rest: str) -> None:
    for api in ("v2", "v3"):
        handler, _ = routes.match_route(api, method, rest)
        assert not handler.__name__.endswith("_since_3_55")


def test_detail_is_not_taken_for_an_id() -> None:
    handler, args = routes.match_route("v3", "GET", "/os-volume-transfer/detail")
    assert handler is transfers.list_detail
    assert args == ()


def test_project_less_v3_paths() -> None:
    assert routes.split_path("/v3/os-volume-transfer") == ("v3", None, "/os-volume-transfer")
    assert routes.split_path(f"/v3/volume-transfers/{TID}") == (
        "v3", None, f"/volume-transfers/{TID}"
    )


def test_views_follow_the_microversion() -> None:
    from datetime import datetime

    class Row:
        id = TID
        volume_id = "v"
        name = "n"
        no_snapshots = True
        source_project_id = "p"
        created_at = datetime(2026, 1, 2, 3, 4, 5)

    base = "http://h:8776"
    shown = transfers.detail(Row(), _ctx(ApiVersion(3, 0)), base)
    assert set(shown) == {"id", "created_at", "name", "volume_id", "links"}
    assert shown["links"] == [
        {"href": f"{base}/v3/p/os-volume-transfer/{TID}", "rel": "self"},
        {"href": f"{base}/p/os-volume-transfer/{TID}", "rel": "bookmark"},
    ]
    assert transfers.detail(Row(), _ctx(ApiVersion(3, 55)), base)["no_snapshots"] is True
    history = transfers.detail(Row(), _ctx(ApiVersion(3, 57)), base)
    assert (history["source_project_id"], history["destination_project_id"],
            history["accepted"]) == ("p", None, False)
    made = transfers.created(Row(), "k" * 16, _ctx(ApiVersion(2, 0), "v2"), base)
    assert made["auth_key"] == "k" * 16
    assert made["links"][0]["href"] == f"{base}/v2/p/os-volume-transfer/{TID}"
    assert set(transfers.summary(Row(), _ctx(ApiVersion(3, 0)), base)) == {
        "id", "volume_id", "name", "links",
    }


def test_auth_key_hashing() -> None:
    from cinderlite.domain import transfers as rules

    key, salt = rules.new_auth_key(), rules.new_salt()
    assert len(key) == 16
    assert int(key, 16) >= 0
    stored = rules.key_hash(salt, key)
    assert key not in stored
    assert salt not in stored
    assert rules.key_matches(salt, stored, key)
    assert not rules.key_matches(salt, stored, key.upper() if key != key.upper() else "x")
    assert not rules.key_matches(rules.new_salt(), stored, key)
    assert not rules.key_matches(salt, stored, "\ud800")  # a lone surrogate: refused
    assert rules.new_auth_key() != key
