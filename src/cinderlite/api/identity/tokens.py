"""Keystone v3 token routes: issue, validate, check, revoke; the caller's projects and catalog.

Issuing (`IdentityService.authenticate`) checks the credentials in a read unit,
then re-checks them and INSERTs the token in one short write unit; revoking is
one UPDATE. A crash halfway leaves either no token or an unrevoked token, never
a half-written one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from cinderlite.api.identity import schemas
from cinderlite.api.identity.deps import (
    api,
    base_url,
    current_caller,
    is_true,
    read_json,
    self_url,
)
from cinderlite.domain.errors import NotFound
from cinderlite.services.identity import TokenInfo
from cinderlite.services.identity_policy import check_admin_or_self

router = APIRouter()


async def _token_response(
    request: Request, info: TokenInfo, status: int, token: str
) -> JSONResponse:
    nocatalog = "nocatalog" in request.query_params and is_true(
        request.query_params.get("nocatalog") or "1"
    )
    entries = None
    if (info.project is not None or info.system) and not nocatalog:
        entries = await api(request).catalog.token_catalog(
            project_id=info.project.id if info.project else None, user_id=info.user.id
        )
    return JSONResponse(
        schemas.token_body(info, entries), status_code=status,
        headers={"X-Subject-Token": token},
    )


@router.post("/v3/auth/tokens")
async def issue_token(request: Request) -> Response:
    req = schemas.parse_auth(await read_json(request))
    issued, info = await api(request).identity.authenticate(req)
    return await _token_response(request, info, 201, issued.token)


def _subject(request: Request) -> str:
    subject = request.headers.get("x-subject-token")
    if not subject:
        raise NotFound("Could not find token: .")
    return subject


@router.api_route("/v3/auth/tokens", methods=["GET", "HEAD"])
async def validate_token(request: Request) -> Response:
    caller = await current_caller(request)
    subject = _subject(request)
    op = "check_token" if request.method == "HEAD" else "validate_token"
    info = await api(request).identity.describe_token(subject)
    check_admin_or_self(caller, op, info.user.id)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": subject})
    return await _token_response(request, info, 200, subject)


@router.delete("/v3/auth/tokens", status_code=204)
async def revoke_token(request: Request) -> Response:
    caller = await current_caller(request)
    subject = _subject(request)
    deps = api(request)
    await deps.identity.revoke_token(caller, subject)
    await deps.validator.forget(subject)
    return Response(status_code=204)


@router.get("/v3/auth/projects")
async def auth_projects(request: Request) -> Response:
    caller = await current_caller(request)
    projects = await api(request).admin.user_projects(caller.user_id)
    base = base_url(request)
    items = [schemas.project_view(p, base) for p in projects if p.enabled]
    return JSONResponse(schemas.collection("projects", items, self_url(request)))


@router.get("/v3/auth/catalog")
async def auth_catalog(request: Request) -> Response:
    caller = await current_caller(request)
    entries = []
    if caller.project_id or caller.system_scope:
        entries = await api(request).catalog.token_catalog(
            project_id=caller.project_id or None, user_id=caller.user_id
        )
    return JSONResponse({"catalog": entries, "links": {"self": self_url(request)}})
