"""Start and stop the real service (`python -m cinderlite serve`) on free ports,
and read its memory figures from /proc."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import REPO_DIR


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_openrc(path: Path) -> dict[str, str]:
    """The `export KEY='value'` lines of an openrc file written by `cinderlite bootstrap`."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            key, _, raw = line[len("export ") :].partition("=")
            parts = shlex.split(raw)
            values[key.strip()] = parts[0] if parts else ""
    return values


def proc_status_kib(pid: int, field: str) -> int | None:
    """A `VmHWM`/`VmRSS`-style field of /proc/<pid>/status, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0, `echo 5 > /proc/pid/clear_refs`)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def proc_cpu_seconds(pid: int) -> float | None:
    """utime+stime of the process plus cutime+cstime of its reaped children (qemu-img)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the ")" : state is field 3, so utime (14) .. cstime (17) are [11:15].
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def load_average() -> float:
    return os.getloadavg()[0]


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user)
    busy = sum(fields[:8]) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, busy_below: float = 0.25) -> float:
    """Wait (at most max_wait seconds) for a 1 s window in which the machine's CPUs
    are less than `busy_below` busy; returns that last busy fraction."""
    ncpu = os.cpu_count() or 1
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = machine_busy_seconds(), time.monotonic()
        time.sleep(1.0)
        frac = (machine_busy_seconds() - b0) / ((time.monotonic() - t0) * ncpu)
        if frac < busy_below or time.monotonic() >= deadline:
            return frac


@dataclass
class Ports:
    identity: int
    volume: int
    image: int


class Server:
    """One `cinderlite serve` process with its own data dir, on 127.0.0.1 free ports."""

    def __init__(
        self,
        name: str,
        data_dir: Path,
        env: dict[str, str] | None = None,
        fresh: bool = True,
        profile: Path | None = None,
        args: tuple[str, ...] = (),
        ports: Ports | None = None,
    ) -> None:
        self.name = name
        # Extra `serve` arguments (`--role api --processes 2`); `ports` to share
        # another server's (a worker process of the same site).
        self.args = args
        # When set, the server runs under cProfile and writes its stats here on exit.
        self.profile = profile
        self.data_dir = data_dir
        self.extra_env = dict(env or {})
        self.fresh = fresh
        self.proc: subprocess.Popen[bytes] | None = None
        self.ports = ports or Ports(free_port(), free_port(), free_port())
        self.log_path = data_dir.parent / f"{data_dir.name}-{name}-server.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def volumes_dir(self) -> Path:
        return self.data_dir / "volumes"

    def volume_file(self, volume_id: str) -> Path:
        """The backing file the file volume backend keeps: volumes/volume-<id>."""
        for name in (volume_id, volume_id.replace("-", "")):
            path = self.volumes_dir / f"volume-{name}"
            if path.exists():
                return path
        raise RuntimeError(f"no backing file for volume {volume_id} in {self.volumes_dir}")

    def scratch_dirs(self) -> list[Path]:
        """Where the service keeps bytes that are not yet an image: the image store's
        staging dir, the conversion dir, and TMPDIR (pointed into the data dir)."""
        return [
            self.data_dir / "images" / ".staging",
            self.data_dir / "conversion",
            self.data_dir / "tmp",
        ]

    def start(self, timeout: float = 60.0) -> Server:
        if self.fresh and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        (self.data_dir / "tmp").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CINDERLITE_", "OS_"))}
        env.update(
            CINDERLITE_DATA_DIR=str(self.data_dir),
            CINDERLITE_HOST="127.0.0.1",
            CINDERLITE_PUBLIC_HOST="127.0.0.1",
            CINDERLITE_IDENTITY_PORT=str(self.ports.identity),
            CINDERLITE_VOLUME_PORT=str(self.ports.volume),
            CINDERLITE_IMAGE_PORT=str(self.ports.image),
            TMPDIR=str(self.data_dir / "tmp"),
        )
        env.update(self.extra_env)
        # BENCH_LOG_LEVEL=DEBUG: the server logs each upload's phase timeline.
        if os.environ.get("BENCH_LOG_LEVEL"):
            env["CINDERLITE_LOG_LEVEL"] = os.environ["BENCH_LOG_LEVEL"]
        python = REPO_DIR / ".venv" / "bin" / "python"
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child owns it until stop()
        argv = [str(python if python.exists() else sys.executable)]
        if self.profile is not None:
            argv += ["-m", "cProfile", "-o", str(self.profile)]
        self.proc = subprocess.Popen(
            [*argv, "-m", "cinderlite", "serve", *self.args],
            cwd=REPO_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server {self.name} exited with {self.proc.returncode}; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"server {self.name} not ready after {timeout}s; see {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    def _ready(self) -> bool:
        if "worker" in self.args:  # `--role worker`: no ports; it says when it runs jobs
            return "running job workers" in self.log_tail(200)
        if not (self.data_dir / "openrc-demo").exists():
            return False
        for port in (self.ports.identity, self.ports.volume, self.ports.image):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                    pass
            except urllib.error.HTTPError:
                pass  # any HTTP answer means the port serves
            except OSError:
                return False
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def openrc(self, user: str = "demo") -> dict[str, str]:
        return read_openrc(self.data_dir / f"openrc-{user}")

    def peak_rss_mib(self) -> float | None:
        kib = proc_status_kib(self.pid, "VmHWM")
        return None if kib is None else kib / 1024

    def rss_mib(self) -> float | None:
        kib = proc_status_kib(self.pid, "VmRSS")
        return None if kib is None else kib / 1024

    def cpu_seconds(self) -> float | None:
        return proc_cpu_seconds(self.pid)

    def tree_cpu_seconds(self) -> float | None:
        """`cpu_seconds` of the process and of its live children (`--processes N`)."""
        total = proc_cpu_seconds(self.pid)
        if total is None:
            return None
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            children = []
        for child in children:
            total += proc_cpu_seconds(int(child)) or 0.0
        return total

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
