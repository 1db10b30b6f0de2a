"""cloud/keystone.py against a small stand-in Keystone (an HTTP server in a thread):
the service user's login, token validation with X-Subject-Token, and the validator's
bounded cache in front of it (a revoked token is refused once its entry expires)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cinderlite.cloud.keystone import Keystone, ServiceUser
from cinderlite.domain.errors import DependencyUnavailable, Unauthenticated
from cinderlite.services.auth import EmbeddedTokenValidator


def _token_body(user: str, project: str, roles: list[str]) -> dict[str, Any]:
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return {"token": {
        "methods": ["password"], "expires_at": expires, "issued_at": expires,
        "user": {"id": f"{user}-id", "name": user,
                 "domain": {"id": "default", "name": "Default"}},
        "project": {"id": f"{project}-id", "name": project,
                    "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": f"{r}-id", "name": r} for r in roles],
        "catalog": [],
    }}


class StandIn:
    def __init__(self) -> None:
        self.valid: dict[str, dict[str, Any]] = {}
        self.validations: list[tuple[str, str]] = []  # (X-Auth-Token, X-Subject-Token)
        self.answer: int | None = None  # force this status on validations


@pytest.fixture
def keystone() -> Iterator[tuple[StandIn, str]]:
    state = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            auth = json.loads(self.rfile.read(length))["auth"]
            user = auth["identity"]["password"]["user"]
            if user["password"] != "svc-secret":
                self._send(401, {"error": {"code": 401}})
                return
            self._send(201, _token_body(user["name"], "service", ["admin", "service"]),
                       {"X-Subject-Token": "svc-token"})

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v3":
                self._send(200, {"version": {"id": "v3.14", "status": "stable", "links": [
                    {"rel": "self", "href": f"http://127.0.0.1:{port}/v3/"}]}})
                return
            subject = self.headers.get("X-Subject-Token", "")
            state.validations.append((self.headers.get("X-Auth-Token", ""), subject))
            if state.answer is not None:
                self._send(state.answer, {"error": {"code": state.answer}})
            elif subject in state.valid:
                self._send(200, state.valid[subject], {"X-Subject-Token": subject})
            else:
                self._send(404, {"error": {"code": 404, "message": "Could not find token"}})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def _client(url: str, password: str = "svc-secret") -> Keystone:
    return Keystone(ServiceUser(auth_url=url, username="cinderlite", password=password,
                                project_name="service"))


async def test_a_valid_token_gives_its_caller(keystone: tuple[StandIn, str]) -> None:
    state, url = keystone
    state.valid["user-token"] = _token_body("alice", "demo", ["member", "reader"])
    caller = await _client(url).caller("user-token")
    assert (caller.user_name, caller.project_id) == ("alice", "demo-id")
    assert caller.roles == frozenset({"member", "reader"})
    assert caller.auth_token == "user-token"
    assert caller.expires_at is not None
    assert caller.expires_at.tzinfo is None
    # Validated with the service user's own token, the caller's as the subject.
    assert state.validations == [("svc-token", "user-token")]


async def test_unknown_or_revoked_token_is_unauthenticated(keystone: tuple[StandIn, str]) -> None:
    _, url = keystone
    with pytest.raises(Unauthenticated):
        await _client(url).caller("nope")


async def test_keystone_trouble_is_a_dependency_failure(keystone: tuple[StandIn, str]) -> None:
    state, url = keystone
    with pytest.raises(DependencyUnavailable):
        await _client(url, password="wrong").caller("user-token")
    state.answer = 403  # a service user without the role to validate
    with pytest.raises(DependencyUnavailable):
        await _client(url).caller("user-token")
    with pytest.raises(DependencyUnavailable):
        await _client("http://127.0.0.1:9").caller("user-token")


async def test_revocation_is_seen_within_the_cache_time(keystone: tuple[StandIn, str]) -> None:
    state, url = keystone
    state.valid["user-token"] = _token_body("alice", "demo", ["member"])
    now = [1000.0]
    validator = EmbeddedTokenValidator(_client(url), cache_seconds=60, clock=lambda: now[0],
                                       refresh_ahead_seconds=0)
    assert (await validator.validate("user-token")).user_name == "alice"
    del state.valid["user-token"]  # revoked in Keystone
    now[0] += 59
    assert (await validator.validate("user-token")).user_name == "alice"  # cached
    assert len(state.validations) == 1
    now[0] += 2
    with pytest.raises(Unauthenticated):
        await validator.validate("user-token")
