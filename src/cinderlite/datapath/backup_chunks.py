"""Backups as chunk files and a manifest (docs/backups.md describes the format).

A backup of a volume of `size` bytes is cut into chunks of `chunk_size` bytes
(the last one may be shorter). Each chunk is one of:

- a hole: it reads as zeros. Nothing is stored; it is never read from the
  source either when the source's extents say it holds no data;
- data: stored as `chunk-<index>` (8 decimal digits), compressed or not, with
  the sha256 of its uncompressed bytes in the manifest. An incremental backup
  stores only the chunks whose sha256 differs from its parent's chunk at the
  same index; for the others its manifest says how many steps up the chain of
  parents (`depth`) the stored copy lives.

The manifest (`metadata.json`) is written last, with fsync and rename, so a
directory without one is an unfinished backup. Restoring never trusts it
beyond this module's own format: every field is checked against bounds
derived from what the database says of the backup (its size), file names come
only from chunk indexes, a chunk's stored length, decompressed length and
sha256 are all verified before one byte of it reaches the volume, and
decompression stops at the chunk's length (no zip bomb).

Everything here blocks; callers run it in a worker thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cinderlite.datapath.extents import ZERO_BLOCK, ZERO_BLOCK_SIZE, data_extents, is_zero
from cinderlite.datapath.streams import (
    NO_SPACE,
    CopyStopped,
    pwrite_all,
    pwrite_sparse,
    read_full,
)
from cinderlite.datapath.sysio import lower_thread_priority
from cinderlite.domain.errors import BackupCorrupt, StorageFull
from cinderlite.domain.jobs import Guard

FORMAT = "cinderlite-backup"
VERSION = 1
MANIFEST = "metadata.json"
# Chunk sizes a manifest may name: a multiple of 4 KiB up to 64 MiB.
MIN_CHUNK_SIZE = 4096
MAX_CHUNK_SIZE = 64 << 20
# Cinder's backup_compression_algorithm values we write; none/off/no mean none.
COMPRESSIONS = ("none", "zlib")
NO_COMPRESSION = frozenset({"none", "off", "no"})
# zlib level: 1 is several times faster than the default and, on volume data,
# within a few percent of its ratio.
ZLIB_LEVEL = 1
# Manifest bytes per chunk at most (a data entry is ~90 bytes of JSON).
_ENTRY_BYTES = 160
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Chunk:
    """One chunk of a backup: None sha256 for a hole; else the sha256 of its
    uncompressed bytes, the bytes stored, and how many parents up they are."""

    sha256: str | None
    stored: int = 0
    depth: int = 0


@dataclass(frozen=True)
class Manifest:
    size: int
    chunk_size: int
    compression: str
    chunks: tuple[Chunk, ...]

    def chunk_length(self, index: int) -> int:
        return min(self.chunk_size, self.size - index * self.chunk_size)

    @property
    def stored_chunks(self) -> int:
        """Chunk files this backup holds itself."""
        return sum(1 for c in self.chunks if c.sha256 is not None and c.depth == 0)

    def to_json(self) -> bytes:
        return json.dumps({
            "format": FORMAT, "version": VERSION, "size": self.size,
            "chunk_size": self.chunk_size, "compression": self.compression,
            "chunks": [None if c.sha256 is None else [c.sha256, c.stored, c.depth]
                       for c in self.chunks],
        }, separators=(",", ":")).encode()


def chunk_name(index: int) -> str:
    return f"chunk-{index:08d}"


def chunk_count(size: int, chunk_size: int) -> int:
    return -(-size // chunk_size)


def normalise_compression(name: str) -> str:
    """Cinder's option value as one of COMPRESSIONS; ValueError for others."""
    value = name.strip().lower()
    if value in NO_COMPRESSION:
        return "none"
    if value in ("zlib", "gzip"):
        return "zlib"
    raise ValueError(f"backup compression {name!r} is not supported (none or zlib)")


def _stored_bound(length: int, compression: str) -> int:
    # zlib's worst case is a few bytes per 16 KiB block over the input.
    return length if compression == "none" else length + length // 1000 + 1024


