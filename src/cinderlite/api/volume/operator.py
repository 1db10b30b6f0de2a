"""The operator's discovery APIs, as Cinder's extensions serve them:
os-availability-zone, os-services, scheduler-stats/get_pools,
capabilities/{host}, os-hosts and extensions (cinder/api/contrib/*.py,
cinder/api/v3/services.py, cinder/api/extensions.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from oslo_utils import strutils
from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import schemas
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import query_filters
from cinderlite.api.volume.views import timestamp
from cinderlite.domain import hosts as H
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.services.hosts import ServiceState, log_level

NOT_FOUND = "The resource could not be found."
# The extensions Cinder lists (name, alias, description, updated) for what is
# served here; an entry joins this table with the feature it names.
EXTENSIONS: tuple[tuple[str, str, str, str], ...] = (
    ("AdminActions", "os-admin-actions", "Enable admin actions.",
     "2012-08-25T00:00:00+00:00"),
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones.",
     "2013-06-27T00:00:00+00:00"),
    ("Backups", "backups", "Backups support.", "2012-12-12T00:00:00+00:00"),
    ("Capabilities", "capabilities", "Capabilities support.", "2015-08-31T00:00:00+00:00"),
    ("ExtendedServices", "os-extended-services", "Extended services support.",
     "2014-01-10T00:00:00-00:00"),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes",
     "Extended SnapshotAttributes support.", "2012-06-19T00:00:00+00:00"),
    ("Hosts", "os-hosts", "Admin-only host administration.", "2011-06-29T00:00:00+00:00"),
    ("Qos_specs_manage", "qos-specs", "QoS specs support.", "2013-08-02T00:00:00+00:00"),
    ("Scheduler_stats", "scheduler-stats", "Scheduler stats support.",
     "2014-09-07T00:00:00+00:00"),
    ("Services", "os-services", "Services support.", "2012-10-28T00:00:00-00:00"),
    ("SnapshotActions", "os-snapshot-actions", "Enable snapshot manager actions.",
     "2013-07-16T00:00:00+00:00"),
    ("VolumeActions", "os-volume-actions", "Enable volume actions.",
     "2012-05-31T00:00:00+00:00"),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume.",
     "2011-11-03T00:00:00+00:00"),
    ("VolumeImageMetadata", "os-vol-image-meta",
     "Show image metadata associated with the volume.", "2012-12-07T00:00:00+00:00"),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr",
     "Expose migration_status as an attribute of a volume.", "2013-08-08T00:00:00+00:00"),
    ("VolumeTenantAttribute", "os-vol-tenant-attr",
     "Expose the internal project_id as an attribute of a volume.",
     "2011-11-03T00:00:00+00:00"),
    ("VolumeTransfer", "os-volume-transfer", "Volume transfer management support.",
     "2013-05-29T00:00:00+00:00"),
)

_HOST = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
         "pattern": r"^[a-zA-Z0-9-._#@:/+\[\]]*$"}
# cinder/api/schemas/services.py
ENABLE_DISABLE = {
    "type": "object",
    "properties": {
        "binary": {"type": "string", "minLength": 1, "maxLength": 255},
        "host": _HOST,
        "cluster": {"type": ["string", "null"]},
        "service": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "anyOf": [{"required": ["binary"]}, {"required": ["service"]}],
    "additionalProperties": False,
}
DISABLE_LOG_REASON = {
    **ENABLE_DISABLE,
    "properties": {
        **ENABLE_DISABLE["properties"],  # type: ignore[dict-item]
        "disabled_reason": {"type": "string", "minLength": 1, "maxLength": 255},
    },
}
_LOG_PROPERTIES: dict[str, Any] = {
    "binary": {"type": "string", "enum": [*H.LOG_BINARIES, "", "*"]},
    "server": {"type": ["string", "null"]},
    "prefix": {"type": ["string", "null"]},
}
SET_LOG = {
    "type": "object",
    "properties": {**_LOG_PROPERTIES, "level": {"type": ["string", "null"]}},
    "additionalProperties": False,
}
GET_LOG = {"type": "object", "properties": _LOG_PROPERTIES, "additionalProperties": False}
FREEZE_THAW = {
    "type": "object",
    "properties": {"cluster": {"type": ["string", "null"]}, "host": _HOST},
    "additionalProperties": False,
}


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def _body(body: object) -> object:
    return None if body is NO_BODY else body


# --- os-availability-zone -------------------------------------------------------------


async def list_zones(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    zones = await api.hosts.zones()
    return _json({"availabilityZoneInfo": [
        {"zoneName": name, "zoneState": {"available": available}} for name, available in zones
    ]})


# --- os-services ------------------------------------------------------------------------


def service_view(s: ServiceState, ctx: VolumeContext, backend_up: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "binary": s.binary, "host": s.host, "zone": s.zone,
        "status": "disabled" if s.disabled else "enabled",
        "state": "up" if s.up else "down",
        "updated_at": timestamp(s.updated_at),
    }
    v3 = ctx.api == "v3"
    if v3 and ctx.version.at_least(3, 49) and s.binary == H.VOLUME_BINARY:
        # The scheduler's view of the backend: none while it is not scheduled.
        body["backend_state"] = "up" if backend_up else None
    if v3 and ctx.version.at_least(3, 7):
        body["cluster"] = None
    body["disabled_reason"] = s.disabled_reason
    if s.binary == H.VOLUME_BINARY:
        body["replication_status"] = "disabled"
        body["active_backend_id"] = None
        body["frozen"] = s.frozen
    return body


async def list_services(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    params = request.query_params
    found = await api.hosts.list_services(
        ctx.caller, host=params.get("host"), binary=params.get("binary"),
    )
    backend_up = any(s.binary == H.VOLUME_BINARY and s.up and not s.disabled and not s.frozen
                     for s in found)
    return _json({"services": [service_view(s, ctx, backend_up) for s in found]})


def _host_of(params: dict[str, Any]) -> str:
    """common.get_cluster_host without the cluster: the host is required."""
    host = params.get("host")
    if not host:
        raise InvalidRequest("Invalid input received: Host field is missing.")
    return str(host)


async def update_service(api: VolumeApi, ctx: VolumeContext, request: Request,
                         args: tuple[str, ...], body: object) -> Response:
    action = args[0]
    if action in ("enable", "disable", "disable-log-reason"):
        return await _switch(api, ctx, action, body)
    if action in ("set-log", "get-log"):
        return await _log_levels(api, ctx, action, body)
    if action in ("freeze", "thaw"):
        params = schemas.validate(FREEZE_THAW, _body(body))
        await api.hosts.set_frozen(ctx.caller, host=_host_of(params), frozen=action == "freeze")
        return Response(status_code=200)
    raise NotFound("Unknown action")


async def _log_levels(api: VolumeApi, ctx: VolumeContext, action: str,
                      body: object) -> Response:
    """set-log / get-log (3.32; below it Cinder has no such method: 404)."""
    if ctx.api != "v3" or not ctx.version.at_least(3, 32):
        raise NotFound(NOT_FOUND)
    if action == "set-log":
        params = schemas.validate(SET_LOG, _body(body))
        log_level(params.get("level"))  # the schema's `level` format, before the policy
        await api.logs.set_levels(
            ctx.caller, binary=params.get("binary"), server=params.get("server"),
            prefix=params.get("prefix"), level=params.get("level"),
        )
        return Response(status_code=202)
    params = schemas.validate(GET_LOG, _body(body))
    found = await api.logs.get_levels(
        ctx.caller, binary=params.get("binary"), server=params.get("server"),
        prefix=params.get("prefix"),
    )
    return _json({"log_levels": [
        {"host": e.host, "binary": e.binary, "levels": e.levels} for e in found
    ]})


async def _switch(api: VolumeApi, ctx: VolumeContext, action: str, body: object) -> Response:
    schema = DISABLE_LOG_REASON if action == "disable-log-reason" else ENABLE_DISABLE
    params = schemas.validate(schema, _body(body))
    host = _host_of(params)
    service = params.get("service", "")
    binary = params.get("binary", "")
    reason = params.get("disabled_reason")
    if reason is not None and not reason.strip():
        raise InvalidRequest(
            "Invalid input received: disabled_reason has a minimum character requirement of 1."
        )
    enabled = action == "enable"
    await api.hosts.set_enabled(
        ctx.caller, host=host, binary=binary or service, enabled=enabled, reason=reason,
        set_reason=action == "disable-log-reason",
    )
    out: dict[str, Any] = {
        "host": host, "service": service, "binary": binary,
        "status": "enabled" if enabled else "disabled", "disabled": not enabled,
    }
    if action == "disable-log-reason":
        out["disabled_reason"] = reason
    return _json(out)


# --- scheduler-stats, capabilities --------------------------------------------------------


async def get_pools(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    params = request.query_params
    raw = params.get("detail", "false")
    if not strutils.is_valid_boolstr(raw):
        raise InvalidRequest(f"Value '{raw}' for 'detail' is not a boolean.")
    detail = strutils.bool_from_string(raw, strict=True)
    v3 = ctx.api == "v3"
    filters: dict[str, str] = {}
    if v3 and ctx.version.at_least(3, 28):
        general = ctx.version.at_least(3, 31)
        # Cinder checks an admin's pool filters too (reject_invalid_filters).
        rest = {k: v for k, v in params.items() if k != "detail"}
        filters = query_filters(rest, "pool", is_admin=False, general=general, like=False)
    volume_type = filters.pop("volume_type", None)
    if not (v3 and ctx.version.at_least(3, 35)):
        volume_type = None
    pools = await api.hosts.pools(ctx.caller, filters=filters, volume_type=volume_type)
    if detail:
        return _json({"pools": [{"name": n, "capabilities": caps} for n, caps in pools]})
    return _json({"pools": [{"name": n} for n, _ in pools]})


# cinder/volume/driver.py _init_standard_capabilities
_STANDARD_PROPERTIES = {
    "thin_provisioning": {"title": "Thin Provisioning",
                          "description": "Sets thin provisioning.", "type": "boolean"},
    "compression": {"title": "Compression", "description": "Enables compression.",
                    "type": "boolean"},
    "qos": {"title": "QoS", "description": "Enables QoS.", "type": "boolean"},
    "replication_enabled": {"title": "Replication", "description": "Enables replication.",
                            "type": "boolean"},
}


async def show_capabilities(api: VolumeApi, ctx: VolumeContext, request: Request,
                            args: tuple[str, ...], body: object) -> Response:
    caps = await api.hosts.capabilities(ctx.caller, unquote(args[0]))
    return _json({
        "namespace": f"OS::Storage::Capabilities::{caps['host']}",
        "vendor_name": caps["vendor_name"],
        "volume_backend_name": caps["volume_backend_name"],
        "pool_name": None,
        "driver_version": caps["driver_version"],
        "storage_protocol": caps["storage_protocol"],
        "display_name": None,
        "description": None,
        "visibility": None,
        "replication_targets": [],
        "properties": _STANDARD_PROPERTIES,
    })


# --- os-hosts ------------------------------------------------------------------------------


async def list_hosts(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    found = await api.hosts.hosts(ctx.caller, zone=request.query_params.get("zone") or None)
    return _json({"hosts": [{
        "host_name": s.host, "service": s.binary, "zone": s.zone,
        "service-status": "available" if s.up else "unavailable",
        "service-state": "disabled" if s.disabled else "enabled",
        "last-update": timestamp(s.updated_at),
    } for s in found]})


async def show_host(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    host = unquote(args[0])
    usage = await api.hosts.host_usage(ctx.caller, host)
    return _json({"host": [{"resource": {
        "host": host, "project": u.project, "volume_count": str(u.volume_count),
        "total_volume_gb": str(u.total_volume_gb), "snapshot_count": str(u.snapshot_count),
        "total_snapshot_gb": str(u.total_snapshot_gb),
    }} for u in usage]})


# --- extensions --------------------------------------------------------------------------


def _extension(entry: tuple[str, str, str, str]) -> dict[str, Any]:
    name, alias, description, updated = entry
    return {"name": name, "alias": alias, "description": description, "updated": updated,
            "links": []}


async def list_extensions(api: VolumeApi, ctx: VolumeContext, request: Request,
                          args: tuple[str, ...], body: object) -> Response:
    return _json({"extensions": [_extension(e) for e in EXTENSIONS]})


async def show_extension(api: VolumeApi, ctx: VolumeContext, request: Request,
                         args: tuple[str, ...], body: object) -> Response:
    for entry in EXTENSIONS:
        if entry[1] == args[0]:
            return _json({"extension": _extension(entry)})
    raise NotFound(NOT_FOUND)


_ID = r"([^/]+)"
ROUTES = (
    (r"/os-availability-zone", "GET", list_zones),
    (r"/os-services", "GET", list_services),
    (rf"/os-services/{_ID}", "PUT", update_service),
    (r"/scheduler-stats/get_pools", "GET", get_pools),
    (rf"/capabilities/{_ID}", "GET", show_capabilities),
    (r"/os-hosts", "GET", list_hosts),
    (rf"/os-hosts/{_ID}", "GET", show_host),
    (r"/extensions", "GET", list_extensions),
    (rf"/extensions/{_ID}", "GET", show_extension),
)
COLLECTIONS = frozenset({
    "os-availability-zone", "os-services", "scheduler-stats", "capabilities", "os-hosts",
    "extensions",
})
