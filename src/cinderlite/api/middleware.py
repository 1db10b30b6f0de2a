"""ASGI middleware shared by the three APIs: request ids, the access log line and
the last-resort 500."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cinderlite.api")
# One INFO line per request, as Cinder's and Glance's WSGI servers write.
access_log = logging.getLogger("cinderlite.api.access")

_GLOBAL_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def remember_caller(request: Request, caller: Any) -> None:
    """Name the authenticated caller in this request's access log line."""
    request.state.caller = caller


def _who(state: dict[str, Any]) -> str:
    caller = state.get("caller")
    if caller is None:
        return "- -"
    return f"{getattr(caller, 'user_id', '') or '-'} {getattr(caller, 'project_id', '') or '-'}"


class RequestIdMiddleware:
    """Adds `x-openstack-request-id` (and Cinder's `x-compute-request-id`) to every
    response, logs one line per request (method, path, status, bytes, seconds,
    request id, user and project; the raw path as sent, percent-encoded, never
    the query or a header, so no token or password reaches the log), and turns
    an unhandled exception into the API's generic 500 fault with the traceback
    in the log only."""

    def __init__(
        self, app: ASGIApp, *, render_500: Callable[[], Response], compute_id: bool = False
    ) -> None:
        self.app = app
        self.render_500 = render_500
        self.compute_id = compute_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        for name, value in scope.get("headers", ()):
            if name == b"x-openstack-request-id":
                text = value.decode("latin-1")
                if _GLOBAL_ID.match(text):
                    state["global_request_id"] = text
        extra = [(b"x-openstack-request-id", request_id.encode())]
        if self.compute_id:
            extra.append((b"x-compute-request-id", request_id.encode()))
        started = False
        status = 0
        sent = 0
        began = time.monotonic()

        async def send_with_id(message: Message) -> None:
            nonlocal started, status, sent
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = list(message.get("headers", [])) + extra
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s (%s)", scope.get("method"),
                          scope.get("path"), request_id)
            if started:
                raise
            response = self.render_500()
            await response(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                raw_path = scope.get("raw_path") or scope.get("path", "").encode()
                path = raw_path.split(b"?", 1)[0].decode("ascii", "backslashreplace")
                access_log.info(
                    "%s %s status: %s len: %d time: %.4f [%s %s]",
                    scope.get("method"), path, status or "-", sent,
                    time.monotonic() - began, request_id, _who(state),
                )
