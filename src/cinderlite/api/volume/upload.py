"""The os-volume_upload_image action: request validation per API/microversion and the 202.

/v2 follows the original upload contract (docs/api-v2.md); /v3 follows modern Cinder
(cinder/api/schemas/volume_actions.py): the 3.0 schema, and from 3.1
the one with `visibility` and `protected`.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import jsonschema
from starlette.responses import Response

from cinderlite.api.volume.context import VolumeContext
from cinderlite.db.models import VolumeType
from cinderlite.domain.errors import InvalidRequest
from cinderlite.services import uploads
from cinderlite.services.uploads import UploadRequest, UploadStarted

if TYPE_CHECKING:
    from cinderlite.app import Runtime

ACTION = "os-volume_upload_image"

# cinder/api/validation/parameter_types.py :: boolean (JSON booleans or these strings).
TRUE_STRINGS = ["True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t"]
FALSE_STRINGS = ["False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"]
BOOLEAN = {"type": ["boolean", "string"], "enum": [True, *TRUE_STRINGS, False, *FALSE_STRINGS]}

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


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value) in TRUE_STRINGS


def parse_request(ctx: VolumeContext, body: object, *, enable_force_upload: bool) -> UploadRequest:
    """Validate the action body for the context's API and version; apply defaults."""
    key = "v2" if ctx.api == "v2" else "v3.1" if ctx.version.at_least(3, 1) else "v3.0"
    validate({ACTION: body}, key)
    assert isinstance(body, dict)
    force = _as_bool(body.get("force", False))
    if ctx.api == "v3" and not enable_force_upload:
        # Cinder enable_force_upload=False: force is silently ignored
        # (cinder/volume/api.py copy_volume_to_image).
        force = False
    visibility: str | None = None
    protected: bool | None = None
    if key == "v3.1":
        # From 3.1 Cinder always sends these to Glance (cinder/volume/api.py).
        visibility = body.get("visibility", "private")
        protected = _as_bool(body.get("protected", False))
    return UploadRequest(
        image_name=body["image_name"],
        disk_format=body.get("disk_format", "raw"),
        container_format=body.get("container_format", "bare"),
        force=force, visibility=visibility, protected=protected,
    )


def _timestamp(value: datetime | None) -> str | None:
    # oslo jsonutils' format, no time zone: 2014-05-27T12:26:11.000000
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value is not None else None


def volume_type_view(vt: VolumeType | None) -> dict[str, Any] | None:
    if vt is None:
        return None
    return {
        "id": vt.id, "name": vt.name, "description": vt.description, "is_public": vt.is_public,
        "extra_specs": dict(vt.extra_specs or {}), "qos_specs_id": vt.qos_specs_id,
        # Cinder stamps both at creation; a type made by an older release here
        # has no updated_at and was never changed since it was created.
        "created_at": _timestamp(vt.created_at),
        "updated_at": _timestamp(vt.updated_at or vt.created_at),
        "deleted": False, "deleted_at": None,
    }


def response_body(ctx: VolumeContext, started: UploadStarted) -> dict[str, Any]:
    """The 202 body: the /v2 contract's keys (docs/api-v2.md), Cinder's on /v3
    (cinder/api/contrib/volume_actions.py _volume_upload_image)."""
    volume, image = started.volume, started.image
    body: dict[str, Any] = {
        "id": volume.id,
        "updated_at": _timestamp(volume.updated_at),
        "status": "uploading",
        "display_description": volume.description,
        "size": volume.size,
        "volume_type": (
            (started.volume_type.name if started.volume_type else None)
            if ctx.api == "v2" else volume_type_view(started.volume_type)
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


async def upload_image(rt: Runtime, ctx: VolumeContext, volume_id: str, body: object) -> Response:
    """Handle `{"os-volume_upload_image": body}` on POST .../volumes/{volume_id}/action.

    `body` is the value under the action key, not yet validated. Returns the 202
    response; raises ServiceError subclasses for faults.
    """
    req = parse_request(ctx, body, enable_force_upload=rt.settings.enable_force_upload)
    started = await uploads.start_upload(
        rt, ctx.caller, volume_id, req, request_id=ctx.request_id
    )
    return Response(
        json.dumps(response_body(ctx, started)), status_code=202, media_type="application/json"
    )
