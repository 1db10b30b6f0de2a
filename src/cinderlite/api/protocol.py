"""The HTTP connection protocol the three APIs are served with: uvicorn's httptools
protocol plus the two deadlines it lacks.

uvicorn times out an idle keep-alive connection, but not a client that sends
its request line and headers a byte at a time (or nothing at all after
connecting), nor one whose Content-Length promises more body than it sends:
each such client held a connection and a task for as long as it liked. Here:

- the headers of a request must be complete within `header_timeout` seconds
  of its first byte (of the connection, for the first request);
- a request body must not stall: at most `body_idle_timeout` seconds may pass
  between two of its pieces. A long upload on a slow link is fine as long as
  it keeps moving; time we spend not reading (flow control) does not count.

When a deadline passes the client gets a 408 in the API's own fault format
and the connection is closed; an application still reading the body is told
the client went away (so an image upload goes back to `queued`).
"""

from __future__ import annotations

import logging
from asyncio import TimerHandle, Transport
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger("cinderlite.api")

TIMEOUT_MESSAGE = "The client took too long to send its request."


class DeadlineProtocol(HttpToolsProtocol):
    """Subclassed per server by `protocol_class` with its deadlines and 408 body."""

    header_timeout: float = 30.0
    body_idle_timeout: float = 60.0
    timeout_content_type: bytes = b"application/json"
    timeout_body: bytes = b""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # Disarmed again at once by on_message_complete when there is no body.
        self._arm(self.body_idle_timeout)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm(self.body_idle_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # We stopped reading (the application is behind): not the client's delay.
            self._arm(self.body_idle_timeout)
            return
        cycle = self.cycle
        answer = True
        if cycle is not None and not cycle.response_complete:
            if not cycle.more_body:
                return  # the request is complete; the application is answering it
            # Stalled in the body: the application sees the client leave.
            answer = not cycle.response_started
            cycle.disconnected = True
            cycle.message_event.set()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "client"
        log.info("closing the connection of %s: request not received in time", client)
        if answer:
            self.transport.write(b"".join([
                STATUS_LINE[408],
                b"content-type: ", self.timeout_content_type, b"\r\n",
                b"content-length: ", str(len(self.timeout_body)).encode(), b"\r\n",
                b"connection: close\r\n\r\n",
                self.timeout_body,
            ]))
        self.transport.close()


def protocol_class(
    *, header_timeout: float, body_idle_timeout: float, timeout_body: bytes,
    timeout_content_type: bytes = b"application/json",
) -> type[DeadlineProtocol]:
    """A DeadlineProtocol for one server (uvicorn makes one instance per connection)."""
    return type("ServerDeadlineProtocol", (DeadlineProtocol,), {
        "header_timeout": header_timeout, "body_idle_timeout": body_idle_timeout,
        "timeout_body": timeout_body, "timeout_content_type": timeout_content_type,
    })
