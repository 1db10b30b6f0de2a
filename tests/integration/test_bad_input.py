"""Hostile input at the edge of the three APIs: 400 in each API's fault format,
nothing committed, and nobody else's listing broken by what one tenant sent.
Runs on SQLite and on PostgreSQL (which refuses NUL in text columns)."""

from __future__ import annotations

import math
import os

import httpx
import pytest

from tests.conftest import make_settings

pytestmark = pytest.mark.integration

SURROGATE_JSON = '"\\ud800"'
BAD_TEXT = "strings must be valid UTF-8 without NUL characters or unpaired surrogates"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def _json_errors(image_client: httpx.AsyncClient) -> None:
    image_client.headers["Accept"] = "application/json"


def cinder_400(resp: httpx.Response, text: str = BAD_TEXT) -> None:
    assert resp.status_code == 400, resp.text
    assert text in resp.json()["badRequest"]["message"]


def glance_400(resp: httpx.Response, text: str = BAD_TEXT) -> None:
    assert resp.status_code == 400, resp.text
    assert text in resp.json()["message"]


def keystone_400(resp: httpx.Response, text: str = BAD_TEXT) -> None:
    assert resp.status_code == 400, resp.text
    assert text in resp.json()["error"]["message"]


async def image_count(image_client: httpx.AsyncClient, who) -> int:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/images?visibility=all", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return len(resp.json()["images"])


async def volume_count(volume_client: httpx.AsyncClient, who) -> int:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{who.project_id}/volumes/detail?all_tenants=1",
                                   headers=who.headers)
    assert resp.status_code == 200, resp.text
    return len(resp.json()["volumes"])


async def test_lone_surrogates_are_refused_and_nothing_is_stored(
    image_client, volume_client, demo, admin,
) -> None:  # type: ignore[no-untyped-def]
    images_before = await image_count(image_client, admin)
    body = ('{"name": "img", "disk_format": "raw", "container_format": "bare", '
            f'"visibility": "community", "x_prop": {SURROGATE_JSON}}}')
    glance_400(await image_client.post("/v2/images", content=body,
                                       headers={**demo.headers, **JSON}))
    # Invalid UTF-8 on the wire is the same string: refused too.
    glance_400(await image_client.post(
        "/v2/images", content=b'{"name": "\xed\xa0\x80", "disk_format": "raw"}',
        headers={**demo.headers, **JSON}), "Malformed JSON")
    assert await image_count(image_client, admin) == images_before

    resp = await image_client.post("/v2/images", json={"name": "ok"}, headers=demo.headers)
    image_id = resp.json()["id"]
    patch = f'[{{"op": "add", "path": "/x_prop", "value": {SURROGATE_JSON}}}]'
    glance_400(await image_client.patch(f"/v2/images/{image_id}", content=patch,
                                        headers={**demo.headers, **PATCH}))
    shown = (await image_client.get(f"/v2/images/{image_id}", headers=demo.headers)).json()
    assert "x_prop" not in shown

    volumes_before = await volume_count(volume_client, admin)
    base = f"/v3/{demo.project_id}/volumes"
    bodies = [
        f'{{"volume": {{"size": 1, "metadata": {{"k": {SURROGATE_JSON}}}}}}}',
        f'{{"volume": {{"size": 1, "name": {SURROGATE_JSON}}}}}',
        f'{{"volume": {{"size": 1, "metadata": {{{SURROGATE_JSON}: "v"}}}}}}',
    ]
    for raw in bodies:
        cinder_400(await volume_client.post(base, content=raw, headers={**demo.headers, **JSON}))
    assert await volume_count(volume_client, admin) == volumes_before
    resp = await volume_client.post(base, json={"volume": {"size": 1, "name": "v"}},
                                    headers=demo.headers)
    volume_id = resp.json()["volume"]["id"]
    for path, raw in (
        (f"{base}/{volume_id}", f'{{"volume": {{"description": {SURROGATE_JSON}}}}}'),
        (f"{base}/{volume_id}/metadata", f'{{"metadata": {{"k": {SURROGATE_JSON}}}}}'),
    ):
        method = "PUT" if path.endswith(volume_id) else "POST"
        cinder_400(await volume_client.request(method, path, content=raw,
                                               headers={**demo.headers, **JSON}))
    # Everyone's listings still render.
    assert await image_count(image_client, admin) == images_before + 1
    assert await volume_count(volume_client, admin) == volumes_before + 1
    resp = await image_client.get("/v2/images?visibility=community", headers=demo.headers)
    assert resp.status_code == 200


