"""Wire format of the volume API: JSON schemas (Cinder's, draft 4) and their error texts."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
from oslo_utils import uuidutils

from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.volumes import AttachStatus, VolumeStatus

# cinder/api/validation/parameter_types.py :: boolean
BOOLEAN_STRINGS = [
    True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
    False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f",
]
TRUE_STRINGS = frozenset({"true", "1", "on", "yes", "y", "t"})
boolean: dict[str, Any] = {"type": ["boolean", "string"], "enum": BOOLEAN_STRINGS}
nullable_string: dict[str, Any] = {"type": ["string", "null"], "maxLength": 255}
# cinder/common/constants.py DB_MAX_INT
DB_MAX_INT = 2147483647
volume_size: dict[str, Any] = {
    "type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": DB_MAX_INT,
}
metadata: dict[str, Any] = {
    "type": ["object", "null"],
    "patternProperties": {
        "^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "maxLength": 255},
    },
    "additionalProperties": False,
}
_uuid_or_null: dict[str, Any] = {"type": ["string", "null"], "maxLength": 255}

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "volume": {
            "type": "object",
            "properties": {
                "name": nullable_string,
                "description": nullable_string,
                "display_name": nullable_string,
                "display_description": nullable_string,
                "size": {**volume_size, "type": ["integer", "string", "null"]},
                "availability_zone": nullable_string,
                "volume_type": nullable_string,
                "metadata": metadata,
                "imageRef": _uuid_or_null,
                "image_id": _uuid_or_null,
                "multiattach": boolean,
                "snapshot_id": _uuid_or_null,
                "source_volid": _uuid_or_null,
                "backup_id": _uuid_or_null,
                "consistencygroup_id": _uuid_or_null,
                "group_id": _uuid_or_null,
                "scheduler_hints": {"type": ["object", "null"]},
            },
            "additionalProperties": False,
        },
        "OS-SCH-HNT:scheduler_hints": {"type": ["object", "null"]},
    },
    "required": ["volume"],
    "additionalProperties": False,
}

UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "volume": {
            "type": "object",
            "properties": {
                "name": nullable_string,
                "description": nullable_string,
                "display_name": nullable_string,
                "display_description": nullable_string,
                "metadata": metadata,
            },
            "additionalProperties": False,
        },
    },
    "required": ["volume"],
    "additionalProperties": False,
}

# 3.53 (cinder/api/schemas/volumes.py update_v353): at least one field to change.
UPDATE_V353: dict[str, Any] = {
    **UPDATE,
    "properties": {"volume": {**UPDATE["properties"]["volume"], "anyOf": [
        {"required": [key]}
        for key in ("name", "description", "display_name", "display_description", "metadata")
    ]}},
}

METADATA: dict[str, Any] = {
    "type": "object",
    "properties": {"metadata": {**metadata, "type": "object"}},
    "required": ["metadata"],
    "additionalProperties": False,
}
METADATA_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {"meta": {**metadata, "type": "object", "minProperties": 1,
                            "maxProperties": 1}},
    "required": ["meta"],
    "additionalProperties": False,
}


def _action(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object", "properties": {name: body}, "required": [name],
        "additionalProperties": False,
    }


ATTACH = _action("os-attach", {
    "type": "object",
    "properties": {
        "instance_uuid": {"type": "string", "maxLength": 36},
        "mountpoint": {"type": "string", "maxLength": 255},
        "host_name": {"type": "string", "maxLength": 255},
        "mode": {"type": "string", "enum": ["rw", "ro"]},
    },
    "required": ["mountpoint"],
    "anyOf": [{"required": ["instance_uuid"]}, {"required": ["host_name"]}],
    "additionalProperties": False,
})
DETACH = _action("os-detach", {
    "type": ["object", "null"],
    "properties": {"attachment_id": {"type": ["string", "null"], "maxLength": 36}},
    "additionalProperties": False,
})
RESET_STATUS = _action("os-reset_status", {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": [s.value for s in VolumeStatus]},
        "attach_status": {"type": "string",
                          "enum": [AttachStatus.ATTACHED.value, AttachStatus.DETACHED.value]},
        "migration_status": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
})
EXTEND = _action("os-extend", {
    "type": "object",
    "properties": {"new_size": volume_size},
    "required": ["new_size"],
    "additionalProperties": False,
})
SET_BOOTABLE = _action("os-set_bootable", {
    "type": "object",
    "properties": {"bootable": boolean},
    "required": ["bootable"],
    "additionalProperties": False,
})

_validators: dict[int, jsonschema.Draft4Validator] = {}
# The formats our schemas name (Cinder's custom ones, cinder/api/validation/validators.py).
_formats = jsonschema.FormatChecker(formats=())


def _mysql_text(value: object) -> bool:
    """A TEXT column's limit: at most 65535 bytes of UTF-8."""
    return not isinstance(value, str) or len(value.encode("utf-8", "surrogatepass")) <= 65535


