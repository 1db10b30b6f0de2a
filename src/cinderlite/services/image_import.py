"""Interoperable image import (Glance 2.6): stage, import, and the import job.

    PUT  /v2/images/{id}/stage    queued -> uploading   the data goes to the staging area
    POST /v2/images/{id}/import   -> importing -> active   (a task records it)

`glance-direct` imports what was staged; `web-download` fetches a URL the
operator allows (domain/image_import.py, datapath/webfetch.py) into the
staging area first. Either way the bytes pass the same size cap and format
inspection as a direct upload (services/images.py `inspected`), and the staged
file is inspected again, whole, before it is copied into the image store.

The import itself runs as a durable job (workers/runner.py, kind IMPORT_JOB):
the request commits the task, the image's `importing` status with its import
lock (`os_glance_import_task`) and the job in one transaction, then answers
202.

Crash safety and full disk:
- stage: a crash mid-stream leaves the image `uploading` with only a staging
  temp file: `recover` puts it back to `queued` and removes the file. A full
  disk (or the size cap, or refused bytes) removes the partial file and puts
  the image back to `queued` (413/415/400 as for an upload).
- import: a crash leaves the job `running` with its lease; the next start
  (or any runner, once the lease runs out) takes it up again and redoes the
  import from the staged data (web-download fetches again). An `importing`
  image whose job is gone is put back to `queued` by `recover`, its task
  failed. A failure (refused bytes, full disk, a URL or redirect refused, an
  HTTP error) fails the task with its message and puts the image back to
  `queued` with its staged data removed, as Glance's reverts do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cinderlite.datapath import webfetch
from cinderlite.datapath.inspect import StreamInspector, inspect_file
from cinderlite.db.image_tasks import COLUMNS as TASK_COLUMNS
from cinderlite.db.image_tasks import ImageTaskRepository, ImageTaskRow
from cinderlite.db.images import ImageRepository, ImageRow
from cinderlite.db.jobs import JobRepository
from cinderlite.db.uploads import UPLOAD_KIND
from cinderlite.domain import image_tasks as task_rules
from cinderlite.domain import images as image_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    ServiceError,
    TooLarge,
)
from cinderlite.domain.identity import Caller
from cinderlite.domain.image_import import (
    COPY_IMAGE,
    FAILED_STORES_KEY,
    GLANCE_DIRECT,
    IMPORT_TASK_KEY,
    IMPORTING_STORES_KEY,
    STAGE_HOST_KEY,
    WEB_DOWNLOAD,
    ImportFilter,
    merge_stores,
)
from cinderlite.domain.image_tasks import TaskStatus
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.jobs import Guard, LeaseLost
from cinderlite.services.images import (
    ImageGone,
    ImageService,
    UploadLimits,
    can_modify,
    inspected,
)
from cinderlite.services.units import Unit, Units
from cinderlite.storage.images.base import ImageStore, StoredImage
from cinderlite.storage.images.stores import READ_CHUNK_SIZE, ImageStores
from cinderlite.workers.runner import JobContext, JobRunner

log = logging.getLogger(__name__)

IMPORT_JOB = "image_import"
# Glance api_limit_max / limit_param_default for task lists.
TASK_LIMIT_MAX = 1000
TASK_LIMIT_DEFAULT = 25
INTERNAL_ERROR = "Task failed due to Internal Error"
INTERRUPTED = "The import was interrupted and could not be resumed."
IMAGE_DELETED = "Image has been deleted, aborting import."


def _not_authorized(action: str) -> Forbidden:
    return Forbidden(f"You are not authorized to complete {action} action.")


class StoreFailed(ServiceError):
    """Writing into one store failed, and all stores had to succeed."""

    def __init__(self, store: str | None, message: str) -> None:
        super().__init__(message)
        self.store = store


def _import_req(task: ImageTaskRow) -> dict[str, Any]:
    req = (task.input or {}).get("import_req")
    return req if isinstance(req, dict) else {}


def _is_copy(task: ImageTaskRow) -> bool:
    method = _import_req(task).get("method")
    return isinstance(method, dict) and method.get("name") == COPY_IMAGE


def _task_stores(task: ImageTaskRow) -> list[str | None]:
    return list((task.input or {}).get("backend") or [None])


def _all_must_succeed(task: ImageTaskRow) -> bool:
    return _import_req(task).get("all_stores_must_succeed", True) is not False


@dataclass(frozen=True)
class ImportSettings:
    """What the import reads from the operator's settings (the wiring makes it)."""

    # Glance enabled_import_methods (what cinderlite can run of them).
    methods: tuple[str, ...]
    import_filter: ImportFilter
    # Glance image_size_cap.
    size_cap: int
    # Recorded as os_glance_stage_host (Glance's public_endpoint).
    stage_host: str
    # Seconds a web-download may wait for a connection or for the next bytes.
    fetch_timeout: float = 60.0
    # Glance [task] task_time_to_live (hours).
    task_ttl_hours: int = task_rules.TASK_TIME_TO_LIVE_HOURS


