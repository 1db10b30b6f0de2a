"""Keystone's role inference routes: /v3/roles/{prior}/implies[/{implied}] and
/v3/role_inferences, with Keystone's bodies and statuses.

A grant of a prior role also gives the roles it implies (transitively): tokens
list those roles and policies see them. Writes are the admin's, reads the
admin's and system readers' (Keystone's defaults). A change drops every cached
token validation, here and in other processes, since it changes what tokens
grant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from cinderlite.api.identity.deps import (
    api,
    base_url,
    require_admin,
    require_admin_or_system_reader,
)
from cinderlite.domain.records import RoleRecord
from cinderlite.services.identity_admin import Inference

router = APIRouter()


def _ref(role: RoleRecord, base: str) -> dict[str, Any]:
    return {"id": role.id, "links": {"self": f"{base}/v3/roles/{role.id}"}, "name": role.name}


def _inference(found: Inference, base: str, *, one: bool) -> dict[str, Any]:
    implies = [_ref(r, base) for r in found.implies]
    return {"prior_role": _ref(found.prior, base), "implies": implies[0] if one else implies}


@router.api_route("/v3/roles/{prior_role_id}/implies", methods=["GET", "HEAD"])
async def list_implied_roles(request: Request, prior_role_id: str) -> Response:
    await require_admin_or_system_reader(request, "list_implied_roles")
    found = await api(request).admin.implied_roles_of(prior_role_id)
    base = base_url(request)
    return JSONResponse({
        "role_inference": _inference(found, base, one=False),
        "links": {"self": f"{base}/v3/roles/{prior_role_id}/implies"},
    })


@router.put("/v3/roles/{prior_role_id}/implies/{implied_role_id}")
async def create_implied_role(
    request: Request, prior_role_id: str, implied_role_id: str
) -> Response:
    await require_admin(request, "create_implied_role")
    found = await api(request).admin.create_implied_role(prior_role_id, implied_role_id)
    await api(request).validator.clear()
    return _one(request, found, 201)


@router.get("/v3/roles/{prior_role_id}/implies/{implied_role_id}")
async def get_implied_role(request: Request, prior_role_id: str, implied_role_id: str) -> Response:
    await require_admin_or_system_reader(request, "get_implied_role")
    found = await api(request).admin.implied_role(prior_role_id, implied_role_id)
    return _one(request, found, 200)


@router.head("/v3/roles/{prior_role_id}/implies/{implied_role_id}")
async def check_implied_role(
    request: Request, prior_role_id: str, implied_role_id: str
) -> Response:
    await require_admin_or_system_reader(request, "check_implied_role")
    await api(request).admin.implied_role(prior_role_id, implied_role_id)
    return Response(status_code=204)  # Keystone answers HEAD with 204, not 200


@router.delete("/v3/roles/{prior_role_id}/implies/{implied_role_id}")
async def delete_implied_role(
    request: Request, prior_role_id: str, implied_role_id: str
) -> Response:
    await require_admin(request, "delete_implied_role")
    await api(request).admin.delete_implied_role(prior_role_id, implied_role_id)
    await api(request).validator.clear()
    return Response(status_code=204)


@router.api_route("/v3/role_inferences", methods=["GET", "HEAD"])
async def list_role_inferences(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_role_inference_rules")
    found = await api(request).admin.role_inferences()
    base = base_url(request)
    return JSONResponse({"role_inferences": [_inference(f, base, one=False) for f in found]})


def _one(request: Request, found: Inference, status: int) -> Response:
    base = base_url(request)
    prior, implied = found.prior.id, found.implies[0].id
    return JSONResponse({
        "role_inference": _inference(found, base, one=True),
        "links": {"self": f"{base}/v3/roles/{prior}/implies/{implied}"},
    }, status_code=status)
