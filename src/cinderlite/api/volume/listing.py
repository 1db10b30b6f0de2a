"""Query parameters of the volume API's listings (volumes, snapshots): page size,
sort order and the metadata filter, with Cinder's messages."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from oslo_utils import strutils, timeutils
from starlette.requests import Request

from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.filters import TIME_OPERATORS

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


# --- generic filtering (3.31 resource filters, 3.34 like filters) ------------------

# Cinder's default resource_query_filters_file (etc/cinder/resource_filters.json):
# from 3.31 on, the filter keys a non-admin may use on each listing.
RESOURCE_FILTERS: dict[str, tuple[str, ...]] = {
    "volume": ("name", "status", "metadata", "bootable", "migration_status",
               "availability_zone", "group_id", "size", "created_at", "updated_at",
               "consumes_quota"),
    "backup": ("name", "status", "volume_id"),
    "snapshot": ("name", "status", "volume_id", "metadata", "availability_zone",
                 "consumes_quota"),
    "group": ("name",),
    "group_snapshot": ("name", "status", "group_id"),
    "attachment": ("volume_id", "status", "instance_id", "attach_status"),
    "message": ("resource_uuid", "resource_type", "event_id", "request_id", "message_level"),
    "pool": ("name", "volume_type"),
    "volume_type": ("is_public", "extra_specs"),
}
# What Cinder's get_pagination_params and get_sort_params take out of the query
# before the rest is read as filters.
PAGING_KEYS = frozenset({"marker", "limit", "offset", "sort", "sort_key", "sort_dir"})


def query_filters(
    params: Mapping[str, str], resource: str, *, is_admin: bool, general: bool, like: bool,
) -> dict[str, str]:
    """The query's filters (everything but paging and sorting) as Cinder reads them.

    `general` (3.31+, common.reject_invalid_filters): a non-admin's keys outside the
    resource's configured filters are a 400, but for `all_tenants`, which clients
    send on every lookup and which is dropped; with `like` (3.34+) a key is also
    allowed when `key~` is configured. Without `general` every key is returned and
    the listing keeps the ones it knows (remove_invalid_filter_options).
    """
    filters = {k: v for k, v in params.items() if k not in PAGING_KEYS}
    if not general:
        return filters
    for key in filters:
        if not key.isascii():
            raise InvalidRequest("Filter keys can only contain ASCII characters.")
    if is_admin:
        return filters
    allowed = RESOURCE_FILTERS.get(resource, ())
    invalid = [k for k in filters
               if not (k in allowed or (like and f"{k}~" in allowed))]
    if "all_tenants" in invalid:
        invalid.remove("all_tenants")
        filters.pop("all_tenants")
    if invalid:
        raise InvalidRequest(f"Invalid filters {','.join(invalid)} are found in query options.")
    return filters


def split_like(filters: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(plain filters, like filters): Cinder reads a key ending in `~` as a
    substring match on the field named without it (`name~=ab`: name LIKE %ab%)."""
    plain: dict[str, str] = {}
    like: dict[str, str] = {}
    for key, value in filters.items():
        if key.endswith("~"):
            like[key[:-1]] = value
        else:
            plain[key] = value
    return plain, like



# --- 3.45 `with_count`, 3.65 `consumes_quota` ----------------------------------------


def bool_param(value: str, name: str) -> bool:
    """Cinder's utils.get_bool_param: a strict boolean string, else its 400."""
    if not strutils.is_valid_boolstr(value):
        raise InvalidRequest(f"Value '{value}' for '{name}' is not a boolean.")
    return strutils.bool_from_string(value, strict=True)


def take_with_count(
    params: Mapping[str, str], *, since_3_45: bool,
) -> tuple[Mapping[str, str], bool]:
    """(the query without `with_count`, whether the listing answers its `count`).

    From 3.45 Cinder takes `with_count` out of the query before it reads the
    filters (so it is never an invalid filter) and answers the number of
    resources matching them, whatever the page; below 3.45 it is just an
    unknown filter."""
    if not since_3_45 or "with_count" not in params:
        return params, False
    show = bool_param(params["with_count"], "with_count")
    return {k: v for k, v in params.items() if k != "with_count"}, show


def consumes_quota(plain: Mapping[str, str], *, since_3_65: bool) -> bool | None:
    """The `consumes_quota` filter (3.65; below it Cinder drops it): True, False
    or None when absent. Cinder reads it as `use_quota`, hence the name in its
    message."""
    if not since_3_65 or "consumes_quota" not in plain:
        return None
    return bool_param(plain["consumes_quota"], "use_quota")


def parse_time_filter(text: str) -> dict[str, datetime]:
    """`created_at=gt:2026-01-01T00:00:00,lte:...` (3.60) as {operator: naive UTC
    time}, with Cinder's messages (api/v3/volumes.py _handle_time_comparison_filters)."""
    out: dict[str, datetime] = {}
    for unit in text.split(","):
        parts = unit.split(":")
        operator = parts[0]
        when = ":".join(parts[1:]) if len(parts) > 1 else parts[0]
        if operator not in TIME_OPERATORS:
            raise InvalidRequest(f"Invalid {operator} operator")
        try:
            out[operator] = timeutils.normalize_time(timeutils.parse_isotime(when))
        except ValueError:
            raise InvalidRequest(f"Invalid {when} value") from None
    return out


# --- links ---------------------------------------------------------------------------


def base_url(request: Request) -> str:
    """scheme://host the client used (the Host header), for the links in bodies."""
    host = request.headers.get("host") or "localhost"
    return f"{request.scope.get('scheme', 'http')}://{host}"


def next_links(request: Request, marker: str) -> list[dict[str, str]]:
    """Cinder's `<collection>_links` of a full page: the same query, with `marker`
    set to the page's last id."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    query.append(("marker", marker))
    return [{"href": f"{base_url(request)}{request.url.path}?{urlencode(query)}",
             "rel": "next"}]
