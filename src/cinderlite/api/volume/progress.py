"""Upload progress, served beside the volume (never as extra keys in volume bodies):
GET /v3[/{project_id}]/volumes/{volume_id}/upload-progress."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeContext
from cinderlite.db import uploads as uploads_db
from cinderlite.domain.errors import NotFound, VolumeNotFound
from cinderlite.services import policy as rules
from cinderlite.services.uploads import progress_view

if TYPE_CHECKING:
    from cinderlite.app import Runtime


class NoUploadRunning(NotFound):
    def __init__(self, volume_id: str) -> None:
        super().__init__(f"No upload is running for volume {volume_id}.")


async def show_upload_progress(rt: Runtime, ctx: VolumeContext, volume_id: str) -> Response:
    """`{"upload_progress": {...}}` of the volume's unfinished upload; 404 when none runs."""
    async with rt.transaction() as db:
        volume = await uploads_db.get_volume(db, volume_id=volume_id)
        if volume is None or not rt.policy.allows(
            ctx.caller, rules.VOLUME_GET, {"project_id": volume.project_id}
        ):
            raise VolumeNotFound(volume_id)
        job = await uploads_db.unfinished_upload_for_volume(db, volume_id=volume_id)
    if job is None:
        raise NoUploadRunning(volume_id)
    body = {"upload_progress": progress_view(job, rt.jobs.progress(job.id))}
    return Response(json.dumps(body), status_code=200, media_type="application/json")
