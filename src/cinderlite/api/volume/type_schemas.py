"""Request schemas of the volume types, extra specs, type access, encryption and
default types APIs (cinder/api/schemas/volume_types.py, types_extra_specs.py,
volume_type_access.py, volume_type_encryption.py, default_types.py)."""

from __future__ import annotations

from typing import Any

from cinderlite.api.volume import schemas
from cinderlite.domain.errors import InvalidRequest

_name: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}
_update_name: dict[str, Any] = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
_description: dict[str, Any] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_specs_with_null: dict[str, Any] = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {
        "type": ["string", "null"], "maxLength": 255,
    }},
    "additionalProperties": False,
}
_specs_no_spaces: dict[str, Any] = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:.]{1,255}$": {
        "type": ["string", "null"], "minLength": 0, "maxLength": 255,
    }},
    "additionalProperties": False,
}


def _wrap(key: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: body}, "required": [key],
            "additionalProperties": False}


TYPE_CREATE = _wrap("volume_type", {
    "type": "object",
    "properties": {
        "name": _name, "description": _description, "extra_specs": _specs_with_null,
        "os-volume-type-access:is_public": schemas.boolean,
    },
    "required": ["name"],
    "additionalProperties": False,
})
TYPE_UPDATE = _wrap("volume_type", {
    "type": "object",
    "properties": {"name": _update_name, "description": _description,
                   "is_public": schemas.boolean},
    "additionalProperties": False,
})
SPECS_CREATE = _wrap("extra_specs", _specs_no_spaces)
SPECS_UPDATE: dict[str, Any] = {**_specs_no_spaces, "minProperties": 1, "maxProperties": 1}
_project: dict[str, Any] = {
    "type": "object",
    "properties": {"project": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["project"],
    "additionalProperties": False,
}
ADD_PROJECT_ACCESS = _wrap("addProjectAccess", _project)
REMOVE_PROJECT_ACCESS = _wrap("removeProjectAccess", _project)
_encryption_props: dict[str, Any] = {
    "key_size": {"type": ["string", "integer", "null"], "minimum": 0,
                 "maximum": 0x7FFFFFFF},
    "provider": {"type": "string", "minLength": 0, "maxLength": 255},
    "control_location": {"enum": ["front-end", "back-end"]},
    "cipher": {"type": ["string", "null"], "minLength": 0, "maxLength": 255},
}
ENCRYPTION_CREATE = _wrap("encryption", {
    "type": "object", "properties": _encryption_props,
    "required": ["provider", "control_location"], "additionalProperties": True,
})
ENCRYPTION_UPDATE = _wrap("encryption", {
    "type": "object", "properties": _encryption_props, "additionalProperties": True,
})
DEFAULT_TYPE = {
    "type": "object",
    "properties": {"default_type": {
        "type": "object",
        "properties": {"volume_type": _name},
        "required": ["volume_type"],
        "additionalProperties": False,
    }},
}
RETYPE = _wrap("os-retype", {
    "type": "object",
    "properties": {
        "new_type": {"type": "string"},
        "migration_policy": {"type": ["string", "null"], "enum": ["on-demand", "never"]},
    },
    "required": ["new_type"],
    "additionalProperties": False,
})


def validate(schema: dict[str, Any], body: object) -> dict[str, Any]:
    return schemas.validate(schema, body)


def key_size(value: object) -> int | None:
    """Cinder's key_size format: an integer, or a string of one (then stored as int)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequest("Invalid input for field/attribute key_size.")
    try:
        size = int(str(value))
    except ValueError:
        raise InvalidRequest(
            f"Invalid input for field/attribute key_size. Value: {value}. "
            "key_size must be an integer."
        ) from None
    if size < 0:
        raise InvalidRequest(f"Invalid input for field/attribute key_size. Value: {value}.")
    return size


# --- QoS specs (cinder/api/schemas/qos_specs.py) ----------------------------------------

# The name's own rule (name_skip_leading_trailing_spaces) is checked by the
# handler, with the InvalidName messages Cinder answers.
QOS_CREATE = _wrap("qos_specs", {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": True,
})
QOS_SET = _wrap("qos_specs", _specs_with_null)
QOS_UNSET: dict[str, Any] = {
    "type": "object",
    "properties": {"keys": {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 255},
        "uniqueItems": True,
    }},
    "required": ["keys"],
    "additionalProperties": False,
}
