"""Uploads and volumes from images through GlanceImageStore, against a fake Glance
(httpx MockTransport): what the real one is asked, and what its refusals do.
tests/cloud runs the same flows against a real Glance (make test-cloud)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from cinderlite import app as app_module
from cinderlite.cloud.glance import Glance
from cinderlite.domain.errors import Conflict, DependencyUnavailable, TooLarge
from cinderlite.services import messages
from cinderlite.services.uploads import UploadRequest
from cinderlite.services.volumes import VolumeCreate
from cinderlite.storage.images.glance import GlanceImageStore
from cinderlite.storage.images.stores import SINGLE_STORE_ID, ImageStores, StoreInfo
from tests.conftest import wait_for
from tests.integration.upload.conftest import (
    MIB,
    image_row,
    job_row,
    make_volume,
    messages_for,
    staging_files,
    volume_bytes,
    volume_status,
)

pytestmark = pytest.mark.integration
GLANCE = "http://glance.test:9292"


@dataclass
class FakeGlance:
    """Glance v2's create, show, data upload and download, and delete, in memory."""

    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, bytes] = field(default_factory=dict)
    calls: list[tuple[str, str, str, str]] = field(default_factory=list)
    # The status PUT /file answers instead of storing the data (413, 409, 401...),
    # and POST /v2/images instead of making the image.
    refuse_upload: int | None = None
    refuse_create: int | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path, request.headers.get("x-auth-token", ""),
                           request.headers.get("x-service-token", "")))
        parts = path.strip("/").split("/")
        if request.method == "POST" and path == "/v2/images":
            if self.refuse_create is not None:
                return httpx.Response(self.refuse_create, text="image count over quota")
            body = json.loads(request.content)
            image = {**body, "status": "queued", "owner": "p", "size": None,
                     "visibility": body.get("visibility", "shared"), "protected": False}
            self.images[body["id"]] = image
            return httpx.Response(201, json=image)
        image_id = parts[2] if len(parts) > 2 else ""
        image = self.images.get(image_id)
        if image is None:
            return httpx.Response(404, text="<html><h1>404 Not Found</h1>No image found</html>")
        if request.method == "GET" and len(parts) == 3:
            return httpx.Response(200, json=image)
        if request.method == "DELETE":
            del self.images[image_id]
            self.data.pop(image_id, None)
            return httpx.Response(204)
        if request.method == "PUT" and parts[3:] == ["file"]:
            if self.refuse_upload is not None:
                return httpx.Response(self.refuse_upload, text="Glance says no")
            blob = request.read()
            self.data[image_id] = blob
            image.update(status="active", size=len(blob),
                         checksum=hashlib.md5(blob).hexdigest(), os_hash_algo="sha512",
                         os_hash_value=hashlib.sha512(blob).hexdigest())
            return httpx.Response(204)
        if request.method == "GET" and parts[3:] == ["file"]:
            return httpx.Response(200, content=self.data[image_id])
        return httpx.Response(405)

    def methods(self, image_id: str) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.calls if image_id in p or p == "/v2/images"]


@pytest.fixture
async def glance(rt: app_module.Runtime):  # type: ignore[no-untyped-def]
    """The runtime's upload and volume services on a GlanceImageStore over a FakeGlance."""
    fake = FakeGlance()

    async def url() -> str:
        return GLANCE

    async def service_token() -> str:
        return "service-token"

    client = Glance(url=url, service_token=service_token,
                    transport=httpx.MockTransport(fake.handle))
    # As open_runtime builds it when joined: the Glance store as the one store.
    store = ImageStores(
        {SINGLE_STORE_ID: GlanceImageStore(rt.settings.images_dir, client)},
        [StoreInfo(id=SINGLE_STORE_ID, path=rt.settings.images_dir)],
        default=SINGLE_STORE_ID, multi=False,
    )
    for service in (rt.services.uploads, rt.services.upload_worker, rt.services.volumes,
                    rt.services.images):
        service._store = store  # type: ignore[attr-defined]
    yield fake
    await client.aclose()


