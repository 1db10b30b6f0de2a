"""Quotas and limits: /os-quota-sets/{project_id} (show, defaults, update, delete),
/os-quota-class-sets/{class_name} (show, update) and /limits, on /v2 and /v3.

Paths, bodies, statuses and messages as Cinder's cinder/api/contrib/quotas.py,
quota_classes.py, cinder/api/v3/limits.py with os-used-limits, and
cinder/api/schemas/quotas.py, quota_classes.py.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import schemas
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import bool_param

_ID = r"([^/]+)"

QUOTA_SET_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"quota_set": {"type": "object", "minProperties": 1}},
    "required": ["quota_set"],
    "additionalProperties": False,
}
QUOTA_CLASS_SET_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {"quota_class_set": {"type": "object", "minProperties": 1}},
    "required": ["quota_class_set"],
    "additionalProperties": False,
}


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    raw = request.query_params.get("usage")
    usage = bool_param(raw, "usage") if raw is not None else False
    values = await api.quotas.show(ctx.caller, args[0], usage=usage)
    return _json({"quota_set": {**values, "id": args[0]}})


async def defaults(api: VolumeApi, ctx: VolumeContext, request: Request,
                   args: tuple[str, ...], body: object) -> Response:
    values = await api.quotas.defaults(ctx.caller, args[0])
    return _json({"quota_set": {**values, "id": args[0]}})


async def update(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    valid = schemas.validate(QUOTA_SET_UPDATE, None if body is NO_BODY else body)
    values = await api.quotas.update(ctx.caller, args[0], valid["quota_set"])
    # Cinder's update answers without the `id`.
    return _json({"quota_set": values})


async def delete(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    await api.quotas.delete(ctx.caller, args[0])
    return Response(status_code=200)


async def class_show(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    values = await api.quotas.class_show(ctx.caller, args[0])
    return _json({"quota_class_set": {**values, "id": args[0]}})


async def class_update(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    valid = schemas.validate(QUOTA_CLASS_SET_UPDATE, None if body is NO_BODY else body)
    values = await api.quotas.class_update(ctx.caller, args[0], valid["quota_class_set"])
    return _json({"quota_class_set": values})


async def limits(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    """The caller's project's limits; an admin may name another with `project_id`
    (or `tenant_id`) from 3.39 (Cinder LIMITS_ADMIN_FILTER)."""
    project_id = ctx.project_id
    if ctx.caller.is_admin and ctx.api == "v3" and ctx.version.at_least(3, 39):
        params = request.query_params
        project_id = params.get("project_id", params.get("tenant_id", project_id))
    absolute = await api.quotas.absolute_limits(project_id)
    return _json({"limits": {"rate": [], "absolute": absolute}})


ROUTES: tuple[tuple[str, str, Any], ...] = (
    (rf"/os-quota-sets/{_ID}/defaults", "GET", defaults),
    (rf"/os-quota-sets/{_ID}", "GET", show),
    (rf"/os-quota-sets/{_ID}", "PUT", update),
    (rf"/os-quota-sets/{_ID}", "DELETE", delete),
    (rf"/os-quota-class-sets/{_ID}", "GET", class_show),
    (rf"/os-quota-class-sets/{_ID}", "PUT", class_update),
    (r"/limits", "GET", limits),
)
