"""The os-volume_upload_image action: request validation per API/microversion and the 202.

/v2 follows the original upload contract (docs/api-v2.md); /v3 follows modern Cinder
(cinder/api/schemas/volume_actions.py): the 3.0 schema, and from 3.1
the one with `visibility` and `protected`.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import Any

import jsonschema
from starlette.responses import Response

from cinderlite.api.volume import schemas, views
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.domain.errors import InvalidRequest
from cinderlite.services.uploads import UploadRequest, UploadStarted

ACTION = "os-volume_upload_image"

BOOLEAN = schemas.boolean

V3_DISK_FORMATS = ["raw", "vmdk", "vdi", "qcow2", "vhd", "vhdx", "ploop"]
# The /v2 contract's list; `iso` is accepted and checked against the data after the 202.
V2_DISK_FORMATS = ["raw", "vmdk", "vdi", "qcow2", "iso"]
V2_CONTAINER_FORMATS = ["bare", "ovf", "ami", "aki", "ari"]
VISIBILITIES = ["community", "public", "private", "shared"]

IMAGE_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
# Cinder's parameter_types.description: printable text up to 255 chars, or null.
CONTAINER_FORMAT_V3 = {"type": ["string", "null"], "minLength": 0, "maxLength": 255,
                       "printable": True}


def _action_schema(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            ACTION: {
                "type": "object",
                "properties": properties,
                "required": ["image_name"],
                "additionalProperties": False,
            },
        },
        "required": [ACTION],
        "additionalProperties": False,
    }


SCHEMA_V30 = _action_schema({
    "image_name": IMAGE_NAME,
    "force": BOOLEAN,
    "disk_format": {"type": "string", "enum": V3_DISK_FORMATS},
    "container_format": CONTAINER_FORMAT_V3,
})
SCHEMA_V31 = _action_schema({
    "image_name": IMAGE_NAME,
    "force": BOOLEAN,
    "disk_format": {"type": "string", "enum": V3_DISK_FORMATS},
    "container_format": CONTAINER_FORMAT_V3,
    "visibility": {"type": "string", "enum": VISIBILITIES},
    "protected": BOOLEAN,
})
SCHEMA_V2 = _action_schema({
    "image_name": IMAGE_NAME,
    "force": BOOLEAN,
    "disk_format": {"type": "string", "enum": V2_DISK_FORMATS},
    "container_format": {"type": "string", "enum": V2_CONTAINER_FORMATS},
})


def _is_printable(text: str) -> bool:
    # Cinder's regex: every Unicode category except C* (control, format, ...),
    # and of Z* only Zs (spaces); line/paragraph separators are refused.
    categories = (unicodedata.category(ch) for ch in text)
    return all(not c.startswith("C") and c not in ("Zl", "Zp") for c in categories)


def _printable(validator: Any, enabled: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if enabled and isinstance(instance, str) and not _is_printable(instance):
        yield jsonschema.ValidationError(f"{instance!r} contains characters that are not printable")


_Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"printable": _printable}
)
_VALIDATORS = {
    "v2": _Validator(SCHEMA_V2),
    "v3.0": _Validator(SCHEMA_V30),
    "v3.1": _Validator(SCHEMA_V31),
}


def validate(body: dict[str, Any], key: str) -> None:
    """Raise InvalidRequest with Cinder's message for the first schema error
    (cinder/api/validation/validators.py)."""
    for error in _VALIDATORS[key].iter_errors(body):
        if error.path:
            raise InvalidRequest(
                f"Invalid input for field/attribute {error.path[-1]}. "
                f"Value: {error.instance}. {error.message}"
            )
        raise InvalidRequest(error.message)


def parse_request(ctx: VolumeContext, body: object, *, enable_force_upload: bool) -> UploadRequest:
    """Validate the action body for the context's API and version; apply defaults."""
    key = "v2" if ctx.api == "v2" else "v3.1" if ctx.version.at_least(3, 1) else "v3.0"
    validate({ACTION: body}, key)
    assert isinstance(body, dict)
    force = schemas.to_bool(body.get("force", False))
    if ctx.api == "v3" and not enable_force_upload:
        # Cinder enable_force_upload=False: force is silently ignored
        # (cinder/volume/api.py copy_volume_to_image).
        force = False
    visibility: str | None = None
    protected: bool | None = None
    if key == "v3.1":
        # From 3.1 Cinder always sends these to Glance (cinder/volume/api.py).
        visibility = body.get("visibility", "private")
        protected = schemas.to_bool(body.get("protected", False))
    return UploadRequest(
        image_name=body["image_name"],
        disk_format=body.get("disk_format", "raw"),
        container_format=body.get("container_format", "bare"),
        force=force, visibility=visibility, protected=protected,
    )


def response_body(ctx: VolumeContext, started: UploadStarted) -> dict[str, Any]:
    """The 202 body: the /v2 contract's keys (docs/api-v2.md), Cinder's on /v3
    (cinder/api/contrib/volume_actions.py _volume_upload_image)."""
    volume, image = started.volume, started.image
    body: dict[str, Any] = {
        "id": volume.id,
        "updated_at": views.timestamp(volume.updated_at),
        "status": "uploading",
        "display_description": volume.description,
        "size": volume.size,
        "volume_type": (
            (started.volume_type.name if started.volume_type else None)
            if ctx.api == "v2" else views.volume_type_object(started.volume_type)
        ),
        "image_id": image.id,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "image_name": image.name,
    }
    if ctx.api == "v3":
        # Cinder echoes Glance's values even at 3.0 (volume_actions.py).
        body["protected"] = image.protected
        body["visibility"] = image.visibility
    return {ACTION: body}


async def upload_image(
    api: VolumeApi, ctx: VolumeContext, volume_id: str, body: object
) -> Response:
    """Handle `{"os-volume_upload_image": body}` on POST .../volumes/{volume_id}/action.

    `body` is the value under the action key, not yet validated. Returns the 202
    response; raises ServiceError subclasses for faults.
    """
    req = parse_request(ctx, body, enable_force_upload=api.enable_force_upload)
    started = await api.uploads.start(ctx.caller, volume_id, req, request_id=ctx.request_id)
    return Response(
        json.dumps(response_body(ctx, started)), status_code=202, media_type="application/json"
    )
