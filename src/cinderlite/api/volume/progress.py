"""Upload progress, served beside the volume (never as extra keys in volume bodies):
GET /v3[/{project_id}]/volumes/{volume_id}/upload-progress."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeContext

if TYPE_CHECKING:
    from cinderlite.app import Runtime


async def show_upload_progress(rt: Runtime, ctx: VolumeContext, volume_id: str) -> Response:
    raise NotImplementedError
