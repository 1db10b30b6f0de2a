"""`make bench`: time os-volume_upload_image through the HTTP API against floors
measured in the same run on the same bytes, and print one table.

Each case: create a volume through the API, write the test bytes straight into
its backing file `<data_dir>/volumes/volume-<id>` (a shortcut: the API has no
"write these bytes" call, and the file backend keeps volumes as sparse raw
files), then POST the upload action and poll GET /v2/images/{id} until
`active` (every 5 ms at first, growing to every 20 ms). The `copy-*` cases time
the bytes of a snapshot or clone (bench/clone.py), the `fill-*` cases a volume
created from an image (bench/fill.py). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import WORK_DIR, GiB, MiB
from bench.client import Client
from bench.clone import COPY_CASES, COPY_LEGEND, CopyRow, copy_table, run_copies
from bench.fill import FILL_CASES, FILL_LEGEND, FillRow, fill_table, run_fills
from bench.floors import convert_floor, hash_two_threads, write_floor
from bench.report import machine, machine_lines, markdown_table, text_table
from bench.sampling import POLL_COST, Sampler, poll_cost
from bench.server import (
    Server,
    load_average,
    machine_busy_seconds,
    reset_peak_rss,
    wait_for_quiet,
)
from bench.volumes import EMPTY8G, RANDOM, SPARSE25, VolumeSpec, copy_sparse, generate, warm

TARGET_RATIO = 1.2
TARGET_RSS_MIB = 300


@dataclass(frozen=True)
class Case:
    name: str
    spec: VolumeSpec
    disk_format: str
    compress: bool = False  # server started with CINDERLITE_IMAGE_COMPRESS_ON_UPLOAD=true

    @property
    def server_kind(self) -> str:
        return "compressed" if self.compress else "plain"


CASES = [
    Case("sparse25-raw", SPARSE25, "raw"),
    Case("sparse25-qcow2", SPARSE25, "qcow2"),
    Case("sparse25-vmdk", SPARSE25, "vmdk"),
    Case("sparse25-vdi", SPARSE25, "vdi"),
    Case("random-raw", RANDOM, "raw"),
    Case("random-qcow2", RANDOM, "qcow2"),
    Case("random-vmdk", RANDOM, "vmdk"),
    Case("random-vdi", RANDOM, "vdi"),
    Case("empty8g-raw", EMPTY8G, "raw"),
    Case("empty8g-qcow2", EMPTY8G, "qcow2"),
    Case("sparse25-qcow2-c", SPARSE25, "qcow2", compress=True),
    Case("random-qcow2-c", RANDOM, "qcow2", compress=True),
]
ALL_NAMES = [c.name for c in CASES] + [c.name for c in COPY_CASES] + [c.name for c in FILL_CASES]


@dataclass
class Result:
    case: str
    volume: str
    disk_format: str
    compress: bool
    size: int
    ours_s: list[float] = field(default_factory=list)
    floor_s: float | None = None
    floor_kind: str = ""
    floor_cpu_s: float | None = None
    write_fsync_s: float | None = None  # durability cost outside the floor (see floors.py)
    ours_cpu_s: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    other_cpu_s: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    poll_cpu_s: float | None = None  # server CPU the polls cost (polls x calibrated cost)
    floor_samples: list[dict[str, Any]] = field(default_factory=list)
    peak_rss_mib: float | None = None
    rss_reset: bool = False
    scratch_mib: float | None = None
    scratch_apparent_mib: float | None = None
    image_size: int | None = None
    verified: str = ""
    error: str = ""

    @property
    def best_s(self) -> float | None:
        return min(self.ours_s) if self.ours_s else None

    @property
    def ratio(self) -> float | None:
        if self.best_s is None or not self.floor_s:
            return None
        return self.best_s / self.floor_s


def measure_floor(
    case: Case, path: Path, runs: int, scratch: Path, result: Result, quiet_wait: float = 0
) -> None:
    """Add `runs` floor measurements on the same bytes to result.floor_samples (for qemu
    formats each run tries plain and tuned `qemu-img convert` flags) and keep the best."""
    warm(path)
    samples = result.floor_samples
    for _ in range(runs):
        if quiet_wait:
            wait_for_quiet(quiet_wait)
        if case.disk_format == "raw":
            m0 = machine_busy_seconds()
            h = hash_two_threads(path)
            other = machine_busy_seconds() - m0 - h.cpu_s
            write_s = write_floor(path, scratch)
            samples.append(
                {
                    "kind": "md5+sha512",
                    "total_s": h.seconds,
                    "cpu_s": h.cpu_s,
                    "md5": h.md5,
                    "sha512": h.sha512,
                    "other_cpu_s": other,
                    "write_fsync_s": write_s,
                    "load": load_average(),
                }
            )
            continue
        for tuned in (False, True):
            m0 = machine_busy_seconds()
            f = convert_floor(path, case.disk_format, scratch, compress=case.compress, tuned=tuned)
            other = machine_busy_seconds() - m0 - f.cpu_s
            samples.append(
                {
                    "kind": "convert+hash",
                    "argv": " ".join(f.argv[:-2]),
                    "convert_s": f.convert_s,
                    "hash_s": f.hash_s,
                    "total_s": f.total_s,
                    "cpu_s": f.cpu_s,
                    "output_bytes": f.output_bytes,
                    "other_cpu_s": other,
                    "write_fsync_s": f.fsync_s,
                    "load": load_average(),
                }
            )
    best = min(samples, key=lambda s: s["total_s"])
    result.floor_s = best["total_s"]
    result.floor_cpu_s = min(s["cpu_s"] for s in samples)
    result.write_fsync_s = min(s["write_fsync_s"] for s in samples)
    result.floor_kind = (
        "md5+sha512 2 threads"
        if case.disk_format == "raw"
        else best["argv"].replace("qemu-img convert ", "") + " + hash"
    )


def verify(
    client: Client, case: Case, image: dict[str, Any], source: Path, result: Result, scratch: Path
) -> None:
    """Download the image; its md5/sha512 must match checksum/os_hash_value, raw bytes the
    floor's digests, converted bytes the volume (qemu-img compare)."""
    image_id = image["id"]
    dest = None if case.disk_format == "raw" else scratch / f"download.{case.disk_format}"
    md5, sha, size = client.download_image(image_id, dest)
    problems = []
    if image.get("checksum") != md5:
        problems.append(f"checksum {image.get('checksum')} != md5 of download {md5}")
    if image.get("os_hash_value") and image["os_hash_value"] != sha:
        problems.append("os_hash_value != sha512 of download")
    if image.get("size") is not None and image["size"] != size:
        problems.append(f"size {image['size']} != downloaded {size}")
    if case.disk_format == "raw":
        raw_md5 = next((s["md5"] for s in result.floor_samples if "md5" in s), None)
        if raw_md5 and raw_md5 != md5:
            problems.append("raw image bytes differ from the volume")
    elif dest is not None:
        cmp = subprocess.run(
            ["qemu-img", "compare", "-f", "raw", "-F", case.disk_format, str(source), str(dest)],
            capture_output=True,
            text=True,
        )
        dest.unlink(missing_ok=True)
        if cmp.returncode != 0:
            problems.append(f"qemu-img compare: {cmp.stdout.strip()} {cmp.stderr.strip()}")
    result.verified = "FAIL: " + "; ".join(problems) if problems else "ok (md5, sha512, content)"


