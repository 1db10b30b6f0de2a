"""Glance v2 wire format: JSON schemas we serve, request bodies, the image view.

The served `image` schema is also what create and update bodies are validated
against, as Glance does (glance/api/v2/images.py get_schema).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import jsonschema

from cinderlite.domain.errors import Conflict, Forbidden, InvalidRequest, MalformedRequest
from cinderlite.domain.image_import import HIDDEN_PROPERTIES
from cinderlite.domain.records import ImageRecord
from cinderlite.services.images import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    VISIBILITIES,
    ImageService,
    ImageStatus,
    Location,
)

# Glance's two JSON-patch dialects (glance/api/v2/images.py): 2.1 is RFC 6902
# (`{"op": "add", "path": ...}`); 2.0 is the older draft 4 (`{"add": path}`).
PATCH_CONTENT_TYPE = "application/openstack-images-v2.1-json-patch"
PATCH_CONTENT_TYPE_V20 = "application/openstack-images-v2.0-json-patch"
PATCH_CONTENT_TYPES = (PATCH_CONTENT_TYPE_V20, PATCH_CONTENT_TYPE)
_DRAFT4_OPS = ("add", "remove", "replace")

# The versions GET / and /versions list, in the order Glance's api/versions.py
# index lists them (a site without an image cache): 2.15, then the multi-store
# versions 2.13 to 2.8 where the operator configured several stores (Glance's
# enabled_backends), then 2.17 as CURRENT, then 2.7 to 2.0. With one store
# Glance lists 2.9 alone there; here 2.13, 2.12 and 2.11 are listed too, as
# their additions (usage, an image's tasks, the import lock) are served without
# several stores, and glanceclient asks for 2.12 before `image-tasks`. 2.8
# and 2.10 (stores, copy-image) need several stores.
# Glance lists 2.14, 2.16 and 2.18 (the cache API) only with a cache
# (image_cache_dir), and then 2.18 as CURRENT: 2.18, 2.17, 2.16, 2.15, 2.14 first,
# then the store versions, then 2.7 to 2.0. docs/images.md has the table of
# what each one adds.
CURRENT = "CURRENT"
SUPPORTED = "SUPPORTED"
_MULTI_STORE_VERSIONS = ("2.13", "2.12", "2.11", "2.10", "2.9", "2.8")
_ONE_STORE_VERSIONS = ("2.13", "2.12", "2.11", "2.9")
_CACHE_VERSIONS = ("2.17", "2.16", "2.15", "2.14")
_BASE_VERSIONS = ("2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0")


def api_versions(*, multi_store: bool, cache: bool = False) -> list[tuple[str, str]]:
    """(version, status) pairs as Glance's versions.py index lists them."""
    # --- with an image cache (image_cache_dir) ----------------------------------
    # Glance then lists the cache API's versions first, 2.18 (clean, prune) as
    # CURRENT, and 2.17 among them rather than after the store versions.
    if cache:
        versions = [("2.18", CURRENT)]
        versions += [(v, SUPPORTED) for v in _CACHE_VERSIONS]
    else:
        versions = [("2.15", SUPPORTED)]
    # --- end of the image cache's part ------------------------------------------
    versions += [
        (v, SUPPORTED) for v in (_MULTI_STORE_VERSIONS if multi_store else _ONE_STORE_VERSIONS)
    ]
    if not cache:
        versions.append(("2.17", CURRENT))
    versions += [(v, SUPPORTED) for v in _BASE_VERSIONS]
    return versions


READ_ONLY = (
    "created_at", "updated_at", "status", "checksum", "size", "virtual_size", "direct_url",
    "self", "file", "schema", "os_hash_algo", "os_hash_value", "stores",
)
RESERVED = ("location", "deleted", "deleted_at")
# Glance's words for a PATCH of /locations.
_LOCATION_VERBS = {"add": "add", "replace": "update", "remove": "remove"}
BASE_COLUMNS = (
    "id", "name", "visibility", "protected", "os_hidden", "container_format", "disk_format",
    "min_disk", "min_ram", "tags", "owner",
)
_UUID = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": ["null", kind], **extra}


def _readonly(kind: Any, description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "readOnly": True, "type": kind, **extra}


def _extra(description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "is_base": False, "type": "string", **extra}


