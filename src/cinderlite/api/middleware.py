"""ASGI middleware shared by the three APIs: request ids and the last-resort 500."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cinderlite.api")

_GLOBAL_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


class RequestIdMiddleware:
    """Adds `x-openstack-request-id` (and Cinder's `x-compute-request-id`) to every
    response, and turns an unhandled exception into the API's generic 500 fault
    with the traceback in the log only."""

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

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + extra
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
