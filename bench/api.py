"""`make bench-api`: wrk against GET one volume, GET volumes/detail and GET one
image (64 connections, 2 threads), then the latency of the upload action's 202
while 4 uploads run. The service runs on `make run`'s defaults (free ports, its own data
dir); all traffic goes to 127.0.0.1. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import WORK_DIR
from bench.client import Client
from bench.report import machine, machine_lines, markdown_table, text_table
from bench.server import Server
from bench.volumes import RANDOM, copy_sparse, generate

REFERENCE_RPS = 100.0  # real cinder-api, GET volume, 16 connections (issue figures)
REFERENCE_P99_MS = 900.0
TARGET_RPS = 1000.0
TARGET_P99_MS = 100.0
TARGET_202_P99_MS = 50.0

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


@dataclass
class WrkResult:
    name: str
    url_path: str
    rps: float | None = None
    p50_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    requests: int | None = None
    non_2xx: int = 0
    # Server CPU (process + reaped children) per request over the timed run.
    cpu_ms: float | None = None
    socket_errors: str = ""
    error: str = ""
    raw: str = ""


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"unexpected wrk duration {text!r}")
    return float(m.group(1)) * _UNITS_MS[m.group(2)]


def parse_wrk(out: str, result: WrkResult) -> None:
    """Fill req/s and latency percentiles from `wrk --latency` output."""
    result.raw = out
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        result.rps = float(m.group(1))
    for pct, attr in (("50", "p50_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)\s*$", out, re.M):
            setattr(result, attr, _ms(m.group(1)))
    if m := re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M):
        result.max_ms = _ms(m.group(1))
    if m := re.search(r"(\d+) requests in", out):
        result.requests = int(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        result.non_2xx = int(m.group(1))
    if m := re.search(r"Socket errors:\s+(.*)", out):
        result.socket_errors = m.group(1).strip()


def lua_script(path: Path, token: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_\-.=+/]+", token):
        raise RuntimeError("token has characters the Lua script does not quote")
    path.write_text(
        'wrk.method = "GET"\n'
        f'wrk.headers["X-Auth-Token"] = "{token}"\n'
        'wrk.headers["Accept"] = "application/json"\n'
    )
    return path


def run_wrk(
    name: str, url: str, script: Path, *, connections: int, threads: int, duration: int,
    warmup: int, server: Server | None = None,
) -> WrkResult:
    result = WrkResult(name, url.split("//", 1)[1].split("/", 1)[1])
    base = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "--timeout",
        "10s",
        "-s",
        str(script),
    ]
    if warmup:
        subprocess.run(
            [*base, "-d", f"{warmup}s", url], capture_output=True, text=True, timeout=warmup + 30
        )
    cpu0 = server.cpu_seconds() if server is not None else None
    proc = subprocess.run(
        [*base, "-d", f"{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
    )
    cpu1 = server.cpu_seconds() if server is not None else None
    if proc.returncode != 0:
        result.error = f"wrk exit {proc.returncode}: {proc.stderr.strip()[-300:]}"
    parse_wrk(proc.stdout, result)
    if cpu0 is not None and cpu1 is not None and result.requests:
        result.cpu_ms = (cpu1 - cpu0) * 1000 / result.requests
    if result.rps is None and not result.error:
        result.error = "could not parse wrk output"
    if result.non_2xx:
        result.error = f"{result.non_2xx} non-2xx responses"
    return result


@dataclass
class AcceptLatency:
    mode: str
    samples_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    background_running_after: int = 0
    # Server process CPU per upload action over the timed window (the background
    # uploads' qemu-img children are not in it: they are reaped later).
    cpu_ms: float | None = None

    def pct(self, p: float) -> float | None:
        if not self.samples_ms:
            return None
        s = sorted(self.samples_ms)
        return s[max(0, math.ceil(p / 100 * len(s)) - 1)]  # nearest rank


def post_uploads(client: Client, volume_ids: list[str], threads: int, out: AcceptLatency) -> None:
    """POST the upload action for each volume from `threads` client threads; record each
    request's latency (send -> 202 body read)."""
    lock = threading.Lock()
    queue = list(volume_ids)

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                vid = queue.pop()
            t0 = time.perf_counter()
            try:
                client.upload(vid, image_name=f"accept-{vid[:8]}", disk_format="raw")
                ms = (time.perf_counter() - t0) * 1000
                with lock:
                    out.samples_ms.append(ms)
            except Exception as exc:
                with lock:
                    out.errors.append(str(exc)[:200])

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def measure_accept(server: Server, client: Client, args: argparse.Namespace) -> list[AcceptLatency]:
    """4 background uploads of 1 GiB random data to compressed qcow2 (the default), then
    the upload action's 202 latency on other volumes, sequential and from 4 threads."""
    source = generate(RANDOM, WORK_DIR / "sources")
    background = []
    for i in range(4):
        vol = client.create_volume(1, f"bench-bg-{i}")
        client.wait_volume(vol["id"])
        copy_sparse(source, server.volume_file(vol["id"]))
        background.append(vol["id"])
    runs = [AcceptLatency("sequential", []), AcceptLatency(f"{args.accept_threads} threads", [])]
    targets: list[list[str]] = []
    for _ in runs:
        ids = []
        for i in range(args.accept_requests):
            vol = client.create_volume(1, f"bench-accept-{i}")
            ids.append(vol["id"])
        for vid in ids:
            client.wait_volume(vid)
        targets.append(ids)
    images = [
        client.upload(v, image_name=f"bg-{i}", disk_format="qcow2")["image_id"]
        for i, v in enumerate(background)
    ]
    # Wait until the 4 workers have claimed the jobs and data is moving.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(client.get_image(i)["status"] == "saving" for i in images):
            break
        time.sleep(0.05)
    for run, ids in zip(runs, targets, strict=True):
        cpu0 = server.cpu_seconds()
        post_uploads(client, ids, 1 if run.mode == "sequential" else args.accept_threads, run)
        cpu1 = server.cpu_seconds()
        if cpu0 is not None and cpu1 is not None and run.samples_ms:
            run.cpu_ms = (cpu1 - cpu0) * 1000 / len(run.samples_ms)
        run.background_running_after = sum(
            client.get_image(i)["status"] != "active" for i in images
        )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured wrk first")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--volumes", type=int, default=5, help="volumes in the detail listing")
    parser.add_argument(
        "--accept-requests",
        type=int,
        default=60,
        help="upload actions timed per mode while 4 uploads run",
    )
    parser.add_argument("--accept-threads", type=int, default=4)
    parser.add_argument("--skip-accept", action="store_true")
    parser.add_argument("--skip-get", action="store_true", help="only the upload 202 part")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the server under cProfile; print its top functions at the end",
    )
    args = parser.parse_args(argv)

    if shutil.which("wrk") is None:
        print(
            "wrk is missing: apt-get install -y wrk (make bench-api does this as root)",
            file=sys.stderr,
        )
        return 2
    work = WORK_DIR / "api"
    work.mkdir(parents=True, exist_ok=True)
    info = machine(WORK_DIR)
    print("machine:\n" + machine_lines(info), flush=True)
    profile = work / "server.prof" if args.profile else None
    server = Server("api", work / "data", profile=profile)
    wrk_results: list[WrkResult] = []
    accept: list[AcceptLatency] = []
    with server:
        client = Client(server.ports, server.openrc("demo"))
        client.login()
        ids = []
        for i in range(args.volumes):
            ids.append(client.create_volume(1, f"bench-api-{i}")["id"])
        for vid in ids:
            client.wait_volume(vid)
        image = client.request(
            "POST", server.ports.image, "/v2/images",
            {"name": "bench-api", "disk_format": "raw", "container_format": "bare"},
            expect=(201,),
        ).json()
        script = lua_script(work / "auth.lua", client.token)
        base = f"http://127.0.0.1:{server.ports.volume}/v3/{client.project_id}"
        for name, url in () if args.skip_get else (
            ("GET volume", f"{base}/volumes/{ids[0]}"),
            (f"GET volumes/detail ({args.volumes})", f"{base}/volumes/detail"),
            ("GET image", f"http://127.0.0.1:{server.ports.image}/v2/images/{image['id']}"),
        ):
            print(f"wrk {name} ...", flush=True)
            res = run_wrk(
                name,
                url,
                script,
                connections=args.connections,
                threads=args.threads,
                duration=args.duration,
                warmup=args.warmup,
                server=server,
            )
            wrk_results.append(res)
        if not args.skip_accept:
            print("upload action 202 latency while 4 uploads run ...", flush=True)
            try:
                accept = measure_accept(server, client, args)
            except Exception as exc:
                accept = [AcceptLatency("setup", errors=[f"{type(exc).__name__}: {exc}"])]

    def fmt(v: float | None, spec: str = ".1f") -> str:
        return "-" if v is None else format(v, spec)

    headers = [
        "test", "req/s", "p50 ms", "p90 ms", "p99 ms", "server CPU ms/req", "vs cinder-api",
        "target", "errors",
    ]
    rows = []
    for r in wrk_results:
        # The reference figure is cinder-api's; Glance's is not known here.
        ratio = None if r.rps is None or "image" in r.name else r.rps / REFERENCE_RPS
        ok = (r.rps or 0) >= TARGET_RPS and (r.p99_ms or 1e9) < TARGET_P99_MS and not r.error
        rows.append(
            [
                f"{r.name}, {args.connections} conn",
                fmt(r.rps, ".0f"),
                fmt(r.p50_ms),
                fmt(r.p90_ms),
                fmt(r.p99_ms),
                fmt(r.cpu_ms, ".2f"),
                "-" if ratio is None else fmt(ratio, ".1f") + "x",
                ">=1000 req/s, p99<100: " + ("ok" if ok else "MISS"),
                r.error or r.socket_errors or "0",
            ]
        )
    for a in accept:
        p99 = a.pct(99)
        ok = p99 is not None and p99 < TARGET_202_P99_MS and not a.errors
        rows.append(
            [
                f"upload 202, {a.mode}, n={len(a.samples_ms)}",
                "-",
                fmt(a.pct(50)),
                fmt(a.pct(90)),
                fmt(p99),
                fmt(a.cpu_ms, ".2f"),
                "-",
                "p99<50: " + ("ok" if ok else "MISS"),
                (f"{len(a.errors)}: {a.errors[0]}" if a.errors else "0")
                + f"; bg running after: {a.background_running_after}/4",
            ]
        )
    print()
    print(text_table(headers, rows))
    print(
        f"\nreference: real cinder-api GET volume, 16 connections: {REFERENCE_RPS:.0f} req/s, "
        f"p99 {REFERENCE_P99_MS:.0f} ms. wrk runs on the same machine as the service."
    )
    payload: dict[str, Any] = {
        "machine": info,
        "args": vars(args),
        "wrk": [asdict(r) for r in wrk_results],
        "accept": [
            dict(
                asdict(a),
                p50=a.pct(50),
                p99=a.pct(99),
                mean=statistics.fmean(a.samples_ms) if a.samples_ms else None,
            )
            for a in accept
        ],
    }
    (WORK_DIR / "api-results.json").write_text(json.dumps(payload, indent=2))
    (WORK_DIR / "api-results.md").write_text(
        machine_lines(info) + "\n\n" + markdown_table(headers, rows) + "\n"
    )
    print(f"results: {WORK_DIR / 'api-results.json'}, {WORK_DIR / 'api-results.md'}")
    if profile is not None and profile.exists():
        stats = pstats.Stats(str(profile))
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(30)
        print(f"profile: {profile} (python -m pstats {profile})")
    failed = any(r.error for r in wrk_results) or any(a.errors for a in accept)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