IMAGE_SCHEMA: dict[str, Any] = {
    "name": "image",
    "additionalProperties": {"type": "string"},
    "links": [
        {"href": "{self}", "rel": "self"},
        {"href": "{file}", "rel": "enclosure"},
        {"href": "{schema}", "rel": "describedby"},
    ],
    "properties": {
        "id": {"description": "Image identifier (UUID)", "pattern": _UUID, "type": "string"},
        "name": {"description": "Image name", "maxLength": 255, "type": ["null", "string"]},
        "status": _readonly("string", "Image status", enum=[s.value for s in ImageStatus]),
        "visibility": {"description": "Who can see the image", "enum": list(VISIBILITIES),
                       "type": "string"},
        "protected": {"description": "Whether the image can be deleted", "type": "boolean"},
        "os_hidden": {"description": "Whether the image is left out of default lists",
                      "type": "boolean"},
        "checksum": _readonly(["null", "string"], "MD5 of the image data", maxLength=32),
        "os_hash_algo": _readonly(["null", "string"], "Algorithm of os_hash_value",
                                  maxLength=64),
        "os_hash_value": _readonly(["null", "string"], "Hex digest of the image data",
                                   maxLength=128),
        "owner": {"description": "Owning project", "maxLength": 255,
                  "type": ["null", "string"]},
        "size": _readonly(["null", "integer"], "Size of the image data in bytes"),
        "virtual_size": _readonly(["null", "integer"], "Virtual size of the disk in bytes"),
        "min_ram": {"description": "RAM needed to boot, in MB", "type": "integer",
                    "minimum": 0},
        "min_disk": {"description": "Disk needed to boot, in GB", "type": "integer",
                     "minimum": 0},
        "container_format": {"description": "Format of the container",
                             "enum": [None, *CONTAINER_FORMATS], "type": ["null", "string"]},
        "disk_format": {"description": "Format of the disk",
                        "enum": [None, *DISK_FORMATS], "type": ["null", "string"]},
        "created_at": _readonly("string", "When the image was created"),
        "updated_at": _readonly("string", "When the image was last changed"),
        "tags": {"description": "Image tags", "type": "array",
                 "items": {"maxLength": 255, "type": "string"}},
        "self": _readonly("string", "Image URL"),
        "file": _readonly("string", "Image data URL"),
        "schema": _readonly("string", "Image schema URL"),
        "architecture": _extra("CPU architecture the image needs"),
        "instance_uuid": _extra("Instance this image records (informational)"),
        "kernel_id": _extra("Kernel image of an AMI-style image", pattern=_UUID,
                            type=["null", "string"]),
        "ramdisk_id": _extra("Ramdisk image of an AMI-style image", pattern=_UUID,
                             type=["null", "string"]),
        "os_distro": _extra("Operating system distribution"),
        "os_version": _extra("Operating system version"),
    },
}

IMAGES_SCHEMA: dict[str, Any] = {
    "name": "images",
    "links": [
        {"href": "{first}", "rel": "first"},
        {"href": "{next}", "rel": "next"},
        {"href": "{schema}", "rel": "describedby"},
    ],
    "properties": {
        "images": {"items": IMAGE_SCHEMA, "type": "array"},
        "schema": {"type": "string"},
        "first": {"type": "string"},
        "next": {"type": "string"},
    },
}

# The view's optional attributes (Glance's base properties), in the served
# schema only where this site shows them (LocationFields).
_DIRECT_URL = _readonly("string", "URL of the image data in its store")
_STORES = _readonly("string", "Stores holding the image data, comma-separated; only "
                    "where the operator configured several stores")
_LOCATIONS = {
    "description": "Where the image data is (URL and metadata)",
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "url": {"type": "string", "maxLength": 255},
            "metadata": {"type": "object"},
        },
        "required": ["url", "metadata"],
    },
}


def served_image_schema(fields: LocationFields) -> dict[str, Any]:
    """GET /v2/schemas/image: IMAGE_SCHEMA plus the location attributes shown here."""
    extra: dict[str, Any] = {}
    if fields.show_locations:
        extra["locations"] = _LOCATIONS
    if fields.show_direct_url:
        extra["direct_url"] = _DIRECT_URL
    if fields.multi:
        extra["stores"] = _STORES
    if not extra:
        return IMAGE_SCHEMA
    return {**IMAGE_SCHEMA, "properties": {**IMAGE_SCHEMA["properties"], **extra}}


