"""Volume transfers through the ASGI volume API: demo offers a volume, another
project takes it. Bodies, statuses, messages, policies, visibility, the version
gate of /volume-transfers, and the bytes (untouched, and readable by the taker)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from cinderlite.api.volume import versions
from cinderlite.api.volume.context import ApiVersion
from cinderlite.db.models import Transfer
from tests.conftest import make_user, wait_for
from tests.integration.volume.test_volumes import create, wait_status

pytestmark = pytest.mark.integration

MIB = 1 << 20
CREATE_KEYS = {"id", "created_at", "name", "volume_id", "auth_key", "links"}
DETAIL_KEYS = {"id", "created_at", "name", "volume_id", "links"}
SUMMARY_KEYS = {"id", "volume_id", "name", "links"}
DELETE_REFUSED = (
    "Invalid volume: Volume status must be available or error or error_restoring or "
    "error_extending or error_managing and must not be migrating, attached, belong to a group, "
    "have snapshots, awaiting a transfer, or be disassociated from snapshots after volume "
    "transfer."
)
MISSING = "0b1ad6a1-0000-4000-8000-000000000000"


def _url(who, path: str = "", api: str = "v3") -> str:  # type: ignore[no-untyped-def]
    return f"/{api}/{who.project_id}/os-volume-transfer{path}"


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(8 * MIB):
            h.update(chunk)
    return h.hexdigest()


def _scribble(path: Path) -> None:
    with open(path, "r+b") as fh:
        for k in (0, 300, 700):
            fh.seek(k * MIB + 7)
            fh.write(os.urandom(MIB))


@pytest.fixture
async def alt(rt):  # type: ignore[no-untyped-def]
    """A member of another project: the one that takes demo's volumes."""
    return await make_user(rt, name="alt", project="alt", roles=("member",))


async def _volume(client, who, **fields) -> dict:  # type: ignore[no-untyped-def]
    vol = await create(client, who, **fields)
    return await wait_status(client, who, vol["id"], "available")


