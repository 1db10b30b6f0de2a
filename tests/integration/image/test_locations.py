"""Glance 2.17's location API: POST /v2/images/{id}/locations (the service role adds the
data of an image already in a store to a `queued` image) and GET .../locations,
every answer and message, the location import task, and the safety of the URL:
nothing outside the stores' image data, no symbolic link, no other project's data."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import delete

from cinderlite.db.models import Job
from tests.conftest import Identity, make_settings, make_user, marked_options, wait_for
from tests.integration.image.test_image_data import new_image, put, show
from tests.integration.image.test_import import qcow2_with_backing

pytestmark = pytest.mark.integration

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
DATA = b"location data " * 50_000
INVALID = "Invalid location"
TASK_KEY = "os_glance_import_task"


@pytest.fixture
def settings(tmp_path, database_url, request):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path, database_url, **marked_options(request))


@pytest.fixture
async def service(rt) -> Identity:  # type: ignore[no-untyped-def]
    """A user with the `service` role in the demo project (what Cinder's and Nova's
    service users have; Glance's service_api rule)."""
    await rt.services.identity_admin.create_role(name="service")
    return await make_user(rt, name="cinder", project="demo", roles=("service",))


async def uploaded(client: httpx.AsyncClient, who, data: bytes = DATA, **body) -> str:  # type: ignore[no-untyped-def]
    image_id = await new_image(client, who, **body)
    resp = await put(client, who, image_id, data)
    assert resp.status_code == 204, resp.text
    return image_id


async def get_locations(client: httpx.AsyncClient, who, image_id: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.get(f"/v2/images/{image_id}/locations", headers=who.headers)


async def url_of(client: httpx.AsyncClient, who, image_id: str) -> str:  # type: ignore[no-untyped-def]
    resp = await get_locations(client, who, image_id)
    assert resp.status_code == 200, resp.text
    (location,) = resp.json()
    return str(location["url"])


async def add(client: httpx.AsyncClient, who, image_id: str, url: str, **body) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.post(f"/v2/images/{image_id}/locations", json={"url": url, **body},
                             headers=who.headers)


async def tasks_of(client: httpx.AsyncClient, who, image_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v2/images/{image_id}/tasks", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["tasks"]


async def ended(client: httpx.AsyncClient, who, image_id: str) -> dict:  # type: ignore[no-untyped-def]
    async def done():  # type: ignore[no-untyped-def]
        tasks = await tasks_of(client, who, image_id)
        return tasks[-1] if tasks and tasks[-1]["status"] in ("success", "failure") else None

    return await wait_for(done)


def data_file(rt, image_id: str, store: str | None = None) -> Path:  # type: ignore[no-untyped-def]
    stores = rt.image_stores
    return Path(stores.store(store or stores.default_id).data_path(image_id))


# --- adding a location ----------------------------------------------------------------


async def test_a_location_gives_a_queued_image_a_copy_of_the_data(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,
) -> None:
    source = await uploaded(image_client, demo)
    url = await url_of(image_client, service, source)
    assert url == f"file://{data_file(rt, source)}"
    image_id = await new_image(image_client, demo, name="from a location")

    resp = await add(image_client, service, image_id, url)
    assert resp.status_code == 202, resp.text
    assert resp.content == b""
    task = await ended(image_client, demo, image_id)
    assert (task["type"], task["status"], task["result"]) == (
        "location_import", "success", {"image_id": image_id})
    assert task["input"] == {"image_id": image_id, "loc_url": url, "validation_data": {}}
    img = await show(image_client, demo, image_id)
    assert img["status"] == "active"
    assert (img["size"], img["virtual_size"]) == (len(DATA), len(DATA))
    assert img["checksum"] == hashlib.md5(DATA).hexdigest()
    assert (img["os_hash_algo"], img["os_hash_value"]) == (
        "sha512", hashlib.sha512(DATA).hexdigest())
    assert TASK_KEY not in img
    # Its own file: the image keeps its data when the other one goes.
    assert data_file(rt, image_id).read_bytes() == DATA
    assert await url_of(image_client, service, image_id) == f"file://{data_file(rt, image_id)}"
    resp = await image_client.delete(f"/v2/images/{source}", headers=demo.headers)
    assert resp.status_code == 204
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert (resp.status_code, resp.content) == (200, DATA)


async def test_validation_data_names_the_hash_and_must_match(  # type: ignore[no-untyped-def]
    image_client, demo, service,
) -> None:
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    sha256 = hashlib.sha256(DATA).hexdigest()
    resp = await add(image_client, service, image_id, url,
                     validation_data={"os_hash_algo": "sha256", "os_hash_value": sha256})
    assert resp.status_code == 202, resp.text
    assert (await ended(image_client, demo, image_id))["status"] == "success"
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["os_hash_algo"], img["os_hash_value"]) == (
        "active", "sha256", sha256)
    assert img["checksum"] == hashlib.md5(DATA).hexdigest()


async def test_a_hash_that_does_not_match_puts_the_image_back_to_queued(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,
) -> None:
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    wrong = "beefdead" * 16
    resp = await add(image_client, service, image_id, url,
                     validation_data={"os_hash_algo": "sha512", "os_hash_value": wrong})
    assert resp.status_code == 202, resp.text
    task = await ended(image_client, demo, image_id)
    assert task["status"] == "failure"
    assert task["message"] == (
        f"os_hash_value: ({wrong}) not matched with actual os_hash_value: "
        f"({hashlib.sha512(DATA).hexdigest()})"
    )
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"], img["checksum"], img["os_hash_algo"],
            img["os_hash_value"]) == ("queued", None, None, None, None)
    assert TASK_KEY not in img
    assert not data_file(rt, image_id).exists()
    assert (await get_locations(image_client, service, image_id)).json() == []
    # The lock is gone: the right hash is taken next.
    good = hashlib.sha512(DATA).hexdigest()
    resp = await add(image_client, service, image_id, url,
                     validation_data={"os_hash_algo": "sha512", "os_hash_value": good})
    assert resp.status_code == 202, resp.text
    assert (await ended(image_client, demo, image_id))["status"] == "success"
    assert (await show(image_client, demo, image_id))["status"] == "active"


@needs_qemu
async def test_the_bytes_are_inspected_before_the_image_becomes_active(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt, tmp_path,
) -> None:
    """Data that passes as raw (a qcow2 naming a backing file, uploaded as `raw`)
    does not become a qcow2 image through a location."""
    url = await url_of(image_client, service,
                       await uploaded(image_client, demo, qcow2_with_backing(tmp_path)))
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    assert (await add(image_client, service, image_id, url)).status_code == 202
    task = await ended(image_client, demo, image_id)
    assert (task["status"], task["message"]) == ("failure", "Image failed safety checks")
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["checksum"]) == ("queued", None)
    assert not data_file(rt, image_id).exists()


