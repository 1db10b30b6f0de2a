"""Backups with the real clients against a served cinderlite: `openstack volume backup
create/list/show/restore/delete`, `cinder backup-create/backup-restore`, and
openstacksdk's backup calls; the restored volumes' bytes compared with the originals."""

from __future__ import annotations

import os

import pytest

from tests.e2e.support import Api, LiveServer, run_cli, run_json, same_bytes, wait_until, write_at
from tests.e2e.test_sdk import connect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def wait_backup(api: Api, backup_id: str, status: str) -> dict:  # type: ignore[type-arg]
    import httpx

    seen: dict = {}  # type: ignore[type-arg]

    def probe() -> bool:
        resp = httpx.get(
            f"{api.server.volume_url}/v3/{api.project_id}/backups/{backup_id}",
            headers=api.headers, timeout=10, trust_env=False,
        )
        if status == "gone":
            return resp.status_code == 404
        assert resp.status_code == 200, resp.text
        seen.update(resp.json()["backup"])
        assert not seen["status"].startswith("error"), resp.text
        return bool(seen["status"] == status)

    wait_until(probe, timeout=60, what=f"backup {backup_id} {status}")
    return seen


def test_openstack_backup_create_list_show_restore_delete(
    server: LiveServer, demo_api: Api
) -> None:
    env = server.demo_env
    vol = run_json(["openstack", "volume", "create", "--size", "1", "bsrc"], env)
    demo_api.wait_volume(vol["id"], "available")
    src = server.volume_file(vol["id"])
    write_at(src, 5 << 20, os.urandom(1 << 20))
    write_at(src, 900 << 20, os.urandom(512 << 10))

    full = run_json(["openstack", "volume", "backup", "create", "--name", "b1",
                     "--description", "first", vol["id"]], env)
    wait_backup(demo_api, full["id"], "available")
    demo_api.wait_volume(vol["id"], "available")
    listed = run_json(["openstack", "volume", "backup", "list"], env)
    assert [b["ID"] for b in listed] == [full["id"]]
    assert listed[0]["Status"] == "available"
    shown = run_json(["openstack", "volume", "backup", "show", "b1"], env)
    assert shown["volume_id"] == vol["id"]
    assert shown["is_incremental"] is False

    # An incremental after a small change; restored into a new volume: the new bytes.
    write_at(src, 5 << 20, os.urandom(4096))
    incr = run_json(["openstack", "volume", "backup", "create", "--incremental",
                     "--name", "b2", vol["id"]], env)
    assert wait_backup(demo_api, incr["id"], "available")["is_incremental"] is True
    demo_api.wait_volume(vol["id"], "available")
    restored = run_json(["openstack", "volume", "backup", "restore", incr["id"], "fromb2"], env)
    new_id = restored["volume_id"]
    demo_api.wait_volume(new_id, "available")
    wait_backup(demo_api, incr["id"], "available")
    assert same_bytes(server.volume_file(new_id), src)

    # The parent cannot go before its incremental.
    refused = run_cli(["openstack", "volume", "backup", "delete", full["id"]], env, check=False)
    assert refused.returncode != 0
    assert "Incremental backups exist for this backup" in refused.stdout + refused.stderr
    for b in (incr, full):
        run_cli(["openstack", "volume", "backup", "delete", b["id"]], env)
        wait_backup(demo_api, b["id"], "gone")
    assert not any((server.data_dir / "backups").iterdir())


def test_cinder_backup_create_and_restore_to_an_existing_volume(
    server: LiveServer, demo_api: Api
) -> None:
    env = server.demo_env
    out = run_cli(["cinder", "create", "--name", "cbsrc", "1"], env).stdout
    volume_id = next(line.split("|")[2].strip() for line in out.splitlines()
                     if line.startswith("| id "))
    demo_api.wait_volume(volume_id, "available")
    src = server.volume_file(volume_id)
    write_at(src, 0, os.urandom(3 << 20))
    out = run_cli(["cinder", "backup-create", "--name", "cb", volume_id], env).stdout
    backup_id = next(line.split("|")[2].strip() for line in out.splitlines()
                     if line.startswith("| id "))
    wait_backup(demo_api, backup_id, "available")
    demo_api.wait_volume(volume_id, "available")
    out = run_cli(["cinder", "create", "--name", "cbdst", "1"], env).stdout
    target = next(line.split("|")[2].strip() for line in out.splitlines()
                  if line.startswith("| id "))
    demo_api.wait_volume(target, "available")
    write_at(server.volume_file(target), 700 << 20, os.urandom(1 << 20))  # stale data
    run_cli(["cinder", "backup-restore", "--volume", target, backup_id], env)
    demo_api.wait_volume(target, "available")
    wait_backup(demo_api, backup_id, "available")
    assert same_bytes(server.volume_file(target), src)
    assert backup_id in run_cli(["cinder", "backup-list"], env).stdout
    run_cli(["cinder", "backup-delete", backup_id], env)
    wait_backup(demo_api, backup_id, "gone")


