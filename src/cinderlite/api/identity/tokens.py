"""Keystone v3 token routes: issue, validate, check, revoke; the caller's projects and catalog.

Issuing checks the credentials in a read session, then re-checks them and
INSERTs the token in one short write transaction; revoking is one UPDATE. A crash
halfway leaves either no token or an unrevoked token, never a half-written one.
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
    is_true,
    read_json,
    self_url,
)
from cinderlite.domain.errors import NotFound
from cinderlite.services import catalog, identity, identity_admin

router = APIRouter()


async def _catalog(request: Request, *, project_id: str | None,
                   user_id: str) -> list[dict[str, Any]]:
    async with api(request).units.read() as db:
        return await catalog.token_catalog(db, project_id=project_id, user_id=user_id)


async def _token_response(
    request: Request, info: identity.TokenInfo, status: int, token: str
) -> JSONResponse:
    nocatalog = "nocatalog" in request.query_params and is_true(
        request.query_params.get("nocatalog") or "1"
    )
    entries = None
    if (info.project is not None or info.system) and not nocatalog:
        entries = await _catalog(
            request, project_id=info.project.id if info.project else None, user_id=info.user.id
        )
    return JSONResponse(
        schemas.token_body(info, entries), status_code=status,
        headers={"X-Subject-Token": token},
    )


@router.post("/v3/auth/tokens")
async def issue_token(request: Request) -> Response:
    req = schemas.parse_auth(await read_json(request))
    deps = api(request)
    # The password check (Argon2) reads only; the write transaction re-checks
    # and inserts, so the write lock is held for milliseconds, not ~0.1 s.
    async with deps.units.read() as db:
        verified = await identity.verify_auth(db, req)
    async with deps.units.write() as db:
        issued, info = await identity.issue_verified(
            db, verified, lifetime_seconds=deps.token_lifetime_seconds
        )
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
    async with api(request).units.read() as db:
        info = await identity.describe_token(db, token=subject)
    identity_admin.check_admin_or_self(caller, op, info.user.id)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": subject})
    return await _token_response(request, info, 200, subject)


@router.delete("/v3/auth/tokens", status_code=204)
async def revoke_token(request: Request) -> Response:
    caller = await current_caller(request)
    subject = _subject(request)
    deps = api(request)
    async with deps.units.write() as db:
        info = await identity.describe_token(db, token=subject)
        identity_admin.check_admin_or_self(caller, "revoke_token", info.user.id)
        await identity.revoke_token(db, token=subject)
    deps.validator.forget(subject)
    return Response(status_code=204)


@router.get("/v3/auth/projects")
async def auth_projects(request: Request) -> Response:
    caller = await current_caller(request)
    async with api(request).units.read() as db:
        projects = await identity_admin.user_projects(db, caller.user_id)
    base = base_url(request)
    items = [schemas.project_view(p, base) for p in projects if p.enabled]
    return JSONResponse(schemas.collection("projects", items, self_url(request)))


@router.get("/v3/auth/catalog")
async def auth_catalog(request: Request) -> Response:
    caller = await current_caller(request)
    entries = []
    if caller.project_id or caller.system_scope:
        entries = await _catalog(request, project_id=caller.project_id or None,
                                 user_id=caller.user_id)
    return JSONResponse({"catalog": entries, "links": {"self": self_url(request)}})