# --- refused before anything is read ----------------------------------------------------


async def test_the_status_must_be_queued(image_client, demo, service) -> None:  # type: ignore[no-untyped-def]
    source = await uploaded(image_client, demo)
    url = await url_of(image_client, service, source)
    resp = await add(image_client, service, source, url)
    assert resp.status_code == 409
    assert resp.json()["message"] == "It's not allowed to add locations if image status is active."


async def test_an_unknown_or_invisible_image_is_404(  # type: ignore[no-untyped-def]
    image_client, demo, admin, service, rt,
) -> None:
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    missing = str(uuid.uuid4())
    resp = await add(image_client, service, missing, url)
    assert resp.status_code == 404
    assert resp.json()["message"] == f"No image found with ID {missing}"
    private = await new_image(image_client, admin, visibility="private")
    assert (await add(image_client, service, private, url)).status_code == 404


async def test_only_the_service_role_adds_locations(  # type: ignore[no-untyped-def]
    image_client, demo, admin, reader, service, rt,
) -> None:
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    resp = await add(image_client, reader, image_id, url)
    assert resp.status_code == 403
    assert resp.json()["message"] == (
        "You are not authorized to complete add_image_location action.")
    other = await make_user(rt, name="outsider", project="elsewhere", roles=("member",))
    public = await new_image(image_client, admin, visibility="public")
    resp = await add(image_client, other, public, url)
    assert resp.json()["message"] == (
        "You are not authorized to complete add_image_location action.")
    # The owner's members and admins pass the policy, but only http locations are
    # theirs to add in Glance, and there is no http store here.
    for who in (demo, admin):
        resp = await add(image_client, who, image_id, url)
        assert resp.status_code == 403
        assert resp.json()["message"] == (
            "http store must be enabled to use location API by normal user.")
    assert (await show(image_client, demo, image_id))["status"] == "queued"
    assert await tasks_of(image_client, demo, image_id) == []


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Provided object does not match schema 'location': 'url' is a required property"),
    ({"url": "u", "validation_data": {"os_hash_value": "ab"}},
     "Provided object does not match schema 'location': 'os_hash_algo' is a dependency of "
     "'os_hash_value'"),
    ({"url": "u", "validation_data": {"os_hash_algo": "sha123", "os_hash_value": "ab"}},
     "Provided object does not match schema 'location': 'sha123' is not one of ['sha1', "
     "'sha256', 'sha512', 'md5']"),
])
async def test_bodies_outside_the_schema_are_400(image_client, service, body, message) -> None:  # type: ignore[no-untyped-def]
    # Checked first, as Glance's request deserializer does: even for an unknown image.
    resp = await image_client.post(f"/v2/images/{uuid.uuid4()}/locations", json=body,
                                   headers=service.headers)
    assert resp.status_code == 400
    assert resp.json()["message"] == message


