"""Keystone's catalog routes: /v3/regions, /v3/services, /v3/endpoints.

Policies are Keystone's defaults: anyone with a token reads regions; admins
and system readers read services and endpoints; admins write all three. Each
write is one unit of work of `CatalogService`; a changed catalog shows in the
next token issued.
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
from cinderlite.services.catalog import INTERFACES

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
    "interface": {"type": "string", "enum": list(INTERFACES)},
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
    found = await api(request).catalog.list_regions(
        parent_region_id=request.query_params.get("parent_region_id")
    )
    items = [_region_view(r, base_url(request)) for r in found]
    return _ok(schemas.collection("regions", items, self_url(request)))


@router.api_route("/v3/regions/{region_id}", methods=["GET", "HEAD"])
async def show_region(request: Request, region_id: str) -> Response:
    await current_caller(request)
    region = await api(request).catalog.get_region(region_id)
    return _ok({"region": _region_view(region, base_url(request))})


async def _create_region(request: Request, region_id: str | None) -> Response:
    await require_admin(request, "create_region")
    body = schemas.check(REGION_BODY, await read_json(request))["region"]
    if region_id is not None and body.get("id") not in (None, region_id):
        raise InvalidRequest(
            "Conflicting region IDs specified: "
            f"\"{region_id}\" != \"{body['id']}\""
        )
    region = await api(request).catalog.create_region(
        region_id=region_id or body.get("id"), description=body.get("description") or "",
        parent_region_id=body.get("parent_region_id"),
    )
    return _ok({"region": _region_view(region, base_url(request))}, 201)


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
    region = await api(request).catalog.update_region(region_id, values)
    return _ok({"region": _region_view(region, base_url(request))})


@router.delete("/v3/regions/{region_id}")
async def delete_region(request: Request, region_id: str) -> Response:
    await require_admin(request, "delete_region")
    await api(request).catalog.delete_region(region_id)
    return Response(status_code=204)


# --- services -------------------------------------------------------------------------------


@router.api_route("/v3/services", methods=["GET", "HEAD"])
async def list_services(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_services")
    q = request.query_params
    found = await api(request).catalog.list_services(type=q.get("type"), name=q.get("name"))
    items = [_service_view(s, base_url(request)) for s in found]
    return _ok(schemas.collection("services", items, self_url(request)))


@router.api_route("/v3/services/{service_id}", methods=["GET", "HEAD"])
async def show_service(request: Request, service_id: str) -> Response:
    await require_admin_or_system_reader(request, "get_service")
    service = await api(request).catalog.get_service(service_id)
    return _ok({"service": _service_view(service, base_url(request))})


@router.post("/v3/services")
async def create_service(request: Request) -> Response:
    await require_admin(request, "create_service")
    body = schemas.check(SERVICE_CREATE, await read_json(request))["service"]
    service = await api(request).catalog.create_service(
        type=body["type"], name=body.get("name") or "",
        description=body.get("description") or "", enabled=body.get("enabled", True),
    )
    return _ok({"service": _service_view(service, base_url(request))}, 201)


@router.patch("/v3/services/{service_id}")
async def update_service(request: Request, service_id: str) -> Response:
    await require_admin(request, "update_service")
    body = schemas.check(SERVICE_UPDATE, await read_json(request))["service"]
    values = {k: body[k] for k in ("type", "name", "description", "enabled") if k in body}
    for key in ("name", "description"):
        if key in values:
            values[key] = values[key] or ""
    service = await api(request).catalog.update_service(service_id, values)
    return _ok({"service": _service_view(service, base_url(request))})


@router.delete("/v3/services/{service_id}")
async def delete_service(request: Request, service_id: str) -> Response:
    await require_admin(request, "delete_service")
    await api(request).catalog.delete_service(service_id)
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
    found = await api(request).catalog.list_endpoints(
        service_id=q.get("service_id"), interface=q.get("interface"),
        region_id=q.get("region_id"),
    )
    items = [_endpoint_view(e, base_url(request)) for e in found]
    return _ok(schemas.collection("endpoints", items, self_url(request)))


@router.api_route("/v3/endpoints/{endpoint_id}", methods=["GET", "HEAD"])
async def show_endpoint(request: Request, endpoint_id: str) -> Response:
    await require_admin_or_system_reader(request, "get_endpoint")
    endpoint = await api(request).catalog.get_endpoint(endpoint_id)
    return _ok({"endpoint": _endpoint_view(endpoint, base_url(request))})


@router.post("/v3/endpoints")
async def create_endpoint(request: Request) -> Response:
    await require_admin(request, "create_endpoint")
    body = _endpoint_values(schemas.check(ENDPOINT_CREATE, await read_json(request))["endpoint"])
    endpoint = await api(request).catalog.create_endpoint(
        service_id=body["service_id"], interface=body["interface"], url=body["url"],
        region_id=body.get("region_id"), enabled=body.get("enabled", True),
    )
    return _ok({"endpoint": _endpoint_view(endpoint, base_url(request))}, 201)


@router.patch("/v3/endpoints/{endpoint_id}")
async def update_endpoint(request: Request, endpoint_id: str) -> Response:
    await require_admin(request, "update_endpoint")
    body = _endpoint_values(schemas.check(ENDPOINT_UPDATE, await read_json(request))["endpoint"])
    endpoint = await api(request).catalog.update_endpoint(endpoint_id, body)
    return _ok({"endpoint": _endpoint_view(endpoint, base_url(request))})


@router.delete("/v3/endpoints/{endpoint_id}")
async def delete_endpoint(request: Request, endpoint_id: str) -> Response:
    await require_admin(request, "delete_endpoint")
    await api(request).catalog.delete_endpoint(endpoint_id)
    return Response(status_code=204)
