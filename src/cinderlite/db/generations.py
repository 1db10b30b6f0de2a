"""Cache generations (table cache_generations): counters that every process of a
multi-process deployment compares before trusting a per-process cache.

One row per cache (`tokens`), inserted by migration 0019; a bump is one UPDATE,
a read one primary-key SELECT.
"""

from __future__ import annotations

import functools

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cinderlite.db.database import Database
from cinderlite.db.models import CacheGeneration

TOKENS = "tokens"


def read(db: Session, *, name: str) -> int:
    found = db.execute(
        select(CacheGeneration.generation).where(CacheGeneration.name == name)
    ).scalar_one_or_none()
    return int(found or 0)


def bump(db: Session, *, name: str) -> None:
    db.execute(
        update(CacheGeneration)
        .where(CacheGeneration.name == name)
        .values(generation=CacheGeneration.generation + 1)
    )


class GenerationRepository:
    """One named counter; each call is its own transaction."""

    def __init__(self, database: Database, name: str) -> None:
        self._database = database
        self._name = name

    async def read(self) -> int:
        return await self._database.run_read(functools.partial(read, name=self._name))

    async def bump(self) -> None:
        await self._database.run(functools.partial(bump, name=self._name))
