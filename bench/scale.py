"""`make bench-scale`: the same work with 1 and with 2 processes of a role, on
PostgreSQL, in one run (docs/benchmarks.md, docs/deploy.md).

1. API processes: `serve --role api --processes N` (N = 1, then 2) beside one
   `serve --role worker`; wrk GET one volume (64 connections, 2 threads):
   requests/s and p99, and the ratio of N = 2 to N = 1.
2. Worker processes: `serve --role api --processes 2` beside M `serve --role
   worker` (M = 1, then 2); K volumes of 1 GiB of random data are uploaded
   (raw, no conversion: hashing and copying) all at once: the time from the
   first upload action to the last image `active`, the throughput (bytes of
   volumes uploaded per second) and the ratio of M = 2 to M = 1.

Each case gets a fresh PostgreSQL database (created on the server named by
`--database-url`, dropped at the end) and a fresh data directory; all traffic
goes to 127.0.0.1. wrk and the processes share the machine's cores, so on a
small machine more processes compete with wrk and with each other: the figures
say what they gain here, not on a machine per role.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench import WORK_DIR
from bench.api import WrkResult, lua_script, run_wrk
from bench.client import Client
from bench.report import machine, machine_lines, markdown_table, text_table
from bench.server import Server, machine_busy_seconds, wait_for_quiet
from bench.volumes import RANDOM, copy_sparse, generate, warm

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _admin(url: str, sql: str) -> None:
    import asyncpg  # the service's own driver, in .venv

    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new database on the server of `admin_url`, dropped when the block ends."""
    name = f"cinderlite_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    base, _, _ = admin_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Site:
    """One API server (N processes) and M worker processes on one database and data dir."""

    api: Server
    workers: list[Server]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        self.api.stop()


@contextmanager
def site(name: str, database_url: str, *, api_processes: int, workers: int,
         upload_workers: int) -> Iterator[Site]:
    data = WORK_DIR / "scale" / name
    env = {"CINDERLITE_DATABASE_URL": database_url,
           "CINDERLITE_UPLOAD_WORKERS": str(upload_workers)}
    api = Server("api", data, env=env, args=("--role", "api", "--processes",
                                             str(api_processes)))
    s = Site(api, [])
    try:
        api.start(timeout=120)
        for i in range(workers):
            w = Server(f"worker-{i}", data, env=env, fresh=False, args=("--role", "worker"),
                       ports=api.ports)
            s.workers.append(w)
            w.start(timeout=120)
        yield s
    finally:
        s.stop()


@dataclass
class GetRow:
    processes: int
    result: WrkResult
    machine_busy: float | None = None


@dataclass
class UploadRow:
    workers: int
    uploads: int
    seconds: float
    bytes_total: int
    machine_busy: float | None = None
    error: str = ""

    @property
    def mib_per_s(self) -> float:
        return self.bytes_total / (1 << 20) / self.seconds if self.seconds else 0.0


def measure_get(args: argparse.Namespace, processes: int) -> GetRow:
    with fresh_database(args.database_url) as url, site(
        f"get-{processes}", url, api_processes=processes, workers=1,
        upload_workers=args.upload_workers,
    ) as s:
        client = Client(s.api.ports, s.api.openrc("demo"))
        client.login()
        vol = client.create_volume(1, "bench-scale")
        client.wait_volume(vol["id"])
        script = lua_script(WORK_DIR / "scale" / "auth.lua", client.token)
        url_ = f"http://127.0.0.1:{s.api.ports.volume}/v3/{client.project_id}/volumes/{vol['id']}"
        wait_for_quiet(args.quiet_wait)
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        res = run_wrk(f"GET volume, {processes} API process(es)", url_, script,
                      connections=args.connections, threads=args.threads,
                      duration=args.duration, warmup=args.warmup)
        busy = (machine_busy_seconds() - busy0) / ((time.monotonic() - t0) * (os.cpu_count() or 1))
        return GetRow(processes, res, busy)


