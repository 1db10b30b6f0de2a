"""The volume transfer API: /os-volume-transfer on /v2 and /v3, and /volume-transfers
(3.55) on /v3.

Paths, bodies, statuses and messages as Cinder's os-volume-transfer extension
and its v3 volume-transfers controller (cinder/api/contrib/volume_transfer.py,
cinder/api/v3/volume_transfer.py, cinder/api/schemas/volume_transfer.py,
cinder/api/views/transfers.py). Microversions change the bodies: `no_snapshots`
in the create body and the views at 3.55, the giving and taking projects and
`accepted` at 3.57, pagination and sorting of the listings at 3.59. The
/volume-transfers paths are served from 3.55 (`since`): below it they answer
as Cinder answers a method its microversion does not reach, 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import schemas
from cinderlite.api.volume.context import ApiVersion, VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import MAX_LIMIT, base_url, parse_offset, parse_page
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.errors import NotFound
from cinderlite.domain.records import TransferRecord
from cinderlite.services.transfers import SORT_KEYS, TransferQuery

# The microversions that change this API (cinder/api/microversions.py).
TRANSFER_WITH_SNAPSHOTS = ApiVersion(3, 55)
TRANSFER_WITH_HISTORY = ApiVersion(3, 57)
SUPPORT_TRANSFER_PAGINATION = ApiVersion(3, 59)
# webob's HTTPNotFound text: what Cinder answers for a method below its microversion.
NOT_FOUND = "The resource could not be found."
# Cinder's view builder names every link after the extension, whichever path was asked.
COLLECTION = "os-volume-transfer"
# The listing's parameters that are not filters (Cinder common.get_pagination_params
# and get_sort_params take them out of the query before it filters).
_PAGE_PARAMS = frozenset({"limit", "offset", "marker", "sort", "sort_key", "sort_dir"})


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


# --- views (cinder/api/views/transfers.py) ----------------------------------------------


def links(base_url: str, ctx: VolumeContext, transfer_id: str) -> list[dict[str, str]]:
    base = base_url.rstrip("/")
    return [
        {"href": f"{base}/{ctx.api}/{ctx.project_id}/{COLLECTION}/{transfer_id}", "rel": "self"},
        {"href": f"{base}/{ctx.project_id}/{COLLECTION}/{transfer_id}", "rel": "bookmark"},
    ]


def summary(t: TransferRecord, ctx: VolumeContext, base_url: str) -> dict[str, Any]:
    return {"id": t.id, "volume_id": t.volume_id, "name": t.name,
            "links": links(base_url, ctx, t.id)}


def detail(t: TransferRecord, ctx: VolumeContext, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": t.id, "created_at": timestamp(t.created_at), "name": t.name,
        "volume_id": t.volume_id, "links": links(base_url, ctx, t.id),
    }
    return _versioned(body, t, ctx.version)


def _versioned(body: dict[str, Any], t: TransferRecord, version: ApiVersion) -> dict[str, Any]:
    if version >= TRANSFER_WITH_SNAPSHOTS:
        body["no_snapshots"] = t.no_snapshots
    if version >= TRANSFER_WITH_HISTORY:
        # A transfer shown is one not accepted yet: an accepted one is gone.
        body["destination_project_id"] = None
        body["source_project_id"] = t.source_project_id
        body["accepted"] = False
    return body


def created(t: TransferRecord, auth_key: str, ctx: VolumeContext, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": t.id, "created_at": timestamp(t.created_at), "name": t.name,
        "volume_id": t.volume_id, "auth_key": auth_key, "links": links(base_url, ctx, t.id),
    }
    return _versioned(body, t, ctx.version)


# --- the microversion gate ----------------------------------------------------------------

Handler = Any


def since(version: ApiVersion, handler: Handler) -> Handler:
    """`handler`, served from `version` on; below it the route answers 404 as Cinder
    answers a method whose microversion the request does not reach (its
    VersionNotFoundForAPIMethod). The check runs after the project check, as
    Cinder's dispatch of a versioned method does."""

    async def gated(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
        if ctx.version < version:
            raise NotFound(NOT_FOUND)
        response: Response = await handler(api, ctx, request, args, body)
        return response

    gated.__name__ = f"{handler.__name__}_since_{version.major}_{version.minor}"
    gated.__doc__ = handler.__doc__
    return gated


# --- handlers ---------------------------------------------------------------------------


def parse_query(params: Mapping[str, str], version: ApiVersion) -> TransferQuery:
    """Cinder's listing query: from 3.59 marker, limit, offset and sort (default
    created_at desc); below it created_at and id ascending, cut by limit and
    offset (common.limited). Every other parameter is a filter; `name` filters
    on the name, `all_tenants` asks for every project's (admins)."""
    filters = {k: v for k, v in params.items() if k not in _PAGE_PARAMS and k != "all_tenants"}
    if "name" in filters:
        filters["display_name"] = filters.pop("name")
    all_tenants = params.get("all_tenants", "false").strip().lower() in schemas.TRUE_STRINGS
    if version >= SUPPORT_TRANSFER_PAGINATION:
        limit, sort = parse_page(params, SORT_KEYS)
        return TransferQuery(
            filters=filters, all_tenants=all_tenants, sort=sort, limit=limit,
            offset=parse_offset(params), marker=params.get("marker"),
        )
    # Below 3.59 Cinder hands marker and sort keys on as filters (matching no
    # column, they match nothing); limit and offset cut the list as
    # common.limited does, with its checks.
    for key in ("marker", "sort", "sort_key", "sort_dir"):
        if key in params:
            filters[key] = params[key]
    limit, _ = parse_page({k: v for k, v in params.items() if k == "limit"}, SORT_KEYS)
    return TransferQuery(
        filters=filters, all_tenants=all_tenants, sort=[("created_at", "asc")],
        limit=limit or MAX_LIMIT, offset=parse_offset(params),
    )


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, detailed=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, detailed=True)