async def test_nul_is_refused_in_bodies_paths_and_queries(
    image_client, volume_client, identity_client, demo,
) -> None:  # type: ignore[no-untyped-def]
    base = f"/v3/{demo.project_id}/volumes"
    cinder_400(await volume_client.post(base, json={"volume": {"size": 1, "name": "a\x00b"}},
                                        headers=demo.headers))
    cinder_400(await volume_client.post(
        base, json={"volume": {"size": 1, "description": "d\x00"}}, headers=demo.headers))
    cinder_400(await volume_client.get(f"{base}/detail?name=a%00b", headers=demo.headers))
    cinder_400(await volume_client.get(f"{base}/a%00b", headers=demo.headers))
    cinder_400(await volume_client.get(f"/v2/{demo.project_id}/volumes?name=%00",
                                       headers=demo.headers))
    glance_400(await image_client.post("/v2/images", json={"name": "a\x00b"},
                                       headers=demo.headers))
    glance_400(await image_client.get("/v2/images?name=a%00b", headers=demo.headers))
    glance_400(await image_client.get("/v2/images/a%00b", headers=demo.headers))
    keystone_400(await identity_client.get("/v3/projects?name=a%00", headers=demo.headers))
    # Not UTF-8 at all, percent-encoded in the URL.
    cinder_400(await volume_client.get(f"{base}/detail?name=%ff%fe", headers=demo.headers))
    glance_400(await image_client.get("/v2/images?name=%ed%a0%80", headers=demo.headers))
    # The upload action's image_name lands in an image row.
    resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=demo.headers)
    volume_id = resp.json()["volume"]["id"]
    cinder_400(await volume_client.post(
        f"{base}/{volume_id}/action", headers=demo.headers,
        json={"os-volume_upload_image": {"image_name": "x\x00y", "disk_format": "raw"}}))


@pytest.mark.parametrize("api", ["identity", "volume", "image"])
async def test_deeply_nested_json_is_a_400(
    api: str, identity_client, volume_client, image_client, demo,
) -> None:  # type: ignore[no-untyped-def]
    body = "[" * 30000  # under the 112 KiB body limit
    if api == "volume":
        resp = await volume_client.post(f"/v3/{demo.project_id}/volumes", content=body,
                                        headers={**demo.headers, **JSON})
        cinder_400(resp, "Malformed request body")
    elif api == "image":
        resp = await image_client.post("/v2/images", content=body,
                                       headers={**demo.headers, **JSON})
        glance_400(resp, "Malformed JSON in request body.")
    else:
        resp = await identity_client.post("/v3/auth/tokens", content=body, headers=JSON)
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == 400


@pytest.mark.parametrize(
    ("size", "message"),
    [
        (0, "0 is less than the minimum of 1"),  # the schema's minimum holds for integers
        ("0", "Volume size '0' must be an integer and greater than 0"),
        ("00", "Volume size '0' must be an integer and greater than 0"),
        (-1, "-1 is less than the minimum of 1"),
        ("2147483648", "is greater than the maximum of 2147483647"),
        (2147483648, "is greater than the maximum of 2147483647"),
        ("99999999999999999999999999999", "is greater than the maximum of 2147483647"),
        ("9" * 5000, "is greater than the maximum of 2147483647"),
        ("1.5", "does not match"),
        (1.5, "is not of type"),
        (True, "is not of type"),
    ],
)
async def test_sizes_follow_cinders_rules(volume_client, demo, size, message: str) -> None:  # type: ignore[no-untyped-def]
    base = f"/v3/{demo.project_id}/volumes"
    before = await volume_count(volume_client, demo)
    cinder_400(await volume_client.post(base, json={"volume": {"size": size}},
                                        headers=demo.headers), message)
    resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=demo.headers)
    volume_id = resp.json()["volume"]["id"]
    resp = await volume_client.post(f"{base}/{volume_id}/action", headers=demo.headers,
                                    json={"os-extend": {"new_size": size}})
    assert resp.status_code == 400, resp.text
    assert await volume_count(volume_client, demo) == before + 1


