"""HTTP routes of the volume API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.faults import GENERIC_500, CINDER_STATUS, cinder_fault, status_for
from cinderlite.domain.errors import ServiceError

router = APIRouter()


def render_error(request: Request, exc: ServiceError) -> Response:
    return cinder_fault(status_for(exc, CINDER_STATUS), exc.message)


def render_status(request: Request, status: int, detail: str) -> Response:
    return cinder_fault(status, detail)


def render_500() -> Response:
    return cinder_fault(500, GENERIC_500)
