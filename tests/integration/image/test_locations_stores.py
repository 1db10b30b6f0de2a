"""The location API on a site with several image stores: the location names a
store, the copy is made in that store, and a full store fails the task and
leaves nothing behind."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.conftest import make_settings, marked_options
from tests.integration.conftest import free_bytes
from tests.integration.image.test_image_data import OCTET, new_image, show
from tests.integration.image.test_locations import (
    DATA,
    TASK_KEY,
    add,
    data_file,
    ended,
    get_locations,
    service,  # noqa: F401  (a fixture)
)

pytestmark = pytest.mark.integration

MiB = 1 << 20


@pytest.fixture
def settings(tmp_path, database_url, request):  # type: ignore[no-untyped-def]
    """Stores `fast` (the default) and `cheap`; `@pytest.mark.settings(small_cheap=True)`
    puts `cheap` on a small file system of its own."""
    options = marked_options(request)
    if options.pop("small_cheap", False):
        request.getfixturevalue("small_filesystem")(tmp_path / "cheap", 48)
    return make_settings(
        tmp_path, database_url, image_stores=(f"fast:{tmp_path / 'fast'}",
                                              f"cheap:{tmp_path / 'cheap'}"),
        default_image_store="fast", **options,
    )


async def _upload_into(client, who, store: str, data: bytes) -> str:  # type: ignore[no-untyped-def]
    image_id = await new_image(client, who)
    resp = await client.put(f"/v2/images/{image_id}/file", content=data,
                            headers={**who.headers, **OCTET, "X-Image-Meta-Store": store})
    assert resp.status_code == 204, resp.text
    return image_id


async def test_the_copy_is_made_in_the_locations_store(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,  # noqa: F811
) -> None:
    source = await _upload_into(image_client, demo, "cheap", DATA)
    (location,) = (await get_locations(image_client, service, source)).json()
    assert location == {"url": f"file://{data_file(rt, source, 'cheap')}",
                        "metadata": {"store": "cheap"}}
    image_id = await new_image(image_client, demo)
    # The same image in a store that does not hold it: nothing there to name.
    resp = await add(image_client, service, image_id, f"file://{data_file(rt, source, 'fast')}")
    assert (resp.status_code, resp.json()["message"]) == (400, "Invalid location")
    assert (await add(image_client, service, image_id, location["url"])).status_code == 202
    assert (await ended(image_client, demo, image_id))["status"] == "success"
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["stores"]) == ("active", "cheap")
    assert data_file(rt, image_id, "cheap").read_bytes() == DATA
    assert not data_file(rt, image_id, "fast").exists()
    assert (await get_locations(image_client, service, image_id)).json() == [
        {"url": f"file://{data_file(rt, image_id, 'cheap')}", "metadata": {"store": "cheap"}}]


@pytest.mark.settings(small_cheap=True)
async def test_a_full_store_fails_the_task_and_leaves_nothing(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt, tmp_path,  # noqa: F811
) -> None:
    cheap = tmp_path / "cheap"
    data = os.urandom(free_bytes(cheap) * 6 // 10)
    source = await _upload_into(image_client, demo, "cheap", data)
    (location,) = (await get_locations(image_client, service, source)).json()
    image_id = await new_image(image_client, demo)
    assert (await add(image_client, service, image_id, location["url"])).status_code == 202
    task = await ended(image_client, demo, image_id)
    assert task["status"] == "failure"
    assert task["message"].startswith("Image storage media is full")
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"], img.get("stores"), img.get(TASK_KEY)) == (
        "queued", None, None, None)
    assert not data_file(rt, image_id, "cheap").exists()
    assert not any(cheap.joinpath(".staging").iterdir())
    # The source is untouched.
    assert hashlib.sha256(data_file(rt, source, "cheap").read_bytes()).digest() == (
        hashlib.sha256(data).digest())
