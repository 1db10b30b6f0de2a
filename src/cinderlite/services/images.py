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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cinderlite.datapath.hashing import read_ahead, rechunk
from cinderlite.datapath.inspect import StreamInspector
from cinderlite.db.images import SORT_KEYS, ImageFilters, ImageRepository, ImageRow
from cinderlite.db.jobs import JobRepository
from cinderlite.db.uploads import UPLOAD_KIND
from cinderlite.domain import images as image_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NoImageFound,
    NotFound,
    ServiceError,
    TooLarge,
)
from cinderlite.domain.identity import ADMIN_ROLE, MEMBER_ROLE, READER_ROLE, Caller
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.records import ImageRecord
from cinderlite.domain.transitions import Transition
from cinderlite.services.units import Unit, Units
from cinderlite.storage.images.base import ImageStore, StoredImage
from cinderlite.storage.images.cache import ImageCache
from cinderlite.storage.images.stores import READ_CHUNK_SIZE, ImageStores, StoreInfo
from cinderlite.workers.runner import JobRunner

log = logging.getLogger(__name__)


# Glance [image_format] defaults.
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop")
VISIBILITIES = ("community", "public", "private", "shared")

# Columns a client may set (glance/api/v2/images.py get_base_properties, minus
# the read-only ones); anything else is a custom string property.
WRITABLE_COLUMNS = (
    "name", "visibility", "protected", "os_hidden", "container_format", "disk_format",
    "min_disk", "min_ram", "tags", "owner",
)
# Glance lets these change only while the image has no data.
QUEUED_ONLY = ("container_format", "disk_format")

# What an update is given: the image as it is (locked), and what it returns: the
# new base fields (see WRITABLE_COLUMNS) and the full new set of custom properties.
# The API makes it from the request (a JSON patch, a tag to add or remove).
ImageEdit = Callable[[ImageRecord], tuple[dict[str, Any], dict[str, str]]]


class ImageGone(Conflict):
    """The image was deleted while its data was being uploaded (Glance: 410)."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"Image {image_id} could not be found after upload. "
                         "The image may have been deleted during the upload.")


def _not_authorized(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


def is_owner_member(caller: Caller, image: ImageRecord) -> bool:
    return image.owner == caller.project_id and bool(
        caller.roles & {MEMBER_ROLE, ADMIN_ROLE}
    )


def can_modify(caller: Caller, image: ImageRecord) -> bool:
    return caller.is_admin or is_owner_member(caller, image)


def sees_without_membership(caller: Caller, image: ImageRecord) -> bool | None:
    """Whether `caller` may see `image`, or None when only a membership says so."""
    if caller.is_admin or image.owner == caller.project_id:
        return True
    if image.visibility in ("public", "community"):
        return True
    if image.visibility == "shared":
        return None
    return False


def _check_visibility_change(caller: Caller, visibility: str | None) -> None:
    if visibility == "public" and not caller.is_admin:
        raise _not_authorized("publicize_image")


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


# --- image data -------------------------------------------------------------


@dataclass(frozen=True)
class UploadLimits:
    size_cap: int


async def inspected(
    chunks: AsyncIterator[bytes], inspector: StreamInspector, limits: UploadLimits,
    on_done: Callable[[int | None], None],
) -> AsyncGenerator[bytes, None]:
    """Pass chunks through size cap and format inspection. The final verdict is
    given before the generator ends, so the store never commits refused data.
    Every way tenant bytes come in (upload, stage, web-download) goes through it."""
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
    image: ImageRow
    chunks: AsyncIterator[bytes] | None  # None: the image has no data (204)


async def _remove_orphans(stores: ImageStores, known: set[str]) -> None:
    for image_id in await stores.stored_ids():
        if image_id not in known:
            # The data only: a store with records of its own keeps them (glance.py).
            await stores.discard(image_id)
            log.info("removed data of deleted image %s", image_id)


# Glance's policy for GET /v2/info/stores/detail (stores_info_detail): admin or service.
SERVICE_ROLE = "service"
# Images whose data is in their stores (the others have none, or are being written).
HAS_DATA = frozenset({ImageStatus.ACTIVE, ImageStatus.DEACTIVATED})


def split_stores(recorded: str | None) -> list[str]:
    """The `images.stores` column -> store ids."""
    return [s for s in (recorded or "").split(",") if s]


@dataclass(frozen=True)
class LocationOptions:
    """Glance show_multiple_locations / show_image_direct_url."""

    show_multiple_locations: bool = False
    show_image_direct_url: bool = False


@dataclass(frozen=True)
class Location:
    """Where an image's data is: a file:// URL and the store holding it (None:
    the one store of a site without image_stores, Glance's empty metadata)."""

    url: str
    store: str | None