_formats.checks("mysql_text")(_mysql_text)


def _uuid_like(value: object) -> bool:
    """Cinder's `uuid` format (validators._validate_uuid_format)."""
    return not isinstance(value, str) or uuidutils.is_uuid_like(value)


_formats.checks("uuid")(_uuid_like)


def validate(schema: dict[str, Any], body: object) -> dict[str, Any]:
    """`body`, valid against `schema` (an object schema), as a dict; else InvalidRequest
    with Cinder's message for the first schema violation.

    Format (cinder/api/validation/validators.py): "Invalid input for
    field/attribute <last path element>. Value: <value>. <message>", or just
    the message when the error is at the top level.
    """
    validator = _validators.get(id(schema))
    if validator is None:
        validator = _validators[id(schema)] = jsonschema.Draft4Validator(
            schema, format_checker=_formats
        )
    error = next(iter(validator.iter_errors(body)), None)
    if error is None:
        if not isinstance(body, dict):  # every schema here describes an object
            raise InvalidRequest("Invalid input received: the body must be a JSON object.")
        return body
    if error.path:
        raise InvalidRequest(
            f"Invalid input for field/attribute {error.path[-1]}. Value: {error.instance}. "
            f"{error.message}"
        )
    raise InvalidRequest(error.message)


def to_size(value: object, field: str) -> int:
    """A size that passed `volume_size` (an integer, or a string of digits), as an int.

    The schema's maximum holds for integers only; a string of digits gets the
    same bound here (Cinder would take it on and fail later, or not at all).
    Whether it is positive is the caller's rule, with Cinder's message.
    """
    if isinstance(value, int):
        return value
    text = str(value)
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(DB_MAX_INT)) or int(digits) > DB_MAX_INT:
        shown = text if len(text) <= 32 else f"{text[:32]}..."
        raise InvalidRequest(
            f"Invalid input for field/attribute {field}. Value: {shown}. '{shown}' is greater "
            f"than the maximum of {DB_MAX_INT}"
        )
    return int(digits)


def to_bool(value: object) -> bool:
    """A value that passed the `boolean` schema, as a bool (strutils strict parsing)."""
    if isinstance(value, bool):
        return value
    return str(value).lower() in TRUE_STRINGS


# --- snapshots (cinder/api/schemas/snapshots.py, snapshot_actions.py) ----------------

# parameter_types.name_allow_zero_min_length, description
_snapshot_name: dict[str, Any] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_snapshot_description: dict[str, Any] = {
    "type": ["string", "null"], "minLength": 0, "maxLength": 255,
}

SNAPSHOT_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "snapshot": {
            "type": "object",
            "properties": {
                "name": _snapshot_name,
                "display_name": _snapshot_name,
                "description": _snapshot_description,
                "volume_id": _uuid_or_null,
                "force": boolean,
                "metadata": metadata,
            },
            "required": ["volume_id"],
            "additionalProperties": False,
        },
    },
    "required": ["snapshot"],
    "additionalProperties": False,
}

SNAPSHOT_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "snapshot": {
            "type": "object",
            "properties": {
                "name": _snapshot_name,
                "description": _snapshot_description,
                "display_name": _snapshot_name,
                "display_description": _snapshot_description,
            },
            "additionalProperties": False,
            "anyOf": [
                {"required": ["name"]}, {"required": ["description"]},
                {"required": ["display_name"]}, {"required": ["display_description"]},
            ],
        },
    },
    "required": ["snapshot"],
    "additionalProperties": False,
}

SNAPSHOT_RESET_STATUS = _action("os-reset_status", {
    "type": "object",
    "properties": {"status": {"type": "string"}},
    "required": ["status"],
    "additionalProperties": False,
})
SNAPSHOT_FORCE_DELETE = _action("os-force_delete", {})
SNAPSHOT_UPDATE_STATUS = _action("os-update_snapshot_status", {
    "type": "object",
    "properties": {
        "status": {"type": "string"},
        "progress": {"type": "string"},
    },
    "required": ["status"],
    "additionalProperties": False,
})


# --- attachments (cinder/api/schemas/attachments.py) and the connection actions -----