async def test_malformed_hashes_are_400(image_client, demo, service) -> None:  # type: ignore[no-untyped-def]
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    resp = await add(image_client, service, image_id, url,
                     validation_data={"os_hash_algo": "sha512", "os_hash_value": "zz"})
    assert resp.status_code == 400
    assert resp.json()["message"] == "os_hash_value (zz) is not a valid hexadecimal value"
    short = "dbc9e0f80d131e64b94913a7b40bb5"
    resp = await add(image_client, service, image_id, url,
                     validation_data={"os_hash_algo": "sha512", "os_hash_value": short})
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        f"os_hash_value: ({short}) is not the correct size for (sha512) (should be (64) bytes)")


async def test_the_formats_must_be_set(image_client, demo, service) -> None:  # type: ignore[no-untyped-def]
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    resp = await image_client.post("/v2/images", json={"name": "bare"}, headers=demo.headers)
    image_id = resp.json()["id"]
    resp = await add(image_client, service, image_id, url)
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "Properties disk_format, container_format must be set prior to saving data.")


async def test_a_second_location_while_the_first_runs_is_409(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,
) -> None:
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    await rt.jobs.stop()  # the first one's job waits
    assert (await add(image_client, service, image_id, url)).status_code == 202
    img = await show(image_client, demo, image_id)
    (task,) = await tasks_of(image_client, demo, image_id)
    assert (img["status"], img[TASK_KEY], task["status"]) == ("queued", task["id"], "pending")
    resp = await add(image_client, service, image_id, url)
    assert resp.status_code == 409
    assert resp.json()["message"] == "Image has active task"
    # An import is refused the same way while the location's task holds the lock.
    resp = await image_client.post(f"/v2/images/{image_id}/import",
                                   json={"method": {"name": "web-download",
                                                     "uri": "http://example.com/x"}},
                                   headers=demo.headers)
    assert (resp.status_code, resp.json()["message"]) == (409, "Image has active task")
    await rt.jobs.start()
    assert (await ended(image_client, demo, image_id))["status"] == "success"
    assert (await show(image_client, demo, image_id))["status"] == "active"


# --- which URLs: the safety of the location -------------------------------------------------


