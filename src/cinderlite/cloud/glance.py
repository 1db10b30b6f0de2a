"""A real Glance (v2), as Cinder's glance image service talks to it.

Every call carries the caller's token (`X-Auth-Token`) and this service's own
token (`X-Service-Token`, Cinder's send_service_user_token): Glance's
keystonemiddleware then accepts a user token that expired during a long upload.
Without a caller's token (start-up recovery) the service token is used alone.

Glance's answers become our errors as Cinder's glance.py translates them:
400 InvalidRequest, 401 Unauthenticated, 403 Forbidden, 404 ImageNotFound,
409 Conflict, 413 TooLarge (its quota or image_size_cap); anything else, and a
Glance that cannot be reached, DependencyUnavailable("image").
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from cinderlite.domain.errors import (
    Conflict,
    DependencyUnavailable,
    Forbidden,
    ImageNotFound,
    InvalidRequest,
    ServiceError,
    TooLarge,
    Unauthenticated,
)

log = logging.getLogger("cinderlite.glance")

CHUNK = 1 << 20


def _message(resp: httpx.Response) -> str:
    """Glance's own words: its faults are HTML or text titled by the status."""
    text = resp.text.strip()
    with contextlib.suppress(ValueError):
        body = json.loads(text)
        if isinstance(body, dict):
            text = str(body.get("message") or body.get("title") or text)
    return " ".join(text.split())[:500] or resp.reason_phrase


def error_for(resp: httpx.Response, image_id: str | None) -> ServiceError:
    status = resp.status_code
    detail = f"Glance answered {status}: {_message(resp)}"
    if status == 400:
        return InvalidRequest(detail)
    if status == 401:
        return Unauthenticated(detail)
    if status == 403:
        return Forbidden(detail)
    if status == 404:
        return ImageNotFound(image_id) if image_id else InvalidRequest(detail)
    if status == 409:
        return Conflict(detail)
    if status == 413:
        return TooLarge(detail)
    return DependencyUnavailable("image", detail)


class Glance:
    """Calls to one Glance; `url` finds its endpoint (a setting or the catalog)."""

    def __init__(
        self, *, url: Callable[[], Awaitable[str]], service_token: Callable[[], Awaitable[str]],
        timeout: float = 300.0, transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._service_token = service_token
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=10.0), trust_env=False, transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _headers(self, token: str) -> dict[str, str]:
        service = await self._service_token()
        headers = {"X-Auth-Token": token or service}
        if token:
            headers["X-Service-Token"] = service
        return headers

    async def _base(self) -> str:
        url = (await self._url()).rstrip("/")
        return url.removesuffix("/v2")

    async def _send(
        self, method: str, path: str, token: str, image_id: str | None, *,
        json_body: Any = None, content: Any = None, extra: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> httpx.Response:
        headers = await self._headers(token)
        headers.update(extra or {})
        try:
            resp = await self._client.request(
                method, f"{await self._base()}{path}", headers=headers, json=json_body,
                content=content,
            )
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("image", f"Glance unreachable: {exc!r}") from exc
        if resp.status_code not in ok:
            raise error_for(resp, image_id)
        return resp

    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v2/images: the queued image's record."""
        resp = await self._send("POST", "/v2/images", token, None, json_body=body)
        result: dict[str, Any] = resp.json()
        return result

    async def get(self, token: str, image_id: str) -> dict[str, Any] | None:
        """The image as the token's owner sees it; None when Glance says 404."""
        try:
            resp = await self._send("GET", f"/v2/images/{image_id}", token, image_id)
        except ImageNotFound:
            return None
        result: dict[str, Any] = resp.json()
        return result

    async def upload(
        self, token: str, image_id: str, chunks: AsyncIterator[bytes], size: int
    ) -> None:
        """PUT /v2/images/{id}/file, streamed; Glance hashes it and makes it active."""
        await self._send(
            "PUT", f"/v2/images/{image_id}/file", token, image_id, content=chunks,
            extra={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )

    @contextlib.asynccontextmanager
    async def download(self, token: str, image_id: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """GET /v2/images/{id}/file: the data's chunks, read while the block lasts."""
        headers = await self._headers(token)
        url = f"{await self._base()}/v2/images/{image_id}/file"
        try:
            async with self._client.stream("GET", url, headers=headers) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise error_for(resp, image_id)
                yield resp.aiter_bytes(CHUNK)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("image", f"Glance unreachable: {exc!r}") from exc

    async def delete(self, token: str, image_id: str) -> None:
        """DELETE /v2/images/{id}; an image already gone is not an error."""
        try:
            await self._send("DELETE", f"/v2/images/{image_id}", token, image_id)
        except ImageNotFound:
            return


__all__ = ["Glance", "error_for"]