async def _offer(client, who, volume_id: str, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(
        _url(who), json={"transfer": {"volume_id": volume_id, **fields}}, headers=who.headers
    )
    assert resp.status_code == 202, resp.text
    return resp.json()["transfer"]


async def _snapshot(client, who, volume_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/snapshots",
                             json={"snapshot": {"volume_id": volume_id}}, headers=who.headers)
    assert resp.status_code == 202, resp.text
    snap_id = resp.json()["snapshot"]["id"]

    async def ready():  # type: ignore[no-untyped-def]
        shown = await client.get(f"/v3/{who.project_id}/snapshots/{snap_id}",
                                 headers=who.headers)
        body = shown.json()["snapshot"]
        return body if body["status"] == "available" else None

    return await wait_for(ready)


def _message(resp) -> str:  # type: ignore[no-untyped-def]
    body = resp.json()
    return str(next(iter(body.values()))["message"])


async def test_offer_show_list_and_accept_moves_the_volume_and_its_snapshots(  # type: ignore[no-untyped-def]
    volume_client, image_client, demo, alt, admin, rt,
) -> None:
    vol = await _volume(volume_client, demo, name="gift")
    path = rt.volumes.path(vol["id"])
    _scribble(path)
    snap = await _snapshot(volume_client, demo, vol["id"])
    before = _sha(path)
    snap_before = _sha(path.with_name(f"snapshot-{snap['id']}"))

    made = await _offer(volume_client, demo, vol["id"], name="  for alt  ")
    assert set(made) == CREATE_KEYS
    assert made["name"] == "for alt"  # stripped, as Cinder does
    assert made["volume_id"] == vol["id"]
    assert len(made["auth_key"]) == 16
    assert int(made["auth_key"], 16) >= 0
    base = str(volume_client.base_url).rstrip("/")
    assert made["links"] == [
        {"href": f"{base}/v3/{demo.project_id}/os-volume-transfer/{made['id']}", "rel": "self"},
        {"href": f"{base}/{demo.project_id}/os-volume-transfer/{made['id']}", "rel": "bookmark"},
    ]
    # The key is kept only as a salted hash.
    async with rt.db.read() as db:
        row = await db.get(Transfer, made["id"])
        assert row is not None
        assert made["auth_key"] not in (row.salt, row.crypt_hash)
        assert made["auth_key"] not in repr(row.__dict__)
    shown_vol = await wait_status(volume_client, demo, vol["id"], "awaiting-transfer")
    assert shown_vol["os-vol-tenant-attr:tenant_id"] == demo.project_id

    shown = await volume_client.get(_url(demo, f"/{made['id']}"), headers=demo.headers)
    assert shown.status_code == 200
    assert set(shown.json()["transfer"]) == DETAIL_KEYS
    assert shown.json()["transfer"]["created_at"] == made["created_at"]
    listed = await volume_client.get(_url(demo), headers=demo.headers)
    assert [set(t) for t in listed.json()["transfers"]] == [SUMMARY_KEYS]
    assert "transfers_links" not in listed.json()
    detail = await volume_client.get(_url(demo, "/detail"), headers=demo.headers)
    assert detail.json()["transfers"] == [shown.json()["transfer"]]
    # alt cannot see the offer (it has only the id and key it was given)...
    hidden = await volume_client.get(_url(alt, f"/{made['id']}"), headers=alt.headers)
    assert hidden.status_code == 404
    assert _message(hidden) == f"Transfer {made['id']} could not be found."
    assert (await volume_client.get(_url(alt), headers=alt.headers)).json() == {"transfers": []}

    # ...but takes it with them.
    taken = await volume_client.post(
        _url(alt, f"/{made['id']}/accept"), json={"accept": {"auth_key": made["auth_key"]}},
        headers=alt.headers,
    )
    assert taken.status_code == 202, taken.text
    body = taken.json()["transfer"]
    assert set(body) == SUMMARY_KEYS
    assert (body["id"], body["volume_id"], body["name"]) == (made["id"], vol["id"], "for alt")
    assert body["links"][0]["href"].endswith(f"/v3/{alt.project_id}/os-volume-transfer/"
                                             f"{made['id']}")

    mine = await wait_status(volume_client, alt, vol["id"], "available")
    assert mine["user_id"] == alt.caller.user_id
    assert mine["os-vol-tenant-attr:tenant_id"] == alt.project_id
    gone = await volume_client.get(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                   headers=demo.headers)
    assert gone.status_code == 404
    # The snapshot went with it.
    theirs = await volume_client.get(f"/v3/{alt.project_id}/snapshots/{snap['id']}",
                                     headers=alt.headers)
    assert theirs.status_code == 200
    assert theirs.json()["snapshot"]["os-extended-snapshot-attributes:project_id"] == (
        alt.project_id
    )
    assert (await volume_client.get(f"/v3/{demo.project_id}/snapshots/{snap['id']}",
                                    headers=demo.headers)).status_code == 404
    # The transfer is gone, for both.
    for who in (demo, alt):
        resp = await volume_client.get(_url(who, f"/{made['id']}"), headers=who.headers)
        assert resp.status_code == 404
    # No byte moved or changed.
    assert _sha(path) == before
    assert _sha(path.with_name(f"snapshot-{snap['id']}")) == snap_before

    # The new owner reads the volume: an upload to an image holds its bytes.
    up = await volume_client.post(
        f"/v3/{alt.project_id}/volumes/{vol['id']}/action", headers=alt.headers,
        json={"os-volume_upload_image": {"image_name": "taken", "disk_format": "raw",
                                         "container_format": "bare"}},
    )
    assert up.status_code == 202, up.text
    image_id = up.json()["os-volume_upload_image"]["image_id"]

    async def active():  # type: ignore[no-untyped-def]
        resp = await image_client.get(f"/v2/images/{image_id}", headers=alt.headers)
        return resp.json() if resp.json().get("status") == "active" else None

    image = await wait_for(active)
    assert image["owner"] == alt.project_id
    data = await image_client.get(f"/v2/images/{image_id}/file", headers=alt.headers)
    assert hashlib.sha256(data.content).hexdigest() == before
    # ...and can snapshot and delete what it now owns.
    await wait_status(volume_client, alt, vol["id"], "available")


async def test_delete_withdraws_the_offer(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    made = await _offer(volume_client, demo, vol["id"])
    assert made["name"] is None
    await wait_status(volume_client, demo, vol["id"], "awaiting-transfer")
    resp = await volume_client.delete(_url(demo, f"/{made['id']}"), headers=demo.headers)
    assert resp.status_code == 202
    assert resp.content == b""
    shown = await wait_status(volume_client, demo, vol["id"], "available")
    assert shown["os-vol-tenant-attr:tenant_id"] == demo.project_id
    again = await volume_client.delete(_url(demo, f"/{made['id']}"), headers=demo.headers)
    assert again.status_code == 404
    assert _message(again) == f"Transfer {made['id']} could not be found."
    # The volume can be offered again, and deleted once the offer is withdrawn.
    second = await _offer(volume_client, demo, vol["id"])
    assert second["id"] != made["id"]
    assert second["auth_key"] != made["auth_key"]
    await volume_client.delete(_url(demo, f"/{second['id']}"), headers=demo.headers)
    deleted = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vol['id']}",
                                         headers=demo.headers)
    assert deleted.status_code == 202


