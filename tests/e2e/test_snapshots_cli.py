"""Snapshots, volumes from snapshots and clones with the real clients against a served
cinderlite: `openstack volume snapshot ...`, `openstack volume create --snapshot/--source`,
`cinder snapshot-*`, and openstacksdk's block storage calls; bytes compared on disk."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.e2e.support import Api, LiveServer, run_cli, run_json, same_bytes, wait_until, write_at
from tests.e2e.test_sdk import connect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def snapshot_file(server: LiveServer, snapshot_id: str) -> Any:
    return server.data_dir / "volumes" / f"snapshot-{snapshot_id}"


def wait_snapshot(api: Api, snapshot_id: str, status: str) -> None:
    import httpx

    def probe() -> bool:
        resp = httpx.get(
            f"{api.server.volume_url}/v3/{api.project_id}/snapshots/{snapshot_id}",
            headers=api.headers, timeout=10, trust_env=False,
        )
        if status == "gone":
            return resp.status_code == 404
        assert resp.status_code == 200, resp.text
        assert not resp.json()["snapshot"]["status"].startswith("error"), resp.text
        return bool(resp.json()["snapshot"]["status"] == status)

    wait_until(probe, timeout=60, what=f"snapshot {snapshot_id} {status}")


def test_openstack_snapshot_create_list_show_set_delete_and_volumes_from_it(
    server: LiveServer, demo_api: Api
) -> None:
    env = server.demo_env
    vol = run_json(["openstack", "volume", "create", "--size", "1", "snapsrc"], env)
    demo_api.wait_volume(vol["id"], "available")
    src = server.volume_file(vol["id"])
    write_at(src, 5 << 20, os.urandom(1 << 20))
    write_at(src, 900 << 20, os.urandom(512 << 10))

    snap = run_json(["openstack", "volume", "snapshot", "create", "--volume", vol["id"],
                     "--description", "first", "--property", "k=v", "s1"], env)
    assert snap["name"] == "s1"
    assert snap["volume_id"] == vol["id"]
    wait_snapshot(demo_api, snap["id"], "available")
    assert same_bytes(snapshot_file(server, snap["id"]), src)

    listed = run_json(["openstack", "volume", "snapshot", "list"], env)
    assert [s["ID"] for s in listed] == [snap["id"]]
    assert listed[0]["Status"] == "available"
    shown = run_json(["openstack", "volume", "snapshot", "show", "s1"], env)
    assert shown["properties"] in ({"k": "v"}, "k='v'")
    run_cli(["openstack", "volume", "snapshot", "set", "--name", "s1b", snap["id"]], env)
    assert run_json(["openstack", "volume", "snapshot", "show", snap["id"]], env)["name"] == "s1b"

    # A volume made from the snapshot and a clone of the volume: the same bytes.
    from_snap = run_json(["openstack", "volume", "create", "--snapshot", snap["id"],
                          "fromsnap"], env)
    demo_api.wait_volume(from_snap["id"], "available")
    assert same_bytes(server.volume_file(from_snap["id"]), src)
    clone = run_json(["openstack", "volume", "create", "--source", vol["id"], "--size", "2",
                      "clone"], env)
    shown_clone = demo_api.wait_volume(clone["id"], "available")
    assert shown_clone["source_volid"] == vol["id"]
    assert server.volume_file(clone["id"]).stat().st_size == 2 << 30

    # The volume keeps its snapshot: deleting it is refused until the snapshot goes.
    refused = run_cli(["openstack", "volume", "delete", vol["id"]], env, check=False)
    assert refused.returncode != 0
    assert "have snapshots" in refused.stdout + refused.stderr
    run_cli(["openstack", "volume", "snapshot", "delete", snap["id"]], env)
    wait_snapshot(demo_api, snap["id"], "gone")
    assert not snapshot_file(server, snap["id"]).exists()
    for volume_id in (vol["id"], from_snap["id"], clone["id"]):
        run_cli(["openstack", "volume", "delete", volume_id], env)
        demo_api.wait_volume_gone(volume_id)


def test_cinder_snapshot_commands_and_cascade_delete(server: LiveServer, demo_api: Api) -> None:
    env = server.demo_env
    out = run_cli(["cinder", "create", "--name", "cvol", "1"], env).stdout
    volume_id = next(line.split("|")[2].strip() for line in out.splitlines()
                     if line.startswith("| id "))
    demo_api.wait_volume(volume_id, "available")
    out = run_cli(["cinder", "snapshot-create", "--name", "csnap", volume_id], env).stdout
    snapshot_id = next(line.split("|")[2].strip() for line in out.splitlines()
                       if line.startswith("| id "))
    wait_snapshot(demo_api, snapshot_id, "available")
    listed = run_cli(["cinder", "snapshot-list"], env).stdout
    assert snapshot_id in listed
    run_cli(["cinder", "delete", "--cascade", volume_id], env)
    demo_api.wait_volume_gone(volume_id)
    wait_snapshot(demo_api, snapshot_id, "gone")


def test_sdk_snapshot_and_volume_from_it(server: LiveServer) -> None:
    conn = connect(server)
    try:
        bs = conn.block_storage
        volume = bs.create_volume(size=1, name="sdksrc")
        volume = bs.wait_for_status(volume, "available", failures=["error"], interval=0.5,
                                    wait=60)
        write_at(server.volume_file(volume.id), 3 << 20, os.urandom(1 << 20))
        snap = bs.create_snapshot(volume_id=volume.id, name="sdksnap")
        snap = bs.wait_for_status(snap, "available", failures=["error"], interval=0.5, wait=60)
        assert snap.volume_id == volume.id
        assert snap.size == 1
        assert any(s.id == snap.id for s in bs.snapshots())
        made = bs.create_volume(size=1, snapshot_id=snap.id, name="sdkfromsnap")
        made = bs.wait_for_status(made, "available", failures=["error"], interval=0.5, wait=60)
        assert made.snapshot_id == snap.id
        assert same_bytes(server.volume_file(made.id), server.volume_file(volume.id))
        bs.delete_snapshot(snap)
        bs.wait_for_delete(snap, interval=0.5, wait=60)
        for v in (made, volume):
            bs.delete_volume(v)
            bs.wait_for_delete(v, interval=0.5, wait=60)
    finally:
        conn.close()
