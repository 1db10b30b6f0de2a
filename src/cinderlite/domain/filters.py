"""Matching rules of the listings' filters that are applied outside SQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def like_matches(value: object, pattern: str) -> bool:
    """SQL `LIKE %pattern%` as Cinder's like filters (`name~=ab`, 3.34) apply it,
    case-insensitive as the default collations of SQLite and MySQL compare."""
    return value is not None and pattern.lower() in str(value).lower()


def all_like(record: Any, like: Mapping[str, str]) -> bool:
    """Every `field~=value` of `like` matches the record's attribute."""
    return all(like_matches(getattr(record, key, None), value) for key, value in like.items())


# Cinder's time comparison operators (api/common.get_time_comparison_operators, 3.60).
TIME_OPERATORS = ("gt", "gte", "eq", "neq", "lt", "lte")


def time_matches(value: datetime | None, comparisons: Mapping[str, datetime]) -> bool:
    """Every `op: time` of `comparisons` holds for `value`; a NULL matches none
    (SQL's comparisons with NULL are never true)."""
    if value is None:
        return not comparisons
    checks = {
        "gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__,
        "eq": value.__eq__, "neq": value.__ne__,
    }
    return all(checks[op](when) for op, when in comparisons.items())
