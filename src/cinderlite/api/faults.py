"""Domain error -> OpenStack fault body, one table per API.

Tables are looked up along the exception's MRO, so a leaf error inherits its
category's status unless a table names the leaf itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from starlette.responses import Response

from cinderlite.domain import errors as e

# Cinder: Fault names by status (cinder/api/openstack/wsgi.py Fault._fault_names).
CINDER_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    # Not one of Cinder's own (webob answers a slow client before Cinder sees it).
    408: "requestTimeout",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    501: "notImplemented",
    503: "serviceUnavailable",
}

CINDER_STATUS: Mapping[type[e.ServiceError], int] = {
    e.NotFound: 404,
    e.InvalidRequest: 400,
    e.MalformedRequest: 400,
    e.Forbidden: 403,
    e.Unauthenticated: 401,
    e.Conflict: 409,
    e.TooLarge: 413,
    e.UnsupportedMedia: 415,
    # Not enough room for the upload: refused before the 202 as a 4xx, the way
    # Cinder's quota and size limits are (overLimit).
    e.StorageFull: 413,
    e.ConversionFailed: 500,
    e.DependencyUnavailable: 503,
    e.ServiceUnavailable: 503,
}

KEYSTONE_STATUS: Mapping[type[e.ServiceError], int] = {
    e.NotFound: 404,
    e.InvalidRequest: 400,
    e.MalformedRequest: 400,
    e.Forbidden: 403,
    e.Unauthenticated: 401,
    e.Conflict: 409,
    e.TooLarge: 413,
    e.UnsupportedMedia: 415,
    e.StorageFull: 507,
    e.ConversionFailed: 500,
    e.DependencyUnavailable: 503,
}

GLANCE_STATUS: Mapping[type[e.ServiceError], int] = {
    e.NotFound: 404,
    e.InvalidRequest: 400,
    e.MalformedRequest: 400,
    e.Forbidden: 403,
    e.Unauthenticated: 401,
    e.Conflict: 409,
    e.TooLarge: 413,
    e.UnsupportedMedia: 415,
    e.StorageFull: 413,
    e.ConversionFailed: 400,
    e.DependencyUnavailable: 503,
}

GENERIC_500 = (
    "The server has either erred or is incapable of performing the requested operation."
)


def status_for(exc: e.ServiceError, table: Mapping[type[e.ServiceError], int]) -> int:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return 500


def _json(body: object, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status_code=status, headers=dict(headers or {}),
        media_type="application/json",
    )


def cinder_fault(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """`{"badRequest": {"code": 400, "message": ...}}` (Cinder wsgi.Fault)."""
    name = CINDER_FAULT_NAMES.get(status, "computeFault")
    return _json({name: {"code": status, "message": message}}, status, headers)


def keystone_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    """`{"error": {"code", "title", "message"}}` (Keystone, and keystonemiddleware's 401)."""
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return _json({"error": {"code": status, "title": title, "message": message}}, status, headers)


def glance_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Glance answers errors through webob; with a JSON Accept webob renders this shape."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = {"code": f"{status} {phrase}", "title": phrase, "message": message}
    return _json(body, status, headers)


def unauthenticated_response(identity_url: str) -> Response:
    """keystonemiddleware's 401, used by the volume and image APIs alike."""
    return keystone_error(
        401,
        "The request you have made requires authentication.",
        {"WWW-Authenticate": f'Keystone uri="{identity_url}"'},
    )
