"""Interoperable image import: /v2/info/import, stage, import (glance-direct and
web-download from a loopback server the test starts), tasks, refusals, recovery."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import make_settings, marked_options, wait_for
from tests.integration.image.test_image_data import new_image, show
from tests.webserver import WebServer, running

pytestmark = pytest.mark.integration

needs_qemu = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img not installed")
OCTET = {"Content-Type": "application/octet-stream"}
MiB = 1 << 20


@pytest.fixture
def web() -> Iterator[WebServer]:
    with running() as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, database_url: str, web: WebServer, request):  # type: ignore[no-untyped-def]
    """The loopback server's address and port allowed, as an operator would."""
    options = {
        "import_allowed_hosts": ("127.0.0.1",),
        "import_allowed_ports": (str(web.port),),
        **marked_options(request),
    }
    return make_settings(tmp_path, database_url, **options)


async def stage(client: httpx.AsyncClient, who, image_id: str, data) -> httpx.Response:  # type: ignore[no-untyped-def]
    return await client.put(f"/v2/images/{image_id}/stage", content=data,
                            headers={**who.headers, **OCTET})


async def start_import(client: httpx.AsyncClient, who, image_id: str, method: str,  # type: ignore[no-untyped-def]
                       uri: str | None = None, **extra) -> httpx.Response:
    body = {"method": {"name": method, **({"uri": uri} if uri is not None else {})}, **extra}
    return await client.post(f"/v2/images/{image_id}/import", json=body, headers=who.headers)


async def settled(client: httpx.AsyncClient, who, image_id: str) -> dict:  # type: ignore[no-untyped-def]
    """The image once its import ended: active, or back to queued."""
    async def done():  # type: ignore[no-untyped-def]
        img = await show(client, who, image_id)
        return img if img["status"] in ("active", "queued") else None

    return await wait_for(done)


async def image_tasks(client: httpx.AsyncClient, who, image_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v2/images/{image_id}/tasks", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["tasks"]


async def ended_task(client: httpx.AsyncClient, who, image_id: str) -> dict:  # type: ignore[no-untyped-def]
    async def ended():  # type: ignore[no-untyped-def]
        tasks = await image_tasks(client, who, image_id)
        return tasks[-1] if tasks and tasks[-1]["status"] in ("success", "failure") else None

    return await wait_for(ended)


async def download(client: httpx.AsyncClient, who, image_id: str) -> bytes:  # type: ignore[no-untyped-def]
    resp = await client.get(f"/v2/images/{image_id}/file", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.content


def staging_files(rt) -> list[str]:  # type: ignore[no-untyped-def]
    root = Path(rt.settings.staging_dir)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def stored(rt, image_id: str) -> bool:  # type: ignore[no-untyped-def]
    return Path(rt.settings.images_dir, image_id).exists()


def write_partial(path: Path) -> None:
    path.write_bytes(b"half")


def qcow2_with_backing(tmp_path: Path) -> bytes:
    base = tmp_path / "base.raw"
    base.write_bytes(b"secret" * 1000)
    path = tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-F", "raw", "-b", str(base),
                    str(path)], check=True, capture_output=True)
    return path.read_bytes()


# --- discovery ----------------------------------------------------------------------


async def test_import_info_lists_glance_direct_and_web_download(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/info/import", headers=demo.headers)
    assert resp.status_code == 200
    assert resp.json() == {"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": ["glance-direct", "web-download"],
    }}
    assert (await image_client.get("/v2/info/import")).status_code == 401


async def test_image_create_names_the_import_methods(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"name": "x"}, headers=demo.headers)
    assert resp.status_code == 201
    assert resp.headers["OpenStack-image-import-methods"] == "glance-direct,web-download"


async def test_versions_list_import_2_6_and_later(image_client) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/versions")
    ids = [v["id"] for v in resp.json()["versions"]]
    assert "v2.6" in ids
    assert "v2.9" in ids
    assert "v2.12" in ids  # glanceclient's image-tasks asks for it
    assert "v2.17" in ids


