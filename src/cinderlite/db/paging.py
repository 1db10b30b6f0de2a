"""Keyset pagination shared by the listings (volumes, snapshots): a sort order
with the id as the tiebreaker, and "the rows after this marker" in that order.

NULL sorts as the smallest value on every database (as on SQLite and Cinder's
MySQL; PostgreSQL's default is the opposite), so pages follow one rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, literal, or_
from sqlalchemy.orm import InstrumentedAttribute


class SortColumns:
    """The columns a listing may be sorted on, by API key, and which may be NULL."""

    def __init__(self, columns: Mapping[str, InstrumentedAttribute[Any]]) -> None:
        self.columns = dict(columns)
        self.nullable = frozenset(
            c.key for c in self.columns.values() if c.expression.nullable
        )

    def order_keys(self, sort: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        """The sort keys with id appended as the tiebreaker (in the last key's direction)."""
        keys = list(sort)
        if not any(k == "id" for k, _ in keys):
            keys.append(("id", keys[-1][1] if keys else "desc"))
        return keys

    def order(self, key: str, direction: str) -> Any:
        """The ORDER BY term of (key, direction)."""
        column = self.columns[key]
        if direction == "asc":
            return column.asc().nulls_first() if column.key in self.nullable else column.asc()
        return column.desc().nulls_last() if column.key in self.nullable else column.desc()

    def after(self, marker: object, keys: Sequence[tuple[str, str]]) -> Any:
        """Rows strictly after `marker` in the (key, dir) order: a lexicographic comparison.

        After a NULL come the non-NULLs ascending and nothing descending; NULLs
        come after any value descending.
        """
        clauses = []
        for i, (key, direction) in enumerate(keys):
            column = self.columns[key]
            value = getattr(marker, column.key)
            equal_prefix = [
                self.columns[k] == getattr(marker, self.columns[k].key)
                if getattr(marker, self.columns[k].key) is not None
                else self.columns[k].is_(None)
                for k, _ in keys[:i]
            ]
            step: ColumnElement[bool] | None
            if value is None:
                step = column.is_not(None) if direction == "asc" else None
            else:
                # literal(): SQLAlchemy refuses `<`/`>` against a bare True/False.
                bound = literal(value) if isinstance(value, bool) else value
                if direction == "asc":
                    step = column > bound
                elif column.key in self.nullable:
                    step = or_(column < bound, column.is_(None))
                else:
                    step = column < bound
            if step is None:
                continue
            clauses.append(and_(*equal_prefix, step))
        return or_(*clauses) if clauses else self.columns["id"].is_(None)