def served_images_schema(fields: LocationFields) -> dict[str, Any]:
    """GET /v2/schemas/images, its items the served image schema."""
    items = served_image_schema(fields)
    if items is IMAGE_SCHEMA:
        return IMAGES_SCHEMA
    properties = {**IMAGES_SCHEMA["properties"], "images": {"items": items, "type": "array"}}
    return {**IMAGES_SCHEMA, "properties": properties}

# What bodies are checked against: the schema without the link templates.
_VALIDATION_SCHEMA = {k: v for k, v in IMAGE_SCHEMA.items() if k != "links"}
_VALIDATOR = jsonschema.Draft4Validator(_VALIDATION_SCHEMA)


def versions_document(
    image_url: str, *, multi_store: bool, cache: bool = False
) -> dict[str, Any]:
    href = f"{image_url.rstrip('/')}/v2/"
    return {
        "versions": [
            {"id": f"v{version}", "status": status, "links": [{"rel": "self", "href": href}]}
            for version, status in api_versions(multi_store=multi_store, cache=cache)
        ]
    }


def timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        # The same text as the strftime below, in a third of the time.
        return value.isoformat(timespec="seconds") + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def image_view(
    image: ImageRecord, locations: LocationFields | None = None
) -> dict[str, Any]:
    """The image as Glance shows it: custom properties (but those Glance keeps to
    itself, such as os_glance_stage_host), then the base attributes; with
    `locations`, where the data is as the operator shows it."""
    view: dict[str, Any] = {
        k: v for k, v in (image.properties or {}).items() if k not in HIDDEN_PROPERTIES
    }
    view.update({
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": bool(image.protected),
        "os_hidden": bool(image.os_hidden),
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "created_at": timestamp(image.created_at),
        "updated_at": timestamp(image.updated_at),
        "tags": list(image.tags or []),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    })
    if locations is not None:
        locations.add_to(view, image)
    return view


def location_view(location: Location) -> dict[str, Any]:
    """One of an image's locations as Glance shows it: its URL and metadata (the
    store, on a site with several; nothing with one)."""
    metadata = {} if location.store is None else {"store": location.store}
    return {"url": location.url, "metadata": metadata}


class LocationFields:
    """`locations`, `direct_url` and `stores` of the image view, as Glance's
    show_multiple_locations, show_image_direct_url and enabled_backends make them
    (shown to whoever sees the image, as Glance does)."""

    def __init__(self, images: ImageService) -> None:
        self._images = images
        options = images.location_options
        self.show_locations = options.show_multiple_locations
        self.show_direct_url = options.show_image_direct_url
        self.multi = images.multi_store

    def add_to(self, view: dict[str, Any], image: ImageRecord) -> None:
        if not (self.show_locations or self.show_direct_url or self.multi):
            return
        found = self._images.locations(image)
        if self.show_locations:
            view["locations"] = [location_view(loc) for loc in found]
        if self.show_direct_url and found:
            view["direct_url"] = found[0].url
        stores = [loc.store for loc in found if loc.store]
        if self.multi and stores:
            view["stores"] = ",".join(stores)


def _check_key(key: str) -> None:
    if key == "locations":
        # Glance's domain: reserved in a create body.
        raise Forbidden("Attribute 'locations' is reserved.")
    if key in READ_ONLY:
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith("os_glance"):
        raise Forbidden(f"Attribute '{key}' is reserved.")


def _validate(doc: dict[str, Any]) -> None:
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(doc))
    if error is not None:
        raise InvalidRequest(f"Provided object does not match schema 'image': {error.message}")
    for key in doc:
        if len(key) > 255:
            raise InvalidRequest(f"Provided object does not match schema 'image': "
                                 f"property name '{key[:32]}...' is longer than 255 characters")