async def _refused(client, who, image_id: str, url: str) -> None:  # type: ignore[no-untyped-def]
    resp = await add(client, who, image_id, url)
    assert resp.status_code == 400, (url, resp.text)
    assert resp.json()["message"] == INVALID


async def test_urls_naming_anything_but_image_data_are_refused(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt, tmp_path,
) -> None:
    source = await uploaded(image_client, demo)
    url = await url_of(image_client, service, source)
    store_dir = data_file(rt, source).parent
    host_file = tmp_path / "host-file"
    host_file.write_bytes(b"root:x:0:0")
    image_id = await new_image(image_client, demo)
    for bad in (
        "file:///etc/passwd",
        f"file://{host_file}",
        f"file://{store_dir}/../{store_dir.name}/{source}",
        f"file://{store_dir}/./{source}",
        f"file://{store_dir}/.staging/{source}",
        f"file://{store_dir}/{uuid.uuid4()}",  # no such image
        f"file://{store_dir}/{image_id}",  # its own (queued: no data)
        f"file://localhost{store_dir}/{source}",
        url.replace("file://", "filesystem://"),
        url.replace("file://", "http://127.0.0.1"),
        f"cinder://{source}",
        f"{url}?x",
        f"{url}/",
        "",
    ):
        await _refused(image_client, service, image_id, bad)
    img = await show(image_client, demo, image_id)
    assert (img["status"], img.get(TASK_KEY)) == ("queued", None)
    assert await tasks_of(image_client, demo, image_id) == []


async def test_another_projects_image_data_is_refused(  # type: ignore[no-untyped-def]
    image_client, demo, admin, service, rt,
) -> None:
    image_id = await new_image(image_client, demo)
    theirs = [await uploaded(image_client, admin, visibility=visibility)
              for visibility in ("private", "public")]
    for other in theirs:
        await _refused(image_client, service, image_id, f"file://{data_file(rt, other)}")
    # An admin with the service role sees every image, yet may not give one
    # project's image the data of another's either.
    both = await make_user(rt, name="nova", project="services", roles=("admin", "service"))
    for other in theirs:
        await _refused(image_client, both, image_id, f"file://{data_file(rt, other)}")
    assert (await show(image_client, demo, image_id))["status"] == "queued"
    assert await tasks_of(image_client, demo, image_id) == []


async def test_data_that_is_not_active_is_refused(image_client, demo, admin, service, rt) -> None:  # type: ignore[no-untyped-def]
    source = await uploaded(image_client, demo)
    url = await url_of(image_client, service, source)
    resp = await image_client.post(f"/v2/images/{source}/actions/deactivate",
                                   headers=admin.headers)
    assert resp.status_code == 204
    image_id = await new_image(image_client, demo)
    await _refused(image_client, service, image_id, url)


async def test_a_symbolic_link_in_place_of_the_data_is_not_followed(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt, tmp_path,
) -> None:
    """Should the data file of an image ever be a symbolic link (a store tampered
    with), a location naming it reads nothing through it."""
    source = await uploaded(image_client, demo)
    url = await url_of(image_client, service, source)
    secret = tmp_path / "host-secret"
    secret.write_bytes(b"host secret " * 100)
    path = data_file(rt, source)
    path.unlink()
    os.symlink(secret, path)
    image_id = await new_image(image_client, demo)
    assert (await add(image_client, service, image_id, url)).status_code == 202
    task = await ended(image_client, demo, image_id)
    assert (task["status"], task["message"]) == ("failure", INVALID)
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"], img.get(TASK_KEY)) == ("queued", None, None)
    assert not data_file(rt, image_id).exists()
    resp = await image_client.get(f"/v2/images/{image_id}/file", headers=demo.headers)
    assert (resp.status_code, resp.content) == (204, b"")


# --- GET locations ------------------------------------------------------------------------


