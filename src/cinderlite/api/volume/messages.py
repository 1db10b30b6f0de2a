"""User messages API (microversion 3.3+): GET/DELETE /v3[/{project_id}]/messages[/{id}]."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeApi, VolumeContext
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
    return {
        "id": m.id,
        "event_id": m.event_id,
        "user_message": messages_service.user_message(m),
        "message_level": m.message_level,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "created_at": timestamp(m.created_at),
        "expires_at": timestamp(m.expires_at),
        "request_id": m.request_id,
        "links": [
            {"href": f"{base}/v3/{project}/messages/{m.id}", "rel": "self"},
            {"href": f"{base}/{project}/messages/{m.id}", "rel": "bookmark"},
        ],
    }


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


async def list_messages(api: VolumeApi, ctx: VolumeContext, query: Mapping[str, str]) -> Response:
    _check_version(ctx)
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


async def show_message(api: VolumeApi, ctx: VolumeContext, message_id: str) -> Response:
    _check_version(ctx)
    m = await api.messages.get(ctx.caller, project_id=ctx.project_id, message_id=message_id)
    return _json({"message": message_view(api.volume_url, ctx, m)})


async def delete_message(api: VolumeApi, ctx: VolumeContext, message_id: str) -> Response:
    _check_version(ctx)
    await api.messages.delete(ctx.caller, project_id=ctx.project_id, message_id=message_id)
    return Response(status_code=204)