async def test_a_wrong_key_is_refused_and_changes_nothing(volume_client, demo, alt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    made = await _offer(volume_client, demo, vol["id"])
    wrong = "0" * 16 if made["auth_key"] != "0" * 16 else "1" * 16
    for key in (wrong, made["auth_key"].upper() + "x", 1234, "", "\u00e9" * 300):
        resp = await volume_client.post(
            _url(alt, f"/{made['id']}/accept"), json={"accept": {"auth_key": key}},
            headers=alt.headers,
        )
        assert resp.status_code == 400, (key, resp.text)
        assert _message(resp) == (
            f"Invalid auth key: Attempt to transfer {made['id']} with invalid auth key."
        )
    shown = await wait_status(volume_client, demo, vol["id"], "awaiting-transfer")
    assert shown["os-vol-tenant-attr:tenant_id"] == demo.project_id
    still = await volume_client.get(_url(demo, f"/{made['id']}"), headers=demo.headers)
    assert still.status_code == 200


@pytest.mark.parametrize(("body", "message"), [
    (None, "None is not of type 'object'"),
    ({}, "'transfer' is a required property"),
    ({"transfer": {}}, "Invalid input for field/attribute transfer. Value: {}. 'volume_id' is a "
                       "required property"),
    ({"transfer": {"volume_id": "nope"}},
     "Invalid input for field/attribute volume_id. Value: nope. 'nope' is not a 'uuid'"),
    ({"transfer": {"volume_id": 5}},
     "Invalid input for field/attribute volume_id. Value: 5. 5 is not of type 'string'"),
    ({"transfer": {"volume_id": MISSING, "name": "   "}},
     "Invalid input for field/attribute name. Value:    . '   ' is not valid under any of the "
     "given schemas"),
    ({"transfer": {"volume_id": MISSING, "name": "x" * 256}}, None),
    ({"transfer": {"volume_id": MISSING, "no_snapshots": True}},
     "Invalid input for field/attribute transfer. Value: {'volume_id': "
     f"'{MISSING}', 'no_snapshots': True}}. Additional properties are not allowed "
     "('no_snapshots' was unexpected)"),
])
async def test_create_body_is_checked_as_cinder_does(volume_client, demo, body, message) -> None:  # type: ignore[no-untyped-def]
    # None: no body at all.
    kwargs = {"json": body} if body is not None else {}
    resp = await volume_client.post(_url(demo), headers=demo.headers, **kwargs)
    assert resp.status_code == 400, resp.text
    if message is not None:
        assert _message(resp) == message


async def test_create_refusals(volume_client, demo, alt, admin) -> None:  # type: ignore[no-untyped-def]
    missing = await volume_client.post(
        _url(demo), json={"transfer": {"volume_id": MISSING}}, headers=demo.headers
    )
    assert missing.status_code == 404
    assert _message(missing) == f"Volume {MISSING} could not be found."
    # Another project's volume is not there for demo.
    theirs = await _volume(volume_client, alt)
    resp = await volume_client.post(
        _url(demo), json={"transfer": {"volume_id": theirs["id"]}}, headers=demo.headers
    )
    assert resp.status_code == 404
    assert _message(resp) == f"Volume {theirs['id']} could not be found."
    # Only an available volume may be offered.
    vol = await _volume(volume_client, demo)
    await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{vol['id']}/action", headers=demo.headers,
        json={"os-attach": {"mountpoint": "/dev/vdb", "host_name": "h1"}},
    )
    resp = await volume_client.post(
        _url(demo), json={"transfer": {"volume_id": vol["id"]}}, headers=demo.headers
    )
    assert resp.status_code == 400
    assert _message(resp) == "Invalid volume: status must be available"
    # An offered volume cannot be offered twice.
    other = await _volume(volume_client, demo)
    await _offer(volume_client, demo, other["id"])
    resp = await volume_client.post(
        _url(demo), json={"transfer": {"volume_id": other["id"]}}, headers=demo.headers
    )
    assert resp.status_code == 400
    assert _message(resp) == "Invalid volume: status must be available"


