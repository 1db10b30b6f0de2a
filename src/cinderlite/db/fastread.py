"""Single-row reads for hot GET paths on SQLite, run inline on the event loop.

A primary-key lookup in a small SQLite file takes tens of microseconds; sending it
through aiosqlite's worker thread and SQLAlchemy's pool costs ten times that. This
reader keeps one read-only sqlite3 connection in autocommit mode (each statement
sees the latest committed data; in WAL mode readers never wait for writers) and
answers such lookups directly. Only db/ modules use it, only for reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any


class SqliteReader:
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None
        )
        self._conn.execute("PRAGMA busy_timeout=5000")

    def fetchone(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._conn.execute(sql, params).fetchall()
        return rows

    def close(self) -> None:
        self._conn.close()


def sqlite_path(url: str) -> str | None:
    """The file of a `sqlite+aiosqlite:///path` URL, None for anything else."""
    prefix = "sqlite+aiosqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):].split("?", 1)[0]
    return path if path and path != ":memory:" else None
