"""Volume and volume-type bodies as plain dicts, per API and microversion.

The volume body is Cinder's 3.0 set, plus `group_id` from 3.13, for admins
`provider_id` from 3.21, `shared_targets` and `service_uuid` from 3.48, for
admins `cluster_name` from 3.61, `volume_type_id` from 3.63, `encryption_key_id`
from 3.64 (only for an encrypted volume: none here) and `consumes_quota` from
3.65 (cinder/api/v3/views/volumes.py); strict clients (tempest) forbid any other
key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cinderlite.api.volume.context import VolumeContext
from cinderlite.domain.records import AttachmentRecord, VolumeTypeRecord
from cinderlite.services.volumes import VolumeDetail

# The volume service that holds every volume here (Cinder's services.uuid of the
# cinder-volume service owning a volume): one backend, one stable id.
SERVICE_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "cinderlite:volume:cinderlite@files"))
# Each volume is its own file, attached through its own path: no target is shared
# between volumes, so os-brick never needs its shared-target lock (3.48; false
# whatever the version, so 3.69's null never occurs).
SHARED_TARGETS = False
# Cinder's use_quota of every volume and snapshot a user can see here.
CONSUMES_QUOTA = True


def timestamp(value: datetime | None) -> str | None:
    """Cinder's (oslo jsonutils) format: 2026-11-27T05:46:07.000000, no zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        # The same text as the strftime below, in a third of the time (listings).
        return value.isoformat(timespec="microseconds")
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def links(
    base_url: str, ctx: VolumeContext, project_id: str, volume_id: str
) -> list[dict[str, str]]:
    base = base_url.rstrip("/")
    prefix = "v2" if ctx.api == "v2" else "v3"
    return [
        {"href": f"{base}/{prefix}/{project_id}/volumes/{volume_id}", "rel": "self"},
        {"href": f"{base}/{project_id}/volumes/{volume_id}", "rel": "bookmark"},
    ]


def attachments(volume_id: str, rows: Sequence[AttachmentRecord]) -> list[dict[str, Any]]:
    return [
        {
            "id": volume_id,
            "attachment_id": a.id,
            "volume_id": volume_id,
            "server_id": a.instance_uuid,
            "host_name": a.attached_host,
            "device": a.mountpoint,
            "attached_at": timestamp(a.attached_at),
        }
        for a in rows
    ]


# Admin metadata Cinder shows among a volume's metadata (add_visible_admin_metadata).
VISIBLE_ADMIN_KEYS = ("readonly", "attached_mode")


def visible_admin_metadata(admin_meta: dict[str, Any] | None) -> dict[str, str]:
    return {k: str(admin_meta[k]) for k in VISIBLE_ADMIN_KEYS if admin_meta and k in admin_meta}


def summary(detail: VolumeDetail, ctx: VolumeContext, base_url: str) -> dict[str, Any]:
    v = detail.volume
    return {"id": v.id, "links": links(base_url, ctx, ctx.project_id, v.id), "name": v.name}


def volume(
    detail: VolumeDetail, ctx: VolumeContext, base_url: str, *, extended: bool = True,
    image_metadata: bool = False,
) -> dict[str, Any]:
    """The full view. `extended` adds what Cinder's API extensions add on show and
    detail (never on create or update): the tenant attribute, admin-only host and
    migration attributes, and, when `image_metadata` (the caller passes the
    volume_image_metadata:show rule), `volume_image_metadata` for a volume that
    has any (one made from an image, a copy of one, or given some)."""
    v = detail.volume
    body: dict[str, Any] = {
        "id": v.id,
        "status": v.status,
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": timestamp(v.created_at),
        "updated_at": timestamp(v.updated_at),
        "attachments": attachments(v.id, detail.attachments),
        "name": v.name,
        "description": v.description,
        "volume_type": detail.type_name,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "metadata": {**(v.meta or {}), **visible_admin_metadata(v.admin_meta)},
        "links": links(base_url, ctx, ctx.project_id, v.id),
        "user_id": v.user_id,
        "bootable": "true" if v.bootable else "false",
        "encrypted": False,
        "replication_status": "disabled",
        "consistencygroup_id": None,
        "multiattach": bool(v.multiattach),
    }
    if ctx.api == "v3" and ctx.caller.is_admin:
        # Cinder's v3 detail view shows admins the migration status (volumes never
        # migrate here: always null).
        body["migration_status"] = None
    if ctx.api == "v3" and ctx.version.at_least(3, 13):
        body["group_id"] = v.group_id
    if ctx.api == "v3" and ctx.version.at_least(3, 21) and ctx.caller.is_admin:
        body["provider_id"] = None
    if ctx.api == "v3":
        body.update(_since_3_48(detail, ctx))
    if not extended:
        return body
    body["os-vol-tenant-attr:tenant_id"] = v.project_id
    if ctx.caller.is_admin:
        body["os-vol-host-attr:host"] = ctx.pool_host
        body["os-vol-mig-status-attr:migstat"] = None
        body["os-vol-mig-status-attr:name_id"] = None
    if image_metadata and v.image_meta:
        body["volume_image_metadata"] = {str(k): str(val) for k, val in v.image_meta.items()}
    return body


def _since_3_48(detail: VolumeDetail, ctx: VolumeContext) -> dict[str, Any]:
    """The keys Cinder's v3 volume view adds from 3.48 on, at `ctx.version`."""
    body: dict[str, Any] = {}
    version = ctx.version
    if version.at_least(3, 48):
        body["shared_targets"] = SHARED_TARGETS
        body["service_uuid"] = SERVICE_UUID
    if version.at_least(3, 61) and ctx.caller.is_admin:
        # No clustered (active/active) volume service here.
        body["cluster_name"] = None
    if version.at_least(3, 63):
        body["volume_type_id"] = detail.volume.volume_type_id
    # 3.64 adds encryption_key_id only for an encrypted volume: none is here.
    if version.at_least(3, 65):
        # Every volume here is a user's and counts against its project's quota
        # (Cinder's use_quota is false only for its internal temporary volumes).
        body["consumes_quota"] = CONSUMES_QUOTA
    return body


def _type_fields(vtype: VolumeTypeRecord) -> dict[str, Any]:
    return {
        "id": vtype.id,
        "name": vtype.name,
        "description": vtype.description,
        "is_public": vtype.is_public,
        "extra_specs": dict(vtype.extra_specs or {}),
        "qos_specs_id": vtype.qos_specs_id,
    }


def volume_type(vtype: VolumeTypeRecord, ctx: VolumeContext) -> dict[str, Any]:
    """A type as the types API shows it (cinder/api/v2/views/types.py)."""
    return {**_type_fields(vtype), "os-volume-type-access:is_public": vtype.is_public}


def volume_type_object(vtype: VolumeTypeRecord | None) -> dict[str, Any] | None:
    """A volume's type as the upload action's 202 carries it on /v3: the whole
    object, timestamps included (cinder/api/contrib/volume_actions.py)."""
    if vtype is None:
        return None
    return {
        **_type_fields(vtype),
        # Cinder stamps both at creation; a type made by an older release here
        # has no updated_at and was never changed since it was created.
        "created_at": timestamp(vtype.created_at),
        "updated_at": timestamp(vtype.updated_at or vtype.created_at),
        "deleted": False, "deleted_at": None,
    }

