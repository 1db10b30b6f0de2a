"""The backups API: /v3[/{project_id}]/backups and /v2/{project_id}/backups.

Paths, bodies, statuses and messages as Cinder's backups controller (v2
contrib and v3: update at 3.9, the project attribute at 3.18, metadata at 3.43,
user_id at 3.56), its export_record/import_record (admins) and its backup
admin actions (os-reset_status, os-force_delete).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from oslo_utils import uuidutils
from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import deps, schemas
from cinderlite.api.volume.context import ApiVersion, VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import (
    base_url,
    next_links,
    parse_offset,
    parse_page,
    query_filters,
    split_like,
    take_with_count,
)
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.domain.records import BackupRecord
from cinderlite.services.backups import SORT_KEYS, BackupCreate, BackupQuery

BACKUP_UPDATE = ApiVersion(3, 9)
BACKUP_PROJECT = ApiVersion(3, 18)
BACKUP_METADATA = ApiVersion(3, 43)
BACKUP_COUNT = ApiVersion(3, 45)
BACKUP_AZ = ApiVersion(3, 51)
BACKUP_PROJECT_USER_ID = ApiVersion(3, 56)


def _at(ctx: VolumeContext, version: ApiVersion) -> bool:
    return ctx.api == "v3" and ctx.version >= version


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


# --- views (cinder/api/views/backups.py, v3/views/backups.py) --------------------------


def _links(request: Request, ctx: VolumeContext, backup_id: str) -> list[dict[str, str]]:
    base = base_url(request)
    prefix = "v2" if ctx.api == "v2" else "v3"
    return [
        {"href": f"{base}/{prefix}/{ctx.project_id}/backups/{backup_id}", "rel": "self"},
        {"href": f"{base}/{ctx.project_id}/backups/{backup_id}", "rel": "bookmark"},
    ]


def summary(request: Request, ctx: VolumeContext, b: BackupRecord) -> dict[str, Any]:
    return {"id": b.id, "name": b.name, "links": _links(request, ctx, b.id)}


def detail(
    request: Request, ctx: VolumeContext, b: BackupRecord, *, has_children: bool,
    admin_attrs: bool = False,
) -> dict[str, Any]:
    """Cinder's detail view; `admin_attrs` when the caller may see the project
    attribute (3.18) and user_id (3.56)."""
    body = {
        "id": b.id,
        "status": b.status,
        "size": b.size,
        "object_count": b.object_count,
        "availability_zone": b.availability_zone,
        "container": b.container,
        "created_at": timestamp(b.created_at),
        "updated_at": timestamp(b.updated_at),
        "name": b.name,
        "description": b.description,
        "fail_reason": b.fail_reason,
        "volume_id": b.volume_id,
        "links": _links(request, ctx, b.id),
        "is_incremental": b.parent_id is not None,
        "has_dependent_backups": has_children,
        "snapshot_id": b.snapshot_id,
        "data_timestamp": timestamp(b.data_timestamp),
    }
    if _at(ctx, BACKUP_METADATA):
        body["metadata"] = dict(b.meta or {})
    if admin_attrs and _at(ctx, BACKUP_PROJECT):
        body["os-backup-project-attr:project_id"] = b.project_id
    if admin_attrs and _at(ctx, BACKUP_PROJECT_USER_ID):
        body["user_id"] = b.user_id
    return body


# --- handlers ---------------------------------------------------------------------------


def parse_query(params: Any, ctx: VolumeContext | None = None) -> BackupQuery:
    """limit/offset/marker/sort and the filters Cinder lets non-admins use (name,
    status, volume_id); all_tenants and project_id for admins. From 3.31 a
    non-admin's unknown filter is a 400 and from 3.34 `key~` is a substring
    match (listing.query_filters)."""
    limit, sort = parse_page(params, SORT_KEYS)
    version = ctx.version if ctx is not None and ctx.api == "v3" else None
    general = version is not None and version.at_least(3, 31)
    raw = query_filters(
        params, "backup", is_admin=ctx is None or ctx.caller.is_admin, general=general,
        like=general and version is not None and version.at_least(3, 34),
    )
    plain, like = split_like(raw) if general else (raw, {})
    filters: dict[str, Any] = {}
    for key in ("name", "status", "volume_id"):
        if key in plain:
            filters[key] = plain[key]
    if "display_name" in plain and "name" not in filters:
        filters["name"] = plain["display_name"]
    all_tenants = params.get("all_tenants", "0").strip().lower() in schemas.TRUE_STRINGS
    return BackupQuery(
        filters=filters, sort=sort, limit=limit, marker=params.get("marker"),
        offset=parse_offset(params), all_tenants=all_tenants,
        project_id=params.get("project_id"),
        like={k: v for k, v in like.items() if k in ("name", "description", "status")},
    )


async def list_summary(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, is_detail=False)


async def list_detail(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    return await _list(api, ctx, request, is_detail=True)


async def _list(
    api: VolumeApi, ctx: VolumeContext, request: Request, *, is_detail: bool
) -> Response:
    params, show_count = take_with_count(request.query_params, since_3_45=_at(ctx, BACKUP_COUNT))
    query = parse_query(params, ctx)
    found = await api.backups.list_backups(ctx.caller, query)
    if is_detail:
        parents = await api.backups.with_children([b.id for b in found])
        attrs = api.backups.shows_project(ctx.caller)
        items = [detail(request, ctx, b, has_children=b.id in parents, admin_attrs=attrs)
                 for b in found]
    else:
        items = [summary(request, ctx, b) for b in found]
    body: dict[str, Any] = {"backups": items}
    if query.limit is not None and found and len(found) >= query.limit:
        body["backups_links"] = next_links(request, found[-1].id)
    if show_count:
        body["count"] = await api.backups.count_backups(ctx.caller, query)
    return _json(body)


def _check_uuid(key: str, value: object) -> None:
    # Cinder's schema: the `uuid` format.
    if value is not None and not uuidutils.is_uuid_like(value):
        raise InvalidRequest(
            f"Invalid input for field/attribute {key}. Value: {value}. '{value}' is not a "
            "'uuid'"
        )


def _clean(text: str | None) -> str | None:
    """Cinder's clean_name_and_description: surrounding white space goes."""
    return text.strip() if isinstance(text, str) else text


