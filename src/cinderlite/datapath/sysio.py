"""OS helpers for the data path: background priority, early writeback, reused buffers.

Shared by the hashers (`hashing.py`) and the copy (`streams.py`). The buffers
are kept across uploads on purpose: touching fresh memory costs page faults
(and, on VMs that hand freed memory back to the host, a host fault per page),
about 1 ms per MiB, so a pool of page-aligned blocks is allocated once per
process and reused.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
import platform
import queue
import threading

# Niceness of qemu-img and of the copy/hash threads (the event loop stays at 0).
# The lowest priority: on a machine with nothing else to do the uploads run at
# full speed; when API requests want the CPU, they get nearly all of it (the
# scheduler still gives a nice-19 thread about 1.5 % of a core against each
# busy nice-0 one, so uploads slow down but never stop). 19 rather than 10 took
# the upload action's 202 from p50 7.0 to 2.3 ms (sequential) and p99 27 to
# 21 ms (4 client threads) while 4 compressed uploads ran (docs/benchmarks.md).
BACKGROUND_NICE = 19

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range = getattr(_LIBC, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    _sync_file_range.restype = ctypes.c_int

# ioprio_set(2) has no libc wrapper; its number per architecture.
_IOPRIO_SET = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}.get(platform.machine())
_IOPRIO_WHO_PROCESS = 1
_IOPRIO_CLASS_BE = 2
_IOPRIO_CLASS_SHIFT = 13


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to start writing [offset, offset+length) of `fd` to disk, without waiting.

    Lets the disk work while the copy goes on, so the final fsync is short.
    Advisory: False (and nothing else) where sync_file_range is missing or
    refuses; the fsync that follows still guarantees durability and reports
    write errors.
    """
    if _sync_file_range is None or length <= 0:
        return False
    return bool(_sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0)


def lower_io_priority(tid: int = 0, level: int = 7) -> bool:
    """Best-effort I/O priority (best-effort class, `level` 0-7) of a thread/process (0: caller)."""
    if _IOPRIO_SET is None:
        return False
    value = (_IOPRIO_CLASS_BE << _IOPRIO_CLASS_SHIFT) | level
    return bool(_LIBC.syscall(_IOPRIO_SET, _IOPRIO_WHO_PROCESS, tid, value) == 0)


def lower_thread_priority(nice: int = BACKGROUND_NICE) -> None:
    """Make the calling thread (not the process) yield the CPU to the event loop.

    Linux keeps a niceness per thread; threads this one starts inherit it. Only
    ever call this in threads made for background work (never in an executor
    thread that the event loop reuses). Best-effort: errors are ignored.
    """
    with contextlib.suppress(OSError, AttributeError):
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < nice:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
    with contextlib.suppress(OSError, AttributeError):
        lower_io_priority(threading.get_native_id())


class BufferPool:
    """Page-aligned blocks of one size (anonymous mmaps), kept for reuse across copies.

    `get`/`put` hand blocks out and back; at most `keep` idle blocks stay
    allocated (the rest are unmapped), so the pool's memory is bounded by what
    one or two copies at a time use.
    """

    def __init__(self, size: int, keep: int) -> None:
        self.size = size
        self._keep = keep
        self._idle: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def get(self) -> mmap.mmap:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return mmap.mmap(-1, self.size)

    def put(self, buf: mmap.mmap) -> None:
        with self._lock:
            if len(self._idle) < self._keep and len(buf) == self.size:
                self._idle.append(buf)
                return
        with contextlib.suppress(BufferError):  # still exported by a view: GC frees it
            buf.close()

    @property
    def idle(self) -> int:
        return len(self._idle)


class Buffers:
    """A fixed set of chunk buffers for one copy, each handed back once all its users are done.

    `take(users)` blocks until a buffer is free (this is what bounds the copy's
    memory and its read-ahead); every user calls `release(buf)` once. Blocks of
    the pool's size come from (and go back to) `pool`; other sizes are
    allocated for this copy only.
    """

    def __init__(self, count: int, size: int, pool: BufferPool | None = None) -> None:
        self._pool = pool if pool is not None and pool.size == size else None
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._all: list[mmap.mmap] = []
        self._users: dict[int, int] = {}
        self._lock = threading.Lock()
        for _ in range(count):
            buf = self._pool.get() if self._pool is not None else mmap.mmap(-1, max(size, 1))
            self._all.append(buf)
            self._free.put(buf)

    def take(self, users: int) -> mmap.mmap:
        buf = self._free.get()
        with self._lock:
            self._users[id(buf)] = users
        return buf

    def release(self, buf: mmap.mmap) -> None:
        with self._lock:
            left = self._users[id(buf)] - 1
            self._users[id(buf)] = left
        if left == 0:
            self._free.put(buf)

    def close(self) -> None:
        """Give the buffers back. Only once every user is done with them (or never will be)."""
        bufs, self._all = self._all, []
        for buf in bufs:
            if self._pool is not None:
                self._pool.put(buf)
            else:
                with contextlib.suppress(BufferError):
                    buf.close()
