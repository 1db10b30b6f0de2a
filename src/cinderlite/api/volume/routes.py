"""HTTP routes of the volume API: /, /v3[/{project_id}]/... and /v2/{tenant_id}/... (docs/api-v2.md)

One catch-all route hands every request to `dispatch`, which keeps Cinder's
order of checks (deps.py) and then calls the handler from the ROUTES table.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from fastapi import APIRouter
from oslo_utils import strutils, uuidutils
from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.faults import CINDER_STATUS, GENERIC_500, cinder_fault, status_for
from cinderlite.api.volume import (
    actions,
    attachments,
    backups,
    deps,
    group_snapshots,
    group_types,
    groups,
    messages,
    operator,
    progress,
    qos_specs,
    quotas,
    schemas,
    snapshots,
    transfers,
    versions,
    views,
    volume_types,
)
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY, Rejected
from cinderlite.api.volume.listing import (
    RESOURCE_FILTERS,
    base_url,
    consumes_quota,
    next_links,
    parse_metadata_filter,
    parse_offset,
    parse_page,
    parse_time_filter,
    query_filters,
    split_like,
    take_with_count,
)
from cinderlite.domain.errors import (
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    ServiceError,
    VolumeNotFound,
)
from cinderlite.services import policy as P
from cinderlite.services import volumes as volume_service
from cinderlite.services.volumes import ListQuery, VolumeCreate

router = APIRouter()

NOT_FOUND = "The resource could not be found."
BAD_METHOD = "The method specified is not allowed for this resource."
PROJECT_RE = re.compile(r"^[0-9a-f\-]+$")
# First segments of project-less /v3 routes.
COLLECTIONS = frozenset({
    "volumes", "snapshots", "types", "messages", "attachments", "resource_filters", "backups",
    "group_types", "groups", "group_snapshots", "default-types", qos_specs.COLLECTION,
    *transfers.COLLECTIONS, *operator.COLLECTIONS,
})


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


# --- handlers -----------------------------------------------------------------------

Handler = Callable[[VolumeApi, VolumeContext, Request, tuple[str, ...], object],
                   Awaitable[Response]]


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, detail=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, detail=True)


async def _list(api: VolumeApi, ctx: VolumeContext, request: Request, *, detail: bool) -> Response:
    params, show_count = take_with_count(
        request.query_params, since_3_45=ctx.api == "v3" and ctx.version.at_least(3, 45)
    )
    query = parse_list_query(params, ctx)
    found = await api.volumes.list_volumes(ctx.caller, query)
    base = base_url(request)
    if detail:
        shows = api.actions.shows_image_metadata(ctx.caller)
        items = [views.volume(d, ctx, base, image_metadata=shows) for d in found]
    else:
        items = [views.summary(d, ctx, base) for d in found]
    body: dict[str, Any] = {"volumes": items}
    if query.limit is not None and found and len(found) >= query.limit:
        body["volumes_links"] = next_links(request, found[-1].volume.id)
    if show_count:
        body["count"] = await api.volumes.count_volumes(ctx.caller, query)
    return _json(body)


def parse_list_query(params: Mapping[str, str], ctx: VolumeContext | None = None) -> ListQuery:
    """limit/marker/sort/filters of GET volumes, as Cinder reads them at the
    request's microversion (without `ctx`: 3.0 as an admin sees it).

    3.4 adds `glance_metadata` (admins only: it is not among the configured
    filters), 3.10 `group_id`; from 3.31 a non-admin's unknown filter is a 400
    (listing.query_filters) and from 3.34 `key~` is a substring match; 3.65
    adds `consumes_quota` (every volume here consumes quota)."""
    limit, sort = parse_page(params, volume_service.SORT_KEYS)
    v3 = ctx is not None and ctx.api == "v3"
    version = ctx.version if ctx is not None else None
    is_admin = ctx is None or ctx.caller.is_admin
    general = v3 and version is not None and version.at_least(3, 31)
    raw = query_filters(params, "volume", is_admin=is_admin, general=general,
                        like=general and version is not None and version.at_least(3, 34))
    plain, like = split_like(raw) if general else (raw, {})
    filters: dict[str, Any] = {}
    for key in ("name", "status", "availability_zone"):
        if key in plain:
            filters[key] = plain[key]
    if "display_name" in plain and "name" not in filters:
        filters["name"] = plain["display_name"]
    if "bootable" in plain:
        filters["bootable"] = plain["bootable"].strip().lower() in schemas.TRUE_STRINGS
    bad_size = False
    if "size" in plain:
        try:
            filters["size"] = int(plain["size"])
        except ValueError:
            bad_size = True  # no integer column equals it
    # 3.60: created_at/updated_at compare with gt, gte, lt, lte, eq, neq (below,
    # Cinder drops them).
    times: dict[str, Any] = {}
    if v3 and version is not None and version.at_least(3, 60):
        times = {key: parse_time_filter(plain[key]) for key in ("created_at", "updated_at")
                 if key in plain}
    metadata = None
    if "metadata" in plain:
        metadata = parse_metadata_filter(plain["metadata"])
    glance_metadata = None
    # Below 3.31 Cinder drops a non-admin's filters that are not configured
    # (remove_invalid_filter_options); glance_metadata is not.
    if (v3 and version is not None and version.at_least(3, 4) and is_admin
            and "glance_metadata" in plain):
        glance_metadata = parse_metadata_filter(plain["glance_metadata"])
    # Columns no volume here has a value in: a filter on them matches nothing.
    if v3 and version is not None and version.at_least(3, 10) and "group_id" in plain:
        filters["group_id"] = plain["group_id"]
    unmatched = bad_size or (v3 and (
        "migration_status" in plain
        or consumes_quota(plain, since_3_65=version is not None and version.at_least(3, 65))
        is False
    ))
    all_tenants = params.get("all_tenants", "0").strip().lower() in schemas.TRUE_STRINGS
    return ListQuery(
        filters=filters, metadata=metadata, sort=sort, limit=limit,
        marker=params.get("marker"), all_tenants=all_tenants,
        project_id=params.get("project_id"), offset=parse_offset(params),
        glance_metadata=glance_metadata,
        like={k: v for k, v in like.items() if k in volume_service.LIKE_KEYS},
        unmatched=bool(unmatched), times=times,
    )


async def create_volume(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    v = schemas.validate(schemas.CREATE, None if body is NO_BODY else body)["volume"]
    await _check_sources(api, ctx, v)
    if v.get("multiattach") is not None and schemas.to_bool(v["multiattach"]):
        # Cinder 3.50 on: multiattach comes from the volume type, never the body.
        raise InvalidRequest(
            "multiattach parameter has been removed. The default behavior is to use "
            "multiattach enabled volume types. Contact your administrator to create a "
            "multiattach enabled volume type and use it to create multiattach volumes."
        )
    size = None if v.get("size") is None else schemas.to_size(v["size"], "size")
    image_id = v.get("imageRef") if v.get("imageRef") is not None else v.get("image_id")
    snapshot_id = v.get("snapshot_id")
    if image_id is not None and ctx.api == "v3" and ctx.version.at_least(3, 46):
        # 3.46: an image Nova made of a volume-backed instance (size 0) gives a
        # volume made from its boot volume's snapshot.
        boot_snapshot = await api.reimage.nova_image_snapshot(ctx.caller, str(image_id))
        if boot_snapshot is not None:
            image_id, snapshot_id = None, boot_snapshot
    backup_id = v.get("backup_id") if ctx.api == "v3" else None
    copied = snapshot_id is not None or v.get("source_volid") is not None or backup_id is not None
    if not copied and (size is None or size <= 0):
        raise InvalidRequest(
            f"Invalid input received: Volume size '{size}' must be an integer and greater "
            "than 0"
        )
    req = VolumeCreate(
        size=size,
        name=v["name"] if v.get("name") is not None else v.get("display_name"),
        description=(v["description"] if v.get("description") is not None
                     else v.get("display_description")),
        metadata=v.get("metadata") or {},
        volume_type=v.get("volume_type"),
        availability_zone=v.get("availability_zone"),
        image_id=image_id,
        snapshot_id=snapshot_id,
        source_volid=v.get("source_volid"),
        # The group is looked up (404) and takes the type (400) in the service.
        group_id=v.get("group_id"),
        backup_id=backup_id,
    )
    if backup_id is not None:
        # Cinder reads `backup_id` at every v3 version (its schema names it from
        # 3.47; earlier ones let unknown keys through): a restore into a new volume.
        created = await api.backups.create_volume(ctx.caller, req, request_id=ctx.request_id)
    else:
        created = await api.volumes.create(ctx.caller, req, request_id=ctx.request_id)
    return _json({"volume": views.volume(created, ctx, base_url(request), extended=False)}, 202)


# Sources a volume can be made from that no volume here can name yet: none of
# them exists, so each id is answered as Cinder answers an unknown one (backups
# are sources on /v3 only: the /v2 contract has none).
_UNKNOWN_SOURCES = (
    ("backup_id", "Backup"),
    ("consistencygroup_id", "ConsistencyGroup"),
)


async def _check_sources(api: VolumeApi, ctx: VolumeContext, v: Mapping[str, Any]) -> None:
    """Cinder's schema for the sources (optional uuids), then 404 for the kinds of
    source not served yet; snapshots and volumes are looked up by the service."""
    for key in (*(k for k, _ in _UNKNOWN_SOURCES), "group_id", "snapshot_id", "source_volid"):
        value = v.get(key)
        # Cinder's schema: optional_uuid, a oneOf of null and a uuid-like string.
        if value is not None and not uuidutils.is_uuid_like(value):
            raise InvalidRequest(
                f"Invalid input for field/attribute {key}. Value: {value}. "
                f"'{value}' is not valid under any of the given schemas"
            )
    for key, kind in _UNKNOWN_SOURCES:
        if key == "backup_id" and ctx.api == "v3":
            continue  # served on /v3 (BackupService.create_volume)
        if v.get(key) is not None:
            raise NotFound(f"{kind} {v[key]} could not be found.")


async def show_volume(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    detail = await api.volumes.load(ctx.caller, args[0])
    return _json({"volume": views.volume(
        detail, ctx, base_url(request),
        image_metadata=api.actions.shows_image_metadata(ctx.caller),
    )})


async def update_volume(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    schema = (schemas.UPDATE_V353 if ctx.api == "v3" and ctx.version.at_least(3, 53)
              else schemas.UPDATE)
    v = schemas.validate(schema, None if body is NO_BODY else body)["volume"]
    changes: dict[str, Any] = {}
    for key, alias in (("name", "display_name"), ("description", "display_description")):
        if key in v:
            changes[key] = v[key]
        elif alias in v:
            changes[key] = v[alias]
    if "metadata" in v:
        changes["metadata"] = v["metadata"]
    detail = await api.volumes.update(ctx.caller, args[0], changes)
    # Cinder's extension attributes decorate show and detail only, not update.
    return _json({"volume": views.volume(detail, ctx, base_url(request), extended=False)})


async def delete_volume(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    cascade = force = False
    for name in ("cascade", "force"):
        raw = request.query_params.get(name)
        if raw is not None and raw not in schemas.BOOLEAN_STRINGS:
            raise InvalidRequest(f"Invalid value '{raw}' for {name}.")
        if name == "cascade" and raw is not None:
            cascade = schemas.to_bool(raw)
        if name == "force" and raw is not None:
            force = schemas.to_bool(raw)
    # `force` is read from 3.23 on; below it Cinder ignores it.
    force = force and ctx.api == "v3" and ctx.version.at_least(3, 23)
    await api.volumes.delete(ctx.caller, args[0], cascade=cascade, force=force)
    return Response(status_code=202)


async def volume_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                         args: tuple[str, ...], body: object) -> Response:
    """GET volumes/summary (3.12; the distinct metadata from 3.36)."""
    if ctx.api != "v3" or not ctx.version.at_least(3, 12):
        # Below 3.12 "summary" is read as a volume id, as Cinder's router does.
        return await show_volume(api, ctx, request, ("summary",), body)
    # Cinder's utils.get_bool_param: anything but a boolean string is a 400.
    raw = request.query_params.get("all_tenants", "0")
    if not strutils.is_valid_boolstr(raw):
        raise InvalidRequest(f"Value '{raw}' for 'all_tenants' is not a boolean.")
    all_tenants = strutils.bool_from_string(raw, strict=True)
    count, size, meta = await api.volumes.summary(ctx.caller, all_tenants=all_tenants)
    summary: dict[str, Any] = {"total_count": count, "total_size": size}
    if ctx.version.at_least(3, 36):
        summary["metadata"] = meta
    return _json({"volume-summary": summary})


async def resource_filters(api: VolumeApi, ctx: VolumeContext, request: Request,
                           args: tuple[str, ...], body: object) -> Response:
    """GET resource_filters (3.33): the filters each listing takes from non-admins."""
    if ctx.api != "v3" or not ctx.version.at_least(3, 33):
        raise NotFound(NOT_FOUND)
    wanted = request.query_params.get("resource")
    items = [(name, keys) for name, keys in RESOURCE_FILTERS.items()
             if wanted is None or name == wanted]
    return _json({"resource_filters": [
        {"resource": name, "filters": list(keys)} for name, keys in items
    ]})


def _etags_served(ctx: VolumeContext) -> bool:
    return ctx.api == "v3" and ctx.version.at_least(3, 15)


def metadata_etag(meta: Mapping[str, str]) -> tuple[bytes, str]:
    """The body of GET .../metadata and its ETag, the MD5 of that body (3.15:
    Cinder hashes json.dumps({"metadata": ...}) with its default separators)."""
    data = json.dumps({"metadata": meta}).encode()
    return data, hashlib.md5(data, usedforsecurity=False).hexdigest()


def if_match(request: Request) -> list[str] | None:
    """The entity tags of an If-Match header (None without one; `*` as is)."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    tags = []
    for item in raw.split(","):
        tag = item.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tags.append(tag.strip('"'))
    return tags


