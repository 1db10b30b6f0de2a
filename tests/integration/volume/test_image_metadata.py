"""Volume image metadata: what a volume made from an image keeps, the
os-show/set/unset_image_metadata actions (schemas, policies, faults), where
`volume_image_metadata` is shown, and what copies and uploads inherit."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from sqlalchemy import update

from cinderlite.db.models import Image
from tests.conftest import make_settings, make_user, marked_options, wait_for
from tests.integration.volume.test_fill import MiB, add_image, pattern
from tests.integration.volume.test_volumes import create, show, wait_status

pytestmark = pytest.mark.integration

HW = {"hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi", "os_distro": "ubuntu",
      "os_type": "linux"}
CORE = ("image_id", "image_name", "checksum", "container_format", "disk_format",
        "min_disk", "min_ram", "size")


@pytest.fixture
def settings(tmp_path, database_url, request):  # type: ignore[no-untyped-def]
    """`@pytest.mark.settings(policy_rules={...})` writes those rules to a policy file."""
    options = marked_options(request)
    rules = options.pop("policy_rules", None)
    if rules:
        path = tmp_path / "policy.json"
        path.write_text(json.dumps(rules))
        options["policy_file"] = str(path)
    return make_settings(tmp_path, database_url, **options)


async def _action(client, who, volume_id, body, *, api="v3"):  # type: ignore[no-untyped-def]
    return await client.post(f"/{api}/{who.project_id}/volumes/{volume_id}/action",
                             json=body, headers=who.headers)


async def _set(client, who, volume_id, metadata):  # type: ignore[no-untyped-def]
    return await _action(client, who, volume_id, {"os-set_image_metadata": {"metadata": metadata}})


async def _unset(client, who, volume_id, key):  # type: ignore[no-untyped-def]
    return await _action(client, who, volume_id, {"os-unset_image_metadata": {"key": key}})


async def _show_meta(client, who, volume_id):  # type: ignore[no-untyped-def]
    return await _action(client, who, volume_id, {"os-show_image_metadata": None})


def _fault(resp: httpx.Response) -> tuple[str, str]:
    (kind, body), = resp.json().items()
    return kind, body["message"]


async def _from_image(client, rt, who, *, properties=None, name="src-image"):  # type: ignore[no-untyped-def]
    data = pattern(4 * MiB)
    image_id = await add_image(rt, owner=who.project_id, data=data,
                               properties=dict(HW if properties is None else properties))
    if name != "src-image":
        async with rt.transaction() as db:
            await db.execute(update(Image).where(Image.id == image_id).values(name=name))
    resp = await client.post(f"/v3/{who.project_id}/volumes",
                             json={"volume": {"size": 1, "imageRef": image_id}},
                             headers=who.headers)
    assert resp.status_code == 202, resp.text
    created = resp.json()["volume"]
    assert "volume_image_metadata" not in created
    vol = await wait_status(client, who, created["id"], "available")
    return image_id, vol


# --- what a volume made from an image keeps ---------------------------------------------


async def test_volume_from_image_keeps_cinders_keys(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    image_id, vol = await _from_image(volume_client, rt, demo,
                                      properties={**HW, "image_id": "spoofed", "size": "1"})
    meta = vol["volume_image_metadata"]
    # The image's properties, then Cinder's base keys over them; nothing else.
    assert set(meta) == set(HW) | set(CORE)
    assert {k: meta[k] for k in HW} == HW
    assert meta["image_id"] == image_id
    assert meta["image_name"] == "src-image"
    assert meta["size"] == str(4 * MiB)
    assert (meta["min_disk"], meta["min_ram"]) == ("0", "0")
    assert (meta["disk_format"], meta["container_format"]) == ("raw", "bare")
    assert len(meta["checksum"]) == 32
    assert vol["bootable"] == "true"


async def test_an_empty_image_name_is_not_kept(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo, properties={}, name="")
    assert "image_name" not in vol["volume_image_metadata"]


async def test_shown_on_show_and_detail_only(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    base = f"/v3/{demo.project_id}/volumes"
    detail = (await volume_client.get(f"{base}/detail", headers=demo.headers)).json()
    (listed,) = [v for v in detail["volumes"] if v["id"] == vol["id"]]
    assert listed["volume_image_metadata"] == vol["volume_image_metadata"]
    summary = (await volume_client.get(base, headers=demo.headers)).json()
    assert all("volume_image_metadata" not in v for v in summary["volumes"])
    resp = await volume_client.put(f"{base}/{vol['id']}", json={"volume": {"name": "n"}},
                                   headers=demo.headers)
    assert resp.status_code == 200
    assert "volume_image_metadata" not in resp.json()["volume"]
    # On /v2 as on /v3.
    resp = await volume_client.get(f"/v2/{demo.project_id}/volumes/{vol['id']}",
                                   headers=demo.headers)
    assert resp.json()["volume"]["volume_image_metadata"] == vol["volume_image_metadata"]
    # A volume without any: no key at all.
    plain = await create(volume_client, demo)
    body = (await show(volume_client, demo, plain["id"])).json()["volume"]
    assert "volume_image_metadata" not in body


@pytest.mark.settings(policy_rules={"volume_extension:volume_image_metadata:show": "!"})
async def test_show_rule_denied_hides_the_attribute(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    image = await add_image(rt, owner=demo.project_id, data=pattern(2 * MiB), properties=HW)
    resp = await volume_client.post(f"/v3/{demo.project_id}/volumes",
                                    json={"volume": {"size": 1, "imageRef": image}},
                                    headers=demo.headers)
    vid = resp.json()["volume"]["id"]
    vol = await wait_status(volume_client, demo, vid, "available")
    assert "volume_image_metadata" not in vol
    detail = (await volume_client.get(f"/v3/{demo.project_id}/volumes/detail",
                                      headers=demo.headers)).json()
    assert all("volume_image_metadata" not in v for v in detail["volumes"])
    # The action is governed by other rules and still answers.
    resp = await _show_meta(volume_client, demo, vid)
    assert resp.status_code == 200
    assert resp.json()["metadata"]["hw_disk_bus"] == "scsi"


async def test_glance_metadata_filter_is_not_served_below_3_4(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    plain = await create(volume_client, demo)
    query = json.dumps({"hw_disk_bus": "nope"})
    resp = await volume_client.get(f"/v3/{demo.project_id}/volumes/detail",
                                   params={"glance_metadata": query}, headers=demo.headers)
    ids = {v["id"] for v in resp.json()["volumes"]}
    assert {vol["id"], plain["id"]} <= ids


# --- the actions ----------------------------------------------------------------------


async def test_set_show_unset_cycle(volume_client, demo, reader, rt) -> None:  # type: ignore[no-untyped-def]
    image_id, vol = await _from_image(volume_client, rt, demo)
    vid = vol["id"]
    resp = await _set(volume_client, demo, vid,
                      {"hw_disk_bus": "virtio", "hw_qemu_guest_agent": "yes"})
    assert resp.status_code == 200, resp.text
    whole = resp.json()["metadata"]
    assert set(resp.json()) == {"metadata"}
    assert whole["hw_disk_bus"] == "virtio"
    assert whole["hw_qemu_guest_agent"] == "yes"
    assert whole["image_id"] == image_id
    assert set(whole) == set(HW) | set(CORE) | {"hw_qemu_guest_agent"}
    # An empty set changes nothing and returns everything.
    resp = await _set(volume_client, demo, vid, {})
    assert resp.json()["metadata"] == whole
    # A reader sees it, on the view and through the action.
    body = (await show(volume_client, reader, vid)).json()["volume"]
    assert body["volume_image_metadata"] == whole
    resp = await _show_meta(volume_client, reader, vid)
    assert resp.status_code == 200
    assert resp.json() == {"metadata": whole}
    resp = await _unset(volume_client, demo, vid, "hw_qemu_guest_agent")
    assert resp.status_code == 200
    assert resp.content == b""
    resp = await _action(volume_client, demo, vid, {"os-show_image_metadata": {}})
    assert "hw_qemu_guest_agent" not in resp.json()["metadata"]
    resp = await _unset(volume_client, demo, vid, "hw_qemu_guest_agent")
    assert resp.status_code == 404
    assert _fault(resp) == (
        "itemNotFound", f"Glance metadata for volume/snapshot {vid} cannot be found.")
    # updated_at is left alone, as Cinder leaves it.
    assert (await show(volume_client, demo, vid)).json()["volume"]["updated_at"] == \
        vol["updated_at"]


async def test_a_plain_volume_has_none_until_given_some(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    vid = vol["id"]
    await wait_status(volume_client, demo, vid, "available")
    message = f"Glance metadata for volume/snapshot {vid} cannot be found."
    resp = await _show_meta(volume_client, demo, vid)
    assert (resp.status_code, _fault(resp)) == (404, ("itemNotFound", message))
    resp = await _unset(volume_client, demo, vid, "k")
    assert (resp.status_code, _fault(resp)) == (404, ("itemNotFound", message))
    resp = await _set(volume_client, demo, vid, {"k": "v", "x y:z.-_/": "w"})
    assert resp.json() == {"metadata": {"k": "v", "x y:z.-_/": "w"}}
    body = (await show(volume_client, demo, vid)).json()["volume"]
    assert body["volume_image_metadata"] == {"k": "v", "x y:z.-_/": "w"}
    assert body["bootable"] == "false"
    for key in ("k", "x y:z.-_/"):
        assert (await _unset(volume_client, demo, vid, key)).status_code == 200
    body = (await show(volume_client, demo, vid)).json()["volume"]
    assert "volume_image_metadata" not in body
    resp = await _show_meta(volume_client, demo, vid)
    assert resp.status_code == 404


LONG_4BYTE = "\N{CJK UNIFIED IDEOGRAPH-29D98}" * 16384  # 65536 bytes in 16384 characters


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"os-set_image_metadata": {}}, "'metadata' is a required property"),
        ({"os-set_image_metadata": None}, "None is not of type 'object'"),
        ({"os-set_image_metadata": {"metadata": {"a" * 256: "v"}}},
         "does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{1,255}$'"),
        ({"os-set_image_metadata": {"metadata": {"": "v"}}},
         "does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{1,255}$'"),
        ({"os-set_image_metadata": {"metadata": {"bad!key": "v"}}},
         "does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{1,255}$'"),
        ({"os-set_image_metadata": {"metadata": {"k": 1}}}, "1 is not of type 'string'"),
        ({"os-set_image_metadata": {"metadata": {"k": None}}}, "None is not of type 'string'"),
        ({"os-set_image_metadata": {"metadata": {"k": "v" * 65536}}},
         "is not a 'mysql_text'"),
        ({"os-set_image_metadata": {"metadata": {"k": LONG_4BYTE}}}, "is not a 'mysql_text'"),
        ({"os-set_image_metadata": {"metadata": {}, "x": 1}},
         "Additional properties are not allowed ('x' was unexpected)"),
        ({"os-unset_image_metadata": {}}, "'key' is a required property"),
        ({"os-unset_image_metadata": {"key": ""}}, "'' should be non-empty"),
        ({"os-unset_image_metadata": {"key": "k" * 256}}, "is too long"),
        ({"os-unset_image_metadata": {"key": 5}}, "5 is not of type 'string'"),
        ({"os-unset_image_metadata": "k"}, "'k' is not of type 'object'"),
    ],
)
async def test_schema_faults(volume_client, demo, body, message) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    resp = await _action(volume_client, demo, vol["id"], body)
    assert resp.status_code == 400, resp.text
    kind, text = _fault(resp)
    assert kind == "badRequest"
    assert message in text


async def test_a_value_of_65535_bytes_is_taken(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    value = "\u00e9" * 32767 + "v"  # 65535 bytes of UTF-8
    resp = await _set(volume_client, demo, vol["id"], {"k": value})
    assert resp.status_code == 200
    assert resp.json()["metadata"]["k"] == value


async def test_schema_comes_before_the_volume_lookup(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    missing = "00000000-0000-4000-8000-000000000000"
    resp = await _action(volume_client, demo, missing, {"os-set_image_metadata": {}})
    assert resp.status_code == 400
    for body in ({"os-set_image_metadata": {"metadata": {"k": "v"}}},
                 {"os-unset_image_metadata": {"key": "k"}},
                 {"os-show_image_metadata": None}):
        resp = await _action(volume_client, demo, missing, body)
        assert (resp.status_code, _fault(resp)) == (
            404, ("itemNotFound", f"Volume {missing} could not be found."))


async def test_policies(volume_client, demo, reader, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    vid = vol["id"]
    resp = await _set(volume_client, reader, vid, {"k": "v"})
    assert (resp.status_code, _fault(resp)) == (403, (
        "forbidden",
        "Policy doesn't allow volume_extension:volume_image_metadata:set to be performed."))
    resp = await _unset(volume_client, reader, vid, "hw_disk_bus")
    assert (resp.status_code, _fault(resp)) == (403, (
        "forbidden",
        "Policy doesn't allow volume_extension:volume_image_metadata:remove to be performed."))
    # Another project's member cannot see the volume at all.
    other = await make_user(rt, name="stranger", project="elsewhere", roles=("member",))
    for body in ({"os-set_image_metadata": {"metadata": {"k": "v"}}},
                 {"os-unset_image_metadata": {"key": "hw_disk_bus"}},
                 {"os-show_image_metadata": None}):
        resp = await volume_client.post(f"/v3/{other.project_id}/volumes/{vid}/action",
                                        json=body, headers=other.headers)
        assert (resp.status_code, _fault(resp)) == (
            404, ("itemNotFound", f"Volume {vid} could not be found."))
    resp = await _show_meta(volume_client, demo, vid)
    assert resp.json()["metadata"]["hw_disk_bus"] == "scsi"


async def test_admin_changes_another_projects_volume(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/volumes/{vol['id']}/action",
        json={"os-set_image_metadata": {"metadata": {"hw_rng_model": "virtio"}}},
        headers=admin.headers)
    assert resp.status_code == 200, resp.text
    body = (await show(volume_client, demo, vol["id"])).json()["volume"]
    assert body["volume_image_metadata"]["hw_rng_model"] == "virtio"


@pytest.mark.settings(policy_rules={"volume:update_volume_metadata": "!",
                                    "volume:delete_volume_metadata": "!"})
async def test_the_volume_metadata_rules_apply_too(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    resp = await _set(volume_client, demo, vol["id"], {"k": "v"})
    assert (resp.status_code, _fault(resp)) == (403, (
        "forbidden", "Policy doesn't allow volume:update_volume_metadata to be performed."))
    # A missing key is found missing before the delete rule is asked.
    resp = await _unset(volume_client, demo, vol["id"], "nope")
    assert resp.status_code == 404
    resp = await _unset(volume_client, demo, vol["id"], "hw_disk_bus")
    assert (resp.status_code, _fault(resp)) == (403, (
        "forbidden", "Policy doesn't allow volume:delete_volume_metadata to be performed."))


@pytest.mark.settings(policy_rules={"volume:get_volume_metadata": "!"})
async def test_show_action_needs_the_get_metadata_rule(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    resp = await _show_meta(volume_client, demo, vol["id"])
    assert (resp.status_code, _fault(resp)) == (403, (
        "forbidden", "Policy doesn't allow volume:get_volume_metadata to be performed."))
    # Cinder reads the metadata to pass it on to an upload under the same rule.
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-volume_upload_image": {"image_name": "x"}})
    assert resp.status_code == 403
    assert (await show(volume_client, demo, vol["id"])).json()["volume"]["status"] == \
        "available"


@pytest.mark.parametrize("status", ["uploading", "maintenance"])
async def test_no_change_while_uploading_or_in_maintenance(  # type: ignore[no-untyped-def]
    volume_client, demo, admin, rt, status
) -> None:
    _, vol = await _from_image(volume_client, rt, demo)
    vid = vol["id"]
    resp = await volume_client.post(f"/v3/{admin.project_id}/volumes/{vid}/action",
                                    json={"os-reset_status": {"status": status}},
                                    headers=admin.headers)
    assert resp.status_code == 202, resp.text
    resp = await _set(volume_client, demo, vid, {"k": "v"})
    assert (resp.status_code, _fault(resp)) == (400, (
        "badRequest",
        f"Invalid volume: Updating volume metadata is not allowed for volumes in {status} "
        "status."))
    resp = await _unset(volume_client, demo, vid, "hw_disk_bus")
    assert (resp.status_code, _fault(resp)) == (400, (
        "badRequest",
        f"Invalid volume: Deleting volume metadata is not allowed for volumes in {status} "
        "status."))
    # Reading is allowed in any status.
    resp = await _show_meta(volume_client, demo, vid)
    assert resp.status_code == 200


async def test_v2_serves_the_actions(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-set_image_metadata": {"metadata": {"a": "b"}}}, api="v2")
    assert resp.status_code == 200
    resp = await _action(volume_client, demo, vol["id"], {"os-show_image_metadata": {}},
                         api="v2")
    assert resp.json()["metadata"]["a"] == "b"
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-unset_image_metadata": {"key": "a"}}, api="v2")
    assert resp.status_code == 200


async def test_concurrent_sets_all_land(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    vol = await create(volume_client, demo)
    results = await asyncio.gather(*(
        _set(volume_client, demo, vol["id"], {f"k{i}": str(i)}) for i in range(12)))
    assert all(r.status_code == 200 for r in results)
    resp = await _show_meta(volume_client, demo, vol["id"])
    assert resp.json()["metadata"] == {f"k{i}": str(i) for i in range(12)}


# --- what copies and uploads inherit ----------------------------------------------------


async def _copy(client, who, **source):  # type: ignore[no-untyped-def]
    made = await create(client, who, **source)
    return await wait_status(client, who, made["id"], "available")


async def test_clones_and_snapshots_carry_it_as_cinder(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    vid = vol["id"]
    clone = await _copy(volume_client, demo, source_volid=vid)
    assert clone["bootable"] == "true"
    assert clone["volume_image_metadata"] == vol["volume_image_metadata"]
    # A snapshot keeps the metadata the volume had when it was taken.
    resp = await volume_client.post(f"/v3/{demo.project_id}/snapshots",
                                    json={"snapshot": {"volume_id": vid}}, headers=demo.headers)
    snap = resp.json()["snapshot"]

    async def snap_ready():  # type: ignore[no-untyped-def]
        r = await volume_client.get(f"/v3/{demo.project_id}/snapshots/{snap['id']}",
                                    headers=demo.headers)
        return r.json()["snapshot"]["status"] == "available" or None

    await wait_for(snap_ready)
    await _set(volume_client, demo, vid, {"hw_disk_bus": "ide", "later": "1"})
    from_snap = await _copy(volume_client, demo, snapshot_id=snap["id"])
    assert from_snap["bootable"] == "true"
    assert from_snap["volume_image_metadata"] == vol["volume_image_metadata"]
    clone2 = await _copy(volume_client, demo, source_volid=vid)
    assert clone2["volume_image_metadata"]["hw_disk_bus"] == "ide"
    assert clone2["volume_image_metadata"]["later"] == "1"
    # Once the volume is not bootable, copies get neither flag nor metadata.
    resp = await _action(volume_client, demo, vid, {"os-set_bootable": {"bootable": False}})
    assert resp.status_code == 200
    for source in ({"source_volid": vid}, {"snapshot_id": snap["id"]}):
        copy = await _copy(volume_client, demo, **source)
        assert copy["bootable"] == "false"
        assert "volume_image_metadata" not in copy


async def test_a_snapshot_of_a_non_bootable_volume_keeps_nothing(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    vid = vol["id"]
    await _action(volume_client, demo, vid, {"os-set_bootable": {"bootable": False}})
    resp = await volume_client.post(f"/v3/{demo.project_id}/snapshots",
                                    json={"snapshot": {"volume_id": vid}}, headers=demo.headers)
    snap = resp.json()["snapshot"]

    async def snap_ready():  # type: ignore[no-untyped-def]
        r = await volume_client.get(f"/v3/{demo.project_id}/snapshots/{snap['id']}",
                                    headers=demo.headers)
        return r.json()["snapshot"]["status"] == "available" or None

    await wait_for(snap_ready)
    await _action(volume_client, demo, vid, {"os-set_bootable": {"bootable": True}})
    copy = await _copy(volume_client, demo, snapshot_id=snap["id"])
    # Bootable as its volume is now, but nothing was kept to give it.
    assert copy["bootable"] == "true"
    assert "volume_image_metadata" not in copy


@pytest.mark.parametrize("api", ["v2", "v3"])
async def test_upload_passes_the_custom_keys_on(volume_client, image_client, demo, rt, api) -> None:  # type: ignore[no-untyped-def]
    _, vol = await _from_image(volume_client, rt, demo)
    vid = vol["id"]
    resp = await _set(volume_client, demo, vid, {
        "hw_video_model": "virtio", "os_glance_importing": "x", "img_signature": "s",
        "owner": "someone-else", "visibility": "public", "id": "f" * 36, "tags": "t"})
    assert resp.status_code == 200
    resp = await _unset(volume_client, demo, vid, "os_type")
    assert resp.status_code == 200
    resp = await _action(volume_client, demo, vid,
                         {"os-volume_upload_image": {"image_name": "inherits",
                                                     "disk_format": "raw"}}, api=api)
    assert resp.status_code == 202, resp.text
    upload = resp.json()["os-volume_upload_image"]
    base_keys = {"id", "updated_at", "status", "display_description", "size", "volume_type",
                 "image_id", "container_format", "disk_format", "image_name"}
    assert set(upload) == (base_keys if api == "v2" else base_keys | {"protected",
                                                                      "visibility"})

    async def active():  # type: ignore[no-untyped-def]
        r = await image_client.get(f"/v2/images/{upload['image_id']}", headers=demo.headers)
        return r.json() if r.json().get("status") == "active" else None

    image = await wait_for(active, 60)
    expected = {k: v for k, v in HW.items() if k != "os_type"} | {"hw_video_model": "virtio"}
    assert {k: image[k] for k in expected} == expected
    for key in ("image_id", "image_name", "os_type", "os_glance_importing", "img_signature"):
        assert key not in image
    # Glance's core attributes are the new image's own, not the volume's.
    assert image["id"] == upload["image_id"]
    assert image["owner"] == demo.project_id
    assert image["visibility"] != "public"
    assert image["tags"] == []
    assert image["name"] == "inherits"
    assert image["size"] == 1 << 30
    assert image["min_disk"] == 0
    assert image["disk_format"] == "raw"
    await wait_status(volume_client, demo, vid, "available")


@pytest.mark.settings(glance_core_properties=())
async def test_no_core_properties_turns_inheritance_off(  # type: ignore[no-untyped-def]
    volume_client, image_client, demo, rt
) -> None:
    _, vol = await _from_image(volume_client, rt, demo)
    resp = await _action(volume_client, demo, vol["id"],
                         {"os-volume_upload_image": {"image_name": "bare"}})
    assert resp.status_code == 202
    image_id = resp.json()["os-volume_upload_image"]["image_id"]
    resp = await image_client.get(f"/v2/images/{image_id}", headers=demo.headers)
    assert "hw_disk_bus" not in resp.json()
