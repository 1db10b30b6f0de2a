"""User messages API (microversion 3.3+): GET/DELETE /v3[/{project_id}]/messages[/{id}]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeContext

if TYPE_CHECKING:
    from cinderlite.app import Runtime


async def list_messages(rt: Runtime, ctx: VolumeContext, query: Mapping[str, str]) -> Response:
    raise NotImplementedError


async def show_message(rt: Runtime, ctx: VolumeContext, message_id: str) -> Response:
    raise NotImplementedError


async def delete_message(rt: Runtime, ctx: VolumeContext, message_id: str) -> Response:
    raise NotImplementedError