@pytest.mark.settings(enabled_import_methods=("web-download",))
async def test_stage_without_glance_direct_is_404(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await stage(image_client, demo, image_id, b"data")
    assert resp.status_code == 404
    assert resp.json()["message"] == "'glance-direct' method is not available at this site."
    resp = await start_import(image_client, demo, image_id, "glance-direct")
    assert resp.status_code == 400
    assert resp.json()["message"] == "Unknown import method name 'glance-direct'."


# --- glance-direct --------------------------------------------------------------------


async def test_glance_direct_stages_then_imports(image_client, demo, admin, rt) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(3 * MiB + 17)
    image_id = await new_image(image_client, demo)
    resp = await stage(image_client, demo, image_id, data)
    assert resp.status_code == 204, resp.text
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"], img["checksum"]) == ("uploading", len(data), None)
    # Recorded, but never shown (glance ResponseSerializer._hidden_properties).
    assert "os_glance_stage_host" not in img
    assert staging_files(rt) == [image_id]

    resp = await start_import(image_client, demo, image_id, "glance-direct")
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "active"
    assert img["size"] == img["virtual_size"] == len(data)
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert img["os_hash_value"] == hashlib.sha512(data).hexdigest()
    # Glance's single-store import leaves its progress keys empty and drops the lock.
    assert img["os_glance_importing_to_stores"] == ""
    assert img["os_glance_failed_import"] == ""
    assert "os_glance_import_task" not in img
    assert await download(image_client, demo, image_id) == data
    assert staging_files(rt) == []

    task = await ended_task(image_client, demo, image_id)
    assert task["status"] == "success"
    assert task["type"] == "api_image_import"
    assert task["result"] == {"image_id": image_id}
    assert task["owner"] == demo.project_id
    assert task["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert task["expires_at"]
    assert task["deleted"] is False
    resp = await image_client.get(f"/v2/tasks/{task['id']}", headers=admin.headers)
    assert resp.status_code == 200
    shown = resp.json()
    assert (shown["status"], shown["image_id"], shown["self"]) == (
        "success", image_id, f"/v2/tasks/{task['id']}")


async def test_import_answers_409_for_the_wrong_status(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "glance-direct")
    assert resp.status_code == 409
    assert resp.json()["message"] == (
        "Image needs to be staged before 'glance-direct' method can be used")
    assert (await stage(image_client, demo, image_id, b"abc")).status_code == 204
    resp = await stage(image_client, demo, image_id, b"abc")
    assert resp.status_code == 409
    assert resp.json()["message"] == (
        "Image status transition from uploading to uploading is not allowed")
    resp = await start_import(image_client, demo, image_id, "web-download", "http://x/")
    assert resp.status_code == 409
    assert resp.json()["message"] == (
        "Image needs to be in 'queued' state to use 'web-download' method")
    assert (await start_import(image_client, demo, image_id, "glance-direct")).status_code == 202
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "active"
    resp = await start_import(image_client, demo, image_id, "glance-direct")
    assert resp.status_code == 409
    assert resp.json()["message"] == "Image with status active cannot be target for import"


async def test_import_needs_formats(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo, disk_format=None, container_format=None)
    assert (await stage(image_client, demo, image_id, b"abc")).status_code == 204
    resp = await start_import(image_client, demo, image_id, "glance-direct")
    assert resp.status_code == 409
    assert resp.json()["message"] == "'container_format' needs to be set before import"


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Import request requires a 'method' field."),
    ({"method": {}}, "Import request requires a 'name' field."),
    ({"method": {"name": "copy-image"}}, "Unknown import method name 'copy-image'."),
    ({"method": {"name": "bogus"}}, "Unknown import method name 'bogus'."),
    ({"method": {"name": "glance-direct"}, "all_stores": "yes"},
     "'all_stores' must be boolean value only"),
    ({"method": {"name": "glance-direct"}, "all_stores_must_succeed": 1},
     "'all_stores_must_succeed' must be boolean value only"),
])
async def test_bad_import_bodies_are_400(image_client, demo, body, message) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await image_client.post(f"/v2/images/{image_id}/import", json=body,
                                   headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["message"] == message
    assert (await show(image_client, demo, image_id))["status"] == "queued"


async def test_all_stores_must_succeed_false_needs_several_stores(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, b"abc")
    resp = await start_import(image_client, demo, image_id, "glance-direct",
                              all_stores_must_succeed=False)
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "All_stores_must_succeed can only be set with enabled_backends None")
    assert (await show(image_client, demo, image_id))["status"] == "uploading"


async def test_stage_and_import_by_others_are_refused(image_client, demo, reader, rt) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_user

    image_id = await new_image(image_client, demo)
    assert (await stage(image_client, reader, image_id, b"x")).status_code == 403
    other = await make_user(rt, name="mallory", project="elsewhere", roles=("member",))
    assert (await stage(image_client, other, image_id, b"x")).status_code == 404
    resp = await image_client.put(f"/v2/images/{image_id}/stage", content=b"x",
                                  headers={**demo.headers, "Content-Type": "text/plain"})
    assert resp.status_code == 415
    await stage(image_client, demo, image_id, b"x")
    resp = await start_import(image_client, reader, image_id, "glance-direct")
    assert resp.status_code == 403
    assert (await start_import(image_client, other, image_id, "glance-direct")).status_code == 404


