"""Request helpers for the identity API: the runtime, the caller, the JSON body."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from fastapi import Request

from cinderlite.domain.errors import (
    InvalidRequest,
    MalformedRequest,
    TooLarge,
    Unauthenticated,
)
from cinderlite.domain.identity import Caller

if TYPE_CHECKING:
    from cinderlite.app import Runtime

MALFORMED_BODY = (
    "The server could not comply with the request since it is either malformed or "
    "otherwise incorrect. The client is assumed to be in error."
)


def runtime(request: Request) -> Runtime:
    return request.app.state.rt  # type: ignore[no-any-return]


async def current_caller(request: Request) -> Caller:
    """The caller behind X-Auth-Token; Unauthenticated (401) when missing or invalid."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthenticated()
    return await runtime(request).validator.validate(token)


async def read_json(request: Request) -> Any:
    """The request body as JSON. TooLarge (413) past max_request_body_bytes, read in
    chunks so a lying or absent Content-Length cannot make us buffer more."""
    limit = runtime(request).settings.max_request_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge("Request is too large.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge("Request is too large.")
        chunks.append(chunk)
    try:
        body = json.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequest(MALFORMED_BODY) from exc
    _check_no_nul(body)
    return body


def _check_no_nul(value: Any) -> None:
    """Text columns (PostgreSQL) cannot hold NUL: refuse it as bad input, not a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidRequest("Invalid input: strings must not contain NUL characters.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_no_nul(key)
            _check_no_nul(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_no_nul(item)


async def reject_nul_in_url(request: Request) -> None:
    """Router dependency: ids and filters come from the path and query string."""
    _check_no_nul(request.url.path)
    _check_no_nul(list(request.query_params.multi_items()))
    _check_no_nul(list(request.path_params.values()))


def is_true(value: str | None) -> bool:
    """Keystone's query flag: present and not '0'/'false' means true (`?include_names`)."""
    if value is None:
        return False
    return value.strip().lower() not in ("0", "false", "no", "off")


def base_url(request: Request) -> str:
    return runtime(request).settings.identity_url()


def self_url(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base_url(request)}{request.url.path}{query}"
