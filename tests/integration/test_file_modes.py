"""Everything the service writes is its owner's only (0600 files, 0700 directories),
whatever the umask: tenants' volumes and images, the database with the password
hashes, the openrc files with passwords, and what qemu-img writes for us."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from cinderlite import app as app_module
from cinderlite import cli
from cinderlite.services.uploads import UploadRequest
from tests.conftest import make_settings
from tests.integration.upload.conftest import MIB, make_volume
from tests.integration.upload.test_failures import _ended
from tests.integration.volume.test_image_safety import put_image, qemu_img, volume_from
from tests.integration.volume.test_volumes import wait_status

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img missing"),
]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, loose_umask: None):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, database_url)


def all_paths(root: Path) -> list[Path]:
    return [root, *root.rglob("*")]


def assert_private(root: Path) -> None:
    loose = [
        f"{p} {oct(mode(p))}" for p in all_paths(root)
        if not p.is_symlink() and mode(p) != (0o700 if p.is_dir() else 0o600)
    ]
    assert not loose, loose


async def test_everything_written_is_private(
    rt: app_module.Runtime, demo, image_client, volume_client, tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    image_client.headers["Accept"] = "application/json"
    data = Path(rt.settings.data_dir)
    # An image by PUT, an upload qemu-img writes (vhd), one the native writer
    # writes (vdi), a volume qemu-img fills from a qcow2 image, the openrc files.
    await put_image(image_client, demo, os.urandom(MIB), disk_format="raw",
                    container_format="bare")
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=4 * MIB,
                            data=[(0, os.urandom(MIB))])
    for disk_format in ("vhd", "vdi"):
        started = await rt.services.uploads.start(
            demo.caller, vid, UploadRequest(image_name="m", disk_format=disk_format),
            request_id="req-modes",
        )
        assert (await _ended(rt, started.job_id)).state == "done"
    raw = tmp_path / "src.raw"
    raw.write_bytes(os.urandom(MIB))
    qcow = tmp_path / "src.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow))
    image_id = await put_image(image_client, demo, qcow.read_bytes(), disk_format="qcow2",
                               container_format="bare")
    volume_id = await volume_from(volume_client, demo, image_id)
    await wait_status(volume_client, demo, volume_id, "available")
    settings = rt.settings
    for name in ("admin", "demo"):
        cli.write_openrc(settings, name, "export OS_PASSWORD='x'\n")
    assert len(all_paths(Path(settings.images_dir))) >= 5  # the dir, .staging, 4 images
    assert_private(data)
    if "sqlite" in settings.resolved_database_url:
        db_file = Path(settings.resolved_database_url.split("///", 1)[1])
        assert mode(db_file) == 0o600, oct(mode(db_file))


async def test_an_old_data_directory_is_made_private_at_start(
    tmp_path: Path, database_url: str, loose_umask: None,
) -> None:
    settings = make_settings(tmp_path, database_url)
    data = Path(settings.data_dir)
    (data / "images" / ".staging").mkdir(parents=True, mode=0o755)
    (data / "volumes").mkdir(mode=0o755)
    for path in (data / "images" / ("0" * 36), data / "volumes" / "volume-x", data / "openrc-demo"):
        path.write_bytes(b"secret")
        os.chmod(path, 0o644)
    os.chmod(data, 0o755)
    db_file = None
    if "sqlite" in settings.resolved_database_url:
        db_file = Path(settings.resolved_database_url.split("///", 1)[1])
        os.chmod(db_file, 0o644)
    async with app_module.open_runtime(settings, run_migrations=False):
        assert_private(data)
        if db_file is not None:
            assert mode(db_file) == 0o600
