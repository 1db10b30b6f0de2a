"""The microversions above 3.44 built on the volume API (3.45 to 3.71), each at
its version and not below it. The served maximum is raised in each test
(`versions.MAX`), as the lead raises it once every version is served."""

from __future__ import annotations

import hashlib
import json

import pytest

from cinderlite.api.volume import versions
from cinderlite.api.volume.context import ApiVersion
from cinderlite.db.models import Volume
from tests.conftest import wait_for
from tests.integration.volume.test_fill import add_image, needs_qemu, pattern, qemu_img
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration

MiB = 1 << 20
GiB = 1 << 30
BASE_KEYS = {
    "id", "status", "size", "availability_zone", "created_at", "updated_at", "attachments",
    "name", "description", "volume_type", "snapshot_id", "source_volid", "metadata", "links",
    "user_id", "bootable", "encrypted", "replication_status", "consistencygroup_id",
    "multiattach", "group_id",
}
SHOW_KEYS = BASE_KEYS | {"os-vol-tenant-attr:tenant_id"}
ADMIN_KEYS = {"os-vol-host-attr:host", "os-vol-mig-status-attr:migstat",
              "os-vol-mig-status-attr:name_id", "provider_id"}


@pytest.fixture(autouse=True)
def _max_3_71(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "MAX", ApiVersion(3, 71))


def _h(who, version: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**who.headers, "OpenStack-API-Version": f"volume {version}"}


def _message(resp) -> str:  # type: ignore[no-untyped-def]
    return str(next(iter(resp.json().values()))["message"])


async def _get(client, who, path: str, version: str):  # type: ignore[no-untyped-def]
    return await client.get(f"/v3/{who.project_id}{path}", headers=_h(who, version))


async def _action(client, who, volume_id: str, body: dict, version: str):  # type: ignore[no-untyped-def]
    return await client.post(f"/v3/{who.project_id}/volumes/{volume_id}/action", json=body,
                             headers=_h(who, version))


async def _snapshot(client, who, volume_id: str, version: str = "3.0", **extra) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/snapshots", headers=_h(who, version),
                             json={"snapshot": {"volume_id": volume_id, **extra}})
    assert resp.status_code == 202, resp.text
    snap = resp.json()["snapshot"]

    async def ready():  # type: ignore[no-untyped-def]
        r = await _get(client, who, f"/snapshots/{snap['id']}", "3.0")
        return r.json()["snapshot"]["status"] == "available"

    await wait_for(ready)
    return dict(snap)


# --- volume and snapshot views (3.48, 3.61, 3.63, 3.64, 3.65, 3.69) -------------------


async def test_volume_view_keys_follow_the_microversion(volume_client, demo, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    expected = {
        "3.44": set(),
        "3.47": set(),
        "3.48": {"shared_targets", "service_uuid"},
        "3.60": {"shared_targets", "service_uuid"},
        "3.62": {"shared_targets", "service_uuid"},
        "3.63": {"shared_targets", "service_uuid", "volume_type_id"},
        "3.64": {"shared_targets", "service_uuid", "volume_type_id"},
        "3.65": {"shared_targets", "service_uuid", "volume_type_id", "consumes_quota"},
        "3.71": {"shared_targets", "service_uuid", "volume_type_id", "consumes_quota"},
    }
    for version, added in expected.items():
        shown = (await _get(volume_client, demo, f"/volumes/{vol['id']}", version)).json()
        assert set(shown["volume"]) == SHOW_KEYS | added, version
        listed = (await _get(volume_client, demo, "/volumes/detail", version)).json()
        assert set(listed["volumes"][0]) == SHOW_KEYS | added, version
    body = (await _get(volume_client, demo, f"/volumes/{vol['id']}", "3.71")).json()["volume"]
    # No target is shared here: false, never null (3.69 allows null; it does not occur).
    assert body["shared_targets"] is False
    assert body["consumes_quota"] is True
    types = (await _get(volume_client, demo, "/types", "3.0")).json()["volume_types"]
    assert body["volume_type_id"] == next(
        t["id"] for t in types if t["name"] == body["volume_type"]
    )
    # The service id is one stable uuid for every volume.
    other = await create(volume_client, demo)
    again = (await _get(volume_client, demo, f"/volumes/{other['id']}", "3.48")).json()
    assert again["volume"]["service_uuid"] == body["service_uuid"]
    # 3.61: cluster_name for admins only (null: no clustered service here).
    as_admin = (await volume_client.get(
        f"/v3/{admin.project_id}/volumes/{vol['id']}", headers=_h(admin, "3.61"),
    )).json()["volume"]
    assert as_admin["cluster_name"] is None
    assert set(as_admin) >= ADMIN_KEYS
    below = (await volume_client.get(
        f"/v3/{admin.project_id}/volumes/{vol['id']}", headers=_h(admin, "3.60"),
    )).json()["volume"]
    assert "cluster_name" not in below
    # The create and update bodies carry them too (Cinder's detail view).
    made = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1}}, headers=_h(demo, "3.65"))
    assert set(made.json()["volume"]) == BASE_KEYS | expected["3.65"]
    changed = await volume_client.put(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                      json={"volume": {"name": "n"}}, headers=_h(demo, "3.63"))
    assert "volume_type_id" in changed.json()["volume"]
    # /v2 never has them.
    v2 = await volume_client.get(f"/v2/{demo.project_id}/volumes/{vol['id']}",
                                 headers=demo.headers)
    assert "shared_targets" not in v2.json()["volume"]


