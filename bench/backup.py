"""`make bench` rows for backups: a backup and a restore of the 1 GiB sparse volume
(25 % data), and an incremental backup after 1 % of it changed, each timed
against floors measured in the same run on the same bytes:

- backup: `cp --sparse=always` of the volume (reading every data byte and
  writing it again), and reading its data while hashing it with sha256 and
  compressing it with zlib in parallel (what a backup must do at least);
- restore: `cp --sparse=always` of the volume into a fresh file;
- incremental: the full backup's time (it should take a small part of it).

The store is the one the service uses (storage/backups/files.py), with the
service's defaults (1 MiB chunks, zlib, 4 threads). Page cache warm for all.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import time
import uuid
import zlib
from pathlib import Path

from bench import WORK_DIR, MiB
from bench.volumes import SPARSE25, data_extents, generate, warm
from cinderlite.storage.backups.files import FileBackupStore

CHUNK = 1 * MiB


def _best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _hash_compress_floor(path: Path, workers: int, chunk: int = CHUNK) -> None:
    """Read the data extents in chunks; sha256 and zlib-compress each, in parallel."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pieces = [(s + o, min(chunk, n - o)) for s, n in data_extents(fd, size)
                  for o in range(0, n, chunk)]

        def one(piece: tuple[int, int]) -> None:
            data = os.pread(fd, piece[1], piece[0])
            hashlib.sha256(data).digest()
            zlib.compress(data, 1)

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, pieces))
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--chunk-mib", type=int, default=CHUNK // MiB,
                        help="chunk size of the store and of the floor's pieces")
    args = parser.parse_args()
    work = WORK_DIR / "backup"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    src = generate(SPARSE25, WORK_DIR / "sources")
    warm(src)
    chunk = args.chunk_mib * MiB
    store = FileBackupStore(work / "store", chunk_size=chunk, compression="zlib",
                            workers=args.workers)
    size = src.stat().st_size
    ids: list[str] = []

    def backup(parents: list[str]) -> None:
        backup_id = str(uuid.uuid4())
        asyncio.run(store.write(backup_id, src, size, parents=parents,
                                parent_size_bytes=size if parents else None))
        ids.append(backup_id)

    def cp() -> None:
        dst = work / "cp.raw"
        dst.unlink(missing_ok=True)
        subprocess.run(["cp", "--sparse=always", str(src), str(dst)], check=True)

    def restore() -> None:
        dst = work / "restored.raw"
        dst.unlink(missing_ok=True)
        with open(dst, "wb") as fh:
            fh.truncate(size)
        asyncio.run(store.restore(ids[0], size, parents=[], target=dst, fresh=True))

    t_cp = _best(cp, args.repeat)
    t_floor = _best(lambda: _hash_compress_floor(src, args.workers, chunk), args.repeat)
    t_full = _best(lambda: backup([]), args.repeat)
    t_restore = _best(restore, args.repeat)
    # 1 % of the volume changed, spread over it: then an incremental on the first backup.
    changed = size // 100
    with open(src, "r+b") as fh:
        for k in range(changed // MiB):
            fh.seek((k * 97 % (size // MiB)) * MiB)
            fh.write(os.urandom(MiB))
    try:
        t_incr = _best(lambda: backup([ids[0]]), args.repeat)
    finally:
        (WORK_DIR / "sources" / f"{SPARSE25.name}.json").unlink(missing_ok=True)
    rows = [
        ("backup sparse25 (1 GiB, 25 % data)", t_full, max(t_cp, t_floor),
         f"max(cp --sparse=always {t_cp:.2f}s, sha256+zlib {t_floor:.2f}s)"),
        ("restore sparse25", t_restore, t_cp, "cp --sparse=always"),
        ("incremental backup after 1 % changed", t_incr, t_full, "the full backup"),
    ]
    print(f"{'case':42} {'ours':>8} {'floor':>8} {'ratio':>6}  floor")
    for name, ours, floor, what in rows:
        print(f"{name:42} {ours:7.2f}s {floor:7.2f}s {ours / floor:6.2f}  {what}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
