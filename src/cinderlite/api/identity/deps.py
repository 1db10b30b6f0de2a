"""Request helpers for the identity API: its dependencies, the caller, the JSON body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from cinderlite.api import requests
from cinderlite.api.requests import token_caller
from cinderlite.domain.identity import Caller
from cinderlite.services.auth import TokenValidator
from cinderlite.services.catalog import CatalogService
from cinderlite.services.identity import IdentityService
from cinderlite.services.identity_admin import IdentityAdminService
from cinderlite.services.identity_policy import check_admin, check_admin_or_system_reader

MALFORMED_BODY = (
    "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect. The client is assumed to be in error."
)


@dataclass(frozen=True)
class IdentityApi:
    """What the identity API's routes use; the wiring (app.py) builds it.

    Routes call one service method per request; the services open the units of
    work (one write unit per write, so a write request is applied completely or
    not at all).
    """

    identity: IdentityService
    admin: IdentityAdminService
    catalog: CatalogService
    validator: TokenValidator
    identity_url: str
    max_request_body_bytes: int


def api(request: Request) -> IdentityApi:
    deps: IdentityApi = request.app.state.api
    return deps


async def current_caller(request: Request) -> Caller:
    """The caller behind X-Auth-Token; Unauthenticated (401) when missing or invalid."""
    return await token_caller(request, api(request).validator)


async def require_admin(request: Request, op: str) -> Caller:
    """The caller, when Keystone's admin_required allows it identity:<op>."""
    caller = await current_caller(request)
    check_admin(caller, op)
    return caller


async def require_admin_or_system_reader(request: Request, op: str) -> Caller:
    caller = await current_caller(request)
    check_admin_or_system_reader(caller, op)
    return caller


async def read_json(request: Request) -> Any:
    """The request body as JSON: TooLarge (413) past max_request_body_bytes,
    MalformedRequest (400) when it is not JSON, BadText (400) for bad strings."""
    return await requests.read_json(
        request, api(request).max_request_body_bytes, malformed=MALFORMED_BODY
    )


def is_true(value: str | None) -> bool:
    """Keystone's query flag: present and not '0'/'false' means true (`?include_names`)."""
    if value is None:
        return False
    return value.strip().lower() not in ("0", "false", "no", "off")


def base_url(request: Request) -> str:
    return api(request).identity_url


def self_url(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base_url(request)}{request.url.path}{query}"
