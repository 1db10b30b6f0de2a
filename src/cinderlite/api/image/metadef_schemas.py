"""Glance v2 metadefs wire format: the schemas of /v2/schemas/metadefs/*, the
request bodies they check, and the views of namespaces, objects, properties,
tags and resource types.

The served schemas are what bodies are validated against, as in Glance
(glance/api/v2/metadef_*.py get_schema, served with Schema.raw()); python-
glanceclient builds its models from them and checks responses against them, so
a view holds only what its schema names.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import jsonschema

from cinderlite.domain import metadefs as md
from cinderlite.domain.errors import Forbidden, InvalidRequest
from cinderlite.services.metadefs import AssociationSpec, NamespaceSpec, ObjectSpec

_TYPES = ["array", "boolean", "integer", "number", "object", "string", None]

DEFINITIONS: dict[str, Any] = {
    "positiveInteger": {"type": "integer", "minimum": 0},
    "positiveIntegerDefault0": {
        "allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]
    },
    "stringArray": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    "property": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": {
                "name": {"type": "string", "maxLength": 80},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "operators": {"type": "array", "items": {"type": "string"}},
                "type": {"type": "string", "enum": _TYPES},
                "required": {"$ref": "#/definitions/stringArray"},
                "minimum": {"type": "number"},
                "maximum": {"type": "number"},
                "maxLength": {"$ref": "#/definitions/positiveInteger"},
                "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
                "pattern": {"type": "string", "format": "regex"},
                "enum": {"type": "array"},
                "readonly": {"type": "boolean"},
                "default": {},
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": _TYPES},
                        "enum": {"type": "array"},
                    },
                },
                "maxItems": {"$ref": "#/definitions/positiveInteger"},
                "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
                "uniqueItems": {"type": "boolean", "default": False},
                "additionalItems": {"type": "boolean"},
            },
        },
    },
}


def _stamp(what: str) -> dict[str, Any]:
    return {"type": "string", "readOnly": True, "description": what, "format": "date-time"}


_READ_ONLY_STRING = {"readOnly": True, "type": "string"}


def _schema(
    name: str,
    properties: dict[str, Any],
    required: list[str] | None,
    definitions: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """glance.schema.Schema(...).raw()."""
    raw: dict[str, Any] = {"name": name, "properties": properties, "additionalProperties": False}
    if definitions:
        raw["definitions"] = definitions
    if required:
        raw["required"] = required
    return raw


def _collection(name: str, item: dict[str, Any], *, keyed: bool = False) -> dict[str, Any]:
    """CollectionSchema (an array) or DictCollectionSchema (keyed) raw(): the item's
    definitions move up to the collection."""
    item = dict(item)
    definitions = item.pop("definitions", None)
    items: dict[str, Any] = (
        {"type": "object", "additionalProperties": item}
        if keyed
        else {"type": "array", "items": item}
    )
    raw: dict[str, Any] = {
        "name": name,
        "properties": {
            name: items,
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
    if definitions:
        raw["definitions"] = definitions
    return raw


NAMESPACE_SCHEMA = _schema(
    "namespace",
    {
        "namespace": {
            "type": "string",
            "description": "The unique namespace text.",
            "maxLength": 80,
        },
        "display_name": {
            "type": "string",
            "description": "The user friendly name for the namespace. Used by UI if available.",
            "maxLength": 80,
        },
        "description": {
            "type": "string",
            "description": "Provides a user friendly description of the namespace.",
            "maxLength": 500,
        },
        "visibility": {
            "type": "string",
            "description": "Scope of namespace accessibility.",
            "enum": list(md.VISIBILITIES),
        },
        "protected": {
            "type": "boolean",
            "description": "If true, namespace will not be deletable.",
        },
        "owner": {"type": "string", "description": "Owner of the namespace.", "maxLength": 255},
        "created_at": _stamp("Date and time of namespace creation"),
        "updated_at": _stamp("Date and time of the last namespace modification"),
        "schema": _READ_ONLY_STRING,
        "self": _READ_ONLY_STRING,
        "resource_type_associations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "prefix": {"type": "string"},
                    "properties_target": {"type": "string"},
                },
            },
        },
        "properties": {"$ref": "#/definitions/property"},
        "objects": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "required": {"$ref": "#/definitions/stringArray"},
                    "properties": {"$ref": "#/definitions/property"},
                },
            },
        },
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                },
            },
        },
    },
    ["namespace"],
    DEFINITIONS,
)

NAMESPACES_SCHEMA = _collection("namespaces", NAMESPACE_SCHEMA)

OBJECT_SCHEMA = _schema(
    "object",
    {
        "name": {"type": "string", "maxLength": 80},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": _READ_ONLY_STRING,
        "self": _READ_ONLY_STRING,
        "created_at": _stamp("Date and time of object creation"),
        "updated_at": _stamp("Date and time of the last object modification"),
    },
    ["name"],
    DEFINITIONS,
)

OBJECTS_SCHEMA = _collection("objects", OBJECT_SCHEMA)

# glance/api/v2/metadef_properties.py: its own definitions (stringArray needs an item).
_PROPERTY_DEFINITIONS = {
    "positiveInteger": DEFINITIONS["positiveInteger"],
    "positiveIntegerDefault0": DEFINITIONS["positiveIntegerDefault0"],
    "stringArray": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "uniqueItems": True,
    },
}
_PROPERTY_FIELDS = DEFINITIONS["property"]["additionalProperties"]["properties"]

PROPERTY_SCHEMA = _schema(
    "property", _PROPERTY_FIELDS, ["type", "title", "name"], _PROPERTY_DEFINITIONS
)
# An object's property, or one in the properties collection: its name is the key.
_UNNAMED_PROPERTY_SCHEMA = _schema(
    "property", _PROPERTY_FIELDS, ["type", "title"], _PROPERTY_DEFINITIONS
)
PROPERTIES_SCHEMA = _collection("properties", _UNNAMED_PROPERTY_SCHEMA, keyed=True)

TAG_SCHEMA = _schema(
    "tag",
    {
        "name": {"type": "string", "maxLength": 80},
        "created_at": _stamp("Date and time of tag creation"),
        "updated_at": _stamp("Date and time of the last tag modification"),
    },
    ["name"],
)

TAGS_SCHEMA = _collection("tags", TAG_SCHEMA)

# What POST .../tags takes (metadef_tags.get_schema_for_list).
_TAG_LIST_SCHEMA = _schema(
    "tags",
    {
        "tags": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"],
                "additionalProperties": False,
            },
        }
    },
    None,
)

RESOURCE_TYPE_SCHEMA = _schema(
    "resource_type_association",
    {
        "name": {
            "type": "string",
            "description": "Resource type names should be aligned with "
            "Heat resource types whenever possible: https://docs.openstack.org/heat/latest/"
            "template_guide/openstack.html",
            "maxLength": 80,
        },
        "prefix": {
            "type": "string",
            "description": "Specifies the prefix to use for the given "
            "resource type. Any properties in the namespace should be prefixed with this "
            "prefix when being applied to the specified resource type. Must include prefix "
            "separator (e.g. a colon :).",
            "maxLength": 80,
        },
        "properties_target": {
            "type": "string",
            "description": "Some resource types allow more "
            "than one key / value pair per instance.  For example, Cinder allows "
            "user and image metadata on volumes. Only the image properties "
            "metadata is evaluated by Nova (scheduling or drivers). This property "
            "allows a namespace target to remove the ambiguity.",
            "maxLength": 80,
        },
        "created_at": _stamp("Date and time of resource type association"),
        "updated_at": _stamp("Date and time of the last resource type association modification"),
    },
    ["name"],
)

RESOURCE_TYPES_SCHEMA = _collection("resource_type_associations", RESOURCE_TYPE_SCHEMA)

SCHEMAS: dict[str, dict[str, Any]] = {
    "namespace": NAMESPACE_SCHEMA,
    "namespaces": NAMESPACES_SCHEMA,
    "object": OBJECT_SCHEMA,
    "objects": OBJECTS_SCHEMA,
    "property": PROPERTY_SCHEMA,
    "properties": PROPERTIES_SCHEMA,
    "tag": TAG_SCHEMA,
    "tags": TAGS_SCHEMA,
    "resource_type": RESOURCE_TYPE_SCHEMA,
    "resource_types": RESOURCE_TYPES_SCHEMA,
}

_VALIDATORS: dict[int, jsonschema.Draft4Validator] = {}


def validate(schema: dict[str, Any], body: Any) -> None:
    """Glance's Schema.validate: 400 "Provided object does not match schema ..."."""
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        validator = _VALIDATORS[id(schema)] = jsonschema.Draft4Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    reason = error.message if error is not None else None
    if reason is None and not isinstance(body, dict):
        # Glance's schemas name no type: wsme then fails on the body; say why.
        reason = f"{body!r} is not of type 'object'"
    if reason is not None:
        raise InvalidRequest(f"Provided object does not match schema '{schema['name']}': {reason}")