@dataclass(frozen=True)
class ImportRequest:
    """A validated POST /v2/images/{id}/import body."""

    method: str
    uri: str | None
    body: dict[str, Any]
    all_stores_must_succeed: bool = True
    # Where the data goes (Glance 2.8/2.9, utils.get_stores_from_request): the
    # body's `stores` (when `stores_given`) or `all_stores`, or the
    # X-Image-Meta-Store header; the service checks them against its stores.
    all_stores: bool = False
    stores_param: Any = None
    stores_given: bool = False
    store_header: str | None = None


@dataclass(frozen=True)
class TaskQuery:
    filters: dict[str, Any]
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    limit: int = TASK_LIMIT_DEFAULT
    marker: str | None = None


class ImageImportService:
    """Stage, import, the import job, image tasks, and their start-up recovery."""

    def __init__(
        self, *, units: Units, images: ImageService, repo: ImageRepository,
        tasks: ImageTaskRepository, job_repo: JobRepository, store: ImageStores,
        staging: ImageStore, jobs: JobRunner, settings: ImportSettings,
    ) -> None:
        self._units = units
        self._images = images
        self._repo = repo
        self._tasks = tasks
        self._job_repo = job_repo
        self._store = store
        self._staging = staging
        self._jobs = jobs
        self._settings = settings

    @property
    def methods(self) -> tuple[str, ...]:
        return self._settings.methods

    # --- stage ---------------------------------------------------------------------

    async def stage(
        self, caller: Caller, image_id: str, chunks: AsyncIterator[bytes],
        *, content_length: int | None = None,
    ) -> None:
        """PUT /v2/images/{id}/stage: `queued -> uploading`, the data in the staging
        area, inspected on the way as an upload's (see the module docstring)."""
        if GLANCE_DIRECT not in self._settings.methods:
            raise NotFound("'glance-direct' method is not available at this site.")
        limits = UploadLimits(size_cap=self._settings.size_cap)
        async with self._units.write() as unit:
            image = await self._images.visible(caller, image_id, unit=unit, for_update=True)
            if not can_modify(caller, image):
                raise _not_authorized("modify_image")
            if image.status != ImageStatus.QUEUED:
                raise Conflict(
                    f"Image status transition from {image.status} to uploading is not allowed"
                )
            await self.refuse_volume_upload(unit, image)
            if content_length is not None and content_length > limits.size_cap:
                raise TooLarge("The provided image is too large.")
            if not await self._repo.transition(
                unit, image_id, image_rules.BEGIN_STAGING, now=utcnow()
            ):
                raise Conflict("Image status transition from queued to uploading is not allowed")
        inspector = StreamInspector(image.disk_format, image.container_format)
        stream = inspected(chunks, inspector, limits, lambda _virtual: None)
        try:
            stored = await self._staging.write(image_id, stream)
        except BaseException as exc:
            await asyncio.shield(self._unstage(image_id))
            if (
                isinstance(exc, Exception) and not isinstance(exc, ServiceError)
                and await self._repo.get(image_id) is None
            ):
                raise ImageGone(image_id) from exc
            raise
        finally:
            await stream.aclose()
        try:
            async with self._units.write() as unit:
                current = await self._repo.get(image_id, unit=unit, for_update=True)
                props = dict(current.properties or {}) if current else {}
                props[STAGE_HOST_KEY] = self._settings.stage_host
                staged = current is not None and await self._repo.transition(
                    unit, image_id, image_rules.STAGED, now=utcnow(),
                    values={"size": stored.size, "properties": props},
                )
        except BaseException:
            await asyncio.shield(self._unstage(image_id))
            raise
        if not staged:
            # Deleted (or reset) while the data came in.
            await self._staging.delete(image_id)
            raise ImageGone(image_id)

    async def _unstage(self, image_id: str) -> None:
        """Undo `uploading`: back to `queued`, the staged data removed."""
        try:
            async with self._units.write() as unit:
                await self._repo.transition(
                    unit, image_id, image_rules.UNSTAGE, now=utcnow(),
                    values={"size": None, "virtual_size": None},
                )
            await self._staging.delete(image_id)
        except Exception:
            log.exception("could not restore image %s to queued", image_id)

    async def refuse_volume_upload(self, unit: Unit, image: ImageRow) -> None:
        """Conflict while a volume upload (os-volume_upload_image) fills the image."""
        for job in await self._job_repo.unfinished_for_image(unit, image.id):
            if job.kind == UPLOAD_KIND:
                raise Conflict(f"Image {image.id} is receiving the data of volume "
                               f"{job.volume_id}.")

    # --- import --------------------------------------------------------------------

    async def start_import(
        self, caller: Caller, image_id: str, req: ImportRequest, *, request_id: str | None,
    ) -> str | None:
        """POST /v2/images/{id}/import: the checks in Glance's order (images.py
        import_image), then task, `importing` (a copy-image: the image stays
        `active`, its lock and os_glance_importing_to_stores set) and job in one
        unit; the task id, None when a copy to `all_stores` finds nothing to do."""
        copy = req.method == COPY_IMAGE
        uri_ok = True
        if req.method == WEB_DOWNLOAD:
            # Resolved outside the write unit: a slow resolver must not hold it.
            uri_ok = bool(req.uri) and await webfetch.resolve(
                self._settings.import_filter, str(req.uri)
            ) is not None
        now = utcnow()
        async with self._units.write() as unit:
            image = await self._images.visible(caller, image_id, unit=unit, for_update=True)
            self._check_importable(image, req.method)
            if copy:
                # Glance's copy_image policy: admins.
                if not caller.is_admin:
                    raise _not_authorized("copy_image")
            elif not can_modify(caller, image):
                raise _not_authorized("modify_image")
            props = dict(image.properties or {})
            await self.take_lock(unit, image, props)
            stores = self._requested_stores(req)
            if copy:
                held = set(self._images.recorded_stores(image))
                if req.all_stores:
                    stores = [s for s in stores if s not in held]
                    if not stores:
                        return None  # in every store already (Glance: nothing to do)
                for store in stores:
                    if store in held:
                        raise InvalidRequest(f"Image is already present at store '{store}'")
            if not req.all_stores_must_succeed and not self._store.multi:
                raise InvalidRequest(
                    f"All_stores_must_succeed can only be set with enabled_backends {req.uri}"
                )
            if not uri_ok:
                raise InvalidRequest(f"URI for web-download does not pass filtering: {req.uri}")
            await self.refuse_volume_upload(unit, image)
            task = await self._tasks.add(
                unit, id=str(uuid.uuid4()), type=task_rules.IMPORT_TASK,
                status=TaskStatus.PENDING.value, owner=caller.project_id, image_id=image_id,
                user_id=caller.user_id, request_id=request_id,
                input={"image_id": image_id, "import_req": req.body, "backend": stores},
                result=None, message="", expires_at=None, created_at=now, updated_at=now,
            )
            props[IMPORT_TASK_KEY] = task.id
            props[IMPORTING_STORES_KEY] = merge_stores(
                props.get(IMPORTING_STORES_KEY), stores, subtract=False
            )
            props[FAILED_STORES_KEY] = merge_stores(
                props.get(FAILED_STORES_KEY), stores, subtract=True
            )
            props.pop(STAGE_HOST_KEY, None)
            if copy:
                await self._repo.update(unit, image_id, {"properties": props, "updated_at": now})
            elif not await self._repo.transition(
                unit, image_id, image_rules.BEGIN_IMPORT, now=now, values={"properties": props}
            ):
                raise Conflict(f"Image status transition from {image.status} to importing "
                               "is not allowed")
            await self._jobs.enqueue(
                unit, kind=IMPORT_JOB, volume_id="", image_id=image_id,
                project_id=caller.project_id or "", user_id=caller.user_id,
                request_id=request_id,
                params={"task_id": task.id, "method": req.method, "uri": req.uri},
                now=now,
            )
        self._jobs.wake()
        return task.id

    def _requested_stores(self, req: ImportRequest) -> list[str | None]:
        """The stores an import writes into (glance utils.get_stores_from_request):
        [None] (the one store) on a single-store site, whatever is asked."""
        if not self._store.multi:
            return [None]
        if req.all_stores:
            if req.stores_given or req.store_header is not None:
                raise InvalidRequest("All_stores parameter can't be used with "
                                     "x-image-meta-store header or stores parameter")
            return list(self._store.ids)
        if req.stores_given:
            if req.store_header is not None:
                raise InvalidRequest("Stores parameter and x-image-meta-store header can't "
                                     "be both specified")
            named = req.stores_param
            if not isinstance(named, list) or not named or not all(
                isinstance(s, str) for s in named
            ):
                raise InvalidRequest("'stores' must be a list of store identifiers.")
            stores: list[str | None] = list(dict.fromkeys(named))
        else:
            stores = [req.store_header or self._store.default_id]
        for store in stores:
            if not self._store.has(str(store)):
                # glance_store.UnknownScheme, a Conflict in import_image.
                raise Conflict(f"Store for identifier {store} not found")
        return stores

    @staticmethod
    def _check_importable(image: ImageRow, method: str) -> None:
        if image.status != ImageStatus.ACTIVE and method == COPY_IMAGE:
            raise Conflict("Only images with status active can be targeted for copying")
        if image.status == ImageStatus.ACTIVE and method != COPY_IMAGE:
            raise Conflict("Image with status active cannot be target for import")
        if image.status != ImageStatus.QUEUED and method == WEB_DOWNLOAD:
            raise Conflict(f"Image needs to be in 'queued' state to use '{method}' method")
        if image.status != ImageStatus.UPLOADING and method == GLANCE_DIRECT:
            raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
        if not image.container_format:
            raise Conflict("'container_format' needs to be set before import")
        if not image.disk_format:
            raise Conflict("'disk_format' needs to be set before import")

    async def take_lock(self, unit: Unit, image: ImageRow, props: dict[str, Any]) -> None:
        """Glance's import lock: another task's, while it runs, is a Conflict; an
        ended (or missing) task's is stale and taken over, its progress keys mended."""
        holder = props.get(IMPORT_TASK_KEY)
        if not holder:
            return
        other = await self._tasks.get(unit, str(holder))
        if other is not None and other.status in task_rules.UNFINISHED:
            raise Conflict("Image has active task")
        if other is not None:
            stores = list((other.input or {}).get("backend") or [])
            for key in (IMPORTING_STORES_KEY, FAILED_STORES_KEY):
                if key in props:
                    props[key] = merge_stores(props.get(key), stores, subtract=True)
        props.pop(IMPORT_TASK_KEY, None)

    # --- the job -------------------------------------------------------------------

    async def run(self, ctx: JobContext) -> None:
        """The import job: fetch (web-download), inspect, copy into each store,
        activate; copy-image: copy an active image's data into more stores.

        Run again from the start when a worker takes it up after a crash. The
        stores are written one after the other (each write staged and renamed
        into place by its store); the row records them in the one unit that
        ends the import, so a crash before it records nothing (the next run
        writes again; start-up recovery removes copies no row lists)."""
        job = ctx.job
        task_id = str(job.params["task_id"])
        image_id = str(job.image_id)
        begun = await self._begin(ctx, task_id, image_id)
        if begun is None:
            return
        image, task = begun
        copy = _is_copy(task)
        written: list[str | None] = []
        try:
            if copy:
                source = self._images.source_store(image)
                if source is None:
                    raise InvalidRequest(f"Image {image_id} has no data to copy.")
                virtual = image.virtual_size

                def data() -> AsyncIterator[bytes]:
                    return self._store.store(source).read(image_id, READ_CHUNK_SIZE)
            else:
                if job.params.get("method") == WEB_DOWNLOAD:
                    await self._download(image, str(job.params.get("uri")))
                elif not await self._staging.exists(image_id):
                    raise InvalidRequest(f"Image {image_id} has no staged data to import.")
                virtual = await asyncio.to_thread(
                    inspect_file, self._staging.data_path(image_id), image.disk_format,
                    image.container_format,
                )

                def data() -> AsyncIterator[bytes]:
                    return self._staging.read(image_id, chunk_size=READ_CHUNK_SIZE)
            stored, failed = await self._write_stores(image, task, data, written, ctx.guard)
            if not await self._finish(ctx, image_id, task, stored, virtual, written, failed):
                await self._drop(image_id, written, copy=copy, guard=ctx.guard)
                if not copy:
                    await self._staging.delete(image_id)
                return
            if not copy:
                await self._staging.delete(image_id)
        except LeaseLost:
            # Another worker took the job over (this one paused past its lease): the
            # data is the other's now; nothing is removed or recorded here.
            log.warning("import of image %s: lease lost, leaving it to the new owner",
                        image_id)
            raise
        except asyncio.CancelledError:
            if ctx.lost:
                raise
            if self._jobs.cancel_requested(job.id):
                # The image was deleted: its delete removed the data.
                await asyncio.shield(self.abandon(image_id, task, IMAGE_DELETED, ctx=ctx))
            # Otherwise the runner stops: the job's lease lets the next start resume.
            raise
        except StoreFailed as exc:
            if ctx.lost:  # another worker owns the job: leave its data alone
                raise
            log.warning("import of image %s into store %s failed: %s", image_id, exc.store,
                        exc.message)
            await asyncio.shield(self._drop(image_id, written, copy=copy, guard=ctx.guard))
            await asyncio.shield(self.abandon(image_id, task, exc.message, [exc.store], ctx=ctx))
            raise
        except ServiceError as exc:
            if ctx.lost:  # another worker owns the job: leave its data alone
                raise
            log.warning("import of image %s failed: %s", image_id, exc.message)
            await asyncio.shield(self._drop(image_id, written, copy=copy, guard=ctx.guard))
            await asyncio.shield(self.abandon(image_id, task, exc.message, ctx=ctx))
            raise
        except webfetch.FetchFailed as exc:
            if ctx.lost:  # another worker owns the job: leave its data alone
                raise
            log.warning("import of image %s failed: %s", image_id, exc)
            await asyncio.shield(self.abandon(image_id, task, str(exc), ctx=ctx))
            raise
        except Exception:
            if ctx.lost:  # another worker owns the job: leave its data alone
                raise
            log.exception("import of image %s failed", image_id)
            await asyncio.shield(self._drop(image_id, written, copy=copy, guard=ctx.guard))
            await asyncio.shield(self.abandon(image_id, task, INTERNAL_ERROR, ctx=ctx))
            raise

    async def _write_stores(
        self, image: ImageRow, task: ImageTaskRow, data: Callable[[], AsyncIterator[bytes]],
        written: list[str | None], guard: Guard,
    ) -> tuple[StoredImage, list[str | None]]:
        """Write the data into each of the task's stores, in order (Glance's
        serial _ImportToStore tasks); `written` collects those that took it. Each
        store's rename into place waits for the job's `guard`.
        A store that fails ends the import (StoreFailed) when all must succeed,
        else it is returned among the failed ones; none succeeding is
        NoStoresSucceeded. A copy must hash as the image does."""
        stores = _task_stores(task)
        must_succeed = _all_must_succeed(task)
        failed: list[str | None] = []
        stored: StoredImage | None = None
        for store in stores:
            target = self._store.default if store is None else self._store.store(store)
            try:
                result = await target.write(image.id, data(), guard)
                written.append(store)
                if _is_copy(task) and result.os_hash_value != image.os_hash_value:
                    raise InvalidRequest(f"The copy of image {image.id} in store {store} "
                                         "does not hash as the image does.")
            except (ServiceError, OSError) as exc:
                message = exc.message if isinstance(exc, ServiceError) else str(exc)
                if must_succeed:
                    raise StoreFailed(store, message) from exc
                log.warning("import of image %s into store %s failed, the others go on "
                            "(all_stores_must_succeed is false): %s", image.id, store, message)
                if store in written:
                    written.remove(store)
                    await target.delete(image.id)
                failed.append(store)
                continue
            stored = result
        if stored is None:
            raise InvalidRequest("None of the uploads finished!")
        return stored, failed

    async def _drop(
        self, image_id: str, written: list[str | None], *, copy: bool, guard: Guard,
    ) -> None:
        """Remove what this import wrote into stores (a copy leaves the source alone),
        only while the job's `guard` says this worker holds the job: the data
        under the image's name may be another worker's otherwise."""
        try:
            await asyncio.to_thread(guard)
            for store in written:
                target = self._store.default if store is None else self._store.store(store)
                await target.delete(image_id)
            written.clear()
        except LeaseLost:
            log.warning("import of image %s: lease lost, its data is left to the new owner",
                        image_id)
        except Exception:
            log.exception("could not remove the data import wrote for image %s", image_id)

    async def _begin(
        self, ctx: JobContext, task_id: str, image_id: str
    ) -> tuple[ImageRow, ImageTaskRow] | None:
        """Move the task to `processing`; None when there is nothing to do (the task
        ended, or its image is gone or no longer imports under this task)."""
        async with self._units.write() as unit:
            await ctx.fence(unit)
            task = await self._tasks.get(unit, task_id)
            if task is None or task.status not in task_rules.UNFINISHED:
                return None
            image = await self._repo.get(image_id, unit=unit, for_update=True)
            ours = image is not None and self._holds(image, task)
            now = utcnow()
            if image is None or not ours:
                await self._tasks.transition(
                    unit, task_id, task_rules.FAIL, now=now,
                    values=self.task_ended(now, message=IMAGE_DELETED),
                )
                return None
            await self._tasks.transition(unit, task_id, task_rules.BEGIN, now=now)
        return image, task

    async def _download(self, image: ImageRow, uri: str) -> None:
        """web-download: the URL's body into the staging area, capped and inspected."""
        limits = UploadLimits(size_cap=self._settings.size_cap)
        inspector = StreamInspector(image.disk_format, image.container_format)
        body = webfetch.fetch(
            uri, self._settings.import_filter, size_cap=limits.size_cap,
            idle_seconds=self._settings.fetch_timeout,
        )
        stream = inspected(body, inspector, limits, lambda _virtual: None)
        try:
            await self._staging.write(image.id, stream)
        finally:
            await stream.aclose()
            await body.aclose()

    def task_ended(
        self, now: Any, *, message: str = "", result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {
            "message": message, "result": result,
            "expires_at": now + timedelta(hours=self._settings.task_ttl_hours),
        }

    async def _finish(
        self, ctx: JobContext, image_id: str, task: ImageTaskRow, stored: Any, virtual: int | None,
        written: list[str | None], failed: list[str | None],
    ) -> bool:
        """`importing -> active` with the data's size, hashes and stores (a copy:
        the stores added, the image stays active), lock dropped, task succeeded:
        one unit. False when the image was deleted or reset meanwhile."""
        now = utcnow()
        async with self._units.write() as unit:
            # Behind the claim's fence: a worker that lost the job records nothing.
            await ctx.fence(unit)
            image = await self._repo.get(image_id, unit=unit, for_update=True)
            if image is None or not self._holds(image, task):
                await self._tasks.transition(
                    unit, task.id, task_rules.FAIL, now=now,
                    values=self.task_ended(now, message=IMAGE_DELETED),
                )
                return False
            props = dict(image.properties or {})
            stores = _task_stores(task)
            if IMPORTING_STORES_KEY in props:
                props[IMPORTING_STORES_KEY] = merge_stores(
                    props.get(IMPORTING_STORES_KEY), stores, subtract=True
                )
            if failed:
                props[FAILED_STORES_KEY] = merge_stores(
                    props.get(FAILED_STORES_KEY), failed, subtract=False
                )
            if task.type == task_rules.IMPORT_TASK:
                props.pop(IMPORT_TASK_KEY, None)
            named = [s for s in written if s]
            if _is_copy(task):
                held = self._images.recorded_stores(image)
                ok = await self._repo.update(unit, image_id, {
                    "properties": props, "updated_at": now,
                    "stores": ",".join([*held, *(s for s in named if s not in held)]),
                })
            else:
                ok = await self._repo.transition(
                    unit, image_id, image_rules.FINISH_IMPORT, now=now, values={
                        "size": stored.size, "virtual_size": virtual,
                        "checksum": stored.checksum, "os_hash_algo": stored.os_hash_algo,
                        "os_hash_value": stored.os_hash_value, "properties": props,
                        "stores": ",".join(named) if self._store.multi else None,
                    },
                )
            if not ok:
                return False
            await self._tasks.transition(
                unit, task.id, task_rules.SUCCEED, now=now,
                values=self.task_ended(now, result={"image_id": image_id}),
            )
        return True

    @staticmethod
    def _holds(image: ImageRow, task: ImageTaskRow) -> bool:
        """Whether `image` is still being imported (or copied) under `task`."""
        if _is_copy(task):
            return image.status == ImageStatus.ACTIVE and (
                (image.properties or {}).get(IMPORT_TASK_KEY) == task.id
            )
        if image.status != ImageStatus.IMPORTING:
            return False
        return task.type not in task_rules.LOCKING_TASKS or (
            (image.properties or {}).get(IMPORT_TASK_KEY) == task.id
        )

    async def abandon(
        self, image_id: str, task: ImageTaskRow, message: str,
        failed: list[str | None] | None = None, ctx: JobContext | None = None,
    ) -> None:
        """A failed import (or location import, services/image_locations.py): the
        task failed with `message`; the image, if it still imports under this
        task, back to `queued`, its stores (`failed`, else all of the task's)
        marked failed and its data (staged or stored) removed; a lock the task
        took on an image it never began to import is dropped. A failed copy
        leaves the image `active` with the data it had. From a job (`ctx`):
        behind its fence, so a worker that lost the job changes nothing."""
        try:
            now = utcnow()
            async with self._units.write() as unit:
                if ctx is not None:
                    await ctx.fence(unit)
                await self._tasks.transition(
                    unit, task.id, task_rules.FAIL, now=now,
                    values=self.task_ended(now, message=message),
                )
                image = (
                    await self._repo.get(image_id, unit=unit, for_update=True)
                    if image_id else None
                )
                reset = False
                if image is not None and self._holds(image, task):
                    props = dict(image.properties or {})
                    stores = _task_stores(task)
                    if task.type in task_rules.LOCKING_TASKS:
                        props.pop(IMPORT_TASK_KEY, None)
                    if task.type == task_rules.IMPORT_TASK:
                        props[IMPORTING_STORES_KEY] = merge_stores(
                            props.get(IMPORTING_STORES_KEY), stores, subtract=True
                        )
                        props[FAILED_STORES_KEY] = merge_stores(
                            props.get(FAILED_STORES_KEY),
                            stores if failed is None else failed, subtract=False,
                        )
                    if _is_copy(task):
                        await self._repo.update(
                            unit, image_id, {"properties": props, "updated_at": now}
                        )
                        return
                    reset = await self._repo.transition(
                        unit, image_id, image_rules.ABANDON_IMPORT, now=now,
                        values={"size": None, "virtual_size": None, "properties": props},
                    )
                elif image is not None and (image.properties or {}).get(
                    IMPORT_TASK_KEY
                ) == task.id:
                    props = {k: v for k, v in (image.properties or {}).items()
                             if k != IMPORT_TASK_KEY}
                    await self._repo.update(
                        unit, image_id, {"properties": props, "updated_at": now}
                    )
            if image_id and (reset or image is None):
                await self._store.delete(image_id)
                await self._staging.delete(image_id)
        except Exception:
            log.exception("could not put image %s back after a failed import", image_id)

    # --- tasks ---------------------------------------------------------------------

    @staticmethod
    def authorize_tasks(caller: Caller) -> None:
        # Glance's tasks_api_access policy: admins only (secure-RBAC default).
        if not caller.is_admin:
            raise _not_authorized("tasks_api_access")

    async def list_tasks(self, caller: Caller, query: TaskQuery) -> list[ImageTaskRow]:
        """GET /v2/tasks: a page of live tasks (an admin's: everyone's)."""
        self.authorize_tasks(caller)
        if query.sort_key not in TASK_COLUMNS:
            raise InvalidRequest("Sort key supplied was not valid.")
        filters = {k: v for k, v in query.filters.items() if k in TASK_COLUMNS}
        async with self._units.read() as unit:
            marker = None
            if query.marker is not None:
                marker = await self._tasks.get(unit, query.marker)
                if marker is None or not self._sees(caller, marker):
                    raise InvalidRequest(
                        f"Task with the given ID {query.marker} was not found"
                    )
            return await self._tasks.page(
                unit, owner=None if caller.is_admin else caller.project_id, filters=filters,
                sort_key=query.sort_key, sort_dir=query.sort_dir,
                limit=min(query.limit, TASK_LIMIT_MAX), marker=marker, now=utcnow(),
            )

    @staticmethod
    def _sees(caller: Caller, task: ImageTaskRow) -> bool:
        return caller.is_admin or task.owner is None or task.owner == caller.project_id

    async def show_task(self, caller: Caller, task_id: str) -> ImageTaskRow:
        """GET /v2/tasks/{id}."""
        self.authorize_tasks(caller)
        async with self._units.read() as unit:
            task = await self._tasks.get(unit, task_id)
        now = utcnow()
        if (
            task is None or not self._sees(caller, task)
            or (task.expires_at is not None and task.expires_at <= now)
        ):
            raise NotFound(f"Task with the given ID {task_id} was not found")
        return task

    async def image_tasks(self, caller: Caller, image_id: str) -> list[ImageTaskRow]:
        """GET /v2/images/{id}/tasks (2.12): the image must be visible to `caller`."""
        await self._images.visible(caller, image_id)
        async with self._units.read() as unit:
            return await self._tasks.for_image(
                unit, image_id, owner=None if caller.is_admin else caller.project_id,
                now=utcnow(),
            )

    async def create_task(
        self, caller: Caller, *, task_type: str, task_input: dict[str, Any],
        image: tuple[dict[str, Any], dict[str, str]] | None, request_id: str | None,
    ) -> ImageTaskRow:
        """POST /v2/tasks (deprecated in Glance). An `import` task makes the image
        its `image_properties` describe and fills it from `import_from` by the
        web-download path (the URL already passed the filter: see the API);
        `result` names the image when it succeeds. The other types are started by
        Glance itself: a task of one made here fails at once, as Glance's would
        for lack of its input."""
        self.authorize_tasks(caller)
        now = utcnow()
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()), "type": task_type, "owner": caller.project_id,
            "image_id": task_input.get("image_id") if isinstance(
                task_input.get("image_id"), str) else None,
            "user_id": caller.user_id, "request_id": request_id, "input": task_input,
            "created_at": now, "updated_at": now,
        }
        if task_type != task_rules.LEGACY_IMPORT_TASK or image is None:
            async with self._units.write() as unit:
                return await self._tasks.add(
                    unit, status=TaskStatus.FAILURE.value, **values, **self.task_ended(
                        now, message=f"Task type {task_type} is started by the image "
                        "service itself, not through the tasks API."),
                )
        fields, props = image
        created = await self._images.create(caller, fields=fields, properties=props)
        # Glance's legacy task names no image until it succeeds; this one names the
        # image it fills from the start, so that recovery finds its job (and the
        # image's task list shows it).
        values["image_id"] = created.id
        try:
            async with self._units.write() as unit:
                task = await self._tasks.add(
                    unit, status=TaskStatus.PENDING.value, message="", expires_at=None,
                    result=None, **values,
                )
                if not await self._repo.transition(
                    unit, created.id, image_rules.BEGIN_IMPORT, now=now
                ):
                    raise Conflict(f"Image {created.id} could not be imported into.")
                await self._jobs.enqueue(
                    unit, kind=IMPORT_JOB, volume_id="", image_id=created.id,
                    project_id=caller.project_id or "", user_id=caller.user_id,
                    request_id=request_id,
                    params={"task_id": task.id, "method": WEB_DOWNLOAD,
                            "uri": task_input.get("import_from")},
                    now=now,
                )
        except BaseException:
            with contextlib.suppress(Exception):
                await self._images.delete(caller, created.id)
            raise
        self._jobs.wake()
        return task

    async def check_legacy_import(self, task_input: dict[str, Any]) -> None:
        """An `import` task's `import_from`, as Glance checks it when the task is
        made (glance/common/scripts/utils.py validate_legacy_import_from_uri)."""
        location = task_input.get("import_from")
        if not location or not isinstance(location, str):
            raise InvalidRequest(f"Invalid location: {location}")
        if location.startswith(("file:///", "filesystem:///")):
            raise InvalidRequest("File based imports are not allowed. Please use a "
                                 "non-local source of image data.")
        if not location.startswith(("http://", "https://")):
            raise InvalidRequest("The given uri is not valid. Please specify a valid uri "
                                 "from the following list of supported uri ['http']")
        if await webfetch.resolve(self._settings.import_filter, location) is None:
            raise InvalidRequest(
                f"URI for legacy import task does not pass filtering: {location}"
            )

    # --- recovery ------------------------------------------------------------------

    async def recover(self) -> None:
        """Mend what a crash leaves (see the module docstring): `importing` images
        without an unfinished job back to `queued` (their task failed), `uploading`
        images without staged data back to `queued`, unfinished tasks without a job
        failed, staged files of no importing/uploading image removed, expired
        tasks deleted."""
        now = utcnow()
        async with self._units.write() as unit:
            await self._tasks.delete_expired(unit, now=now)
            statuses = await self._repo.statuses(unit)
            busy = await self._job_repo.images_being_written(unit)
            open_tasks = await self._tasks.unfinished(unit, sorted(task_rules.UNFINISHED))
        stuck_tasks = [t for t in open_tasks if t.image_id is None or t.image_id not in busy]
        by_image = {t.image_id: t for t in open_tasks if t.image_id}
        for task in stuck_tasks:
            image_id = task.image_id or str((task.input or {}).get("image_id") or "")
            await self.abandon(image_id, task, INTERRUPTED)
        # Legacy import tasks name their image only in the job; an importing image
        # with no job and no task of its own is put back the same way.
        for image_id, status in statuses.items():
            if status == ImageStatus.IMPORTING and image_id not in busy:
                if image_id in by_image:
                    continue
                async with self._units.write() as unit:
                    await self._repo.transition(
                        unit, image_id, image_rules.ABANDON_IMPORT, now=utcnow(),
                        values={"size": None, "virtual_size": None},
                    )
                await self._staging.delete(image_id)
            elif status == ImageStatus.UPLOADING and not await self._staging.exists(image_id):
                await self._unstage(image_id)
        keep = {i for i, s in statuses.items()
                if s in (ImageStatus.UPLOADING, ImageStatus.IMPORTING)}
        for image_id in await self._staging.stored_ids():
            if image_id not in keep:
                await self._staging.delete(image_id)
        removed = await self._staging.cleanup_staging(keep=busy)
        if removed:
            log.info("removed %d partial staged files", len(removed))


__all__ = [
    "IMPORT_JOB",
    "ImageImportService",
    "ImportRequest",
    "ImportSettings",
    "TaskQuery",
]
