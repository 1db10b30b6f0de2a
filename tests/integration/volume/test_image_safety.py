"""No host file reaches a tenant through image data (real qemu-img, real HTTP APIs).

Each test plants a host file with a unique marker outside the data directory,
builds hostile image data that names it (VMDK descriptors and extents, qcow2
backing and data files), pushes it through the route a tenant would use, and
checks that the volume is refused with a user message and that the marker
appears in no volume, image, staging file or log line.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from cinderlite import app as app_module
from cinderlite.datapath.extents import data_extents
from cinderlite.db.models import Image
from tests.conftest import Identity, login, make_settings, wait_for
from tests.integration.upload.conftest import image_row, make_volume, messages_for
from tests.integration.volume.test_volumes import wait_status

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing"),
]

V33 = {"OpenStack-API-Version": "volume 3.3"}
SECTORS = 128  # the host file's size in 512-byte sectors (64 KiB)


@pytest.fixture
def settings(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    # Volumes from gzip containers are allowed here, so those go through inspection too.
    return make_settings(tmp_path, database_url, allow_compression_on_image_upload=True)


@pytest.fixture(autouse=True)
def _json_errors(image_client: httpx.AsyncClient) -> None:
    image_client.headers["Accept"] = "application/json"


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, bytes]:
    """A host file the service must never copy anywhere: (path, its marker)."""
    marker = f"HOST-SECRET-{uuid.uuid4().hex}".encode()
    path = tmp_path / "host" / "secret.txt"
    path.parent.mkdir()
    path.write_bytes((marker * (SECTORS * 512 // len(marker) + 1))[: SECTORS * 512])
    return path, marker


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def descriptor(create_type: str, extent: str) -> bytes:
    return (
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        f'createType="{create_type}"\n\n# Extent description\n{extent}\n'
    ).encode()


def flat_descriptor(host_file: Path) -> bytes:
    return descriptor("monolithicFlat", f'RW {SECTORS} FLAT "{host_file}" 0')


def assert_nowhere(rt: app_module.Runtime, marker: bytes, caplog: pytest.LogCaptureFixture) -> None:
    """The marker is in no file under the data directory (data extents only) nor the log."""
    for path in Path(rt.settings.data_dir).rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            for start, length in data_extents(fd, os.fstat(fd).st_size):
                data = os.pread(fd, length, start)
                assert marker not in data, f"host file content found in {path}"
        finally:
            os.close(fd)
    assert marker.decode() not in caplog.text


async def put_image(
    image_client: httpx.AsyncClient, who: Identity, data: bytes, *, disk_format: str,
    container_format: str,
) -> str:
    """An image made the way a tenant makes one: POST, then PUT its data (204)."""
    resp = await image_client.post(
        "/v2/images", headers=who.headers,
        json={"name": "hostile", "disk_format": disk_format,
              "container_format": container_format},
    )
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["id"]
    resp = await image_client.put(
        f"/v2/images/{image_id}/file", content=data,
        headers={**who.headers, "Content-Type": "application/octet-stream"},
    )
    assert resp.status_code == 204, resp.text
    return str(image_id)


async def volume_from(volume_client: httpx.AsyncClient, who: Identity, image_id: str) -> str:
    resp = await volume_client.post(
        f"/v3/{who.project_id}/volumes", headers=who.headers,
        json={"volume": {"size": 1, "imageRef": image_id, "name": "from-hostile"}},
    )
    assert resp.status_code == 202, resp.text
    return str(resp.json()["volume"]["id"])


async def assert_refused(
    volume_client: httpx.AsyncClient, who: Identity, volume_id: str, image_id: str
) -> None:
    """The volume ends in error and its owner reads why (Cinder's message for the image)."""
    await wait_status(volume_client, who, volume_id, "error")
    resp = await volume_client.get(
        f"/v3/{who.project_id}/messages", headers={**who.headers, **V33}
    )
    assert resp.status_code == 200
    mine = [m for m in resp.json()["messages"] if m["resource_uuid"] == volume_id]
    assert len(mine) == 1, mine
    assert mine[0]["user_message"] == (
        "copy image to volume:The image disk format must be the same as the volume format "
        "for the volume type you are requesting."
    )
    assert mine[0]["event_id"] == "VOLUME_VOLUME_005_029"


@pytest.mark.parametrize("container_format", ["ovf", "ova", "docker"])
async def test_flat_vmdk_descriptor_in_any_container_reads_no_host_file(
    rt, volume_client, image_client, demo, secret, caplog, container_format: str,
) -> None:  # type: ignore[no-untyped-def]
    host_file, marker = secret
    image_id = await put_image(
        image_client, demo, flat_descriptor(host_file), disk_format="vmdk",
        container_format=container_format,
    )
    volume_id = await volume_from(volume_client, demo, image_id)
    await assert_refused(volume_client, demo, volume_id, image_id)
    assert_nowhere(rt, marker, caplog)


async def test_raw_upload_cannot_be_made_a_vmdk_while_it_runs(
    rt, volume_client, image_client, demo, secret, caplog,
) -> None:  # type: ignore[no-untyped-def]
    """Route b: a volume holding a descriptor, uploaded as raw, then PATCHed to vmdk."""
    host_file, marker = secret
    volume_id = await make_volume(
        rt, project_id=demo.project_id, data=[(0, flat_descriptor(host_file))]
    )
    await rt.jobs.stop()  # the upload stays queued until the PATCH was tried
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{volume_id}/action", headers=demo.headers,
        json={"os-volume_upload_image": {"image_name": "plain", "disk_format": "raw",
                                         "container_format": "bare"}},
    )
    assert resp.status_code == 202, resp.text
    image_id = resp.json()["os-volume_upload_image"]["image_id"]
    resp = await image_client.patch(
        f"/v2/images/{image_id}", headers={
            **demo.headers, "Content-Type": "application/openstack-images-v2.1-json-patch"},
        json=[{"op": "replace", "path": "/disk_format", "value": "vmdk"}],
    )
    assert resp.status_code == 409, resp.text
    assert "cannot change" in resp.json()["message"]
    await rt.jobs.start()

    async def active() -> bool:
        resp = await image_client.get(f"/v2/images/{image_id}", headers=demo.headers)
        return resp.json()["status"] == "active"

    await wait_for(active)
    resp = await image_client.get(f"/v2/images/{image_id}", headers=demo.headers)
    assert (resp.json()["disk_format"], resp.json()["container_format"]) == ("raw", "bare")
    # Once it has data, no client may change the formats at all (Glance's rule).
    resp = await image_client.patch(
        f"/v2/images/{image_id}", headers={
            **demo.headers, "Content-Type": "application/openstack-images-v2.1-json-patch"},
        json=[{"op": "replace", "path": "/disk_format", "value": "vmdk"}],
    )
    assert resp.status_code == 403
    # As raw, the descriptor is only bytes: copied as they are, never interpreted.
    new_volume = await volume_from(volume_client, demo, image_id)
    await wait_status(volume_client, demo, new_volume, "available")
    text = flat_descriptor(host_file)
    with rt.volumes.path(new_volume).open("rb") as fh:
        assert fh.read(len(text) + 512) == text + bytes(512)
    assert_nowhere(rt, marker, caplog)