def check_read_only(body: Any, keys: tuple[str, ...]) -> None:
    """RequestDeserializer._check_allowed: 403 for a read-only attribute."""
    if isinstance(body, dict):
        for key in keys:
            if key in body:
                raise Forbidden(f"Attribute '{key}' is read-only.")


NAMESPACE_READ_ONLY = ("self", "schema", "created_at", "updated_at")
STAMPS = ("created_at", "updated_at")

# The attributes of Glance's PropertyType (a property as stored and shown); the
# schema's `required` has no place in it and is dropped, as wsme drops it.
_PROPERTY_TYPE_KEYS = (
    "name",
    "type",
    "title",
    "description",
    "operators",
    "default",
    "readonly",
    "minimum",
    "maximum",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "confidential",
    "items",
    "uniqueItems",
    "minItems",
    "maxItems",
    "additionalItems",
)


def property_type(value: dict[str, Any], *, keep_name: bool = True) -> dict[str, Any]:
    """A property definition reduced to PropertyType's attributes (None is unset)."""
    found = {
        k: value[k]
        for k in _PROPERTY_TYPE_KEYS
        if value.get(k) is not None and (keep_name or k != "name")
    }
    if isinstance(found.get("items"), dict):
        found["items"] = {
            k: v for k, v in found["items"].items() if k in ("type", "enum") and v is not None
        }
    return found


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _object_spec(body: dict[str, Any]) -> ObjectSpec:
    props = body.get("properties") or {}
    return ObjectSpec(
        name=body["name"],
        description=_text(body, "description"),
        required=list(body.get("required") or []),
        properties={k: property_type(v) for k, v in props.items()},
    )