async def test_snapshots_must_be_available(volume_client, demo, alt, admin) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    snap = await _snapshot(volume_client, demo, vol["id"])
    reset = await volume_client.post(
        f"/v3/{admin.project_id}/snapshots/{snap['id']}/action", headers=admin.headers,
        json={"os-reset_status": {"status": "error"}},
    )
    assert reset.status_code == 202
    resp = await volume_client.post(
        _url(demo), json={"transfer": {"volume_id": vol["id"]}}, headers=demo.headers
    )
    assert resp.status_code == 400
    assert _message(resp) == f"Invalid snapshot: snapshot: {snap['id']} status must be available"
    # Nothing changed: the volume is still available.
    await wait_status(volume_client, demo, vol["id"], "available")

    # A snapshot that stops being available while the volume is offered fails the
    # accept, which then changes nothing at all.
    await volume_client.post(
        f"/v3/{admin.project_id}/snapshots/{snap['id']}/action", headers=admin.headers,
        json={"os-reset_status": {"status": "available"}},
    )
    made = await _offer(volume_client, demo, vol["id"])
    await volume_client.post(
        f"/v3/{admin.project_id}/snapshots/{snap['id']}/action", headers=admin.headers,
        json={"os-reset_status": {"status": "error"}},
    )
    resp = await volume_client.post(
        _url(alt, f"/{made['id']}/accept"), json={"accept": {"auth_key": made["auth_key"]}},
        headers=alt.headers,
    )
    assert resp.status_code == 400
    assert _message(resp) == (
        f"Invalid snapshot: Transfer {made['id']}: Snapshot {snap['id']} is not in the "
        "expected available state."
    )
    shown = await wait_status(volume_client, demo, vol["id"], "awaiting-transfer")
    assert shown["user_id"] == demo.caller.user_id
    assert (await volume_client.get(_url(demo, f"/{made['id']}"),
                                    headers=demo.headers)).status_code == 200
    mine = await volume_client.get(f"/v3/{demo.project_id}/snapshots/{snap['id']}",
                                   headers=demo.headers)
    assert mine.status_code == 200


async def test_an_offered_volume_refuses_delete_upload_snapshot_attach_extend(  # type: ignore[no-untyped-def]
    volume_client, demo,
) -> None:
    vol = await _volume(volume_client, demo)
    await _offer(volume_client, demo, vol["id"])
    vid = vol["id"]
    resp = await volume_client.delete(f"/v3/{demo.project_id}/volumes/{vid}",
                                      headers=demo.headers)
    assert (resp.status_code, _message(resp)) == (400, DELETE_REFUSED)
    action = f"/v3/{demo.project_id}/volumes/{vid}/action"
    resp = await volume_client.post(action, headers=demo.headers, json={
        "os-volume_upload_image": {"image_name": "no", "disk_format": "raw",
                                   "container_format": "bare"}})
    assert (resp.status_code, _message(resp)) == (
        400, f"Invalid volume: Volume {vid} status must be available"
    )
    resp = await volume_client.post(f"/v3/{demo.project_id}/snapshots", headers=demo.headers,
                                    json={"snapshot": {"volume_id": vid, "force": True}})
    assert (resp.status_code, _message(resp)) == (
        400, f"Invalid volume: Volume {vid} status must be available, in-use, but current "
        "status is: awaiting-transfer."
    )
    resp = await volume_client.post(action, headers=demo.headers, json={
        "os-attach": {"mountpoint": "/dev/vdb", "host_name": "h1"}})
    assert resp.status_code == 400
    assert "awaiting-transfer" in _message(resp)
    resp = await volume_client.post(action, headers=demo.headers,
                                    json={"os-extend": {"new_size": 2}})
    assert resp.status_code == 400
    assert "awaiting-transfer" in _message(resp)
    await wait_status(volume_client, demo, vid, "awaiting-transfer")


