"""The image cache of one API node (Glance's image cache, laid out as its sqlite driver's).

    <root>/<image id>          complete entries: data checked against the image's
                               size and checksums before it was renamed here
    <root>/incomplete/<id>     fills being written; the writer holds an flock on
                               the file for as long as it writes
    <root>/invalid/<id>        fills that did not end well (client gone, checksum
                               wrong): removed by the next `clean`
    <root>/queue/<id>          images queued for the prefetcher (empty files,
                               the oldest first)
    <root>/cache.db            SQLite: each entry's hits, last access, last
                               change, size and the image checksums it was
                               checked against; the removals fills must respect

Several API processes on one node share the directory: a fill is one writer's
(the flock), SQLite serializes the metadata, and every change of what is cached
(placing an entry, removing entries) happens inside one SQLite write
transaction. The directory must be on a local file system (SQLite's locks and
flock), one per node, as Glance's cache.

Crash safety: a fill writes into incomplete/<id> and is fsynced before it is
renamed into place, in the same transaction that records it; a crash before that
leaves an incomplete file (no longer locked) that `clean` removes once older than
the stall time; a crash between the rename and the commit leaves a complete file
without a row, which is never served and which `clean` removes. A full disk
fails the fill's write or its fsync: the incomplete file is removed, nothing is
placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cinderlite.datapath.hashing import HASH_ALGO, ImageHasher
from cinderlite.datapath.streams import NO_SPACE, pwrite_sparse
from cinderlite.domain.errors import StorageFull
from cinderlite.storage.private import FILE_MODE, private_dir, tighten_files

log = logging.getLogger(__name__)

# Image ids are UUIDs (the image schema's pattern): only such names are entries, so
# nothing else that lives in the directory is ever listed, served or removed.
_IMAGE_ID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# A removal recorded for every image (clear).
_EVERYTHING = "*"
DB_NAME = "cache.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cached_images (
    image_id TEXT PRIMARY KEY,
    last_accessed REAL DEFAULT 0.0,
    last_modified REAL DEFAULT 0.0,
    size INTEGER DEFAULT 0,
    hits INTEGER DEFAULT 0,
    checksum TEXT
);
CREATE TABLE IF NOT EXISTS removals (
    image_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL,
    at REAL NOT NULL
);
"""


def is_image_id(name: str) -> bool:
    return _IMAGE_ID.fullmatch(name) is not None


@dataclass(frozen=True)
class CacheKey:
    """What an entry must match to be served for an image: its size and checksums."""

    size: int
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None

    @property
    def text(self) -> str:
        """Kept in the entry's row: an entry is served only for an image with the same."""
        return f"{self.size}:{self.checksum}:{self.os_hash_algo}:{self.os_hash_value}"


@dataclass(frozen=True)
class CacheEntry:
    """One complete entry, as GET /v2/cache lists it (times: seconds since the epoch)."""

    image_id: str
    hits: int
    last_accessed: float
    last_modified: float
    size: int


@dataclass(frozen=True)
class Pruned:
    files: int
    bytes: int