def parse_manifest(raw: bytes, *, size: int, max_depth: int) -> Manifest:
    """The manifest in `raw`, checked field by field against `size` (the backup's
    size as the database has it) and `max_depth` (its number of ancestors);
    BackupCorrupt for anything this module would not have written."""
    def bad(why: str) -> BackupCorrupt:
        return BackupCorrupt(f"The backup metadata is invalid: {why}.")

    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise bad("not JSON") from None
    keys = {"format", "version", "size", "chunk_size", "compression", "chunks"}
    if not isinstance(doc, dict) or set(doc) != keys:
        raise bad("unexpected fields")
    if doc["format"] != FORMAT or doc["version"] != VERSION:
        raise bad("unknown format")
    if type(doc["size"]) is not int or doc["size"] != size:
        raise bad("size does not match the backup")
    chunk_size = doc["chunk_size"]
    if (type(chunk_size) is not int or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE
            or chunk_size % MIN_CHUNK_SIZE):
        raise bad("chunk size out of range")
    compression = doc["compression"]
    if compression not in COMPRESSIONS:
        raise bad("unknown compression")
    entries = doc["chunks"]
    if not isinstance(entries, list) or len(entries) != chunk_count(size, chunk_size):
        raise bad("wrong number of chunks")
    chunks: list[Chunk] = []
    for index, entry in enumerate(entries):
        if entry is None:
            chunks.append(Chunk(None))
            continue
        length = min(chunk_size, size - index * chunk_size)
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or not _SHA_RE.match(entry[0]) or type(entry[1]) is not int
                or type(entry[2]) is not int
                or not 0 < entry[1] <= _stored_bound(length, compression)
                or not 0 <= entry[2] <= max_depth):
            raise bad(f"chunk {index} is malformed")
        chunks.append(Chunk(entry[0], entry[1], entry[2]))
    return Manifest(size, chunk_size, compression, tuple(chunks))