def parse_namespace(body: Any) -> NamespaceSpec:
    """The body of POST /v2/metadefs/namespaces and PUT .../{namespace}."""
    check_read_only(body, NAMESPACE_READ_ONLY)
    validate(NAMESPACE_SCHEMA, body)
    assert isinstance(body, dict)
    return NamespaceSpec(
        namespace=body["namespace"],
        display_name=_text(body, "display_name"),
        description=_text(body, "description"),
        visibility=_text(body, "visibility"),
        protected=body.get("protected"),
        owner=_text(body, "owner"),
        associations=[
            AssociationSpec(
                name=a["name"], prefix=a.get("prefix"), properties_target=a.get("properties_target")
            )
            for a in body.get("resource_type_associations") or []
            if _named(a)
        ],
        objects=[_object_spec(o) for o in body.get("objects") or [] if _named(o)],
        properties={k: property_type(v) for k, v in (body.get("properties") or {}).items()},
        tags=[t["name"] for t in body.get("tags") or [] if _named(t)],
    )


def _named(item: dict[str, Any]) -> bool:
    """wsme refuses a nested item without its mandatory name; say so as Glance's schema
    would. The namespace schema sets no widths on nested items: the columns' are
    checked here (a longer value would fail in the database)."""
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("Invalid input: 'name' is a mandatory attribute of each item.")
    for key in ("name", "prefix", "properties_target"):
        value = item.get(key)
        if isinstance(value, str) and len(value) > md.NAME_LENGTH:
            raise InvalidRequest(
                f"Invalid input: {key} '{value[:32]}...' is longer than "
                f"{md.NAME_LENGTH} characters."
            )
    return True


def parse_object(body: Any, *, check_properties: bool) -> ObjectSpec:
    """POST (each property checked as a property) and PUT .../objects bodies."""
    check_read_only(body, NAMESPACE_READ_ONLY)
    validate(OBJECT_SCHEMA, body)
    assert isinstance(body, dict)
    if check_properties:
        for value in (body.get("properties") or {}).values():
            validate(_UNNAMED_PROPERTY_SCHEMA, value)
    return _object_spec(body)


def parse_property(body: Any) -> tuple[str, dict[str, Any]]:
    """POST and PUT .../properties bodies: the name and the definition as stored."""
    check_read_only(body, STAMPS)
    validate(PROPERTY_SCHEMA, body)
    assert isinstance(body, dict)
    return body["name"], property_type(body)


def parse_tag(body: Any) -> str:
    check_read_only(body, STAMPS)
    validate(TAG_SCHEMA, body)
    assert isinstance(body, dict)
    name: str = body["name"]
    return name


def parse_tags(body: Any) -> list[str]:
    check_read_only(body, STAMPS)
    validate(_TAG_LIST_SCHEMA, body)
    assert isinstance(body, dict)
    names = [t["name"] for t in body.get("tags") or []]
    for name in names:
        if len(name) > md.NAME_LENGTH:
            # The tag column's width; Glance's list schema leaves it to the database.
            raise InvalidRequest(
                f"Provided object does not match schema 'tag': '{name}' is too long"
            )
    return names