def _split(doc: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    fields = {k: v for k, v in doc.items() if k in BASE_COLUMNS}
    props = {k: v for k, v in doc.items() if k not in BASE_COLUMNS}
    return fields, props


def parse_create(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """POST /v2/images body -> (base fields, custom properties)."""
    if not isinstance(body, dict):
        raise MalformedRequest("Body expected in request.")
    for key in body:
        _check_key(key)
    _validate(body)
    return _split(body)


def mutable_view(image: ImageRecord) -> dict[str, Any]:
    """What a PATCH document applies to: writable base attributes + properties."""
    doc: dict[str, Any] = dict(image.properties or {})
    for key in BASE_COLUMNS:
        if key != "id":
            doc[key] = getattr(image, key)
    doc["tags"] = list(image.tags or [])
    return doc


def _decode_path(path: Any) -> list[str]:
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidRequest(f"Invalid JSON pointer for this resource: '{path}'")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    if not parts[0] or len(parts) > 2 or (len(parts) == 2 and parts[0] != "tags"):
        raise InvalidRequest(f"Invalid JSON pointer for this resource: '{path}'")
    return parts


def _refuse_locations_change(kind: str, visible: bool) -> None:
    verb = _LOCATION_VERBS[kind]
    if not visible:
        raise Forbidden(f"It's not allowed to {verb} locations if locations are invisible.")
    # The data of the images here is in this service's own stores: locations
    # follow from uploads and deletes from a store, never from a URL given here.
    raise Forbidden(f"It's not allowed to {verb} locations here: image data is in this "
                    "service's own stores (DELETE /v2/stores/{store_id}/{image_id} "
                    "removes it from one).")


def apply_patch(
    doc: dict[str, Any], ops: Any, *, locations_visible: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Apply a v2.1 JSON-patch document (add/replace/remove) to `doc` (from
    mutable_view); returns the validated (base fields, custom properties).
    `locations_visible`: Glance's show_multiple_locations (it words the refusal
    of a change of /locations)."""
    if not isinstance(ops, list):
        raise InvalidRequest("Request body must be a JSON array of operation objects.")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            name = op.get("op") if isinstance(op, dict) else op
            raise InvalidRequest(f"Operation objects must contain exactly one member named "
                                 f"\"add\", \"remove\", or \"replace\" (got {name!r}).")
        path = op.get("path")
        if isinstance(path, str) and path.split("/")[:2] == ["", "locations"]:
            _refuse_locations_change(op["op"], locations_visible)
        parts = _decode_path(path)
        key = parts[0]
        if key == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        _check_key(key)
        kind = op["op"]
        if kind != "remove" and "value" not in op:
            raise InvalidRequest(f"Operation \"{kind}\" requires a member named \"value\".")
        if len(parts) == 2:  # /tags/<tag> or /tags/-
            _patch_tag(doc, kind, parts[1], op.get("value"))
            continue
        if kind == "remove":
            if key in BASE_COLUMNS:
                raise Forbidden(f"Attribute '{key}' cannot be removed.")
            if key not in doc:
                raise Conflict(f"Property {key} does not exist.")
            del doc[key]
        elif kind == "replace" and key not in BASE_COLUMNS and key not in doc:
            raise Conflict(f"Property {key} does not exist.")
        else:
            doc[key] = op["value"]
    _validate(doc)
    return _split(doc)


def patch_from_draft4(ops: Any) -> Any:
    """A 2.0 (draft 4) patch document in the 2.1 shape apply_patch reads."""
    if not isinstance(ops, list):
        return ops
    converted = []
    for op in ops:
        if not isinstance(op, dict):
            converted.append(op)
            continue
        named = [k for k in _DRAFT4_OPS if k in op]
        if len(named) > 1:
            raise InvalidRequest('Operation objects must contain only one member named '
                                 '"add", "remove", or "replace".')
        if not named:
            raise InvalidRequest('Operation objects must contain exactly one member named '
                                 '"add", "remove", or "replace".')
        change = {"op": named[0], "path": op[named[0]]}
        if "value" in op:
            change["value"] = op["value"]
        converted.append(change)
    return converted


def _patch_tag(doc: dict[str, Any], kind: str, tag: str, value: Any) -> None:
    tags: list[str] = doc.setdefault("tags", [])
    if kind == "remove":
        if tag not in tags:
            raise Conflict(f"Tag {tag} does not exist.")
        tags.remove(tag)
    elif tag == "-":
        tags.append(value)
    else:
        raise InvalidRequest(f"Invalid JSON pointer for this resource: '/tags/{tag}'")


