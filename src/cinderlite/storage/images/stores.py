"""Several image stores (Glance's multi-store, file stores only) behind one ImageStore.

`ImageStores` holds the stores the operator configured (`image_stores`), each a
FileImageStore in its own directory, and the default one. It is itself an
ImageStore, so the code that does not choose a store (the volume upload, the
volume made from an image) keeps working as before:

- writes and staging go to the default store;
- reads, `exists`, `size` and `data_path` use the first store holding the
  image's data, the default first;
- `delete` removes the data from every store; `cleanup_staging` cleans every one.

Which stores hold an image is recorded on its row (`images.stores`); the image
service writes into a chosen store through `store(id)`. An image's data in a
store is named by a `file://` URL (`location_url`, Glance's locations); the
location API turns such a URL back into its store and image (`find_location`)
and reads that data only from a regular file (`read_located`).

With nothing configured there is one store, `data_dir/images`, and `multi` is
False: the API then serves no multi-store calls, as Glance without
enabled_backends.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from cinderlite.domain.jobs import Guard
from cinderlite.storage.images.base import (
    CatalogImage,
    ImageDraft,
    ImageStore,
    Staging,
    StoredImage,
)
from cinderlite.storage.images.files import read_regular

# The store id of the single store when none is configured (Glance's default_store).
SINGLE_STORE_ID = "file"
# Glance reserves these store ids for its own staging and tasks stores.
RESERVED_PREFIX = "os_glance_"
# What a download reads at a time (the image API's chunk).
READ_CHUNK_SIZE = 4 << 20
# An image id as a location URL may name one (Glance's image id pattern).
_IMAGE_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


@dataclass(frozen=True)
class StoreInfo:
    """One configured store, as /v2/info/stores(/detail) describes it."""

    id: str
    path: Path
    description: str = ""
    weight: int = 0
    type: str = "file"


def _pairs(entries: Sequence[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for entry in entries:
        key, sep, value = entry.partition(":")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{option}: expected '<store id>:<value>', got {entry!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def parse_store_config(
    entries: Sequence[str], *, default: str, descriptions: Sequence[str] = (),
    weights: Sequence[str] = (),
) -> tuple[list[StoreInfo], str]:
    """The operator's image_stores (`id:directory`), default_image_store,
    image_store_descriptions (`id:text`) and image_store_weights (`id:int`) ->
    the stores and the default's id. ValueError names what is wrong."""
    stores = _pairs(entries, "image_stores")
    ids = [store_id for store_id, _ in stores]
    for store_id in ids:
        if ids.count(store_id) > 1:
            raise ValueError(f"image_stores: store {store_id!r} is listed twice")
        if store_id.startswith(RESERVED_PREFIX):
            raise ValueError(f"image_stores: store ids starting with {RESERVED_PREFIX!r} "
                             "are reserved")
        if "," in store_id or "/" in store_id:
            raise ValueError(f"image_stores: store id {store_id!r} may not contain ',' or '/'")
    paths = [os.path.realpath(path) for _, path in stores]
    if len(set(paths)) != len(paths):
        raise ValueError("image_stores: two stores share a directory")
    described = dict(_pairs(descriptions, "image_store_descriptions"))
    weighed: dict[str, int] = {}
    for store_id, raw in _pairs(weights, "image_store_weights"):
        try:
            weighed[store_id] = int(raw)
        except ValueError:
            raise ValueError(f"image_store_weights: {store_id}: not an integer: {raw!r}") from None
    for option, named in (("image_store_descriptions", described),
                          ("image_store_weights", weighed)):
        for store_id in named:
            if store_id not in ids:
                raise ValueError(f"{option}: no store {store_id!r} in image_stores")
    if default and default not in ids:
        raise ValueError(f"default_image_store: no store {default!r} in image_stores")
    infos = [
        StoreInfo(id=store_id, path=Path(path), description=described.get(store_id, ""),
                  weight=weighed.get(store_id, 0))
        for store_id, path in stores
    ]
    return infos, default or ids[0]


