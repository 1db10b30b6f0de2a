"""POST .../volumes/{volume_id}/action: find the action in the body, then run it.

Dispatch errors follow Cinder's action_peek and Resource.get_method
(cinder/api/openstack/wsgi.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.responses import Response

from cinderlite.api.volume import schemas, upload
from cinderlite.api.volume.context import VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.domain.errors import InvalidRequest, MalformedRequest, NotFound
from cinderlite.services import volume_actions

if TYPE_CHECKING:
    from cinderlite.app import Runtime

Action = Callable[["Runtime", VolumeContext, str, object], Awaitable[Response]]
NOT_FOUND = "The resource could not be found."


def find_action(body: object) -> tuple[str, Action]:
    """The action name and handler for a decoded body (NO_BODY when none was usable)."""
    if body is NO_BODY:
        raise MalformedRequest(_no_such_action(None))
    if not isinstance(body, dict):
        try:
            size = len(body)  # type: ignore[arg-type]
        except TypeError:
            raise MalformedRequest("Malformed request body") from None
        if size == 1:
            # Cinder: a one-element list or string has no .keys() -> plain 404.
            raise NotFound(NOT_FOUND)
        raise MalformedRequest("Malformed request body")
    if len(body) != 1:
        raise MalformedRequest("Malformed request body")
    name = next(iter(body))
    handler = ACTIONS.get(name)
    if handler is None:
        raise MalformedRequest(_no_such_action(name))
    return name, handler


def _no_such_action(name: str | None) -> str:
    return (
        f"There is no such action: {name}. Verify the request body and Content-Type header "
        "and try again."
    )


async def _attach(rt: Runtime, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    schemas.validate(schemas.ATTACH, body)
    args = body["os-attach"]  # type: ignore[index]
    if args.get("instance_uuid") and args.get("host_name"):
        raise InvalidRequest(
            f"Invalid request to attach volume to an instance {args['instance_uuid']} and a "
            f"host {args['host_name']} simultaneously"
        )
    await volume_actions.attach(
        rt, ctx.caller, volume_id, instance_uuid=args.get("instance_uuid"),
        host_name=args.get("host_name"), mountpoint=args["mountpoint"],
        mode=args.get("mode", "rw"),
    )
    return Response(status_code=202)


async def _detach(rt: Runtime, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    schemas.validate(schemas.DETACH, body)
    args = body["os-detach"] or {}  # type: ignore[index]
    await volume_actions.detach(rt, ctx.caller, volume_id,
                                attachment_id=args.get("attachment_id"))
    return Response(status_code=202)


async def _reset_status(
    rt: Runtime, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.RESET_STATUS, body)
    args = body["os-reset_status"]  # type: ignore[index]
    await volume_actions.reset_status(
        rt, ctx.caller, volume_id, status=args.get("status"),
        attach_status=args.get("attach_status"),
    )
    return Response(status_code=202)


async def _extend(rt: Runtime, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    schemas.validate(schemas.EXTEND, body)
    new_size = schemas.to_size(body["os-extend"]["new_size"], "new_size")  # type: ignore[index]
    await volume_actions.extend(rt, ctx.caller, volume_id, new_size=new_size)
    return Response(status_code=202)


async def _set_bootable(
    rt: Runtime, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.SET_BOOTABLE, body)
    bootable = schemas.to_bool(body["os-set_bootable"]["bootable"])  # type: ignore[index]
    await volume_actions.set_bootable(rt, ctx.caller, volume_id, bootable=bootable)
    return Response(status_code=200)


async def _upload(rt: Runtime, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    return await upload.upload_image(
        rt, ctx, volume_id, body["os-volume_upload_image"]  # type: ignore[index]
    )


ACTIONS: dict[str, Action] = {
    "os-attach": _attach,
    "os-detach": _detach,
    "os-reset_status": _reset_status,
    "os-extend": _extend,
    "os-set_bootable": _set_bootable,
    "os-volume_upload_image": _upload,
}
