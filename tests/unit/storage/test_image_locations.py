"""ImageStores.find_location and read_located: which location URLs name data, and
how that data is read (never through a symbolic link, only from a regular file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cinderlite.domain.image_locations import BadLocation
from cinderlite.storage.images.files import FileImageStore
from cinderlite.storage.images.stores import ImageStores, StoreInfo

ID = "6c0d5c8c-0000-4000-8000-00000000000a"


async def _chunks(data: bytes):  # type: ignore[no-untyped-def]
    yield data


@pytest.fixture
def stores(tmp_path: Path) -> ImageStores:
    infos = [StoreInfo(id=name, path=tmp_path / name) for name in ("a", "b")]
    return ImageStores({i.id: FileImageStore(i.path) for i in infos}, infos, default="a",
                       multi=True)


def test_a_url_as_the_locations_show_it_names_its_store_and_image(stores, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert stores.find_location(f"file://{tmp_path}/b/{ID}") == ("b", ID)
    assert stores.find_location(stores.location_url("a", ID)) == ("a", ID)
    upper = ID.upper()
    assert stores.find_location(f"file://{tmp_path}/a/{upper}") == ("a", upper)


@pytest.mark.parametrize("make", [
    lambda root: f"file://{root}/a/../b/{ID}",
    lambda root: f"file://{root}/a/./{ID}",
    lambda root: f"file://{root}/a//{ID}",
    lambda root: f"file://{root}/a/.staging/{ID}",
    lambda root: f"file://{root}/c/{ID}",
    lambda root: f"file://{root}/{ID}",
    lambda root: f"file://localhost{root}/a/{ID}",
    lambda root: f"file:{root}/a/{ID}",
    lambda root: f"FILE://{root}/a/{ID}",
    lambda root: f"filesystem://{root}/a/{ID}",
    lambda root: f"http://127.0.0.1{root}/a/{ID}",
    lambda root: f"file://{root}/a/{ID}?x=1",
    lambda root: f"file://{root}/a/{ID}#x",
    lambda root: f"file://{root}/a/{ID}/",
    lambda root: f"file://{root}/a/{ID[:-1]}%61",
    lambda root: f"file://{root}/a/../../../etc/passwd",
    lambda root: "file:///etc/passwd",
    lambda root: f"file://{root}/a/{ID}x",
    lambda root: f" file://{root}/a/{ID}",
    lambda root: "",
])
def test_any_other_url_names_nothing(stores, tmp_path, make) -> None:  # type: ignore[no-untyped-def]
    assert stores.find_location(make(tmp_path)) is None


async def test_located_data_is_read_from_the_file(stores) -> None:  # type: ignore[no-untyped-def]
    await stores.store("b").write(ID, _chunks(b"located data"))
    data = b"".join([c async for c in stores.read_located("b", ID, chunk_size=4)])
    assert data == b"located data"


async def test_a_symbolic_link_in_the_store_is_not_followed(stores, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "host-file"
    secret.write_bytes(b"not for tenants")
    os.symlink(secret, tmp_path / "b" / ID)
    with pytest.raises(BadLocation):
        [c async for c in stores.read_located("b", ID)]


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing"])
async def test_only_a_regular_file_is_read(stores, tmp_path, kind) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "b" / ID
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    with pytest.raises(BadLocation, match="Invalid location"):
        [c async for c in stores.read_located("b", ID)]