def read_manifest(directory: Path, *, size: int, max_depth: int) -> Manifest:
    limit = 4096 + _ENTRY_BYTES * chunk_count(size, MIN_CHUNK_SIZE)
    try:
        with open(directory / MANIFEST, "rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise BackupCorrupt("The backup metadata is missing.") from None
    if len(raw) > limit:
        raise BackupCorrupt("The backup metadata is invalid: too large.")
    return parse_manifest(raw, size=size, max_depth=max_depth)


# --- writing a backup -------------------------------------------------------------------


def _has_data(extents: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < s + n for s, n in extents)


def _no_space(exc: OSError) -> StorageFull:
    return StorageFull(f"Backup storage is full: {exc.strerror}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_backup(
    src: Path, size: int, directory: Path, *, chunk_size: int, compression: str,
    parent: Manifest | None, workers: int, progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Manifest:
    """Back `size` bytes of `src` up into `directory` (which must exist and be
    empty): chunk files, then the manifest, each fsynced; returns the manifest.

    `parent`'s chunks are reused where their sha256 matches (only when it was
    written with the same chunk size and compression). StorageFull when the
    space runs out; the caller removes the directory on any failure.
    """
    if parent is not None and (
        parent.chunk_size != chunk_size or parent.compression != compression
        or parent.size > size
    ):
        parent = None
    count = chunk_count(size, chunk_size)
    fd = os.open(src, os.O_RDONLY)
    lock = threading.Lock()

    def one(index: int) -> Chunk:
        if stop is not None and stop.is_set():
            raise CopyStopped()
        start = index * chunk_size
        length = min(chunk_size, size - start)
        if not _has_data(extents, start, start + length):
            chunk = Chunk(None)
        else:
            buf = bytearray(length)
            got = read_full(fd, memoryview(buf), start)
            if got < length:  # a shorter source reads as zeros past its end
                buf[got:] = bytes(length - got)
            if is_zero(memoryview(buf)):
                chunk = Chunk(None)
            else:
                sha = hashlib.sha256(buf).hexdigest()
                before = parent.chunks[index] if parent and index < len(parent.chunks) else None
                if before is not None and before.sha256 == sha:
                    chunk = Chunk(sha, before.stored, before.depth + 1)
                else:
                    data = bytes(buf) if compression == "none" else zlib.compress(
                        buf, ZLIB_LEVEL
                    )
                    durable.hand(_write_chunk_file(directory / chunk_name(index), data))
                    chunk = Chunk(sha, len(data), 0)
        if progress is not None:
            with lock:
                progress(length)
        return chunk

    durable = _Durability()
    try:
        extents = list(data_extents(fd, size))
        try:
            chunks = _unordered(one, count, workers)
        except BaseException:
            with contextlib.suppress(BaseException):
                durable.finish()
            raise
        # Every chunk file is on disk before the manifest that names it.
        durable.finish()
        manifest = Manifest(size, chunk_size, compression, chunks)
        part = directory / (MANIFEST + ".part")
        _write_chunk(part, manifest.to_json())
        os.replace(part, directory / MANIFEST)
        fsync_dir(directory)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise _no_space(exc) from exc
        raise
    finally:
        os.close(fd)
    return manifest


def _ordered(
    pool: concurrent.futures.ThreadPoolExecutor, fn: Callable[[int], Chunk], count: int,
    workers: int,
) -> Iterator[Chunk]:
    """fn(0..count-1) on the pool, at most a few per worker in flight, in order;
    on a failure the rest are cancelled and the error raised."""
    window = max(2, workers * 2)
    pending: list[concurrent.futures.Future[Chunk]] = []
    submitted = 0
    try:
        while submitted < count or pending:
            while submitted < count and len(pending) < window:
                pending.append(pool.submit(fn, submitted))
                submitted += 1
            yield pending.pop(0).result()
    finally:
        for fut in pending:
            fut.cancel()
        concurrent.futures.wait(pending)


def _unordered(fn: Callable[[int], Chunk], count: int, workers: int) -> tuple[Chunk, ...]:
    """fn(0..count-1) on `workers` threads, each taking the next index as soon as it
    is free (no thread waits behind a slow chunk); the results in index order. On
    a failure the other threads stop taking indexes and the error is raised."""
    results: list[Chunk | None] = [None] * count
    lock = threading.Lock()
    taken = 0
    failed = threading.Event()

    def run() -> None:
        nonlocal taken
        while not failed.is_set():
            with lock:
                index = taken
                taken += 1
            if index >= count:
                return
            try:
                results[index] = fn(index)
            except BaseException:
                failed.set()
                raise

    threads = max(1, min(workers, count))
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=threads, initializer=lower_thread_priority,
    ) as pool:
        futures = [pool.submit(run) for _ in range(threads)]
        concurrent.futures.wait(futures)
    for fut in futures:
        exc = fut.exception()
        if exc is not None:
            raise exc
    return tuple(c if c is not None else Chunk(None) for c in results)


class _Durability:
    """A thread of its own that fdatasyncs and closes the chunk files handed to
    it, so the threads reading and compressing never wait for the disk. `finish`
    waits for every file handed so far and raises the first failure."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._fds: list[int] = []
        self._done = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backup-fdatasync",
                                        daemon=True)
        self._thread.start()

    def hand(self, fd: int) -> None:
        with self._cond:
            if self._error is not None:
                os.close(fd)
                raise self._error
            self._fds.append(fd)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._fds and not self._done:
                    self._cond.wait()
                if not self._fds:
                    return
                fds, self._fds = self._fds, []
            for fd in fds:
                try:
                    if self._error is None:
                        os.fdatasync(fd)
                except OSError as exc:
                    with self._cond:
                        self._error = (_no_space(exc) if exc.errno in NO_SPACE else exc)
                finally:
                    os.close(fd)

    def finish(self) -> None:
        with self._cond:
            self._done = True
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error


def _write_chunk_file(path: Path, data: bytes) -> int:
    """Write a new chunk file; its still open fd, for the durability thread."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        pwrite_all(fd, data, 0)
    except StorageFull as exc:
        os.close(fd)
        raise StorageFull("Backup storage is full: No space left on device") from exc
    except OSError as exc:
        os.close(fd)
        if exc.errno in NO_SPACE:
            raise _no_space(exc) from exc
        raise
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_chunk(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        pwrite_all(fd, data, 0)
        os.fdatasync(fd)
    except StorageFull as exc:
        raise StorageFull("Backup storage is full: No space left on device") from exc
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise _no_space(exc) from exc
        raise
    finally:
        os.close(fd)


# --- restoring ------------------------------------------------------------------------


def read_chunk(directory: Path, index: int, chunk: Chunk, length: int, compression: str) -> bytes:
    """The verified bytes of chunk `index` stored in `directory`: BackupCorrupt
    unless its stored size, its decompressed length and its sha256 all match."""
    assert chunk.sha256 is not None
    try:
        with open(directory / chunk_name(index), "rb") as fh:
            stored = fh.read(chunk.stored + 1)
    except FileNotFoundError:
        raise BackupCorrupt(f"Chunk {index} of the backup is missing.") from None
    if len(stored) != chunk.stored:
        raise BackupCorrupt(f"Chunk {index} of the backup has the wrong size.")
    if compression == "zlib":
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(stored, length)
        except zlib.error:
            raise BackupCorrupt(f"Chunk {index} of the backup cannot be decompressed.") from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise BackupCorrupt(f"Chunk {index} of the backup is longer than a chunk.")
    else:
        data = stored
    if len(data) != length or hashlib.sha256(data).hexdigest() != chunk.sha256:
        raise BackupCorrupt(f"Chunk {index} of the backup does not match its checksum.")
    return data


def restore_backup(
    manifest: Manifest, chain: Sequence[Path], dst: Path, *, fresh: bool, workers: int,
    progress: Progress | None = None, stop: threading.Event | None = None,
    guard: Guard | None = None,
) -> int:
    """Write the backup into the volume file `dst` from offset 0; returns the data
    bytes written. `chain[0]` is the backup's own directory, `chain[k]` its k-th
    ancestor's (from the database, never from the manifest). Holes are not
    written: a `fresh` (all-zero) volume keeps them as holes, any other has the
    backup's range zeroed first. Every chunk is verified before it is written;
    on BackupCorrupt the volume holds a partial restore. `guard` (a job's lease)
    is called before each write into `dst`.
    """
    fd = os.open(dst, os.O_WRONLY)
    written = 0
    lock = threading.Lock()

    def one(index: int) -> Chunk:
        nonlocal written
        if stop is not None and stop.is_set():
            raise CopyStopped()
        chunk = manifest.chunks[index]
        length = manifest.chunk_length(index)
        if chunk.sha256 is not None:
            if chunk.depth >= len(chain):
                raise BackupCorrupt(f"Chunk {index} names a parent the backup does not have.")
            data = read_chunk(chain[chunk.depth], index, chunk, length, manifest.compression)
            if guard is not None:
                guard()
            try:
                pwrite_sparse(fd, data, index * manifest.chunk_size)
            except StorageFull as exc:
                raise StorageFull("Cannot write the volume: No space left on device") from exc
        with lock:
            if chunk.sha256 is not None:
                written += length
            if progress is not None:
                progress(length)
        return chunk

    try:
        if not fresh:
            if guard is not None:
                guard()
            zero_range(fd, 0, manifest.size)
        with concurrent.futures.ThreadPoolExecutor(
            max_workers=max(1, workers), initializer=lower_thread_priority,
        ) as pool:
            for _ in _ordered(pool, one, len(manifest.chunks), workers):
                pass
        os.fsync(fd)
    except OSError as exc:
        if exc.errno in NO_SPACE:
            raise StorageFull(f"Cannot write the volume: {exc.strerror}") from exc
        raise
    finally:
        os.close(fd)
    return written


_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_fallocate = getattr(_LIBC, "fallocate64", None) or getattr(_LIBC, "fallocate", None)
if _fallocate is not None:
    _fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
    _fallocate.restype = ctypes.c_int
_PUNCH_HOLE = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE


def zero_range(fd: int, offset: int, length: int) -> None:
    """Make [offset, offset+length) of `fd` read as zeros: a punched hole where
    the file system can, else written zeros."""
    if _fallocate is not None and _fallocate(fd, _PUNCH_HOLE, offset, length) == 0:
        return
    err = ctypes.get_errno()
    if _fallocate is not None and err not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        raise OSError(err, os.strerror(err))
    end = offset + length
    while offset < end:
        n = min(ZERO_BLOCK_SIZE, end - offset)
        pwrite_all(fd, memoryview(ZERO_BLOCK)[:n], offset)
        offset += n
