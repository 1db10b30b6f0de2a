"""Volumes made from images: the checks at create time and the fill job (real qemu-img)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from cinderlite.db.models import Image, Volume
from cinderlite.domain.clock import utcnow
from tests.conftest import wait_for
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration

MiB = 1 << 20
needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing")


def qemu_img(*args: str) -> None:
    """Make a test image (synchronously: tiny files, done before the app runs)."""
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


async def add_image(rt, *, owner: str, data: bytes | None, disk_format: str = "raw",  # type: ignore[no-untyped-def]
                    status: str = "active", visibility: str = "private",
                    virtual_size: int | None = None, properties: dict | None = None) -> str:
    image_id = str(uuid.uuid4())
    size = None
    checksum = None
    if data is not None:

        async def chunks():  # type: ignore[no-untyped-def]
            yield data

        stored = await rt.images.write(image_id, chunks())
        size, checksum = stored.size, stored.checksum
    now = utcnow()
    async with rt.transaction() as db:
        db.add(Image(
            id=image_id, name="src-image", owner=owner, status=status, visibility=visibility,
            protected=False, os_hidden=False, disk_format=disk_format, container_format="bare",
            size=size, virtual_size=virtual_size, checksum=checksum, min_disk=0, min_ram=0,
            properties=properties or {}, tags=[], created_at=now, updated_at=now,
        ))
    return image_id


def pattern(size: int) -> bytes:
    block = hashlib.sha256(b"cinderlite").digest() * (MiB // 32)
    data = bytearray(size)
    data[0:MiB] = block  # first MiB data, then a hole, then data at the end
    data[size - MiB:size] = block
    return bytes(data)


async def create_from(client, who, image_id: str, size: int = 1):  # type: ignore[no-untyped-def]
    return await client.post(f"/v3/{who.project_id}/volumes",
                             json={"volume": {"size": size, "imageRef": image_id,
                                              "name": "fromimg"}},
                             headers=who.headers)


async def test_raw_image_is_copied_and_metadata_recorded(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    data = pattern(8 * MiB)
    image_id = await add_image(rt, owner=demo.project_id, data=data,
                               properties={"os_distro": "cirros"})
    resp = await create_from(volume_client, demo, image_id)
    assert resp.status_code == 202, resp.text
    created = resp.json()["volume"]
    assert created["status"] == "creating"
    assert "volume_image_metadata" not in created
    vol = await wait_status(volume_client, demo, created["id"], "available")
    assert vol["bootable"] == "true"
    meta = vol["volume_image_metadata"]
    assert meta["image_id"] == image_id
    assert meta["image_name"] == "src-image"
    assert meta["disk_format"] == "raw"
    assert meta["size"] == str(len(data))
    assert meta["os_distro"] == "cirros"
    path = rt.volumes.path(created["id"])
    assert path.stat().st_size == 1 << 30
    with path.open("rb") as fh:
        assert fh.read(len(data)) == data
        assert fh.read(MiB) == bytes(MiB)
    # Only the image's two data MiB are written: its hole and the rest stay holes.
    assert path.stat().st_blocks * 512 <= 2 * MiB + 64 * 1024


@needs_qemu
async def test_qcow2_image_is_converted(volume_client, demo, rt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = pattern(4 * MiB)
    raw = tmp_path / "src.raw"
    raw.write_bytes(data)
    qcow = tmp_path / "src.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow))
    image_id = await add_image(rt, owner=demo.project_id, data=qcow.read_bytes(),
                               disk_format="qcow2", virtual_size=len(data))
    resp = await create_from(volume_client, demo, image_id)
    assert resp.status_code == 202, resp.text
    vol_id = resp.json()["volume"]["id"]
    await wait_status(volume_client, demo, vol_id, "available")
    path = rt.volumes.path(vol_id)
    assert path.stat().st_size == 1 << 30
    with path.open("rb") as fh:
        assert fh.read(len(data)) == data


@needs_qemu
async def test_converted_volume_is_flushed_before_available(  # type: ignore[no-untyped-def]
    volume_client, demo, rt, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # qemu-img convert's default cache mode (unsafe) never flushes its output: the
    # fill asks for writeback, with which qemu-img fdatasyncs the volume on exit.
    from cinderlite.datapath import qemu

    seen: list[list[str]] = []
    real_run = qemu.run

    async def spy(args, **kw):  # type: ignore[no-untyped-def]
        seen.append([str(a) for a in args])
        return await real_run(args, **kw)

    monkeypatch.setattr(qemu, "run", spy)
    raw = tmp_path / "src.raw"
    raw.write_bytes(pattern(4 * MiB))
    qcow = tmp_path / "src.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow))
    image_id = await add_image(rt, owner=demo.project_id, data=qcow.read_bytes(),
                               disk_format="qcow2", virtual_size=4 * MiB)
    resp = await create_from(volume_client, demo, image_id)
    await wait_status(volume_client, demo, resp.json()["volume"]["id"], "available")
    converts = [a for a in seen if "convert" in a]
    assert len(converts) == 1
    argv = converts[0]
    assert argv[argv.index("-t") + 1] == "writeback"


@needs_qemu
async def test_qcow2_with_backing_file_ends_in_error(volume_client, demo, rt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "base.raw"
    base.write_bytes(b"secret" * 1000)
    qcow = tmp_path / "over.qcow2"
    qemu_img("create", "-f", "qcow2", "-F", "raw", "-b", str(base), str(qcow))
    image_id = await add_image(rt, owner=demo.project_id, data=qcow.read_bytes(),
                               disk_format="qcow2", virtual_size=6000)
    resp = await create_from(volume_client, demo, image_id)
    assert resp.status_code == 202
    await wait_status(volume_client, demo, resp.json()["volume"]["id"], "error")


async def test_image_checks_at_create(volume_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    resp = await create_from(volume_client, demo, str(uuid.uuid4()))
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "Invalid imageRef provided."
    private = await add_image(rt, owner=admin.project_id, data=b"x" * 512)
    resp = await create_from(volume_client, demo, private)
    assert resp.json()["badRequest"]["message"] == "Invalid imageRef provided."
    public = await add_image(rt, owner=admin.project_id, data=b"x" * 512, visibility="public")
    assert (await create_from(volume_client, demo, public)).status_code == 202
    queued = await add_image(rt, owner=demo.project_id, data=None, status="queued")
    resp = await create_from(volume_client, demo, queued)
    assert resp.status_code == 400
    assert f"Image {queued} is not active." in resp.json()["badRequest"]["message"]
    huge = await add_image(rt, owner=demo.project_id, data=b"x" * 512, disk_format="qcow2",
                           virtual_size=3 * (1 << 30) + 1)
    resp = await create_from(volume_client, demo, huge, size=2)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == (
        "Image virtual size is 4GB and doesn't fit in a volume of size 2GB."
    )


async def test_recover_fails_orphaned_creates_and_finishes_deletes(rt, demo) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    ids = [str(uuid.uuid4()) for _ in range(2)]
    async with rt.transaction() as db:
        for vid, status in zip(ids, ("creating", "deleting"), strict=True):
            db.add(Volume(id=vid, project_id=demo.project_id, user_id=demo.caller.user_id,
                          size=1, status=status, attach_status="detached", meta={},
                          image_meta={}, created_at=now))
    await rt.volumes.create(ids[1], 1 << 20)
    await rt.services.volumes.recover()
    async with rt.sessionmaker() as db:
        assert (await db.get(Volume, ids[0])).status == "error"
        assert await db.get(Volume, ids[1]) is None
    assert not rt.volumes.path(ids[1]).exists()


async def test_fill_is_idempotent_when_rerun(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    data = pattern(2 * MiB)
    image_id = await add_image(rt, owner=demo.project_id, data=data)
    resp = await create_from(volume_client, demo, image_id)
    vol_id = resp.json()["volume"]["id"]
    await wait_status(volume_client, demo, vol_id, "available")

    class Ctx:
        def __init__(self, job):  # type: ignore[no-untyped-def]
            self.job = job

        def report(self, done, total=None):  # type: ignore[no-untyped-def]
            pass

        async def follow(self, progress, work):  # type: ignore[no-untyped-def]
            return await work

        async def fence(self, unit):  # type: ignore[no-untyped-def]
            pass  # a re-run that holds its lease (the fence: test_stale_worker.py)

        def guard(self, wait=None):  # type: ignore[no-untyped-def]
            pass

    from sqlalchemy import select

    from cinderlite.db.models import Job

    async def finished_job():  # type: ignore[no-untyped-def]
        # The volume turns available inside the handler; the runner marks the job
        # done just after the handler returns.
        async with rt.sessionmaker() as db:
            job = (await db.execute(select(Job).where(Job.volume_id == vol_id))).scalar_one()
        return job if job.state != "running" else None

    job = await wait_for(finished_job)
    assert job.state == "done"
    # A re-run of a finished fill leaves the volume alone...
    await rt.services.volumes.run_fill(Ctx(job))
    # ...and a re-run after a crash (volume still creating) rewrites it completely.
    async with rt.transaction() as db:
        (await db.get(Volume, vol_id)).status = "creating"
    rt.volumes.path(vol_id).write_bytes(b"garbage")
    await rt.services.volumes.run_fill(Ctx(job))
    async with rt.sessionmaker() as db:
        assert (await db.get(Volume, vol_id)).status == "available"
    with rt.volumes.path(vol_id).open("rb") as fh:
        assert fh.read(len(data)) == data
    assert rt.volumes.path(vol_id).stat().st_size == 1 << 30
