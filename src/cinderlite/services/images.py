"""Image use cases (Glance v2 subset): create, show, list, update, delete, upload and
download of image data, and start-up recovery.

Who may do what (Glance's secure-RBAC defaults): an image is visible to every
user of its owner project, to admins, to everyone when `public` or `community`,
and to member projects when `shared`. Only the owner project's members (role
member or admin) and admins may change, delete or upload to it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cinderlite.datapath.hashing import read_ahead, rechunk
from cinderlite.datapath.inspect import StreamInspector
from cinderlite.db import images as images_db
from cinderlite.db import jobs as jobs_db
from cinderlite.db.images import ImageRepository, ImageRow
from cinderlite.db.models import Image
from cinderlite.domain import images as image_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NoImageFound,
    ServiceError,
    TooLarge,
)
from cinderlite.domain.identity import ADMIN_ROLE, MEMBER_ROLE, Caller
from cinderlite.domain.images import ImageStatus
from cinderlite.services.units import Units
from cinderlite.storage.images.base import ImageStore, StoredImage
from cinderlite.workers.runner import JobRunner

log = logging.getLogger(__name__)


# Glance [image_format] defaults.
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
VISIBILITIES = ("community", "public", "private", "shared")
SORT_KEYS = images_db.SORT_KEYS

# Columns a client may set (glance/api/v2/images.py get_base_properties, minus
# the read-only ones); anything else is a custom string property.
WRITABLE_COLUMNS = (
    "name", "visibility", "protected", "os_hidden", "container_format", "disk_format",
    "min_disk", "min_ram", "tags", "owner",
)
# Glance lets these change only while the image has no data.
QUEUED_ONLY = ("container_format", "disk_format")


class ImageGone(Conflict):
    """The image was deleted while its data was being uploaded (Glance: 410)."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"Image {image_id} could not be found after upload. "
                         "The image may have been deleted during the upload.")