def run_case(
    server: Server,
    client: Client,
    case: Case,
    source: Path,
    args: argparse.Namespace,
    result: Result,
) -> None:
    scratch = WORK_DIR / "floor-tmp"
    path: Path | None = None
    volume_id = None
    try:
        vol = client.create_volume(case.spec.size_gib, f"bench-{case.name}")
        volume_id = vol["id"]
        client.wait_volume(volume_id)
        path = server.volume_file(volume_id)
        copy_sparse(source, path)
    except Exception as exc:
        result.error = f"volume setup: {exc}"
    floor_runs = 1 if (case.compress or case.spec.size > GiB) else args.floor_runs
    if result.error:
        measure_floor(case, source, floor_runs, scratch, result, args.quiet_wait)
        return
    assert volume_id is not None
    assert path is not None
    image: dict[str, Any] = {}
    # Floor and upload runs alternate, so both sides see the same machine conditions.
    for i in range(max(args.repeat, floor_runs)):
        if i < floor_runs:
            measure_floor(case, path, 1, scratch, result, args.quiet_wait)
        if i >= args.repeat:
            continue
        warm(path)
        if args.quiet_wait:
            wait_for_quiet(args.quiet_wait)
        reset = reset_peak_rss(server.pid)
        sampler = Sampler(server)
        sampler.start()
        try:
            c0 = server.cpu_seconds()
            m0, b0 = machine_busy_seconds(), time.process_time()
            t0 = time.perf_counter()
            started = client.upload(
                volume_id, image_name=f"bench-{case.name}-{i}", disk_format=case.disk_format
            )
            image = client.wait_image_active(started["image_id"], poll=0.02)
            result.ours_s.append(time.perf_counter() - t0)
            result.polls.append(client.last_polls)
            c1 = server.cpu_seconds()
            m1, b1 = machine_busy_seconds(), time.process_time()
            if c0 is not None and c1 is not None:
                result.ours_cpu_s.append(c1 - c0)
                # CPU the rest of the machine used meanwhile: a contention gauge.
                result.other_cpu_s.append(max(0.0, (m1 - m0) - (c1 - c0) - (b1 - b0)))
            result.load.append(load_average())
        except Exception as exc:
            result.error = f"upload: {exc}"
            return
        finally:
            sampler.stop()
        hwm = server.peak_rss_mib() if reset else sampler.peak_rss
        result.rss_reset = reset
        result.peak_rss_mib = max(result.peak_rss_mib or 0.0, hwm or 0.0)
        result.scratch_mib = max(result.scratch_mib or 0.0, sampler.peak_alloc / MiB)
        result.scratch_apparent_mib = max(
            result.scratch_apparent_mib or 0.0, sampler.peak_apparent / MiB
        )
        result.image_size = image.get("size")
        client.wait_volume(volume_id)
        per_get = poll_cost(server, client, image["id"])
        if per_get is not None:
            result.poll_cpu_s = per_get * min(result.polls)
        last = i == args.repeat - 1
        small = case.spec.size <= GiB or (image.get("size") or 0) <= GiB
        if last and not args.no_verify and small:
            verify(client, case, image, path, result, scratch)
        elif last and case.disk_format == "raw":
            raw_md5 = next((s["md5"] for s in result.floor_samples if "md5" in s), None)
            ok = raw_md5 == image.get("checksum")
            result.verified = "ok (checksum = md5 of volume)" if ok else "FAIL: checksum"
        if not args.keep:
            client.delete_image(image["id"])
    if not args.keep:
        client.delete_volume(volume_id)


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def rows(results: list[Result]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "case",
        "ours s",
        "floor s",
        "ratio",
        "target",
        "fsync s",
        "MiB/s",
        "CPU s ours/polls/floor",
        "CPU ratio",
        "peak RSS MiB",
        "scratch MiB",
        "other CPU s ours/floor",
        "floor",
        "check",
    ]
    out = []
    for r in results:
        target = "-" if r.compress else f"<= {TARGET_RATIO}"
        ratio = r.ratio
        mark = "" if ratio is None or r.compress else (" ok" if ratio <= TARGET_RATIO else " MISS")
        mibs = None if r.best_s is None else r.size / MiB / r.best_s
        rss = fmt(r.peak_rss_mib, ".0f") + ("" if r.rss_reset or r.peak_rss_mib is None else "*")
        ours_cpu = min(r.ours_cpu_s) if r.ours_cpu_s else None
        cpu = f"{fmt(ours_cpu, '.1f')}/{fmt(r.poll_cpu_s, '.1f')}/{fmt(r.floor_cpu_s, '.1f')}"
        cpu_ratio = None
        if ours_cpu is not None and r.floor_cpu_s:
            cpu_ratio = (ours_cpu - (r.poll_cpu_s or 0.0)) / r.floor_cpu_s
        # other CPU of the run that gave the best time
        best_i = r.ours_s.index(min(r.ours_s)) if r.ours_s else None
        other = (
            r.other_cpu_s[best_i] if best_i is not None and best_i < len(r.other_cpu_s) else None
        )
        best_floor = min(r.floor_samples, key=lambda x: x["total_s"]) if r.floor_samples else {}
        others = f"{fmt(other, '.1f')}/{fmt(best_floor.get('other_cpu_s'), '.1f')}"
        out.append(
            [
                r.case,
                fmt(r.best_s),
                fmt(r.floor_s),
                fmt(ratio) + mark,
                target,
                fmt(r.write_fsync_s),
                fmt(mibs, ".0f"),
                cpu,
                fmt(cpu_ratio),
                rss,
                fmt(r.scratch_mib, ".0f"),
                others,
                r.floor_kind,
                r.error or r.verified,
            ]
        )
    return headers, out


