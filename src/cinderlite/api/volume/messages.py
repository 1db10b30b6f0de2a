"""User messages API (microversion 3.3+): GET/DELETE /v3[/{project_id}]/messages[/{id}]."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.listing import parse_offset, parse_page, query_filters, split_like
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.domain.records import UserMessageRecord
from cinderlite.services import messages as messages_service

# Cinder answers a method missing at this microversion with webob's plain 404 text.
NOT_AT_VERSION = "The resource could not be found."


def _check_version(ctx: VolumeContext) -> None:
    if ctx.api != "v3" or not ctx.version.at_least(3, 3):
        raise NotFound(NOT_AT_VERSION)


def message_view(base: str, ctx: VolumeContext, m: UserMessageRecord) -> dict[str, Any]:
    """Cinder's api/v3/views/messages.py keys; `base` is the volume endpoint's URL."""
    project = ctx.url_project_id or m.project_id
    view: dict[str, Any] = {
        "id": m.id,
        "event_id": m.event_id,
        "user_message": messages_service.user_message(m),
        "message_level": m.message_level,
        "created_at": timestamp(m.created_at),
        # The row's expires_at, under the name Cinder's view gives it.
        "guaranteed_until": timestamp(m.expires_at),
        "request_id": m.request_id,
        "links": [
            {"href": f"{base}/v3/{project}/messages/{m.id}", "rel": "self"},
            {"href": f"{base}/{project}/messages/{m.id}", "rel": "bookmark"},
        ],
    }
    # Cinder shows the resource only when the message has one.
    if m.resource_type:
        view["resource_type"] = m.resource_type
    if m.resource_uuid:
        view["resource_uuid"] = m.resource_uuid
    return view


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


# Cinder's message columns a listing may be sorted on.
SORT_KEYS = frozenset({"id", "created_at", "expires_at", "event_id", "message_level",
                       "resource_type", "resource_uuid", "request_id", "project_id"})
FILTER_KEYS = ("resource_uuid", "resource_type", "event_id", "request_id", "message_level")


async def list_messages(api: VolumeApi, ctx: VolumeContext, query: Mapping[str, str]) -> Response:
    _check_version(ctx)
    if ctx.version.at_least(3, 5):
        return await _page(api, ctx, query)
    limit: int | None = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
            if limit < 0:
                raise ValueError
        except ValueError:
            raise InvalidRequest("limit param must be an integer") from None
    found = await api.messages.list(
        ctx.caller, project_id=ctx.project_id, resource_uuid=query.get("resource_uuid"),
        limit=limit,
    )
    return _json({"messages": [message_view(api.volume_url, ctx, m) for m in found]})


async def _page(api: VolumeApi, ctx: VolumeContext, query: Mapping[str, str]) -> Response:
    """3.5+: marker, limit, offset and sort (Cinder's common pagination); the filters
    checked from 3.31 and `key~` from 3.34 (listing.query_filters)."""
    limit, sort = parse_page(query, SORT_KEYS)
    offset = parse_offset(query)
    general = ctx.version.at_least(3, 31)
    raw = query_filters(query, "message", is_admin=ctx.caller.is_admin, general=general,
                        like=general and ctx.version.at_least(3, 34))
    plain, like = split_like(raw) if general else (raw, {})
    found = await api.messages.page(
        ctx.caller, project_id=ctx.project_id,
        filters={k: v for k, v in plain.items() if k in FILTER_KEYS},
        like={k: v for k, v in like.items() if k in FILTER_KEYS},
        sort=sort, limit=limit, offset=offset, marker=query.get("marker"),
    )
    return _json({"messages": [message_view(api.volume_url, ctx, m) for m in found]})


async def show_message(api: VolumeApi, ctx: VolumeContext, message_id: str) -> Response:
    _check_version(ctx)
    m = await api.messages.get(ctx.caller, project_id=ctx.project_id, message_id=message_id)
    return _json({"message": message_view(api.volume_url, ctx, m)})


async def delete_message(api: VolumeApi, ctx: VolumeContext, message_id: str) -> Response:
    _check_version(ctx)
    await api.messages.delete(ctx.caller, project_id=ctx.project_id, message_id=message_id)
    return Response(status_code=204)