async def test_visibility_policies_and_all_tenants(  # type: ignore[no-untyped-def]
    volume_client, demo, alt, admin, reader,
) -> None:
    mine = await _offer(volume_client, demo, (await _volume(volume_client, demo))["id"])
    theirs = await _offer(volume_client, alt, (await _volume(volume_client, alt))["id"])
    for path in (f"/{theirs['id']}",):
        for method in ("GET", "DELETE"):
            resp = await volume_client.request(method, _url(demo, path), headers=demo.headers)
            assert resp.status_code == 404, (method, resp.text)
            assert _message(resp) == f"Transfer {theirs['id']} could not be found."
    ids = lambda resp: sorted(t["id"] for t in resp.json()["transfers"])  # noqa: E731
    # Non-admins see their own project's, all_tenants or not.
    for query in ("", "?all_tenants=1", f"?all_tenants=1&project_id={alt.project_id}",
                  f"?project_id={alt.project_id}"):
        resp = await volume_client.get(_url(demo) + query, headers=demo.headers)
        assert ids(resp) == [mine["id"]], query
    # Admins see their own project's, or everyone's with all_tenants.
    resp = await volume_client.get(_url(admin), headers=admin.headers)
    assert ids(resp) == []
    resp = await volume_client.get(_url(admin, "/detail") + "?all_tenants=true",
                                   headers=admin.headers)
    assert ids(resp) == sorted([mine["id"], theirs["id"]])
    resp = await volume_client.get(
        _url(admin) + f"?all_tenants=1&project_id={alt.project_id}", headers=admin.headers
    )
    assert ids(resp) == [theirs["id"]]
    # An admin may show another project's transfer.
    resp = await volume_client.get(_url(admin, f"/{theirs['id']}"), headers=admin.headers)
    assert resp.status_code == 200
    # A reader may look, not offer, withdraw or take.
    assert (await volume_client.get(_url(reader, f"/{mine['id']}"),
                                    headers=reader.headers)).status_code == 200
    assert ids(await volume_client.get(_url(reader), headers=reader.headers)) == [mine["id"]]
    vol = await _volume(volume_client, demo)
    resp = await volume_client.post(_url(reader), json={"transfer": {"volume_id": vol["id"]}},
                                    headers=reader.headers)
    assert (resp.status_code, _message(resp)) == (
        403, "Policy doesn't allow volume:create_transfer to be performed."
    )
    resp = await volume_client.delete(_url(reader, f"/{mine['id']}"), headers=reader.headers)
    assert (resp.status_code, _message(resp)) == (
        403, "Policy doesn't allow volume:delete_transfer to be performed."
    )
    resp = await volume_client.post(_url(reader, f"/{theirs['id']}/accept"),
                                    json={"accept": {"auth_key": theirs["auth_key"]}},
                                    headers=reader.headers)
    assert (resp.status_code, _message(resp)) == (
        403, "Policy doesn't allow volume:accept_transfer to be performed."
    )


