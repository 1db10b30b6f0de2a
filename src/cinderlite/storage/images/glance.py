"""Images in a cloud's Glance (joined mode): the ImageStore protocol over Glance v2.

The data is made as with the file store, in a staging file on the local disk
(conversions, hashes and checks unchanged), and `Staging.commit` streams it into
Glance (`PUT /v2/images/{id}/file`): Glance hashes it again and makes the image
active. Records are Glance's: `register` creates the queued image (with our id)
with the caller's token, `delete` deletes it there, `lookup` reads it. Reading
data (`read`, `local_copy`) downloads it from Glance and checks it against the
hash Glance recorded.

Crash safety: a crash before the PUT ends leaves a queued image in Glance (Glance
itself puts an image whose upload broke off back to queued) and a local staging
file; the job's re-run sends the data again, its rollback deletes the image. A
full local disk fails the upload before anything reaches Glance (StorageFull);
a Glance over its quota answers 413 (TooLarge): the upload fails and the image
it made is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from cinderlite.cloud.glance import Glance
from cinderlite.domain.errors import ConversionFailed, ImageNotFound
from cinderlite.domain.jobs import Guard
from cinderlite.storage.images.base import CatalogImage, ImageDraft, ImageStore
from cinderlite.storage.images.files import FileImageStore
from cinderlite.storage.images.staging import DirStaging, staging_in

CHUNK = 1 << 20
# Glance's image schema: every other key of an image is a custom property.
_SCHEMA_KEYS = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
    "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk",
    "container_format", "disk_format", "created_at", "updated_at", "tags", "direct_url",
    "locations", "self", "file", "schema", "stores",
})


def record_from(body: dict[str, Any]) -> CatalogImage:
    def _int(key: str) -> int | None:
        value = body.get(key)
        return int(value) if isinstance(value, int) else None

    return CatalogImage(
        id=str(body["id"]), name=body.get("name"), status=str(body.get("status", "")),
        owner=body.get("owner"), visibility=str(body.get("visibility") or "shared"),
        protected=bool(body.get("protected")), disk_format=body.get("disk_format"),
        container_format=body.get("container_format"), size=_int("size"),
        virtual_size=_int("virtual_size"), checksum=body.get("checksum"),
        os_hash_algo=body.get("os_hash_algo"), os_hash_value=body.get("os_hash_value"),
        min_disk=_int("min_disk") or 0, min_ram=_int("min_ram") or 0,
        properties={
            str(k): str(v) for k, v in body.items()
            if k not in _SCHEMA_KEYS and v is not None
        },
    )


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    fh = await asyncio.to_thread(open, path, "rb")
    try:
        while True:
            chunk = await asyncio.to_thread(fh.read, CHUNK)
            if not chunk:
                return
            yield chunk
    finally:
        fh.close()


def _write_hashed(fh: Any, hasher: Any, chunk: bytes) -> None:
    hasher.update(chunk)
    fh.write(chunk)


class GlanceImageStore(FileImageStore):
    """Staging (and downloaded copies) under `root` on the local disk; images in Glance."""

    remote_catalog = True

    def __init__(self, root: Path, glance: Glance, *, token: str = "") -> None:
        super().__init__(root)
        self._glance = glance
        self._token = token

    def as_user(self, token: str) -> ImageStore:
        return GlanceImageStore(self.root, self._glance, token=token) if token else self

    async def register(self, draft: ImageDraft) -> None:
        body: dict[str, Any] = {
            "id": draft.id, "name": draft.name, "disk_format": draft.disk_format,
            "container_format": draft.container_format, **draft.properties,
        }
        if draft.visibility is not None:
            body["visibility"] = draft.visibility
        if draft.protected is not None:
            body["protected"] = draft.protected
        await self._glance.create(self._token, body)

    async def lookup(self, image_id: str) -> CatalogImage | None:
        body = await self._glance.get(self._token, image_id)
        return None if body is None else record_from(body)

    def staging(self, image_id: str) -> AbstractAsyncContextManager[DirStaging]:
        return staging_in(self.staging_dir, image_id, functools.partial(self._send, image_id))

    async def _send(self, image_id: str, path: Path, guard: Guard | None) -> None:
        """The commit: the staging file's bytes into Glance (once `guard` let it),
        then the file removed."""
        size = (await asyncio.to_thread(os.stat, path)).st_size
        if guard is not None:
            await asyncio.to_thread(guard)
        await self._glance.upload(self._token, image_id, _file_chunks(path), size)
        await asyncio.to_thread(path.unlink, missing_ok=True)
        body = await self._glance.get(self._token, image_id)
        if body is None:
            raise ImageNotFound(image_id)
        if body.get("status") != "active" or body.get("size") != size:
            raise ConversionFailed(
                f"Glance holds image {image_id} as {body.get('status')} with "
                f"{body.get('size')} bytes after {size} were sent"
            )

    async def exists(self, image_id: str) -> bool:
        body = await self._glance.get(self._token, image_id)
        return body is not None and body.get("status") == "active"

    async def size(self, image_id: str) -> int | None:
        body = await self._glance.get(self._token, image_id)
        value = None if body is None else body.get("size")
        return value if isinstance(value, int) else None

    async def read(self, image_id: str, chunk_size: int = CHUNK) -> AsyncIterator[bytes]:
        async with self._glance.download(self._token, image_id) as chunks:
            async for chunk in chunks:
                yield chunk

    @contextlib.asynccontextmanager
    async def local_copy(self, image_id: str) -> AsyncIterator[Path]:
        """The image downloaded into a staging file (removed afterwards), checked
        against the hash Glance recorded (as Cinder's glance download verifies)."""
        body = await self._glance.get(self._token, image_id)
        if body is None:
            raise ImageNotFound(image_id)
        algo = body.get("os_hash_algo") or "md5"
        expected = body.get("os_hash_value") if body.get("os_hash_algo") else body.get("checksum")
        async with self.staging(image_id) as staging:
            path = staging.path
            hasher = hashlib.new(str(algo))
            fh = await asyncio.to_thread(open, path, "xb")
            try:
                async with self._glance.download(self._token, image_id) as chunks:
                    async for chunk in chunks:
                        await asyncio.to_thread(_write_hashed, fh, hasher, chunk)
            finally:
                fh.close()
            if expected and hasher.hexdigest() != expected:
                raise ConversionFailed(
                    f"Image {image_id} downloaded from Glance does not match its {algo} hash"
                )
            yield path

    async def delete(self, image_id: str) -> None:
        """The image in Glance (with the caller's token, else the service's) and any
        local staging file."""
        await self._glance.delete(self._token, image_id)
        await self.discard(image_id)

    async def discard(self, image_id: str) -> None:
        await FileImageStore.delete(self, image_id)


__all__ = ["GlanceImageStore", "record_from"]
