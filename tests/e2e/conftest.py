"""A real `cinderlite serve` in a subprocess for the e2e tests.

The server gets free ports and a fresh data directory; with
CINDERLITE_TEST_DATABASE_URL set it also gets a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e import support
from tests.e2e.support import (
    PG_URL,
    START_TIMEOUT,
    VENV_BIN,
    Api,
    LiveServer,
    client_env,
    free_port,
    log_tail,
    parse_openrc,
    wait_until,
)
from tests.webserver import WebServer, running


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _pg_database_url(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def _pg_execute(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(_pg_dsn(PG_URL))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@contextlib.contextmanager
def _fresh_database() -> Iterator[str]:
    """An empty database for the server to migrate: '' (SQLite in data_dir) or a new PG database."""
    if not PG_URL:
        yield ""
        return
    name = f"cl_e2e_{uuid.uuid4().hex[:12]}"
    _pg_execute(f'CREATE DATABASE "{name}"')
    try:
        yield _pg_database_url(PG_URL, name)
    finally:
        _pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def web() -> Iterator[WebServer]:
    """A loopback HTTP server the image-import tests serve web-download's bytes from."""
    with running() as server:
        yield server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, web: WebServer) -> Iterator[LiveServer]:
    """`python -m cinderlite serve` on free ports with a fresh data directory and database.
    web-download may fetch from the loopback server `web` (its address and port allowed)."""
    with _serve(tmp_path_factory.mktemp("e2e"), web, {}, main=True) as live:
        yield live


@pytest.fixture(scope="session")
def stores_server(
    tmp_path_factory: pytest.TempPathFactory, web: WebServer
) -> Iterator[LiveServer]:
    """A second server with two image stores, `fast` (the default) and `cheap`
    (docs/images.md, Stores), for the multi-store tests."""
    root = tmp_path_factory.mktemp("e2e-stores")
    extra = {
        "CINDERLITE_IMAGE_STORES": f"fast:{root / 'fast'},cheap:{root / 'cheap'}",
        "CINDERLITE_DEFAULT_IMAGE_STORE": "fast",
        "CINDERLITE_IMAGE_STORE_DESCRIPTIONS": "fast:Fast store,cheap:Big store",
    }
    with _serve(root, web, extra, main=False) as live:
        yield live


# The image cache server's image_cache_max_size: one of the e2e cache test's 3 MiB
# images fits, two do not.
CACHE_MAX_SIZE = 4 << 20


@pytest.fixture(scope="session")
def cache_server(
    tmp_path_factory: pytest.TempPathFactory, web: WebServer
) -> Iterator[LiveServer]:
    """A server with an image cache (image_cache_dir, docs/images.md), for the cache
    tests; a small image_cache_max_size so that prune has something to do."""
    root = tmp_path_factory.mktemp("e2e-cache")
    extra = {
        "CINDERLITE_IMAGE_CACHE_DIR": str(root / "image-cache"),
        "CINDERLITE_IMAGE_CACHE_MAX_SIZE": str(CACHE_MAX_SIZE),
    }
    with _serve(root, web, extra, main=False) as live:
        yield live


@contextlib.contextmanager
def _serve(
    root: Path, web: WebServer, extra_env: dict[str, str], *, main: bool
) -> Iterator[LiveServer]:
    """Run `cinderlite serve` in `root` with `extra_env` until the block ends; the
    `main` server's log is the one failures quote."""
    data_dir = root / "data"
    home = root / "home"
    home.mkdir()
    workdir = root / "work"
    workdir.mkdir()
    log_path = root / "server.log"
    ports = {"identity": free_port(), "volume": free_port(), "image": free_port()}
    while len(set(ports.values())) < 3:
        ports["image"] = free_port()

    with _fresh_database() as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDERLITE_"))}
        env.update(
            {
                "CINDERLITE_DATA_DIR": str(data_dir),
                "CINDERLITE_DATABASE_URL": database_url,
                "CINDERLITE_IDENTITY_PORT": str(ports["identity"]),
                "CINDERLITE_VOLUME_PORT": str(ports["volume"]),
                "CINDERLITE_IMAGE_PORT": str(ports["image"]),
                "CINDERLITE_LOG_LEVEL": "INFO",
                # One server serves every e2e test, most as demo: more volumes,
                # snapshots and backups than Cinder's default counts allow (the
                # gigabyte defaults stay; the quota tests use a project of their own).
                "CINDERLITE_QUOTA_VOLUMES": "-1",
                "CINDERLITE_QUOTA_SNAPSHOTS": "-1",
                "CINDERLITE_QUOTA_BACKUPS": "-1",
                "CINDERLITE_IMPORT_ALLOWED_HOSTS": "127.0.0.1",
                "CINDERLITE_IMPORT_ALLOWED_PORTS": str(web.port),
                **extra_env,
            }
        )
        if main:
            support.server_log = log_path
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(VENV_BIN / "python"), "-m", "cinderlite", "serve"],
                env=env,
                cwd=root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            demo_rc = data_dir / "openrc-demo"
            admin_rc = data_dir / "openrc-admin"

            def up() -> bool:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"cinderlite serve exited with {proc.returncode} during start-up\n"
                        f"--- server log ---\n{log_tail(200)}"
                    )
                return demo_rc.exists() and all(_answers(p) for p in ports.values())

            wait_until(
                up, timeout=START_TIMEOUT, what=f"cinderlite serve on ports {ports}", interval=0.2
            )
            demo_openrc = parse_openrc(demo_rc)
            admin_openrc = parse_openrc(admin_rc)
            yield LiveServer(
                data_dir=data_dir,
                identity_port=ports["identity"],
                volume_port=ports["volume"],
                image_port=ports["image"],
                demo_openrc=demo_openrc,
                admin_openrc=admin_openrc,
                demo_env=client_env(demo_openrc, home),
                admin_env=client_env(admin_openrc, home),
                log_path=log_path,
                workdir=workdir,
            )
        finally:
            _stop(proc)
            # Errors the server logged but no test noticed still deserve a look.
            if "Traceback" in log_path.read_text(errors="replace"):
                sys.stderr.write(f"\ncinderlite server log has tracebacks: {log_path}\n")


@pytest.fixture(scope="session")
def demo_env(server: LiveServer) -> dict[str, str]:
    return server.demo_env


@pytest.fixture(scope="session")
def admin_env(server: LiveServer) -> dict[str, str]:
    return server.admin_env


@pytest.fixture(scope="session")
def demo_api(server: LiveServer) -> Api:
    return Api.login(server, server.demo_openrc)