async def test_listing_filters_limit_and_offset(volume_client, demo) -> None:  # type: ignore[no-untyped-def]
    made = []
    for n in range(3):
        vol = await _volume(volume_client, demo)
        made.append(await _offer(volume_client, demo, vol["id"], name=f"t{n}"))
    ids = lambda resp: [t["id"] for t in resp.json()["transfers"]]  # noqa: E731
    everything = await volume_client.get(_url(demo), headers=demo.headers)
    # Oldest first (created_at, then id).
    assert sorted(ids(everything)) == sorted(t["id"] for t in made)
    resp = await volume_client.get(_url(demo) + "?name=t1", headers=demo.headers)
    assert ids(resp) == [made[1]["id"]]
    resp = await volume_client.get(_url(demo) + f"?volume_id={made[2]['volume_id']}",
                                   headers=demo.headers)
    assert ids(resp) == [made[2]["id"]]
    # A key naming no column of Cinder's table matches nothing (as Cinder).
    resp = await volume_client.get(_url(demo) + "?bogus=1", headers=demo.headers)
    assert resp.status_code == 200
    assert ids(resp) == []
    resp = await volume_client.get(_url(demo) + "?crypt_hash=x", headers=demo.headers)
    assert ids(resp) == []
    page = await volume_client.get(_url(demo) + "?limit=2", headers=demo.headers)
    assert ids(page) == ids(everything)[:2]
    assert page.json()["transfers_links"][0]["rel"] == "next"
    page = await volume_client.get(_url(demo, "/detail") + "?limit=2&offset=2",
                                   headers=demo.headers)
    assert ids(page) == ids(everything)[2:]
    for query, message in (("?limit=x", "limit param must be an integer"),
                           ("?limit=-1", "limit param must be positive"),
                           ("?offset=x", "offset must be an integer")):
        resp = await volume_client.get(_url(demo) + query, headers=demo.headers)
        assert resp.status_code == 400, query
        assert message in _message(resp), (query, _message(resp))


async def test_accept_refusals(volume_client, demo, alt, rt) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(_url(alt, f"/{MISSING}/accept"),
                                    json={"accept": {"auth_key": "x"}}, headers=alt.headers)
    assert (resp.status_code, _message(resp)) == (
        404, f"Transfer {MISSING} could not be found."
    )
    for body, message in (
        ({}, "'accept' is a required property"),
        ({"accept": {}}, "Invalid input for field/attribute accept. Value: {}. 'auth_key' is a "
                         "required property"),
        ({"accept": {"auth_key": None}},
         "Invalid input for field/attribute auth_key. Value: None. None is not of type "
         "'string', 'integer'"),
        ({"accept": {"auth_key": True}},
         "Invalid input for field/attribute auth_key. Value: True. True is not of type "
         "'string', 'integer'"),
    ):
        resp = await volume_client.post(_url(alt, f"/{MISSING}/accept"), json=body,
                                        headers=alt.headers)
        assert (resp.status_code, _message(resp)) == (400, message), body
    # Two takers at once: one wins, the other finds the transfer gone.
    vol = await _volume(volume_client, demo)
    made = await _offer(volume_client, demo, vol["id"])
    other = await make_user(rt, name="third", project="third", roles=("member",))
    results = await asyncio.gather(*(
        volume_client.post(_url(who, f"/{made['id']}/accept"),
                           json={"accept": {"auth_key": made["auth_key"]}}, headers=who.headers)
        for who in (alt, other)
    ))
    assert sorted(r.status_code for r in results) == [202, 404], [r.text for r in results]
    winner = alt if results[0].status_code == 202 else other
    shown = await wait_status(volume_client, winner, vol["id"], "available")
    assert shown["os-vol-tenant-attr:tenant_id"] == winner.project_id


