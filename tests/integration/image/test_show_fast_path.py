"""GET /v2/images/{id} reads without a transaction (on SQLite through the inline
reader): same body, same visibility rules, same 405 for other methods."""

from __future__ import annotations

import pytest

from cinderlite.db import images as images_db
from cinderlite.db.models import Image, ImageMember
from cinderlite.domain.clock import utcnow
from tests.conftest import make_user

pytestmark = pytest.mark.integration

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


async def test_show_matches_the_created_and_updated_image(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={
        "name": "ünïcode", "disk_format": "qcow2", "container_format": "bare",
        "tags": ["a", "b"], "min_disk": 2, "protected": True, "os_hidden": True, "x_prop": "1",
    }, headers=demo.headers)
    assert resp.status_code == 201, resp.text
    created = resp.json()
    shown = await image_client.get(f"/v2/images/{created['id']}", headers=demo.headers)
    assert shown.status_code == 200
    assert shown.headers["content-type"] == "application/json"
    assert shown.json() == created
    assert list(shown.json()) == list(created)  # properties first, then base attributes
    patched = await image_client.patch(
        f"/v2/images/{created['id']}", headers={**demo.headers, **PATCH},
        json=[{"op": "replace", "path": "/name", "value": "renamed"}],
    )
    assert patched.status_code == 200, patched.text
    shown = await image_client.get(f"/v2/images/{created['id']}", headers=demo.headers)
    assert shown.json() == patched.json()
    assert shown.json()["name"] == "renamed"


async def test_shared_image_is_shown_to_members_only(image_client, rt, demo) -> None:  # type: ignore[no-untyped-def]
    member = await make_user(rt, name="mel", project="melproject", roles=("member",))
    stranger = await make_user(rt, name="sam", project="samproject", roles=("member",))
    resp = await image_client.post("/v2/images", json={"name": "s"}, headers=demo.headers)
    image_id = resp.json()["id"]
    assert resp.json()["visibility"] == "shared"
    now = utcnow()
    async with rt.transaction() as db:
        db.add(ImageMember(image_id=image_id, member_id=member.project_id, status="pending",
                           created_at=now, updated_at=now))
    resp = await image_client.get(f"/v2/images/{image_id}", headers=member.headers)
    assert resp.status_code == 200
    assert resp.json()["id"] == image_id
    resp = await image_client.get(f"/v2/images/{image_id}", headers=stranger.headers)
    assert resp.status_code == 404
    assert resp.json()["message"] == f"No image found with ID {image_id}"
    resp = await image_client.get("/v2/images/nope", headers=demo.headers)
    assert resp.status_code == 404


async def test_other_methods_on_an_image_are_405(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post("/v2/images", json={"name": "m"}, headers=demo.headers)
    url = f"/v2/images/{resp.json()['id']}"
    for method in ("HEAD", "POST", "PUT"):
        resp = await image_client.request(method, url, headers=demo.headers)
        assert resp.status_code == 405, method


async def test_reader_row_carries_the_orm_values(image_client, rt, demo) -> None:  # type: ignore[no-untyped-def]
    if rt.reader is None:
        pytest.skip("the inline reader exists on SQLite only")
    resp = await image_client.post("/v2/images", json={
        "name": "r", "tags": ["t"], "x": "y", "min_ram": 5,
    }, headers=demo.headers)
    image_id = resp.json()["id"]
    async with rt.transaction() as db:
        await images_db.update_fields(db, image_id=image_id, values={
            "size": 1 << 40, "checksum": "c" * 32, "protected": True})
    async with rt.sessionmaker() as db:
        orm = await images_db.get(db, image_id=image_id)
    row = images_db.read(rt.reader, image_id=image_id)
    assert orm is not None
    assert row is not None
    for column in Image.__table__.columns:
        assert getattr(row, column.key) == getattr(orm, column.key), column.key
    assert row.protected is True
    assert images_db.read(rt.reader, image_id="nope") is None
