"""The volume-from-image rows of `make bench` (`fill-*` cases): `POST /v3/{project}/volumes`
with an `imageRef` until the volume is `available`, against `qemu-img convert` of the
same image file to raw, followed by an fsync of its output, in the same run.

Each case makes its image file once from a seeded test volume (raw as it is,
qcow2 with `qemu-img convert -O qcow2`) and uploads it through the image API
(`PUT /v2/images/{id}/file`) outside the timing. Then, `--repeat` times, the
floor and ours alternate, with the image file's pages warm for both:

- floor: `qemu-img convert -f <fmt> -O raw image out` (a new sparse file;
  plain and with `-m 16 -W`, the faster counts) and an fsync of `out`. The
  fill writes the volume as a sparse raw file and makes it durable before
  `available`, so the floor does the same work; `convert s` is qemu-img alone.
- ours: the POST, then `GET` of the volume (every 5 ms at first, the interval
  growing with the time waited to 5 % of it, at most 20 ms) until `available`.

The floor reads the very file the service reads: the image store's copy under
the server's data dir. The last volume's bytes are checked against the test
volume (sha256) unless --no-verify.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import MiB
from bench.client import ApiError, Client
from bench.clone import warm
from bench.floors import _hash_file, children_cpu
from bench.server import Server, machine_busy_seconds, wait_for_quiet
from bench.volumes import RANDOM, SPARSE25, VolumeSpec

TARGET_RATIO = 1.2


@dataclass(frozen=True)
class FillCase:
    name: str
    spec: VolumeSpec
    disk_format: str  # of the image: "raw" or "qcow2"


# No random-qcow2: the qcow2 of 1 GiB of random data is a little over 1 GiB, and an
# image larger than the volume is refused at create (as Cinder does).
FILL_CASES = [
    FillCase("fill-sparse25-raw", SPARSE25, "raw"),
    FillCase("fill-sparse25-qcow2", SPARSE25, "qcow2"),
    FillCase("fill-random-raw", RANDOM, "raw"),
]


@dataclass
class FillRow:
    case: str
    volume: str
    disk_format: str
    size: int
    image_bytes: int | None = None  # allocated bytes of the image file
    ours_s: list[float] = field(default_factory=list)
    ours_cpu_s: list[float] = field(default_factory=list)
    ours_other_cpu_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # convert + fsync
    convert_s: list[float] = field(default_factory=list)
    floor_cpu_s: list[float] = field(default_factory=list)
    floor_other_cpu_s: list[float] = field(default_factory=list)
    floor_argv: list[str] = field(default_factory=list)  # of each floor run
    verified: str = ""
    error: str = ""

    @property
    def best_s(self) -> float | None:
        return min(self.ours_s) if self.ours_s else None

    @property
    def best_floor_s(self) -> float | None:
        return min(self.floor_s) if self.floor_s else None

    @property
    def ratio(self) -> float | None:
        if self.best_s is None or not self.best_floor_s:
            return None
        return self.best_s / self.best_floor_s


# --- the image ------------------------------------------------------------------------


def make_image(spec_source: Path, disk_format: str, directory: Path) -> Path:
    """The image file of a test volume: the raw file itself, or a qcow2 made from it
    (once per run: qemu-img's output depends on its version, not on a seed)."""
    if disk_format == "raw":
        return spec_source
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{spec_source.stem}.{disk_format}"
    out.unlink(missing_ok=True)
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", disk_format, str(spec_source), str(out)],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
    return out


def upload_image(client: Client, name: str, path: Path, disk_format: str) -> str:
    """Create an image and PUT the file's bytes into it; returns its id once `active`."""
    resp = client.request(
        "POST",
        client.ports.image,
        "/v2/images",
        {"name": name, "disk_format": disk_format, "container_format": "bare"},
        expect=(201,),
    )
    image_id = str(resp.json()["id"])
    client.put_image_file(image_id, path)
    image = client.get_image(image_id)
    if image["status"] != "active":
        raise RuntimeError(f"image {image_id} is {image['status']} after its upload")
    return image_id


# --- ours and the floor ---------------------------------------------------------------


def wait_available(client: Client, volume_id: str, timeout: float = 600.0) -> None:
    """Poll GET volume until `available`: every 5 ms at first, then every 5 % of the time
    waited, at most 20 ms (as the upload rows poll their image)."""
    started = time.monotonic()
    while True:
        status = client.get_volume(volume_id)["status"]
        if status == "available":
            return
        now = time.monotonic()
        if status != "creating" or now - started > timeout:
            raise RuntimeError(f"volume {volume_id} is {status}, waited for available")
        time.sleep(min(0.02, max(0.005, (now - started) / 20)))


def time_ours(
    server: Server, client: Client, case: FillCase, image_id: str, image: Path, row: FillRow
) -> str:
    """One fill through the API; returns the new volume's id."""
    warm(image)
    c0 = server.cpu_seconds()
    m0, b0 = machine_busy_seconds(), time.process_time()
    t0 = time.perf_counter()
    resp = client.request(
        "POST",
        client.ports.volume,
        client.vpath("/volumes"),
        {"volume": {"size": case.spec.size_gib, "name": f"bench-{case.name}",
                    "imageRef": image_id}},
        expect=(202,),
    )
    volume_id = str(resp.json()["volume"]["id"])
    wait_available(client, volume_id)
    row.ours_s.append(time.perf_counter() - t0)
    c1 = server.cpu_seconds()
    m1, b1 = machine_busy_seconds(), time.process_time()
    if c0 is not None and c1 is not None:
        row.ours_cpu_s.append(c1 - c0)
        row.ours_other_cpu_s.append(max(0.0, (m1 - m0) - (c1 - c0) - (b1 - b0)))
    return volume_id


def time_floor(case: FillCase, image: Path, out: Path, tuned: bool, row: FillRow) -> None:
    """`qemu-img convert -f <fmt> -O raw image out` into a new file, then fsync `out`."""
    out.unlink(missing_ok=True)
    argv = ["qemu-img", "convert", "-f", case.disk_format, "-O", "raw"]
    if tuned:
        argv += ["-m", "16", "-W"]
    warm(image)
    c0 = children_cpu() + time.process_time()
    m0 = machine_busy_seconds()
    t0 = time.perf_counter()
    subprocess.run(
        [*argv, str(image), str(out)], check=True, capture_output=True, stdin=subprocess.DEVNULL
    )
    t1 = time.perf_counter()
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    t2 = time.perf_counter()
    cpu = children_cpu() + time.process_time() - c0
    row.convert_s.append(t1 - t0)
    row.floor_s.append(t2 - t0)
    row.floor_cpu_s.append(cpu)
    row.floor_other_cpu_s.append(max(0.0, machine_busy_seconds() - m0 - cpu))
    row.floor_argv.append(" ".join(argv[2:]))
    out.unlink()


def delete_and_wait(client: Client, volume_id: str, timeout: float = 60.0) -> None:
    client.delete_volume(volume_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get_volume(volume_id)
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.02)
    raise RuntimeError(f"volume {volume_id} still there {timeout}s after its delete")


def sha256_of(path: Path) -> str:
    out: dict[str, str] = {}
    _hash_file(path, hashlib.sha256, out, "sha256")  # holes hashed as zeros, not read
    return out["sha256"]


# --- the cases ------------------------------------------------------------------------


def run_fill_case(
    server: Server, client: Client, case: FillCase, source: Path, work: Path, args: Any,
    row: FillRow,
) -> None:
    local = make_image(source, case.disk_format, work)
    image_id = upload_image(client, f"bench-{case.name}", local, case.disk_format)
    # The floor converts the file the service reads: the image store's copy.
    stored = server.data_dir / "images" / image_id
    image = stored if stored.exists() else local
    row.image_bytes = image.stat().st_blocks * 512
    out = work / f"{case.name}.floor.raw"
    volume_id = ""
    try:
        for _ in range(args.repeat):
            if volume_id:  # the previous run's; gone before anything is timed
                delete_and_wait(client, volume_id)
                volume_id = ""
            if args.quiet_wait:
                wait_for_quiet(args.quiet_wait)
            for tuned in (False, True):
                time_floor(case, image, out, tuned, row)
            if args.quiet_wait:
                wait_for_quiet(args.quiet_wait)
            volume_id = time_ours(server, client, case, image_id, image, row)
        if not args.no_verify:
            want, got = sha256_of(source), sha256_of(server.volume_file(volume_id))
            row.verified = "ok (sha256)" if want == got else f"FAIL: sha256 {got} != {want}"
        else:
            row.verified = "not verified"
    finally:
        if volume_id and not args.keep:
            client.delete_volume(volume_id)
        if not args.keep:
            client.delete_image(image_id)
        out.unlink(missing_ok=True)
        if local != source:
            local.unlink(missing_ok=True)


def run_fills(
    cases: list[FillCase], sources: dict[str, Path], work: Path, args: Any
) -> list[FillRow]:
    """Run the cases on one server with the service's defaults (WARNING logging)."""
    rows: list[FillRow] = []
    work.mkdir(parents=True, exist_ok=True)
    env = {"CINDERLITE_LOG_LEVEL": "WARNING"}
    server = Server("fill", work / "server", env)
    try:
        try:
            server.start()
            client = Client(server.ports, server.openrc("demo"))
            client.login()
        except Exception as exc:
            for case in cases:
                row = _row(case)
                row.error = f"service did not start: {exc}"
                rows.append(row)
            return rows
        for case in cases:
            print(f"case {case.name} ...", flush=True)
            row = _row(case)
            try:
                run_fill_case(server, client, case, sources[case.spec.name], work, args, row)
            except Exception as exc:
                row.error = f"{type(exc).__name__}: {exc}"
            print(
                f"  ours {fmt(row.best_s, '.3f')} s, floor {fmt(row.best_floor_s, '.3f')} s "
                f"{row.error or row.verified}",
                flush=True,
            )
            rows.append(row)
    finally:
        server.stop()
    return rows


def _row(case: FillCase) -> FillRow:
    return FillRow(case.name, case.spec.name, case.disk_format, case.spec.size)


# --- the table ------------------------------------------------------------------------


def fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def at(values: list[float], i: int | None) -> float | None:
    return values[i] if i is not None and i < len(values) else None


def fill_table(rows: list[FillRow]) -> tuple[list[str], list[list[str]]]:
    headers = [
        "case",
        "image MiB",
        "ours s",
        "floor s",
        "ratio",
        "target",
        "convert s",
        "MiB/s",
        "CPU s ours/floor",
        "other CPU s ours/floor",
        "floor",
        "check",
    ]
    out = []
    for r in rows:
        ratio = r.ratio
        mark = "" if ratio is None else (" ok" if ratio <= TARGET_RATIO else " MISS")
        mibs = None if not r.best_s else r.size / MiB / r.best_s
        best = r.ours_s.index(min(r.ours_s)) if r.ours_s else None
        fbest = r.floor_s.index(min(r.floor_s)) if r.floor_s else None

        out.append(
            [
                r.case,
                fmt(None if r.image_bytes is None else r.image_bytes / MiB, ".0f"),
                fmt(r.best_s, ".3f"),
                fmt(r.best_floor_s, ".3f"),
                fmt(ratio) + mark,
                f"<= {TARGET_RATIO}",
                fmt(at(r.convert_s, fbest), ".3f"),
                fmt(mibs, ".0f"),
                f"{fmt(at(r.ours_cpu_s, best))}/{fmt(at(r.floor_cpu_s, fbest))}",
                f"{fmt(at(r.ours_other_cpu_s, best), '.1f')}/"
                f"{fmt(at(r.floor_other_cpu_s, fbest), '.1f')}",
                r.floor_argv[fbest] if fbest is not None else "-",
                r.error or r.verified,
            ]
        )
    return headers, out


FILL_LEGEND = (
    "volumes from images (POST /v3/{project}/volumes with imageRef -> available): "
    "ours = best of --repeat fills; floor = `qemu-img convert -f <fmt> -O raw` of the "
    "same image file into a new file plus an fsync of it (convert s: qemu-img alone; "
    "plain and `-m 16 -W`, the faster), best of as many runs, alternating with ours, "
    "page cache warm; ratio = ours / floor; CPU s = server+qemu-img CPU seconds during "
    "the best fill / qemu-img and the fsync; other CPU s = the rest of the machine "
    "(contention; ~0 on a quiet machine); check = sha256 of the volume = of the test volume."
)
