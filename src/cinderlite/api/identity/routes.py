"""HTTP routes of the identity API (Keystone v3 subset): version documents and
the admin resources (domains, projects, users, roles, grants, role assignments).

Each route calls one method of `IdentityAdminService`, which runs a write in one
unit of work: a crash or an error halfway rolls all of it back, so a request is
applied completely or not at all. Token routes live in tokens.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from cinderlite.api.faults import GENERIC_500, KEYSTONE_STATUS, keystone_error, status_for
from cinderlite.api.identity import catalog, implied_roles, schemas, system, tokens
from cinderlite.api.identity.deps import (
    api,
    base_url,
    current_caller,
    is_true,
    read_json,
    require_admin,
    require_admin_or_system_reader,
    self_url,
)
from cinderlite.domain.errors import InvalidRequest, ServiceError, Unauthenticated
from cinderlite.domain.identity import DEFAULT_DOMAIN_ID
from cinderlite.services.identity_policy import check_admin, check_admin_or_self

router = APIRouter()
router.include_router(tokens.router)
router.include_router(implied_roles.router)
router.include_router(catalog.router)
router.include_router(system.router)


def render_error(request: Request, exc: ServiceError) -> Response:
    status = status_for(exc, KEYSTONE_STATUS)
    headers = None
    if isinstance(exc, Unauthenticated):
        headers = {"WWW-Authenticate": f'Keystone uri="{api(request).identity_url}"'}
    return keystone_error(status, exc.message, headers)


def render_status(request: Request, status: int, detail: str) -> Response:
    return keystone_error(status, detail)


def render_500() -> Response:
    return keystone_error(500, GENERIC_500)


# --- version documents --------------------------------------------------------------


@router.get("/")
async def versions(request: Request) -> Response:
    entry = schemas.version_entry(base_url(request))
    return JSONResponse({"versions": {"values": [entry]}}, status_code=300)


@router.get("/v3")
@router.get("/v3/")
async def version_v3(request: Request) -> Response:
    return JSONResponse({"version": schemas.version_entry(base_url(request))})


# --- helpers ----------------------------------------------------------------------------


def _enabled_filter(request: Request, items: list[Any]) -> list[Any]:
    raw = request.query_params.get("enabled")
    if raw is None:
        return items
    wanted = is_true(raw)
    return [i for i in items if i.enabled == wanted]


def _ok(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


# --- domains --------------------------------------------------------------------------------


@router.get("/v3/domains")
async def list_domains(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_domains")
    domains = await api(request).admin.list_domains(
        name=request.query_params.get("name")
    )
    items = [schemas.domain_view(d, base_url(request)) for d in _enabled_filter(request, domains)]
    return _ok(schemas.collection("domains", items, self_url(request)))


@router.get("/v3/domains/{domain_id}")
async def show_domain(request: Request, domain_id: str) -> Response:
    caller = await current_caller(request)
    if caller.project_domain_id != domain_id:
        check_admin(caller, "get_domain")
    domain = await api(request).admin.get_domain(domain_id)
    return _ok({"domain": schemas.domain_view(domain, base_url(request))})


# --- projects -------------------------------------------------------------------------------


@router.get("/v3/projects")
async def list_projects(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_projects")
    q = request.query_params
    projects = await api(request).admin.list_projects(
        name=q.get("name"), domain_id=q.get("domain_id")
    )
    base = base_url(request)
    items = [schemas.project_view(p, base) for p in _enabled_filter(request, projects)]
    return _ok(schemas.collection("projects", items, self_url(request)))


@router.post("/v3/projects")
async def create_project(request: Request) -> Response:
    caller = await require_admin(request, "create_project")
    body = schemas.check(schemas.PROJECT_CREATE, await read_json(request))["project"]
    if body.get("is_domain"):
        raise InvalidRequest("Projects acting as domains are not supported.")
    domain_id = body.get("domain_id") or caller.project_domain_id or DEFAULT_DOMAIN_ID
    parent_id = body.get("parent_id")
    if parent_id and parent_id != domain_id:
        raise InvalidRequest("Hierarchical projects are not supported.")
    project = await api(request).admin.create_project(
        name=body["name"], domain_id=domain_id,
        description=body.get("description") or "", enabled=body.get("enabled", True),
    )
    return _ok({"project": schemas.project_view(project, base_url(request))}, 201)


@router.get("/v3/projects/{project_id}")
async def show_project(request: Request, project_id: str) -> Response:
    caller = await current_caller(request)
    if caller.project_id != project_id:
        check_admin(caller, "get_project")
    project = await api(request).admin.get_project(project_id)
    return _ok({"project": schemas.project_view(project, base_url(request))})


@router.patch("/v3/projects/{project_id}")
async def update_project(request: Request, project_id: str) -> Response:
    await require_admin(request, "update_project")
    body = schemas.check(schemas.PROJECT_UPDATE, await read_json(request))["project"]
    if "description" in body and body["description"] is None:
        body["description"] = ""
    project = await api(request).admin.update_project(project_id, body)
    await _forget_cached_tokens(request)
    return _ok({"project": schemas.project_view(project, base_url(request))})


@router.delete("/v3/projects/{project_id}")
async def delete_project(request: Request, project_id: str) -> Response:
    await require_admin(request, "delete_project")
    await api(request).admin.delete_project(project_id)
    await _forget_cached_tokens(request)
    return Response(status_code=204)


async def _forget_cached_tokens(request: Request) -> None:
    """After a change that can invalidate other tokens (a user disabled or deleted, a
    role revoked), drop the validator's cache so the change applies at once."""
    await api(request).validator.clear()


