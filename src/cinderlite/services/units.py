"""Units of work as the services and the APIs open them.

A unit is one database transaction: `read()` for reads, `write()` for a write
transaction that commits when the block ends and rolls back when it raises.
The session a unit yields is handed on to the db/ functions unopened; nothing
above db/ builds a statement. db/database.py Database is the implementation;
the wiring (app.py) passes it in.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from cinderlite.db.database import SyncUnit, Unit

__all__ = ["SyncUnit", "Unit", "Units"]


class Units(Protocol):
    def read(self) -> AbstractAsyncContextManager[Unit]:
        """A read unit (a deferred transaction; single-statement writes allowed)."""
        ...

    def write(self) -> AbstractAsyncContextManager[Unit]:
        """A write unit: committed on success, rolled back on error. Keep it short:
        on SQLite every other writer of the process waits for it."""
        ...
