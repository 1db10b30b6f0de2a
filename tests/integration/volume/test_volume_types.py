"""Volume types as an admin API through the ASGI volume API: types, extra specs,
private types' access, encryption specs, retype; Cinder's bodies, statuses,
messages and policies."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


async def _create(client, who, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/types",
                             json={"volume_type": fields}, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["volume_type"]


async def test_type_lifecycle(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    made = await _create(volume_client, admin, name="vt-a", description="first",
                         extra_specs={"volume_backend_name": "files", "multiattach": "<is> True"})
    assert made["extra_specs"] == {"volume_backend_name": "files", "multiattach": "<is> True"}
    url = f"/v3/{admin.project_id}/types/{made['id']}"
    # A non-admin sees the user-visible specs only, and no qos_specs_id.
    shown = (await volume_client.get(f"/v3/{demo.project_id}/types/{made['id']}",
                                     headers=demo.headers)).json()["volume_type"]
    assert shown["extra_specs"] == {"multiattach": "<is> True"}
    resp = await volume_client.post(f"/v3/{admin.project_id}/types",
                                    json={"volume_type": {"name": "vt-a"}}, headers=admin.headers)
    assert resp.status_code == 409
    assert resp.json()["conflictingRequest"]["message"] == "Volume Type vt-a already exists."
    resp = await volume_client.post(f"/v3/{admin.project_id}/types",
                                    json={"volume_type": {"name": ""}}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await volume_client.post(f"/v3/{demo.project_id}/types",
                                    json={"volume_type": {"name": "x"}}, headers=demo.headers)
    assert resp.status_code == 403
    resp = await volume_client.put(url, json={"volume_type": {}}, headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Specify volume type name, description, is_public or a combination thereof."
    )
    resp = await volume_client.put(url, json={"volume_type": {"name": "vt-b"}},
                                   headers=admin.headers)
    assert resp.status_code == 200
    assert resp.json()["volume_type"]["name"] == "vt-b"
    # Extra specs.
    specs = f"{url}/extra_specs"
    resp = await volume_client.post(specs, json={"extra_specs": {"k1": "v1"}},
                                    headers=admin.headers)
    assert resp.status_code == 200, resp.text
    resp = await volume_client.put(f"{specs}/k1", json={"k2": "v"}, headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Request body and URI mismatch"
    resp = await volume_client.post(specs, json={"extra_specs": {"k": 1}},
                                    headers=admin.headers)
    assert resp.status_code == 400
    got = (await volume_client.get(f"{specs}/k1", headers=admin.headers)).json()
    assert got == {"k1": "v1"}
    assert (await volume_client.delete(f"{specs}/k1", headers=admin.headers)).status_code == 202
    resp = await volume_client.get(f"{specs}/k1", headers=admin.headers)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Volume Type {made['id']} has no extra specs with key k1."
    )
    # In use: 400 on delete and on spec changes.
    resp = await volume_client.post(f"/v3/{admin.project_id}/volumes",
                                    json={"volume": {"size": 1, "volume_type": "vt-b"}},
                                    headers=admin.headers)
    assert resp.status_code == 202, resp.text
    vol = resp.json()["volume"]
    assert vol["volume_type"] == "vt-b"
    resp = await volume_client.delete(url, headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Target volume type is still in use."
    resp = await volume_client.post(specs, json={"extra_specs": {"k1": "v1"}},
                                    headers=admin.headers)
    assert resp.json()["badRequest"]["message"] == "Volume Type is currently in use."


async def test_private_type_access(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    made = await _create(volume_client, admin, name="vt-private",
                         **{"os-volume-type-access:is_public": False})
    assert made["is_public"] is False
    new = {"volume": {"size": 1, "volume_type": made["id"]}}
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes", json=new,
                                    headers=demo.headers)
    assert resp.status_code == 404
    listed = (await volume_client.get(f"/v3/{demo.project_id}/types",
                                      headers=demo.headers)).json()["volume_types"]
    assert made["id"] not in [t["id"] for t in listed]
    action = f"/v3/{admin.project_id}/types/{made['id']}/action"
    body = {"addProjectAccess": {"project": demo.project_id}}
    assert (await volume_client.post(action, json=body, headers=admin.headers)).status_code == 202
    resp = await volume_client.post(action, json=body, headers=admin.headers)
    assert resp.status_code == 409
    access = (await volume_client.get(
        f"/v3/{admin.project_id}/types/{made['id']}/os-volume-type-access",
        headers=admin.headers)).json()
    assert access == {"volume_type_access": [
        {"volume_type_id": made["id"], "project_id": demo.project_id}]}
    listed = (await volume_client.get(f"/v3/{demo.project_id}/types",
                                      headers=demo.headers)).json()["volume_types"]
    assert made["id"] in [t["id"] for t in listed]
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes", json=new,
                                    headers=demo.headers)
    assert resp.status_code == 202, resp.text
    body = {"removeProjectAccess": {"project": demo.project_id}}
    assert (await volume_client.post(action, json=body, headers=admin.headers)).status_code == 202
    resp = await volume_client.get(f"/v3/{demo.project_id}/types/{made['id']}",
                                   headers=demo.headers)
    assert resp.status_code == 404


async def test_encryption_metadata(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    made = await _create(volume_client, admin, name="vt-enc")
    url = f"/v3/{admin.project_id}/types/{made['id']}/encryption"
    assert (await volume_client.get(url, headers=admin.headers)).json() == {}
    body = {"encryption": {"provider": "luks", "control_location": "front-end",
                           "key_size": "256", "cipher": "aes-xts-plain64"}}
    resp = await volume_client.post(url, json=body, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["encryption"]["key_size"] == 256
    assert resp.json()["encryption"]["volume_type_id"] == made["id"]
    resp = await volume_client.post(url, json=body, headers=admin.headers)
    assert resp.status_code == 400
    got = (await volume_client.get(f"{url}/provider", headers=admin.headers)).json()
    assert got == {"provider": "luks"}
    resp = await volume_client.put(f"{url}/provider",
                                   json={"encryption": {"control_location": "back-end"}},
                                   headers=admin.headers)
    assert resp.status_code == 200, resp.text
    shown = (await volume_client.get(url, headers=admin.headers)).json()
    assert shown["control_location"] == "back-end"
    assert shown["provider"] == "luks"
    assert (await volume_client.delete(f"{url}/provider",
                                       headers=admin.headers)).status_code == 202
    assert (await volume_client.get(url, headers=admin.headers)).json() == {}


async def test_retype(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    a = await _create(volume_client, admin, name="vt-r1")
    b = await _create(volume_client, admin, name="vt-r2")
    resp = await volume_client.post(f"/v3/{admin.project_id}/volumes",
                                    json={"volume": {"size": 1, "volume_type": a["id"]}},
                                    headers=admin.headers)
    vol = resp.json()["volume"]
    vurl = f"/v3/{admin.project_id}/volumes/{vol['id']}"
    for _ in range(100):
        status = (await volume_client.get(vurl, headers=admin.headers)).json()["volume"]["status"]
        if status == "available":
            break
        import asyncio

        await asyncio.sleep(0.05)
    act = f"{vurl}/action"
    resp = await volume_client.post(act, json={"os-retype": {"new_type": "nope"}},
                                    headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid input received: Invalid volume_type passed: nope."
    )
    resp = await volume_client.post(act, json={"os-retype": {"new_type": a["id"]}},
                                    headers=admin.headers)
    assert resp.status_code == 400
    resp = await volume_client.post(
        act, json={"os-retype": {"new_type": "vt-r2", "migration_policy": "never"}},
        headers=admin.headers)
    assert resp.status_code == 202, resp.text
    shown = (await volume_client.get(vurl, headers=admin.headers)).json()["volume"]
    assert shown["volume_type"] == "vt-r2"
    assert shown["status"] == "available"
    del b


async def test_default_types_need_362(volume_client, admin, demo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    url = f"/v3/{admin.project_id}/default-types/{demo.project_id}"
    body = {"default_type": {"volume_type": "vt-dflt"}}
    below = {**admin.headers, "OpenStack-API-Version": "volume 3.61"}
    resp = await volume_client.put(url, json=body, headers=below)
    assert resp.status_code == 404
    h = {**admin.headers, "OpenStack-API-Version": "volume 3.62"}
    made = await _create(volume_client, admin, name="vt-dflt")
    resp = await volume_client.put(url, json={"default_type": {"volume_type": "nope"}},
                                   headers=h)
    assert resp.status_code == 400
    resp = await volume_client.put(url, json=body, headers=h)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"default_type": {"project_id": demo.project_id,
                                            "volume_type_id": made["id"]}}
    listed = (await volume_client.get(f"/v3/{admin.project_id}/default-types",
                                      headers=h)).json()
    assert listed == {"default_types": [resp.json()["default_type"]]}
    demo_h = {**demo.headers, "OpenStack-API-Version": "volume 3.62"}
    resp = await volume_client.get(url.replace(admin.project_id, demo.project_id, 1),
                                   headers=demo_h)
    assert resp.status_code == 403
    # A volume made without a type gets the project's default type.
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1}}, headers=demo.headers)
    assert resp.json()["volume"]["volume_type"] == "vt-dflt"
    shown = (await volume_client.get(f"/v3/{demo.project_id}/types/default",
                                     headers=demo.headers)).json()["volume_type"]
    assert shown["id"] == made["id"]
    resp = await volume_client.delete(f"/v3/{admin.project_id}/types/{made['id']}",
                                      headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        f"The volume type {made['id']} is a default volume type and cannot be deleted."
    )
    assert (await volume_client.delete(url, headers=h)).status_code == 204
    resp = await volume_client.get(url, headers=h)
    assert resp.status_code == 404
    assert resp.json()["itemNotFound"]["message"] == (
        f"Default type for project {demo.project_id} not found."
    )


async def test_retype_takes_the_new_types_quota(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.volume.test_volumes import wait_status

    await _create(volume_client, admin, name="vt-q1")
    await _create(volume_client, admin, name="vt-q2")
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 2, "volume_type": "vt-q1"}},
                                    headers=demo.headers)
    assert resp.status_code == 202, resp.text
    vol = await wait_status(volume_client, demo, resp.json()["volume"]["id"], "available")
    quota = f"/v3/{admin.project_id}/os-quota-sets/{demo.project_id}"
    resp = await volume_client.put(quota, json={"quota_set": {"gigabytes_vt-q2": 1}},
                                   headers=admin.headers)
    assert resp.status_code == 200, resp.text
    act = f"/v3/{demo.project_id}/volumes/{vol['id']}/action"
    resp = await volume_client.post(act, json={"os-retype": {"new_type": "vt-q2"}},
                                    headers=demo.headers)
    assert resp.status_code == 413, resp.text
    assert (await wait_status(volume_client, demo, vol["id"], "available"))["volume_type"] == (
        "vt-q1")
    resp = await volume_client.put(quota, json={"quota_set": {"gigabytes_vt-q2": 2}},
                                   headers=admin.headers)
    assert resp.status_code == 200, resp.text
    resp = await volume_client.post(act, json={"os-retype": {"new_type": "vt-q2"}},
                                    headers=demo.headers)
    assert resp.status_code == 202, resp.text
    shown = await wait_status(volume_client, demo, vol["id"], "available")
    assert shown["volume_type"] == "vt-q2"
    usage = (await volume_client.get(f"{quota}?usage=true", headers=admin.headers)).json()
    assert usage["quota_set"]["gigabytes_vt-q2"]["in_use"] == 2
    assert usage["quota_set"]["gigabytes_vt-q1"]["in_use"] == 0


async def test_type_zones_and_the_3_52_extra_specs_filter(  # type: ignore[no-untyped-def]
    volume_client, admin, demo, monkeypatch
) -> None:
    from cinderlite.api.volume import versions
    from cinderlite.api.volume.context import ApiVersion

    if ApiVersion(3, 52) > versions.MAX:
        monkeypatch.setattr(versions, "MAX", ApiVersion(3, 52))
    await _create(volume_client, admin, name="vt-here",
                  extra_specs={"RESKEY:availability_zones": "nova", "secret": "s"})
    await _create(volume_client, admin, name="vt-away",
                  extra_specs={"RESKEY:availability_zones": "elsewhere,faraway"})
    vols = f"/v3/{demo.project_id}/volumes"
    resp = await volume_client.post(vols, headers=demo.headers,
                                    json={"volume": {"size": 1, "volume_type": "vt-away"}})
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Volume type is only supported in these availability zones: ['elsewhere', 'faraway']")
    resp = await volume_client.post(vols, headers=demo.headers,
                                    json={"volume": {"size": 1, "volume_type": "vt-here"}})
    assert resp.status_code == 202, resp.text
    assert resp.json()["volume"]["availability_zone"] == "nova"

    def listed(resp) -> set[str]:  # type: ignore[no-untyped-def]
        assert resp.status_code == 200, resp.text
        return {t["name"] for t in resp.json()["volume_types"]}

    query = "extra_specs={'RESKEY:availability_zones':'nova'}"
    h352 = {**demo.headers, "OpenStack-API-Version": "volume 3.52"}
    h351 = {**demo.headers, "OpenStack-API-Version": "volume 3.51"}
    types = f"/v3/{demo.project_id}/types"
    assert listed(await volume_client.get(f"{types}?{query}", headers=h352)) == {"vt-here"}
    # Below 3.52 a member's extra_specs filter is dropped: every public type.
    assert {"vt-here", "vt-away"} <= listed(
        await volume_client.get(f"{types}?{query}", headers=h351))
    # A key the member cannot see filters everything out.
    assert listed(await volume_client.get(f"{types}?extra_specs={{'secret':'s'}}",
                                          headers=h352)) == set()
