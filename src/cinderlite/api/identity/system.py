"""Keystone's system role assignments: /v3/system/users/{user_id}/roles[/{role_id}].

A role on the system lets a user ask for a system-scoped token
(`"scope": {"system": {"all": true}}`). Admins and system readers read these
grants, admins write them (Keystone's defaults). A revoked grant ends the
user's system-scoped tokens at once, here and in other processes.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from cinderlite.api.identity import schemas
from cinderlite.api.identity.deps import (
    api,
    base_url,
    require_admin,
    require_admin_or_system_reader,
    self_url,
)

router = APIRouter()


@router.api_route("/v3/system/users/{user_id}/roles", methods=["GET", "HEAD"])
async def list_system_grants(request: Request, user_id: str) -> Response:
    await require_admin_or_system_reader(request, "list_system_grants_for_user")
    roles = await api(request).admin.system_user_roles(user_id=user_id)
    items = [schemas.role_view(r, base_url(request)) for r in roles]
    return JSONResponse(schemas.collection("roles", items, self_url(request)))


@router.api_route("/v3/system/users/{user_id}/roles/{role_id}", methods=["GET", "HEAD"])
async def check_system_grant(request: Request, user_id: str, role_id: str) -> Response:
    await require_admin_or_system_reader(request, "check_system_grant_for_user")
    await api(request).admin.check_system_grant(user_id=user_id, role_id=role_id)
    return Response(status_code=204)


@router.put("/v3/system/users/{user_id}/roles/{role_id}")
async def create_system_grant(request: Request, user_id: str, role_id: str) -> Response:
    await require_admin(request, "create_system_grant_for_user")
    await api(request).admin.grant_system_role(user_id=user_id, role_id=role_id)
    return Response(status_code=204)


@router.delete("/v3/system/users/{user_id}/roles/{role_id}")
async def revoke_system_grant(request: Request, user_id: str, role_id: str) -> Response:
    await require_admin(request, "revoke_system_grant_for_user")
    await api(request).admin.revoke_system_role(user_id=user_id, role_id=role_id)
    await api(request).validator.clear()
    return Response(status_code=204)
