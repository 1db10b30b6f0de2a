"""The snapshots API: /v3[/{project_id}]/snapshots and /v2/{project_id}/snapshots.

Paths, bodies, statuses and messages as Cinder's v3 snapshots controller, its
snapshot metadata controller and the snapshot admin and snapshot actions
extensions (cinder/api/v3/snapshots.py, snapshot_metadata.py,
contrib/admin_actions.py, contrib/snapshot_actions.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import deps, schemas
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import (
    consumes_quota,
    next_links,
    parse_metadata_filter,
    parse_offset,
    parse_page,
    query_filters,
    split_like,
    take_with_count,
)
from cinderlite.api.volume.views import CONSUMES_QUOTA, timestamp
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.domain.records import SnapshotRecord
from cinderlite.services import policy as P
from cinderlite.services.snapshots import SORT_KEYS, SnapshotCreate, SnapshotQuery

# cinder/api/v3/snapshots.py, word for word.
SNAPSHOT_IN_USE_FLAG_MSG = (
    "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward "
    "compatability, however, when the 'force' flag is passed with a value evaluating to "
    "True, it is silently ignored."
)


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


# --- views (cinder/api/views/snapshots.py, v3/views/snapshots.py) ----------------------


def view(
    api: VolumeApi, ctx: VolumeContext, s: SnapshotRecord, *, extended: bool
) -> dict[str, Any]:
    """A snapshot as Cinder shows it: `group_snapshot_id` from 3.14, `user_id` from
    3.41, `consumes_quota` from 3.65 (every snapshot here is a user's).
    `extended`: the extended snapshot attributes, which show and the detail
    listing add when their policy allows."""
    body: dict[str, Any] = {
        "id": s.id,
        "created_at": timestamp(s.created_at),
        "updated_at": timestamp(s.updated_at),
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id,
        "status": s.status,
        "size": s.volume_size,
        "metadata": {str(k): str(v) for k, v in (s.meta or {}).items()},
    }
    if ctx.api == "v3" and ctx.version.at_least(3, 14):
        body["group_snapshot_id"] = s.group_snapshot_id
    if ctx.api == "v3" and ctx.version.at_least(3, 41):
        body["user_id"] = s.user_id
    if ctx.api == "v3" and ctx.version.at_least(3, 65):
        body["consumes_quota"] = CONSUMES_QUOTA
    if extended and api.snapshots.shows_extended(ctx.caller, s.project_id, s.user_id):
        body["os-extended-snapshot-attributes:progress"] = s.progress
        body["os-extended-snapshot-attributes:project_id"] = s.project_id
    return body


# --- handlers ---------------------------------------------------------------------------


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, detail=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, detail=True)


def parse_query(params: Any, ctx: VolumeContext | None = None) -> SnapshotQuery:
    """limit/offset/marker/sort and the filters of Cinder's snapshot listing at the
    request's microversion (without `ctx`: 3.0): name, status, volume_id
    (project_id and all_tenants for admins); `metadata` from 3.22 (below it Cinder
    drops it); from 3.31 a non-admin's unknown filter is a 400 and from 3.34
    `key~` is a substring match (listing.query_filters); `consumes_quota` from 3.65."""
    limit, sort = parse_page(params, SORT_KEYS)
    version = ctx.version if ctx is not None and ctx.api == "v3" else None
    general = version is not None and version.at_least(3, 31)
    raw = query_filters(
        params, "snapshot", is_admin=ctx is None or ctx.caller.is_admin, general=general,
        like=general and version is not None and version.at_least(3, 34),
    )
    plain, like = split_like(raw) if general else (raw, {})
    filters: dict[str, Any] = {}
    for key in ("name", "status", "volume_id", "availability_zone"):
        if key in plain:
            filters[key] = plain[key]
    if "display_name" in plain and "name" not in filters:
        filters["name"] = plain["display_name"]
    metadata = None
    if version is not None and version.at_least(3, 22) and "metadata" in plain:
        metadata = parse_metadata_filter(plain["metadata"])
    all_tenants = params.get("all_tenants", "0").strip().lower() in schemas.TRUE_STRINGS
    quota = consumes_quota(plain, since_3_65=version is not None and version.at_least(3, 65))
    return SnapshotQuery(
        filters=filters, metadata=metadata, sort=sort, limit=limit, marker=params.get("marker"),
        offset=parse_offset(params),
        all_tenants=all_tenants, project_id=params.get("project_id"),
        like={k: v for k, v in like.items() if k in ("name", "description", "status")},
        unmatched=quota is not None and quota != CONSUMES_QUOTA,
    )


async def _list(api: VolumeApi, ctx: VolumeContext, request: Request, *, detail: bool) -> Response:
    params, show_count = take_with_count(
        request.query_params, since_3_45=ctx.api == "v3" and ctx.version.at_least(3, 45)
    )
    query = parse_query(params, ctx)
    found = await api.snapshots.list_snapshots(ctx.caller, query)
    # Cinder's summary and detail bodies are the same but for the extensions.
    body: dict[str, Any] = {"snapshots": [view(api, ctx, s, extended=detail) for s in found]}
    if query.limit is not None and found and len(found) >= query.limit:
        body["snapshots_links"] = next_links(request, found[-1].id)
    if show_count:
        body["count"] = await api.snapshots.count_snapshots(ctx.caller, query)
    return _json(body)


async def create(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    s = schemas.validate(schemas.SNAPSHOT_CREATE, None if body is NO_BODY else body)["snapshot"]
    if s.get("volume_id") is None:
        # Cinder: a null volume_id passes the schema and is then looked up.
        raise NotFound("Volume None could not be found.")
    force = schemas.to_bool(s["force"]) if s.get("force") is not None else False
    if ctx.api == "v3" and ctx.version.at_least(3, 66):
        # 3.66: an in-use volume is snapshotted without `force`; a false `force`
        # is refused once the volume is found, a true one silently ignored.
        if s.get("force") is not None and not force:
            await api.volumes.load(ctx.caller, str(s["volume_id"]))
            raise InvalidRequest(SNAPSHOT_IN_USE_FLAG_MSG)
        force = True
    name = s.get("name") if s.get("name") is not None else s.get("display_name")
    created = await api.snapshots.create(
        ctx.caller,
        SnapshotCreate(
            volume_id=str(s["volume_id"]), name=_clean(name), description=_clean(
                s.get("description")
            ), metadata=s.get("metadata") or {}, force=force,
        ),
        request_id=ctx.request_id,
    )
    return _json({"snapshot": view(api, ctx, created, extended=False)}, 202)


def _clean(text: str | None) -> str | None:
    """Cinder's clean_name_and_description: surrounding white space goes."""
    return text.strip() if isinstance(text, str) else text


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    found = await api.snapshots.get(ctx.caller, args[0])
    return _json({"snapshot": view(api, ctx, found, extended=True)})


async def update(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    s = schemas.validate(schemas.SNAPSHOT_UPDATE, None if body is NO_BODY else body)["snapshot"]
    changes: dict[str, Any] = {}
    for key, alias in (("name", "display_name"), ("description", "display_description")):
        if key in s:
            changes[key] = _clean(s[key])
        elif alias in s:
            changes[key] = _clean(s[alias])
    found = await api.snapshots.update(ctx.caller, args[0], changes)
    return _json({"snapshot": view(api, ctx, found, extended=False)})


async def delete(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    await api.snapshots.delete(ctx.caller, args[0])
    return Response(status_code=202)


# --- metadata (cinder/api/v3/snapshot_metadata.py) -----------------------------------


async def show_metadata(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    return _json({"metadata": await api.snapshots.get_metadata(ctx.caller, args[0])})


async def merge_metadata(api: VolumeApi, ctx: VolumeContext, request: Request,
                         args: tuple[str, ...], body: object) -> Response:
    items = schemas.validate(schemas.METADATA, None if body is NO_BODY else body)["metadata"]
    return _json({"metadata": await api.snapshots.change_metadata(
        ctx.caller, args[0], items=items,
    )})


async def replace_metadata(api: VolumeApi, ctx: VolumeContext, request: Request,
                           args: tuple[str, ...], body: object) -> Response:
    items = schemas.validate(schemas.METADATA, None if body is NO_BODY else body)["metadata"]
    return _json({"metadata": await api.snapshots.change_metadata(
        ctx.caller, args[0], items=items, replace=True,
    )})


async def show_metadata_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                             args: tuple[str, ...], body: object) -> Response:
    meta = await api.snapshots.get_metadata(ctx.caller, args[0])
    if args[1] not in meta:
        raise NotFound(f"Snapshot {args[0]} has no metadata with key {args[1]}.")
    return _json({"meta": {args[1]: meta[args[1]]}})


async def update_metadata_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                               args: tuple[str, ...], body: object) -> Response:
    item = schemas.validate(schemas.METADATA_ITEM, None if body is NO_BODY else body)["meta"]
    if args[1] not in item:
        raise InvalidRequest("Request body and URI mismatch")
    await api.snapshots.change_metadata(ctx.caller, args[0], items=item)
    return _json({"meta": item})


async def delete_metadata_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                               args: tuple[str, ...], body: object) -> Response:
    await api.snapshots.change_metadata(ctx.caller, args[0], items={}, delete_key=args[1])
    return Response(status_code=200)


# --- actions --------------------------------------------------------------------------

Action = Callable[[VolumeApi, VolumeContext, str, dict[str, Any]], Awaitable[Response]]


async def _reset_status(
    api: VolumeApi, ctx: VolumeContext, snapshot_id: str, body: dict[str, Any]
) -> Response:
    args = schemas.validate(schemas.SNAPSHOT_RESET_STATUS, body)["os-reset_status"]
    await api.snapshots.reset_status(ctx.caller, snapshot_id, args["status"].lower())
    return Response(status_code=202)


async def _force_delete(
    api: VolumeApi, ctx: VolumeContext, snapshot_id: str, body: dict[str, Any]
) -> Response:
    schemas.validate(schemas.SNAPSHOT_FORCE_DELETE, body)
    await api.snapshots.force_delete(ctx.caller, snapshot_id)
    return Response(status_code=202)


async def _update_status(
    api: VolumeApi, ctx: VolumeContext, snapshot_id: str, body: dict[str, Any]
) -> Response:
    args = schemas.validate(schemas.SNAPSHOT_UPDATE_STATUS, body)["os-update_snapshot_status"]
    progress = args.get("progress")
    if progress:
        # cinder/api/validation/validators.py, the `progress` format.
        try:
            percent = int(progress[:-1])
        except ValueError:
            raise InvalidRequest(
                "Invalid input received: progress must be an integer percentage"
            ) from None
        if not 0 <= percent <= 100 or progress[-1] != "%":
            raise InvalidRequest(
                "Invalid input received: progress must be an integer percentage between 0 "
                "and 100"
            )
    await api.snapshots.update_status(
        ctx.caller, snapshot_id, args["status"], progress=args.get("progress")
    )
    return Response(status_code=202)


ACTIONS: dict[str, Action] = {
    "os-reset_status": _reset_status,
    "os-force_delete": _force_delete,
    "os-update_snapshot_status": _update_status,
}


async def action(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    _, handler = deps.find_action(body, ACTIONS)
    deps.check_project(ctx)
    assert isinstance(body, dict)  # find_action refuses anything else
    return await handler(api, ctx, args[0], body)


_ID = r"([^/]+)"
# (pattern, method, handler) of the snapshot routes; the volume API's dispatcher
# serves them on /v2 and /v3 like its own.
ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/snapshots", "GET", list_summary),
    (r"/snapshots", "POST", create),
    (r"/snapshots/detail", "GET", list_detail),
    (rf"/snapshots/{_ID}", "GET", show),
    (rf"/snapshots/{_ID}", "PUT", update),
    (rf"/snapshots/{_ID}", "DELETE", delete),
    (rf"/snapshots/{_ID}/action", "POST", action),
    (rf"/snapshots/{_ID}/metadata", "GET", show_metadata),
    (rf"/snapshots/{_ID}/metadata", "POST", merge_metadata),
    (rf"/snapshots/{_ID}/metadata", "PUT", replace_metadata),
    (rf"/snapshots/{_ID}/metadata/{_ID}", "GET", show_metadata_item),
    (rf"/snapshots/{_ID}/metadata/{_ID}", "PUT", update_metadata_item),
    (rf"/snapshots/{_ID}/metadata/{_ID}", "DELETE", delete_metadata_item),
)

__all__ = ["ACTIONS", "ROUTES", "P", "parse_query", "view"]