def _as_cloud_user(identity):  # type: ignore[no-untyped-def]
    return replace(identity.caller, auth_token="user-token")


async def _ended(rt, job_id):  # type: ignore[no-untyped-def]
    async def check():  # type: ignore[no-untyped-def]
        job = await job_row(rt, job_id)
        return job if job.state in ("done", "failed", "cancelled") else None

    return await wait_for(check, 60.0)


async def test_upload_creates_then_sends_data_with_the_callers_token(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=2 * MIB,
                            data=[(0, b"boot"), (MIB + 7, b"tail")])
    started = await rt.services.uploads.start(
        _as_cloud_user(demo), vid,
        UploadRequest(image_name="img", visibility="private"), request_id="req-g",
    )
    image_id = started.image.id
    # Made in Glance before the 202, with our id, the caller's token and ours.
    assert glance.images[image_id]["name"] == "img"
    assert glance.images[image_id]["visibility"] == "private"
    job = await _ended(rt, started.job_id)
    assert job.state == "done", job.error
    assert glance.data[image_id] == volume_bytes(rt, vid)
    assert [m for m, _ in glance.methods(image_id)] == ["POST", "PUT", "GET"]
    assert {(t, s) for _, _, t, s in glance.calls} == {("user-token", "service-token")}
    assert await volume_status(rt, vid) == "available"
    row = await image_row(rt, image_id)
    assert row is not None
    assert row.checksum == glance.images[image_id]["checksum"]
    assert staging_files(rt) == []  # sent, not kept
    # The worker acted with the token the job kept (as Cinder's RPC message does).
    assert job.params["auth_token"] == "user-token"


@pytest.mark.parametrize(("status", "detail"), [
    (413, messages.NOT_ENOUGH_SPACE_FOR_IMAGE), (409, messages.FAILED_TO_UPLOAD_VOLUME),
    (401, messages.FAILED_TO_UPLOAD_VOLUME), (503, messages.FAILED_TO_UPLOAD_VOLUME),
])
async def test_glance_refusing_the_data_deletes_the_image_it_made(
    rt: app_module.Runtime, demo, glance: FakeGlance, status: int, detail: Any
) -> None:  # type: ignore[no-untyped-def]
    glance.refuse_upload = status
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, data=[(0, b"x")])
    started = await rt.services.uploads.start(
        _as_cloud_user(demo), vid, UploadRequest(image_name="img"), request_id="req-g",
    )
    job = await _ended(rt, started.job_id)
    assert job.state == "failed"
    image_id = started.image.id
    assert image_id not in glance.images
    assert [m for m, _ in glance.methods(image_id)] == ["POST", "PUT", "DELETE"]
    assert await volume_status(rt, vid) == "available"
    assert await image_row(rt, image_id) is None
    assert staging_files(rt) == []
    msgs = await messages_for(rt, vid)
    assert [m.detail_id for m in msgs] == [detail.id]


async def test_glance_refusing_the_record_leaves_the_volume_alone(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    glance.refuse_create = 413
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB)
    with pytest.raises(TooLarge):
        await rt.services.uploads.start(_as_cloud_user(demo), vid, UploadRequest(image_name="i"),
                                        request_id=None)
    assert await volume_status(rt, vid) == "available"