def measure_uploads(args: argparse.Namespace, workers: int, source: Path) -> UploadRow:
    with fresh_database(args.database_url) as url, site(
        f"upload-{workers}", url, api_processes=2, workers=workers,
        upload_workers=args.upload_workers,
    ) as s:
        client = Client(s.api.ports, s.api.openrc("demo"))
        client.login()
        ids = [client.create_volume(1, f"bench-scale-{i}")["id"] for i in range(args.uploads)]
        for vid in ids:
            client.wait_volume(vid)
            copy_sparse(source, s.api.volume_file(vid))
            warm(s.api.volume_file(vid))
        wait_for_quiet(args.quiet_wait)
        busy0, t0 = machine_busy_seconds(), time.monotonic()
        images = [client.upload(vid, image_name=f"scale-{i}", disk_format="raw")["image_id"]
                  for i, vid in enumerate(ids)]
        error = ""
        try:
            for image_id in images:
                client.wait_image_active(image_id, poll=0.05)
        except RuntimeError as exc:
            error = str(exc)
        seconds = time.monotonic() - t0
        busy = (machine_busy_seconds() - busy0) / (seconds * (os.cpu_count() or 1))
        return UploadRow(workers, len(ids), seconds, len(ids) * RANDOM.size, busy, error)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url",
                        default=os.environ.get("PG_TEST_URL", DEFAULT_URL),
                        help="a PostgreSQL server's database to connect to for CREATE DATABASE "
                             f"(default $PG_TEST_URL or {DEFAULT_URL})")
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--uploads", type=int, default=4, help="1 GiB uploads per worker case")
    parser.add_argument("--upload-workers", type=int, default=4,
                        help="job tasks per worker process (upload_workers)")
    parser.add_argument("--quiet-wait", type=float, default=10.0)
    parser.add_argument("--skip-get", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_get and shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk (make bench-scale does this as root)",
              file=sys.stderr)
        return 2
    (WORK_DIR / "scale").mkdir(parents=True, exist_ok=True)
    info = machine(WORK_DIR)
    print("machine:\n" + machine_lines(info), flush=True)

    gets: list[GetRow] = []
    uploads: list[UploadRow] = []
    if not args.skip_get:
        for n in (1, 2):
            print(f"wrk GET volume with {n} API process(es) ...", flush=True)
            gets.append(measure_get(args, n))
    if not args.skip_upload:
        source = generate(RANDOM, WORK_DIR / "sources")
        for m in (1, 2):
            print(f"{args.uploads} uploads of 1 GiB with {m} worker process(es) ...", flush=True)
            uploads.append(measure_uploads(args, m, source))

    def fmt(v: float | None, spec: str = ".1f") -> str:
        return "-" if v is None else format(v, spec)

    headers = ["case", "req/s or MiB/s", "p99 ms or s", "machine CPU busy", "vs 1 process",
               "errors"]
    rows = []
    for g in gets:
        base = gets[0].result.rps
        ratio = None if not base or g.result.rps is None else g.result.rps / base
        rows.append([
            f"GET volume, {g.processes} API process{'es' if g.processes > 1 else ''}, "
            f"{args.connections} conn",
            fmt(g.result.rps, ".0f") + " req/s", fmt(g.result.p99_ms) + " ms",
            fmt(None if g.machine_busy is None else 100 * g.machine_busy, ".0f") + " %",
            fmt(ratio, ".2f") + "x", g.result.error or g.result.socket_errors or "0",
        ])
    for u in uploads:
        base_rate = uploads[0].mib_per_s
        ratio = u.mib_per_s / base_rate if base_rate else None
        rows.append([
            f"{u.uploads} x 1 GiB raw uploads, {u.workers} worker process"
            f"{'es' if u.workers > 1 else ''} ({args.upload_workers} tasks each)",
            fmt(u.mib_per_s, ".0f") + " MiB/s", fmt(u.seconds, ".2f") + " s",
            fmt(None if u.machine_busy is None else 100 * u.machine_busy, ".0f") + " %",
            fmt(ratio, ".2f") + "x", u.error or "0",
        ])
    print()
    print(text_table(headers, rows))
    payload: dict[str, Any] = {
        "machine": info, "args": vars(args),
        "get": [asdict(g) for g in gets], "uploads": [asdict(u) for u in uploads],
    }
    (WORK_DIR / "scale-results.json").write_text(json.dumps(payload, indent=2, default=str))
    (WORK_DIR / "scale-results.md").write_text(
        machine_lines(info) + "\n\n" + markdown_table(headers, rows) + "\n")
    print(f"results: {WORK_DIR / 'scale-results.json'}, {WORK_DIR / 'scale-results.md'}")
    failed = any(g.result.error for g in gets) or any(u.error for u in uploads)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
