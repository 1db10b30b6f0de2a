"""Upload jobs: the worker side of os-volume_upload_image (run_upload) and recover.

Crash safety, write path by write path:
- run_upload: image queued -> saving -> active and the volume's final status
  are single CAS updates; bytes go to a staging file renamed into place only
  when complete. A crash mid-copy leaves a running job whose lease expires: the
  re-run removes the staging file and resets the image to queued (`_prepare`).
- Fencing (several workers): every write transaction of a job starts with the
  claim's fence (`JobContext.fence`), and so does the rename of the data into
  place (a fenced renewal just before it), so a worker paused past its lease
  while another claimed the job commits nothing, rolls nothing back, and
  removes only its own staging files (its `Staging` does). The rename is a file
  system step outside the transaction: the job's guard (workers/runner.py
  `JobContext.guard`) checks, in the thread, right before it, that the lease
  is still held by this process's clock, and otherwise waits for a renewal with
  this claim's token.
- recover (start-up): volumes `uploading` with no unfinished job go back to
  available/in-use, their queued/saving images are deleted, stray staging
  files removed; each step is idempotent, so a crash during recovery is
  repaired by the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cinderlite.datapath import convert, qemu
from cinderlite.datapath.compress import gzip_file
from cinderlite.datapath.hashing import Progress
from cinderlite.datapath.streams import (
    CopyResult,
    CopyStopped,
    copy_sparse,
    fsync_path,
    hash_file,
    run_blocking,
)
from cinderlite.db import images as images_db
from cinderlite.db import messages as messages_db
from cinderlite.db import uploads as uploads_db
from cinderlite.db.database import Database, SyncUnit
from cinderlite.db.volumes import VolumeRepository
from cinderlite.domain import images as image_rules
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    ConversionFailed,
    InvalidRequest,
    InvalidVolume,
    ServiceError,
    StorageFull,
    TooLarge,
    VolumeNotFound,
)
from cinderlite.domain.images import ImageStatus
from cinderlite.domain.jobs import LeaseLost
from cinderlite.domain.volumes import VolumeStatus
from cinderlite.services import messages
from cinderlite.services.uploads import (
    RAW_FORMATS,
    ImageConversionNotAllowed,
    VolumeDataNotIso,
)
from cinderlite.storage.images.base import ImageStore, Staging
from cinderlite.storage.volumes.base import VolumeBackend
from cinderlite.workers.runner import JobContext, JobRunner

log = logging.getLogger("cinderlite.uploads")

MIB = 1 << 20
# A job re-claimed more often than this (e.g. it crashes the process each time)
# is rolled back instead of being tried again.
MAX_ATTEMPTS = 3
# Long uploads log their progress every 30 s (the watcher ticks every 0.25 s).
PROGRESS_LOG_TICKS = 120


@dataclass(frozen=True)
class WorkerLimits:
    """The settings the upload worker reads; the wiring makes them from Settings."""

    # Cinder image_conversion_disable / image_compress_on_upload / qcow2 compression.
    image_conversion_disable: bool
    image_compress_on_upload: bool
    qcow2_compression_type: str
    # Write qcow2/vmdk/vdi here instead of through qemu-img (datapath/convert.py).
    native_conversion: bool
    # qemu-img's resource limits (oslo.concurrency prlimit) for reading an image.
    qemu: qemu.QemuLimits
    message_ttl_seconds: int


class ImageVanished(ServiceError):
    def __init__(self, image_id: str) -> None:
        super().__init__(f"Image {image_id} was deleted while the upload ran.")


class ImageFormatsChanged(ServiceError):
    def __init__(self, image_id: str) -> None:
        super().__init__(
            f"The disk_format or container_format of image {image_id} changed while the "
            "upload wrote its data; the image was not activated."
        )


class _Timeline:
    """Seconds each phase of one upload took, logged at DEBUG (for finding fixed costs)."""

    def __init__(self, image_id: str, queued_since: Any = None) -> None:
        self._image_id = image_id
        self._last = time.monotonic()
        self._phases: list[tuple[str, float]] = []
        if queued_since is not None:  # the job row's created_at: enqueue -> pick-up
            self._phases.append(("queued", (utcnow() - queued_since).total_seconds()))

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self._phases.append((phase, now - self._last))
        self._last = now

    def log(self) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "upload timeline of image %s: %s", self._image_id,
                ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in self._phases),
            )


_Written = tuple[CopyResult, int | None]  # the data's hashes, the image's virtual size


@dataclass(frozen=True)
class _Writing:
    """What a writer needs: the volume file, the format to write, progress, stop."""

    limits: WorkerLimits
    image_id: str
    src: Path
    fmt: str  # qemu-img's name of the disk format
    progress: Progress
    mark: Callable[[str], None]
    stop: threading.Event = field(default_factory=threading.Event)


async def _copy_volume(w: _Writing, staging: Staging) -> _Written:
    """raw, iso: streamed as it is: no scratch copy, no qemu-img, holes skipped."""
    result = await run_blocking(copy_sparse, w.src, staging.path, progress=w.progress, stop=w.stop)
    w.mark("copy")
    return result, result.size


async def _gzip_volume(w: _Writing, staging: Staging) -> _Written:
    """raw, iso in a compressed container: the volume gzipped as it is read."""
    result = await run_blocking(gzip_file, w.src, staging.path, progress=w.progress, stop=w.stop)
    w.mark("gzip")
    return result, None


async def _convert_volume(w: _Writing, staging: Staging) -> _Written:
    """The other formats: written here (`_convert`: native, or qemu-img), checked, fsynced."""
    written = await _convert(w.limits, w.src, staging.path, w.fmt, w.progress, w.stop)
    w.mark("convert")
    if written is not None:
        # Written here, so its format and size are known (the layouts are
        # checked against qemu-img by the tests) and it was hashed as written:
        # only the fsync is left before the commit's rename. O_DIRECT writes
        # leave little dirty; the fsync flushes metadata and the disk's cache.
        await run_blocking(fsync_path, staging.path, stop=threading.Event())
        w.mark("fsync")
        return written, written.virtual_size
    # qemu-img's output: Cinder's checks on it, its hashes and its fsync all
    # at once: they read the same pages (from the page cache) and the fsync
    # mostly waits on the disk. The data is durable (fsynced, then renamed by
    # commit, which fsyncs again -- cheaply, nothing is dirty by then) before
    # the image can become active; a crash before the rename leaves only a
    # staging file (see the module doc).
    info, result, _ = await _all_or_cancel(
        qemu.info(staging.path, w.fmt, limits=w.limits.qemu),
        run_blocking(hash_file, staging.path, stop=w.stop),
        run_blocking(fsync_path, staging.path, stop=threading.Event()),
    )
    w.mark("info+hash+fsync")
    _check_converted(info, w.fmt, w.image_id)
    return result, info.virtual_size


async def _pack_converted(w: _Writing, staging: Staging) -> _Written:
    """The other formats in a compressed container: converted beside, checked, gzipped."""
    async with staging.scratch() as converted:
        written = await _convert(w.limits, w.src, converted, w.fmt, w.progress, w.stop)
        w.mark("convert")
        if written is None:
            info = await qemu.info(converted, w.fmt, limits=w.limits.qemu)
            _check_converted(info, w.fmt, w.image_id)
        result = await run_blocking(gzip_file, converted, staging.path, stop=w.stop)
        w.mark("gzip")
    return result, None


# The one choice of how the data is written: by disk format (raw and iso as
# they are, the others converted) and container (gzip for `compressed`). Each
# writer fills `staging.path` and returns the data's hashes and the virtual
# size; `_produce` commits.
_WRITERS: dict[tuple[str, str], Callable[[_Writing, Staging], Awaitable[_Written]]] = {
    ("raw", "plain"): _copy_volume,
    ("raw", "compressed"): _gzip_volume,
    ("converted", "plain"): _convert_volume,
    ("converted", "compressed"): _pack_converted,
}


async def _convert(
    limits: WorkerLimits, src: Any, staging: Any, fmt: str, progress: Progress,
    stop: threading.Event,
) -> CopyResult | None:
    """Write the volume as a `fmt` image to `staging`.

    qcow2 (uncompressed), vmdk and vdi are written in one pass and hashed as
    they are written (`convert.convert_native`): returns its hashes and
    virtual size. The rest, and layouts too big for it, go through `qemu-img
    convert`: returns None.
    """
    compress = fmt == "qcow2" and limits.image_compress_on_upload
    if limits.native_conversion and not compress and fmt in convert.NATIVE_FORMATS:
        try:
            result = await run_blocking(
                convert.convert_native, src, staging, fmt=fmt, progress=progress, stop=stop
            )
        except convert.NotNative as exc:  # raised before staging exists
            log.info("volume %s: %s image written by qemu-img instead (%s)", src.name, fmt, exc)
        else:
            return result
    # Out-of-order writes let the parallel coroutines overlap compression. An
    # uncompressed conversion is a page-cache copy: in order it is as fast or
    # faster for qcow2 and vdi, but vmdk gained with -W in every benchmark run
    # (sparse25-vmdk 1.5-1.8 s -> 0.95 s; docs/benchmarks.md). A vmdk written
    # out of order is as valid; only its grain layout differs.
    # The volume's bytes are the tenant's, but they are read as raw: qemu-img's
    # raw driver opens no other file whatever the bytes say (a qcow2 header or a
    # VMDK descriptor inside a volume stays data), so there is nothing to inspect.
    args = qemu.convert_args(
        src, staging, src_format="raw", dst_format=fmt, compress=compress,
        compression_type=limits.qcow2_compression_type if compress else None,
        out_of_order=compress or fmt == "vmdk",
    )
    total = progress.total

    def on_progress(pct: float) -> None:
        progress.done = int(total * pct / 100)

    # qemu-img's address-space limit guards `info` against crafted images
    # (Cinder); convert reads our own raw volume, and its thread pool needs more.
    await qemu.run_convert(
        args, on_progress=on_progress,
        limits=replace(limits.qemu, address_space=0),
    )
    return None


def _check_converted(info: qemu.ImageInfo, fmt: str, image_id: str) -> None:
    """Cinder's checks on the result: the requested format, nothing external."""
    if info.format != fmt:
        raise ConversionFailed(f"Converted to {fmt}, but format is now {info.format}")
    qemu.check_no_external_files(info, what=f"Image {image_id}")