async def _etag_matches(api: VolumeApi, ctx: VolumeContext, request: Request,
                        volume_id: str) -> bool:
    """Cinder's _validate_etag: no If-Match, or one naming the current metadata."""
    tags = if_match(request)
    if not tags:
        return True
    _, etag = metadata_etag(await api.actions.get_metadata(ctx.caller, volume_id))
    return "*" in tags or etag in tags


async def show_metadata(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    meta = await api.actions.get_metadata(ctx.caller, args[0])
    if not _etags_served(ctx):
        return _json({"metadata": meta})
    data, etag = metadata_etag(meta)
    return Response(data, media_type="application/json", headers={"ETag": etag})


async def merge_metadata(api: VolumeApi, ctx: VolumeContext, request: Request,
                         args: tuple[str, ...], body: object) -> Response:
    items = schemas.validate(schemas.METADATA, None if body is NO_BODY else body)["metadata"]
    meta = await api.actions.change_metadata(ctx.caller, args[0], items=items)
    return _json({"metadata": meta})


async def replace_metadata(api: VolumeApi, ctx: VolumeContext, request: Request,
                           args: tuple[str, ...], body: object) -> Response:
    items = schemas.validate(schemas.METADATA, None if body is NO_BODY else body)["metadata"]
    if _etags_served(ctx) and not await _etag_matches(api, ctx, request, args[0]):
        return Response(status_code=412)
    meta = await api.actions.change_metadata(ctx.caller, args[0], items=items, replace=True)
    return _json({"metadata": meta})


async def show_metadata_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                             args: tuple[str, ...], body: object) -> Response:
    meta = await api.actions.get_metadata(ctx.caller, args[0])
    if args[1] not in meta:
        raise NotFound(f"Volume {args[0]} has no metadata with key {args[1]}.")
    return _json({"meta": {args[1]: meta[args[1]]}})