async def test_locations_are_listed_to_the_service_role_and_admins(  # type: ignore[no-untyped-def]
    image_client, demo, admin, reader, service, rt,
) -> None:
    image_id = await new_image(image_client, demo)
    resp = await get_locations(image_client, service, image_id)
    assert (resp.status_code, resp.json()) == (200, [])
    await put(image_client, demo, image_id, DATA)
    expected = [{"url": f"file://{data_file(rt, image_id)}", "metadata": {}}]
    for who in (service, admin):
        resp = await get_locations(image_client, who, image_id)
        assert (resp.status_code, resp.json()) == (200, expected)
    for who in (demo, reader):
        resp = await get_locations(image_client, who, image_id)
        assert resp.status_code == 403
        assert resp.json()["message"] == (
            "You are not authorized to complete fetch_image_location action.")
    missing = str(uuid.uuid4())
    resp = await get_locations(image_client, service, missing)
    assert (resp.status_code, resp.json()["message"]) == (
        404, f"No image found with ID {missing}")
    private = await new_image(image_client, admin, visibility="private")
    assert (await get_locations(image_client, service, private)).status_code == 404


# --- crashes ------------------------------------------------------------------------------


async def test_a_resumed_job_finishes_an_importing_image(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,
) -> None:
    """A job taken up again after a crash finds the image `importing` (its first run
    began) and a stale copy: it writes the copy again and activates the image."""
    from cinderlite.db import images as images_db
    from cinderlite.domain import images as image_rules
    from cinderlite.domain.clock import utcnow

    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    await rt.jobs.stop()
    assert (await add(image_client, service, image_id, url)).status_code == 202
    async with rt.transaction() as db:
        assert await images_db.transition(db, image_id=image_id, rule=image_rules.BEGIN_IMPORT,
                                          now=utcnow())
    data_file(rt, image_id).write_bytes(b"half a copy")
    await rt.jobs.start()
    assert (await ended(image_client, demo, image_id))["status"] == "success"
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"]) == ("active", len(DATA))
    assert data_file(rt, image_id).read_bytes() == DATA


async def test_recovery_puts_an_orphaned_location_import_back_to_queued(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,
) -> None:
    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    await rt.jobs.stop()
    assert (await add(image_client, service, image_id, url)).status_code == 202
    async with rt.transaction() as db:
        await db.execute(delete(Job).where(Job.image_id == image_id))
    await rt.services.image_imports.recover()
    img = await show(image_client, demo, image_id)
    assert (img["status"], img.get(TASK_KEY)) == ("queued", None)
    (task,) = await tasks_of(image_client, demo, image_id)
    assert (task["status"], task["message"]) == (
        "failure", "The import was interrupted and could not be resumed.")


async def test_a_location_import_that_lost_its_job_places_nothing(  # type: ignore[no-untyped-def]
    image_client, demo, service, rt,
) -> None:
    """Worker A, paused past its lease at the rename into place, finds the job
    taken over by B (who placed its copy): A raises LeaseLost and leaves B's copy,
    the image and the task as they were."""
    from sqlalchemy import select

    from cinderlite.db.models import Image, ImageTask
    from tests.integration.volume.test_stale_worker import (
        B_DATA,
        _claim_as_a,
        _run_as_a,
        _taken_over_at_first_guard,
        _write_b,
    )

    url = await url_of(image_client, service, await uploaded(image_client, demo))
    image_id = await new_image(image_client, demo)
    await rt.jobs.stop()
    assert (await add(image_client, service, image_id, url)).status_code == 202
    ctx = await _claim_as_a(rt, "location_import")
    placed = data_file(rt, image_id)
    seen = _taken_over_at_first_guard(rt, ctx, lambda: _write_b(placed))

    await _run_as_a(rt.services.image_locations.run, ctx)

    assert seen == ["taken over"]
    assert placed.read_bytes() == B_DATA  # A neither replaced nor removed B's copy
    async with rt.sessionmaker() as db:
        image = await db.get(Image, image_id)
        assert image is not None
        assert (image.status, image.size) == ("importing", None)
        tasks = (await db.execute(
            select(ImageTask).where(ImageTask.image_id == image_id))).scalars().all()
        assert [t.status for t in tasks] == ["processing"]
