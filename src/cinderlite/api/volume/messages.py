"""User messages API (microversion 3.3+): GET/DELETE /v3[/{project_id}]/messages[/{id}]."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeContext
from cinderlite.db import messages as messages_db
from cinderlite.db.models import UserMessage
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.services import messages as messages_service
from cinderlite.services import policy as rules

if TYPE_CHECKING:
    from cinderlite.app import Runtime

# Cinder answers a method missing at this microversion with webob's plain 404 text.
NOT_AT_VERSION = "The resource could not be found."


class MessageNotFound(NotFound):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"Message {message_id} could not be found.")


def _check_version(ctx: VolumeContext) -> None:
    if ctx.api != "v3" or not ctx.version.at_least(3, 3):
        raise NotFound(NOT_AT_VERSION)


def _timestamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def message_view(rt: Runtime, ctx: VolumeContext, m: UserMessage) -> dict[str, Any]:
    """Cinder's api/v3/views/messages.py keys."""
    base = rt.settings.volume_url()
    project = ctx.url_project_id or m.project_id
    return {
        "id": m.id,
        "event_id": m.event_id,
        "user_message": messages_service.user_message(m),
        "message_level": m.message_level,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "created_at": _timestamp(m.created_at),
        "expires_at": _timestamp(m.expires_at),
        "request_id": m.request_id,
        "links": [
            {"href": f"{base}/v3/{project}/messages/{m.id}", "rel": "self"},
            {"href": f"{base}/{project}/messages/{m.id}", "rel": "bookmark"},
        ],
    }


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")


async def _visible(rt: Runtime, ctx: VolumeContext, message_id: str) -> UserMessage:
    async with rt.transaction() as db:
        m = await messages_db.get(db, message_id=message_id, now=utcnow())
    # Like Cinder's project_only queries: other projects' messages do not exist
    # for non-admins.
    if m is None or (not ctx.caller.is_admin and m.project_id != ctx.project_id):
        raise MessageNotFound(message_id)
    return m


async def list_messages(rt: Runtime, ctx: VolumeContext, query: Mapping[str, str]) -> Response:
    _check_version(ctx)
    rt.policy.authorize(ctx.caller, rules.MESSAGE_GET_ALL, {"project_id": ctx.project_id})
    limit: int | None = None
    if "limit" in query:
        try:
            limit = int(query["limit"])
            if limit < 0:
                raise ValueError
        except ValueError:
            raise InvalidRequest("limit param must be an integer") from None
    async with rt.transaction() as db:
        found = await messages_db.list_for_project(
            db, project_id=None if ctx.caller.is_admin else ctx.project_id, now=utcnow(),
            resource_uuid=query.get("resource_uuid"), limit=limit,
        )
    return _json({"messages": [message_view(rt, ctx, m) for m in found]})


async def show_message(rt: Runtime, ctx: VolumeContext, message_id: str) -> Response:
    _check_version(ctx)
    m = await _visible(rt, ctx, message_id)
    rt.policy.authorize(ctx.caller, rules.MESSAGE_GET, {"project_id": m.project_id})
    return _json({"message": message_view(rt, ctx, m)})


async def delete_message(rt: Runtime, ctx: VolumeContext, message_id: str) -> Response:
    _check_version(ctx)
    m = await _visible(rt, ctx, message_id)
    rt.policy.authorize(ctx.caller, rules.MESSAGE_DELETE, {"project_id": m.project_id})
    async with rt.transaction() as db:
        await messages_db.delete_one(db, message_id=message_id)
    return Response(status_code=204)