async def _all_or_cancel(*aws: Any) -> list[Any]:
    """Await all of `aws` concurrently; return their results in order.

    Unlike gather, the first failure (or our own cancellation) cancels the
    others and waits for them to end before it propagates, so no thread is
    still reading a staging file when the caller removes it. The failure is
    raised as itself (not an ExceptionGroup).
    """
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()
        return [t.result() for t in tasks]
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t


def _detail_for(exc: BaseException | None) -> messages.Detail:
    """Cinder message_field.translate_detail_id, for our error types."""
    if isinstance(exc, StorageFull | TooLarge):
        return messages.NOT_ENOUGH_SPACE_FOR_IMAGE
    if isinstance(exc, VolumeDataNotIso):
        return messages.VOLUME_DATA_NOT_ISO
    return messages.FAILED_TO_UPLOAD_VOLUME


def _log_done(job: Any, result: CopyResult, volume_bytes: int, seconds: float) -> None:
    elapsed = max(seconds, 1e-6)
    log.info(
        "upload done: volume %s -> image %s (%s/%s), %d bytes (%d read) in %.2f s, %.1f MiB/s",
        job.volume_id, job.image_id, job.params.get("disk_format"),
        job.params.get("container_format"), result.size, result.data_bytes, elapsed,
        volume_bytes / MIB / elapsed,
    )


