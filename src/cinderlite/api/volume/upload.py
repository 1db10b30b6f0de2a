"""The os-volume_upload_image action: request validation per API/microversion and the 202."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from cinderlite.api.volume.context import VolumeContext

if TYPE_CHECKING:
    from cinderlite.app import Runtime


async def upload_image(rt: Runtime, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    """Handle `{"os-volume_upload_image": body}` on POST .../volumes/{volume_id}/action.

    `body` is the value under the action key, not yet validated. Returns the 202
    response; raises ServiceError subclasses for faults.
    """
    raise NotImplementedError
