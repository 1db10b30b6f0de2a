"""SQLite WAL checkpoints in a background thread, off the write path.

By default SQLite checkpoints inside a commit: the transaction that pushes the
write-ahead log past 1000 pages copies the log into the database file and
fsyncs both before its COMMIT returns. The service runs one write transaction
at a time (db/session.py), so that fsync -- slow when uploads keep the disk
busy -- held up every write queued behind it, upload actions included. The
service's connections turn automatic checkpoints off (`PRAGMA
wal_autocheckpoint=0`, in session.py) and this thread runs a PASSIVE
checkpoint every `interval` seconds on its own connection instead: PASSIVE
never waits for readers or writers, and writers go on appending to the log
while it runs.

Durability is unchanged in kind (WAL with synchronous=NORMAL: a commit is on
disk once a checkpoint has synced the log) and better bounded: within about
`interval` seconds, where before it waited for the next 1000 pages of writes.
When the last connection closes, SQLite checkpoints the log itself.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("cinderlite.db")

INTERVAL_SECONDS = 1.0


class Checkpointer:
    """A daemon thread running `PRAGMA wal_checkpoint(PASSIVE)` every `interval` seconds."""

    def __init__(self, path: str | Path, interval: float = INTERVAL_SECONDS) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # checkpoints attempted (for tests and debugging)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="sqlite-checkpoint")
        self._thread.start()

    def stop(self) -> None:
        """Stop after one last checkpoint; waits for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _loop(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self._interval):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # e.g. the file is gone in a test; try again later
            log.warning("WAL checkpoint failed: %s", exc)
        self.runs += 1
