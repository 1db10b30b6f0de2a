"""On SQLite the service never checkpoints in a commit; a background thread does."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cinderlite import app as app_module
from tests.conftest import PG_URL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(bool(PG_URL), reason="SQLite only"),
]


def _autocheckpoint(db: Session) -> int:
    return int(db.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


async def test_write_and_read_connections_leave_checkpoints_to_the_thread(
    rt: app_module.Runtime,
) -> None:
    assert await rt.run_in_transaction(_autocheckpoint) == 0
    assert await rt.run_read(_autocheckpoint) == 0
    async with rt.transaction() as db:
        assert (await db.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