def _not_authorized(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


def is_owner_member(caller: Caller, image: Image) -> bool:
    return image.owner == caller.project_id and bool(
        caller.roles & {MEMBER_ROLE, ADMIN_ROLE}
    )


def can_modify(caller: Caller, image: Image) -> bool:
    return caller.is_admin or is_owner_member(caller, image)


def _sees_without_membership(caller: Caller, image: Image | ImageRow) -> bool | None:
    """Whether `caller` may see `image`, or None when only a membership says so."""
    if caller.is_admin or image.owner == caller.project_id:
        return True
    if image.visibility in ("public", "community"):
        return True
    if image.visibility == "shared":
        return None
    return False


async def can_see(db: AsyncSession, caller: Caller, image: Image) -> bool:
    sees = _sees_without_membership(caller, image)
    if sees is None:
        return await images_db.is_member(db, image_id=image.id, project_id=caller.project_id)
    return sees


async def get_image(
    db: AsyncSession, caller: Caller, image_id: str, *, for_update: bool = False
) -> Image:
    """The image if `caller` may see it; NoImageFound otherwise (Glance hides
    invisible images behind the same 404 as missing ones)."""
    image = await images_db.get(db, image_id=image_id, for_update=for_update)
    if image is None or not await can_see(db, caller, image):
        raise NoImageFound(image_id)
    return image


def _check_visibility_change(caller: Caller, visibility: str | None) -> None:
    if visibility == "public" and not caller.is_admin:
        raise _not_authorized("publicize_image")


async def create_image(
    db: AsyncSession, caller: Caller, *, fields: dict[str, Any], properties: dict[str, str],
) -> Image:
    """Create a `queued` image. `fields` are validated base attributes (see
    WRITABLE_COLUMNS, plus `id`), `properties` the custom string properties."""
    if not (caller.is_admin or MEMBER_ROLE in caller.roles):
        raise _not_authorized("add_image")
    owner = fields.get("owner") or caller.project_id
    if not owner:
        # A system-scoped token has no project to own the image: name one.
        raise _not_authorized("add_image")
    if owner != caller.project_id and not caller.is_admin:
        raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
    _check_visibility_change(caller, fields.get("visibility"))
    image_id = fields.get("id") or str(uuid.uuid4())
    if await images_db.get(db, image_id=image_id) is not None:
        raise Conflict(f"Image with identifier {image_id} already exists!")
    now = utcnow()
    return await images_db.create(
        db, id=image_id, name=fields.get("name"), owner=owner, status=ImageStatus.QUEUED.value,
        visibility=fields.get("visibility") or "shared",
        protected=bool(fields.get("protected", False)),
        os_hidden=bool(fields.get("os_hidden", False)),
        disk_format=fields.get("disk_format"), container_format=fields.get("container_format"),
        min_disk=int(fields.get("min_disk") or 0), min_ram=int(fields.get("min_ram") or 0),
        tags=_unique(fields.get("tags") or []), properties=dict(properties),
        created_at=now, updated_at=now,
    )


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


async def list_images(
    db: AsyncSession, caller: Caller, *, filters: dict[str, Any],
    sort: list[tuple[str, str]], limit: int, marker: str | None,
) -> list[Image]:
    """A page of the images `caller` can see. An unknown or invisible marker is
    InvalidRequest (Glance: 400)."""
    marker_image = None
    if marker is not None:
        marker_image = await images_db.get(db, image_id=marker)
        if marker_image is None or not await can_see(db, caller, marker_image):
            raise InvalidRequest(f"Invalid marker. Image {marker} could not be found.")
    f = images_db.ImageFilters(
        project_id=None if caller.is_admin else caller.project_id, **filters
    )
    return await images_db.list_images(db, filters=f, sort=sort, limit=limit,
                                       marker=marker_image)


async def update_image(
    db: AsyncSession, caller: Caller, image: Image, *, fields: dict[str, Any],
    properties: dict[str, str],
) -> Image:
    """Write the new base `fields` (changed ones only) and the full new set of
    custom `properties` of an image loaded with get_image(for_update=True)."""
    if not can_modify(caller, image):
        raise _not_authorized("modify_image")
    changed = {k: v for k, v in fields.items() if getattr(image, k) != v}
    if "visibility" in changed:
        _check_visibility_change(caller, changed["visibility"])
    if "owner" in changed and not caller.is_admin:
        raise Forbidden("Attribute 'owner' is read-only.")
    for key in QUEUED_ONLY:
        if key in changed and image.status != ImageStatus.QUEUED:
            raise Forbidden(f"Attribute {key} can be only replaced for a queued image.")
    if any(key in changed for key in QUEUED_ONLY):
        # A queued image that a volume upload is writing: its data will be what
        # the upload was asked for, so its formats are no longer the client's
        # to change (the upload would not activate it either).
        for job in await jobs_db.unfinished_for_image(db, image_id=image.id):
            raise Conflict(
                f"Image {image.id} is receiving the data of volume {job.volume_id}: its "
                "disk_format and container_format cannot change."
            )
    if "tags" in changed:
        changed["tags"] = _unique(changed["tags"])
    if not changed and properties == (image.properties or {}):
        return image
    values = {**changed, "properties": dict(properties), "updated_at": utcnow()}
    await images_db.update_fields(db, image_id=image.id, values=values)
    updated = await images_db.get(db, image_id=image.id)
    assert updated is not None
    return updated


# --- image data -------------------------------------------------------------


@dataclass(frozen=True)
class UploadLimits:
    size_cap: int


async def _inspected(
    chunks: AsyncIterator[bytes], inspector: StreamInspector, limits: UploadLimits,
    on_done: Callable[[int | None], None],
) -> AsyncGenerator[bytes, None]:
    """Pass chunks through size cap and format inspection. The final verdict is
    given before the generator ends, so the store never commits refused data."""
    size = 0
    async for chunk in read_ahead(rechunk(chunks)):
        size += len(chunk)
        if size > limits.size_cap:
            raise TooLarge("The provided image is too large.")
        if inspector.enabled:
            await asyncio.to_thread(inspector.feed, chunk)
        yield chunk
    on_done(await asyncio.to_thread(inspector.finish, size))


@dataclass(frozen=True)
class ImageData:
    image: Image
    chunks: AsyncIterator[bytes] | None  # None: the image has no data (204)


async def _remove_orphans(store: ImageStore, known: set[str]) -> None:
    for image_id in await store.stored_ids():
        if image_id not in known:
            await store.delete(image_id)
            log.info("removed data of deleted image %s", image_id)


class ImageService:
    """The image operations that go beyond one unit of work: show on the fast path,
    delete (row, jobs, data), the data upload and download, start-up recovery."""

    def __init__(
        self, *, units: Units, repo: ImageRepository, store: ImageStore, jobs: JobRunner,
        size_cap: int,
    ) -> None:
        self._units = units
        self._repo = repo
        self._store = store
        self._jobs = jobs
        # Glance image_size_cap.
        self._size_cap = size_cap

    async def show(self, caller: Caller, image_id: str) -> Image | ImageRow:
        """`get_image` for GET /v2/images/{id}: no transaction, and on SQLite the inline
        reader (one or two primary-key lookups, no session)."""
        image = await self._repo.get(image_id)
        if image is None:
            raise NoImageFound(image_id)
        sees = _sees_without_membership(caller, image)
        if sees is None:
            sees = await self._repo.is_member(image.id, caller.project_id)
        if not sees:
            raise NoImageFound(image_id)
        return image

    async def delete(self, caller: Caller, image_id: str) -> None:
        """Delete the row, then cancel its unfinished upload jobs and remove its data.

        Crash safety: the row goes first, in one transaction. A crash after it
        leaves a data file without a row; `recover` removes such files. A running
        upload notices the cancel (or the missing row) and restores its volume.
        """
        async with self._units.write() as db:
            image = await get_image(db, caller, image_id, for_update=True)
            if not can_modify(caller, image):
                raise _not_authorized("delete_image")
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            jobs = await jobs_db.unfinished_for_image(db, image_id=image_id)
            await images_db.delete_image(db, image_id=image_id)
        for job in jobs:
            try:
                self._jobs.cancel(job.id)
            except Exception:
                log.exception("could not cancel job %s of deleted image %s", job.id, image_id)
        await self._store.delete(image_id)

    async def upload_data(
        self, caller: Caller, image_id: str, chunks: AsyncIterator[bytes],
        *, content_length: int | None = None,
    ) -> Image:
        """PUT /v2/images/{id}/file: `queued -> saving -> active`.

        The data goes to a staging file that the store renames into place only after
        the stream ended and passed inspection. On any failure (client gone, size
        cap, refused format, full disk) the staging file is removed and the image
        goes back to `queued`. A crash mid-stream leaves the row `saving` and a
        staging file: `recover` puts it back to `queued` and removes the file.
        """
        limits = UploadLimits(size_cap=self._size_cap)
        async with self._units.write() as db:
            image = await get_image(db, caller, image_id, for_update=True)
            if not can_modify(caller, image):
                raise _not_authorized("upload_image")
            if image.status != ImageStatus.QUEUED:
                raise Conflict(
                    f"Image status transition from {image.status} to saving is not allowed"
                )
            missing = [k for k in ("disk_format", "container_format") if not getattr(image, k)]
            if missing:
                word = "Properties" if len(missing) > 1 else "Property"
                raise InvalidRequest(
                    f"{word} {', '.join(missing)} must be set prior to saving data."
                )
            if content_length is not None and content_length > limits.size_cap:
                raise TooLarge("The provided image is too large.")
            ok = await images_db.transition(
                db, image_id=image_id, rule=image_rules.BEGIN_SAVING, now=utcnow(),
            )
            if not ok:
                raise Conflict("Image status transition from queued to saving is not allowed")
            disk_format, container_format = image.disk_format, image.container_format

        inspector = StreamInspector(disk_format, container_format)
        virtual: list[int | None] = []
        stream = _inspected(chunks, inspector, limits, virtual.append)
        try:
            stored = await self._store.write(image_id, stream)
        except BaseException as exc:
            await asyncio.shield(self._back_to_queued(image_id))
            if isinstance(exc, Exception) and not isinstance(exc, ServiceError):
                # A delete during the upload removes the staging file under us.
                async with self._units.write() as db:
                    if await images_db.get(db, image_id=image_id) is None:
                        raise ImageGone(image_id) from exc
            raise
        finally:
            await stream.aclose()
        return await self._activate(image_id, stored, virtual[0] if virtual else None)

    async def _activate(
        self, image_id: str, stored: StoredImage, virtual_size: int | None
    ) -> Image:
        try:
            async with self._units.write() as db:
                ok = await images_db.transition(
                    db, image_id=image_id, rule=image_rules.ACTIVATE, now=utcnow(), values={
                        "size": stored.size, "virtual_size": virtual_size,
                        "checksum": stored.checksum, "os_hash_algo": stored.os_hash_algo,
                        "os_hash_value": stored.os_hash_value,
                    },
                )
                image = await images_db.get(db, image_id=image_id)
        except BaseException:
            await asyncio.shield(self._back_to_queued(image_id))
            raise
        if not ok or image is None:
            # Deleted (or reset) while we were writing: drop the data we stored.
            await self._store.delete(image_id)
            raise ImageGone(image_id)
        return image

    async def _back_to_queued(self, image_id: str) -> None:
        """Undo `saving`: status back to `queued`, sizes cleared, data removed."""
        try:
            async with self._units.write() as db:
                await images_db.transition(
                    db, image_id=image_id, rule=image_rules.BACK_TO_QUEUED, now=utcnow(),
                    values={"size": None, "virtual_size": None},
                )
            await self._store.delete(image_id)
        except Exception:
            log.exception("could not restore image %s to queued", image_id)

    async def open_data(self, caller: Caller, image_id: str) -> ImageData:
        """GET /v2/images/{id}/file: a stream of the data, or None when there is none."""
        async with self._units.read() as db:
            image = await get_image(db, caller, image_id)
        if image.status == ImageStatus.DEACTIVATED and not caller.is_admin:
            raise Forbidden("The requested image has been deactivated. "
                            "Image data download is forbidden.")
        if image.status != ImageStatus.ACTIVE or not await self._store.exists(image_id):
            return ImageData(image, None)
        return ImageData(image, self._store.read(image_id, chunk_size=4 << 20))

    async def recover(self) -> None:
        """Undo what a crash can leave: `saving` images with no unfinished job go
        back to `queued` (their partial data removed), staging files of images not
        being written are removed, and data files without an image row are deleted."""
        async with self._units.write() as db:
            pending = await images_db.ids_in_status(
                db, statuses=(ImageStatus.QUEUED, ImageStatus.SAVING)
            )
            busy = {i for i in pending if await jobs_db.unfinished_for_image(db, image_id=i)}
            saving = await images_db.ids_in_status(db, statuses=(ImageStatus.SAVING,))
            for image_id in saving:
                if image_id in busy:
                    continue
                await images_db.transition(
                    db, image_id=image_id, rule=image_rules.BACK_TO_QUEUED, now=utcnow(),
                    values={"size": None, "virtual_size": None},
                )
            queued = await images_db.ids_in_status(db, statuses=(ImageStatus.QUEUED,))
            known = set(await images_db.ids_in_status(db, statuses=tuple(ImageStatus)))
        for image_id in queued:
            if image_id not in busy:
                await self._store.delete(image_id)
        removed = await self._store.cleanup_staging(keep=busy)
        if removed:
            log.info("removed %d orphaned image staging files", len(removed))
        await _remove_orphans(self._store, known)



__all__ = [
    "CONTAINER_FORMATS",
    "DISK_FORMATS",
    "ImageData",
    "ImageService",
    "ImageStatus",
    "create_image",
    "get_image",
    "list_images",
    "update_image",
]