def parse_association(body: Any) -> AssociationSpec:
    check_read_only(body, STAMPS)
    validate(RESOURCE_TYPE_SCHEMA, body)
    assert isinstance(body, dict)
    return AssociationSpec(
        name=body["name"],
        prefix=body.get("prefix"),
        properties_target=body.get("properties_target"),
    )


# --- views -------------------------------------------------------------------------


def timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _put(view: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        view[key] = value


def namespace_href(name: str) -> str:
    return f"/v2/metadefs/namespaces/{name}"


def namespace_view(ns: md.Namespace) -> dict[str, Any]:
    view: dict[str, Any] = {"namespace": ns.namespace}
    _put(view, "display_name", ns.display_name)
    _put(view, "description", ns.description)
    view.update(
        {
            "visibility": ns.visibility,
            "protected": ns.protected,
            "owner": ns.owner,
            "created_at": timestamp(ns.created_at),
            "updated_at": timestamp(ns.updated_at),
            "self": namespace_href(ns.namespace),
            "schema": "/v2/schemas/metadefs/namespace",
        }
    )
    return view


def association_view(assoc: md.Association) -> dict[str, Any]:
    view: dict[str, Any] = {"name": assoc.name}
    _put(view, "prefix", assoc.prefix)
    _put(view, "properties_target", assoc.properties_target)
    view["created_at"] = timestamp(assoc.created_at)
    view["updated_at"] = timestamp(assoc.updated_at)
    return view


def object_view(namespace: str, obj: md.MetaObject) -> dict[str, Any]:
    view: dict[str, Any] = {"name": obj.name}
    _put(view, "description", obj.description)
    if obj.required:
        view["required"] = list(obj.required)
    if obj.properties:
        view["properties"] = copy.deepcopy(obj.properties)
    view.update(
        {
            "created_at": timestamp(obj.created_at),
            "updated_at": timestamp(obj.updated_at),
            "self": f"{namespace_href(namespace)}/objects/{obj.name}",
            "schema": "/v2/schemas/metadefs/object",
        }
    )
    return view


def tag_view(tag: md.Tag) -> dict[str, Any]:
    return {
        "name": tag.name,
        "created_at": timestamp(tag.created_at),
        "updated_at": timestamp(tag.updated_at),
    }


def property_view(prop: md.Property) -> dict[str, Any]:
    view = dict(prop.schema)
    view["name"] = prop.name
    return view


def resource_type_view(rtype: md.ResourceType) -> dict[str, Any]:
    return {
        "name": rtype.name,
        "created_at": timestamp(rtype.created_at),
        "updated_at": timestamp(rtype.updated_at),
    }


def created_namespace_view(ns: md.Namespace, spec: NamespaceSpec) -> dict[str, Any]:
    """POST /v2/metadefs/namespaces answers with what was asked for: the nested
    items as the request gave them (Glance returns its request models)."""
    view = namespace_view(ns)
    if spec.associations:
        view["resource_type_associations"] = [
            {
                k: v
                for k, v in (
                    ("name", a.name),
                    ("prefix", a.prefix),
                    ("properties_target", a.properties_target),
                )
                if v is not None
            }
            for a in spec.associations
        ]
    if spec.properties:
        view["properties"] = {
            k: property_type(v, keep_name=False) for k, v in spec.properties.items()
        }
    if spec.objects:
        view["objects"] = [_spec_object_view(o) for o in spec.objects]
    if spec.tags:
        view["tags"] = [{"name": t} for t in spec.tags]
    return view


def _spec_object_view(obj: ObjectSpec) -> dict[str, Any]:
    view: dict[str, Any] = {"name": obj.name}
    _put(view, "description", obj.description)
    if obj.required:
        view["required"] = list(obj.required)
    if obj.properties:
        view["properties"] = copy.deepcopy(obj.properties)
    return view


def namespace_detail_view(detail: md.NamespaceDetail) -> dict[str, Any]:
    name = detail.namespace.namespace
    view = namespace_view(detail.namespace)
    if detail.objects:
        view["objects"] = [object_view(name, o) for o in detail.objects]
    if detail.associations:
        view["resource_type_associations"] = [association_view(a) for a in detail.associations]
    if detail.properties:
        view["properties"] = copy.deepcopy(detail.properties)
    if detail.tags:
        view["tags"] = [{"name": t.name} for t in detail.tags]
    return view
