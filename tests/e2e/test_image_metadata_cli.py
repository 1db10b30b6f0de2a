"""Volume image metadata with the real clients against a served cinderlite: a volume
made from an image with `hw_*` properties, `openstack volume set/unset
--image-property`, `cinder image-metadata ... set/unset`, `cinder
image-metadata-show`, then an upload whose image carries the custom keys."""

from __future__ import annotations

import os

import pytest

from tests.e2e.support import Api, LiveServer, parse_table, run_cli, run_json

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

HW = {"hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi", "os_distro": "ubuntu"}


def test_image_properties_through_volume_and_back(server: LiveServer, demo_api: Api) -> None:
    env = server.demo_env
    data = server.workdir / "hw.raw"
    data.write_bytes(os.urandom(2 << 20))
    props = [arg for k, v in HW.items() for arg in ("--property", f"{k}={v}")]
    image = run_json(["openstack", "image", "create", "--disk-format", "raw",
                      "--container-format", "bare", "--file", str(data), *props, "hwimg"], env)
    demo_api.wait_image(image["id"])

    vol = run_json(["openstack", "volume", "create", "--image", image["id"], "--size", "1",
                    "hwvol"], env)
    shown = demo_api.wait_volume(vol["id"], "available")
    meta = shown["volume_image_metadata"]
    assert {k: meta[k] for k in HW} == HW
    assert meta["image_id"] == image["id"]
    assert meta["image_name"] == "hwimg"
    cli_shown = run_json(["openstack", "volume", "show", "hwvol"], env)
    assert "hw_scsi_model" in str(cli_shown["volume_image_metadata"])

    # openstack volume set/unset --image-property
    run_cli(["openstack", "volume", "set", "--image-property", "hw_qemu_guest_agent=yes",
             "--image-property", "hw_rng_model=virtio", "hwvol"], env)
    run_cli(["openstack", "volume", "unset", "--image-property", "os_distro", "hwvol"], env)
    meta = demo_api.wait_volume(vol["id"], "available")["volume_image_metadata"]
    assert meta["hw_qemu_guest_agent"] == "yes"
    assert meta["hw_rng_model"] == "virtio"
    assert "os_distro" not in meta

    # cinder image-metadata <volume> set/unset, cinder image-metadata-show
    run_cli(["cinder", "image-metadata", "hwvol", "set", "hw_video_model=virtio"], env)
    run_cli(["cinder", "image-metadata", "hwvol", "unset", "hw_rng_model"], env)
    table = parse_table(run_cli(["cinder", "image-metadata-show", vol["id"]], env).stdout)
    assert table["hw_video_model"] == "virtio"
    assert table["hw_disk_bus"] == "scsi"
    assert table["image_id"] == image["id"]
    assert "hw_rng_model" not in table
    # A key the volume does not have: Cinder's 404, and the client says so.
    refused = run_cli(["openstack", "volume", "unset", "--image-property", "nope", "hwvol"],
                      env, check=False)
    assert refused.returncode != 0

    # The upload: the new image has the custom keys, not the core ones.
    started = run_json(["openstack", "image", "create", "--volume", "hwvol", "fromhw"], env)
    uploaded = demo_api.wait_image(started["image_id"])
    demo_api.wait_volume(vol["id"], "available")
    for key, value in {"hw_disk_bus": "scsi", "hw_scsi_model": "virtio-scsi",
                       "hw_qemu_guest_agent": "yes", "hw_video_model": "virtio"}.items():
        assert uploaded[key] == value, uploaded
    for key in ("image_id", "image_name", "os_distro", "hw_rng_model"):
        assert key not in uploaded, key
    assert uploaded["name"] == "fromhw"
    assert uploaded["id"] == started["image_id"]
    cli_image = run_json(["openstack", "image", "show", "fromhw"], env)
    assert "hw_video_model" in str(cli_image["properties"])
    assert "image_name" not in str(cli_image["properties"])
