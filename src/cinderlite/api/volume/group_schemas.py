"""Request schemas of the group types, group specs, groups and group snapshots APIs
(cinder/api/schemas/group_types.py, group_specs.py, groups.py, group_snapshots.py),
with the formats they use (cinder/api/validation/validators.py)."""

from __future__ import annotations

from typing import Any

import jsonschema
from oslo_utils import uuidutils

from cinderlite.api.volume import schemas
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.groups import CINDER_GROUP_SNAPSHOT_STATUSES, CINDER_GROUP_STATUSES

_FORMATS = jsonschema.FormatChecker(formats=())


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or uuidutils.is_uuid_like(value)


def _is_group_type(value: object) -> bool:
    return not isinstance(value, str) or 0 < len(value.strip()) <= 255


_FORMATS.checkers["uuid"] = (_is_uuid, ())
_FORMATS.checkers["group_type"] = (_is_group_type, ())

_name: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}
_description: dict[str, Any] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_name_zero: dict[str, Any] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_uuid: dict[str, Any] = {"type": "string", "format": "uuid"}
_specs_null: dict[str, Any] = {
    "type": ["object", "null"],
    "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}
_group_specs: dict[str, Any] = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:.]{1,255}$": {
        "type": ["string", "null"], "maxLength": 255,
    }},
    "additionalProperties": False,
}


def _wrap(key: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {key: body}, "required": [key],
            "additionalProperties": False}


GROUP_TYPE_CREATE = _wrap("group_type", {
    "type": "object",
    "properties": {
        "name": _name, "description": _description, "is_public": schemas.boolean,
        "group_specs": _specs_null,
    },
    "required": ["name"],
    "additionalProperties": False,
})
GROUP_TYPE_UPDATE = _wrap("group_type", {
    "type": "object",
    "properties": {"name": _name_zero, "description": _description,
                   "is_public": schemas.boolean},
    "additionalProperties": False,
})
GROUP_SPECS_CREATE = _wrap("group_specs", _group_specs)
GROUP_SPECS_UPDATE: dict[str, Any] = {**_group_specs, "minProperties": 1, "maxProperties": 1}

GROUP_CREATE = _wrap("group", {
    "type": "object",
    "properties": {
        "description": _description,
        "group_type": {"type": "string", "format": "group_type"},
        "name": _name_zero,
        "volume_types": {
            "type": "array", "minItems": 1, "items": {"type": "string", "maxLength": 255},
            "uniqueItems": True,
        },
        "availability_zone": {"type": ["string", "null"]},
    },
    "required": ["group_type", "volume_types"],
    "additionalProperties": False,
})
GROUP_CREATE_FROM_SRC = _wrap("create-from-src", {
    "type": "object",
    "properties": {
        "description": _description, "name": _name_zero,
        "source_group_id": _uuid, "group_snapshot_id": _uuid,
    },
    "oneOf": [{"required": ["group_snapshot_id"]}, {"required": ["source_group_id"]}],
    "additionalProperties": False,
})
GROUP_DELETE = _wrap("delete", {
    "type": "object",
    "properties": {"delete-volumes": schemas.boolean},
    "additionalProperties": False,
})
GROUP_UPDATE = _wrap("group", {
    "type": "object",
    "properties": {
        "description": _description, "name": _name_zero,
        "add_volumes": _description, "remove_volumes": _description,
    },
    "anyOf": [{"required": ["name"]}, {"required": ["description"]},
              {"required": ["add_volumes"]}, {"required": ["remove_volumes"]}],
    "additionalProperties": False,
})
RESET_STATUS = _wrap("reset_status", {
    "type": "object",
    "properties": {"status": {"type": "string"}},
    "required": ["status"],
    "additionalProperties": False,
})
GROUP_SNAPSHOT_CREATE = _wrap("group_snapshot", {
    "type": "object",
    "properties": {"group_id": _uuid, "name": _name_zero, "description": _description},
    "required": ["group_id"],
    "additionalProperties": False,
})
FAILOVER_REPLICATION = _wrap("failover_replication", {
    "type": "object",
    "properties": {
        "allow_attached_volume": schemas.boolean,
        "secondary_backend_id": schemas.nullable_string,
    },
    "additionalProperties": False,
})
ENABLE_REPLICATION = _wrap("enable_replication", {"type": "object"})
DISABLE_REPLICATION = _wrap("disable_replication", {"type": "object"})
LIST_REPLICATION = _wrap("list_replication_targets", {"type": "object"})

for _schema in (GROUP_SNAPSHOT_CREATE, GROUP_CREATE_FROM_SRC, GROUP_CREATE):
    schemas._validators[id(_schema)] = jsonschema.Draft4Validator(
        _schema, format_checker=_FORMATS
    )


def validate(schema: dict[str, Any], body: object) -> dict[str, Any]:
    return schemas.validate(schema, body)


def check_name(value: object) -> None:
    """Cinder's `name` format: not blank once its surrounding white space is gone."""
    if isinstance(value, str) and not value.strip():
        raise InvalidRequest(
            "An invalid 'name' value was provided. The 'name' can not be empty."
        )


def group_status(status: str, *, snapshot: bool) -> str:
    """Cinder's group_status and group_snapshot_status formats, with their messages
    (a group's status is checked against the group snapshot statuses, as Cinder)."""
    kind = "Invalid GroupSnapshot Status" if snapshot else "Invalid Group Status"
    if not status.strip():
        raise InvalidRequest(f"{kind}: The 'status' can not be empty.")
    if status.lower() not in CINDER_GROUP_SNAPSHOT_STATUSES:
        if snapshot:
            raise InvalidRequest(
                f"{kind}: Group snapshot status: {status} is invalid, valid statuses are: "
                f"{CINDER_GROUP_SNAPSHOT_STATUSES!r}."
            )
        raise InvalidRequest(
            f"{kind}: Group status: {status} is invalid, valid status are: "
            f"{CINDER_GROUP_STATUSES!r}."
        )
    return status.lower()