def test_sdk_backup_and_restore(server: LiveServer) -> None:
    conn = connect(server)
    try:
        bs = conn.block_storage
        volume = bs.create_volume(size=1, name="sdkbsrc")
        volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5,
                                    wait=60)
        write_at(server.volume_file(volume.id), 3 << 20, os.urandom(1 << 20))
        backup = bs.create_backup(volume_id=volume.id, name="sdkb")
        backup = bs.wait_for_status(backup, "available", failures=["error"], interval=0.5,
                                    wait=60)
        assert backup.volume_id == volume.id
        assert any(b.id == backup.id for b in bs.backups())
        bs.wait_for_status(volume, "available", failures=["error"], interval=0.5, wait=60)
        result = bs.restore_backup(backup, name="sdkrestored")
        made = bs.get_volume(result["volume_id"])
        made = bs.wait_for_status(made, "available", failures=["error", "error_restoring"],
                                  interval=0.5, wait=60)
        assert same_bytes(server.volume_file(made.id), server.volume_file(volume.id))
        bs.wait_for_status(backup, "available", failures=["error"], interval=0.5, wait=60)
        bs.delete_backup(backup)
        bs.wait_for_delete(backup, interval=0.5, wait=60)
        for v in (made, volume):
            bs.delete_volume(v)
            bs.wait_for_delete(v, interval=0.5, wait=60)
    finally:
        conn.close()


def test_volume_from_a_backup_and_backup_records_with_the_clients(
    server: LiveServer, demo_api: Api
) -> None:
    """`cinder create --backup-id` (3.47), `cinder backup-update` (3.9) and an admin's
    `cinder backup-export` / `backup-import` under another id: bytes compared."""
    env = server.demo_env
    vol = run_json(["openstack", "volume", "create", "--size", "1", "rsrc"], env)
    demo_api.wait_volume(vol["id"], "available")
    src = server.volume_file(vol["id"])
    write_at(src, 7 << 20, os.urandom(1 << 20))
    made = run_json(["openstack", "volume", "backup", "create", "--name", "rb", vol["id"]], env)
    wait_backup(demo_api, made["id"], "available")
    demo_api.wait_volume(vol["id"], "available")

    run_cli(["cinder", "--os-volume-api-version", "3.9", "backup-update", "--name", "renamed",
             made["id"]], env)
    assert wait_backup(demo_api, made["id"], "available")["name"] == "renamed"

    out = run_cli(["cinder", "--os-volume-api-version", "3.47", "create", "--backup-id",
                   made["id"], "--name", "frombackup"], env).stdout
    new_id = next(line.split("|")[2].strip() for line in out.splitlines()
                  if line.startswith("|") and line.split("|")[1].strip() == "id")
    demo_api.wait_volume(new_id, "available")
    wait_backup(demo_api, made["id"], "available")
    assert same_bytes(server.volume_file(new_id), src)

    admin = server.admin_env
    exported = run_cli(["cinder", "backup-export", made["id"]], admin).stdout
    fields = {line.split("|")[1].strip(): line.split("|")[2].strip()
              for line in exported.splitlines() if line.count("|") >= 3}
    assert fields["backup_service"] == "cinder.backup.drivers.posix.PosixBackupDriver"
    # The record under its own id is refused while the backup exists.
    refused = run_cli(["cinder", "backup-import", fields["backup_service"],
                       fields["backup_url"]], admin, check=False)
    assert refused.returncode != 0
    assert "Backup already exists in database" in refused.stdout + refused.stderr
