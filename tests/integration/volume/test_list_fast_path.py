"""The SQLite listing on the inline reader (hand-written SQL in db/volumes.py) must
return what the SQLAlchemy statement returns, for every sort key, direction,
filter and marker, NULLs included."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta

import pytest

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import Volume

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 27, 8, 0, 0, 123456)


async def _seed(rt, project_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Eight volumes with repeated and NULL values in the sortable columns."""
    default = await rt.services.volumes.default_type()
    ids = []
    async with rt.transaction() as db:
        for i in range(8):
            vid = f"00000000-0000-0000-0000-00000000000{i}"
            await volumes_db.add(db, Volume(
                id=vid, project_id=project_id, user_id="u",
                name=None if i % 3 == 0 else f"n{i % 2}",
                description=None, size=1 + i % 3, status="available" if i % 2 else "error",
                previous_status=None, attach_status="detached", volume_type_id=default.id,
                availability_zone="nova", bootable=i % 4 == 1, meta={"k": str(i)},
                image_meta={}, source_image_id=None,
                # two pairs share a created_at: the id tiebreaker decides
                created_at=T0 + timedelta(seconds=i // 2),
                updated_at=None if i % 2 else T0 + timedelta(minutes=i),
            ))
            ids.append(vid)
        # another project's volume: never listed for this project
        await volumes_db.add(db, Volume(
            id="ffffffff-0000-0000-0000-000000000000", project_id="other", user_id="u",
            name="n1", description=None, size=1, status="available", previous_status=None,
            attach_status="detached", volume_type_id=default.id, availability_zone="nova",
            bootable=False, meta={}, image_meta={}, source_image_id=None, created_at=T0,
            updated_at=None,
        ))
    return ids


SORTS = [
    [("created_at", "desc")],
    [("created_at", "asc")],
    [("name", "asc")],
    [("name", "desc")],
    [("updated_at", "asc")],
    [("updated_at", "desc")],
    [("size", "asc"), ("name", "desc")],
    [("bootable", "desc"), ("updated_at", "asc")],
    [("status", "asc"), ("id", "asc")],
]
FILTERS = [{}, {"status": "available"}, {"bootable": True}, {"name": "n1"}]


async def test_reader_listing_matches_the_orm_listing(rt, demo) -> None:  # type: ignore[no-untyped-def]
    if rt.reader is None:
        pytest.skip("the inline reader exists on SQLite only")
    ids = await _seed(rt, demo.project_id)
    checked = 0
    async with rt.sessionmaker() as db:
        for sort, filters, project in itertools.product(
            SORTS, FILTERS, [demo.project_id, None]
        ):
            for marker_id in [None, *ids]:
                orm_marker = None
                row_marker = None
                if marker_id is not None:
                    orm_marker = await volumes_db.get(db, volume_id=marker_id)
                    row_marker = await volumes_db.VolumeRepository(rt.db).get(marker_id)
                for limit, offset in ((None, 0), (3, 0), (3, 2), (None, 4)):
                    args = {"project_id": project, "filters": filters, "sort": sort,
                            "limit": limit, "offset": offset}
                    slow = await volumes_db.list_volumes(db, marker=orm_marker, **args)
                    fast = volumes_db.read_volumes(rt.reader, marker=row_marker, **args)
                    assert [(v.id, t) for v, t in fast] == [(v.id, t) for v, t in slow], (
                        sort, filters, project, marker_id, limit, offset)
                    checked += 1
    assert checked > 1000


async def test_reader_rows_carry_the_orm_values(rt, demo) -> None:  # type: ignore[no-untyped-def]
    if rt.reader is None:
        pytest.skip("the inline reader exists on SQLite only")
    ids = await _seed(rt, demo.project_id)
    async with rt.sessionmaker() as db:
        for vid in ids:
            orm = await volumes_db.get(db, volume_id=vid)
            row = await volumes_db.VolumeRepository(rt.db).get(vid)
            assert orm is not None
            assert row is not None
            for column in Volume.__table__.columns:
                assert getattr(row, column.key) == getattr(orm, column.key), column.key
    assert await volumes_db.VolumeRepository(rt.db).get("nope") is None


def test_volume_row_has_every_volume_column() -> None:
    assert {f.name for f in dataclasses.fields(volumes_db.VolumeRow)} == {
        c.key for c in Volume.__table__.columns
    }


@pytest.mark.parametrize("sort", ["bootable:desc,name:asc", "name:asc", "updated_at:desc",
                                  "size:asc,status:desc"])
async def test_paging_walks_the_full_listing_in_order(volume_client, rt, demo, sort) -> None:  # type: ignore[no-untyped-def]
    ids = await _seed(rt, demo.project_id)
    base = f"/v3/{demo.project_id}/volumes/detail?sort={sort}"
    full = await volume_client.get(base, headers=demo.headers)
    assert full.status_code == 200, full.text
    expected = [v["id"] for v in full.json()["volumes"]]
    assert sorted(expected) == sorted(ids)
    seen: list[str] = []
    url = f"{base}&limit=3"
    while url:
        resp = await volume_client.get(url, headers=demo.headers)
        assert resp.status_code == 200, resp.text
        seen += [v["id"] for v in resp.json()["volumes"]]
        links = resp.json().get("volumes_links")
        url = links[0]["href"] if links else ""
        assert len(seen) <= len(ids) + 3
    assert seen == expected


async def test_offset_skips_rows_of_the_listing(volume_client, rt, demo) -> None:  # type: ignore[no-untyped-def]
    """Cinder's `offset`: the listing from its n-th row, with `limit` or not, with and
    without the metadata filter (cut in the service, not the query)."""
    await _seed(rt, demo.project_id)
    base = f"/v3/{demo.project_id}/volumes/detail?sort=id:asc"
    full = [v["id"] for v in (await volume_client.get(base, headers=demo.headers)).json()[
        "volumes"]]
    resp = await volume_client.get(f"{base}&offset=2&limit=3", headers=demo.headers)
    assert [v["id"] for v in resp.json()["volumes"]] == full[2:5]
    resp = await volume_client.get(f"{base}&offset=3", headers=demo.headers)
    assert [v["id"] for v in resp.json()["volumes"]] == full[3:]
    resp = await volume_client.get(f"{base}&offset=1&limit=1&metadata={{}}",
                                   headers=demo.headers)
    assert resp.status_code == 200
    resp = await volume_client.get(f"{base}&offset=1.5", headers=demo.headers)
    assert resp.status_code == 400
    assert resp.json()["badRequest"]["message"] == "offset must be an integer"
