"""What a client sends, read the same way by the three APIs: the token, bounded JSON
bodies, and text that every database, JSON encoder and log line can hold.

Strings are refused at the edge when they hold NUL (PostgreSQL's text columns
cannot store it) or are not Unicode scalar values (a lone surrogate such as
JSON's "\\ud800" can be stored but never encoded again: once saved it would
break every listing that shows it). Each API renders the refusal in its own
fault format.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from cinderlite.api.middleware import remember_caller
from cinderlite.domain.errors import InvalidRequest, MalformedRequest, TooLarge, Unauthenticated
from cinderlite.domain.identity import Caller
from cinderlite.services.auth import TokenValidator

BAD_TEXT = (
    "Invalid input: strings must be valid UTF-8 without NUL characters or unpaired "
    "surrogates."
)


class BadText(InvalidRequest):
    def __init__(self) -> None:
        super().__init__(BAD_TEXT)


def _bad(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return True
    return False


def check_text(value: Any) -> None:
    """Raise BadText if any string in a decoded JSON value (keys included) is bad.

    Iterative, so that a deeply nested value cannot exhaust the stack here.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _bad(item):
                raise BadText()
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused with TooLarge (413) past `limit` bytes. Read in
    chunks, so a lying or absent Content-Length cannot make us buffer more."""
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
    return b"".join(chunks)


def parse_json(raw: bytes, *, malformed: str, undecodable: str | None = None) -> Any:
    """Decode a JSON body; MalformedRequest(`malformed`) when it is not JSON or nests
    too deeply for the parser, MalformedRequest(`undecodable`) when it is not
    UTF-8 (if given), BadText for bad strings."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest(undecodable or malformed) from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedRequest(malformed) from None
    check_text(value)
    return value


async def read_json(
    request: Request, limit: int, *, malformed: str, undecodable: str | None = None,
    empty: str | None = None,
) -> Any:
    """`read_body` then `parse_json`; an empty body is MalformedRequest(`empty`) when
    given (otherwise it is parsed, and so `malformed`)."""
    raw = await read_body(request, limit)
    if not raw and empty is not None:
        raise MalformedRequest(empty)
    return parse_json(raw, malformed=malformed, undecodable=undecodable)


async def token_caller(request: Request, validator: TokenValidator) -> Caller:
    """keystonemiddleware's part: the caller behind X-Auth-Token, named in the access
    log. Unauthenticated when the token is missing or invalid; the validator's
    DependencyUnavailable when it cannot tell. Each API renders those its own way."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthenticated()
    caller = await validator.validate(token)
    remember_caller(request, caller)
    return caller


def url_is_bad(scope: Scope) -> bool:
    """True when the path or the query string, percent-decoded, is not UTF-8 or holds NUL."""
    raw_path = scope.get("raw_path")
    if raw_path is None and _bad(scope.get("path", "")):  # already percent-decoded
        return True
    for piece in (raw_path or b"", scope.get("query_string", b"")):
        try:
            text = unquote_to_bytes(piece).decode("utf-8")
        except UnicodeDecodeError:
            return True
        if "\x00" in text:
            return True
    return False


class TextGuardMiddleware:
    """Refuse a request whose URL holds bad text before any route sees it.

    `reject(scope)` renders the 400 in the API's own fault format.
    """

    def __init__(self, app: ASGIApp, *, reject: Callable[[Scope], Response]) -> None:
        self.app = app
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and url_is_bad(scope):
            await self.reject(scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)
