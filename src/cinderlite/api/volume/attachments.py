"""The attachments API (3.27; `os-complete` 3.44): /v3[/{project_id}]/attachments.

Paths, bodies and messages as Cinder's v3 attachments controller and its views
(cinder/api/v3/attachments.py, views/attachments.py).
"""

from __future__ import annotations

from typing import Any

from oslo_utils import uuidutils
from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import deps, schemas
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import parse_offset, parse_page, query_filters, split_like
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.errors import InvalidRequest, MalformedRequest, NotFound
from cinderlite.domain.records import AttachmentRecord
from cinderlite.services.attachments import FILTER_KEYS, NO_MODE, SORT_KEYS, AttachmentQuery

NOT_FOUND = "The resource could not be found."


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def _check_version(ctx: VolumeContext, minor: int = 27) -> None:
    """Below the version a method comes at Cinder answers its plain 404."""
    if ctx.api != "v3" or not ctx.version.at_least(3, minor):
        raise NotFound(NOT_FOUND)


def summary(a: AttachmentRecord) -> dict[str, Any]:
    return {"id": a.id, "status": a.attach_status, "instance": a.instance_uuid,
            "volume_id": a.volume_id}


def detail(a: AttachmentRecord) -> dict[str, Any]:
    return {
        **summary(a),
        "attached_at": timestamp(a.attached_at) or "",
        "detached_at": timestamp(a.detached_at) or "",
        "attach_mode": a.attach_mode,
        "connection_info": dict(a.connection_info or {}),
    }


def _uuid_field(value: object, name: str) -> None:
    if value is not None and not uuidutils.is_uuid_like(value):
        raise InvalidRequest(
            f"Invalid input for field/attribute {name}. Value: {value}. "
            f"'{value}' is not a 'uuid'"
        )


async def create(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    _check_version(ctx)
    with_mode = ctx.version.at_least(3, 54)
    schema = schemas.ATTACHMENT_CREATE_V354 if with_mode else schemas.ATTACHMENT_CREATE
    a = schemas.validate(schema, None if body is NO_BODY else body)["attachment"]
    _uuid_field(a.get("instance_uuid"), "instance_uuid")
    _uuid_field(a["volume_uuid"], "volume_uuid")
    made = await api.attachments.create(
        ctx.caller, a["volume_uuid"], instance_uuid=a.get("instance_uuid"),
        connector=a.get("connector"),
        # 3.54: the mode given, else "null" so that the connector's mode counts (Cinder).
        **({"mode": a.get("mode", NO_MODE)} if with_mode else {}),
    )
    return _json({"attachment": detail(made)})


async def update(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    _check_version(ctx)
    a = schemas.validate(schemas.ATTACHMENT_UPDATE, None if body is NO_BODY else body)
    done = await api.attachments.update(ctx.caller, args[0], a["attachment"]["connector"])
    return _json({"attachment": detail(done)})


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    _check_version(ctx)
    return _json({"attachment": detail(await api.attachments.get(ctx.caller, args[0]))})


async def delete(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    _check_version(ctx)
    left = await api.attachments.delete(ctx.caller, args[0])
    return _json({"attachments": [summary(a) for a in left]})


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, full=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, full=True)


async def _list(api: VolumeApi, ctx: VolumeContext, request: Request, *, full: bool) -> Response:
    """Cinder's _items: paging and sorting, then the filters (below 3.31 a
    non-admin's unknown ones are dropped; from 3.31 they are a 400)."""
    _check_version(ctx)
    params = request.query_params
    limit, sort = parse_page(params, SORT_KEYS | {"created_at"})
    general = ctx.version.at_least(3, 31)
    raw = query_filters(params, "attachment", is_admin=ctx.caller.is_admin, general=general,
                        like=general and ctx.version.at_least(3, 34))
    plain, like = split_like(raw) if general else (raw, {})
    found = await api.attachments.find(ctx.caller, AttachmentQuery(
        filters={k: v for k, v in plain.items() if k in FILTER_KEYS},
        like={k: v for k, v in like.items() if k in FILTER_KEYS},
        all_tenants="all_tenants" in params, sort=sort,
        limit=None if "limit" not in params else limit, offset=parse_offset(params),
        marker=params.get("marker"),
    ))
    view = detail if full else summary
    return _json({"attachments": [view(a) for a in found]})


async def action(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    """POST attachments/{id}/action: only `os-complete` (3.44)."""
    if not isinstance(body, dict) or len(body) != 1 or "os-complete" not in body:
        name = next(iter(body)) if isinstance(body, dict) and len(body) == 1 else None
        raise MalformedRequest(deps.no_such_action(name))
    _check_version(ctx, 44)
    schemas.validate(schemas.ATTACHMENT_COMPLETE, body)
    await api.attachments.complete(ctx.caller, args[0])
    return Response(status_code=204)


_ID = r"([^/]+)"
# (pattern, method, handler); v3 only.
ROUTES = (
    (r"/attachments", "GET", list_summary),
    (r"/attachments", "POST", create),
    (r"/attachments/detail", "GET", list_detail),
    (rf"/attachments/{_ID}", "GET", show),
    (rf"/attachments/{_ID}", "PUT", update),
    (rf"/attachments/{_ID}", "DELETE", delete),
    (rf"/attachments/{_ID}/action", "POST", action),
)
