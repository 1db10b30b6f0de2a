"""A full disk under the image store: refused with Glance's 413, never a short image.

The store lives on a small ext4 the test mounts itself; the data is random so
that no block can be skipped as a hole.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.integration.conftest import free_bytes
from tests.integration.image.test_image_data import new_image, put, show

pytestmark = pytest.mark.integration

MiB = 1 << 20
FS_MIB = 48


@pytest.fixture
def settings(tmp_path: Path, database_url: str, small_filesystem):  # type: ignore[no-untyped-def]
    small_filesystem(tmp_path / "data" / "images", FS_MIB)
    return make_settings(tmp_path, database_url)


def chunked(data: bytes, size: int = 1 * MiB):  # type: ignore[no-untyped-def]
    async def body():  # type: ignore[no-untyped-def]
        for i in range(0, len(data), size):
            yield data[i : i + size]

    return body()


async def test_image_larger_than_the_free_space_is_413_and_back_to_queued(
    rt, image_client, demo,
) -> None:  # type: ignore[no-untyped-def]
    images_dir = Path(rt.settings.images_dir)
    too_big = os.urandom(free_bytes(images_dir) + 5 * MiB)
    image_id = await new_image(image_client, demo)
    resp = await put(image_client, demo, image_id, chunked(too_big))
    assert resp.status_code == 413, resp.text
    assert resp.json()["message"].startswith("Image storage media is full")
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"], img["checksum"]) == ("queued", None, None)
    assert not any(images_dir.joinpath(".staging").iterdir())
    assert not images_dir.joinpath(image_id).exists()
    # The space is free again: the same image takes data that fits, bytes intact.
    fits = os.urandom(8 * MiB)
    resp = await put(image_client, demo, image_id, chunked(fits))
    assert resp.status_code == 204, resp.text
    img = await show(image_client, demo, image_id)
    assert img["status"] == "active"
    assert img["checksum"] == hashlib.md5(fits).hexdigest()
    assert images_dir.joinpath(image_id).read_bytes() == fits


async def test_nothing_active_ever_differs_from_its_checksum(
    rt, image_client, demo,
) -> None:  # type: ignore[no-untyped-def]
    """Fill the store image by image until it refuses one: every image it took is whole."""
    images_dir = Path(rt.settings.images_dir)
    taken: dict[str, bytes] = {}
    for _ in range(20):
        data = os.urandom(7 * MiB + 12345)
        image_id = await new_image(image_client, demo)
        resp = await put(image_client, demo, image_id, chunked(data, 3 * MiB + 7))
        if resp.status_code == 413:
            break
        assert resp.status_code == 204, resp.text
        taken[image_id] = data
    else:
        pytest.fail("the small file system never filled up")
    assert taken
    for image_id, data in taken.items():
        img = await show(image_client, demo, image_id)
        assert img["checksum"] == hashlib.md5(data).hexdigest()
        assert images_dir.joinpath(image_id).read_bytes() == data
        resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
        assert resp.content == data