# --- users ------------------------------------------------------------------------------------


@router.get("/v3/users")
async def list_users(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_users")
    q = request.query_params
    users = await api(request).admin.list_users(
        name=q.get("name"), domain_id=q.get("domain_id")
    )
    base = base_url(request)
    items = [schemas.user_view(u, base) for u in _enabled_filter(request, users)]
    return _ok(schemas.collection("users", items, self_url(request)))


@router.post("/v3/users")
async def create_user(request: Request) -> Response:
    caller = await require_admin(request, "create_user")
    body = schemas.check(schemas.USER_CREATE, await read_json(request))["user"]
    user = await api(request).admin.create_user(
        name=body["name"],
        domain_id=body.get("domain_id") or caller.project_domain_id or DEFAULT_DOMAIN_ID,
        password=body.get("password"), default_project_id=body.get("default_project_id"),
        enabled=body.get("enabled", True), email=body.get("email"),
        description=body.get("description") or "",
    )
    return _ok({"user": schemas.user_view(user, base_url(request))}, 201)


@router.get("/v3/users/{user_id}")
async def show_user(request: Request, user_id: str) -> Response:
    caller = await current_caller(request)
    check_admin_or_self(caller, "get_user", user_id)
    user = await api(request).admin.get_user(user_id)
    return _ok({"user": schemas.user_view(user, base_url(request))})


@router.patch("/v3/users/{user_id}")
async def update_user(request: Request, user_id: str) -> Response:
    await require_admin(request, "update_user")
    body = schemas.check(schemas.USER_UPDATE, await read_json(request))["user"]
    if "description" in body and body["description"] is None:
        body["description"] = ""
    user = await api(request).admin.update_user(user_id, body)
    await _forget_cached_tokens(request)
    return _ok({"user": schemas.user_view(user, base_url(request))})


@router.post("/v3/users/{user_id}/password")
async def change_password(request: Request, user_id: str) -> Response:
    """Self-service password change: needs the original password, revokes the user's tokens."""
    caller = await current_caller(request)
    check_admin_or_self(caller, "change_password", user_id)
    body = schemas.check(schemas.PASSWORD_CHANGE, await read_json(request))["user"]
    await api(request).admin.change_password(
        user_id, original_password=body["original_password"], password=body["password"]
    )
    await _forget_cached_tokens(request)
    return Response(status_code=204)


@router.delete("/v3/users/{user_id}")
async def delete_user(request: Request, user_id: str) -> Response:
    await require_admin(request, "delete_user")
    await api(request).admin.delete_user(user_id)
    await _forget_cached_tokens(request)
    return Response(status_code=204)


@router.get("/v3/users/{user_id}/projects")
async def list_user_projects(request: Request, user_id: str) -> Response:
    caller = await current_caller(request)
    check_admin_or_self(caller, "list_user_projects", user_id)
    projects = await api(request).admin.user_projects(user_id)
    base = base_url(request)
    items = [schemas.project_view(p, base) for p in _enabled_filter(request, projects)]
    return _ok(schemas.collection("projects", items, self_url(request)))


# --- roles, grants and assignments --------------------------------------------------------------


@router.get("/v3/roles")
async def list_roles(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_roles")
    roles = await api(request).admin.list_roles(name=request.query_params.get("name"))
    if request.query_params.get("domain_id"):
        roles = []  # every role here is global; none belongs to a domain
    items = [schemas.role_view(r, base_url(request)) for r in roles]
    return _ok(schemas.collection("roles", items, self_url(request)))


@router.post("/v3/roles")
async def create_role(request: Request) -> Response:
    await require_admin(request, "create_role")
    body = schemas.check(schemas.ROLE_CREATE, await read_json(request))["role"]
    role = await api(request).admin.create_role(
        name=body["name"], description=body.get("description") or ""
    )
    return _ok({"role": schemas.role_view(role, base_url(request))}, 201)


@router.get("/v3/roles/{role_id}")
async def show_role(request: Request, role_id: str) -> Response:
    await require_admin_or_system_reader(request, "get_role")
    role = await api(request).admin.get_role(role_id)
    return _ok({"role": schemas.role_view(role, base_url(request))})


@router.delete("/v3/roles/{role_id}")
async def delete_role(request: Request, role_id: str) -> Response:
    await require_admin(request, "delete_role")
    await api(request).admin.delete_role(role_id)
    await _forget_cached_tokens(request)
    return Response(status_code=204)


@router.get("/v3/projects/{project_id}/users/{user_id}/roles")
async def list_grants(request: Request, project_id: str, user_id: str) -> Response:
    await require_admin_or_system_reader(request, "list_grants")
    roles = await api(request).admin.project_user_roles(project_id=project_id, user_id=user_id)
    items = [schemas.role_view(r, base_url(request)) for r in roles]
    return _ok(schemas.collection("roles", items, self_url(request)))


@router.put("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}")
async def create_grant(request: Request, project_id: str, user_id: str, role_id: str) -> Response:
    await require_admin(request, "create_grant")
    await api(request).admin.grant_role(project_id=project_id, user_id=user_id, role_id=role_id)
    return Response(status_code=204)


@router.api_route("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}",
                  methods=["GET", "HEAD"])
async def check_grant(request: Request, project_id: str, user_id: str, role_id: str) -> Response:
    await require_admin_or_system_reader(request, "check_grant")
    await api(request).admin.check_grant(
        project_id=project_id, user_id=user_id, role_id=role_id
    )
    return Response(status_code=204)


@router.delete("/v3/projects/{project_id}/users/{user_id}/roles/{role_id}")
async def revoke_grant(request: Request, project_id: str, user_id: str, role_id: str) -> Response:
    await require_admin(request, "revoke_grant")
    await api(request).admin.revoke_role(
        project_id=project_id, user_id=user_id, role_id=role_id
    )
    await _forget_cached_tokens(request)
    return Response(status_code=204)


@router.get("/v3/role_assignments")
async def list_role_assignments(request: Request) -> Response:
    await require_admin_or_system_reader(request, "list_role_assignments")
    q = request.query_params
    base = base_url(request)
    # Only direct user grants on projects and on the system exist: filters for
    # groups, domains or inheritance match nothing; `scope.system` must be `all`.
    if any(q.get(k) for k in ("group.id", "scope.domain.id",
                               "scope.OS-INHERIT:inherited_to")) or (
        q.get("scope.system") not in (None, "all")
    ):
        return _ok(schemas.collection("role_assignments", [], self_url(request)))
    system_only = q.get("scope.system") == "all"
    found = await api(request).admin.list_assignments(
        user_id=q.get("user.id"), project_id=q.get("scope.project.id"),
        role_id=q.get("role.id"), effective="effective" in q,
        projects=not system_only,
    )
    names = is_true(q.get("include_names"))
    items = [schemas.assignment_view(a, base, include_names=names) for a in found]
    return _ok(schemas.collection("role_assignments", items, self_url(request)))
