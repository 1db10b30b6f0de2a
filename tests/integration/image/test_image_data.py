"""PUT/GET /v2/images/{id}/file: streaming into the store, checksums, format
inspection on real qemu-img images, failure restores `queued`, recovery."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from cinderlite.db import images as images_db
from cinderlite.db import jobs as jobs_db
from cinderlite.domain import images as image_rules
from cinderlite.domain import jobs as job_rules
from cinderlite.domain.clock import utcnow
from tests.conftest import make_settings, make_user, wait_for

pytestmark = pytest.mark.integration

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
OCTET = {"Content-Type": "application/octet-stream"}
MiB = 1 << 20


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


async def new_image(client: httpx.AsyncClient, who, **body) -> str:  # type: ignore[no-untyped-def]
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    resp = await client.post("/v2/images", json=body, headers=who.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def put(client: httpx.AsyncClient, who, image_id: str, data) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.put(f"/v2/images/{image_id}/file", content=data,
                            headers={**who.headers, **OCTET})


async def show(client: httpx.AsyncClient, who, image_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v2/images/{image_id}", headers=who.headers)
    assert resp.status_code == 200
    return resp.json()


async def test_upload_and_download_raw(image_client, demo, reader, rt) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 4096 + bytes(3 * MiB) + b"tail"
    image_id = await new_image(image_client, demo)
    resp = await put(image_client, demo, image_id, data)
    assert resp.status_code == 204, resp.text
    img = await show(image_client, demo, image_id)
    assert img["status"] == "active"
    assert img["size"] == len(data)
    assert img["virtual_size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_algo"] == "sha512"
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()

    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=reader.headers)
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["content-length"] == str(len(data))
    assert resp.headers["content-md5"] == base64.b64encode(hashlib.md5(data).digest()).decode()
    assert await rt.images.cleanup_staging() == []

    resp = await put(image_client, demo, image_id, b"again")
    assert resp.status_code == 409


async def test_download_without_data_is_204(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert resp.status_code == 204


async def test_upload_needs_formats_and_octet_stream(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo, disk_format=None, container_format=None)
    resp = await put(image_client, demo, image_id, b"x")
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "Properties disk_format, container_format must be set prior to saving data."
    )
    resp = await image_client.put(f"/v2/images/{image_id}/file", content=b"x",
                                  headers={**demo.headers, "Content-Type": "text/plain"})
    assert resp.status_code == 415
    assert (await show(image_client, demo, image_id))["status"] == "queued"


async def test_upload_by_reader_or_stranger_is_refused(image_client, demo, reader, rt) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    assert (await put(image_client, reader, image_id, b"x")).status_code == 403
    other = await make_user(rt, name="mallory", project="elsewhere", roles=("member",))
    assert (await put(image_client, other, image_id, b"x")).status_code == 404


@needs_qemu
async def test_qcow2_upload_gets_virtual_size(image_client, demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "disk.qcow2"
    qemu_img("create", "-f", "qcow2", str(path), "64M")
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    resp = await put(image_client, demo, image_id, path.read_bytes())
    assert resp.status_code == 204, resp.text
    img = await show(image_client, demo, image_id)
    assert img["virtual_size"] == 64 * MiB
    assert img["size"] == path.stat().st_size


@needs_qemu
@pytest.mark.parametrize(("fmt", "qemu_fmt"), [("vmdk", "vmdk"), ("vhdx", "vhdx"),
                                                ("vdi", "vdi"), ("vhd", "vpc")])
async def test_other_formats_are_recognised(image_client, demo, tmp_path, fmt, qemu_fmt) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / f"disk.{fmt}"
    qemu_img("create", "-f", qemu_fmt, str(path), "32M")
    image_id = await new_image(image_client, demo, disk_format=fmt)
    resp = await put(image_client, demo, image_id, path.read_bytes())
    assert resp.status_code == 204, resp.text
    assert (await show(image_client, demo, image_id))["virtual_size"] >= 32 * MiB


@needs_qemu
async def test_qcow2_with_backing_file_fails_safety_checks(  # type: ignore[no-untyped-def]
    image_client, demo, rt, tmp_path
) -> None:
    base = tmp_path / "base.raw"
    base.write_bytes(b"secret" * 1000)
    path = tmp_path / "evil.qcow2"
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(base), str(path))
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    resp = await put(image_client, demo, image_id, path.read_bytes())
    assert resp.status_code == 415
    assert resp.json()["message"] == "Image failed safety checks"
    img = await show(image_client, demo, image_id)
    assert img["status"] == "queued"
    assert img["size"] is None
    assert not await rt.images.exists(image_id)
    assert await rt.images.cleanup_staging() == []


@needs_qemu
async def test_qcow2_data_declared_vmdk_is_refused(image_client, demo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "disk.qcow2"
    qemu_img("create", "-f", "qcow2", str(path), "16M")
    image_id = await new_image(image_client, demo, disk_format="vmdk")
    resp = await put(image_client, demo, image_id, path.read_bytes())
    assert resp.status_code == 415
    assert resp.json()["message"] == "Image disk_format vmdk does not match stream data qcow2"
    raw_id = await new_image(image_client, demo, disk_format="raw")
    assert (await put(image_client, demo, raw_id, path.read_bytes())).status_code == 204


async def test_raw_data_declared_qcow2_is_refused(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    resp = await put(image_client, demo, image_id, b"\1" * (3 * MiB))
    assert resp.status_code == 415
    assert resp.json()["message"] == "Image disk_format qcow2 does not match stream data raw"
    assert (await show(image_client, demo, image_id))["status"] == "queued"
    # Nothing is inspected for non-bare containers.
    ovf_id = await new_image(image_client, demo, disk_format="qcow2", container_format="ovf")
    assert (await put(image_client, demo, ovf_id, b"\1" * 100)).status_code == 204
    assert (await show(image_client, demo, ovf_id))["virtual_size"] is None


class TestSizeCap:
    @pytest.fixture
    def settings(self, tmp_path, database_url):  # type: ignore[no-untyped-def]
        return make_settings(tmp_path, database_url, image_size_cap=5 * MiB)

    async def test_upload_over_the_cap_is_413(self, image_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
        image_id = await new_image(image_client, demo)

        async def body():  # type: ignore[no-untyped-def]
            for _ in range(8):
                yield bytes(MiB)

        resp = await put(image_client, demo, image_id, body())
        assert resp.status_code == 413
        assert (await show(image_client, demo, image_id))["status"] == "queued"
        assert await rt.images.cleanup_staging() == []
        resp = await put(image_client, demo, image_id, bytes(5 * MiB))
        assert resp.status_code == 204


async def test_client_disconnect_puts_image_back_to_queued(rt, demo) -> None:  # type: ignore[no-untyped-def]
    """Drive the service directly with a stream that breaks half way."""
    image = await rt.services.images.create(
        demo.caller, fields={"disk_format": "raw", "container_format": "bare"}, properties={},
    )

    async def broken():  # type: ignore[no-untyped-def]
        yield b"x" * MiB
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await rt.services.images.upload_data(demo.caller, image.id, broken())
    async with rt.transaction() as db:
        row = await images_db.get(db, image_id=image.id)
    assert row is not None
    assert row.status == "queued"
    assert await rt.images.cleanup_staging() == []


async def test_recover_resets_saving_images_and_removes_leftovers(rt, demo, image_client) -> None:  # type: ignore[no-untyped-def]
    stuck = await new_image(image_client, demo)
    gone_data = "6c0d5c8c-0000-4000-8000-000000000001"
    async with rt.transaction() as db:
        await images_db.transition(db, image_id=stuck, rule=image_rules.BEGIN_SAVING,
                                   now=utcnow())
    (rt.images.staging_dir / f"{stuck}.0badcafe").write_bytes(b"half")  # a crash's leftover
    rt.images.data_path(gone_data).write_bytes(b"orphan")
    await rt.services.images.recover()
    img = await show(image_client, demo, stuck)
    assert img["status"] == "queued"
    assert list(rt.images.staging_dir.iterdir()) == []
    assert not rt.images.data_path(gone_data).exists()
    assert (await put(image_client, demo, stuck, b"ok")).status_code == 204


async def test_delete_cancels_the_running_upload_job(rt, demo, image_client) -> None:  # type: ignore[no-untyped-def]
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def blocking_upload(ctx) -> None:  # type: ignore[no-untyped-def]
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    # The runner the image service cancels through, running this handler instead.
    await rt.jobs.stop()
    rt.jobs.register("upload", blocking_upload)
    await rt.jobs.start()
    try:
        image_id = await new_image(image_client, demo)
        async with rt.transaction() as db:
            await images_db.transition(db, image_id=image_id, rule=image_rules.BEGIN_SAVING,
                                       now=utcnow())
            job = await jobs_db.enqueue(
                db, kind="upload", volume_id="v", image_id=image_id, project_id=demo.project_id,
                user_id=None, request_id=None, params={}, now=utcnow(),
            )
        rt.jobs.wake()
        await asyncio.wait_for(started.wait(), 10)
        resp = await image_client.delete(f"/v2/images/{image_id}", headers=demo.headers)
        assert resp.status_code == 204
        await asyncio.wait_for(cancelled.wait(), 10)

        async def finished():  # type: ignore[no-untyped-def]
            async with rt.transaction() as db:
                row = await jobs_db.get(db, job_id=job.id)
                return row is not None and row.state not in job_rules.UNFINISHED

        await wait_for(finished, timeout=10)
        assert (await image_client.get(f"/v2/images/{image_id}",
                                       headers=demo.headers)).status_code == 404
    finally:
        await rt.jobs.stop()


async def test_delete_during_upload_answers_410_and_leaves_nothing(rt, demo, image_client) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    first_sent, release = asyncio.Event(), asyncio.Event()

    async def body():  # type: ignore[no-untyped-def]
        yield b"a" * MiB
        first_sent.set()
        await release.wait()
        yield b"b" * MiB

    upload = asyncio.create_task(put(image_client, demo, image_id, body()))
    await asyncio.wait_for(first_sent.wait(), 10)

    async def saving():  # type: ignore[no-untyped-def]
        return (await show(image_client, demo, image_id))["status"] == "saving"

    await wait_for(saving, timeout=10)
    resp = await image_client.delete(f"/v2/images/{image_id}", headers=demo.headers)
    assert resp.status_code == 204
    release.set()
    resp = await asyncio.wait_for(upload, 10)
    assert resp.status_code == 410
    assert not await rt.images.exists(image_id)
    assert await rt.images.cleanup_staging() == []
