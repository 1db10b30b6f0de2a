"""Background WAL checkpoints: the log reaches the database file without a commit doing it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from cinderlite.db.checkpoint import Checkpointer


def _writer(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # as the service's connections
    conn.execute("CREATE TABLE t (x BLOB)")
    return conn


def test_the_thread_copies_the_log_into_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    conn = _writer(db)  # stays open: closing would checkpoint by itself
    try:
        for _ in range(200):
            conn.execute("INSERT INTO t VALUES (randomblob(4000))")
        before = db.stat().st_size
        assert (tmp_path / "db.sqlite-wal").stat().st_size > 200 * 4000  # all in the log
        checkpointer = Checkpointer(db, interval=0.02)
        checkpointer.start()
        try:
            deadline = time.monotonic() + 10
            while db.stat().st_size < 200 * 4000 and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            checkpointer.stop()
        assert before < 200 * 4000 <= db.stat().st_size
        assert checkpointer.runs >= 1
    finally:
        conn.close()


def test_a_failing_checkpoint_is_logged_and_retried(tmp_path: Path) -> None:
    # Not a database: every attempt fails, the thread keeps going and stops cleanly.
    bogus = tmp_path / "not-a-db"
    bogus.write_bytes(b"x" * 4096)
    checkpointer = Checkpointer(bogus, interval=0.01)
    checkpointer.start()
    time.sleep(0.1)
    checkpointer.stop()
    assert checkpointer.runs >= 2
