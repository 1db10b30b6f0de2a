"""Glance 2.17's location API: add a location to a `queued` image, list an image's locations.

    POST /v2/images/{id}/locations   {"url": ..., "validation_data": {...}}   202
    GET  /v2/images/{id}/locations                                            200

Who may call (Glance's policies and images.py add_location): adding is
`add_image_location` (the service role, admins, the owner project's members),
and then only for callers with the `service` role, since Glance lets other
callers name only `http` locations and this service has no http store;
listing is `fetch_image_location` (the service role, admins).

Which URLs: image data lives in this service's own file stores, so a location
must name data that is already there, exactly as the image view's `locations`
shows it (`file://<store directory>/<image id>`): the data of an `active`
image of the same owner that the caller sees, in that store. Anything else (another
scheme, a host, another path, `..`, another project's image) is 400 "Invalid
location" before anything is read, and that data is read only from a regular
file, never through a symbolic link. The new image gets its own copy of the
bytes in that store (written as an upload is: staging file, then rename), so
it keeps them when the other image goes, and its location then names its own
file.

What happens (Glance's location_import task, with do_secure_hash on): the
request takes the image's import lock (`os_glance_import_task`) and records a
`location_import` task and a durable job in one transaction, then answers 202.
The job moves the image to `importing`, reads the data through the size cap,
format inspection and hashing (with validation_data's algorithm, else sha512),
checks the hash against validation_data, and makes the image `active` with
its size, checksum and hashes. Unlike Glance, which without validation_data
makes the image `active` at once and hashes afterwards, the image becomes
`active` only once its bytes were inspected and hashed.

Crash safety and full disk: a crash leaves the job `running` with its lease;
the next start (or another runner, once the lease runs out) redoes it from
the start (the copy is written again, then renamed over the earlier one). A
worker that lost the job (paused past its lease) renames nothing into place
and records nothing: the rename waits for the job's guard, the writes for its
fence. An
image whose job is gone goes back to `queued` at start
(ImageImportService.recover, its task failed). Any failure (refused bytes,
the size cap, a full disk, a hash that does not match, the data gone) fails
the task with its message, removes what was written and puts the image back
to `queued` without hashes, as Glance's reverts do.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from cinderlite.datapath.inspect import StreamInspector
from cinderlite.db.image_tasks import ImageTaskRepository, ImageTaskRow
from cinderlite.db.images import ImageRepository, ImageRow
from cinderlite.domain import image_tasks as task_rules
from cinderlite.domain import images as image_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Conflict, Forbidden, InvalidRequest, ServiceError
from cinderlite.domain.identity import Caller
from cinderlite.domain.image_import import IMPORT_TASK_KEY
from cinderlite.domain.image_locations import (
    DEFAULT_HASH_ALGO,
    BadLocation,
    check_hash_matches,
    check_validation_data,
    hash_algo,
)
from cinderlite.domain.image_tasks import TaskStatus
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.jobs import LeaseLost
from cinderlite.services.image_import import IMAGE_DELETED, INTERNAL_ERROR, ImageImportService
from cinderlite.services.images import (
    SERVICE_ROLE,
    ImageService,
    Location,
    UploadLimits,
    inspected,
    is_owner_member,
)
from cinderlite.services.units import Unit, Units
from cinderlite.storage.images.base import StoredImage
from cinderlite.storage.images.stores import READ_CHUNK_SIZE, ImageStores
from cinderlite.workers.runner import JobContext, JobRunner

log = logging.getLogger(__name__)

LOCATION_JOB = "location_import"


def _not_authorized(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


def _not_queued(status: str) -> Conflict:
    return Conflict(f"It's not allowed to add locations if image status is {status}.")


@dataclass(frozen=True)
class _Source:
    store_id: str
    image_id: str


@dataclass(frozen=True)
class _Copied:
    stored: StoredImage
    virtual_size: int | None
    os_hash_algo: str
    os_hash_value: str


class ImageLocationService:
    """POST and GET /v2/images/{id}/locations, and the location import job."""

    def __init__(
        self, *, units: Units, images: ImageService, imports: ImageImportService,
        repo: ImageRepository, tasks: ImageTaskRepository, store: ImageStores,
        jobs: JobRunner, size_cap: int,
    ) -> None:
        self._units = units
        self._images = images
        # The import lock, task endings and failures are the import's (one lock per image).
        self._imports = imports
        self._repo = repo
        self._tasks = tasks
        self._store = store
        self._jobs = jobs
        # Glance image_size_cap.
        self._size_cap = size_cap

    # --- GET ---------------------------------------------------------------------

    async def locations(self, caller: Caller, image_id: str) -> Sequence[Location]:
        """GET /v2/images/{id}/locations: the image must be visible (else 404), then
        Glance's fetch_image_location policy: the service role or admins."""
        image = await self._images.visible(caller, image_id)
        if not (caller.is_admin or SERVICE_ROLE in caller.roles):
            raise _not_authorized("fetch_image_location")
        return self._images.locations(image)

    # --- POST --------------------------------------------------------------------

    async def add_location(
        self, caller: Caller, image_id: str, *, url: str, validation_data: dict[str, Any],
        request_id: str | None,
    ) -> str:
        """POST /v2/images/{id}/locations: the checks in Glance's order (images.py
        add_location), then this site's check of the URL, then the task, the lock
        and the job in one unit. Returns the task id."""
        now = utcnow()
        async with self._units.write() as unit:
            image = await self._images.visible(caller, image_id, unit=unit, for_update=True)
            if image.status != ImageStatus.QUEUED:
                raise _not_queued(image.status)
            # add_image_location: rule:service_api (service or admin), or a member
            # of the owner project.
            if not (
                caller.is_admin or SERVICE_ROLE in caller.roles
                or is_owner_member(caller, image)
            ):
                raise _not_authorized("add_image_location")
            if SERVICE_ROLE not in caller.roles:
                # Glance's words: others may only add http locations, and there is
                # no http store here.
                raise Forbidden("http store must be enabled to use location API by normal user.")
            check_validation_data(validation_data)
            # Glance's domain refuses to make the image active without them (its
            # task fails); here the request is refused, as an upload would be.
            missing = [k for k in ("disk_format", "container_format") if not getattr(image, k)]
            if missing:
                word = "Properties" if len(missing) > 1 else "Property"
                raise InvalidRequest(
                    f"{word} {', '.join(missing)} must be set prior to saving data."
                )
            await self._imports.refuse_volume_upload(unit, image)
            props = dict(image.properties or {})
            await self._imports.take_lock(unit, image, props)
            # Glance checks the location in its task (a 202, then a failed task);
            # what can be checked without reading the data is checked here.
            await self._source(unit, image, url, caller=caller)
            task = await self._tasks.add(
                unit, id=str(uuid.uuid4()), type=task_rules.LOCATION_IMPORT_TASK,
                status=TaskStatus.PENDING.value, owner=caller.project_id, image_id=image_id,
                user_id=caller.user_id, request_id=request_id,
                input={"image_id": image_id, "loc_url": url,
                       "validation_data": validation_data},
                result=None, message="", expires_at=None, created_at=now, updated_at=now,
            )
            props[IMPORT_TASK_KEY] = task.id
            await self._repo.update(unit, image_id, {"properties": props, "updated_at": now})
            await self._jobs.enqueue(
                unit, kind=LOCATION_JOB, volume_id="", image_id=image_id,
                project_id=caller.project_id or "", user_id=caller.user_id,
                request_id=request_id, params={"task_id": task.id}, now=now,
            )
        self._jobs.wake()
        return task.id

    async def _source(
        self, unit: Unit, image: ImageRow, url: str, *, caller: Caller | None = None
    ) -> _Source:
        """The store and image whose data `url` names, if the image may take it:
        an `active` image of the same owner (that `caller` sees) with its data in
        that store. BadLocation (one answer for every refusal) otherwise."""
        found = self._store.find_location(url) if isinstance(url, str) else None
        if found is None:
            raise BadLocation()
        store_id, source_id = found
        source = await self._repo.get(source_id, unit=unit)
        if (
            source is None or source.id == image.id or source.owner != image.owner
            or source.status != ImageStatus.ACTIVE
            or store_id not in self._stores_holding(source)
        ):
            raise BadLocation()
        if caller is not None:
            try:
                await self._images.visible(caller, source_id, unit=unit)
            except ServiceError:
                raise BadLocation() from None
        return _Source(store_id, source_id)

    def _stores_holding(self, image: ImageRow) -> Sequence[str]:
        if self._store.multi:
            return self._images.recorded_stores(image)
        return [self._store.default_id]

    # --- the job -------------------------------------------------------------------

    async def run(self, ctx: JobContext) -> None:
        """The location import job (see the module docstring); run again from the
        start when a worker takes it up after a crash."""
        job = ctx.job
        task_id = str(job.params["task_id"])
        image_id = str(job.image_id)
        async with self._units.read() as unit:
            task = await self._tasks.get(unit, task_id)
        if task is None or task.status not in task_rules.UNFINISHED:
            return
        try:
            source = await self._begin(ctx, task, image_id)
            if source is None:
                return
            copied = await self._copy(ctx, task, image_id, source)
            if not await self._finish(ctx, task, image_id, source, copied):
                # Only while this worker holds the job: the file may be another's.
                await asyncio.to_thread(ctx.guard)
                await self._store.store(source.store_id).delete(image_id)
        except LeaseLost:
            log.warning("location import of image %s: lease lost, leaving it to the new "
                        "owner", image_id)
            raise
        except asyncio.CancelledError:
            if ctx.lost:
                raise
            if self._jobs.cancel_requested(job.id):
                # The image was deleted: its delete removed the data.
                await asyncio.shield(
                    self._imports.abandon(image_id, task, IMAGE_DELETED, ctx=ctx)
                )
            raise
        except ServiceError as exc:
            if ctx.lost:
                raise
            log.warning("location import of image %s failed: %s", image_id, exc.message)
            await asyncio.shield(self._imports.abandon(image_id, task, exc.message, ctx=ctx))
            raise
        except Exception:
            if ctx.lost:
                raise
            log.exception("location import of image %s failed", image_id)
            await asyncio.shield(self._imports.abandon(image_id, task, INTERNAL_ERROR, ctx=ctx))
            raise

    async def _begin(
        self, ctx: JobContext, task: ImageTaskRow, image_id: str
    ) -> _Source | None:
        """`queued -> importing` (or still `importing`, when resumed) under the
        task's lock, the source checked again, the task `processing`: one unit.
        None when the image is gone (the task failed)."""
        async with self._units.write() as unit:
            await ctx.fence(unit)
            image = await self._repo.get(image_id, unit=unit, for_update=True)
            now = utcnow()
            if image is None:
                await self._tasks.transition(
                    unit, task.id, task_rules.FAIL, now=now,
                    values=self._imports.task_ended(now, message=IMAGE_DELETED),
                )
                return None
            if (image.properties or {}).get(IMPORT_TASK_KEY) != task.id or image.status not in (
                ImageStatus.QUEUED, ImageStatus.IMPORTING
            ):
                raise _not_queued(image.status)
            source = await self._source(unit, image, str((task.input or {}).get("loc_url")))
            if image.status == ImageStatus.QUEUED and not await self._repo.transition(
                unit, image_id, image_rules.BEGIN_IMPORT, now=now
            ):
                raise _not_queued(image.status)
            await self._tasks.transition(unit, task.id, task_rules.BEGIN, now=now)
        return source

    async def _copy(
        self, ctx: JobContext, task: ImageTaskRow, image_id: str, source: _Source
    ) -> _Copied:
        """Read the source's data through the size cap, format inspection and
        hashing into the image's own file in the same store; check validation_data."""
        validation = dict((task.input or {}).get("validation_data") or {})
        algo = hash_algo(validation)
        async with self._units.read() as unit:
            image = await self._repo.get(image_id, unit=unit)
        if image is None:
            raise InvalidRequest(IMAGE_DELETED)
        inspector = StreamInspector(image.disk_format, image.container_format)
        virtual: list[int | None] = []
        extra = None if algo == DEFAULT_HASH_ALGO else hashlib.new(algo)
        data = self._store.read_located(source.store_id, source.image_id, READ_CHUNK_SIZE)
        stream = _hashed(
            inspected(data, inspector, UploadLimits(size_cap=self._size_cap), virtual.append),
            extra, ctx,
        )
        try:
            # The rename into place waits for the job's guard: a worker that lost
            # the job (paused past its lease) places nothing over the new owner's.
            stored = await self._store.store(source.store_id).write(image_id, stream, ctx.guard)
        finally:
            await stream.aclose()
        value = stored.os_hash_value if extra is None else extra.hexdigest()
        check_hash_matches(validation, value)
        return _Copied(stored, virtual[0] if virtual else None, algo, value)

    async def _finish(
        self, ctx: JobContext, task: ImageTaskRow, image_id: str, source: _Source,
        copied: _Copied,
    ) -> bool:
        """`importing -> active` with size, hashes and store, the lock dropped, the
        task succeeded: one unit. False when the image was deleted or reset meanwhile."""
        now = utcnow()
        async with self._units.write() as unit:
            await ctx.fence(unit)
            image = await self._repo.get(image_id, unit=unit, for_update=True)
            props = dict(image.properties or {}) if image is not None else {}
            if (
                image is None or image.status != ImageStatus.IMPORTING
                or props.get(IMPORT_TASK_KEY) != task.id
            ):
                await self._tasks.transition(
                    unit, task.id, task_rules.FAIL, now=now,
                    values=self._imports.task_ended(now, message=IMAGE_DELETED),
                )
                return False
            props.pop(IMPORT_TASK_KEY, None)
            ok = await self._repo.transition(
                unit, image_id, image_rules.FINISH_IMPORT, now=now, values={
                    "size": copied.stored.size, "virtual_size": copied.virtual_size,
                    "checksum": copied.stored.checksum, "os_hash_algo": copied.os_hash_algo,
                    "os_hash_value": copied.os_hash_value, "properties": props,
                    "stores": source.store_id if self._store.multi else None,
                },
            )
            if not ok:
                return False
            await self._tasks.transition(
                unit, task.id, task_rules.SUCCEED, now=now,
                values=self._imports.task_ended(now, result={"image_id": image_id}),
            )
        return True


async def _hashed(
    chunks: AsyncIterator[bytes], extra: Any, ctx: JobContext
) -> AsyncGenerator[bytes, None]:
    """Pass chunks through, feeding `extra` (a hashlib object, or None when the
    store's own sha512 is the one wanted) and reporting progress."""
    done = 0
    async for chunk in chunks:
        if extra is not None:
            await asyncio.to_thread(extra.update, chunk)
        done += len(chunk)
        ctx.report(done)
        yield chunk


__all__ = ["LOCATION_JOB", "ImageLocationService"]
