"""A full disk under one image store (image_stores): that store's upload is refused
with Glance's 413 and the image goes back to `queued`; the other stores go on
taking data. The store lives on a small ext4 the test mounts itself."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.integration.conftest import free_bytes
from tests.integration.image.test_full_disk import chunked
from tests.integration.image.test_image_data import OCTET, new_image, show

pytestmark = pytest.mark.integration

MiB = 1 << 20


@pytest.fixture
def settings(tmp_path: Path, database_url: str, small_filesystem):  # type: ignore[no-untyped-def]
    small_filesystem(tmp_path / "small", 48)
    return make_settings(
        tmp_path, database_url, image_stores=(f"big:{tmp_path / 'big'}",
                                              f"small:{tmp_path / 'small'}"),
    )


async def _put(client, who, image_id: str, data: bytes, store: str):  # type: ignore[no-untyped-def]
    return await client.put(f"/v2/images/{image_id}/file", content=chunked(data),
                            headers={**who.headers, **OCTET, "X-Image-Meta-Store": store})


async def test_full_store_is_413_and_the_image_can_go_elsewhere(  # type: ignore[no-untyped-def]
    rt, image_client, demo, tmp_path,
) -> None:
    small = tmp_path / "small"
    too_big = os.urandom(free_bytes(small) + 5 * MiB)
    image_id = await new_image(image_client, demo)
    resp = await _put(image_client, demo, image_id, too_big, "small")
    assert resp.status_code == 413, resp.text
    assert resp.json()["message"].startswith("Image storage media is full")
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"], img.get("stores")) == ("queued", None, None)
    assert not any(small.joinpath(".staging").iterdir())
    assert not small.joinpath(image_id).exists()
    # The same data fits in the other store: bytes intact there, nothing in the full one.
    resp = await _put(image_client, demo, image_id, too_big, "big")
    assert resp.status_code == 204, resp.text
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "big")
    assert img["checksum"] == hashlib.md5(too_big).hexdigest()
    assert tmp_path.joinpath("big", image_id).read_bytes() == too_big
    assert not small.joinpath(image_id).exists()
    # And the full store takes what fits once its space is free again.
    fits = os.urandom(8 * MiB)
    other = await new_image(image_client, demo)
    resp = await _put(image_client, demo, other, fits, "small")
    assert resp.status_code == 204, resp.text
    assert small.joinpath(other).read_bytes() == fits
