"""Keystone's catalog routes: /v3/regions, /v3/services, /v3/endpoints.

Policies are Keystone's defaults: anyone with a token reads regions; admins
and system readers read services and endpoints; admins write all three. Each
write is one transaction; a changed catalog shows in the next token issued.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from cinderlite.api.identity import schemas
from cinderlite.api.identity.deps import (
    api,
    base_url,
    current_caller,
    read_json,
    require_admin,
    require_admin_or_system_reader,
    self_url,
)
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.records import EndpointRecord, RegionRecord, ServiceRecord
from cinderlite.services import catalog

router = APIRouter()

_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_TEXT = {"type": ["string", "null"], "maxLength": 65535}
_BOOL = {"type": "boolean"}
_URL = {"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "^[a-zA-Z0-9+.-]+:.+"}

REGION_BODY = {
    "type": "object",
    "required": ["region"],
    "properties": {"region": {
        "type": "object",
        "properties": {"id": _ID, "description": _TEXT,
                       "parent_region_id": {"type": ["string", "null"], "maxLength": 255}},
    }},
}
SERVICE_CREATE = {
    "type": "object",
    "required": ["service"],
    "properties": {"service": {
        "type": "object",
        "required": ["type"],
        "properties": {"type": _ID, "name": {"type": ["string", "null"], "maxLength": 255},
                       "description": _TEXT, "enabled": _BOOL},
    }},
}
SERVICE_UPDATE = {
    "type": "object",
    "required": ["service"],
    "properties": {"service": {
        "type": "object", "minProperties": 1,
        "properties": SERVICE_CREATE["properties"]["service"]["properties"],  # type: ignore[index]
    }},
}
_ENDPOINT_FIELDS = {
    "interface": {"type": "string", "enum": list(catalog.INTERFACES)},
    "service_id": _ID,
    "url": _URL,
    "region_id": {"type": ["string", "null"], "maxLength": 255},
    "region": {"type": ["string", "null"], "maxLength": 255},
    "enabled": _BOOL,
}
ENDPOINT_CREATE = {
    "type": "object",
    "required": ["endpoint"],
    "properties": {"endpoint": {
        "type": "object", "required": ["interface", "service_id", "url"],
        "properties": _ENDPOINT_FIELDS,
    }},
}
ENDPOINT_UPDATE = {
    "type": "object",
    "required": ["endpoint"],
    "properties": {"endpoint": {
        "type": "object", "minProperties": 1, "properties": _ENDPOINT_FIELDS,
    }},
}


def _region_view(region: RegionRecord, base: str) -> dict[str, Any]:
    return {
        "id": region.id, "description": region.description or "",
        "parent_region_id": region.parent_region_id,
        "links": {"self": f"{base}/v3/regions/{region.id}"},
    }


def _service_view(service: ServiceRecord, base: str) -> dict[str, Any]:
    return {
        "id": service.id, "type": service.type, "name": service.name,
        "description": service.description or "", "enabled": service.enabled,
        "links": {"self": f"{base}/v3/services/{service.id}"},
    }


def _endpoint_view(endpoint: EndpointRecord, base: str) -> dict[str, Any]:
    return {
        "id": endpoint.id, "interface": endpoint.interface, "region_id": endpoint.region_id,
        "region": endpoint.region_id, "service_id": endpoint.service_id, "url": endpoint.url,
        "enabled": endpoint.enabled, "links": {"self": f"{base}/v3/endpoints/{endpoint.id}"},
    }


def _ok(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


# --- regions ------------------------------------------------------------------------------


@router.api_route("/v3/regions", methods=["GET", "HEAD"])
async def list_regions(request: Request) -> Response:
    await current_caller(request)
    async with api(request).units.read() as db:
        found = await catalog.list_regions(
            db, parent_region_id=request.query_params.get("parent_region_id")
        )
    items = [_region_view(r, base_url(request)) for r in found]
    return _ok(schemas.collection("regions", items, self_url(request)))


@router.api_route("/v3/regions/{region_id}", methods=["GET", "HEAD"])
async def show_region(request: Request, region_id: str) -> Response:
    await current_caller(request)
    async with api(request).units.read() as db:
        region = await catalog.get_region(db, region_id)
    return _ok({"region": _region_view(region, base_url(request))})


async def _create_region(request: Request, region_id: str | None) -> Response:
    await require_admin(request, "create_region")
    body = schemas.check(REGION_BODY, await read_json(request))["region"]
    if region_id is not None and body.get("id") not in (None, region_id):
        raise InvalidRequest(
            "Conflicting region IDs specified: "
            f"\"{region_id}\" != \"{body['id']}\""
        )
    async with api(request).units.write() as db:
        region = await catalog.create_region(
            db, region_id=region_id or body.get("id"), description=body.get("description") or "",
            parent_region_id=body.get("parent_region_id"),
        )
        view = _region_view(region, base_url(request))
    return _ok({"region": view}, 201)


@router.post("/v3/regions")
async def create_region(request: Request) -> Response:
    return await _create_region(request, None)


@router.put("/v3/regions/{region_id}")
async def create_region_with_id(request: Request, region_id: str) -> Response:
    return await _create_region(request, region_id)


@router.patch("/v3/regions/{region_id}")
async def update_region(request: Request, region_id: str) -> Response:
    await require_admin(request, "update_region")
    body = schemas.check(REGION_BODY, await read_json(request))["region"]
    if "id" in body and body["id"] != region_id:
        raise InvalidRequest("Cannot change region ID")
    values = {k: body[k] for k in ("description", "parent_region_id") if k in body}
    if "description" in values:
        values["description"] = values["description"] or ""
    async with api(request).units.write() as db:
        region = await catalog.update_region(db, region_id, values)
        view = _region_view(region, base_url(request))
    return _ok({"region": view})


@router.delete("/v3/regions/{region_id}")
async def delete_region(request: Request, region_id: str) -> Response:
    await require_admin(request, "delete_region")
    async with api(request).units.write() as db:
        await catalog.delete_region(db, region_id)
    return Response(status_code=204)


# --- services -------------------------------------------------------------------------------


@router.api_route("/v3/services", methods=["GET", "HEAD"])
async def list_services(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_services")
    q = request.query_params
    async with api(request).units.read() as db:
        found = await catalog.list_services(db, type=q.get("type"), name=q.get("name"))
    items = [_service_view(s, base_url(request)) for s in found]
    return _ok(schemas.collection("services", items, self_url(request)))


@router.api_route("/v3/services/{service_id}", methods=["GET", "HEAD"])
async def show_service(request: Request, service_id: str) -> Response:
    await require_admin_or_system_reader(request, "get_service")
    async with api(request).units.read() as db:
        service = await catalog.get_service(db, service_id)
    return _ok({"service": _service_view(service, base_url(request))})


@router.post("/v3/services")
async def create_service(request: Request) -> Response:
    await require_admin(request, "create_service")
    body = schemas.check(SERVICE_CREATE, await read_json(request))["service"]
    async with api(request).units.write() as db:
        service = await catalog.create_service(
            db, type=body["type"], name=body.get("name") or "",
            description=body.get("description") or "", enabled=body.get("enabled", True),
        )
        view = _service_view(service, base_url(request))
    return _ok({"service": view}, 201)


@router.patch("/v3/services/{service_id}")
async def update_service(request: Request, service_id: str) -> Response:
    await require_admin(request, "update_service")
    body = schemas.check(SERVICE_UPDATE, await read_json(request))["service"]
    values = {k: body[k] for k in ("type", "name", "description", "enabled") if k in body}
    for key in ("name", "description"):
        if key in values:
            values[key] = values[key] or ""
    async with api(request).units.write() as db:
        service = await catalog.update_service(db, service_id, values)
        view = _service_view(service, base_url(request))
    return _ok({"service": view})


@router.delete("/v3/services/{service_id}")
async def delete_service(request: Request, service_id: str) -> Response:
    await require_admin(request, "delete_service")
    async with api(request).units.write() as db:
        await catalog.delete_service(db, service_id)
    return Response(status_code=204)


# --- endpoints ----------------------------------------------------------------------------


def _endpoint_values(body: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: body[k] for k in ("interface", "service_id", "url", "enabled") if k in body
    }
    # `region` is the pre-Kilo name of `region_id`; region_id wins when both are given.
    if "region_id" in body or "region" in body:
        values["region_id"] = body.get("region_id", body.get("region"))
    return values


@router.api_route("/v3/endpoints", methods=["GET", "HEAD"])
async def list_endpoints(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_endpoints")
    q = request.query_params
    async with api(request).units.read() as db:
        found = await catalog.list_endpoints(
            db, service_id=q.get("service_id"), interface=q.get("interface"),
            region_id=q.get("region_id"),
        )
    items = [_endpoint_view(e, base_url(request)) for e in found]
    return _ok(schemas.collection("endpoints", items, self_url(request)))


@router.api_route("/v3/endpoints/{endpoint_id}", methods=["GET", "HEAD"])
async def show_endpoint(request: Request, endpoint_id: str) -> Response:
    await require_admin_or_system_reader(request, "get_endpoint")
    async with api(request).units.read() as db:
        endpoint = await catalog.get_endpoint(db, endpoint_id)
    return _ok({"endpoint": _endpoint_view(endpoint, base_url(request))})


@router.post("/v3/endpoints")
async def create_endpoint(request: Request) -> Response:
    await require_admin(request, "create_endpoint")
    body = _endpoint_values(schemas.check(ENDPOINT_CREATE, await read_json(request))["endpoint"])
    async with api(request).units.write() as db:
        endpoint = await catalog.create_endpoint(
            db, service_id=body["service_id"], interface=body["interface"], url=body["url"],
            region_id=body.get("region_id"), enabled=body.get("enabled", True),
        )
        view = _endpoint_view(endpoint, base_url(request))
    return _ok({"endpoint": view}, 201)


@router.patch("/v3/endpoints/{endpoint_id}")
async def update_endpoint(request: Request, endpoint_id: str) -> Response:
    await require_admin(request, "update_endpoint")
    body = _endpoint_values(schemas.check(ENDPOINT_UPDATE, await read_json(request))["endpoint"])
    async with api(request).units.write() as db:
        endpoint = await catalog.update_endpoint(db, endpoint_id, body)
        view = _endpoint_view(endpoint, base_url(request))
    return _ok({"endpoint": view})


@router.delete("/v3/endpoints/{endpoint_id}")
async def delete_endpoint(request: Request, endpoint_id: str) -> Response:
    await require_admin(request, "delete_endpoint")
    async with api(request).units.write() as db:
        await catalog.delete_endpoint(db, endpoint_id)
    return Response(status_code=204)
