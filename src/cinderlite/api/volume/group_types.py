"""The group types API (3.11): /v3[/{project_id}]/group_types and their group specs.

Paths, bodies, statuses and messages as Cinder's group types and group specs
controllers (cinder/api/v3/group_types.py, group_specs.py,
v3/views/group_types.py). Below 3.11 every path answers 404.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import group_schemas as gs
from cinderlite.api.volume import schemas
from cinderlite.api.volume.context import ApiVersion, VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import next_links, parse_offset, parse_page
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.domain.records import GroupTypeRecord as GroupType
from cinderlite.services.group_types import SORT_KEYS, GroupTypeQuery

GROUP_TYPE = ApiVersion(3, 11)
NOT_FOUND = "The resource could not be found."


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def _gate(ctx: VolumeContext, version: ApiVersion = GROUP_TYPE) -> None:
    if ctx.api != "v3" or ctx.version < version:
        raise NotFound(NOT_FOUND)


def view(api: VolumeApi, ctx: VolumeContext, t: GroupType) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": t.id, "name": t.name, "description": t.description, "is_public": t.is_public,
    }
    if api.group_types.shows_specs(ctx.caller):
        body["group_specs"] = dict(t.group_specs or {})
    return body


def _parse_is_public(raw: str | None) -> bool | None:
    """cinder/api/api_utils.py _parse_is_public."""
    if raw is None:
        return True
    if raw.strip().lower() == "none":
        return None
    value = raw.strip().lower()
    if value in schemas.TRUE_STRINGS:
        return True
    if value in ("false", "0", "off", "no", "n", "f"):
        return False
    raise InvalidRequest(f"Invalid is_public filter [{raw}]")


async def list_types(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    params = request.query_params
    limit, sort = parse_page(params, SORT_KEYS)
    query = GroupTypeQuery(
        is_public=_parse_is_public(params.get("is_public")), sort=sort, limit=limit,
        marker=params.get("marker"), offset=parse_offset(params),
    )
    found = await api.group_types.list_types(ctx.caller, query)
    out: dict[str, Any] = {"group_types": [view(api, ctx, t) for t in found]}
    if limit is not None and found and len(found) >= limit:
        out["group_type_links"] = next_links(request, found[-1].id)
    return _json(out)


async def show_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    if args[0] == "default":
        found = await api.group_types.default()
    else:
        found = await api.group_types.get(ctx.caller, args[0])
    return _json({"group_type": view(api, ctx, found)})


async def create_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    t = gs.validate(gs.GROUP_TYPE_CREATE, None if body is NO_BODY else body)["group_type"]
    gs.check_name(t["name"])
    is_public = schemas.to_bool(t["is_public"]) if "is_public" in t else True
    created = await api.group_types.create(
        ctx.caller, name=t["name"], description=t.get("description"),
        specs=t.get("group_specs") or {}, is_public=is_public,
    )
    return _json({"group_type": view(api, ctx, created)}, 202)


async def update_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    t = gs.validate(gs.GROUP_TYPE_UPDATE, None if body is NO_BODY else body)["group_type"]
    is_public = schemas.to_bool(t["is_public"]) if t.get("is_public") is not None else None
    updated = await api.group_types.update(
        ctx.caller, args[0], name=t.get("name"), description=t.get("description"),
        is_public=is_public,
    )
    return _json({"group_type": view(api, ctx, updated)})


async def delete_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    await api.group_types.delete(ctx.caller, args[0])
    return Response(status_code=202)


async def list_specs(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    return _json({"group_specs": await api.group_types.get_specs(ctx.caller, args[0])})


async def create_specs(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    specs = gs.validate(gs.GROUP_SPECS_CREATE, None if body is NO_BODY else body)
    await api.group_types.set_specs(ctx.caller, args[0], specs["group_specs"])
    return _json(specs, 202)


async def show_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    return _json({args[1]: await api.group_types.get_spec(ctx.caller, args[0], args[1])})


async def update_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    spec = gs.validate(gs.GROUP_SPECS_UPDATE, None if body is NO_BODY else body)
    await api.group_types.set_specs(ctx.caller, args[0], spec, uri_key=args[1])
    return _json(spec)


async def delete_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    await api.group_types.delete_spec(ctx.caller, args[0], args[1])
    return Response(status_code=202)


_ID = r"([^/]+)"
ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/group_types", "GET", list_types),
    (r"/group_types", "POST", create_type),
    (rf"/group_types/{_ID}", "GET", show_type),
    (rf"/group_types/{_ID}", "PUT", update_type),
    (rf"/group_types/{_ID}", "DELETE", delete_type),
    (rf"/group_types/{_ID}/group_specs", "GET", list_specs),
    (rf"/group_types/{_ID}/group_specs", "POST", create_specs),
    (rf"/group_types/{_ID}/group_specs/{_ID}", "GET", show_spec),
    (rf"/group_types/{_ID}/group_specs/{_ID}", "PUT", update_spec),
    (rf"/group_types/{_ID}/group_specs/{_ID}", "DELETE", delete_spec),
)

__all__ = ["GROUP_TYPE", "ROUTES", "view"]
