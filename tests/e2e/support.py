"""Helpers for the e2e tests: run the real openstack/cinder/glance clients, poll the
served APIs over plain HTTP, make and compare disk images.

Everything here is synchronous: the clients are subprocesses and the checks read
files the server wrote. The server itself is the `server` fixture in conftest.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

# The venv the tests run from also holds the server and the real clients
# (`make install-dev`); do not resolve symlinks, that would leave the venv.
VENV_BIN = Path(sys.executable).parent
PG_URL = os.environ.get("CINDERLITE_TEST_DATABASE_URL", "")
START_TIMEOUT = 60.0
CLI_TIMEOUT = 120.0
CLIENTS = ("openstack", "cinder", "glance")

T = TypeVar("T")

# The log of the session's server, appended to failure messages.
server_log: Path | None = None


def free_port() -> int:
    """A port the kernel just handed out; bound and released, so it is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def parse_openrc(path: Path) -> dict[str, str]:
    """The `export NAME='value'` lines of an openrc file as a dict."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line.startswith("export "):
            continue
        name, _, raw = line[len("export ") :].partition("=")
        parts = shlex.split(raw)
        env[name.strip()] = parts[0] if parts else ""
    return env


def log_tail(lines: int = 60) -> str:
    if server_log is None or not server_log.exists():
        return "(no server log)"
    text = server_log.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def client_env(openrc: dict[str, str], home: Path) -> dict[str, str]:
    """The process environment for a client: ours minus any OS_* and CINDERLITE_*, plus openrc.

    HOME points at an empty directory so no clouds.yaml or client cache of the
    person running the tests takes part.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OS_", "CINDERLITE_")) and k not in {"HOME", "XDG_CONFIG_HOME"}
    }
    env["HOME"] = str(home)
    # The server is local: never send the clients through a proxy.
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    env["PYTHONWARNINGS"] = "ignore"
    env.update(openrc)
    return env


