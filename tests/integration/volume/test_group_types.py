"""Group types (3.11) and group specs through the ASGI volume API: bodies,
statuses, Cinder's messages and policies."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

V = {"OpenStack-API-Version": "volume 3.11"}


def _h(who, version: str = "3.11") -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**who.headers, "OpenStack-API-Version": f"volume {version}"}


async def _create(client, who, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/group_types",
                             json={"group_type": fields}, headers=_h(who))
    assert resp.status_code == 202, resp.text
    return resp.json()["group_type"]


async def test_group_type_lifecycle(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    made = await _create(volume_client, admin, name="gt-a", description="first",
                         group_specs={"consistent_group_snapshot_enabled": "<is> False"},
                         is_public=True)
    assert set(made) == {"id", "name", "description", "is_public", "group_specs"}
    assert made["group_specs"] == {"consistent_group_snapshot_enabled": "<is> False"}
    url = f"/v3/{admin.project_id}/group_types/{made['id']}"
    resp = await volume_client.put(url, json={"group_type": {"name": "gt-b",
                                                            "description": "second"}},
                                   headers=_h(admin))
    assert resp.status_code == 200, resp.text
    assert resp.json()["group_type"]["name"] == "gt-b"
    shown = (await volume_client.get(url, headers=_h(admin))).json()["group_type"]
    assert shown["description"] == "second"
    assert shown["is_public"] is True
    # The same name again: Cinder's 409.
    resp = await volume_client.post(f"/v3/{admin.project_id}/group_types",
                                    json={"group_type": {"name": "gt-b"}}, headers=_h(admin))
    assert resp.status_code == 409
    assert resp.json()["conflictingRequest"]["message"] == "Group Type gt-b already exists."
    resp = await volume_client.put(url, json={"group_type": {}}, headers=_h(admin))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Specify group type name, description or a combination thereof."
    )
    assert (await volume_client.delete(url, headers=_h(admin))).status_code == 202
    resp = await volume_client.get(url, headers=_h(admin))
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Group type {made['id']} could not be found."
    )


async def test_group_types_need_311_and_admin(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{admin.project_id}/group_types",
                                   headers=_h(admin, "3.10"))
    assert resp.status_code == 404
    resp = await volume_client.post(f"/v3/{demo.project_id}/group_types",
                                    json={"group_type": {"name": "x"}}, headers=_h(demo))
    assert resp.status_code == 403
    public = await _create(volume_client, admin, name="pub")
    private = await _create(volume_client, admin, name="priv", is_public=False)
    # Members see public types only, without their specs.
    resp = await volume_client.get(f"/v3/{demo.project_id}/group_types", headers=_h(demo))
    listed = resp.json()["group_types"]
    assert [t["id"] for t in listed] == [public["id"]]
    assert "group_specs" not in listed[0]
    resp = await volume_client.get(f"/v3/{demo.project_id}/group_types/{private['id']}",
                                   headers=_h(demo))
    assert resp.status_code == 404


async def test_list_by_is_public_and_sort(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    a = await _create(volume_client, admin, name="a_type", is_public=True)
    b = await _create(volume_client, admin, name="b_type", is_public=False)
    base = f"/v3/{admin.project_id}/group_types"

    async def names(query: str) -> list[str]:
        resp = await volume_client.get(f"{base}?{query}", headers=_h(admin))
        assert resp.status_code == 200, resp.text
        return [t["name"] for t in resp.json()["group_types"]]

    assert await names("sort=name:asc&is_public=None") == ["a_type", "b_type"]
    assert await names("sort=name:desc&is_public=None") == ["b_type", "a_type"]
    assert await names("is_public=False") == ["b_type"]
    assert await names("is_public=True") == ["a_type"]
    assert await names("") == ["a_type"]
    resp = await volume_client.get(f"{base}?is_public=maybe", headers=_h(admin))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Invalid is_public filter [maybe]"
    assert {a["id"], b["id"]}


async def test_default_group_type(volume_client, admin, rt) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.get(f"/v3/{admin.project_id}/group_types/default",
                                   headers=_h(admin))
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == "Default group type can not be found."


@pytest.mark.settings(default_group_type="gdefault")
async def test_configured_default_group_type(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    made = await _create(volume_client, admin, name="gdefault")
    resp = await volume_client.get(f"/v3/{admin.project_id}/group_types/default",
                                   headers=_h(admin))
    assert resp.status_code == 200
    assert resp.json()["group_type"]["id"] == made["id"]


async def test_group_specs_crud(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    made = await _create(volume_client, admin, name="specs")
    url = f"/v3/{admin.project_id}/group_types/{made['id']}/group_specs"
    resp = await volume_client.post(url, json={"group_specs": {"k1": "v1", "k2": "v2"}},
                                    headers=_h(admin))
    assert resp.status_code == 202
    assert resp.json() == {"group_specs": {"k1": "v1", "k2": "v2"}}
    resp = await volume_client.get(url, headers=_h(admin))
    assert resp.json() == {"group_specs": {"k1": "v1", "k2": "v2"}}
    resp = await volume_client.put(f"{url}/k1", json={"k1": "new"}, headers=_h(admin))
    assert resp.status_code == 200
    assert resp.json() == {"k1": "new"}
    resp = await volume_client.put(f"{url}/k1", json={"k2": "x"}, headers=_h(admin))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Request body and URI mismatch"
    resp = await volume_client.get(f"{url}/k1", headers=_h(admin))
    assert resp.json() == {"k1": "new"}
    resp = await volume_client.get(f"{url}/nope", headers=_h(admin))
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Group Type {made['id']} has no extra spec with key nope."
    )
    assert (await volume_client.delete(f"{url}/k2", headers=_h(admin))).status_code == 202
    resp = await volume_client.delete(f"{url}/k2", headers=_h(admin))
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Group Type {made['id']} has no specs with key k2."
    )
    assert (await volume_client.get(url, headers=_h(admin))).json() == {
        "group_specs": {"k1": "new"}}
    resp = await volume_client.get(url.replace(admin.project_id, demo.project_id),
                                   headers=_h(demo))
    assert resp.status_code == 403
    resp = await volume_client.post(url, json={"group_specs": {"bad key!": "v"}},
                                    headers=_h(admin))
    assert resp.status_code == 400