async def test_v2_and_project_less_paths(volume_client, demo, alt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    resp = await volume_client.post(_url(demo, api="v2"),
                                    json={"transfer": {"volume_id": vol["id"]}},
                                    headers=demo.headers)
    assert resp.status_code == 202, resp.text
    made = resp.json()["transfer"]
    assert set(made) == CREATE_KEYS
    assert made["links"][0]["href"].endswith(
        f"/v2/{demo.project_id}/os-volume-transfer/{made['id']}"
    )
    assert "OpenStack-API-Version" not in resp.headers
    shown = await volume_client.get(f"/v3/os-volume-transfer/{made['id']}", headers=demo.headers)
    assert shown.status_code == 200
    assert shown.headers["OpenStack-API-Version"] == "volume 3.0"
    listed = await volume_client.get("/v2/" + demo.project_id + "/os-volume-transfer/detail",
                                     headers=demo.headers)
    assert [t["id"] for t in listed.json()["transfers"]] == [made["id"]]
    # The URL's project must be the token's.
    resp = await volume_client.get(_url(alt, f"/{made['id']}"), headers=demo.headers)
    assert (resp.status_code, _message(resp)) == (400, "Malformed request url")
    resp = await volume_client.post(f"/v3/os-volume-transfer/{made['id']}/accept",
                                    json={"accept": {"auth_key": made["auth_key"]}},
                                    headers=alt.headers)
    assert resp.status_code == 202
    await wait_status(volume_client, alt, vol["id"], "available")
    # No trailing slash, no other methods.
    resp = await volume_client.put(_url(demo, f"/{made['id']}"), json={}, headers=demo.headers)
    assert resp.status_code == 405


@pytest.mark.parametrize("version", [None, "volume 3.0", "volume 3.3", "volume 3.54"])
async def test_volume_transfers_need_3_55(volume_client, demo, version) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    headers = {**demo.headers, **({"OpenStack-API-Version": version} if version else {})}
    for method, path, body in (
        ("GET", "", None), ("GET", "/detail", None), ("GET", f"/{MISSING}", None),
        ("DELETE", f"/{MISSING}", None),
        ("POST", "", {"transfer": {"volume_id": vol["id"]}}),
        ("POST", f"/{MISSING}/accept", {"accept": {"auth_key": "x"}}),
    ):
        resp = await volume_client.request(
            method, f"/v3/{demo.project_id}/volume-transfers{path}", json=body, headers=headers
        )
        assert (resp.status_code, _message(resp)) == (404, "The resource could not be found.")
        assert resp.headers["OpenStack-API-Version"].startswith("volume 3.")
    resp = await volume_client.get(f"/v2/{demo.project_id}/volume-transfers", headers=headers)
    assert resp.status_code == 404
    # Nothing was offered.
    await wait_status(volume_client, demo, vol["id"], "available")


async def test_volume_transfers_once_the_maximum_reaches_3_55(  # type: ignore[no-untyped-def]
    volume_client, demo, alt, monkeypatch,
) -> None:
    """Raising the served maximum is all it takes: /volume-transfers, no_snapshots and
    the 3.55/3.57 views then answer."""
    monkeypatch.setattr(versions, "MAX", ApiVersion(3, 59))
    vol = await _volume(volume_client, demo)
    snap = await _snapshot(volume_client, demo, vol["id"])
    v355 = {**demo.headers, "OpenStack-API-Version": "volume 3.55"}
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volume-transfers",
        json={"transfer": {"volume_id": vol["id"], "no_snapshots": "true"}}, headers=v355,
    )
    assert resp.status_code == 202, resp.text
    made = resp.json()["transfer"]
    assert set(made) == CREATE_KEYS | {"no_snapshots"}
    assert made["no_snapshots"] is True
    shown = await volume_client.get(
        f"/v3/{demo.project_id}/volume-transfers/{made['id']}",
        headers={**demo.headers, "OpenStack-API-Version": "volume 3.57"},
    )
    assert shown.json()["transfer"]["source_project_id"] == demo.project_id
    assert shown.json()["transfer"]["accepted"] is False
    assert shown.json()["transfer"]["destination_project_id"] is None
    page = await volume_client.get(
        f"/v3/{demo.project_id}/volume-transfers?limit=1&sort=created_at:asc",
        headers={**demo.headers, "OpenStack-API-Version": "volume 3.59"},
    )
    assert [t["id"] for t in page.json()["transfers"]] == [made["id"]]
    taken = await volume_client.post(
        f"/v3/{alt.project_id}/volume-transfers/{made['id']}/accept",
        json={"accept": {"auth_key": made["auth_key"]}},
        headers={**alt.headers, "OpenStack-API-Version": "volume 3.55"},
    )
    assert taken.status_code == 202, taken.text
    await wait_status(volume_client, alt, vol["id"], "available")
    # no_snapshots: the snapshot stays with the giver.
    kept = await volume_client.get(f"/v3/{demo.project_id}/snapshots/{snap['id']}",
                                   headers=demo.headers)
    assert kept.status_code == 200
    assert (await volume_client.get(f"/v3/{alt.project_id}/snapshots/{snap['id']}",
                                    headers=alt.headers)).status_code == 404
