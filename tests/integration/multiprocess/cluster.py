"""Real `cinderlite serve --role ...` processes on one PostgreSQL database, for the
multi-process tests: API processes, worker processes, and what the tests ask of
the database and the data directory directly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

PG_URL = os.environ.get("CINDERLITE_TEST_DATABASE_URL", "")
# The marks of every test here: real processes sharing one database need PostgreSQL.
MARKS = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not PG_URL.startswith("postgresql"),
        reason="processes sharing one database need PostgreSQL (make test-postgres)",
    ),
]
LEASE_SECONDS = 2


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    return f"{url.rpartition('/')[0]}/{name}"


def _admin(sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_dsn(PG_URL))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    name = f"cl_mp_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_URL, name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(probe: Any, *, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


@dataclass
class Site:
    """One data directory and its API ports (a "machine")."""

    data_dir: Path
    identity_port: int = field(default_factory=free_port)
    volume_port: int = field(default_factory=free_port)
    image_port: int = field(default_factory=free_port)

    def env(self, database_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDERLITE_"))}
        env.update({
            "CINDERLITE_DATA_DIR": str(self.data_dir),
            "CINDERLITE_DATABASE_URL": database_url,
            "CINDERLITE_IDENTITY_PORT": str(self.identity_port),
            "CINDERLITE_VOLUME_PORT": str(self.volume_port),
            "CINDERLITE_IMAGE_PORT": str(self.image_port),
            "CINDERLITE_LOG_LEVEL": "INFO",
            "CINDERLITE_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "CINDERLITE_UPLOAD_WORKERS": "1",
            "CINDERLITE_ALLOW_COMPRESSION_ON_IMAGE_UPLOAD": "true",
            "CINDERLITE_QUOTA_VOLUMES": "-1",
            "CINDERLITE_QUOTA_GIGABYTES": "-1",
        })
        return env

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"


def serve(site: Site, database_url: str, name: str, *args: str) -> Proc:
    proc = Proc(
        name, [sys.executable, "-m", "cinderlite", "serve", *args],
        site.env(database_url), site.data_dir.parent / f"{name}.log",
    )
    proc.start()
    return proc


def answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def wait_api(site: Site, proc: Proc) -> None:
    def up() -> bool:
        assert proc.alive(), f"{proc.name} exited:\n{proc.text()[-4000:]}"
        return (site.data_dir / "openrc-demo").exists() and all(
            answers(p) for p in (site.identity_port, site.volume_port, site.image_port)
        )

    wait_until(up, timeout=90, what=f"{proc.name} to answer", interval=0.2)


def wait_worker(proc: Proc) -> None:
    def up() -> bool:
        assert proc.alive(), f"{proc.name} exited:\n{proc.text()[-4000:]}"
        return "running job workers" in proc.text()

    wait_until(up, timeout=90, what=f"{proc.name} to run its workers", interval=0.2)


def openrc(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = value.strip("'")
    return values


@dataclass
class Client:
    site: Site
    token: str
    project_id: str

    @classmethod
    def login(cls, site: Site, rc: dict[str, str]) -> Client:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": rc["OS_USERNAME"], "password": rc["OS_PASSWORD"],
                "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": rc["OS_PROJECT_NAME"], "domain": {"name": "Default"}}},
        }}
        resp = httpx.post(f"{site.url(site.identity_port)}/v3/auth/tokens", json=body,
                          timeout=10, trust_env=False)
        assert resp.status_code == 201, resp.text
        return cls(site, resp.headers["X-Subject-Token"], resp.json()["token"]["project"]["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def volume_api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        url = f"{self.site.url(self.site.volume_port)}/v3/{self.project_id}{path}"
        kw.setdefault("headers", self.headers)
        return httpx.request(method, url, timeout=30, trust_env=False, **kw)

    def image_data(self, image_id: str) -> contextlib.AbstractContextManager[httpx.Response]:
        url = f"{self.site.url(self.site.image_port)}/v2/images/{image_id}/file"
        return httpx.stream("GET", url, headers=self.headers, timeout=60, trust_env=False)

    def image_api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        url = f"{self.site.url(self.site.image_port)}/v2{path}"
        return httpx.request(method, url, headers=self.headers, timeout=60, trust_env=False, **kw)


def query(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(_dsn(database_url))
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())
