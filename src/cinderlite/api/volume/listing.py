"""Query parameters of the volume API's listings (volumes, snapshots): page size,
sort order and the metadata filter, with Cinder's messages."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from oslo_utils import strutils

from cinderlite.domain.errors import InvalidRequest

MAX_LIMIT = 1000
# cinder/common/constants.py DB_MAX_INT
DB_MAX_INT = 2147483647
SORT_DIRS = ("asc", "desc")


def parse_offset(params: Mapping[str, str]) -> int:
    """How many rows of the listing to skip (Cinder's `offset`, 0 by default)."""
    try:
        value: Any = params.get("offset", 0)
        return int(strutils.validate_integer(value, "offset", 0, DB_MAX_INT))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def parse_page(
    params: Mapping[str, str], sort_keys: frozenset[str]
) -> tuple[int | None, list[tuple[str, str]]]:
    """limit and sort of a listing (Cinder common.get_pagination_params and
    get_sort_params), checked against the keys it may be sorted on."""
    limit: int | None = MAX_LIMIT
    if "limit" in params:
        try:
            limit = int(params["limit"])
        except ValueError:
            raise InvalidRequest("limit param must be an integer") from None
        if limit < 0:
            raise InvalidRequest("limit param must be positive")
        limit = min(limit, MAX_LIMIT)
    sort: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise InvalidRequest(
                "Invalid input received: The 'sort_key' and 'sort_dir' parameters are "
                "deprecated and cannot be used with the 'sort' parameter."
            )
        for item in params["sort"].strip().split(","):
            key, _, direction = item.partition(":")
            sort.append((key.strip(), (direction or "desc").strip().lower()))
    else:
        sort.append((params.get("sort_key", "created_at").strip(),
                     params.get("sort_dir", "desc").strip().lower()))
    for key, direction in sort:
        if direction not in SORT_DIRS:
            raise InvalidRequest(
                "Invalid input received: Unknown sort direction, must be 'desc' or 'asc'"
            )
        if key not in sort_keys:
            raise InvalidRequest(f"Invalid input received: Invalid sort key {key}")
    return limit, sort


def parse_metadata_filter(text: str) -> dict[str, str]:
    # cinderclient sends a Python dict literal ("{'k': 'v'}"); JSON also parses.
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid input received: Invalid metadata filter {text}")
    return {str(k): str(v) for k, v in value.items()}