async def test_upload_whose_formats_changed_meanwhile_is_not_activated(
    rt, volume_client, demo, secret, caplog,
) -> None:  # type: ignore[no-untyped-def]
    """Should a format change reach the row anyway, the upload refuses to activate it."""
    host_file, marker = secret
    volume_id = await make_volume(
        rt, project_id=demo.project_id, data=[(0, flat_descriptor(host_file))]
    )
    await rt.jobs.stop()
    resp = await volume_client.post(
        f"/v3/{demo.project_id}/volumes/{volume_id}/action", headers=demo.headers,
        json={"os-volume_upload_image": {"image_name": "plain", "disk_format": "raw"}},
    )
    image_id = resp.json()["os-volume_upload_image"]["image_id"]
    async with rt.transaction() as db:
        (await db.get(Image, image_id)).disk_format = "vmdk"
    await rt.jobs.start()
    await wait_status(volume_client, demo, volume_id, "available")
    assert await image_row(rt, image_id) is None
    [message] = await messages_for(rt, volume_id)
    assert "changed while the upload wrote its data" in (message.reason or "")
    assert_nowhere(rt, marker, caplog)


def qcow2_backed_by(host_file: Path, out: Path) -> bytes:
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(host_file), str(out))
    return out.read_bytes()


def qcow2_with_data_file(host_file: Path, out: Path) -> bytes:
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={host_file},data_file_raw=on",
             str(out), str(SECTORS * 512))
    return out.read_bytes()


def vmdk_with_sparse_extent(host_file: Path, out: Path) -> bytes:
    """A descriptor whose only extent is a sparse VMDK (holding the host file) elsewhere."""
    other = host_file.with_suffix(".vmdk")
    qemu_img("convert", "-f", "raw", "-O", "vmdk", str(host_file), str(other))
    out.write_bytes(descriptor("twoGbMaxExtentSparse", f'RW {SECTORS} SPARSE "{other}"'))
    return out.read_bytes()