class ImageService:
    """The image use cases. Each step runs in a unit of work the service opens
    itself; reads outside one (show, download) take the repository's fast path."""

    def __init__(
        self, *, units: Units, repo: ImageRepository, job_repo: JobRepository,
        store: ImageStores, jobs: JobRunner, size_cap: int, staging: ImageStore | None = None,
        locations: LocationOptions | None = None, cache: ImageCache | None = None,
    ) -> None:
        self._units = units
        # This node's image cache (image_cache_dir): a deleted image leaves it.
        self._cache = cache
        # The import staging area (services/image_import.py): staged data goes
        # with its image.
        self._staging = staging
        self._repo = repo
        self._job_repo = job_repo
        self._store = store
        self._jobs = jobs
        # Glance image_size_cap.
        self._size_cap = size_cap
        self.location_options = locations or LocationOptions()

    async def _visible(
        self, caller: Caller, image_id: str, *, unit: Unit | None = None,
        for_update: bool = False,
    ) -> ImageRow:
        """The image if `caller` may see it; NoImageFound otherwise (Glance hides
        invisible images behind the same 404 as missing ones). Outside a unit, on
        SQLite, one or two primary-key lookups on the inline reader."""
        image = await self._repo.get(image_id, unit=unit, for_update=for_update)
        if image is None:
            raise NoImageFound(image_id)
        sees = sees_without_membership(caller, image)
        if sees is None:
            sees = await self._repo.is_member(image.id, caller.project_id, unit=unit)
        if not sees:
            raise NoImageFound(image_id)
        return image

    async def visible(
        self, caller: Caller, image_id: str, *, unit: Unit | None = None,
        for_update: bool = False,
    ) -> ImageRow:
        """The image if `caller` may see it, else NoImageFound (see `_visible`)."""
        return await self._visible(caller, image_id, unit=unit, for_update=for_update)

    async def _can_see(self, caller: Caller, image: ImageRecord, unit: Unit | None) -> bool:
        sees = sees_without_membership(caller, image)
        if sees is None:
            return await self._repo.is_member(image.id, caller.project_id, unit=unit)
        return sees

    async def show(self, caller: Caller, image_id: str) -> ImageRow:
        """GET /v2/images/{id}: no transaction, and on SQLite the inline reader.
        Clients poll it while uploads run."""
        return await self._visible(caller, image_id)

    async def create(
        self, caller: Caller, *, fields: dict[str, Any], properties: dict[str, str],
    ) -> ImageRow:
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
        now = utcnow()
        async with self._units.write() as unit:
            # An id that is taken is a Conflict (the repository's).
            return await self._repo.add(
                unit, id=fields.get("id") or str(uuid.uuid4()), name=fields.get("name"),
                owner=owner, status=ImageStatus.QUEUED.value,
                visibility=fields.get("visibility") or "shared",
                protected=bool(fields.get("protected", False)),
                os_hidden=bool(fields.get("os_hidden", False)),
                disk_format=fields.get("disk_format"),
                container_format=fields.get("container_format"),
                min_disk=int(fields.get("min_disk") or 0), min_ram=int(fields.get("min_ram") or 0),
                tags=_unique(fields.get("tags") or []), properties=dict(properties),
                created_at=now, updated_at=now,
            )

    async def list(
        self, caller: Caller, *, filters: dict[str, Any], sort: list[tuple[str, str]],
        limit: int, marker: str | None,
    ) -> list[ImageRow]:
        """A page of the images `caller` can see. An unknown or invisible marker is
        InvalidRequest (Glance: 400)."""
        query = ImageFilters(
            project_id=None if caller.is_admin else caller.project_id,
            caller_project=caller.project_id, **filters,
        )
        async with self._units.read() as unit:
            marker_image = None
            if marker is not None:
                marker_image = await self._repo.get(marker, unit=unit)
                if marker_image is None or not await self._can_see(caller, marker_image, unit):
                    raise InvalidRequest(f"Invalid marker. Image {marker} could not be found.")
            return await self._repo.list(
                unit, filters=query, sort=sort, limit=limit, marker=marker_image
            )

    async def update(self, caller: Caller, image_id: str, edit: ImageEdit) -> ImageRow:
        """Change an image as `edit` says, in one write unit with the row locked: the
        changed base fields only, and the full new set of custom properties."""
        async with self._units.write() as unit:
            image = await self._visible(caller, image_id, unit=unit, for_update=True)
            fields, properties = edit(image)
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
                for job in await self._job_repo.unfinished_for_image(unit, image.id):
                    if job.kind != UPLOAD_KIND:
                        continue  # a location import (queued until it begins) reads them later
                    raise Conflict(
                        f"Image {image.id} is receiving the data of volume {job.volume_id}: "
                        "its disk_format and container_format cannot change."
                    )
            if "tags" in changed:
                changed["tags"] = _unique(changed["tags"])
            if not changed and properties == (image.properties or {}):
                return image
            values = {**changed, "properties": dict(properties), "updated_at": utcnow()}
            await self._repo.update(unit, image.id, values)
            updated = await self._repo.get(image.id, unit=unit)
        assert updated is not None
        return updated

    async def delete(self, caller: Caller, image_id: str) -> None:
        """Delete the row, then cancel its unfinished upload jobs and remove its data.

        Crash safety: the row goes first, in one transaction. A crash after it
        leaves a data (or staged) file without a row; `recover` (and the import
        service's) removes such files; an image cache entry left so is never
        served (there is no image) and the cache's clean removes it. A running
        upload notices the cancel (or the missing row) and restores its volume.
        """
        async with self._units.write() as unit:
            image = await self._visible(caller, image_id, unit=unit, for_update=True)
            if not can_modify(caller, image):
                raise _not_authorized("delete_image")
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            jobs = await self._job_repo.unfinished_for_image(unit, image_id)
            await self._repo.delete(unit, image_id)
        for job in jobs:
            try:
                self._jobs.cancel(job.id)
            except Exception:
                log.exception("could not cancel job %s of deleted image %s", job.id, image_id)
        await self._store.delete(image_id)
        if self._staging is not None:
            await self._staging.delete(image_id)
        if self._cache is not None:
            # Glance's cache middleware drops the entry of a deleted image; its
            # place in the prefetch queue goes too (Glance leaves it there). The
            # image is gone whatever the cache says: an entry left here is never
            # served (no image) and the cache's clean removes it.
            try:
                await self._cache.forget(image_id)
            except Exception:
                log.exception("could not remove deleted image %s from the image cache",
                              image_id)

    async def deactivate(self, caller: Caller, image_id: str) -> None:
        """POST /v2/images/{id}/actions/deactivate (Glance 2.3): `active -> deactivated`
        (nothing to do when already deactivated). Admins and the owner project's
        members (Glance's `deactivate` policy)."""
        await self._change_activation(caller, image_id, image_rules.DEACTIVATE, "deactivate")

    async def reactivate(self, caller: Caller, image_id: str) -> None:
        """POST /v2/images/{id}/actions/reactivate: `deactivated -> active`."""
        await self._change_activation(caller, image_id, image_rules.REACTIVATE, "reactivate")

    async def _change_activation(
        self, caller: Caller, image_id: str, rule: Transition[ImageStatus], action: str
    ) -> None:
        async with self._units.write() as unit:
            image = await self._visible(caller, image_id, unit=unit, for_update=True)
            if not can_modify(caller, image):
                raise _not_authorized(action)
            if image.status == rule.target:
                return
            if image.status not in rule.source:
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            if not await self._repo.transition(unit, image.id, rule, now=utcnow()):
                raise Conflict(
                    f"Image status transition from {image.status} to {rule.target} "
                    "is not allowed"
                )

    def target_store(self, store_id: str | None) -> str:
        """The store an upload writes into: `store_id` (X-Image-Meta-Store) or the
        default. A site without image_stores ignores the header, as Glance without
        enabled_backends; an unknown store is InvalidRequest (Glance: 400)."""
        if not self._store.multi or store_id is None:
            return self._store.default_id
        if not self._store.has(store_id):
            raise InvalidRequest(f"Store for identifier {store_id} not found")
        return store_id

    def _recorded(self, store_ids: Sequence[str]) -> str | None:
        """The `images.stores` value for data in `store_ids` (None on a single-store site)."""
        return ",".join(store_ids) if self._store.multi else None

    async def upload_data(
        self, caller: Caller, image_id: str, chunks: AsyncIterator[bytes],
        *, content_length: int | None = None, store_id: str | None = None,
    ) -> ImageRow:
        """PUT /v2/images/{id}/file: `queued -> saving -> active`, the data in
        `store_id` (X-Image-Meta-Store, checked first) or the default store.

        The data goes to a staging file in that store's directory that the store
        renames into place only after the stream ended and passed inspection. On
        any failure (client gone, size cap, refused format, that store's disk full)
        the staging file is removed and the image goes back to `queued`. A crash
        mid-stream leaves the row `saving` and a staging file in that store:
        `recover` puts it back to `queued` and removes the file.
        """
        target = self.target_store(store_id)
        limits = UploadLimits(size_cap=self._size_cap)
        async with self._units.write() as unit:
            image = await self._visible(caller, image_id, unit=unit, for_update=True)
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
            ok = await self._repo.transition(
                unit, image_id, image_rules.BEGIN_SAVING, now=utcnow()
            )
            if not ok:
                raise Conflict("Image status transition from queued to saving is not allowed")
            disk_format, container_format = image.disk_format, image.container_format

        inspector = StreamInspector(disk_format, container_format)
        virtual: list[int | None] = []
        stream = inspected(chunks, inspector, limits, virtual.append)
        try:
            stored = await self._store.store(target).write(image_id, stream)
        except BaseException as exc:
            await asyncio.shield(self._back_to_queued(image_id))
            # A delete during the upload removes the staging file under us.
            if (
                isinstance(exc, Exception) and not isinstance(exc, ServiceError)
                and await self._repo.get(image_id) is None
            ):
                raise ImageGone(image_id) from exc
            raise
        finally:
            await stream.aclose()
        return await self._activate(
            image_id, stored, virtual[0] if virtual else None, target
        )

    async def _activate(
        self, image_id: str, stored: StoredImage, virtual_size: int | None, store_id: str,
    ) -> ImageRow:
        try:
            async with self._units.write() as unit:
                ok = await self._repo.transition(
                    unit, image_id, image_rules.ACTIVATE, now=utcnow(), values={
                        "size": stored.size, "virtual_size": virtual_size,
                        "checksum": stored.checksum, "os_hash_algo": stored.os_hash_algo,
                        "os_hash_value": stored.os_hash_value,
                        "stores": self._recorded([store_id]),
                    },
                )
                image = await self._repo.get(image_id, unit=unit)
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
            async with self._units.write() as unit:
                await self._repo.transition(
                    unit, image_id, image_rules.BACK_TO_QUEUED, now=utcnow(),
                    values={"size": None, "virtual_size": None},
                )
            await self._store.delete(image_id)
        except Exception:
            log.exception("could not restore image %s to queued", image_id)

    async def open_data(self, caller: Caller, image_id: str) -> ImageData:
        """GET /v2/images/{id}/file: a stream of the data, or None when there is none."""
        image = await self.downloadable(caller, image_id)
        return ImageData(image, await self.stored_data(image))

    async def downloadable(self, caller: Caller, image_id: str) -> ImageRow:
        """The image if `caller` may download its data (NoImageFound, Forbidden)."""
        image = await self._visible(caller, image_id)
        if image.status == ImageStatus.DEACTIVATED and not caller.is_admin:
            raise Forbidden("The requested image has been deactivated. "
                            "Image data download is forbidden.")
        # An admin reads a deactivated image's data (Glance image_data.download).
        return image

    async def stored_data(self, image: ImageRecord) -> AsyncIterator[bytes] | None:
        """A stream of the image's data from its store (no access check: callers
        check), or None when it has none."""
        source = self.source_store(image) if image.status in HAS_DATA else None
        if source is None or not await self._store.store(source).exists(image.id):
            return None
        return self._store.store(source).read(image.id, chunk_size=READ_CHUNK_SIZE)

    def source_store(self, image: ImageRecord) -> str | None:
        """The store a download (or a copy) reads from: the first recorded one
        (by weight), else (data written before stores were recorded) the first
        holding it."""
        recorded = self.recorded_stores(image)
        if recorded:
            return recorded[0]
        held = self._store.holding(image.id)
        return held[0] if held else None

    def recorded_stores(self, image: ImageRecord) -> Sequence[str]:
        """The configured stores the row says hold the data, the heaviest first
        (Glance sorts an image's locations by store weight), then as recorded."""
        ids = [s for s in split_stores(image.stores) if self._store.has(s)]
        weights = {info.id: info.weight for info in self._store.infos}
        return sorted(ids, key=lambda s: -weights[s])

    # --- stores and locations -------------------------------------------------

    def stores_info(self, caller: Caller, *, detail: bool = False) -> tuple[StoreInfo, ...]:
        """GET /v2/info/stores (and /detail, Glance 2.15: admins and the service
        role, Glance's stores_info_detail): the configured stores, or NotFound on
        a site without image_stores (Glance without enabled_backends)."""
        if not self._store.multi:
            raise NotFound("Multi backend is not supported at this site.")
        if detail and not (caller.is_admin or SERVICE_ROLE in caller.roles):
            raise _not_authorized("stores_info_detail")
        return self._store.infos

    @property
    def multi_store(self) -> bool:
        return self._store.multi

    @property
    def default_store(self) -> str:
        return self._store.default_id

    def locations(self, image: ImageRecord) -> Sequence[Location]:
        """Where the image's data is, in the order Glance lists locations."""
        if self._store.multi:
            return [
                Location(self._store.location_url(store_id, image.id), store_id)
                for store_id in self.recorded_stores(image)
            ]
        if image.status not in HAS_DATA:
            return []
        return [Location(self._store.location_url(self._store.default_id, image.id), None)]

    async def delete_from_store(self, caller: Caller, store_id: str, image_id: str) -> None:
        """DELETE /v2/stores/{store_id}/{image_id} (Glance 2.10): remove the data from
        one store, with Glance's rules (images.py delete_from_store): NotFound on a
        single-store site, Conflict for a store that is not configured, admins only
        (delete_image_location), `active` images only, never the only store.

        Crash safety: the row stops listing the store first (one transaction, the
        row locked), then the file is removed. A crash in between leaves a file no
        row lists; `recover` removes it. A download already reading the file goes
        on reading it (the open file outlives its name). Nothing is written, so a
        full disk does not get in the way.
        """
        if not self._store.multi:
            raise NotFound("The resource could not be found.")
        if not self._store.has(store_id):
            raise Conflict(f"The selected store {store_id} is not available on this node.")
        async with self._units.write() as unit:
            image = await self._repo.get(image_id, unit=unit, for_update=True)
            if image is None or not await self._can_see(caller, image, unit):
                raise NotFound(f"Failed to find image {image_id}")
            if not (caller.is_admin or (
                image.owner == caller.project_id and READER_ROLE in caller.roles
            )):
                raise _not_authorized("get_image_location")
            if not caller.is_admin:
                raise _not_authorized("delete_image_location")
            if image.status != ImageStatus.ACTIVE:
                raise Conflict("It's not allowed to remove image data from store if "
                               "image status is not 'active'")
            held = split_stores(image.stores)
            if len(held) == 1:
                raise Forbidden("Cannot delete image data from the only store containing "
                                "it. Consider deleting the image instead.")
            if store_id not in held:
                raise NotFound(f"Image {image_id} is not stored in store {store_id}.")
            held.remove(store_id)
            await self._repo.update(
                unit, image_id, {"stores": ",".join(held), "updated_at": utcnow()}
            )
        await self._store.store(store_id).delete(image_id)

    async def recover(self) -> None:
        """Undo what a crash can leave: `saving` images with no unfinished job go
        back to `queued` (their partial data removed), staging files of images not
        being written are removed, and data files without an image row are deleted."""
        async with self._units.write() as unit:
            statuses = await self._repo.statuses(unit)
            being_written = await self._job_repo.images_being_written(unit)
            busy = {
                i for i, status in statuses.items()
                if status in image_rules.UNFINISHED and i in being_written
            }
            queued = [i for i, status in statuses.items() if status == ImageStatus.QUEUED]
            for image_id, status in statuses.items():
                if status != ImageStatus.SAVING or image_id in busy:
                    continue
                if await self._repo.transition(
                    unit, image_id, image_rules.BACK_TO_QUEUED, now=utcnow(),
                    values={"size": None, "virtual_size": None},
                ):
                    queued.append(image_id)
            known = set(statuses)
        for image_id in queued:
            if image_id not in busy:
                # Partial data only; the image stays (queued) where the store keeps
                # records of its own (a cloud's Glance).
                await self._store.discard(image_id)
        removed = await self._store.cleanup_staging(keep=busy)
        if removed:
            log.info("removed %d orphaned image staging files", len(removed))
        await _remove_orphans(self._store, known)
        if self._store.multi:
            await self._recover_stores(being_written)

    async def _recover_stores(self, busy: set[str]) -> None:
        """With image_stores: an image with data records the stores holding it.
        Data in a store its row does not list (a delete from that store that
        crashed before removing the file, a copy that crashed before recording
        it) is removed; images whose stores were never recorded (made before
        image_stores were configured, or before stores were recorded at all) get
        the stores their data is found in. Images a job still works on (a copy
        to be resumed) are left to it: `busy`."""
        async with self._units.write() as unit:
            recorded = await self._repo.recorded_stores(unit, HAS_DATA)
            for image_id, value in recorded.items():
                if value is None:
                    held = self._store.holding(image_id)
                    if held:
                        await self._repo.update(unit, image_id, {"stores": ",".join(held)})
                        log.info("image %s: recorded its stores %s", image_id, held)
        for image_id, value in recorded.items():
            if value is None or image_id in busy:
                continue
            listed = split_stores(value)
            for store_id in self._store.holding(image_id):
                if store_id not in listed:
                    await self._store.store(store_id).delete(image_id)
                    log.info("removed data of image %s from store %s, which its row "
                             "does not list", image_id, store_id)


__all__ = [
    "CONTAINER_FORMATS",
    "DISK_FORMATS",
    "READ_CHUNK_SIZE",
    "SORT_KEYS",
    "ImageData",
    "ImageEdit",
    "ImageService",
    "ImageStatus",
    "StoreInfo",
]
