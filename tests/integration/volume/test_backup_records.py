"""Backup update (3.9), metadata (3.43), the project attribute (3.18) and
export_record/import_record through the ASGI volume API, with the chunk files
checked on disk and restored bytes compared."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest

from tests.integration.volume.test_backups import (
    _backup,
    _backup_status,
    _restore,
    _scribble,
    _sha,
    _store,
    _url,
    _volume,
)
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration

V39 = {"OpenStack-API-Version": "volume 3.9"}
V318 = {"OpenStack-API-Version": "volume 3.18"}
V343 = {"OpenStack-API-Version": "volume 3.43"}
DRIVER = "cinder.backup.drivers.posix.PosixBackupDriver"


def _h(who, version: dict[str, str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {**who.headers, **version}


async def _available_backup(client, who, rt, **fields):  # type: ignore[no-untyped-def]
    vol = await _volume(client, who)
    _scribble(rt.volumes.path(vol["id"]), (0, 9))
    made = await _backup(client, who, vol["id"], **fields)
    await _backup_status(client, who, made["id"], "available")
    await wait_status(client, who, vol["id"], "available")
    return vol, made


async def test_update_at_3_9_and_metadata_at_3_43(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    _, made = await _available_backup(volume_client, demo, rt, name="old")
    url = _url(demo, f"/{made['id']}")
    # Before 3.9 there is no update.
    resp = await volume_client.put(url, json={"backup": {"name": "x"}}, headers=demo.headers)
    assert resp.status_code == 404
    resp = await volume_client.put(
        f"/v2/{demo.project_id}/backups/{made['id']}", json={"backup": {"name": "x"}},
        headers=demo.headers,
    )
    assert resp.status_code == 404
    resp = await volume_client.put(
        url, json={"backup": {"name": " new ", "description": " d "}}, headers=_h(demo, V39)
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["backup"]["name"] == "new"
    assert set(resp.json()["backup"]) == {"id", "name", "links"}
    shown = (await volume_client.get(url, headers=_h(demo, V39))).json()["backup"]
    assert (shown["name"], shown["description"]) == ("new", "d")
    assert "metadata" not in shown
    # metadata is not known before 3.43 ...
    resp = await volume_client.put(url, json={"backup": {"metadata": {"a": "1"}}},
                                   headers=_h(demo, V39))
    assert resp.status_code == 400
    assert "Additional properties are not allowed" in resp.json()["badRequest"]["message"]
    # ... and replaces the backup's metadata from 3.43.
    resp = await volume_client.put(url, json={"backup": {"metadata": {"a": "1", "b": "2"}}},
                                   headers=_h(demo, V343))
    assert resp.status_code == 200, resp.text
    resp = await volume_client.put(url, json={"backup": {"metadata": {"b": "3"}}},
                                   headers=_h(demo, V343))
    shown = (await volume_client.get(url, headers=_h(demo, V343))).json()["backup"]
    assert shown["metadata"] == {"b": "3"}
    assert shown["name"] == "new"
    resp = await volume_client.put(url, json={"backup": {"metadata": {"k": 1}}},
                                   headers=_h(demo, V343))
    assert resp.status_code == 400
    resp = await volume_client.put(url, json={"backup": {"bogus": 1}}, headers=_h(demo, V39))
    assert resp.status_code == 400
    resp = await volume_client.put(url, json={"backup": None}, headers=_h(demo, V39))
    assert resp.status_code == 200
    resp = await volume_client.put(_url(demo, f"/{uuid.uuid4()}"),
                                   json={"backup": {"name": "x"}}, headers=_h(demo, V39))
    assert resp.status_code == 404


async def test_create_with_metadata_and_admin_attributes(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    resp = await volume_client.post(
        _url(demo), json={"backup": {"volume_id": vol["id"], "metadata": {"k": "v"}}},
        headers=demo.headers,
    )
    assert resp.status_code == 400  # metadata arrives with 3.43
    resp = await volume_client.post(
        _url(demo), json={"backup": {"volume_id": vol["id"], "metadata": {"k": "v"}}},
        headers=_h(demo, V343),
    )
    assert resp.status_code == 202, resp.text
    made = resp.json()["backup"]
    shown = await _backup_status(volume_client, demo, made["id"], "available")
    assert "metadata" not in shown
    shown = (await volume_client.get(_url(demo, f"/{made['id']}"),
                                     headers=_h(demo, V343))).json()["backup"]
    assert shown["metadata"] == {"k": "v"}
    assert "os-backup-project-attr:project_id" not in shown
    # The project attribute: admins at 3.18, in show and in the detailed list.
    admin_url = f"/v3/{admin.project_id}/backups"
    shown = (await volume_client.get(f"{admin_url}/{made['id']}",
                                     headers=_h(admin, V318))).json()["backup"]
    assert shown["os-backup-project-attr:project_id"] == demo.project_id
    listed = (await volume_client.get(f"{admin_url}/detail?all_tenants=1",
                                      headers=_h(admin, V318))).json()["backups"]
    mine = [b for b in listed if b["id"] == made["id"]]
    assert mine
    assert mine[0]["os-backup-project-attr:project_id"] == demo.project_id
    shown = (await volume_client.get(f"{admin_url}/{made['id']}",
                                     headers=admin.headers)).json()["backup"]
    assert "os-backup-project-attr:project_id" not in shown


def _record(url: str) -> dict:  # type: ignore[type-arg]
    return json.loads(base64.b64decode(url))


def _encode(record: dict) -> str:  # type: ignore[type-arg]
    return base64.b64encode(json.dumps(record).encode()).decode()


async def test_export_then_import_under_a_new_id(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    vol, made = await _available_backup(volume_client, demo, rt, name="exported")
    before = _sha(rt.volumes.path(vol["id"]))
    # Admins only.
    resp = await volume_client.get(_url(demo, f"/{made['id']}/export_record"),
                                   headers=demo.headers)
    assert resp.status_code == 403
    resp = await volume_client.get(f"/v3/{admin.project_id}/backups/{made['id']}/export_record",
                                   headers=admin.headers)
    assert resp.status_code == 200, resp.text
    exported = resp.json()["backup-record"]
    assert exported["backup_service"] == DRIVER
    record = _record(exported["backup_url"])
    assert record["id"] == made["id"]
    assert record["size"] == 1
    assert record["display_name"] == "exported"
    new_id = str(uuid.uuid4())
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/backups/import_record",
        json={"backup-record": {"backup_service": DRIVER,
                                "backup_url": _encode({**record, "id": new_id})}},
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["backup"]["id"] == new_id
    imported = await _backup_status(volume_client, admin, new_id, "available")
    assert imported["name"] == "exported"
    assert imported["object_count"] == made_objects(rt, made["id"])
    # The chunk files have a second name: the same inodes, nothing copied.
    old, new = _store(rt, made["id"]), _store(rt, new_id)
    for path in old.iterdir():
        assert (new / path.name).stat().st_ino == path.stat().st_ino
    # Deleting the original leaves the imported one whole: restore it, compare.
    resp = await volume_client.delete(_url(demo, f"/{made['id']}"), headers=demo.headers)
    assert resp.status_code == 202
    assert not old.exists()
    restored = await _restore(volume_client, admin, new_id)
    await wait_status(volume_client, admin, restored["volume_id"], "available")
    assert _sha(rt.volumes.path(restored["volume_id"])) == before
    # The same record again: that id exists now.
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/backups/import_record",
        json={"backup-record": {"backup_service": DRIVER,
                                "backup_url": _encode({**record, "id": new_id})}},
        headers=admin.headers,
    )
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Invalid backup: Backup already exists in database."
    )


def made_objects(rt, backup_id: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for p in _store(rt, backup_id).iterdir() if p.name.startswith("chunk-"))


async def test_import_after_the_row_is_lost(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    """The use Cinder documents: the database lost the row, the bytes are there;
    importing the record under its own id makes the backup restorable again."""
    vol, made = await _available_backup(volume_client, demo, rt)
    before = _sha(rt.volumes.path(vol["id"]))
    url = (await volume_client.get(
        f"/v3/{admin.project_id}/backups/{made['id']}/export_record", headers=admin.headers,
    )).json()["backup-record"]["backup_url"]
    async with rt.db.write() as db:
        from sqlalchemy import text

        await db.execute(text("DELETE FROM backups WHERE id = :id"), {"id": made["id"]})
    assert (await volume_client.get(_url(demo, f"/{made['id']}"), headers=demo.headers)
            ).status_code == 404
    inode = (_store(rt, made["id"]) / "metadata.json").stat().st_ino
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/backups/import_record",
        json={"backup-record": {"backup_service": DRIVER, "backup_url": url}},
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    await _backup_status(volume_client, admin, made["id"], "available")
    assert (_store(rt, made["id"]) / "metadata.json").stat().st_ino == inode
    restored = await _restore(volume_client, admin, made["id"])
    await wait_status(volume_client, admin, restored["volume_id"], "available")
    assert _sha(rt.volumes.path(restored["volume_id"])) == before


async def test_import_refusals(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    _, made = await _available_backup(volume_client, demo, rt)
    url = (await volume_client.get(
        f"/v3/{admin.project_id}/backups/{made['id']}/export_record", headers=admin.headers,
    )).json()["backup-record"]["backup_url"]
    record = _record(url)
    path = f"/v3/{admin.project_id}/backups/import_record"

    async def post(body, who=admin):  # type: ignore[no-untyped-def]
        where = path if who is admin else _url(who, "/import_record")
        return await volume_client.post(where, json=body, headers=who.headers)

    def rec(url: str, service: str = DRIVER) -> dict:  # type: ignore[type-arg]
        return {"backup-record": {"backup_service": service, "backup_url": url}}

    resp = await post(rec(_encode({**record, "id": str(uuid.uuid4())})), who=demo)
    assert resp.status_code == 403
    for body, message in [
        (rec("!!!not base64"), "Invalid input received: Can't parse backup record."),
        (rec(base64.b64encode(b"{nope").decode()),
         "Invalid input received: Can't parse backup record."),
        (rec(_encode({"size": 1})),
         "Invalid input received: Provided backup record is missing an id"),
        (rec(_encode({"id": str(uuid.uuid4())})),
         "Invalid input received: Provided backup record is missing size attribute"),
        (rec(_encode({**record, "id": "../../etc"})),
         "Invalid input received: Provided backup record has an id that is not a UUID"),
        (rec(url), "Invalid backup: Backup already exists in database."),
    ]:
        resp = await post(body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["badRequest"]["message"] == message
    resp = await post({"backup-record": {"backup_service": DRIVER}})
    assert resp.status_code == 400
    # Records Cinder's manager would not import end as `error` backups, as there.
    cases = [
        (rec(_encode({**record, "id": str(uuid.uuid4())}), service="cinder.backup.drivers.nfs"),
         "Import record failed, cannot find backup service to perform the import. "
         "Request service cinder.backup.drivers.nfs."),
        (rec(_encode({k: v for k, v in record.items() if k != "container"} | {
            "id": str(uuid.uuid4())})),
         "Driver successfully decoded imported backup data, but there are missing fields "
         "(container)."),
        (rec(_encode({**record, "id": str(uuid.uuid4()), "service_metadata": "../x"})),
         "The backup record's service_metadata names no backup of this service."),
        (rec(_encode({**record, "id": str(uuid.uuid4()), "size": 2})), None),
        (rec(_encode({**record, "id": str(uuid.uuid4()),
                      "service_metadata": str(uuid.uuid4())})), None),
    ]
    for body, reason in cases:
        resp = await post(body)
        assert resp.status_code == 201, resp.text
        new_id = resp.json()["backup"]["id"]
        failed = await _backup_status(volume_client, admin, new_id, "error")
        if reason is not None:
            assert failed["fail_reason"] == reason
        assert not _store(rt, new_id).exists()
    # The original is untouched by all of this.
    assert (await _backup_status(volume_client, demo, made["id"], "available"))
    assert (_store(rt, made["id"]) / "metadata.json").exists()


async def test_an_import_cut_short_is_failed_at_start(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    """A crash after the row (`creating`) and the linked files, before `available`:
    start-up recovery fails it and removes its links; the original stays whole."""
    _, made = await _available_backup(volume_client, demo, rt)
    new_id = str(uuid.uuid4())
    original = await rt.services.backups.get(admin.caller, made["id"])
    async with rt.db.write() as db:
        from sqlalchemy import text

        await db.execute(
            text("INSERT INTO backups (id, project_id, user_id, volume_id, status, size, "
                 "object_count, data_timestamp, meta, created_at) VALUES (:id, :p, :u, :v, "
                 "'creating', 1, 0, :t, '{}', :t)"),
            {"id": new_id, "p": admin.project_id, "u": admin.caller.user_id,
             "v": "00000000-0000-0000-0000-000000000000", "t": original.created_at},
        )
    # What the import had done by then: the chunk files linked under the new id.
    _store(rt, new_id).mkdir(mode=0o700)
    for path in _store(rt, made["id"]).iterdir():
        os.link(path, _store(rt, new_id) / path.name)
    await rt.services.backups.recover()
    failed = await _backup_status(volume_client, admin, new_id, "error")
    assert failed["fail_reason"] == "incomplete backup reset on manager restart"
    assert not _store(rt, new_id).exists()
    assert (await _backup_status(volume_client, demo, made["id"], "available"))
    assert (_store(rt, made["id"]) / "metadata.json").exists()


async def test_backup_count_at_3_45(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol, first = await _available_backup(volume_client, demo, rt)
    second = await _backup(volume_client, demo, vol["id"], name="second")
    await _backup_status(volume_client, demo, second["id"], "available")
    for path in ("", "/detail"):
        resp = await volume_client.get(_url(demo, f"{path}?with_count=true&limit=1"),
                                       headers=_h(demo, {"OpenStack-API-Version": "volume 3.45"}))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["count"] == 2
        assert len(body["backups"]) == 1
        resp = await volume_client.get(_url(demo, f"{path}?with_count=false"),
                                       headers=_h(demo, {"OpenStack-API-Version": "volume 3.45"}))
        assert "count" not in resp.json()
        resp = await volume_client.get(_url(demo, f"{path}?with_count=maybe"),
                                       headers=_h(demo, {"OpenStack-API-Version": "volume 3.45"}))
        assert resp.status_code == 400
    assert first["id"] != second["id"]


async def test_import_counts_against_the_backups_quota(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    _, made = await _available_backup(volume_client, demo, rt)
    url = (await volume_client.get(
        f"/v3/{admin.project_id}/backups/{made['id']}/export_record", headers=admin.headers,
    )).json()["backup-record"]["backup_url"]
    resp = await volume_client.put(
        f"/v3/{admin.project_id}/os-quota-sets/{admin.project_id}",
        json={"quota_set": {"backups": 0}}, headers=admin.headers,
    )
    assert resp.status_code == 200, resp.text
    new_id = str(uuid.uuid4())
    resp = await volume_client.post(
        f"/v3/{admin.project_id}/backups/import_record",
        json={"backup-record": {"backup_service": DRIVER,
                                "backup_url": _encode({**_record(url), "id": new_id})}},
        headers=admin.headers,
    )
    assert resp.status_code == 413, resp.text
    assert "backups" in resp.text.lower()
    assert (await volume_client.get(f"/v3/{admin.project_id}/backups/{new_id}",
                                    headers=admin.headers)).status_code == 404
    assert not _store(rt, new_id).exists()


async def test_backup_availability_zone_at_3_51(volume_client, demo, rt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.api.volume import versions
    from cinderlite.api.volume.context import ApiVersion

    if ApiVersion(3, 51) > versions.MAX:
        monkeypatch.setattr(versions, "MAX", ApiVersion(3, 51))
    vol = await _volume(volume_client, demo)

    async def make(version: str, zone: str):  # type: ignore[no-untyped-def]
        return await volume_client.post(
            _url(demo), headers=_h(demo, {"OpenStack-API-Version": f"volume {version}"}),
            json={"backup": {"volume_id": vol["id"], "availability_zone": zone}})

    resp = await make("3.50", "nova")
    assert resp.status_code == 400  # not part of the body before 3.51
    resp = await make("3.51", "elsewhere")
    assert resp.status_code == 503
    assert resp.json()["serviceUnavailable"]["message"] == (
        "Service cinder-backup could not be found.")
    assert (await wait_status(volume_client, demo, vol["id"], "available"))["status"] == (
        "available")
    resp = await make("3.51", "nova")
    assert resp.status_code == 202, resp.text
    made = await _backup_status(volume_client, demo, resp.json()["backup"]["id"], "available")
    assert made["availability_zone"] == "nova"
