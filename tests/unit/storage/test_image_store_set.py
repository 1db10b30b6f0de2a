"""ImageStores: several FileImageStores behind the one ImageStore protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from cinderlite.storage.images.files import FileImageStore
from cinderlite.storage.images.stores import ImageStores, StoreInfo

ID = "6c0d5c8c-0000-4000-8000-00000000000a"


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


@pytest.fixture
def stores(tmp_path: Path) -> ImageStores:
    infos = [StoreInfo(id=name, path=tmp_path / name) for name in ("a", "b", "c")]
    return ImageStores({i.id: FileImageStore(i.path) for i in infos}, infos, default="b",
                       multi=True)


async def test_writes_go_to_the_default_and_reads_find_the_data(stores, tmp_path) -> None:  # type: ignore[no-untyped-def]
    stored = await stores.write(ID, _chunks(b"data"))
    assert stored.size == 4
    assert stores.holding(ID) == ["b"]
    assert stores.data_path(ID) == tmp_path / "b" / ID
    await stores.store("c").write(ID, _chunks(b"data"))
    assert stores.holding(ID) == ["b", "c"]  # the default first
    assert await stores.size(ID) == 4
    assert b"".join([c async for c in stores.read(ID)]) == b"data"
    assert await stores.stored_ids() == [ID]
    assert stores.location_url("c", ID) == f"file://{tmp_path / 'c' / ID}"


async def test_data_outside_the_default_is_found(stores, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await stores.store("a").write(ID, _chunks(b"only in a"))
    assert await stores.exists(ID)
    assert stores.data_path(ID) == tmp_path / "a" / ID
    assert b"".join([c async for c in stores.read(ID)]) == b"only in a"


async def test_delete_and_cleanup_cover_every_store(stores, tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b", "c"):
        await stores.store(name).write(ID, _chunks(b"x"))
        (tmp_path / name / ".staging" / f"{ID}.left").write_bytes(b"half")
    assert sorted(await stores.cleanup_staging()) == [f"{ID}.left"] * 3
    await stores.delete(ID)
    assert stores.holding(ID) == []
    assert not await stores.exists(ID)


def test_the_default_must_be_a_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    info = StoreInfo(id="a", path=tmp_path / "a")
    with pytest.raises(ValueError, match="no default store"):
        ImageStores({"a": FileImageStore(info.path)}, [info], default="z", multi=True)