def vmdk_descriptor_posing_as_sparse(host_file: Path, out: Path) -> bytes:
    """A text descriptor claiming monolithicSparse, its extent a bare name (no '/'):
    it passes the format inspector's own checks."""
    out.write_bytes(descriptor("monolithicSparse", f'RW {SECTORS} FLAT "{host_file.name}" 0'))
    return out.read_bytes()


@pytest.mark.parametrize(
    ("make", "disk_format"),
    [
        (qcow2_backed_by, "qcow2"),
        (qcow2_with_data_file, "qcow2"),
        (vmdk_with_sparse_extent, "vmdk"),
        (vmdk_descriptor_posing_as_sparse, "vmdk"),
        (flat_descriptor, "vmdk"),
    ],
    ids=["qcow2-backing-file", "qcow2-data-file", "vmdk-sparse-extent",
         "vmdk-text-as-sparse", "vmdk-flat"],
)
@pytest.mark.parametrize("container_format", ["ovf", "compressed"])
async def test_image_naming_a_host_file_is_refused(
    rt, volume_client, image_client, demo, secret, caplog, tmp_path: Path,
    make, disk_format: str, container_format: str,
) -> None:  # type: ignore[no-untyped-def]
    host_file, marker = secret
    if make is flat_descriptor:
        data = flat_descriptor(host_file)
    else:
        data = make(host_file, tmp_path / f"hostile.{disk_format}")
    if container_format == "compressed":
        data = gzip.compress(data)
    image_id = await put_image(image_client, demo, data, disk_format=disk_format,
                               container_format=container_format)
    volume_id = await volume_from(volume_client, demo, image_id)
    await assert_refused(volume_client, demo, volume_id, image_id)
    assert_nowhere(rt, marker, caplog)
    assert not list(rt.images.staging_dir.iterdir())


async def test_images_that_are_what_they_claim_still_make_volumes(
    rt, volume_client, image_client, demo, tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    """The checks refuse only what they should: a plain qcow2 and a vmdk in ovf, a
    gzip-wrapped qcow2, and a raw disk with a partition table all make volumes."""
    data = os.urandom(1 << 20)
    raw = tmp_path / "disk.raw"
    raw.write_bytes(data)
    made = {}
    for fmt in ("qcow2", "vmdk"):
        out = tmp_path / f"disk.{fmt}"
        qemu_img("convert", "-f", "raw", "-O", fmt, str(raw), str(out))
        made[fmt] = out.read_bytes()
    mbr = bytearray(data)
    mbr[446:510] = bytes(64)  # one partition, the other three entries empty
    mbr[446:462] = bytes([0x80, 0, 2, 0, 0x83, 0, 0, 0]) + (1).to_bytes(4, "little") + (
        2047).to_bytes(4, "little")
    mbr[510:512] = b"\x55\xaa"
    cases = [
        (made["qcow2"], "qcow2", "bare", data),
        (made["vmdk"], "vmdk", "ovf", data),
        (gzip.compress(made["qcow2"]), "qcow2", "compressed", data),
        (bytes(mbr), "raw", "bare", bytes(mbr)),
    ]
    for blob, disk_format, container_format, expected in cases:
        image_id = await put_image(image_client, demo, blob, disk_format=disk_format,
                                   container_format=container_format)
        volume_id = await volume_from(volume_client, demo, image_id)
        await wait_status(volume_client, demo, volume_id, "available")
        with rt.volumes.path(volume_id).open("rb") as fh:
            assert fh.read(len(expected)) == expected, (disk_format, container_format)


async def test_gzip_containers_need_the_operators_consent(
    tmp_path: Path, database_url: str,
) -> None:
    """allow_compression_on_image_upload off (Cinder's default): refused, with Cinder's text."""
    settings = make_settings(tmp_path, database_url)
    async with app_module.open_runtime(settings, run_migrations=False) as rt:
        await rt.services.identity.bootstrap(admin_password="a", demo_password="d")
        await rt.jobs.start()
        demo = await login(rt, user="demo", project="demo")
        transport = httpx.ASGITransport(app=app_module.create_image_app(rt))
        vtransport = httpx.ASGITransport(app=app_module.create_volume_app(rt))
        async with httpx.AsyncClient(transport=transport, base_url="http://i") as images, \
                httpx.AsyncClient(transport=vtransport, base_url="http://v") as volumes:
            images.headers["Accept"] = "application/json"
            image_id = await put_image(images, demo, gzip.compress(b"\0" * 4096),
                                       disk_format="raw", container_format="compressed")
            volume_id = await volume_from(volumes, demo, image_id)
            await wait_status(volumes, demo, volume_id, "error")
            resp = await volumes.get(f"/v3/{demo.project_id}/messages",
                                     headers={**demo.headers, **V33})
            [msg] = resp.json()["messages"]
            assert msg["event_id"] == "VOLUME_VOLUME_005_029"
