"""Matching rules of the listings' filters that are applied outside SQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def like_matches(value: object, pattern: str) -> bool:
    """SQL `LIKE %pattern%` as Cinder's like filters (`name~=ab`, 3.34) apply it,
    case-insensitive as the default collations of SQLite and MySQL compare."""
    return value is not None and pattern.lower() in str(value).lower()


def all_like(record: Any, like: Mapping[str, str]) -> bool:
    """Every `field~=value` of `like` matches the record's attribute."""
    return all(like_matches(getattr(record, key, None), value) for key, value in like.items())