_uuid: dict[str, Any] = {"type": "string", "maxLength": 36}
ATTACHMENT_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "attachment": {
            "type": "object",
            "properties": {
                "instance_uuid": _uuid,
                "connector": {"type": ["object", "null"]},
                "volume_uuid": _uuid,
            },
            "required": ["volume_uuid"],
            "additionalProperties": False,
        },
    },
    "required": ["attachment"],
    "additionalProperties": False,
}
# 3.54: the attach mode in the body (cinder/api/schemas/attachments.py create_v354).
ATTACHMENT_CREATE_V354: dict[str, Any] = copy.deepcopy(ATTACHMENT_CREATE)
ATTACHMENT_CREATE_V354["properties"]["attachment"]["properties"]["mode"] = {
    "type": "string", "enum": ["rw", "ro"],
}
ATTACHMENT_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "attachment": {
            "type": "object",
            "properties": {"connector": {"type": "object", "minProperties": 1}},
            "required": ["connector"],
            "additionalProperties": False,
        },
    },
    "required": ["attachment"],
    "additionalProperties": False,
}
ATTACHMENT_COMPLETE = _action("os-complete", {})
RESERVE = _action("os-reserve", {})
UNRESERVE = _action("os-unreserve", {})
BEGIN_DETACHING = _action("os-begin_detaching", {})
ROLL_DETACHING = _action("os-roll_detaching", {})
INITIALIZE_CONNECTION = _action("os-initialize_connection", {
    "type": "object",
    "properties": {"connector": {"type": ["object", "string"]}},
    "required": ["connector"],
    "additionalProperties": False,
})
TERMINATE_CONNECTION = _action("os-terminate_connection", {
    "type": "object",
    "properties": {"connector": {"type": ["string", "object", "null"]}},
    "required": ["connector"],
    "additionalProperties": False,
})
FORCE_DETACH = _action("os-force_detach", {
    "type": "object",
    "properties": {
        "connector": {"type": ["string", "object", "null"]},
        "attachment_id": {"type": ["string", "null"]},
    },
    "additionalProperties": False,
})
UPDATE_READONLY = _action("os-update_readonly_flag", {
    "type": "object",
    "properties": {"readonly": boolean},
    "required": ["readonly"],
    "additionalProperties": False,
})
FORCE_DELETE = _action("os-force_delete", {})
# cinder/api/schemas/volume_actions.py reimage (parameter_types.uuid, boolean).
REIMAGE = _action("os-reimage", {
    "type": "object",
    "properties": {
        "image_id": {"type": "string", "format": "uuid"},
        "reimage_reserved": boolean,
    },
    "required": ["image_id"],
    "additionalProperties": False,
})
# cinder/api/schemas/admin_actions.py extend_volume_completion.
EXTEND_VOLUME_COMPLETION = _action("os-extend_volume_completion", {
    "type": "object",
    "properties": {"error": {"type": ["string", "null", "boolean"]}},
    "additionalProperties": False,
})
REVERT = _action("revert", {
    "type": "object",
    "properties": {"snapshot_id": _uuid},
    "required": ["snapshot_id"],
    "additionalProperties": False,
})


# --- volume image metadata (cinder/api/schemas/volume_image_metadata.py) ---------------

# parameter_types.image_metadata: keys as for user metadata, values up to a TEXT column.
image_metadata: dict[str, Any] = {
    "type": "object",
    "patternProperties": {
        "^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "format": "mysql_text"},
    },
    "additionalProperties": False,
}
# Any value, null included (Cinder: "restrict the value to null in a future API version").
SHOW_IMAGE_METADATA = _action("os-show_image_metadata", {})
SET_IMAGE_METADATA = _action("os-set_image_metadata", {
    "type": "object",
    "properties": {"metadata": image_metadata},
    "required": ["metadata"],
    "additionalProperties": False,
})
UNSET_IMAGE_METADATA = _action("os-unset_image_metadata", {
    "type": "object",
    "properties": {"key": {"type": "string", "minLength": 1, "maxLength": 255}},
    "required": ["key"],
    "additionalProperties": False,
})


# --- backups (cinder/api/schemas/backups.py, admin_actions.py) -----------------------

_backup_text: dict[str, Any] = {"type": ["string", "null"], "minLength": 0, "maxLength": 255}
_backup_uuid: dict[str, Any] = {"type": "string", "maxLength": 255}