def run_group(
    server: Server,
    group: list[Case],
    sources: dict[str, Path],
    args: argparse.Namespace,
    results: list[Result],
) -> None:
    """Run the cases of one server configuration; a service that does not start
    still gets its floors measured."""
    client: Client | None = None
    try:
        server.start()
        client = Client(server.ports, server.openrc("demo"))
        client.login()
    except Exception as exc:
        print(f"server {server.name}: {exc}", file=sys.stderr)
        server.stop()
        client = None
    for case in group:
        print(f"case {case.name} ...", flush=True)
        result = Result(case.name, case.spec.name, case.disk_format, case.compress, case.spec.size)
        if client is None:
            result.error = "service did not start"
            measure_floor(case, sources[case.spec.name], 1, WORK_DIR / "floor-tmp", result)
        else:
            try:
                run_case(server, client, case, sources[case.spec.name], args, result)
            except Exception as exc:
                result.error = result.error or f"{type(exc).__name__}: {exc}"
        results.append(result)
        print(
            f"  ours {fmt(result.best_s)} s, floor {fmt(result.floor_s)} s "
            f"{result.error or result.verified}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.upload",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--cases",
        default="",
        help="comma-separated case names or prefixes "
        f"(default all: {', '.join(ALL_NAMES)})",
    )
    parser.add_argument("--repeat", type=int, default=2, help="uploads per case; best is kept")
    parser.add_argument(
        "--floor-runs",
        type=int,
        default=2,
        help="floor measurements per 1 GiB uncompressed case; best is kept",
    )
    parser.add_argument("--workers", type=int, default=2, help="CINDERLITE_UPLOAD_WORKERS")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=10,
        help="before each timed run, wait up to this many seconds for the "
        "machine's CPUs to be under 25%% busy (0: don't wait)",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the download checks")
    parser.add_argument("--keep", action="store_true", help="keep images, volumes, data dirs")
    parser.add_argument("--render", metavar="JSON", help="only print the table of a saved run")
    args = parser.parse_args(argv)
    if args.render:
        data = json.loads(Path(args.render).read_text())
        headers, table = rows([Result(**r) for r in data["results"]])
        print(text_table(headers, table))
        print()
        print(markdown_table(headers, table))
        if data.get("copies"):
            headers, table = copy_table([CopyRow(**r) for r in data["copies"]])
            print()
            print(text_table(headers, table))
            print()
            print(markdown_table(headers, table))
        if data.get("fills"):
            headers, table = fill_table([FillRow(**r) for r in data["fills"]])
            print()
            print(text_table(headers, table))
            print()
            print(markdown_table(headers, table))
        return 0

    wanted = [w.strip() for w in args.cases.split(",") if w.strip()]
    cases = [c for c in CASES if not wanted or any(c.name.startswith(w) for w in wanted)]
    copy_cases = [
        c for c in COPY_CASES if not wanted or any(c.name.startswith(w) for w in wanted)
    ]
    fill_cases = [
        c for c in FILL_CASES if not wanted or any(c.name.startswith(w) for w in wanted)
    ]
    if not cases and not copy_cases and not fill_cases:
        parser.error("no case matches --cases")
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    info = machine(WORK_DIR)
    print("machine:\n" + machine_lines(info), flush=True)
    sources = {}
    specs = {c.spec for c in cases} | {c.spec for c in copy_cases} | {c.spec for c in fill_cases}
    for spec in specs:
        print(f"test volume {spec.name}: {spec.describe()}", flush=True)
        sources[spec.name] = generate(spec, WORK_DIR / "sources")

    results: list[Result] = []
    for kind in ("plain", "compressed"):
        group = [c for c in cases if c.server_kind == kind]
        if not group:
            continue
        env = {
            "CINDERLITE_IMAGE_COMPRESS_ON_UPLOAD": "true" if kind == "compressed" else "false",
            "CINDERLITE_UPLOAD_WORKERS": str(args.workers),
            "CINDERLITE_LOG_LEVEL": "WARNING",
        }
        server = Server(f"upload-{kind}", WORK_DIR / f"upload-{kind}", env)
        try:
            run_group(server, group, sources, args, results)
        finally:
            server.stop()

    copies = run_copies(copy_cases, sources, WORK_DIR, args) if copy_cases else []
    fills = run_fills(fill_cases, sources, WORK_DIR / "fill", args) if fill_cases else []

    headers, table = rows(results)
    if results:
        print()
        print(text_table(headers, table))
        print(
            f"\nratio = best of {args.repeat} upload(s) (POST -> image active) / same-run floor; "
            "MiB/s = volume size / ours; peak RSS = server VmHWM during the upload "
            "(* = max sampled VmRSS); scratch = peak bytes allocated in staging/conversion dirs; "
            "CPU s = server+qemu-img CPU seconds (of which the polling) vs the floor's; "
            "CPU ratio = (ours - polling) / floor; "
            "fsync s = not in the floor: writing+fsyncing the raw image's data / fsyncing "
            "qemu-img's output, i.e. what durability adds; "
            "other CPU s = CPU seconds the rest of the machine used during the best upload / "
            "the best floor run (contention; ~0 on a quiet machine)."
        )
    by_size: dict[int, float] = {}
    for r in results:
        if r.peak_rss_mib is not None:
            by_size[r.size] = max(by_size.get(r.size, 0.0), r.peak_rss_mib)
    if by_size:
        parts = ", ".join(
            f"{size // GiB} GiB volumes {mib:.0f} MiB" for size, mib in sorted(by_size.items())
        )
        print(
            f"peak RSS by volume size: {parts} (target < {TARGET_RSS_MIB} MiB, "
            "not growing with size)"
        )
    if POLL_COST:
        costs = ", ".join(f"{v * 1000:.1f} ms" for v in POLL_COST.values())
        print(f"server CPU per GET /v2/images/{{id}} poll (idle server): {costs}")
    markdown = machine_lines(info) + "\n"
    if results:
        markdown += "\n" + markdown_table(headers, table) + "\n"
    if copies:
        copy_headers, copy_rows = copy_table(copies)
        print()
        print(text_table(copy_headers, copy_rows))
        print(f"\n{COPY_LEGEND}")
        markdown += "\n" + markdown_table(copy_headers, copy_rows) + "\n"
    if fills:
        fill_headers, fill_rows = fill_table(fills)
        print()
        print(text_table(fill_headers, fill_rows))
        print(f"\n{FILL_LEGEND}")
        markdown += "\n" + markdown_table(fill_headers, fill_rows) + "\n"
    payload = {
        "machine": info,
        "args": vars(args),
        "poll_cpu_s_per_get": list(POLL_COST.values()),
        "results": [asdict(r) for r in results],
        "copies": [asdict(r) for r in copies],
        "fills": [asdict(r) for r in fills],
    }
    (WORK_DIR / "upload-results.json").write_text(json.dumps(payload, indent=2))
    (WORK_DIR / "upload-results.md").write_text(markdown)
    print(f"results: {WORK_DIR / 'upload-results.json'}, {WORK_DIR / 'upload-results.md'}")
    outcomes = [(r.error, r.verified) for r in results]
    outcomes += [(r.error, r.verified) for r in copies]
    outcomes += [(r.error, r.verified) for r in fills]
    failed = any(error or verified.startswith("FAIL") for error, verified in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