class ImageCache:
    """The cache directory of this node (see the module docstring). Every method
    does its file and SQLite work in a thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.incomplete_dir = self.root / "incomplete"
        self.invalid_dir = self.root / "invalid"
        self.queue_dir = self.root / "queue"
        for directory in (self.root, self.incomplete_dir, self.invalid_dir, self.queue_dir):
            private_dir(directory)
        self.db_path = self.root / DB_NAME
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(
            self.db_path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        # SQLite gives its -wal and -shm files the database's mode.
        tighten_files(self.db_path, "-wal", "-shm")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- paths and SQLite ---------------------------------------------------------

    def entry_path(self, image_id: str) -> Path:
        return self.root / image_id

    def _incomplete(self, image_id: str) -> Path:
        return self.incomplete_dir / image_id

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the node's writers take turns)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @staticmethod
    def _record_removal(conn: sqlite3.Connection, image_id: str) -> None:
        """A fill that began before this commits nothing for `image_id` (or anything,
        for _EVERYTHING)."""
        conn.execute(
            "INSERT OR REPLACE INTO removals (image_id, epoch, at) VALUES "
            "(?, (SELECT COALESCE(MAX(epoch), 0) + 1 FROM removals), ?)",
            (image_id, time.time()),
        )

    def _ids_in(self, directory: Path) -> list[str]:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        return [n for n in names if is_image_id(n) and (directory / n).is_file()]

    # --- listing --------------------------------------------------------------------

    def _entries(self) -> list[CacheEntry]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT image_id, hits, last_accessed, last_modified, size "
                "FROM cached_images ORDER BY image_id"
            ).fetchall()
        # A row whose file is gone (removed, or a crash before the rename's commit
        # made it durable) is no entry.
        return [CacheEntry(*row) for row in rows if self.entry_path(row[0]).is_file()]

    async def entries(self) -> list[CacheEntry]:
        """The complete entries, by image id (Glance's order)."""
        return await asyncio.to_thread(self._entries)

    def _queued(self) -> list[str]:
        items = []
        for image_id in self._ids_in(self.queue_dir):
            try:
                items.append((os.stat(self.queue_dir / image_id).st_mtime, image_id))
            except FileNotFoundError:
                continue
        return [image_id for _, image_id in sorted(items)]

    async def queued(self) -> list[str]:
        """The queued image ids, the oldest first (the prefetcher's order)."""
        return await asyncio.to_thread(self._queued)

    def _is_cached(self, image_id: str) -> bool:
        return self.entry_path(image_id).is_file()

    async def is_cached(self, image_id: str) -> bool:
        return await asyncio.to_thread(self._is_cached, image_id)

    def _is_being_filled(self, image_id: str) -> bool:
        try:
            fd = os.open(self._incomplete(image_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    # --- the queue ------------------------------------------------------------------

    def _queue(self, image_id: str) -> bool:
        if self._is_cached(image_id) or self._is_being_filled(image_id):
            return False
        path = self.queue_dir / image_id
        if path.exists():
            return False
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        os.close(fd)
        return True

    async def queue(self, image_id: str) -> bool:
        """Queue `image_id` for the prefetcher: False (nothing done) when it is
        cached, being filled or queued already (Glance's queue_image)."""
        return await asyncio.to_thread(self._queue, image_id)

    async def dequeue(self, image_id: str) -> None:
        await asyncio.to_thread((self.queue_dir / image_id).unlink, missing_ok=True)

    def _clear_queue(self) -> int:
        removed = 0
        for image_id in self._ids_in(self.queue_dir):
            with contextlib.suppress(FileNotFoundError):
                (self.queue_dir / image_id).unlink()
                removed += 1
        return removed

    async def clear_queue(self) -> int:
        """Empty the queue; how many ids were in it."""
        return await asyncio.to_thread(self._clear_queue)

    # --- removing entries -----------------------------------------------------------

    def _delete(self, image_id: str) -> None:
        with self._write() as conn:
            self._record_removal(conn, image_id)
            conn.execute("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
            self.entry_path(image_id).unlink(missing_ok=True)

    async def delete(self, image_id: str) -> None:
        """Remove the entry of `image_id`; a fill of it under way places nothing.
        A download reading the entry goes on (the open file outlives its name)."""
        await asyncio.to_thread(self._delete, image_id)

    async def forget(self, image_id: str) -> None:
        """The image is gone: its entry and its place in the queue too."""
        await self.delete(image_id)
        await self.dequeue(image_id)

    def _clear(self) -> int:
        with self._write() as conn:
            self._record_removal(conn, _EVERYTHING)
            conn.execute("DELETE FROM cached_images")
            removed = 0
            for image_id in self._ids_in(self.root):
                with contextlib.suppress(FileNotFoundError):
                    self.entry_path(image_id).unlink()
                    removed += 1
        return removed

    async def clear(self) -> int:
        """Remove every entry (fills under way place nothing); how many files went."""
        return await asyncio.to_thread(self._clear)

    # --- reading --------------------------------------------------------------------

    def _open_entry(self, image_id: str, key: CacheKey) -> int | None:
        try:
            fd = os.open(
                self.entry_path(image_id), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
            )
        except OSError:
            return None
        try:
            st = os.fstat(fd)
            with self._read() as conn:
                row = conn.execute(
                    "SELECT checksum FROM cached_images WHERE image_id = ?", (image_id,)
                ).fetchone()
            if stat.S_ISREG(st.st_mode) and st.st_size == key.size and row == (key.text,):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        self._drop_stale(image_id, st.st_ino, key)
        return None

    def _drop_stale(self, image_id: str, inode: int, key: CacheKey) -> None:
        """An entry that is not the image's data now (another image of that id, a
        file without its row): removed, unless, looked at again inside a write
        transaction, it turns out to be a fill that was just placed."""
        with self._write() as conn:
            row = conn.execute(
                "SELECT checksum FROM cached_images WHERE image_id = ?", (image_id,)
            ).fetchone()
            try:
                st = os.stat(self.entry_path(image_id), follow_symlinks=False)
            except FileNotFoundError:
                return
            if st.st_ino != inode:
                return  # replaced meanwhile: whoever placed it checked it
            if row == (key.text,) and st.st_size == key.size:
                return
            conn.execute("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
            self.entry_path(image_id).unlink(missing_ok=True)
            log.info("image cache: removed entry %s, which does not match the image", image_id)

    async def open_entry(self, image_id: str, key: CacheKey) -> int | None:
        """A read descriptor of the entry of `image_id` when it holds the data `key`
        describes (else None, and a stale entry is removed). The caller closes it."""
        return await asyncio.to_thread(self._open_entry, image_id, key)

    def _record_hit(self, image_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE cached_images SET hits = hits + 1, last_accessed = ? "
                "WHERE image_id = ?", (time.time(), image_id),
            )

    async def record_hit(self, image_id: str) -> None:
        """A download was served whole from the entry (Glance counts it then)."""
        await asyncio.to_thread(self._record_hit, image_id)

    # --- filling --------------------------------------------------------------------

    def _begin_fill(self, image_id: str, size: int) -> CacheFill | None:
        if not is_image_id(image_id) or self._is_cached(image_id):
            return None
        st = os.statvfs(self.root)
        if st.f_bavail * st.f_frsize < size:
            log.info("image cache: no room for image %s (%d bytes): not cached", image_id, size)
            return None
        path = self._incomplete(image_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None  # another process (or download) is filling it
        try:
            # The classic lock-file check: the file locked must still be the one
            # at the path (its previous writer may have just renamed it into place).
            if os.fstat(fd).st_ino != os.stat(path, follow_symlinks=False).st_ino:
                os.close(fd)
                return None
        except FileNotFoundError:
            os.close(fd)
            return None
        if self._is_cached(image_id):
            # Placed by the writer before us; this file is ours (just made) to remove.
            path.unlink(missing_ok=True)
            os.close(fd)
            return None
        # What a crashed writer left is started over.
        os.ftruncate(fd, 0)
        with self._read() as conn:
            (epoch,) = conn.execute("SELECT COALESCE(MAX(epoch), 0) FROM removals").fetchone()
        return CacheFill(self, image_id, fd, path, int(epoch))

    async def begin_fill(self, image_id: str, size: int) -> CacheFill | None:
        """A fill of `image_id`'s entry (`size` bytes), or None when it is cached,
        another writer is filling it, or the file system has no room for `size`."""
        return await asyncio.to_thread(self._begin_fill, image_id, size)

    def _place(self, fill: CacheFill, key: CacheKey) -> bool:
        """Inside one write transaction: nothing removed the image since the fill
        began, then the row, the rename into place and the queue entry's removal."""
        with self._write() as conn:
            removed = conn.execute(
                "SELECT 1 FROM removals WHERE image_id IN (?, ?) AND epoch > ?",
                (fill.image_id, _EVERYTHING, fill.epoch),
            ).fetchone()
            if removed is not None:
                return False
            now = time.time()
            conn.execute(
                "INSERT OR REPLACE INTO cached_images "
                "(image_id, last_accessed, last_modified, size, hits, checksum) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (fill.image_id, now, now, key.size, key.text),
            )
            os.rename(fill.path, self.entry_path(fill.image_id))
            (self.queue_dir / fill.image_id).unlink(missing_ok=True)
        return True

    # --- maintenance ------------------------------------------------------------------

    def _clean(self, stall_time: int) -> list[str]:
        removed: list[str] = []
        for path in self.invalid_dir.iterdir():
            if path.is_file():
                path.unlink(missing_ok=True)
                removed.append(f"invalid/{path.name}")
        older_than = time.time() - stall_time
        for path in self.incomplete_dir.iterdir():
            if self._remove_if_stalled(path, older_than):
                removed.append(f"incomplete/{path.name}")
        with self._write() as conn:
            rows = {r[0] for r in conn.execute("SELECT image_id FROM cached_images")}
            for image_id in self._ids_in(self.root):
                if image_id not in rows:  # placed by a crash that lost its commit
                    self.entry_path(image_id).unlink(missing_ok=True)
                    removed.append(image_id)
            for image_id in rows:
                if not self.entry_path(image_id).is_file():
                    conn.execute("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
            # Removals matter only to fills that began before them; the newest one
            # stays, so the epochs keep growing.
            conn.execute(
                "DELETE FROM removals WHERE at < ? AND epoch < (SELECT MAX(epoch) FROM removals)",
                (older_than,),
            )
        return removed

    @staticmethod
    def _remove_if_stalled(path: Path, older_than: float) -> bool:
        """Remove an incomplete file last written before `older_than`, unless a live
        writer holds it (only the writer renames or removes its file)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_mtime >= older_than:
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            if os.stat(path, follow_symlinks=False).st_ino != st.st_ino:
                return False
            path.unlink()
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(fd)

    async def clean(self, stall_time: int) -> list[str]:
        """Glance's cleaner: remove the invalid files, and incomplete files last
        written more than `stall_time` seconds ago that no writer holds; also
        complete files without a row and rows without a file. The names removed."""
        return await asyncio.to_thread(self._clean, stall_time)

    def _prune(self, max_size: int) -> Pruned:
        with self._write() as conn:
            rows = conn.execute(
                "SELECT image_id, size FROM cached_images ORDER BY last_accessed, image_id"
            ).fetchall()
            sizes: list[tuple[str, int]] = []
            for image_id, _ in rows:
                try:
                    sizes.append((image_id, os.stat(self.entry_path(image_id)).st_size))
                except FileNotFoundError:
                    continue
            current = sum(size for _, size in sizes)
            files = pruned = 0
            for image_id, size in sizes:
                if current <= max_size:
                    break
                conn.execute("DELETE FROM cached_images WHERE image_id = ?", (image_id,))
                self.entry_path(image_id).unlink(missing_ok=True)
                current -= size
                files += 1
                pruned += size
        return Pruned(files, pruned)

    async def prune(self, max_size: int) -> Pruned:
        """Glance's pruner: remove the least recently accessed entries until the
        entries total at most `max_size` bytes."""
        return await asyncio.to_thread(self._prune, max_size)


class CacheFill:
    """One writer of one entry: the flocked incomplete file, the bytes hashed as
    they are written. End it with `place` or `abort`, exactly once."""

    def __init__(self, cache: ImageCache, image_id: str, fd: int, path: Path, epoch: int) -> None:
        self._cache = cache
        self.image_id = image_id
        self.path = path
        self.epoch = epoch
        self._fd = fd
        self._offset = 0
        self._hasher = ImageHasher()

    async def write(self, chunk: bytes) -> None:
        """Append `chunk` (zero blocks as holes). StorageFull on a full disk."""
        offset, self._offset = self._offset, self._offset + len(chunk)
        await asyncio.gather(
            self._hasher.aupdate(chunk),
            asyncio.to_thread(pwrite_sparse, self._fd, chunk, offset),
        )

    def _matches(self, key: CacheKey) -> bool:
        digest = self._hasher.result()
        if digest.size != key.size or (key.checksum and digest.checksum != key.checksum):
            return False
        return not (key.os_hash_algo == HASH_ALGO and digest.os_hash_value != key.os_hash_value)

    def _place(self, key: CacheKey) -> bool:
        try:
            if not self._matches(key):
                log.warning("image cache: data of image %s does not match its checksums: "
                            "not cached", self.image_id)
                self._abort(invalid=True)
                return False
            os.ftruncate(self._fd, self._offset)
            # Where a delayed-allocation file system reports a full disk.
            os.fsync(self._fd)
            if not self._cache._place(self, key):
                log.info("image cache: image %s was removed from the cache while it was "
                         "filled: not cached", self.image_id)
                self._abort(invalid=False)
                return False
        except OSError as exc:
            self._abort(invalid=False)
            if exc.errno in NO_SPACE:
                raise StorageFull(f"Image cache is full: {exc.strerror}") from exc
            raise
        os.close(self._fd)
        self._fd = -1
        return True

    async def place(self, key: CacheKey) -> bool:
        """Check the data against `key`, fsync it and rename it into place; False
        (and nothing placed) when it does not match or the image was removed from
        the cache meanwhile. StorageFull when the fsync finds the disk full."""
        return await asyncio.to_thread(self._place, key)

    def _abort(self, *, invalid: bool) -> None:
        if self._fd < 0:
            return
        try:
            if invalid:
                # Glance's rollback: the failed fill goes to invalid/ for `clean`.
                os.rename(self.path, self._cache.invalid_dir / self.image_id)
            else:
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                log.warning("image cache: could not remove the fill of %s: %s",
                            self.image_id, exc)
        finally:
            os.close(self._fd)
            self._fd = -1

    def abort(self, *, invalid: bool) -> None:
        """Give the fill up (blocking, but only a rename or an unlink and a close):
        `invalid`, the file goes to invalid/ (Glance's rollback); else it is removed
        at once (a full disk: its space comes back)."""
        self._abort(invalid=invalid)


__all__ = ["CacheEntry", "CacheFill", "CacheKey", "ImageCache", "Pruned", "is_image_id"]