class TestCapacity:
    @pytest.fixture
    def settings(self, tmp_path, database_url):  # type: ignore[no-untyped-def]
        return make_settings(tmp_path, database_url, max_over_subscription_ratio=1.0)

    async def test_a_volume_the_backend_cannot_hold_is_refused_before_the_202(
        self, volume_client, demo, rt,
    ) -> None:  # type: ignore[no-untyped-def]
        st = os.statvfs(rt.settings.volumes_dir)
        too_big = math.ceil(st.f_blocks * st.f_frsize / (1 << 30)) + 1
        base = f"/v3/{demo.project_id}/volumes"
        before = await volume_count(volume_client, demo)
        resp = await volume_client.post(base, json={"volume": {"size": too_big}},
                                        headers=demo.headers)
        assert resp.status_code == 413, resp.text
        assert resp.json()["overLimit"]["message"].startswith("No valid backend was found.")
        assert await volume_count(volume_client, demo) == before
        resp = await volume_client.post(base, json={"volume": {"size": 1}}, headers=demo.headers)
        volume_id = resp.json()["volume"]["id"]
        resp = await volume_client.post(f"{base}/{volume_id}/action", headers=demo.headers,
                                        json={"os-extend": {"new_size": too_big + 1}})
        assert resp.status_code == 413, resp.text
        shown = await volume_client.get(f"{base}/{volume_id}", headers=demo.headers)
        assert shown.json()["volume"]["size"] == 1
        assert rt.volumes.path(volume_id).stat().st_size == 1 << 30


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("size_min=-1", 200, None),
        ("size_max=abc", 400, "Unable to filter on a range with a non-numeric value."),
        ("min_ram_min=x", 400, "Unable to filter on a range with a non-numeric value."),
        ("created_at=gte:bogus", 400, 'Bad "created_at" query filter format.'),
        ("created_at=gte:2020-01-01T00:00:00Z", 200, None),
        ("updated_at=lte:2020", 200, None),
        ("updated_at=xx:2020-01-01T00:00:00Z", 400, "Unable to filter on a unknown operator."),
        ("protected=abc", 400, "Invalid value 'abc' for 'protected' filter."),
        ("protected=true", 200, None),
        ("os_hidden=maybe", 400, "Invalid value 'maybe' for 'os_hidden' filter."),
        ("member_status=all", 200, None),
        ("member_status=bogus", 400, "Invalid status: bogus"),
        ("id=in:x,x," + ",".join("y" * 3 for _ in range(50)), 200, None),
        ('name=in:"a,b",c', 200, None),
        ('name=in:"a,b', 400, "The quote is not closed."),
        ("name=like:a", 400, "Unable to filter by unknown operator 'like'."),
        ("visibility=all", 200, None),
        ("visibility=everyone", 400, "Invalid visibility value: everyone"),
        ("changes-since=2020", 400, 'The "changes-since" filter is no longer available on v2.'),
        ("some_unknown_key=value", 200, None),
        ("limit=-1", 400, "limit param must be positive"),
        ("limit=x", 400, "limit param must be an integer"),
        ("sort=name:up", 400, "Invalid sort direction: up"),
        ("sort=bogus", 400, "Invalid sort key: bogus."),
        ("sort=name&sort_key=name", 400, "Old and new sorting syntax cannot be combined"),
    ],
)
async def test_image_list_filters_answer_as_glance(
    image_client, demo, query: str, status: int, message: str | None,
) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get(f"/v2/images?{query}", headers=demo.headers)
    assert resp.status_code == status, resp.text
    if message is not None:
        assert message in resp.json()["message"]


async def test_image_list_filters_select_what_glance_would(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    made = {}
    for name, props in (("alpha", {"os_distro": "cirros"}), ("beta", {"os_distro": "debian"}),
                        ("a,b", {})):
        resp = await image_client.post(
            "/v2/images", headers=demo.headers,
            json={"name": name, "disk_format": "raw", "container_format": "bare",
                  "min_ram": 512 if name == "beta" else 0, **props},
        )
        made[name] = resp.json()["id"]

    async def names(query: str) -> set[str]:
        resp = await image_client.get(f"/v2/images?{query}", headers=demo.headers)
        assert resp.status_code == 200, resp.text
        return {i["name"] for i in resp.json()["images"]}

    assert await names("os_distro=cirros") == {"alpha"}
    assert await names("min_ram_min=256") == {"beta"}
    assert await names("min_ram_max=256") == {"alpha", "a,b"}
    assert await names('name=in:alpha,"a,b"') == {"alpha", "a,b"}
    assert await names(f"id=in:{made['beta']}") == {"beta"}
    assert await names("created_at=lt:2000-01-01T00:00:00Z") == set()
    assert await names("created_at=gte:2000-01-01T00:00:00Z") == {"alpha", "beta", "a,b"}