def run_cli(
    args: list[str],
    env: dict[str, str],
    check: bool = True,
    timeout: float = CLI_TIMEOUT,
    cwd: Path | None = None,
    tty_stdin: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run `openstack`/`cinder`/`glance` from the venv with `env`, no shell.

    With check, a non-zero exit fails the test with the command, its output and
    the tail of the server log. With tty_stdin, stdin is a terminal (`glance
    image-create-via-import` reads image data from any other stdin).
    """
    if not args or args[0] not in CLIENTS:
        raise ValueError(f"run_cli runs one of {CLIENTS}, not {args!r}")
    argv = [str(VENV_BIN / args[0]), *args[1:]]
    started = time.monotonic()
    terminal = os.openpty() if tty_stdin else None
    try:
        proc = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            stdin=terminal[1] if terminal else subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(
            f"{shlex.join(args)} did not finish within {timeout}s\n"
            f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}\n--- server log ---\n{log_tail()}"
        ) from exc
    finally:
        if terminal:
            os.close(terminal[0])
            os.close(terminal[1])
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{shlex.join(args)} exited {proc.returncode} after "
            f"{time.monotonic() - started:.1f}s\n--- stdout ---\n{proc.stdout}\n"
            f"--- stderr ---\n{proc.stderr}\n--- server log ---\n{log_tail()}"
        )
    return proc


def run_json(args: list[str], env: dict[str, str]) -> Any:
    """Run a client command that prints JSON (`-f json` is added for openstack)."""
    if args[0] == "openstack":
        args = [*args, "-f", "json"]
    out = run_cli(args, env).stdout
    try:
        return json.loads(out)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"{shlex.join(args)} printed no JSON:\n{out}") from exc


def parse_table(out: str) -> dict[str, str]:
    """A cinder/glance `| Property | Value |` table as a dict.

    glanceclient wraps values longer than 80 characters onto rows with an empty
    key; those pieces are joined back without a separator (ids and hashes).
    """
    rows: dict[str, str] = {}
    key = ""
    for line in out.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] == "Property":
            continue
        if cells[0]:
            key = cells[0]
            rows[key] = cells[1]
        elif key:
            rows[key] += cells[1]
    return rows


def list_rows(out: str) -> list[dict[str, str]]:
    """A prettytable listing (`| ID | Name | ... |`) as a list of dicts."""
    lines = [line for line in out.splitlines() if line.startswith("|")]
    if not lines:
        return []
    header = [c.strip() for c in lines[0].strip().strip("|").split("|")]
    return [
        dict(zip(header, (c.strip() for c in line.strip().strip("|").split("|")), strict=True))
        for line in lines[1:]
    ]


def run_tool(argv: list[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run a local tool (qemu-img, ...) and fail with its output if it exits non-zero."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, (
        f"{shlex.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` and the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; last: {last!r}\n"
                f"--- server log ---\n{log_tail()}"
            )
        time.sleep(interval)


def file_digests(path: Path, *algos: str) -> list[str]:
    """Hex digests of the file's content, one read for all algorithms."""
    hashes = [hashlib.new(a) for a in algos]
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            for h in hashes:
                h.update(chunk)
    return [h.hexdigest() for h in hashes]


def file_digest(path: Path, algo: str) -> str:
    return file_digests(path, algo)[0]


def same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(1 << 22), fb.read(1 << 22)
            if ca != cb:
                return False
            if not ca:
                return True


def write_at(path: Path, offset: int, data: bytes) -> None:
    """Write `data` at `offset` into an existing file without truncating it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def make_qcow2(workdir: Path, name: str, *, size: int = 8 << 20) -> tuple[Path, Path]:
    """A raw file with random data in a few places and its qcow2 conversion: (raw, qcow2)."""
    raw = workdir / f"{name}.raw"
    with open(raw, "wb") as fh:
        fh.truncate(size)
    write_at(raw, 0, os.urandom(64 << 10))
    write_at(raw, size // 2, os.urandom(1 << 20))
    write_at(raw, size - (4 << 10), os.urandom(4 << 10))
    qcow2 = workdir / f"{name}.qcow2"
    run_tool(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)])
    return raw, qcow2


def qemu_compare(raw: Path, other: Path, other_format: str) -> None:
    """Fail unless `other` (in `other_format`) holds the same guest data as the raw file."""
    proc = subprocess.run(
        ["qemu-img", "compare", "-f", "raw", "-F", other_format, str(raw), str(other)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (
        f"qemu-img compare {raw.name} {other.name} ({other_format}) exited "
        f"{proc.returncode}: {proc.stdout}{proc.stderr}"
    )


@dataclass
class LiveServer:
    """A served cinderlite: where it listens, where its data is, and the users' openrc."""

    data_dir: Path
    identity_port: int
    volume_port: int
    image_port: int
    demo_openrc: dict[str, str]
    admin_openrc: dict[str, str]
    demo_env: dict[str, str]
    admin_env: dict[str, str]
    log_path: Path
    workdir: Path

    @property
    def identity_url(self) -> str:
        return f"http://127.0.0.1:{self.identity_port}"

    @property
    def volume_url(self) -> str:
        return f"http://127.0.0.1:{self.volume_port}"

    @property
    def image_url(self) -> str:
        return f"http://127.0.0.1:{self.image_port}"

    def volume_file(self, volume_id: str) -> Path:
        return self.data_dir / "volumes" / f"volume-{volume_id}"


@dataclass
class Api:
    """Plain HTTP with a project token, for polling statuses between client commands."""

    server: LiveServer
    token: str
    project_id: str

    @classmethod
    def login(cls, server: LiveServer, openrc: dict[str, str]) -> Api:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": openrc["OS_USERNAME"],
                            "password": openrc["OS_PASSWORD"],
                            "domain": {"name": openrc["OS_USER_DOMAIN_NAME"]},
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": openrc["OS_PROJECT_NAME"],
                        "domain": {"name": openrc["OS_PROJECT_DOMAIN_NAME"]},
                    }
                },
            }
        }
        resp = httpx.post(
            f"{server.identity_url}/v3/auth/tokens", json=body, timeout=10, trust_env=False
        )
        assert resp.status_code == 201, (resp.status_code, resp.text)
        project_id = resp.json()["token"]["project"]["id"]
        return cls(server, resp.headers["X-Subject-Token"], project_id)

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def volume(self, volume_id: str) -> dict[str, Any] | None:
        """The volume's 3.0 view, or None once it is gone (404)."""
        resp = httpx.get(
            f"{self.server.volume_url}/v3/{self.project_id}/volumes/{volume_id}",
            headers=self.headers,
            timeout=10,
            trust_env=False,
        )
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return dict(resp.json()["volume"])

    def image(self, image_id: str) -> dict[str, Any] | None:
        resp = httpx.get(
            f"{self.server.image_url}/v2/images/{image_id}",
            headers=self.headers,
            timeout=10,
            trust_env=False,
        )
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, (resp.status_code, resp.text)
        return dict(resp.json())

    def wait_volume(self, volume_id: str, status: str, timeout: float = 60.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            vol = self.volume(volume_id)
            assert vol is not None, f"volume {volume_id} vanished"
            assert not vol["status"].startswith("error"), vol
            return vol if vol["status"] == status else None

        return wait_until(probe, timeout=timeout, what=f"volume {volume_id} {status}")

    def wait_volume_gone(self, volume_id: str, timeout: float = 60.0) -> None:
        wait_until(
            lambda: self.volume(volume_id) is None,
            timeout=timeout,
            what=f"volume {volume_id} to be deleted",
        )

    def wait_image(
        self, image_id: str, status: str = "active", timeout: float = 120.0
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            img = self.image(image_id)
            assert img is not None, f"image {image_id} vanished (upload failed?)"
            assert img["status"] not in {"killed", "deleted"}, img
            return img if img["status"] == status else None

        return wait_until(probe, timeout=timeout, what=f"image {image_id} {status}")