async def update_metadata_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                               args: tuple[str, ...], body: object) -> Response:
    item = schemas.validate(schemas.METADATA_ITEM, None if body is NO_BODY else body)["meta"]
    if _etags_served(ctx) and not await _etag_matches(api, ctx, request, args[0]):
        return Response(status_code=412)
    if args[1] not in item:
        raise InvalidRequest("Request body and URI mismatch")
    await api.actions.change_metadata(ctx.caller, args[0], items=item)
    return _json({"meta": item})


async def delete_metadata_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                               args: tuple[str, ...], body: object) -> Response:
    await api.actions.change_metadata(ctx.caller, args[0], items={}, delete_key=args[1])
    return Response(status_code=200)


async def volume_action(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    _, handler = actions.find_action(body)
    deps.check_project(ctx)
    return await handler(api, ctx, args[0], body)


async def upload_progress(api: VolumeApi, ctx: VolumeContext, request: Request,
                          args: tuple[str, ...], body: object) -> Response:
    return await progress.show_upload_progress(api, ctx, args[0])


async def list_messages(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    return await messages.list_messages(api, ctx, request.query_params)


async def show_message(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await messages.show_message(api, ctx, args[0])


async def delete_message(api: VolumeApi, ctx: VolumeContext, request: Request,
                         args: tuple[str, ...], body: object) -> Response:
    return await messages.delete_message(api, ctx, args[0])


_ID = r"([^/]+)"
# (pattern on the path after the project segment, method, handler, APIs served)
ROUTES: list[tuple[re.Pattern[str], str, Handler, frozenset[str]]] = []
_BOTH = frozenset({"v2", "v3"})
_V3 = frozenset({"v3"})
for _pattern, _method, _handler, _apis in (
    (r"/volumes", "GET", list_summary, _BOTH),
    (r"/volumes", "POST", create_volume, _BOTH),
    (r"/volumes/detail", "GET", list_detail, _BOTH),
    (r"/volumes/summary", "GET", volume_summary, _BOTH),
    (rf"/volumes/{_ID}", "GET", show_volume, _BOTH),
    (rf"/volumes/{_ID}", "PUT", update_volume, _BOTH),
    (rf"/volumes/{_ID}", "DELETE", delete_volume, _BOTH),
    (rf"/volumes/{_ID}/action", "POST", volume_action, _BOTH),
    (rf"/volumes/{_ID}/upload-progress", "GET", upload_progress, _V3),
    (rf"/volumes/{_ID}/metadata", "GET", show_metadata, _BOTH),
    (rf"/volumes/{_ID}/metadata", "POST", merge_metadata, _BOTH),
    (rf"/volumes/{_ID}/metadata", "PUT", replace_metadata, _BOTH),
    (rf"/volumes/{_ID}/metadata/{_ID}", "GET", show_metadata_item, _BOTH),
    (rf"/volumes/{_ID}/metadata/{_ID}", "PUT", update_metadata_item, _BOTH),
    (rf"/volumes/{_ID}/metadata/{_ID}", "DELETE", delete_metadata_item, _BOTH),
    *((pattern, method, handler, _V3 if v3_only else _BOTH)
      for pattern, method, handler, v3_only in volume_types.ROUTES),
    *((pattern, method, handler, _BOTH) for pattern, method, handler in qos_specs.ROUTES),
    (r"/resource_filters", "GET", resource_filters, _V3),
    (r"/messages", "GET", list_messages, _V3),
    (rf"/messages/{_ID}", "GET", show_message, _V3),
    (rf"/messages/{_ID}", "DELETE", delete_message, _V3),
    *((pattern, method, handler, _BOTH) for pattern, method, handler in snapshots.ROUTES),
    *((pattern, method, handler, _V3) for pattern, method, handler in attachments.ROUTES),
    *((pattern, method, handler, _BOTH) for pattern, method, handler in backups.ROUTES),
    *transfers.ROUTES,
    *((pattern, method, handler, _BOTH) for pattern, method, handler in quotas.ROUTES),
    *((pattern, method, handler, _V3) for pattern, method, handler in group_types.ROUTES),
    *((pattern, method, handler, _V3) for pattern, method, handler in groups.ROUTES),
    *((pattern, method, handler, _V3) for pattern, method, handler in group_snapshots.ROUTES),
    *((pattern, method, handler, _BOTH) for pattern, method, handler in operator.ROUTES),
):
    # No trailing slash: Cinder's mapper answers 404 for `/volumes/`.
    ROUTES.append((re.compile(f"^{_pattern}$"), _method, _handler, _apis))

# Action routes check the project after finding the action in the body.
_ACTION_HANDLERS = frozenset({
    volume_action, snapshots.action, attachments.action, backups.action,
    *groups.ACTION_HANDLERS, group_snapshots.action,
})
# Routes whose body is read (and must be JSON) before the project check.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def match_route(api: str, method: str, rest: str) -> tuple[Handler, tuple[str, ...]]:
    """The handler for `rest`; NotFound (404) or a 405 when only the method is wrong."""
    path_matched = False
    for pattern, route_method, handler, apis in ROUTES:
        if api not in apis:
            continue
        m = pattern.match(rest)
        if m is None:
            continue
        if route_method == method:
            return handler, m.groups()
        path_matched = True
    if path_matched:
        raise MethodNotAllowed()
    raise NotFound(NOT_FOUND)


class MethodNotAllowed(Exception):
    pass


def split_path(path: str) -> tuple[Literal["v2", "v3"], str | None, str] | None:
    """(api, url project id or None, rest) for /v2/... and /v3/... paths; None: no route."""
    api: Literal["v2", "v3"]
    if path.startswith("/v3/"):
        api, tail = "v3", path[3:]
    elif path.startswith("/v2/"):
        api, tail = "v2", path[3:]
    else:
        return None
    first, sep, rest = tail[1:].partition("/")
    if api == "v3" and first in COLLECTIONS:
        return api, None, tail
    if not first or not sep:
        return None
    if api == "v3" and not PROJECT_RE.match(first):
        # Cinder project_id_regex: any other segment matches no route.
        return None
    return api, first, "/" + rest


# --- dispatch -------------------------------------------------------------------------

# Paths answered with a version document, and the API each one documents.
_VERSION_ROOTS = {"/": "", "/v2": "v2", "/v2/": "v2", "/v3": "v3", "/v3/": "v3"}


async def dispatch(request: Request) -> Response:
    api: VolumeApi = request.app.state.api
    path = request.url.path
    method = request.method
    if path in _VERSION_ROOTS:
        if method not in ("GET", "HEAD"):
            return cinder_fault(405, BAD_METHOD)
        if path == "/":
            return _json(versions.versions_document(base_url(request)), 300)
        return _json(versions.version_document(base_url(request), _VERSION_ROOTS[path]))
    split = split_path(path)
    if split is None:
        return cinder_fault(404, NOT_FOUND)
    which, url_project_id, rest = split
    request.state.volume_api = which
    try:
        caller = await deps.authenticate(api, request, which)
        try:
            handler, args = match_route(which, method, rest)
        except MethodNotAllowed:
            return cinder_fault(405, BAD_METHOD)
        version = deps.negotiate(request, which)
        ctx = VolumeContext(
            caller=caller, api=which,
            version=version, request_id=request.scope["state"].get("request_id", ""),
            url_project_id=url_project_id, pool_host=api.hosts.layout.pool_name,
        )
        request.state.volume_ctx = ctx
        body: object = NO_BODY
        if method in _BODY_METHODS:
            body = await deps.read_json(api, request)
        if handler not in _ACTION_HANDLERS:
            # Actions check the project after looking the action up
            # (cinder/api/openstack/wsgi.py Resource._process_stack).
            deps.check_project(ctx)
        response = await handler(api, ctx, request, args, body)
    except Rejected as exc:
        return exc.response
    except ServiceError as exc:
        return render_error(request, exc)
    if which == "v3":
        response.headers.update(versions.response_headers(ctx.version))
    return response


router.add_route(
    "/{path:path}", dispatch, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)


# --- faults -----------------------------------------------------------------------------


def _version_headers(request: Request) -> dict[str, str]:
    ctx = getattr(request.state, "volume_ctx", None)
    if ctx is not None and ctx.api == "v3":
        return dict(versions.response_headers(ctx.version))
    return {}


def render_error(request: Request, exc: ServiceError) -> Response:
    headers = _version_headers(request)
    if isinstance(exc, DependencyUnavailable):
        if exc.service == "identity" and getattr(request.state, "volume_api", "") == "v2":
            from cinderlite.api.faults import unauthenticated_response

            api: VolumeApi = request.app.state.api
            return unauthenticated_response(api.identity_url)
        status, message = deps.fault_for(exc)
        return cinder_fault(status, message, headers)
    if isinstance(exc, VolumeNotFound | NotFound):
        return cinder_fault(404, exc.message, headers)
    return cinder_fault(status_for(exc, CINDER_STATUS), exc.message, headers)


def render_status(request: Request, status: int, detail: str) -> Response:
    if status == 404:
        detail = NOT_FOUND
    elif status == 405:
        detail = BAD_METHOD
    return cinder_fault(status, detail, _version_headers(request))


def render_500() -> Response:
    return cinder_fault(500, GENERIC_500)


__all__ = ["P", "dispatch", "render_500", "render_error", "render_status", "router"]