@needs_qemu
async def test_stage_refuses_hostile_bytes_and_goes_back_to_queued(
    image_client, demo, rt, tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    resp = await stage(image_client, demo, image_id, qcow2_with_backing(tmp_path))
    assert resp.status_code == 415, resp.text
    assert resp.json()["message"] == "Image failed safety checks"
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"]) == ("queued", None)
    assert staging_files(rt) == []


@pytest.mark.settings(image_size_cap=MiB)
async def test_stage_over_the_size_cap_is_413(image_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)

    async def body():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield os.urandom(MiB // 2 + 1)

    resp = await stage(image_client, demo, image_id, body())
    assert resp.status_code == 413
    assert (await show(image_client, demo, image_id))["status"] == "queued"
    assert staging_files(rt) == []


async def test_deleting_a_staged_image_removes_its_staged_data(image_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, b"abc" * 1000)
    assert staging_files(rt) == [image_id]
    resp = await image_client.delete(f"/v2/images/{image_id}", headers=demo.headers)
    assert resp.status_code == 204
    assert staging_files(rt) == []


# --- web-download ----------------------------------------------------------------------


async def test_web_download_fetches_the_bytes(image_client, demo, web, rt) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(2 * MiB + 5)
    uri = web.serve("/disk.raw", data)
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "active"
    assert img["checksum"] == hashlib.md5(data).hexdigest()
    assert await download(image_client, demo, image_id) == data
    task = await ended_task(image_client, demo, image_id)
    assert task["status"] == "success"
    assert task["input"]["import_req"]["method"]["uri"] == uri
    assert staging_files(rt) == []


async def test_web_download_follows_an_allowed_redirect(image_client, demo, web) -> None:  # type: ignore[no-untyped-def]
    data = b"redirected" * 1000
    web.serve("/real", data)
    uri = web.serve("/moved", status=302, headers={"Location": "/real"})
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    assert (await settled(image_client, demo, image_id))["status"] == "active"
    assert await download(image_client, demo, image_id) == data


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:1/disk",  # a port not allowed
    "ftp://127.0.0.1/disk",  # a scheme not allowed
    "http://localhost:{port}/disk",  # a host not allowed
    "http://2130706433:{port}/disk",  # an encoded address
    "file:///etc/passwd",
    None,
])
async def test_web_download_refuses_urls_the_filter_refuses(image_client, demo, web, uri) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    target = uri.format(port=web.port) if uri else None
    resp = await start_import(image_client, demo, image_id, "web-download", target)
    assert resp.status_code == 400
    assert resp.json()["message"] == f"URI for web-download does not pass filtering: {target}"
    img = await show(image_client, demo, image_id)
    assert img["status"] == "queued"
    assert "os_glance_import_task" not in img
    assert await image_tasks(image_client, demo, image_id) == []


@pytest.mark.settings(import_allowed_hosts=())
async def test_loopback_is_refused_unless_configured(image_client, demo, web) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/disk", b"x")
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 400
    assert "does not pass filtering" in resp.json()["message"]
    # A host name that resolves to a loopback address is refused the same way.
    resp = await start_import(image_client, demo, image_id, "web-download",
                              f"http://localhost:{web.port}/disk")
    assert resp.status_code == 400
    assert web.hits == []


@pytest.mark.settings(import_allowed_hosts=(), import_private_networks=("127.0.0.0/8",))
async def test_a_configured_private_network_is_fetched(image_client, demo, web) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/disk", b"private" * 100)
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    assert (await settled(image_client, demo, image_id))["status"] == "active"


async def test_redirect_to_a_disallowed_url_fails_the_task(image_client, demo, web, rt) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/moved", status=302, headers={"Location": "http://127.0.0.1:1/secret"})
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert (img["status"], img["size"]) == ("queued", None)
    assert "os_glance_import_task" not in img
    assert img["os_glance_failed_import"] == ""
    task = await ended_task(image_client, demo, image_id)
    assert task["status"] == "failure"
    assert task["message"] == "Redirect to disallowed URL: http://127.0.0.1:1/secret"
    assert staging_files(rt) == []
    # The image can be imported again.
    web.serve("/ok", b"fine")
    resp = await start_import(image_client, demo, image_id, "web-download", web.url("/ok"))
    assert resp.status_code == 202
    assert (await settled(image_client, demo, image_id))["status"] == "active"


