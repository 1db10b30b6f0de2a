"""The volumes index for the listing's default order (migration 0002).

The default listing is `WHERE project_id = ? ORDER BY created_at DESC, id DESC`
(routes.parse_list_query, db/paging.py `SortColumns.order_keys`); the index
(project_id, created_at, id) serves it in index order, with no sort step. Here:
the migrated schema has the index and matches the models, 0002 upgrades from
0001 and downgrades again, and on SQLite the plan of the default page (first and
later pages) builds no temporary B-tree.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from cinderlite.api.volume.routes import parse_list_query
from cinderlite.db import migrate
from cinderlite.db import volumes as volumes_db
from cinderlite.db.fastread import SqliteReader, sqlite_path
from cinderlite.db.models import Base
from cinderlite.db.session import create_engine
from tests.conftest import PG_URL, _pg_admin_dsn, _with_database

pytestmark = pytest.mark.integration

T = TypeVar("T")
NEW_INDEX = "ix_volumes_project_created_id"
OLD_INDEX = "ix_volumes_project_created"


async def _run_sync(url: str, fn: Callable[[Connection], T]) -> T:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _volume_indexes(conn: Connection) -> dict[str | None, list[str | None]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes("volumes")}


def _downgrade(revision: str) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        cfg = migrate.alembic_config()
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    return run


@pytest.fixture
async def empty_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database with no tables: a new SQLite file, or a new PostgreSQL database."""
    if not PG_URL:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    import asyncpg

    name = f"cl_test_mig_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(_pg_admin_dsn(PG_URL))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        yield _with_database(PG_URL, name)
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def test_head_has_the_listing_index(database_url: str) -> None:
    indexes = await _run_sync(database_url, _volume_indexes)
    assert indexes[NEW_INDEX] == ["project_id", "created_at", "id"]
    assert OLD_INDEX not in indexes  # its prefix: replaced, not kept beside it


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    def diff(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

    assert await _run_sync(database_url, diff) == []


async def test_0002_upgrades_from_0001_and_downgrades_again(empty_url: str) -> None:
    await migrate.upgrade(empty_url, "0001")
    indexes = await _run_sync(empty_url, _volume_indexes)
    assert OLD_INDEX in indexes
    assert NEW_INDEX not in indexes

    await migrate.upgrade(empty_url)
    indexes = await _run_sync(empty_url, _volume_indexes)
    assert NEW_INDEX in indexes
    assert OLD_INDEX not in indexes

    await _run_sync(empty_url, _downgrade("0001"))
    indexes = await _run_sync(empty_url, _volume_indexes)
    assert indexes[OLD_INDEX] == ["project_id", "created_at"]
    assert NEW_INDEX not in indexes

    await migrate.upgrade(empty_url)
    assert NEW_INDEX in await _run_sync(empty_url, _volume_indexes)


class _RecordingReader(SqliteReader):
    """The inline reader, keeping the statements it ran."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.statements: list[tuple[str, list[Any]]] = []

    def fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.statements.append((sql, list(params)))
        return super().fetchall(sql, params)


def _marker(project_id: str) -> volumes_db.VolumeRow:
    return volumes_db.VolumeRow(
        id=str(uuid.uuid4()), project_id=project_id, user_id="u", name=None,
        description=None, size=1, status="available", previous_status=None,
        attach_status="detached", volume_type_id=None, availability_zone="nova",
        bootable=False, meta={}, image_meta={}, source_image_id=None,
        created_at=datetime(2026, 11, 27, 8, 0, 0, 123456), updated_at=None,
        snapshot_id=None, source_volid=None,
    )


@pytest.mark.parametrize("params", [{}, {"limit": "10", "marker": "m"}],
                         ids=["first page", "page after a marker"])
async def test_default_listing_plan_has_no_sort_step_on_sqlite(
    database_url: str, params: dict[str, str]
) -> None:
    path = sqlite_path(database_url)
    if path is None:
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by its statistics")
    query = parse_list_query(params)
    project_id = uuid.uuid4().hex
    reader = _RecordingReader(path)
    try:
        volumes_db.read_volumes(
            reader, project_id=project_id, filters=query.filters, sort=query.sort,
            limit=query.limit, marker=_marker(project_id) if query.marker else None,
        )
    finally:
        reader.close()
    [(sql, sql_params)] = reader.statements
    # The service runs no ANALYZE, so the plan is the one without sqlite_stat1.
    with closing(sqlite3.connect(path)) as conn:
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, sql_params)]
    assert any(NEW_INDEX in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
