"""Upload progress, served beside the volume (never as extra keys in volume bodies):
GET /v3[/{project_id}]/volumes/{volume_id}/upload-progress."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.domain.clock import utcnow


def progress_view(job: Any, live: tuple[int, int, float] | None) -> dict[str, Any]:
    """The upload-progress body of one unfinished upload job."""
    if live is not None:
        done, total, elapsed = live
    else:
        done, total = job.bytes_done or 0, job.bytes_total or 0
        elapsed = (utcnow() - job.started_at).total_seconds() if job.started_at else 0.0
    state = job.state if live is None else "running"
    percent = round(100.0 * done / total, 1) if total else 0.0
    remaining = round(elapsed * (total - done) / done, 1) if done and total > done else None
    if total and done >= total:
        remaining = 0.0
    return {
        "volume_id": job.volume_id, "image_id": job.image_id, "status": state,
        "bytes_done": done, "bytes_total": total, "percent": percent,
        "elapsed_seconds": round(elapsed, 1), "estimated_seconds_remaining": remaining,
    }


async def show_upload_progress(api: VolumeApi, ctx: VolumeContext, volume_id: str) -> Response:
    """`{"upload_progress": {...}}` of the volume's unfinished upload; 404 when none runs."""
    job, live = await api.uploads.progress(ctx.caller, volume_id)
    body = {"upload_progress": progress_view(job, live)}
    return Response(json.dumps(body), status_code=200, media_type="application/json")
