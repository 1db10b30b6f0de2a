"""The group snapshots API (3.14+): /v3[/{project_id}]/group_snapshots.

Paths, bodies, statuses and messages as Cinder's group snapshots controller and
its view (cinder/api/v3/group_snapshots.py, v3/views/group_snapshots.py): 3.14
create, list, show, delete; 3.19 `reset_status`; 3.29 filters, sorting and
pages on the listings (below it they list everything the caller may see).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import deps, schemas
from cinderlite.api.volume import group_schemas as gs
from cinderlite.api.volume.context import ApiVersion, VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.groups import (
    GROUP_PROJECT_ID,
    GROUP_SNAPSHOTS,
    LIKE_FILTER,
    RESOURCE_FILTER,
    gate,
)
from cinderlite.api.volume.listing import (
    next_links,
    parse_offset,
    parse_page,
    query_filters,
    split_like,
)
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.records import GroupSnapshotRecord as GroupSnapshot
from cinderlite.services.group_snapshots import SORT_KEYS, GroupSnapshotQuery

GROUP_SNAPSHOT_RESET_STATUS = ApiVersion(3, 19)
GROUP_SNAPSHOT_PAGINATION = ApiVersion(3, 29)


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def summary(s: GroupSnapshot) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "group_type_id": s.group_type_id}


def _shows_project(api: VolumeApi, ctx: VolumeContext) -> bool:
    return ctx.version >= GROUP_PROJECT_ID and api.group_snapshots.shows_project(ctx.caller)


def detail(s: GroupSnapshot, *, project: bool = False) -> dict[str, Any]:
    """Cinder's detail view; `project` (3.58, admins) adds `project_id`."""
    body = {
        "id": s.id, "group_id": s.group_id, "group_type_id": s.group_type_id,
        "status": s.status, "created_at": timestamp(s.created_at), "name": s.name,
        "description": s.description,
    }
    if project:
        body["project_id"] = s.project_id
    return body


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, is_detail=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, is_detail=True)


async def _list(api: VolumeApi, ctx: VolumeContext, request: Request, *, is_detail: bool
                ) -> Response:
    gate(ctx, GROUP_SNAPSHOTS)
    params = request.query_params
    # Below 3.29 Cinder reads no parameter at all: the caller's project, unpaged.
    query = GroupSnapshotQuery(filters={}, sort=[("created_at", "desc")], limit=None,
                               marker=None)
    if ctx.version >= GROUP_SNAPSHOT_PAGINATION:
        limit, sort = parse_page(params, SORT_KEYS)
        general = ctx.version >= RESOURCE_FILTER
        raw = query_filters(params, "group_snapshot", is_admin=ctx.caller.is_admin,
                            general=general, like=ctx.version >= LIKE_FILTER)
        plain, like = split_like(raw) if general else (raw, {})
        query = GroupSnapshotQuery(
            filters=plain, sort=sort, limit=limit, marker=params.get("marker"),
            all_tenants=params.get("all_tenants", "0").strip().lower() in schemas.TRUE_STRINGS,
            project_id=params.get("project_id"), offset=parse_offset(params),
            like={k: v for k, v in like.items() if k in ("name", "description", "status")},
        )
    found = await api.group_snapshots.list_group_snapshots(ctx.caller, query)
    project = _shows_project(api, ctx)
    items = [detail(s, project=project) if is_detail else
             {k: v for k, v in summary(s).items() if k != "group_type_id"} for s in found]
    out: dict[str, Any] = {"group_snapshots": items}
    if query.limit is not None and found and len(found) >= query.limit:
        out["group_snapshot_links"] = next_links(request, found[-1].id)
    return _json(out)


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    gate(ctx, GROUP_SNAPSHOTS)
    found = await api.group_snapshots.get(ctx.caller, args[0])
    return _json({"group_snapshot": detail(found, project=_shows_project(api, ctx))})


async def create(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    gate(ctx, GROUP_SNAPSHOTS)
    s = gs.validate(gs.GROUP_SNAPSHOT_CREATE, None if body is NO_BODY else body)[
        "group_snapshot"]
    created = await api.group_snapshots.create(
        ctx.caller, s["group_id"], name=s.get("name"), description=s.get("description"),
        request_id=ctx.request_id,
    )
    return _json({"group_snapshot": summary(created)}, 202)


async def delete(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    gate(ctx, GROUP_SNAPSHOTS)
    await api.group_snapshots.delete(ctx.caller, args[0])
    return Response(status_code=202)


async def action(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    deps.find_action(body, {"reset_status": None})
    deps.check_project(ctx)
    gate(ctx, GROUP_SNAPSHOT_RESET_STATUS)
    r = gs.validate(gs.RESET_STATUS, body)["reset_status"]
    status = gs.group_status(r["status"], snapshot=True)
    await api.group_snapshots.reset_status(ctx.caller, args[0], status)
    return Response(status_code=202)


_ID = r"([^/]+)"
ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/group_snapshots", "GET", list_summary),
    (r"/group_snapshots", "POST", create),
    (r"/group_snapshots/detail", "GET", list_detail),
    (rf"/group_snapshots/{_ID}", "GET", show),
    (rf"/group_snapshots/{_ID}", "DELETE", delete),
    (rf"/group_snapshots/{_ID}/action", "POST", action),
)

__all__ = ["ROUTES", "action", "detail", "summary"]
