"""A small stdlib HTTP client for the three APIs (keep-alive, one connection per
port and thread): token, volumes, the upload action, images."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from bench.server import Ports


class ApiError(RuntimeError):
    def __init__(self, method: str, url: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {url} -> {status}: {body[:500].decode(errors='replace')}")
        self.status = status


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Client:
    def __init__(self, ports: Ports, openrc: dict[str, str], timeout: float = 60.0) -> None:
        self.ports = ports
        self.openrc = openrc
        self.timeout = timeout
        self.token = ""
        self.project_id = ""
        self.last_polls = 0
        self._local = threading.local()

    # -- transport -------------------------------------------------------------------------

    def _conn(self, port: int) -> http.client.HTTPConnection:
        conns: dict[int, http.client.HTTPConnection] = self._local.__dict__.setdefault("c", {})
        conn = conns.get(port)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=self.timeout)
            conns[port] = conn
        return conn

    def _drop(self, port: int) -> None:
        conns = self._local.__dict__.get("c", {})
        conn = conns.pop(port, None)
        if conn is not None:
            conn.close()

    def request(
        self,
        method: str,
        port: int,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
        stream_to: Callable[[bytes], None] | None = None,
    ) -> Response:
        hdrs = {"Accept": "application/json"}
        if self.token:
            hdrs["X-Auth-Token"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in (1, 2):
            conn = self._conn(port)
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                if stream_to is not None and resp.status in expect:
                    while chunk := resp.read(1 << 20):
                        stream_to(chunk)
                    payload = b""
                else:
                    payload = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed while idle: retry once.
                self._drop(port)
                if attempt == 2:
                    raise
        if resp.will_close:
            self._drop(port)
        if resp.status not in expect:
            raise ApiError(method, f"127.0.0.1:{port}{path}", resp.status, payload)
        return Response(resp.status, resp.headers, payload)

    # -- identity --------------------------------------------------------------------------

    def login(self) -> None:
        o = self.openrc
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": o["OS_USERNAME"],
                            "password": o["OS_PASSWORD"],
                            "domain": {"name": o.get("OS_USER_DOMAIN_NAME", "Default")},
                        }
                    },
                },
                "scope": {
                    "project": {
                        "name": o["OS_PROJECT_NAME"],
                        "domain": {"name": o.get("OS_PROJECT_DOMAIN_NAME", "Default")},
                    }
                },
            }
        }
        self.token = ""
        resp = self.request("POST", self.ports.identity, "/v3/auth/tokens", body, expect=(201,))
        self.token = resp.headers["X-Subject-Token"]
        self.project_id = resp.json()["token"]["project"]["id"]

    # -- volumes ---------------------------------------------------------------------------

    def vpath(self, rest: str) -> str:
        return f"/v3/{self.project_id}{rest}"

    def create_volume(self, size_gib: int, name: str) -> dict[str, Any]:
        resp = self.request(
            "POST",
            self.ports.volume,
            self.vpath("/volumes"),
            {"volume": {"size": size_gib, "name": name}},
            expect=(202,),
        )
        return dict(resp.json()["volume"])

    def get_volume(self, volume_id: str) -> dict[str, Any]:
        return dict(
            self.request("GET", self.ports.volume, self.vpath(f"/volumes/{volume_id}")).json()[
                "volume"
            ]
        )

    def wait_volume(
        self, volume_id: str, status: str = "available", timeout: float = 600.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            vol = self.get_volume(volume_id)
            if vol["status"] == status:
                return vol
            if vol["status"] in ("error", "error_deleting") or time.monotonic() > deadline:
                raise RuntimeError(f"volume {volume_id} is {vol['status']}, waited for {status}")
            time.sleep(0.02)

    def delete_volume(self, volume_id: str) -> None:
        self.request(
            "DELETE", self.ports.volume, self.vpath(f"/volumes/{volume_id}"), expect=(202, 204, 404)
        )

    def upload(
        self,
        volume_id: str,
        *,
        image_name: str,
        disk_format: str,
        container_format: str = "bare",
        force: bool = False,
    ) -> dict[str, Any]:
        """POST os-volume_upload_image; returns the 202 body's inner object."""
        body = {
            "os-volume_upload_image": {
                "image_name": image_name,
                "disk_format": disk_format,
                "container_format": container_format,
                "force": force,
            }
        }
        resp = self.request(
            "POST",
            self.ports.volume,
            self.vpath(f"/volumes/{volume_id}/action"),
            body,
            expect=(202,),
        )
        return dict(resp.json()["os-volume_upload_image"])

    # -- images ----------------------------------------------------------------------------

    def put_image_file(self, image_id: str, path: Path) -> None:
        """PUT /v2/images/{id}/file with the file's bytes (streamed, Content-Length set)."""
        port = self.ports.image
        url = f"/v2/images/{image_id}/file"
        conn = self._conn(port)
        conn.blocksize = 1 << 20  # http.client reads a file body in pieces of this size
        with open(path, "rb") as fh:
            conn.request(
                "PUT",
                url,
                body=fh,
                headers={
                    "X-Auth-Token": self.token,
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(os.fstat(fh.fileno()).st_size),
                },
            )
            resp = conn.getresponse()
            payload = resp.read()
        if resp.will_close:
            self._drop(port)
        if resp.status != 204:
            raise ApiError("PUT", f"127.0.0.1:{port}{url}", resp.status, payload)

    def get_image(self, image_id: str) -> dict[str, Any]:
        return dict(self.request("GET", self.ports.image, f"/v2/images/{image_id}").json())

    def wait_image_active(
        self, image_id: str, *, poll: float = 0.02, timeout: float = 1800.0
    ) -> dict[str, Any]:
        """Poll GET /v2/images/{id} until `active` (the number of GETs is left in
        `self.last_polls`).

        The interval grows with the time waited: 5 ms, then 5 % of the time
        waited, at most `poll`. So a 30 ms upload is not read as 40 or 60 ms
        because the poll that sees it active came up to `poll` late, and long
        uploads are not flooded with polls.
        """
        started = time.monotonic()
        deadline = started + timeout
        self.last_polls = 0
        while True:
            self.last_polls += 1
            try:
                image = self.get_image(image_id)
            except ApiError as exc:
                if exc.status == 404:
                    raise RuntimeError(f"image {image_id} disappeared (upload failed)") from exc
                raise
            if image["status"] == "active":
                return image
            if image["status"] in ("killed", "deleted", "deactivated"):
                raise RuntimeError(f"image {image_id} is {image['status']}")
            now = time.monotonic()
            if now > deadline:
                raise RuntimeError(f"image {image_id} still {image['status']} after {timeout}s")
            time.sleep(min(poll, max(0.005, (now - started) / 20)))

    def download_image(self, image_id: str, dest: Path | None = None) -> tuple[str, str, int]:
        """GET /v2/images/{id}/file: (md5, sha512, size) of the body, optionally saved to dest."""
        md5 = hashlib.md5(usedforsecurity=False)
        sha = hashlib.sha512()
        size = 0
        fh: BinaryIO | None = open(dest, "wb") if dest else None  # noqa: SIM115

        def sink(chunk: bytes) -> None:
            nonlocal size
            md5.update(chunk)
            sha.update(chunk)
            size += len(chunk)
            if fh is not None:
                fh.write(chunk)

        try:
            self.request(
                "GET",
                self.ports.image,
                f"/v2/images/{image_id}/file",
                headers={"Accept": "application/octet-stream"},
                stream_to=sink,
            )
        finally:
            if fh is not None:
                fh.close()
        return md5.hexdigest(), sha.hexdigest(), size

    def delete_image(self, image_id: str) -> None:
        self.request("DELETE", self.ports.image, f"/v2/images/{image_id}", expect=(204, 404))
