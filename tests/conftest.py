"""Shared fixtures: a Runtime on a fresh database, ASGI clients for the three APIs,
and tokens for the bootstrapped admin and demo users.

The database is SQLite in tmp_path unless CINDERLITE_TEST_DATABASE_URL names a
PostgreSQL server (e.g. postgresql+asyncpg://postgres@127.0.0.1/postgres); then
every test gets its own database, copied from a migrated template.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cinderlite import app as app_module
from cinderlite.config import Settings
from cinderlite.db import migrate
from cinderlite.domain.identity import Caller

PG_URL = os.environ.get("CINDERLITE_TEST_DATABASE_URL", "")


def _pg_admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def db_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database: a SQLite file to copy, or a PostgreSQL database to empty."""
    if not PG_URL:
        path = tmp_path_factory.mktemp("dbtemplate") / "template.db"
        asyncio.run(migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
        yield str(path)
        return
    import asyncpg

    name = f"cl_test_{uuid.uuid4().hex[:10]}"

    async def create() -> None:
        conn = await asyncpg.connect(_pg_admin_dsn(PG_URL))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        await migrate.upgrade(_with_database(PG_URL, name))

    async def drop() -> None:
        conn = await asyncpg.connect(_pg_admin_dsn(PG_URL))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(create())
    yield name
    asyncio.run(drop())


async def _empty_pg_database(url: str) -> None:
    """Delete every row (schema and alembic_version stay), after ending any session
    a previous test left behind (a killed server's, say) that could hold a lock."""
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_dsn(url))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        tables = [
            r["tablename"]
            for r in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        await conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE")
    finally:
        await conn.close()


@pytest.fixture
async def database_url(db_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, migrated, empty database for one test.

    SQLite: a copy of the migrated template file. PostgreSQL: the session's
    database, emptied (much faster than a new database per test; tests run one
    at a time).
    """
    if not PG_URL:
        path = tmp_path / "cinderlite.db"
        shutil.copyfile(db_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = _with_database(PG_URL, db_template)
    await _empty_pg_database(url)
    yield url


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_password": "admin-secret",
        "demo_password": "demo-secret",
        "upload_workers": 2,
        "job_lease_seconds": 5,
        # Cheap password hashes: every test bootstraps two users.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 1024,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, request: pytest.FixtureRequest) -> Settings:
    """Override in a test module to change options, or mark one test with
    `@pytest.mark.settings(option=value, ...)`; `rt` uses it. The services read
    their options once, when the runtime is built (app.py), as in production."""
    return make_settings(tmp_path, database_url, **marked_options(request))


def marked_options(request: pytest.FixtureRequest) -> dict[str, object]:
    """The options of the test's `@pytest.mark.settings(...)`, for `settings` fixtures."""
    marker = request.node.get_closest_marker("settings")
    return dict(marker.kwargs) if marker else {}


@dataclass
class Identity:
    """A bootstrapped user with a project-scoped token."""

    token: str
    caller: Caller

    @property
    def project_id(self) -> str:
        return self.caller.project_id

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[app_module.Runtime]:
    """A running Runtime: migrated database, admin/demo bootstrapped, job runner started."""
    async with app_module.open_runtime(settings, run_migrations=False) as runtime:
        await runtime.services.identity.bootstrap(
            admin_password=settings.admin_password, demo_password=settings.demo_password
        )
        await app_module.recover(runtime)
        await runtime.jobs.start()
        yield runtime


async def login(
    rt: app_module.Runtime, *, user: str, project: str, password: str | None = None
) -> Identity:
    """Issue a token for an existing user (password is not checked here)."""
    admin = rt.services.identity_admin
    u = await admin.find_by_name_or_id("user", user)
    p = await admin.find_by_name_or_id("project", project)
    issued = await rt.services.identity.issue_token(user_id=u.id, project_id=p.id)
    return Identity(issued.token, issued.caller)


async def make_user(
    rt: app_module.Runtime, *, name: str, project: str, roles: tuple[str, ...],
    password: str = "secret",
) -> Identity:
    """Create user `name` with `roles` on `project` (created if missing); return a token."""
    await rt.services.identity.ensure_user(name=name, password=password, project_name=project,
                                           roles=roles)
    return await login(rt, user=name, project=project)


@pytest.fixture
async def admin(rt: app_module.Runtime) -> Identity:
    return await login(rt, user="admin", project="admin")


@pytest.fixture
async def demo(rt: app_module.Runtime) -> Identity:
    return await login(rt, user="demo", project="demo")


@pytest.fixture
async def reader(rt: app_module.Runtime) -> Identity:
    """A user with only the reader role on the demo project."""
    return await make_user(rt, name="watcher", project="demo", roles=("reader",))


def _client(app: object, base_url: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url=base_url)


@pytest.fixture
async def identity_client(rt: app_module.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_module.create_identity_app(rt), rt.settings.identity_url()) as c:
        yield c


@pytest.fixture
async def volume_client(rt: app_module.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_module.create_volume_app(rt), rt.settings.volume_url()) as c:
        yield c


@pytest.fixture
async def image_client(rt: app_module.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(app_module.create_image_app(rt), rt.settings.image_url()) as c:
        yield c


async def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]  # noqa: ASYNC109
    """Poll an async predicate until it returns a truthy value; return that value."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `cloud` need a real Keystone and Glance (make test-cloud): they run
    only when the marker expression names them (`-m cloud`)."""
    if "cloud" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("cloud") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
