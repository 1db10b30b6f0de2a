"""Migration 0017 (image metadata definitions): its tables come and go with it,
and the unique names hold on the database itself."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, inspect

from cinderlite.db import migrate
from tests.integration.volume.test_list_index import (  # noqa: F401 (empty_url: a fixture)
    _downgrade,
    _run_sync,
    empty_url,
)

pytestmark = pytest.mark.integration

TABLES = {
    "metadef_namespaces",
    "metadef_objects",
    "metadef_properties",
    "metadef_tags",
    "metadef_resource_types",
    "metadef_namespace_resource_types",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def test_0017_upgrades_from_0016_and_downgrades_again(empty_url: str) -> None:  # noqa: F811
    await migrate.upgrade(empty_url, "0016")
    assert not TABLES & await _run_sync(empty_url, _tables)
    await migrate.upgrade(empty_url)
    assert await _run_sync(empty_url, _tables) >= TABLES
    await _run_sync(empty_url, _downgrade("0016"))
    assert not TABLES & await _run_sync(empty_url, _tables)
    await migrate.upgrade(empty_url)
    assert await _run_sync(empty_url, _tables) >= TABLES


async def test_names_are_unique_in_the_database(empty_url: str) -> None:  # noqa: F811
    await migrate.upgrade(empty_url)
    now = datetime(2026, 1, 1)

    def insert_twice(conn: Connection) -> list[str]:
        ns = {
            "namespace": "N",
            "visibility": "public",
            "protected": False,
            "owner": "p",
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(
            sa.text(
                "INSERT INTO metadef_namespaces (namespace, visibility, protected, owner, "
                "created_at, updated_at) VALUES (:namespace, :visibility, :protected, :owner, "
                ":created_at, :updated_at)"
            ),
            ns,
        )
        refused = []
        for table, sql in (
            (
                "metadef_namespaces",
                "INSERT INTO metadef_namespaces (namespace, visibility, protected, owner, "
                "created_at, updated_at) VALUES (:namespace, :visibility, :protected, :owner, "
                ":created_at, :updated_at)",
            ),
            (
                "metadef_tags",
                "INSERT INTO metadef_tags (namespace_id, name, created_at, updated_at) "
                "SELECT id, 't', :created_at, :updated_at FROM metadef_namespaces",
            ),
        ):
            if table == "metadef_tags":
                conn.execute(sa.text(sql), ns)
            nested = conn.begin_nested()
            try:
                conn.execute(sa.text(sql), ns)
            except sa.exc.IntegrityError:
                refused.append(table)
            nested.rollback()
        return refused

    assert await _run_sync(empty_url, insert_twice) == ["metadef_namespaces", "metadef_tags"]
