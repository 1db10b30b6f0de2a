"""HTTP routes of image sharing and image actions (Glance v2 image_members.py and
image_actions.py): members of shared images, their schemas, deactivate/reactivate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.image import routes, schemas
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.records import ImageMemberRecord
from cinderlite.services.image_members import ImageMemberService

router = APIRouter()

# Glance's member ids are project ids; ours are stored in 64 characters.
MAX_MEMBER_ID = 64

_UUID = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)

# glance.schema.Schema("member", ...).minimal(), as GET /v2/schemas/member serves it.
MEMBER_SCHEMA: dict[str, Any] = {
    "name": "member",
    "properties": {
        "member_id": {"type": "string",
                      "description": "An identifier for the image member (tenantId)"},
        "image_id": {"type": "string", "description": "An identifier for the image",
                     "pattern": _UUID},
        "created_at": {"type": "string",
                       "description": "Date and time of image member creation"},
        "updated_at": {"type": "string",
                       "description": "Date and time of last modification of image member"},
        "status": {"type": "string", "description": "The status of this image member",
                   "enum": ["pending", "accepted", "rejected"]},
        "schema": {"readOnly": True, "type": "string"},
    },
}

# CollectionSchema("members", member).minimal().
MEMBERS_SCHEMA: dict[str, Any] = {
    "name": "members",
    "properties": {
        "members": {"type": "array", "items": MEMBER_SCHEMA},
        "schema": {"type": "string"},
    },
    "links": [{"rel": "describedby", "href": "{schema}"}],
}


def _members(request: Request) -> ImageMemberService:
    service: ImageMemberService = routes._api(request).members
    return service


def member_view(member: ImageMemberRecord) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": member.status,
        "created_at": schemas.timestamp(member.created_at),
        "updated_at": schemas.timestamp(member.updated_at),
        "schema": "/v2/schemas/member",
    }


def parse_member(body: Any) -> str:
    """The body of POST .../members, read as Glance's RequestDeserializer.create."""
    if not isinstance(body, dict):
        raise InvalidRequest('Expected a member in the form: {"member": "image_id"}')
    if "member" not in body:
        raise InvalidRequest("Member to be added not specified")
    member = body["member"]
    if not member:
        raise InvalidRequest("Member can't be empty")
    if not isinstance(member, str):
        raise InvalidRequest('Expected a member in the form: {"member": "image_id"}')
    if len(member) > MAX_MEMBER_ID:
        raise InvalidRequest(f"Member can't be longer than {MAX_MEMBER_ID} characters")
    return member


def parse_status(body: Any) -> object:
    """The body of PUT .../members/{member}: the status, checked by the service."""
    if not isinstance(body, dict):
        raise InvalidRequest('Expected a status in the form: {"status": "status"}')
    if "status" not in body:
        raise InvalidRequest("Status not specified")
    status: object = body["status"]
    return status


@router.get("/v2/schemas/member")
async def member_schema(request: Request) -> Response:
    await routes._caller(request)
    return routes._json(MEMBER_SCHEMA)


@router.get("/v2/schemas/members")
async def members_schema(request: Request) -> Response:
    await routes._caller(request)
    return routes._json(MEMBERS_SCHEMA)


@router.post("/v2/images/{image_id}/members")
async def add_member(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    member_id = parse_member(await routes._json_body(request))
    member = await _members(request).add(caller, image_id, member_id)
    return routes._json(member_view(member))


@router.get("/v2/images/{image_id}/members")
async def list_members(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    members = await _members(request).list(caller, image_id)
    return routes._json(
        {"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"}
    )


@router.get("/v2/images/{image_id}/members/{member_id}")
async def show_member(request: Request, image_id: str, member_id: str) -> Response:
    caller = await routes._caller(request)
    member = await _members(request).show(caller, image_id, member_id)
    return routes._json(member_view(member))


@router.put("/v2/images/{image_id}/members/{member_id}")
async def update_member(request: Request, image_id: str, member_id: str) -> Response:
    caller = await routes._caller(request)
    status = parse_status(await routes._json_body(request))
    member = await _members(request).update(caller, image_id, member_id, status)
    return routes._json(member_view(member))


@router.delete("/v2/images/{image_id}/members/{member_id}")
async def delete_member(request: Request, image_id: str, member_id: str) -> Response:
    caller = await routes._caller(request)
    await _members(request).delete(caller, image_id, member_id)
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/deactivate")
async def deactivate(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    await routes._api(request).images.deactivate(caller, image_id)
    return Response(status_code=204)


@router.post("/v2/images/{image_id}/actions/reactivate")
async def reactivate(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    await routes._api(request).images.reactivate(caller, image_id)
    return Response(status_code=204)
