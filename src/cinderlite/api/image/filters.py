"""The query string of GET /v2/images, read as Glance reads it.

Glance (api/v2/images.py RequestDeserializer.index and db/sqlalchemy/api.py
_make_conditions_from_filters) takes: limit, marker, sort (two syntaxes),
member_status, tag (repeated), visibility, os_hidden, protected, `<column>_min`
/ `<column>_max` ranges, created_at / updated_at with an operator
(`gte:2024-01-01T00:00:00Z`), name / id / status / container_format /
disk_format with `in:a,b,"c,d"` or `eq:`, and any other key as a custom
property filter. Bad values are 400s with Glance's messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oslo_utils import timeutils

from cinderlite.domain.errors import InvalidRequest

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")
VISIBILITY_FILTERS = ("community", "public", "private", "shared", "all")
# Integer columns with `_min`/`_max` range filters.
RANGE_COLUMNS = frozenset({"size", "virtual_size", "min_disk", "min_ram"})
TIME_COLUMNS = frozenset({"created_at", "updated_at"})
# Columns filtered with an optional `in:` / `eq:` operator.
LIST_COLUMNS = frozenset({"name", "id", "status", "container_format", "disk_format"})
# Columns compared as they are.
EQUAL_COLUMNS = frozenset({"owner", "checksum", "os_hash_value", "os_hash_algo"})
TIME_OPERATORS = frozenset({"gt", "gte", "lt", "lte", "neq", "eq"})

_IN_VALUES = re.compile(
    r'"([^"\\]*(?:\\.[^"\\]*)*)",?|([^,]+),?|,'
)


def _int(value: str, message: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(message) from None


def _limit(params: Mapping[str, str]) -> int:
    if "limit" not in params:
        return DEFAULT_LIMIT
    limit = _int(params["limit"], "limit param must be an integer")
    if limit < 0:
        raise InvalidRequest("limit param must be positive")
    return min(limit, MAX_LIMIT)


def _true_false(name: str, value: str) -> bool:
    lowered = value.lower() if name == "os_hidden" else value
    if lowered not in ("true", "false"):
        raise InvalidRequest(
            f"Invalid value '{value}' for '{name}' filter. Valid values are 'true' or 'false'."
        )
    return lowered == "true"


def split_op(expression: str) -> tuple[str, str]:
    """`op:value` -> (op, value); an ISO 8601 time with colons is `eq` (Glance's rule)."""
    left, sep, right = expression.partition(":")
    if not sep:
        return "eq", left
    try:
        timeutils.parse_isotime(expression)
    except ValueError:
        return left, right
    return "eq", expression


def _check_quotes(value: str) -> None:
    open_quote = True
    for i, char in enumerate(value):
        if char != '"' or (i and value[i - 1] == "\\"):
            continue
        if open_quote and i and value[i - 1] != ",":
            raise InvalidRequest(
                f"Invalid filter value {value}. There is no comma before opening quotation "
                "mark."
            )
        if not open_quote and i + 1 != len(value) and value[i + 1] != ",":
            raise InvalidRequest(
                f"Invalid filter value {value}. There is no comma after closing quotation mark."
            )
        open_quote = not open_quote
    if not open_quote:
        raise InvalidRequest(f"Invalid filter value {value}. The quote is not closed.")


def split_in_values(value: str) -> list[str]:
    """`a,"b,c",d` -> ["a", "b,c", "d"] (the API working group's quoting)."""
    _check_quotes(value)
    return [quoted or plain for quoted, plain in _IN_VALUES.findall(value)]


def _time(name: str, value: str) -> tuple[str, datetime]:
    op, text = split_op(value)
    try:
        when = timeutils.normalize_time(timeutils.parse_isotime(text))
    except ValueError:
        raise InvalidRequest(
            f'Bad "{name}" query filter format. Use ISO 8601 DateTime notation.'
        ) from None
    if op not in TIME_OPERATORS:
        raise InvalidRequest("Unable to filter on a unknown operator.")
    return op, when


def _listed(value: str) -> tuple[str, Any]:
    op, text = split_op(value)
    if op == "in":
        return "in", tuple(split_in_values(text))
    if op == "eq":
        return "eq", text
    raise InvalidRequest(f"Unable to filter by unknown operator '{op}'.")


def parse_filters(params: Any) -> dict[str, Any]:
    """The filters of a list request: keyword arguments for db.images.ImageFilters."""
    conditions: list[tuple[str, str, Any]] = []
    properties: dict[str, str] = {}
    out: dict[str, Any] = {}
    skip = {"limit", "marker", "sort", "sort_key", "sort_dir", "tag", "member_status"}
    for key, value in params.multi_items():
        if key in skip:
            continue
        if key == "visibility":
            if value not in VISIBILITY_FILTERS:
                raise InvalidRequest(f"Invalid visibility value: {value}")
            out["visibility"] = value
        elif key == "changes-since":
            raise InvalidRequest('The "changes-since" filter is no longer available on v2.')
        elif key in ("os_hidden", "protected"):
            out[key] = _true_false(key, value)
        elif key.endswith(("_min", "_max")) and key[:-4] in RANGE_COLUMNS:
            number = _int(value, "Unable to filter on a range with a non-numeric value.")
            conditions.append((key[:-4], "gte" if key.endswith("_min") else "lte", number))
        elif key in TIME_COLUMNS:
            op, when = _time(key, value)
            conditions.append((key, op, when))
        elif key in LIST_COLUMNS:
            op, operand = _listed(value)
            conditions.append((key, op, operand))
        elif key in EQUAL_COLUMNS:
            conditions.append((key, "eq", value))
        else:
            properties[key] = value
    member_status = params.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise InvalidRequest(f"Invalid status: {member_status}")
    tags = params.getlist("tag") if hasattr(params, "getlist") else []
    return {
        **out, "conditions": tuple(conditions), "properties": properties,
        "member_status": member_status, "tags": tuple(t.strip() for t in tags),
    }


def parse_list_query(params: Any, sort_keys: tuple[str, ...]) -> dict[str, Any]:
    """Query string of GET /v2/images -> filters, sort, limit, marker."""
    return {
        "filters": parse_filters(params), "sort": parse_sort(params, sort_keys),
        "limit": _limit(params), "marker": params.get("marker"),
    }


def parse_sort(params: Any, allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    """Glance's two sort syntaxes: `sort=k1:asc,k2` or repeated `sort_key`/`sort_dir`."""
    pairs: list[tuple[str, str]] = []
    if "sort" in params:
        if "sort_key" in params or "sort_dir" in params:
            raise InvalidRequest("Old and new sorting syntax cannot be combined")
        for item in str(params["sort"]).strip().split(","):
            key, _, direction = item.partition(":")
            pairs.append((key.strip(), (direction or "desc").strip()))
    else:
        keys = [k.strip() for k in params.getlist("sort_key")] or ["created_at"]
        dirs = [d.strip() for d in params.getlist("sort_dir")]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise InvalidRequest("Number of sort dirs does not match the number of sort keys")
        for i, key in enumerate(keys):
            pairs.append((key, dirs[i] if len(dirs) > 1 else (dirs[0] if dirs else "desc")))
    for key, direction in pairs:
        if key not in allowed:
            raise InvalidRequest(f"Invalid sort key: {key}. It must be one of the following: "
                                 f"{', '.join(allowed)}.")
        if direction not in ("asc", "desc"):
            raise InvalidRequest(f"Invalid sort direction: {direction}")
    return pairs
