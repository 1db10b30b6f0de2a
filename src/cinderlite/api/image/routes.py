"""HTTP routes of the image API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.faults import GENERIC_500, GLANCE_STATUS, glance_error, status_for
from cinderlite.domain.errors import ServiceError

router = APIRouter()


def render_error(request: Request, exc: ServiceError) -> Response:
    return glance_error(status_for(exc, GLANCE_STATUS), exc.message)


def render_status(request: Request, status: int, detail: str) -> Response:
    return glance_error(status, detail)


def render_500() -> Response:
    return glance_error(500, GENERIC_500)