class ImageStores:
    """The configured stores; an ImageStore that writes to the default one."""

    def __init__(
        self, stores: Mapping[str, ImageStore], infos: Sequence[StoreInfo], *, default: str,
        multi: bool,
    ) -> None:
        if default not in stores:
            raise ValueError(f"no default store {default!r}")
        self._stores = dict(stores)
        self.infos = tuple(infos)
        self.default_id = default
        # False: one unnamed store, as Glance without enabled_backends.
        self.multi = multi
        # True when the (only) store keeps image records of its own.
        self.remote_catalog = self._stores[default].remote_catalog
        # The default first: where data is looked for first.
        self._order = [default, *(i for i in self._stores if i != default)]

    @property
    def ids(self) -> list[str]:
        """The store ids in their configured order."""
        return [info.id for info in self.infos]

    def has(self, store_id: str) -> bool:
        return store_id in self._stores

    def store(self, store_id: str) -> ImageStore:
        """The store named `store_id` (KeyError when there is none: check `has`)."""
        return self._stores[store_id]

    @property
    def default(self) -> ImageStore:
        return self._stores[self.default_id]

    def holding(self, image_id: str) -> list[str]:
        """The ids of the stores that have committed data of `image_id`, the default first."""
        return [i for i in self._order if self._stores[i].data_path(image_id).exists()]

    def _holder(self, image_id: str) -> ImageStore:
        held = self.holding(image_id)
        return self._stores[held[0]] if held else self.default

    def location_url(self, store_id: str, image_id: str) -> str:
        """The image's data in `store_id` as Glance's file store names it."""
        return f"file://{os.path.abspath(self._stores[store_id].data_path(image_id))}"

    def find_location(self, url: str) -> tuple[str, str] | None:
        """The (store id, image id) whose data `url` names, when `url` is exactly what
        `location_url` makes of them; None for every other URL: another scheme, a
        host, a path outside the stores' directories, `.`, `..`, `//`, escapes, a
        query, a name that is not an image id. A location URL comes from a client:
        nothing but this exact form may reach a file name."""
        name = url.rpartition("/")[2]
        if not _IMAGE_ID.fullmatch(name):
            return None
        for store_id in self._order:
            if self.location_url(store_id, name) == url:
                return store_id, name
        return None

    def read_located(
        self, store_id: str, image_id: str, chunk_size: int = 1 << 20
    ) -> AsyncIterator[bytes]:
        """The data of `image_id` in `store_id` as a location names it: read only
        from a regular file, never through a symbolic link (BadLocation otherwise)."""
        return read_regular(self._stores[store_id].data_path(image_id), chunk_size)

    # --- the ImageStore protocol ------------------------------------------------

    # Records: a store that keeps its own (a cloud's Glance, storage/images/glance.py)
    # is the only store (joined sites configure no image_stores); file stores keep
    # none and these calls do nothing more for them.

    def as_user(self, token: str) -> ImageStore:
        return self.default.as_user(token) if self.remote_catalog else self

    async def register(self, draft: ImageDraft) -> None:
        await self.default.register(draft)

    async def lookup(self, image_id: str) -> CatalogImage | None:
        return await self.default.lookup(image_id)

    def local_copy(self, image_id: str) -> AbstractAsyncContextManager[Path]:
        return self._holder(image_id).local_copy(image_id)

    async def discard(self, image_id: str) -> None:
        for store_id in self._order:
            await self._stores[store_id].discard(image_id)

    async def write(
        self, image_id: str, chunks: AsyncIterator[bytes], guard: Guard | None = None,
    ) -> StoredImage:
        return await self.default.write(image_id, chunks, guard)

    def read(self, image_id: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        return self._holder(image_id).read(image_id, chunk_size)

    async def delete(self, image_id: str) -> None:
        for store_id in self._order:
            await self._stores[store_id].delete(image_id)

    async def exists(self, image_id: str) -> bool:
        for store_id in self._order:
            if await self._stores[store_id].exists(image_id):
                return True
        return False

    async def size(self, image_id: str) -> int | None:
        for store_id in self._order:
            size = await self._stores[store_id].size(image_id)
            if size is not None:
                return size
        return None

    def data_path(self, image_id: str) -> Path:
        return self._holder(image_id).data_path(image_id)

    def staging(self, image_id: str) -> AbstractAsyncContextManager[Staging]:
        return self.default.staging(image_id)

    def free_bytes(self) -> int:
        return self.default.free_bytes()

    async def stored_ids(self) -> list[str]:
        found: dict[str, None] = {}
        for store_id in self._order:
            found.update(dict.fromkeys(await self._stores[store_id].stored_ids()))
        return list(found)

    async def cleanup_staging(
        self, keep: set[str] | None = None, *, image_id: str | None = None
    ) -> list[str]:
        removed: list[str] = []
        for store_id in self._order:
            removed += await self._stores[store_id].cleanup_staging(keep, image_id=image_id)
        return removed


__all__ = [
    "READ_CHUNK_SIZE",
    "SINGLE_STORE_ID",
    "ImageStores",
    "StoreInfo",
    "parse_store_config",
]
