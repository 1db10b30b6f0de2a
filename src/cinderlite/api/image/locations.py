"""HTTP routes of Glance 2.17's location API (glance/api/v2/images.py add_location,
get_locations; services/image_locations.py says what they do)."""

from __future__ import annotations

from typing import Any

import jsonschema
from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.image import routes, schemas
from cinderlite.api.image.imports import request_id
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.image_locations import HASH_ALGOS
from cinderlite.services.image_locations import ImageLocationService

router = APIRouter()

# glance/api/v2/images.py get_add_location_properties, in a PermissiveSchema named
# "location" that validates {"add_location": body}. Glance validates with the
# newest draft jsonschema knows (it names none), which has dependentRequired.
_ADD_LOCATION_SCHEMA: dict[str, Any] = {
    "properties": {
        "add_location": {
            "type": "object",
            "properties": {
                "url": {"type": "string", "readOnly": True},
                "validation_data": {
                    "type": "object",
                    "writeOnly": True,
                    "additionalProperties": False,
                    "properties": {
                        "os_hash_algo": {"type": "string", "maxLength": 64,
                                         "enum": list(HASH_ALGOS)},
                        "os_hash_value": {"type": "string", "maxLength": 128},
                    },
                    "dependentRequired": {
                        "os_hash_value": ["os_hash_algo"],
                        "os_hash_algo": ["os_hash_value"],
                    },
                },
            },
            "required": ["url"],
        },
    },
    "additionalProperties": {"type": "string"},
}
_VALIDATOR = jsonschema.Draft202012Validator(_ADD_LOCATION_SCHEMA)


def parse_add_location(body: Any) -> tuple[str, dict[str, Any]]:
    """The request deserializer's add_location: the body against the schema, then
    (url, validation_data)."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors({"add_location": body}))
    if error is not None:
        raise InvalidRequest(f"Provided object does not match schema 'location': {error.message}")
    return body["url"], dict(body.get("validation_data") or {})


def _locations(request: Request) -> ImageLocationService:
    service: ImageLocationService = routes._api(request).locations
    return service


@router.post("/v2/images/{image_id}/locations")
async def add_location(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    url, validation_data = parse_add_location(await routes._json_body(request))
    await _locations(request).add_location(
        caller, image_id, url=url, validation_data=validation_data,
        request_id=request_id(request),
    )
    # Glance's ResponseSerializer.add_location: 202 and no body (its api-ref says 200).
    return Response(status_code=202)


@router.get("/v2/images/{image_id}/locations")
async def get_locations(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    found = await _locations(request).locations(caller, image_id)
    # A bare list; Glance drops each location's id and status.
    return routes._json([schemas.location_view(loc) for loc in found])


__all__ = ["parse_add_location", "router"]