@needs_qemu
async def test_web_download_of_hostile_bytes_fails_and_goes_back_to_queued(
    image_client, demo, web, rt, tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/evil.qcow2", qcow2_with_backing(tmp_path))
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    img = await settled(image_client, demo, image_id)
    assert img["status"] == "queued"
    task = await ended_task(image_client, demo, image_id)
    assert (task["status"], task["message"]) == ("failure", "Image failed safety checks")
    assert staging_files(rt) == []
    assert not stored(rt, image_id)


async def test_web_download_of_raw_data_declared_qcow2_fails(image_client, demo, web) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/fake.qcow2", os.urandom(2 * MiB))
    image_id = await new_image(image_client, demo, disk_format="qcow2")
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    assert (await settled(image_client, demo, image_id))["status"] == "queued"
    task = await ended_task(image_client, demo, image_id)
    assert task["message"] == "Image disk_format qcow2 does not match stream data raw"


@pytest.mark.settings(image_size_cap=MiB)
async def test_web_download_over_the_size_cap_fails(image_client, demo, web, rt) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/big", os.urandom(2 * MiB))
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    assert (await settled(image_client, demo, image_id))["status"] == "queued"
    task = await ended_task(image_client, demo, image_id)
    assert task["message"] == "The provided image is too large."
    assert staging_files(rt) == []


async def test_web_download_of_a_missing_file_fails(image_client, demo, web) -> None:  # type: ignore[no-untyped-def]
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", web.url("/none"))
    assert resp.status_code == 202
    assert (await settled(image_client, demo, image_id))["status"] == "queued"
    task = await ended_task(image_client, demo, image_id)
    assert task["message"] == "HTTP Error 404: Not Found"


async def test_deleting_an_image_during_web_download_fails_its_task(
    image_client, demo, web, rt,
) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/slow", os.urandom(4 * MiB), delay=0.05)
    image_id = await new_image(image_client, demo)
    resp = await start_import(image_client, demo, image_id, "web-download", uri)
    assert resp.status_code == 202, resp.text
    await wait_for(lambda: _hit(web, "/slow"))
    resp = await image_client.delete(f"/v2/images/{image_id}", headers=demo.headers)
    assert resp.status_code == 204

    async def failed():  # type: ignore[no-untyped-def]
        resp = await image_client.get("/v2/tasks", headers=(await _admin(rt)).headers)
        return [t for t in resp.json()["tasks"] if t["status"] == "failure"]

    assert await wait_for(failed)
    await wait_for(lambda: _no_files(rt, image_id))


async def _hit(web: WebServer, path: str) -> bool:
    return path in web.hits


async def _no_files(rt, image_id: str) -> bool:  # type: ignore[no-untyped-def]
    return staging_files(rt) == [] and not stored(rt, image_id)


async def _admin(rt):  # type: ignore[no-untyped-def]
    from tests.conftest import login

    return await login(rt, user="admin", project="admin")


# --- tasks ------------------------------------------------------------------------------


async def test_tasks_api_is_for_admins(image_client, demo, admin, web) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get("/v2/tasks", headers=demo.headers)
    assert resp.status_code == 403
    assert resp.json()["message"] == "You are not authorized to complete tasks_api_access action."
    image_id = await new_image(image_client, demo)
    await start_import(image_client, demo, image_id, "web-download", web.serve("/a", b"a"))
    task = await ended_task(image_client, demo, image_id)
    resp = await image_client.get("/v2/tasks", headers=admin.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["first"] == "/v2/tasks"
    assert body["schema"] == "/v2/schemas/tasks"
    (stub,) = body["tasks"]
    assert stub["id"] == task["id"]
    assert set(stub) == {"id", "type", "status", "owner", "created_at", "updated_at",
                         "self", "schema", "expires_at"}
    resp = await image_client.get(f"/v2/tasks/{task['id']}", headers=demo.headers)
    assert resp.status_code == 403
    resp = await image_client.delete(f"/v2/tasks/{task['id']}", headers=admin.headers)
    assert resp.status_code == 405
    assert resp.headers["Allow"] == "GET"
    resp = await image_client.get("/v2/tasks?status=done", headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["message"] == "Invalid status value: done"
    resp = await image_client.get("/v2/tasks?sort_key=bogus", headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.get(f"/v2/tasks/{os.urandom(4).hex()}", headers=admin.headers)
    assert resp.status_code == 404


async def test_tasks_list_pages(image_client, demo, admin, web) -> None:  # type: ignore[no-untyped-def]
    uri = web.serve("/p", b"page")
    ids = []
    for _ in range(3):
        image_id = await new_image(image_client, demo)
        await start_import(image_client, demo, image_id, "web-download", uri)
        ids.append((await ended_task(image_client, demo, image_id))["id"])
    resp = await image_client.get("/v2/tasks?limit=2", headers=admin.headers)
    body = resp.json()
    assert [t["id"] for t in body["tasks"]] == ids[::-1][:2]
    resp = await image_client.get(body["next"], headers=admin.headers)
    assert [t["id"] for t in resp.json()["tasks"]] == ids[:1]


async def test_task_schemas(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    task = (await image_client.get("/v2/schemas/task", headers=demo.headers)).json()
    assert task["name"] == "task"
    assert task["properties"]["status"]["enum"] == ["pending", "processing", "success",
                                                    "failure"]
    tasks = (await image_client.get("/v2/schemas/tasks", headers=demo.headers)).json()
    assert tasks["name"] == "tasks"
    assert "input" not in tasks["properties"]["tasks"]["items"]["properties"]


async def test_legacy_import_task_with_a_fake_location_is_400(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    body = {"type": "import", "input": {
        "import_from": "http://tempest-dummy-img-file-1234.qcow2",
        "import_from_format": "qcow2",
        "image_properties": {"container_format": "bare", "disk_format": "qcow2"},
    }}
    resp = await image_client.post("/v2/tasks", json=body, headers=admin.headers)
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "URI for legacy import task does not pass filtering: "
        "http://tempest-dummy-img-file-1234.qcow2")
    body["input"]["import_from"] = "file:///etc/passwd"
    resp = await image_client.post("/v2/tasks", json=body, headers=admin.headers)
    assert resp.json()["message"] == (
        "File based imports are not allowed. Please use a non-local source of image data.")
    resp = await image_client.post("/v2/tasks", json={"type": "import"}, headers=admin.headers)
    assert resp.json()["message"] == "Task 'input' is required"


async def test_legacy_import_task_makes_an_image(image_client, admin, web) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(MiB)
    body = {"type": "import", "input": {
        "import_from": web.serve("/legacy.raw", data), "import_from_format": "raw",
        "image_properties": {"container_format": "bare", "disk_format": "raw",
                             "name": "legacy"},
    }}
    resp = await image_client.post("/v2/tasks", json=body, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    task_id = resp.json()["id"]
    assert resp.headers["Location"] == f"/v2/tasks/{task_id}"

    async def done():  # type: ignore[no-untyped-def]
        task = (await image_client.get(f"/v2/tasks/{task_id}", headers=admin.headers)).json()
        return task if task["status"] in ("success", "failure") else None

    task = await wait_for(done)
    assert task["status"] == "success", task
    image_id = task["result"]["image_id"]
    assert task["image_id"] == image_id
    img = await show(image_client, admin, image_id)
    assert (img["status"], img["name"]) == ("active", "legacy")
    assert await download(image_client, admin, image_id) == data


# --- recovery ----------------------------------------------------------------------------


async def test_recovery_puts_an_orphaned_import_back_to_queued(image_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    """An import whose job is gone (its process died after the job row was lost)
    leaves no `importing` image behind."""
    from sqlalchemy import delete

    from cinderlite.db.models import Job

    image_id = await new_image(image_client, demo)
    await stage(image_client, demo, image_id, b"staged" * 100)
    await rt.jobs.stop()  # nothing runs the job
    assert (await start_import(image_client, demo, image_id, "glance-direct")).status_code == 202
    assert (await show(image_client, demo, image_id))["status"] == "importing"
    async with rt.transaction() as db:
        await db.execute(delete(Job).where(Job.image_id == image_id))
    await rt.services.image_imports.recover()
    img = await show(image_client, demo, image_id)
    assert (img["status"], img["size"]) == ("queued", None)
    assert "os_glance_import_task" not in img
    (task,) = await image_tasks(image_client, demo, image_id)
    assert task["status"] == "failure"
    assert staging_files(rt) == []


async def test_recovery_unstages_an_interrupted_stage(image_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.domain import images as image_rules
    from cinderlite.domain.clock import utcnow

    image_id = await new_image(image_client, demo)
    async with rt.transaction() as db:
        from cinderlite.db import images as images_db

        await images_db.transition(db, image_id=image_id, rule=image_rules.BEGIN_STAGING,
                                   now=utcnow())
    write_partial(Path(rt.settings.staging_dir, ".staging", f"{image_id}.abcd1234"))
    await rt.services.image_imports.recover()
    assert (await show(image_client, demo, image_id))["status"] == "queued"
    assert staging_files(rt) == []
