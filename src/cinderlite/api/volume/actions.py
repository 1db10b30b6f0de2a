"""POST .../volumes/{volume_id}/action: find the action in the body, then run it.

Dispatch errors follow Cinder's action_peek and Resource.get_method
(cinder/api/openstack/wsgi.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import deps, schemas, type_schemas, upload
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.domain.errors import InvalidRequest, MalformedRequest, NotFound
from cinderlite.services import policy as P

Action = Callable[[VolumeApi, VolumeContext, str, object], Awaitable[Response]]
NOT_FOUND = "The resource could not be found."


def find_action(body: object) -> tuple[str, Action]:
    """The action name and handler for a decoded body (NO_BODY when none was usable)."""
    if body is NO_BODY:
        raise MalformedRequest(deps.no_such_action(None))
    if not isinstance(body, dict):
        try:
            size = len(body)  # type: ignore[arg-type]
        except TypeError:
            raise MalformedRequest("Malformed request body") from None
        if size == 1:
            # Cinder: a one-element list or string has no .keys() -> plain 404.
            raise NotFound(NOT_FOUND)
        raise MalformedRequest("Malformed request body")
    return deps.find_action(body, ACTIONS)


async def _attach(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    args = schemas.validate(schemas.ATTACH, body)["os-attach"]
    if args.get("instance_uuid") and args.get("host_name"):
        raise InvalidRequest(
            f"Invalid request to attach volume to an instance {args['instance_uuid']} and a "
            f"host {args['host_name']} simultaneously"
        )
    await api.actions.attach(
        ctx.caller, volume_id, instance_uuid=args.get("instance_uuid"),
        host_name=args.get("host_name"), mountpoint=args["mountpoint"],
        mode=args.get("mode", "rw"),
    )
    return Response(status_code=202)


async def _detach(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    args = schemas.validate(schemas.DETACH, body)["os-detach"] or {}
    await api.actions.detach(ctx.caller, volume_id,
                             attachment_id=args.get("attachment_id"))
    return Response(status_code=202)


async def _reset_status(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.RESET_STATUS, body)["os-reset_status"]
    await api.actions.reset_status(
        ctx.caller, volume_id, status=args.get("status"),
        attach_status=args.get("attach_status"),
    )
    return Response(status_code=202)


async def _extend(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    args = schemas.validate(schemas.EXTEND, body)["os-extend"]
    new_size = schemas.to_size(args["new_size"], "new_size")
    # 3.42: an in-use volume may be extended too.
    await api.actions.extend(ctx.caller, volume_id, new_size=new_size,
                             attached_ok=ctx.api == "v3" and ctx.version.at_least(3, 42))
    return Response(status_code=202)


async def _set_bootable(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.SET_BOOTABLE, body)["os-set_bootable"]
    bootable = schemas.to_bool(args["bootable"])
    await api.actions.set_bootable(ctx.caller, volume_id, bootable=bootable)
    return Response(status_code=200)


async def _upload(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    assert isinstance(body, dict)  # find_action let only a one-key object through
    return await upload.upload_image(api, ctx, volume_id, body["os-volume_upload_image"])


async def _reserve(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    schemas.validate(schemas.RESERVE, body)
    await api.actions.reserve(ctx.caller, volume_id)
    return Response(status_code=202)


async def _unreserve(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.UNRESERVE, body)
    await api.actions.unreserve(ctx.caller, volume_id)
    return Response(status_code=202)


async def _begin_detaching(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.BEGIN_DETACHING, body)
    await api.actions.begin_detaching(ctx.caller, volume_id)
    return Response(status_code=202)


async def _roll_detaching(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.ROLL_DETACHING, body)
    await api.actions.roll_detaching(ctx.caller, volume_id)
    return Response(status_code=202)


async def _initialize_connection(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.INITIALIZE_CONNECTION, body)["os-initialize_connection"]
    info = await api.actions.initialize_connection(ctx.caller, volume_id, args["connector"])
    return Response(jsonbody.dumps({"connection_info": info}), status_code=200,
                    media_type="application/json")


async def _terminate_connection(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.TERMINATE_CONNECTION, body)
    await api.actions.terminate_connection(ctx.caller, volume_id)
    return Response(status_code=202)


async def _force_detach(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.FORCE_DETACH, body)["os-force_detach"]
    await api.actions.force_detach(ctx.caller, volume_id,
                                   attachment_id=args.get("attachment_id"))
    return Response(status_code=202)


async def _update_readonly(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.UPDATE_READONLY, body)["os-update_readonly_flag"]
    await api.actions.update_readonly_flag(ctx.caller, volume_id,
                                           readonly=schemas.to_bool(args["readonly"]))
    return Response(status_code=202)


async def _force_delete(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.FORCE_DELETE, body)
    await api.volumes.delete(ctx.caller, volume_id, force=True,
                             force_policy=P.ADMIN_FORCE_DELETE)
    return Response(status_code=202)


async def _revert(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    if ctx.api != "v3" or not ctx.version.at_least(3, 40):
        raise MalformedRequest(deps.no_such_action("revert"))
    args = schemas.validate(schemas.REVERT, body)["revert"]
    await api.actions.revert(ctx.caller, volume_id, snapshot_id=str(args["snapshot_id"]))
    return Response(status_code=202)


async def _reimage(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    """os-reimage (3.68): below it Cinder's dispatch finds no method of that version
    and answers a plain 404."""
    if ctx.api != "v3" or not ctx.version.at_least(3, 68):
        raise NotFound(NOT_FOUND)
    args = schemas.validate(schemas.REIMAGE, body)["os-reimage"]
    reserved = args.get("reimage_reserved")
    await api.reimage.reimage(
        ctx.caller, volume_id, image_id=args["image_id"],
        reimage_reserved=schemas.to_bool(reserved) if reserved is not None else False,
        request_id=ctx.request_id,
    )
    return Response(status_code=202)


async def _extend_volume_completion(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    """os-extend_volume_completion (3.71; Cinder's admin action carries no version
    bound of its own). `error` is read as Cinder reads it: any true value."""
    args = schemas.validate(schemas.EXTEND_VOLUME_COMPLETION, body)[
        "os-extend_volume_completion"] or {}
    error = args.get("error", False)
    await api.extend_completion.complete(
        ctx.caller, volume_id, error=bool(error), request_id=ctx.request_id,
    )
    return Response(status_code=202)


# --- volume image metadata (cinder/api/contrib/volume_image_metadata.py) ----------------


async def _show_image_metadata(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    schemas.validate(schemas.SHOW_IMAGE_METADATA, body)
    meta = await api.actions.get_image_metadata(ctx.caller, volume_id)
    return _json({"metadata": meta})


async def _set_image_metadata(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.SET_IMAGE_METADATA, body)["os-set_image_metadata"]
    meta = await api.actions.set_image_metadata(ctx.caller, volume_id, items=args["metadata"])
    return _json({"metadata": meta})


async def _unset_image_metadata(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    args = schemas.validate(schemas.UNSET_IMAGE_METADATA, body)["os-unset_image_metadata"]
    await api.actions.unset_image_metadata(ctx.caller, volume_id, key=args["key"])
    # Cinder answers with an empty 200.
    return Response(status_code=200)


async def _retype(api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    args = type_schemas.validate(type_schemas.RETYPE, body)["os-retype"]
    await api.retype.retype(
        ctx.caller, volume_id, args["new_type"], args.get("migration_policy")
    )
    return Response(status_code=202)


def _json(body: object) -> Response:
    return Response(jsonbody.dumps(body), status_code=200, media_type="application/json")


ACTIONS: dict[str, Action] = {
    "os-reserve": _reserve,
    "os-unreserve": _unreserve,
    "os-begin_detaching": _begin_detaching,
    "os-roll_detaching": _roll_detaching,
    "os-initialize_connection": _initialize_connection,
    "os-terminate_connection": _terminate_connection,
    "os-force_detach": _force_detach,
    "os-update_readonly_flag": _update_readonly,
    "os-force_delete": _force_delete,
    "revert": _revert,
    "os-reimage": _reimage,
    "os-extend_volume_completion": _extend_volume_completion,
    "os-attach": _attach,
    "os-retype": _retype,
    "os-detach": _detach,
    "os-reset_status": _reset_status,
    "os-extend": _extend,
    "os-set_bootable": _set_bootable,
    "os-volume_upload_image": _upload,
    "os-show_image_metadata": _show_image_metadata,
    "os-set_image_metadata": _set_image_metadata,
    "os-unset_image_metadata": _unset_image_metadata,
}