async def test_refused_upload_deletes_the_record_it_made(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    """The status CAS loses (the volume is busy): the image made in Glance goes again."""
    vid = await make_volume(rt, project_id=demo.project_id, file_bytes=MIB, status="in-use",
                            attached=True)
    with pytest.raises(Exception, match="must be available"):
        await rt.services.uploads.start(_as_cloud_user(demo), vid, UploadRequest(image_name="i"),
                                        request_id=None)
    assert glance.images == {}
    assert [m for m, _, _, _ in glance.calls] == ["POST", "DELETE"]


async def test_volume_from_a_glance_image(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    blob = b"\x01" * 4096 + b"\x00" * 4096 + b"end"
    image_id = str(uuid.uuid4())
    glance.images[image_id] = {
        "id": image_id, "name": "g", "status": "active", "owner": "someone-else",
        "visibility": "shared", "protected": False, "disk_format": "raw",
        "container_format": "bare", "size": len(blob), "min_disk": 0, "min_ram": 0,
        "checksum": hashlib.md5(blob).hexdigest(), "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(blob).hexdigest(), "distro": "debian",
    }
    glance.data[image_id] = blob
    caller = _as_cloud_user(demo)
    # Shared with the caller's project in Glance (it shows it): vouched for.
    volume = await rt.services.volumes.create(
        caller, VolumeCreate(size=1, image_id=image_id), request_id="req-v",
    )

    async def available():  # type: ignore[no-untyped-def]
        status = await volume_status(rt, volume.volume.id)
        assert status != "error"
        return status == "available"

    await wait_for(available, 60.0)
    assert volume_bytes(rt, volume.volume.id)[: len(blob)] == blob
    from cinderlite.db.models import Volume
    from tests.integration.upload.conftest import get_row

    row = await get_row(rt, Volume, volume.volume.id)
    assert row.image_meta["distro"] == "debian"
    assert row.image_meta["image_id"] == image_id
    assert staging_files(rt) == []  # the downloaded copy is gone


async def test_volume_from_an_image_whose_bytes_differ_from_glances_hash_fails(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    image_id = str(uuid.uuid4())
    glance.images[image_id] = {
        "id": image_id, "name": "g", "status": "active", "owner": demo.project_id,
        "visibility": "private", "disk_format": "raw", "container_format": "bare",
        "size": 5, "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(b"other").hexdigest(),
    }
    glance.data[image_id] = b"bytes"
    volume = await rt.services.volumes.create(
        _as_cloud_user(demo), VolumeCreate(size=1, image_id=image_id), request_id="req-v",
    )

    async def failed():  # type: ignore[no-untyped-def]
        return await volume_status(rt, volume.volume.id) == "error"

    await wait_for(failed, 60.0)


async def test_image_glance_does_not_show_is_an_invalid_image_ref(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    from cinderlite.domain.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match=r"Invalid imageRef provided\."):
        await rt.services.volumes.create(
            _as_cloud_user(demo), VolumeCreate(size=1, image_id=str(uuid.uuid4())),
            request_id="req-v",
        )


async def test_glance_errors_are_translated() -> None:
    def answer(status: int):  # type: ignore[no-untyped-def]
        return lambda request: httpx.Response(status, text=f"<h1>{status}</h1> nope")

    async def url() -> str:
        return GLANCE

    async def token() -> str:
        return "svc"

    for status, error in ((409, Conflict), (413, TooLarge), (500, DependencyUnavailable)):
        client = Glance(url=url, service_token=token,
                        transport=httpx.MockTransport(answer(status)))
        with pytest.raises(error, match=f"Glance answered {status}"):
            await client.create("t", {"name": "x"})
        await client.aclose()

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = Glance(url=url, service_token=token, transport=httpx.MockTransport(unreachable))
    with pytest.raises(DependencyUnavailable, match="Glance unreachable"):
        await client.create("t", {})
    await client.aclose()


async def test_recovery_leaves_glance_images_alone(
    rt: app_module.Runtime, demo, glance: FakeGlance
) -> None:  # type: ignore[no-untyped-def]
    """A queued Glance image a volume was asked from (its copy here is queued too) is
    not an interrupted upload: start-up recovery removes no record in Glance."""
    from cinderlite.domain.errors import InvalidRequest

    image_id = str(uuid.uuid4())
    glance.images[image_id] = {"id": image_id, "name": "q", "status": "queued",
                               "owner": demo.project_id, "visibility": "private"}
    with pytest.raises(InvalidRequest, match="is not active"):
        await rt.services.volumes.create(
            _as_cloud_user(demo), VolumeCreate(size=1, image_id=image_id), request_id="r",
        )
    assert (await image_row(rt, image_id)).status == "queued"
    await app_module.recover(rt)
    assert image_id in glance.images
    assert "DELETE" not in [m for m, _, _, _ in glance.calls]
