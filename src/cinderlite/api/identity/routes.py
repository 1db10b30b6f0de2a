"""HTTP routes of the identity API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.faults import GENERIC_500, KEYSTONE_STATUS, keystone_error, status_for
from cinderlite.domain.errors import ServiceError

router = APIRouter()


def render_error(request: Request, exc: ServiceError) -> Response:
    return keystone_error(status_for(exc, KEYSTONE_STATUS), exc.message)


def render_status(request: Request, status: int, detail: str) -> Response:
    return keystone_error(status, detail)


def render_500() -> Response:
    return keystone_error(500, GENERIC_500)