async def test_snapshot_consumes_quota_from_3_65(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    snap = await _snapshot(volume_client, demo, vol["id"], "3.65")
    assert snap["consumes_quota"] is True
    assert "consumes_quota" not in (
        await _get(volume_client, demo, f"/snapshots/{snap['id']}", "3.64")
    ).json()["snapshot"]
    assert (await _get(volume_client, demo, f"/snapshots/{snap['id']}", "3.65")
            ).json()["snapshot"]["consumes_quota"] is True


# --- 3.45 with_count, 3.65 consumes_quota filter -----------------------------------------


async def test_with_count_on_volume_and_snapshot_lists(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vols = [await create(volume_client, demo, name=f"c{i}") for i in range(3)]
    for v in vols:
        await wait_status(volume_client, demo, v["id"], "available")
    await _snapshot(volume_client, demo, vols[0]["id"])
    await _snapshot(volume_client, demo, vols[1]["id"])
    for path in ("/volumes", "/volumes/detail"):
        page = (await _get(volume_client, demo, f"{path}?with_count=true&limit=1", "3.45")).json()
        assert len(page["volumes"]) == 1
        assert page["count"] == 3
        filtered = (await _get(volume_client, demo, f"{path}?with_count=1&name=c2",
                               "3.45")).json()
        assert filtered["count"] == 1
        off = (await _get(volume_client, demo, f"{path}?with_count=false", "3.45")).json()
        assert "count" not in off
    for path in ("/snapshots", "/snapshots/detail"):
        page = (await _get(volume_client, demo, f"{path}?with_count=true&limit=1",
                           "3.45")).json()
        assert (len(page["snapshots"]), page["count"]) == (1, 2)
    # Below 3.45 it is a filter a member may not use (3.31's check).
    old = await _get(volume_client, demo, "/volumes?with_count=true", "3.44")
    assert old.status_code == 400
    assert _message(old) == "Invalid filters with_count are found in query options."
    bad = await _get(volume_client, demo, "/volumes?with_count=maybe", "3.45")
    assert bad.status_code == 400
    assert _message(bad) == "Value 'maybe' for 'with_count' is not a boolean."


async def test_consumes_quota_filter_from_3_65(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    await _snapshot(volume_client, demo, vol["id"])
    for coll in ("volumes", "snapshots"):
        yes = (await _get(volume_client, demo, f"/{coll}?consumes_quota=true", "3.65")).json()
        assert len(yes[coll]) == 1
        no = (await _get(volume_client, demo, f"/{coll}/detail?consumes_quota=false",
                         "3.65")).json()
        assert no[coll] == []
        # Below 3.65 Cinder drops the filter.
        old = (await _get(volume_client, demo, f"/{coll}?consumes_quota=false", "3.64")).json()
        assert len(old[coll]) == 1
        bad = await _get(volume_client, demo, f"/{coll}?consumes_quota=x", "3.65")
        assert bad.status_code == 400
        assert _message(bad) == "Value 'x' for 'use_quota' is not a boolean."


# --- 3.53 update schema, 3.66 snapshots of in-use volumes --------------------------------


async def test_update_needs_a_field_from_3_53(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    url = f"/v3/{demo.project_id}/volumes/{vol['id']}"
    ok = await volume_client.put(url, json={"volume": {}}, headers=_h(demo, "3.52"))
    assert ok.status_code == 200, ok.text
    refused = await volume_client.put(url, json={"volume": {}}, headers=_h(demo, "3.53"))
    assert refused.status_code == 400
    assert _message(refused) == (
        "Invalid input for field/attribute volume. Value: {}. {} is not valid under any of "
        "the given schemas"
    )
    named = await volume_client.put(url, json={"volume": {"description": "d"}},
                                    headers=_h(demo, "3.53"))
    assert named.status_code == 200


async def _in_use(client, who) -> dict:  # type: ignore[no-untyped-def]
    vol = await create(client, who)
    await wait_status(client, who, vol["id"], "available")
    resp = await _action(client, who, vol["id"], {"os-attach": {
        "instance_uuid": "5b1e0f3c-0000-4000-8000-000000000066", "mountpoint": "/dev/vdb"}},
        "3.0")
    assert resp.status_code == 202, resp.text
    return dict(vol)


async def test_in_use_snapshot_without_force_from_3_66(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await _in_use(volume_client, demo)
    url = f"/v3/{demo.project_id}/snapshots"
    old = await volume_client.post(url, json={"snapshot": {"volume_id": vol["id"]}},
                                   headers=_h(demo, "3.65"))
    assert old.status_code == 400
    assert "status must be available" in _message(old)
    false = await volume_client.post(
        url, json={"snapshot": {"volume_id": vol["id"], "force": False}}, headers=_h(demo, "3.66"),
    )
    assert false.status_code == 400
    assert _message(false) == (
        "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward "
        "compatability, however, when the 'force' flag is passed with a value evaluating to "
        "True, it is silently ignored."
    )
    # The volume is looked up first: an unknown one is its 404 whatever `force` says.
    missing = await volume_client.post(
        url, json={"snapshot": {"volume_id": "5b1e0f3c-0000-4000-8000-0000000000ff",
                                "force": "false"}}, headers=_h(demo, "3.66"),
    )
    assert missing.status_code == 404
    await _snapshot(volume_client, demo, vol["id"], "3.66")
    await _snapshot(volume_client, demo, vol["id"], "3.66", force=True)


# --- 3.68 os-reimage ------------------------------------------------------------------------


async def _sha(rt, volume_id: str) -> str:  # type: ignore[no-untyped-def]
    return hashlib.sha256(rt.volumes.path(volume_id).read_bytes()).hexdigest()


async def test_reimage_rewrites_the_volume_from_a_raw_image(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo, name="target")
    await wait_status(volume_client, demo, vol["id"], "available")
    with rt.volumes.path(vol["id"]).open("r+b") as f:
        f.write(b"\xff" * (16 * MiB))
    data = pattern(8 * MiB)
    image_id = await add_image(rt, owner=demo.project_id, data=data,
                               properties={"os_distro": "cirros"})
    body = {"os-reimage": {"image_id": image_id}}
    below = await _action(volume_client, demo, vol["id"], body, "3.67")
    assert below.status_code == 404
    assert _message(below) == "The resource could not be found."
    resp = await _action(volume_client, demo, vol["id"], body, "3.68")
    assert resp.status_code == 202, resp.text
    done = await wait_status(volume_client, demo, vol["id"], "available")
    assert done["bootable"] == "true"
    assert done["volume_image_metadata"]["image_id"] == image_id
    assert done["volume_image_metadata"]["os_distro"] == "cirros"
    written = rt.volumes.path(vol["id"]).read_bytes()
    assert len(written) == GiB
    assert written[:len(data)] == data
    # The old bytes are gone, past the image's end too.
    assert written[len(data):16 * MiB].count(0) == 16 * MiB - len(data)



@needs_qemu
async def test_reimage_converts_qcow2_and_refuses_a_lying_image(volume_client, demo, rt,  # type: ignore[no-untyped-def]
                                                                tmp_path) -> None:
    raw = tmp_path / "src.raw"
    raw.write_bytes(pattern(4 * MiB))
    qcow = tmp_path / "src.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow))
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    good = await add_image(rt, owner=demo.project_id, data=qcow.read_bytes(),
                           disk_format="qcow2", virtual_size=4 * MiB)
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-reimage": {"image_id": good}}, "3.68")
    assert resp.status_code == 202, resp.text
    await wait_status(volume_client, demo, vol["id"], "available")
    assert rt.volumes.path(vol["id"]).read_bytes()[:4 * MiB] == raw.read_bytes()
    # A qcow2 declared raw: the inspection refuses it, the volume is error with a message.
    liar = await add_image(rt, owner=demo.project_id, data=qcow.read_bytes(), disk_format="raw")
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-reimage": {"image_id": liar}}, "3.68")
    assert resp.status_code == 202, resp.text
    await wait_status(volume_client, demo, vol["id"], "error")

    async def message():  # type: ignore[no-untyped-def]
        r = await _get(volume_client, demo, "/messages", "3.3")
        return [m for m in r.json()["messages"] if m["resource_uuid"] == vol["id"]]

    (msg,) = await wait_for(message)
    assert msg["user_message"].startswith("reimage volume:")
    # An errored volume may be re-imaged again (Cinder: available or error).
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-reimage": {"image_id": good}}, "3.68")
    assert resp.status_code == 202, resp.text
    await wait_status(volume_client, demo, vol["id"], "error")  # back to its previous status


async def test_reimage_refusals(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    image_id = await add_image(rt, owner=demo.project_id, data=pattern(2 * MiB))
    missing = "5b1e0f3c-0000-4000-8000-0000000000aa"
    resp = await _action(volume_client, demo, vol["id"], {"os-reimage": {"image_id": missing}},
                         "3.68")
    assert (resp.status_code, _message(resp)) == (404, f"Image {missing} could not be found.")
    resp = await _action(volume_client, demo, vol["id"], {"os-reimage": {"image_id": "x"}},
                         "3.68")
    assert resp.status_code == 400
    assert _message(resp) == (
        "Invalid input for field/attribute image_id. Value: x. 'x' is not a 'uuid'"
    )
    # Too big for the volume: refused, the status is unchanged.
    big = await add_image(rt, owner=demo.project_id, data=None, virtual_size=2 * GiB)
    async with rt.transaction() as db:
        from cinderlite.db.models import Image

        row = await db.get(Image, big)
        row.size = 2 * GiB
    resp = await _action(volume_client, demo, vol["id"], {"os-reimage": {"image_id": big}},
                         "3.68")
    assert resp.status_code == 400
    assert _message(resp) == (
        "Invalid input received: Size of specified image 2GB is larger than volume size 1GB."
    )
    assert (await wait_status(volume_client, demo, vol["id"], "available"))
    # In use: not without reimage_reserved's statuses.
    used = await _in_use(volume_client, demo)
    resp = await _action(volume_client, demo, used["id"],
                         {"os-reimage": {"image_id": image_id}}, "3.68")
    assert resp.status_code == 400
    assert _message(resp) == (
        f"Invalid volume: Volume {used['id']} status must be available or error, but current "
        "status is in-use."
    )
    resp = await _action(volume_client, demo, used["id"],
                         {"os-reimage": {"image_id": image_id, "reimage_reserved": True}}, "3.68")
    assert resp.status_code == 400
    assert "available or error or reserved" in _message(resp)
    # Reserved (Nova's rebuild holds it so): with reimage_reserved, back to reserved.
    reserved = await create(volume_client, demo)
    await wait_status(volume_client, demo, reserved["id"], "available")
    made = await volume_client.post(
        f"/v3/{demo.project_id}/attachments", headers=_h(demo, "3.27"),
        json={"attachment": {"volume_uuid": reserved["id"],
                             "instance_uuid": "5b1e0f3c-0000-4000-8000-000000000068"}},
    )
    assert made.status_code == 200, made.text
    await wait_status(volume_client, demo, reserved["id"], "reserved")
    resp = await _action(volume_client, demo, reserved["id"],
                         {"os-reimage": {"image_id": image_id}}, "3.68")
    assert resp.status_code == 400
    resp = await _action(volume_client, demo, reserved["id"],
                         {"os-reimage": {"image_id": image_id, "reimage_reserved": "true"}},
                         "3.68")
    assert resp.status_code == 202, resp.text

    async def back():  # type: ignore[no-untyped-def]
        r = await _get(volume_client, demo, f"/volumes/{reserved['id']}", "3.68")
        body = r.json()["volume"]
        return body if body["status"] == "reserved" and body["bootable"] == "true" else None

    await wait_for(back)


# --- 3.46 Nova's images of volume-backed instances ------------------------------------------


async def test_volume_from_a_nova_image_uses_its_boot_snapshot(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    source = await create(volume_client, demo, size=2)
    await wait_status(volume_client, demo, source["id"], "available")
    with rt.volumes.path(source["id"]).open("r+b") as f:  # the sparse file keeps its size
        f.write(pattern(4 * MiB))
    snap = await _snapshot(volume_client, demo, source["id"])
    bdm = [{"source_type": "snapshot", "boot_index": 0, "snapshot_id": snap["id"],
            "volume_size": 2, "destination_type": "volume"}]
    image_id = await add_image(rt, owner=demo.project_id, data=b"",
                               properties={"block_device_mapping": json.dumps(bdm),
                                           "bdm_v2": "True", "root_device_name": "/dev/vda"})
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes", headers=_h(demo, "3.46"),
        json={"volume": {"imageRef": image_id, "name": "from-nova-image"}},
    )
    assert resp.status_code == 202, resp.text
    made = resp.json()["volume"]
    assert made["snapshot_id"] == snap["id"]
    assert made["size"] == 2
    await wait_status(volume_client, demo, made["id"], "available")
    assert (await _sha(rt, made["id"])) == (await _sha(rt, source["id"]))
    # os-reimage with that image writes the snapshot's bytes over a volume (3.68).
    target = await create(volume_client, demo, size=2)
    await wait_status(volume_client, demo, target["id"], "available")
    resp = await _action(volume_client, demo, target["id"],
                         {"os-reimage": {"image_id": image_id}}, "3.68")
    assert resp.status_code == 202, resp.text
    await wait_status(volume_client, demo, target["id"], "available")
    assert (await _sha(rt, target["id"])) == (await _sha(rt, source["id"]))
    small = await create(volume_client, demo, size=1)
    await wait_status(volume_client, demo, small["id"], "available")
    resp = await _action(volume_client, demo, small["id"],
                         {"os-reimage": {"image_id": image_id}}, "3.68")
    assert resp.status_code == 400
    assert _message(resp) == (
        "Volume size must be greater than the image size. (Image: 2, Volume: 1)."
    )
    # Below 3.46 the image is an image: size 0 says nothing of the size to make.
    old = await volume_client.post(
        f"/v3/{demo.project_id}/volumes", headers=_h(demo, "3.45"),
        json={"volume": {"imageRef": image_id}},
    )
    assert old.status_code == 400
    # A mapping naming a snapshot that is gone: Cinder's 404.
    gone = [{**bdm[0], "snapshot_id": "5b1e0f3c-0000-4000-8000-0000000000bb"}]
    stale = await add_image(rt, owner=demo.project_id, data=b"",
                            properties={"block_device_mapping": json.dumps(gone)})
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes", headers=_h(demo, "3.46"),
        json={"volume": {"imageRef": stale, "size": 2}},
    )
    assert resp.status_code == 404
    assert _message(resp) == (
        "Nova specific image is found, but boot volume snapshot "
        "id:5b1e0f3c-0000-4000-8000-0000000000bb not found."
    )


# --- 3.71 os-extend_volume_completion -------------------------------------------------------


async def _extending(rt, volume_id: str, admin_meta: dict) -> None:  # type: ignore[no-untyped-def]
    async with rt.transaction() as db:
        row = await db.get(Volume, volume_id)
        row.status = "extending"
        row.admin_meta = {**(row.admin_meta or {}), **admin_meta}


async def test_extend_volume_completion(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    body = {"os-extend_volume_completion": {"error": False}}

    async def complete(who, payload=body):  # type: ignore[no-untyped-def]
        return await volume_client.post(
            f"/v3/{who.project_id}/volumes/{vol['id']}/action", json=payload,
            headers=_h(who, "3.71"),
        )

    # Admin (Nova's service user) only.
    resp = await complete(demo)
    assert resp.status_code == 403
    assert _message(resp) == (
        "Policy doesn't allow volume_extension:volume_admin_actions:extend_volume_completion "
        "to be performed."
    )
    resp = await volume_client.post(f"/v3/{admin.project_id}/volumes/{vol['id']}/action",
                                    json=body, headers=_h(admin, "3.71"))
    assert (resp.status_code, _message(resp)) == (
        400, "Invalid volume: Volume is not being extended."
    )

    async def as_admin(payload=body):  # type: ignore[no-untyped-def]
        return await volume_client.post(
            f"/v3/{admin.project_id}/volumes/{vol['id']}/action", json=payload,
            headers=_h(admin, "3.71"),
        )

    await _extending(rt, vol["id"], {})
    resp = await as_admin()
    assert _message(resp) == (
        "Invalid volume: Required volume admin metadata is malformed or missing."
    )
    await _extending(rt, vol["id"], {"extend_new_size": "1", "extend_reservations": "[]"})
    resp = await as_admin()
    assert _message(resp) == (
        "Invalid volume: The target volume size provided in volume admin metadata 1 is "
        "smaller or equal to the current volume size."
    )
    await _extending(rt, vol["id"], {"extend_new_size": "3", "extend_reservations": "{}"})
    resp = await as_admin()
    assert _message(resp) == (
        "Invalid volume: The stored quota reservations for extending the volume must be in a "
        "list format."
    )
    # Nova extended it: the new size, available again, the keys gone, the file grown.
    await _extending(rt, vol["id"], {"extend_new_size": "3", "extend_reservations": "[]"})
    resp = await as_admin()
    assert resp.status_code == 202, resp.text
    done = await wait_status(volume_client, demo, vol["id"], "available")
    assert done["size"] == 3
    assert rt.volumes.path(vol["id"]).stat().st_size == 3 * GiB
    async with rt.transaction() as db:
        row = await db.get(Volume, vol["id"])
        assert "extend_new_size" not in (row.admin_meta or {})
        assert "extend_reservations" not in (row.admin_meta or {})
    # Nova failed: error_extending, with Cinder's user message; deletable.
    await _extending(rt, vol["id"], {"extend_new_size": "4", "extend_reservations": "[]"})
    resp = await as_admin({"os-extend_volume_completion": {"error": True}})
    assert resp.status_code == 202, resp.text
    failed = await wait_status(volume_client, demo, vol["id"], "error_extending")
    assert failed["size"] == 3
    msgs = (await _get(volume_client, demo, "/messages", "3.3")).json()["messages"]
    assert any(m["user_message"] == "extend volume:Volume Driver failed to extend volume."
               for m in msgs if m["resource_uuid"] == vol["id"])
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                      headers=demo.headers)
    assert resp.status_code == 202, resp.text


async def test_a_reimage_left_by_a_crash(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    """Start-up: a volume `downloading` with no reimage job left is `error`; one whose
    job is still queued is left for the job to finish."""
    orphan = await create(volume_client, demo)
    await wait_status(volume_client, demo, orphan["id"], "available")
    async with rt.transaction() as db:
        row = await db.get(Volume, orphan["id"])
        row.status = "downloading"
        row.previous_status = "available"
    await rt.services.reimage.recover()
    await wait_status(volume_client, demo, orphan["id"], "error")
    # With its job queued (the runner is stopped meanwhile) it stays downloading,
    # and the job, run again, finishes it.
    image_id = await add_image(rt, owner=demo.project_id, data=pattern(2 * MiB))
    vol = await create(volume_client, demo)
    await wait_status(volume_client, demo, vol["id"], "available")
    await rt.jobs.stop()
    try:
        resp = await _action(volume_client, demo, vol["id"],
                             {"os-reimage": {"image_id": image_id}}, "3.68")
        assert resp.status_code == 202, resp.text
        await rt.services.reimage.recover()
        body = (await _get(volume_client, demo, f"/volumes/{vol['id']}", "3.68")).json()
        assert body["volume"]["status"] == "downloading"
    finally:
        await rt.jobs.start()
    await wait_status(volume_client, demo, vol["id"], "available")
    assert rt.volumes.path(vol["id"]).read_bytes()[:2 * MiB] == pattern(2 * MiB)