async def create(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    schema = (schemas.BACKUP_CREATE_V351 if _at(ctx, BACKUP_AZ)
              else schemas.BACKUP_CREATE_V343 if _at(ctx, BACKUP_METADATA)
              else schemas.BACKUP_CREATE)
    b = schemas.validate(schema, None if body is NO_BODY else body)["backup"]
    _check_uuid("volume_id", b["volume_id"])
    _check_uuid("snapshot_id", b.get("snapshot_id"))
    created = await api.backups.create(
        ctx.caller,
        BackupCreate(
            volume_id=str(b["volume_id"]), name=_clean(b.get("name")),
            description=_clean(b.get("description")), container=b.get("container"),
            incremental=schemas.to_bool(b.get("incremental", False)),
            force=schemas.to_bool(b.get("force", False)), snapshot_id=b.get("snapshot_id"),
            metadata=dict(b.get("metadata") or {}),
            availability_zone=b.get("availability_zone"),
        ),
        request_id=ctx.request_id,
    )
    return _json({"backup": summary(request, ctx, created)}, 202)


async def show(api: VolumeApi, ctx: VolumeContext, request: Request,
               args: tuple[str, ...], body: object) -> Response:
    found = await api.backups.get(ctx.caller, args[0])
    children = await api.backups.with_children([found.id])
    return _json({"backup": detail(
        request, ctx, found, has_children=found.id in children,
        admin_attrs=api.backups.shows_project(ctx.caller),
    )})


async def update(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    """PUT /backups/{id} (3.9): name and description, and metadata at 3.43."""
    if not _at(ctx, BACKUP_UPDATE):
        raise NotFound("The resource could not be found.")
    schema = schemas.BACKUP_UPDATE_V343 if _at(ctx, BACKUP_METADATA) else schemas.BACKUP_UPDATE
    b = schemas.validate(schema, None if body is NO_BODY else body)["backup"] or {}
    changes = {k: _clean(v) if k != "metadata" else v for k, v in b.items()}
    updated = await api.backups.update(ctx.caller, args[0], changes)
    return _json({"backup": summary(request, ctx, updated)})


async def export_record(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    service, url = await api.backup_records.export(ctx.caller, args[0])
    return _json({"backup-record": {"backup_service": service, "backup_url": url}})


async def import_record(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    r = schemas.validate(schemas.BACKUP_IMPORT, None if body is NO_BODY else body)
    record = r["backup-record"]
    imported = await api.backup_records.import_(
        ctx.caller, record["backup_service"], record["backup_url"]
    )
    return _json({"backup": summary(request, ctx, imported)}, 201)


async def delete(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    await api.backups.delete(ctx.caller, args[0])
    return Response(status_code=202)


async def restore(api: VolumeApi, ctx: VolumeContext, request: Request,
                  args: tuple[str, ...], body: object) -> Response:
    r = schemas.validate(schemas.BACKUP_RESTORE, None if body is NO_BODY else body)["restore"]
    r = r or {}
    _check_uuid("volume_id", r.get("volume_id"))
    done = await api.backups.restore(
        ctx.caller, args[0], volume_id=r.get("volume_id"), name=r.get("name"),
        request_id=ctx.request_id,
    )
    return _json({"restore": {
        "backup_id": done.backup_id, "volume_id": done.volume_id,
        "volume_name": done.volume_name,
    }}, 202)


# --- admin actions (cinder/api/contrib/admin_actions.py BackupAdminController) --------

Action = Callable[[VolumeApi, VolumeContext, str, dict[str, Any]], Awaitable[Response]]


async def _reset_status(
    api: VolumeApi, ctx: VolumeContext, backup_id: str, body: dict[str, Any]
) -> Response:
    args = schemas.validate(schemas.BACKUP_RESET_STATUS, body)["os-reset_status"]
    await api.backups.reset_status(ctx.caller, backup_id, args["status"])
    return Response(status_code=202)


async def _force_delete(
    api: VolumeApi, ctx: VolumeContext, backup_id: str, body: dict[str, Any]
) -> Response:
    schemas.validate(schemas.BACKUP_FORCE_DELETE, body)
    await api.backups.delete(ctx.caller, backup_id, force=True)
    return Response(status_code=202)


ACTIONS: dict[str, Action] = {
    "os-reset_status": _reset_status,
    "os-force_delete": _force_delete,
}


async def action(api: VolumeApi, ctx: VolumeContext, request: Request,
                 args: tuple[str, ...], body: object) -> Response:
    _, handler = deps.find_action(body, ACTIONS)
    deps.check_project(ctx)
    assert isinstance(body, dict)  # find_action refuses anything else
    return await handler(api, ctx, args[0], body)


_ID = r"([^/]+)"
# (pattern, method, handler) of the backup routes; the volume API's dispatcher
# serves them on /v2 and /v3 like its own.
ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/backups", "GET", list_summary),
    (r"/backups", "POST", create),
    (r"/backups/detail", "GET", list_detail),
    (r"/backups/import_record", "POST", import_record),
    (rf"/backups/{_ID}", "GET", show),
    (rf"/backups/{_ID}", "PUT", update),
    (rf"/backups/{_ID}", "DELETE", delete),
    (rf"/backups/{_ID}/export_record", "GET", export_record),
    (rf"/backups/{_ID}/restore", "POST", restore),
    (rf"/backups/{_ID}/action", "POST", action),
)

__all__ = ["ACTIONS", "ROUTES", "detail", "parse_query", "summary"]
