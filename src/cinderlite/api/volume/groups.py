"""The generic volume groups API (3.13+): /v3[/{project_id}]/groups.

Paths, bodies, statuses and messages as Cinder's groups controller and its view
(cinder/api/v3/groups.py, v3/views/groups.py): 3.13 groups, 3.14
`create-from-src` and the source fields in the view, 3.20 `reset_status`, 3.25
`list_volume`, 3.38 `replication_status` and the replication actions. Below
3.13 every path answers 404, as do actions below their microversion.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import deps, schemas
from cinderlite.api.volume import group_schemas as gs
from cinderlite.api.volume.context import ApiVersion, VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import (
    next_links,
    parse_offset,
    parse_page,
    query_filters,
    split_like,
)
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.errors import NotFound
from cinderlite.domain.records import GroupRecord as Group
from cinderlite.services.groups import SORT_KEYS, GroupQuery

GROUP_VOLUME = ApiVersion(3, 13)
GROUP_SNAPSHOTS = ApiVersion(3, 14)
GROUP_VOLUME_RESET_STATUS = ApiVersion(3, 20)
GROUP_VOLUME_LIST = ApiVersion(3, 25)
RESOURCE_FILTER = ApiVersion(3, 31)
LIKE_FILTER = ApiVersion(3, 34)
GROUP_REPLICATION = ApiVersion(3, 38)
GROUP_PROJECT_ID = ApiVersion(3, 58)
NOT_FOUND = "The resource could not be found."


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def gate(ctx: VolumeContext, version: ApiVersion) -> None:
    if ctx.api != "v3" or ctx.version < version:
        raise NotFound(NOT_FOUND)


def _clean(text: str | None) -> str | None:
    return text.strip() if text else text


# --- views --------------------------------------------------------------------------


def summary(g: Group) -> dict[str, Any]:
    return {"id": g.id, "name": g.name}


def detail(
    ctx: VolumeContext, g: Group, type_ids: Sequence[str], volumes: Sequence[str] | None,
    *, shows_project: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": g.id, "status": g.status, "availability_zone": g.availability_zone,
        "created_at": timestamp(g.created_at), "name": g.name, "description": g.description,
        "group_type": g.group_type_id, "volume_types": list(type_ids),
    }
    if ctx.version >= GROUP_SNAPSHOTS:
        body["group_snapshot_id"] = g.group_snapshot_id
        body["source_group_id"] = g.source_group_id
    if ctx.version >= GROUP_VOLUME_LIST and volumes is not None:
        body["volumes"] = list(volumes)
    if ctx.version >= GROUP_REPLICATION:
        body["replication_status"] = g.replication_status
    if ctx.version >= GROUP_PROJECT_ID and shows_project:
        body["project_id"] = g.project_id
    return body


def _list_volume(ctx: VolumeContext, request: Request) -> bool:
    raw = request.query_params.get("list_volume", "false").strip().lower()
    return ctx.version >= GROUP_VOLUME_LIST and raw in schemas.TRUE_STRINGS


async def _details(
    api: VolumeApi, ctx: VolumeContext, request: Request, groups: Sequence[Group],
) -> list[dict[str, Any]]:
    ids = [g.id for g in groups]
    types = await api.groups.volume_types(ids)
    members = await api.groups.member_ids(ids) if _list_volume(ctx, request) else None
    project = api.groups.shows_project(ctx.caller)
    return [detail(ctx, g, types.get(g.id, []), None if members is None else members[g.id],
                   shows_project=project)
            for g in groups]


# --- handlers -----------------------------------------------------------------------


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, is_detail=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, is_detail=True)


async def _list(api: VolumeApi, ctx: VolumeContext, request: Request, *, is_detail: bool
                ) -> Response:
    gate(ctx, GROUP_VOLUME)
    params = request.query_params
    limit, sort = parse_page(params, SORT_KEYS)
    general = ctx.version >= RESOURCE_FILTER
    raw = query_filters(
        {k: v for k, v in params.items() if k != "list_volume"}, "group",
        is_admin=ctx.caller.is_admin, general=general, like=ctx.version >= LIKE_FILTER,
    )
    plain, like = split_like(raw) if general else (raw, {})
    query = GroupQuery(
        filters=plain, sort=sort, limit=limit, marker=params.get("marker"),
        all_tenants=params.get("all_tenants", "0").strip().lower() in schemas.TRUE_STRINGS,
        project_id=params.get("project_id"), offset=parse_offset(params),
        like={k: v for k, v in like.items() if k in ("name", "description", "status")},
    )
    found = await api.groups.list_groups(ctx.caller, query)
    items = await _details(api, ctx, request, found) if is_detail else [summary(g) for g in found]
    out: dict[str, Any] = {"groups": items}
    if limit is not None and found and len(found) >= limit:
        out["group_links"] = next_links(request, found[-1].id)
    return _json(out)


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    gate(ctx, GROUP_VOLUME)
    found = await api.groups.get(ctx.caller, args[0])
    return _json({"group": (await _details(api, ctx, request, [found]))[0]})


async def create(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    gate(ctx, GROUP_VOLUME)
    g = gs.validate(gs.GROUP_CREATE, None if body is NO_BODY else body)["group"]
    created = await api.groups.create(
        ctx.caller, name=_clean(g.get("name")), description=_clean(g.get("description")),
        group_type=g["group_type"], volume_types=g["volume_types"],
        availability_zone=g.get("availability_zone"),
    )
    return _json({"group": summary(created)}, 202)


async def update(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    gate(ctx, GROUP_VOLUME)
    g = gs.validate(gs.GROUP_UPDATE, None if body is NO_BODY else body)["group"]
    await api.groups.update(
        ctx.caller, args[0], name=_clean(g.get("name")),
        description=_clean(g.get("description")), add_volumes=g.get("add_volumes"),
        remove_volumes=g.get("remove_volumes"),
    )
    return Response(status_code=202)


# --- actions ------------------------------------------------------------------------

Action = Callable[[VolumeApi, VolumeContext, str, dict[str, Any]], Awaitable[Response]]


async def _delete(api: VolumeApi, ctx: VolumeContext, group_id: str,
                  body: dict[str, Any]) -> Response:
    d = gs.validate(gs.GROUP_DELETE, body)["delete"]
    delete_volumes = schemas.to_bool(d.get("delete-volumes", False))
    await api.groups.delete(ctx.caller, group_id, delete_volumes=delete_volumes)
    return Response(status_code=202)


async def _reset_status(api: VolumeApi, ctx: VolumeContext, group_id: str,
                        body: dict[str, Any]) -> Response:
    r = gs.validate(gs.RESET_STATUS, body)["reset_status"]
    status = gs.group_status(r["status"], snapshot=False)
    await api.groups.reset_status(ctx.caller, group_id, status)
    return Response(status_code=202)


async def _replication(api: VolumeApi, ctx: VolumeContext, group_id: str,
                       body: dict[str, Any]) -> Response:
    """enable/disable/failover_replication and list_replication_targets (3.38)."""
    name = next(iter(body))
    schema = {
        "enable_replication": gs.ENABLE_REPLICATION,
        "disable_replication": gs.DISABLE_REPLICATION,
        "failover_replication": gs.FAILOVER_REPLICATION,
        "list_replication_targets": gs.LIST_REPLICATION,
    }[name]
    gs.validate(schema, body)
    await api.group_replication.check_replication(ctx.caller, group_id, name)
    return _json({"replication_targets": []})


# name -> (microversion, handler)
ACTIONS: dict[str, tuple[ApiVersion, Action]] = {
    "delete": (GROUP_VOLUME, _delete),
    "reset_status": (GROUP_VOLUME_RESET_STATUS, _reset_status),
    "enable_replication": (GROUP_REPLICATION, _replication),
    "disable_replication": (GROUP_REPLICATION, _replication),
    "failover_replication": (GROUP_REPLICATION, _replication),
    "list_replication_targets": (GROUP_REPLICATION, _replication),
}


async def action(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    _, (version, handler) = deps.find_action(body, ACTIONS)
    deps.check_project(ctx)
    gate(ctx, version)
    assert isinstance(body, dict)
    response: Response = await handler(api, ctx, args[0], body)
    return response


async def collection_action(api: VolumeApi, ctx: VolumeContext, request: Request,
                            args: tuple[str, ...], body: object) -> Response:
    """POST /groups/action: `create-from-src` (3.14)."""
    _, (version, _) = deps.find_action(body, {"create-from-src": (GROUP_SNAPSHOTS, None)})
    deps.check_project(ctx)
    gate(ctx, version)
    c = gs.validate(gs.GROUP_CREATE_FROM_SRC, body)["create-from-src"]
    created = await api.groups.create_from_src(
        ctx.caller, name=_clean(c.get("name")), description=_clean(c.get("description")),
        group_snapshot_id=c.get("group_snapshot_id"), source_group_id=c.get("source_group_id"),
        request_id=ctx.request_id,
    )
    return _json({"group": summary(created)}, 202)


_ID = r"([^/]+)"
ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/groups", "GET", list_summary),
    (r"/groups", "POST", create),
    (r"/groups/detail", "GET", list_detail),
    (r"/groups/action", "POST", collection_action),
    (rf"/groups/{_ID}", "GET", show),
    (rf"/groups/{_ID}", "PUT", update),
    (rf"/groups/{_ID}/action", "POST", action),
)
ACTION_HANDLERS = (action, collection_action)

__all__ = ["ACTIONS", "ACTION_HANDLERS", "ROUTES", "detail", "gate", "summary"]