BACKUP_CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "backup": {
            "type": "object",
            "properties": {
                "volume_id": _backup_uuid,
                "container": _backup_text,
                "description": _backup_text,
                "incremental": boolean,
                "force": boolean,
                "name": _backup_text,
                "snapshot_id": _uuid_or_null,
            },
            "required": ["volume_id"],
            "additionalProperties": False,
        },
    },
    "required": ["backup"],
    "additionalProperties": False,
}
# 3.43: metadata on create (parameter_types.metadata_allows_null) and update
# (parameter_types.extra_specs: keys 1-255 of [a-zA-Z0-9-_:. /], string values).
BACKUP_CREATE_V343: dict[str, Any] = copy.deepcopy(BACKUP_CREATE)
BACKUP_CREATE_V343["properties"]["backup"]["properties"]["metadata"] = metadata
# 3.51: the zone of the backup service (parameter_types.nullable_string).
BACKUP_CREATE_V351: dict[str, Any] = copy.deepcopy(BACKUP_CREATE_V343)
BACKUP_CREATE_V351["properties"]["backup"]["properties"]["availability_zone"] = nullable_string
_backup_meta: dict[str, Any] = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. /]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}
BACKUP_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "backup": {
            "type": ["object", "null"],
            "properties": {"name": _backup_text, "description": _backup_text},
            "additionalProperties": False,
        },
    },
    "required": ["backup"],
    "additionalProperties": False,
}
BACKUP_UPDATE_V343: dict[str, Any] = copy.deepcopy(BACKUP_UPDATE)
BACKUP_UPDATE_V343["properties"]["backup"]["properties"]["metadata"] = _backup_meta
# cinder/api/schemas/backups.py import_record; backup_service and backup_url are
# parameter_types.backup_service (string, 0-255) and backup_url (string, min 1).
BACKUP_IMPORT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "backup-record": {
            "type": "object",
            "properties": {
                "backup_service": {"type": "string", "minLength": 0, "maxLength": 255},
                "backup_url": {"type": "string", "minLength": 1},
            },
            "required": ["backup_service", "backup_url"],
            "additionalProperties": False,
        },
    },
    "required": ["backup-record"],
    "additionalProperties": False,
}
BACKUP_RESTORE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "restore": {
            "type": ["object", "null"],
            "properties": {"name": _backup_text, "volume_id": _uuid_or_null},
            "additionalProperties": False,
        },
    },
    "required": ["restore"],
    "additionalProperties": False,
}
BACKUP_RESET_STATUS = _action("os-reset_status", {
    "type": "object",
    "properties": {"status": {"type": "string"}},
    "required": ["status"],
    "additionalProperties": False,
})
BACKUP_FORCE_DELETE = _action("os-force_delete", {})
# --- volume transfers (cinder/api/schemas/volume_transfer.py) ------------------------

# The formats Cinder's transfer schemas use (cinder/api/validation/validators.py):
# `uuid` (oslo is_uuid_like) and a name that is not blank and at most 255
# characters once its surrounding white space is gone.
_FORMATS = jsonschema.FormatChecker(formats=())


def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or uuidutils.is_uuid_like(value)


def _is_name(value: object) -> bool:
    return not isinstance(value, str) or 0 < len(value.strip()) <= 255


_FORMATS.checkers["uuid"] = (_is_uuid, ())
_FORMATS.checkers["name_skip_leading_trailing_spaces"] = (_is_name, ())
_transfer_name: dict[str, Any] = {"oneOf": [
    {"type": "string", "format": "name_skip_leading_trailing_spaces"}, {"type": "null"},
]}


def _transfer(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"transfer": {
            "type": "object",
            "properties": properties,
            "required": ["volume_id"],
            "additionalProperties": False,
        }},
        "required": ["transfer"],
        "additionalProperties": False,
    }


TRANSFER_CREATE = _transfer({
    "volume_id": {"type": "string", "format": "uuid"}, "name": _transfer_name,
})
# 3.55: `no_snapshots`.
TRANSFER_CREATE_V355 = _transfer({
    "volume_id": {"type": "string", "format": "uuid"}, "name": _transfer_name,
    "no_snapshots": boolean,
})
TRANSFER_ACCEPT: dict[str, Any] = {
    "type": "object",
    "properties": {"accept": {
        "type": "object",
        "properties": {"auth_key": {"type": ["string", "integer"]}},
        "required": ["auth_key"],
        "additionalProperties": False,
    }},
    "required": ["accept"],
    "additionalProperties": False,
}
# `validate` finds these validators, which check the formats too.
for _schema in (TRANSFER_CREATE, TRANSFER_CREATE_V355, TRANSFER_ACCEPT):
    _validators[id(_schema)] = jsonschema.Draft4Validator(_schema, format_checker=_FORMATS)