class UploadWorker:
    """The upload job's handler (`run`) and the start-up recovery of uploads."""

    def __init__(
        self, *, database: Database, repo: VolumeRepository, backend: VolumeBackend,
        store: ImageStore, jobs: JobRunner, limits: WorkerLimits,
        recorded_store: str | None = None,
    ) -> None:
        self._database = database
        self._repo = repo
        self._backend = backend
        # Writes go to the default image store (its staging and commit); the
        # image row records it as `recorded_store` (None on a single-store site).
        self._store = store
        self._recorded_store = recorded_store
        self._jobs = jobs
        # Public so that a test can change one option for a running worker.
        self.limits = limits

    async def run(self, ctx: JobContext) -> None:
        """Copy the volume into its image; on any failure roll back and tell the user.

        Status changes: image queued -> saving -> active; volume uploading ->
        available/in-use (success or failure). Raises the failure again after
        cleanup so the runner records the job as failed (or cancelled).
        """
        job = ctx.job
        image_id = str(job.image_id)
        store = self._store_for(job)
        started = time.monotonic()
        progress = Progress(job.bytes_total)
        timeline = _Timeline(image_id, job.created_at)
        try:
            if not await self._begin(ctx, timeline, store):
                await self._remove_staging(image_id)
                return
            timeline.mark("saving")
            result, virtual_size = await self._guarded(
                ctx, image_id, progress, self._produce(ctx, progress, timeline, store)
            )
            await self._activate(ctx, result, virtual_size)
            timeline.mark("active")
            timeline.log()
            ctx.report(progress.total, progress.total)
            _log_done(job, result, job.bytes_total or progress.total, time.monotonic() - started)
        except asyncio.CancelledError:
            # This attempt's staging files are gone already (its Staging removed
            # them); other files of the image go with a rollback that holds the lease.
            if ctx.lost:
                raise  # another worker has the job now: leave everything to it
            if self._jobs.cancel_requested(job.id) or not await self._image_alive(image_id):
                await self._roll_back(ctx, store, reason="upload cancelled (image deleted)")
            # else: the service is stopping; the job's lease lets the next start redo it.
            raise
        except LeaseLost:
            raise
        except Exception as exc:
            log.warning("upload of volume %s to image %s failed: %s", job.volume_id, image_id, exc)
            if not ctx.lost:
                await self._roll_back(
                    ctx, store, reason=f"{type(exc).__name__}: {exc}", exc=exc
                )
            raise

    def _store_for(self, job: Any) -> ImageStore:
        """The store acting as the job's caller (its token, for a cloud's Glance)."""
        return self._store.as_user(str((job.params or {}).get("auth_token") or ""))

    async def _begin(self, ctx: JobContext, timeline: _Timeline, store: ImageStore) -> bool:
        """Image queued -> saving; False when a previous attempt left nothing to do.

        A first attempt whose image is queued and volume uploading (the usual
        case) starts in one transaction; anything else, a re-run after a crash
        included, goes through `_prepare` first.
        """
        job = ctx.job
        image_id = str(job.image_id)

        def begin(db: SyncUnit) -> bool:
            ctx.fence_sync(db)
            return uploads_db.begin_saving(
                db, image_id=image_id, volume_id=job.volume_id, now=utcnow()
            )

        if job.attempts <= 1 and await self._database.run(begin):
            return True
        if not await self._prepare(ctx, store):
            return False
        timeline.mark("prepare")
        async with self._database.write() as db:
            await ctx.fence(db)
            if not await images_db.transition(
                db, image_id=image_id, rule=image_rules.BEGIN_SAVING, now=utcnow()
            ):
                raise ImageVanished(image_id)
        return True

    async def _activate(
        self, ctx: JobContext, result: CopyResult, virtual_size: int | None
    ) -> None:
        """Image saving -> active with its hashes, and the volume's final status, in one
        transaction, behind the claim's fence; only if the image still has the
        formats the data was written in."""
        job = ctx.job
        image_id = str(job.image_id)
        activate = functools.partial(
            uploads_db.activate_image, image_id=image_id, volume_id=job.volume_id,
            job_id=job.id, now=utcnow(), disk_format=job.params["disk_format"],
            container_format=job.params["container_format"], size=result.size,
            checksum=result.checksum, os_hash_algo=result.os_hash_algo,
            os_hash_value=result.os_hash_value, virtual_size=virtual_size,
            stores=self._recorded_store,
        )

        def fenced(db: SyncUnit) -> bool:
            ctx.fence_sync(db)
            return activate(db)

        if not await self._database.run(fenced):
            if await self._image_alive(image_id):
                raise ImageFormatsChanged(image_id)
            raise ImageVanished(image_id)

    async def _prepare(self, ctx: JobContext, store: ImageStore) -> bool:
        """Make a (re-)claimed job start clean; False when there is nothing left to do.

        What a previous attempt left (its staging files, a half-written image) is
        removed only after a fenced write: a worker that lost the job to another
        removes nothing of the other's.
        """
        job = ctx.job
        image_id = str(job.image_id)
        if job.attempts > MAX_ATTEMPTS:
            raise ConversionFailed(
                f"upload abandoned after {job.attempts - 1} interrupted attempts"
            )
        # Reads and writes in separate transactions: on SQLite a transaction that
        # reads and then writes can fail to upgrade its lock; every write is a CAS.
        async with self._database.read() as db:
            image = await uploads_db.get_image(db, image_id=image_id)
            volume = await self._repo.get(job.volume_id, unit=db)
        if volume is None:
            raise VolumeNotFound(job.volume_id)
        if image is not None and image.status == ImageStatus.ACTIVE:
            # A previous attempt finished (and perhaps died before the job row said
            # so): only the volume may still need its final status.
            async with self._database.write() as db:
                await ctx.fence(db)
                await uploads_db.finish_uploading(
                    db, volume_id=job.volume_id, now=utcnow(), job_id=job.id
                )
            return False
        if image is None or image.status not in image_rules.UNFINISHED:
            raise ImageVanished(image_id)
        if volume.status != VolumeStatus.UPLOADING:
            raise InvalidVolume(f"Volume {job.volume_id} is no longer uploading")
        async with self._database.write() as db:
            await ctx.fence(db)
            if image.status == ImageStatus.SAVING:  # half-done previous attempt
                await images_db.transition(
                    db, image_id=image_id, rule=image_rules.BACK_TO_QUEUED, now=utcnow(),
                    values={"size": None, "virtual_size": None, "checksum": None,
                            "os_hash_algo": None, "os_hash_value": None},
                )
        # Stale staging or data of a previous attempt; the image's record stays.
        await store.discard(image_id)
        return True

    async def _produce(
        self, ctx: JobContext, progress: Progress, timeline: _Timeline, store: ImageStore
    ) -> tuple[CopyResult, int | None]:
        """Write the image data and commit it to the store; return its hashes and virtual size."""
        job = ctx.job
        mark = timeline.mark
        image_id = str(job.image_id)
        disk_format = job.params["disk_format"]
        container_format = job.params.get("container_format")
        src = self._backend.path(job.volume_id)
        if container_format is None:
            # Glance refuses data for an image without a container format; Cinder
            # passes a null through (cinder/api/contrib/volume_actions.py), so the
            # upload fails after the 202 (glance/api/v2/image_data.py refuses the data).
            raise InvalidRequest("Property container_format must be set prior to saving data.")
        if disk_format == "iso" and not await asyncio.to_thread(qemu.looks_like_iso, src):
            raise VolumeDataNotIso(job.volume_id)
        kind = "raw" if disk_format in RAW_FORMATS else "converted"
        if kind == "converted" and self.limits.image_conversion_disable:
            raise ImageConversionNotAllowed(image_id, disk_format)
        writer = _WRITERS[kind, "compressed" if container_format == "compressed" else "plain"]
        w = _Writing(self.limits, image_id, src, qemu.qemu_format(disk_format), progress, mark)
        # The commit makes the data the image's: renamed into the file store, or
        # sent to the cloud's Glance (storage/images/glance.py).
        async with store.staging(image_id) as staging:
            result, virtual_size = await writer(w, staging)
            # The rename replaces the image's data file: only while this claim
            # holds the job (renewed here, so another claim needs a whole lease).
            async with self._database.write() as db:
                await ctx.fence(db)
            await staging.commit(ctx.guard)
        mark("commit")
        return result, virtual_size if container_format == "bare" else None

    async def _guarded(
        self, ctx: JobContext, image_id: str, progress: Progress, coro: Any
    ) -> Any:
        """Run `coro`, reporting progress and stopping it if the image row disappears."""
        work = asyncio.ensure_future(coro)
        vanished = False

        async def watch() -> None:
            nonlocal vanished
            tick = 0
            while not work.done():
                await asyncio.sleep(0.25)
                ctx.report(progress.done, progress.total)
                tick += 1
                if tick % PROGRESS_LOG_TICKS == 0 and progress.total:
                    log.info(
                        "upload to image %s: %d of %d bytes (%.0f%%)", image_id, progress.done,
                        progress.total, 100.0 * progress.done / progress.total,
                    )
                if tick % 4 == 0 and not await self._image_alive(image_id):
                    vanished = True
                    work.cancel()
                    return

        watcher = asyncio.ensure_future(watch())
        try:
            return await work
        except (asyncio.CancelledError, CopyStopped):
            task = asyncio.current_task()
            if vanished and (task is None or not task.cancelling()):
                raise ImageVanished(image_id) from None
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(BaseException):
                await watcher
            ctx.report(progress.done, progress.total)

    async def _image_alive(self, image_id: str) -> bool:
        # A read, several times a second per upload: it takes no write lock.
        try:
            status = await self._database.run_read(
                functools.partial(uploads_db.image_status, image_id=image_id)
            )
        except Exception:
            log.exception("could not check image %s", image_id)
            return True
        return status in image_rules.UNFINISHED or status == ImageStatus.ACTIVE

    async def _remove_staging(self, image_id: str) -> None:
        """Staging files of the image that an earlier (crashed) attempt left; this
        attempt's own are removed by its Staging, whatever happened."""
        with contextlib.suppress(OSError):
            await self._store.cleanup_staging(image_id=image_id)

    async def _roll_back(
        self, ctx: JobContext, store: ImageStore, *, reason: str, exc: BaseException | None = None
    ) -> None:
        """Delete the unfinished image (row, then data), restore the volume, record a message.

        The row goes first in one transaction with the volume and the message,
        behind the claim's fence (a worker that lost the job rolls nothing back);
        a crash before the data files are removed leaves only files that recover()
        or the next delete sweeps.
        """
        job = ctx.job
        image_id = str(job.image_id)
        try:
            async with self._database.write() as db:
                await ctx.fence(db)
                deleted = await uploads_db.delete_unfinished_image(db, image_id=image_id)
                await uploads_db.finish_uploading(
                    db, volume_id=job.volume_id, now=utcnow(), job_id=job.id
                )
                await messages.record(
                    db, project_id=job.project_id, resource_uuid=job.volume_id,
                    action=messages.COPY_VOLUME_TO_IMAGE, detail=_detail_for(exc),
                    now=utcnow(), ttl_seconds=self.limits.message_ttl_seconds,
                    request_id=job.request_id, reason=reason,
                )
            image = None
            if not deleted:
                async with self._database.read() as db:
                    image = await uploads_db.get_image(db, image_id=image_id)
            if deleted or image is None:
                # The data, and the image itself where the store keeps records
                # (Cinder deletes the image it made in Glance when the upload fails).
                await store.delete(image_id)
        except LeaseLost:
            log.warning("upload job %s: not rolled back here, another worker has it", job.id)
        except Exception:
            # The job ends failed; recover() at the next start finishes the rollback.
            log.exception("rollback of upload job %s failed", job.id)

    async def recover(self) -> None:
        """Roll back uploads a crash left behind (before the job runner starts).

        Running jobs of dead processes are not touched here: the runner re-claims
        them and run_upload starts them over (`_prepare`).
        """
        now = utcnow()
        async with self._database.write() as db:
            images = await uploads_db.abandoned_upload_images(db)
            for image_id, _ in images:
                await uploads_db.delete_unfinished_image(db, image_id=image_id)
            volumes = await uploads_db.uploading_volumes_without_job(db)
            for volume_id in volumes:
                volume = await self._repo.get(volume_id, unit=db)
                await uploads_db.finish_uploading(db, volume_id=volume_id, now=now)
                if volume is not None:
                    await messages.record(
                        db, project_id=volume.project_id, resource_uuid=volume_id,
                        action=messages.COPY_VOLUME_TO_IMAGE, detail=messages.UPLOAD_INTERRUPTED,
                        now=now, ttl_seconds=self.limits.message_ttl_seconds,
                        reason="volume left uploading with no upload job",
                    )
            keep = await uploads_db.image_ids_in_progress(db)
            await messages_db.delete_expired(db, now=now)
        for image_id, _ in images:
            await self._store.delete(image_id)
        removed = await self._store.cleanup_staging(keep)
        if images or volumes or removed:
            log.info(
                "upload recovery: %d volume(s) restored, %d image(s) deleted, "
                "%d staging file(s) removed",
                len(volumes), len(images), len(removed),
            )



__all__ = ["MAX_ATTEMPTS", "ImageFormatsChanged", "ImageVanished", "UploadWorker", "WorkerLimits"]