async def _list(
    api: VolumeApi, ctx: VolumeContext, request: Request, *, detailed: bool
) -> Response:
    query = parse_query(request.query_params, ctx.version)
    found = await api.transfers.list_transfers(ctx.caller, query)
    base = base_url(request)
    view = detail if detailed else summary
    out: dict[str, Any] = {"transfers": [view(t, ctx, base) for t in found]}
    # Cinder's next link: a page as long as the limit (MAX_LIMIT when none is given).
    if query.limit is not None and found and len(found) >= query.limit:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        params.append(("marker", found[-1].id))
        out["transfers_links"] = [{
            "href": f"{base}/{ctx.api}/{ctx.project_id}/{COLLECTION}?{urlencode(params)}",
            "rel": "next",
        }]
    return _json(out)


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    found = await api.transfers.get(ctx.caller, args[0])
    return _json({"transfer": detail(found, ctx, base_url(request))})


async def create(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    schema = (schemas.TRANSFER_CREATE_V355 if ctx.version >= TRANSFER_WITH_SNAPSHOTS
              else schemas.TRANSFER_CREATE)
    t = schemas.validate(schema, None if body is NO_BODY else body)["transfer"]
    name = t.get("name")
    no_snapshots = schemas.to_bool(t["no_snapshots"]) if "no_snapshots" in t else False
    made = await api.transfers.create(
        ctx.caller, str(t["volume_id"]), name=name.strip() if isinstance(name, str) else None,
        no_snapshots=no_snapshots,
    )
    return _json(
        {"transfer": created(made.transfer, made.auth_key, ctx, base_url(request))}, 202
    )


async def accept(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    a = schemas.validate(schemas.TRANSFER_ACCEPT, None if body is NO_BODY else body)
    # Cinder hashes an integer key as its decimal text.
    accepted = await api.transfers.accept(ctx.caller, args[0], str(a["accept"]["auth_key"]))
    return _json({"transfer": summary(accepted, ctx, base_url(request))}, 202)


async def delete(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    await api.transfers.delete(ctx.caller, args[0])
    return Response(status_code=202)


_ID = r"([^/]+)"
_BOTH = frozenset({"v2", "v3"})
_V3 = frozenset({"v3"})
# First segments of the project-less /v3 paths (api/volume/routes.py COLLECTIONS).
COLLECTIONS = frozenset({"os-volume-transfer", "volume-transfers"})


def _routes(prefix: str, gate: ApiVersion | None) -> tuple[tuple[str, str, Any], ...]:
    def serve(handler: Handler) -> Handler:
        return handler if gate is None else since(gate, handler)

    return (
        (rf"/{prefix}", "GET", serve(list_summary)),
        (rf"/{prefix}", "POST", serve(create)),
        (rf"/{prefix}/detail", "GET", serve(list_detail)),
        (rf"/{prefix}/{_ID}", "GET", serve(show)),
        (rf"/{prefix}/{_ID}", "DELETE", serve(delete)),
        (rf"/{prefix}/{_ID}/accept", "POST", serve(accept)),
    )


# (pattern, method, handler, APIs served) of the transfer routes, for the volume
# API's dispatcher (api/volume/routes.py), which serves them like its own.
ROUTES: tuple[tuple[str, str, Any, frozenset[str]], ...] = (
    *((p, m, h, _BOTH) for p, m, h in _routes("os-volume-transfer", None)),
    *((p, m, h, _V3) for p, m, h in _routes("volume-transfers", TRANSFER_WITH_SNAPSHOTS)),
)

__all__ = ["COLLECTIONS", "ROUTES", "TRANSFER_WITH_SNAPSHOTS", "since"]
