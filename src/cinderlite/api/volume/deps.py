"""The request pipeline of the volume API, in Cinder's order (cinder/api/openstack/wsgi.py):
auth -> route -> microversion -> content type -> body -> (action lookup) -> project check.

Each step either fills in the request's VolumeContext or answers with a fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api.faults import cinder_fault, unauthenticated_response
from cinderlite.api.requests import parse_json, read_body, token_caller
from cinderlite.api.volume import versions
from cinderlite.api.volume.context import V2, ApiVersion, VolumeApi, VolumeContext
from cinderlite.domain.errors import (
    DependencyUnavailable,
    MalformedRequest,
    ServiceError,
    Unauthenticated,
    UnsupportedMedia,
)
from cinderlite.domain.identity import Caller

JSON_TYPES = frozenset({"application/json", "application/vnd.openstack.volume+json"})
KEYSTONE_UNAVAILABLE = "The Keystone service is temporarily unavailable."
DECODE_ERROR = (
    "Error decoding your request. Either the URL or the request body contained characters "
    "that could not be decoded by Cinder."
)
# Marks a request whose body had no usable JSON (empty, or no Content-Type: Cinder
# then ignores the body).
NO_BODY = object()


class Rejected(Exception):
    """A pipeline step answered the request itself (401, 503, 400/406 of versions...)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def authenticate(api: VolumeApi, request: Request, which: str) -> Caller:
    """keystonemiddleware: the token's caller, or its 401 (503 when Keystone is down)."""
    try:
        return await token_caller(request, api.validator)
    except Unauthenticated:
        raise Rejected(unauthenticated_response(api.identity_url)) from None
    except DependencyUnavailable:
        # /v2 answers 401 when Keystone is down (docs/api-v2.md); modern Cinder 503.
        if which == "v2":
            raise Rejected(unauthenticated_response(api.identity_url)) from None
        raise Rejected(cinder_fault(503, KEYSTONE_UNAVAILABLE)) from None


def negotiate(request: Request, api: str) -> ApiVersion:
    if api == "v2":
        return V2
    try:
        return versions.parse_header(request.headers.get(versions.HEADER))
    except versions.VersionError as exc:
        raise Rejected(cinder_fault(exc.status, exc.message)) from None


async def read_json(api: VolumeApi, request: Request) -> object:
    """The decoded JSON body, or NO_BODY when it is empty or has no Content-Type.

    Raises TooLarge (413), UnsupportedMedia (415), MalformedRequest (400),
    BadText (400) for strings no database could hold.
    """
    raw = await read_body(request, api.max_request_body_bytes)
    if not raw:
        return NO_BODY
    content_type = request.headers.get("content-type")
    if content_type is None:
        return NO_BODY
    if content_type.split(";", 1)[0].strip().lower() not in JSON_TYPES:
        raise UnsupportedMedia("Unsupported Content-Type")
    return parse_json(raw, malformed="Malformed request body", undecodable=DECODE_ERROR)


T = TypeVar("T")


def no_such_action(name: object) -> str:
    """Cinder's message for an action body naming no action of the resource."""
    return (
        f"There is no such action: {name}. Verify the request body and Content-Type header "
        "and try again."
    )


def find_action(body: object, actions: Mapping[str, T]) -> tuple[str, T]:
    """The one action a POST .../action body names, and what `actions` holds for it
    (Cinder's action lookup: a body that is not a one-key object is malformed)."""
    if not isinstance(body, dict) or len(body) != 1:
        raise MalformedRequest("Malformed request body")
    name = next(iter(body))
    if name not in actions:
        raise MalformedRequest(no_such_action(name))
    return name, actions[name]


def check_project(ctx: VolumeContext) -> None:
    """The URL's project must be the token's (Cinder wsgi Resource._process_stack)."""
    if ctx.url_project_id is not None and ctx.url_project_id != ctx.caller.project_id:
        raise MalformedRequest("Malformed request url")


def fault_for(exc: ServiceError) -> tuple[int, str]:
    """Status and message for errors whose rendering differs from the plain table."""
    if isinstance(exc, DependencyUnavailable):
        if exc.service == "identity":
            return 503, KEYSTONE_UNAVAILABLE
        # The image service is unreachable or misconfigured: 500 on both APIs
        # (deliberately not Cinder's 400: the request was fine, the service was not).
        return 500, exc.message
    return 0, exc.message
