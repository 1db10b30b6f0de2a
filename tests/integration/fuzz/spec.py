"""What the fuzz run sends: every route of the three APIs with a valid request of each.

`test_spec_covers_every_route` compares this list with the routes the apps
really serve, so a route added without an entry here fails the suite. Paths
use `{name}` for path parameters; the fuzzer fills them with ids of real
(disposable) resources or with hostile strings. Volume paths are written
after the project segment, as in api/volume/routes.py's ROUTES table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Route:
    api: str  # identity | volume | image
    method: str
    path: str
    query: tuple[str, ...] = ()
    body: Any = None  # a valid JSON body, bytes for raw data, None for none
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


V362 = {"OpenStack-API-Version": "volume 3.62"}
UPLOAD = {"os-volume_upload_image": {"image_name": "fz", "disk_format": "raw",
                                     "container_format": "bare", "force": False,
                                     "visibility": "private", "protected": False}}
VOLUME_LIST_QUERY = ("limit", "marker", "sort", "sort_key", "sort_dir", "name", "status",
                     "availability_zone", "bootable", "metadata", "all_tenants", "project_id",
                     "display_name", "size", "created_at", "updated_at", "name~")
SNAPSHOT_LIST_QUERY = ("limit", "marker", "sort", "sort_key", "sort_dir", "name", "status",
                       "volume_id", "metadata", "all_tenants", "project_id", "display_name",
                       "availability_zone")
BACKUP_LIST_QUERY = ("limit", "marker", "offset", "sort", "sort_key", "sort_dir", "name",
                     "status", "volume_id", "all_tenants", "project_id", "display_name",
                     "name~")
TRANSFER_LIST_QUERY = ("limit", "offset", "marker", "sort", "sort_key", "sort_dir", "name",
                       "volume_id", "all_tenants", "project_id", "no_snapshots", "id")
IMAGE_LIST_QUERY = ("limit", "marker", "sort", "sort_key", "sort_dir", "name", "status",
                    "visibility", "member_status", "tag", "size_min", "size_max",
                    "created_at", "updated_at", "id", "protected", "os_hidden", "owner",
                    "changes-since", "os_distro")
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"

VOLUME_ROUTES = [
    Route("volume", "GET", "/volumes", VOLUME_LIST_QUERY),
    Route("volume", "POST", "/volumes", body={"volume": {
        "size": 1, "name": "fz", "description": "d", "metadata": {"k": "v"},
        "volume_type": None, "availability_zone": "nova", "imageRef": None,
        "multiattach": False}}),
    Route("volume", "GET", "/volumes/detail", VOLUME_LIST_QUERY),
    Route("volume", "GET", "/volumes/{volume_id}"),
    Route("volume", "PUT", "/volumes/{volume_id}", body={"volume": {
        "name": "n", "description": "d", "metadata": {"a": "b"}}}),
    Route("volume", "DELETE", "/volumes/{volume_id}", ("cascade", "force")),
    Route("volume", "POST", "/volumes/{volume_id}/action", body=UPLOAD),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-extend": {"new_size": 2}}),
    Route("volume", "POST", "/volumes/{volume_id}/action", body={"os-attach": {
        "instance_uuid": "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b", "mountpoint": "/dev/vdb",
        "mode": "rw"}}),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-detach": {"attachment_id": None}}),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-reset_status": {"status": "available", "attach_status": "detached"}}),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-set_bootable": {"bootable": True}}),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-set_image_metadata": {"metadata": {"hw_disk_bus": "scsi"}}}),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-unset_image_metadata": {"key": "hw_disk_bus"}}),
    Route("volume", "POST", "/volumes/{volume_id}/action",
          body={"os-show_image_metadata": None}),
    Route("volume", "GET", "/volumes/{volume_id}/upload-progress"),
    Route("volume", "GET", "/volumes/{volume_id}/metadata"),
    Route("volume", "POST", "/volumes/{volume_id}/metadata", body={"metadata": {"k": "v"}}),
    Route("volume", "PUT", "/volumes/{volume_id}/metadata", body={"metadata": {"k": "v"}}),
    Route("volume", "GET", "/volumes/{volume_id}/metadata/{key}"),
    Route("volume", "PUT", "/volumes/{volume_id}/metadata/{key}", body={"meta": {"k": "v"}}),
    Route("volume", "DELETE", "/volumes/{volume_id}/metadata/{key}"),
    Route("volume", "GET", "/snapshots", SNAPSHOT_LIST_QUERY),
    Route("volume", "POST", "/snapshots", body={"snapshot": {
        "volume_id": "{volume_id}", "name": "fz", "description": "d", "force": True,
        "metadata": {"k": "v"}}}),
    Route("volume", "GET", "/snapshots/detail", SNAPSHOT_LIST_QUERY),
    Route("volume", "GET", "/snapshots/{snapshot_id}"),
    Route("volume", "PUT", "/snapshots/{snapshot_id}", body={"snapshot": {
        "name": "n", "description": "d"}}),
    Route("volume", "DELETE", "/snapshots/{snapshot_id}"),
    Route("volume", "POST", "/snapshots/{snapshot_id}/action",
          body={"os-reset_status": {"status": "available"}}),
    Route("volume", "POST", "/snapshots/{snapshot_id}/action", body={"os-force_delete": {}}),
    Route("volume", "POST", "/snapshots/{snapshot_id}/action",
          body={"os-update_snapshot_status": {"status": "available", "progress": "100%"}}),
    Route("volume", "GET", "/snapshots/{snapshot_id}/metadata"),
    Route("volume", "POST", "/snapshots/{snapshot_id}/metadata", body={"metadata": {"k": "v"}}),
    Route("volume", "PUT", "/snapshots/{snapshot_id}/metadata", body={"metadata": {"k": "v"}}),
    Route("volume", "GET", "/snapshots/{snapshot_id}/metadata/{key}"),
    Route("volume", "PUT", "/snapshots/{snapshot_id}/metadata/{key}",
          body={"meta": {"key": "v"}}),
    Route("volume", "DELETE", "/snapshots/{snapshot_id}/metadata/{key}"),
    Route("volume", "GET", "/backups", BACKUP_LIST_QUERY),
    Route("volume", "POST", "/backups", body={"backup": {
        "volume_id": "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b", "name": "fz", "description": "d",
        "container": "c", "incremental": False, "force": True, "snapshot_id": None}}),
    Route("volume", "GET", "/backups/detail", BACKUP_LIST_QUERY),
    Route("volume", "GET", "/backups/{backup_id}"),
    Route("volume", "DELETE", "/backups/{backup_id}"),
    Route("volume", "PUT", "/backups/{backup_id}", body={"backup": {
        "name": "fz", "description": "d", "metadata": {"k": "v"}}},
          headers={"OpenStack-API-Version": "volume 3.43"}),
    Route("volume", "GET", "/backups/{backup_id}/export_record"),
    Route("volume", "POST", "/backups/import_record", body={"backup-record": {
        "backup_service": "cinder.backup.drivers.posix.PosixBackupDriver",
        "backup_url": "eyJpZCI6ICIwZTlkN2M2Yi01YTRmLTRlM2QtOWMyYi0xYTBmOWU4ZDdjNmIifQ=="}}),
    Route("volume", "POST", "/backups/{backup_id}/restore",
          body={"restore": {"volume_id": None, "name": "fz"}}),
    Route("volume", "POST", "/backups/{backup_id}/action",
          body={"os-reset_status": {"status": "available"}}),
    Route("volume", "POST", "/backups/{backup_id}/action", body={"os-force_delete": {}}),
    Route("volume", "GET", "/os-volume-transfer", TRANSFER_LIST_QUERY),
    Route("volume", "POST", "/os-volume-transfer", body={"transfer": {
        "volume_id": "{volume_id}", "name": "fz"}}),
    Route("volume", "GET", "/os-volume-transfer/detail", TRANSFER_LIST_QUERY),
    Route("volume", "GET", "/os-volume-transfer/{transfer_id}"),
    Route("volume", "DELETE", "/os-volume-transfer/{transfer_id}"),
    Route("volume", "POST", "/os-volume-transfer/{transfer_id}/accept",
          body={"accept": {"auth_key": "{auth_key}"}}),
    Route("volume", "GET", "/volume-transfers", TRANSFER_LIST_QUERY),
    Route("volume", "POST", "/volume-transfers", body={"transfer": {
        "volume_id": "{volume_id}", "name": "fz", "no_snapshots": True}}),
    Route("volume", "GET", "/volume-transfers/detail", TRANSFER_LIST_QUERY),
    Route("volume", "GET", "/volume-transfers/{transfer_id}"),
    Route("volume", "DELETE", "/volume-transfers/{transfer_id}"),
    Route("volume", "POST", "/volume-transfers/{transfer_id}/accept",
          body={"accept": {"auth_key": "{auth_key}"}}),
    Route("volume", "GET", "/types"),
    Route("volume", "GET", "/types/default"),
    Route("volume", "GET", "/types/{type_id}"),
    Route("volume", "POST", "/types", body={"volume_type": {
        "name": "fz-vt", "description": "d", "os-volume-type-access:is_public": True,
        "extra_specs": {"k": "v"}}}),
    Route("volume", "PUT", "/types/{type_id}", body={"volume_type": {
        "name": "fz-vt2", "description": "d", "is_public": True}}),
    Route("volume", "DELETE", "/types/{type_id}"),
    Route("volume", "POST", "/types/{type_id}/action",
          body={"addProjectAccess": {"project": "0e9d7c6b5a4f4e3d9c2b1a0f9e8d7c6b"}}),
    Route("volume", "GET", "/types/{type_id}/os-volume-type-access"),
    Route("volume", "GET", "/types/{type_id}/extra_specs"),
    Route("volume", "POST", "/types/{type_id}/extra_specs", body={"extra_specs": {"k": "v"}}),
    Route("volume", "GET", "/types/{type_id}/extra_specs/{key}"),
    Route("volume", "PUT", "/types/{type_id}/extra_specs/{key}", body={"{key}": "v"}),
    Route("volume", "DELETE", "/types/{type_id}/extra_specs/{key}"),
    Route("volume", "GET", "/types/{type_id}/encryption"),
    Route("volume", "POST", "/types/{type_id}/encryption", body={"encryption": {
        "provider": "luks", "control_location": "front-end", "cipher": "aes-xts-plain64",
        "key_size": 256}}),
    Route("volume", "GET", "/types/{type_id}/encryption/{key}"),
    Route("volume", "PUT", "/types/{type_id}/encryption/{key}",
          body={"encryption": {"provider": "luks"}}),
    Route("volume", "DELETE", "/types/{type_id}/encryption/{key}"),
    Route("volume", "GET", "/default-types", headers=V362),
    Route("volume", "GET", "/default-types/{project_id}", headers=V362),
    Route("volume", "PUT", "/default-types/{project_id}",
          body={"default_type": {"volume_type": "{type_id}"}}, headers=V362),
    Route("volume", "DELETE", "/default-types/{project_id}", headers=V362),
    Route("volume", "GET", "/messages", ("limit", "marker", "sort", "resource_uuid")),
    Route("volume", "GET", "/messages/{message_id}"),
    Route("volume", "DELETE", "/messages/{message_id}"),
    Route("volume", "GET", "/volumes/summary", ("all_tenants",)),
    Route("volume", "GET", "/resource_filters", ("resource",)),
    Route("volume", "GET", "/os-availability-zone"),
    Route("volume", "GET", "/os-services", ("host", "binary")),
    # `service_action` is `enable`: the fuzz run must not take the backend away.
    Route("volume", "PUT", "/os-services/{service_action}",
          body={"host": "fz-host@file", "binary": "cinder-volume"}),
    Route("volume", "GET", "/scheduler-stats/get_pools", ("detail", "name", "volume_type")),
    Route("volume", "GET", "/capabilities/{backend}"),
    Route("volume", "GET", "/os-hosts", ("zone",)),
    Route("volume", "GET", "/os-hosts/{backend}"),
    Route("volume", "GET", "/extensions"),
    Route("volume", "GET", "/extensions/{extension_alias}"),
    Route("volume", "GET", "/attachments", ("volume_id", "status", "limit", "marker")),
    Route("volume", "GET", "/attachments/detail", ("volume_id", "status", "limit")),
    Route("volume", "POST", "/attachments", body={"attachment": {
        "volume_uuid": "{volume_id}", "instance_uuid": None,
        "connector": {"host": "h", "mountpoint": "/dev/vdb"}}}),
    Route("volume", "GET", "/attachments/{attachment_id}"),
    Route("volume", "PUT", "/attachments/{attachment_id}", body={"attachment": {
        "connector": {"host": "h"}}}),
    Route("volume", "DELETE", "/attachments/{attachment_id}"),
    Route("volume", "POST", "/attachments/{attachment_id}/action", body={"os-complete": None}),
    *(Route("volume", "POST", "/volumes/{volume_id}/action", body=b) for b in (
        {"os-reserve": None}, {"os-unreserve": None}, {"os-begin_detaching": None},
        {"os-roll_detaching": None},
        {"os-initialize_connection": {"connector": {"host": "h"}}},
        {"os-terminate_connection": {"connector": {"host": "h"}}},
        {"os-force_detach": {"attachment_id": None}},
        {"os-update_readonly_flag": {"readonly": True}}, {"os-force_delete": {}},
        {"revert": {"snapshot_id": "{snapshot_id}"}},
        {"os-reimage": {"image_id": "{image_id}", "reimage_reserved": False}},
        {"os-extend_volume_completion": {"error": False}},
    )),
]

# Generic volume groups: served from 3.11 (types), 3.13 (groups), 3.14 (snapshots).
_G = {"OpenStack-API-Version": "volume 3.38"}
GROUP_ROUTES = [
    Route("volume", "GET", "/group_types", ("is_public", "sort", "limit", "marker"),
          headers=_G),
    Route("volume", "POST", "/group_types", body={"group_type": {
        "name": "fz", "description": "d", "is_public": True, "group_specs": {"k": "v"}}},
          headers=_G),
    Route("volume", "GET", "/group_types/{group_type_id}", headers=_G),
    Route("volume", "PUT", "/group_types/{group_type_id}", body={"group_type": {
        "name": "fz2", "description": "d", "is_public": False}}, headers=_G),
    Route("volume", "DELETE", "/group_types/{group_type_id}", headers=_G),
    Route("volume", "GET", "/group_types/{group_type_id}/group_specs", headers=_G),
    Route("volume", "POST", "/group_types/{group_type_id}/group_specs",
          body={"group_specs": {"k": "v"}}, headers=_G),
    Route("volume", "GET", "/group_types/{group_type_id}/group_specs/{key}", headers=_G),
    Route("volume", "PUT", "/group_types/{group_type_id}/group_specs/{key}",
          body={"key": "v2"}, headers=_G),
    Route("volume", "DELETE", "/group_types/{group_type_id}/group_specs/{key}", headers=_G),
    Route("volume", "GET", "/groups", ("limit", "marker", "sort", "name", "all_tenants",
                                       "list_volume"), headers=_G),
    Route("volume", "POST", "/groups", body={"group": {
        "group_type": "{group_type_id}", "volume_types": ["{type_id}"], "name": "fz",
        "description": "d", "availability_zone": "nova"}}, headers=_G),
    Route("volume", "GET", "/groups/detail", ("limit", "list_volume"), headers=_G),
    Route("volume", "POST", "/groups/action", body={"create-from-src": {
        "source_group_id": "{group_id}", "name": "fz"}}, headers=_G),
    Route("volume", "GET", "/groups/{group_id}", ("list_volume",), headers=_G),
    Route("volume", "PUT", "/groups/{group_id}", body={"group": {
        "name": "n", "description": "d", "add_volumes": "{volume_id}",
        "remove_volumes": ""}}, headers=_G),
    *(Route("volume", "POST", "/groups/{group_id}/action", body=b, headers=_G) for b in (
        {"delete": {"delete-volumes": True}}, {"reset_status": {"status": "available"}},
        {"enable_replication": {}}, {"list_replication_targets": {}},
    )),
    Route("volume", "GET", "/group_snapshots", ("limit", "marker", "sort", "status"),
          headers=_G),
    Route("volume", "POST", "/group_snapshots", body={"group_snapshot": {
        "group_id": "{group_id}", "name": "fz", "description": "d"}}, headers=_G),
    Route("volume", "GET", "/group_snapshots/detail", ("limit", "group_id"), headers=_G),
    Route("volume", "GET", "/group_snapshots/{group_snapshot_id}", headers=_G),
    Route("volume", "DELETE", "/group_snapshots/{group_snapshot_id}", headers=_G),
    Route("volume", "POST", "/group_snapshots/{group_snapshot_id}/action",
          body={"reset_status": {"status": "available"}}, headers=_G),
]
VOLUME_ROUTES += GROUP_ROUTES

QUOTA_ROUTES = [
    Route("volume", "GET", "/os-quota-sets/{project_id}", ("usage",)),
    Route("volume", "GET", "/os-quota-sets/{project_id}/defaults"),
    Route("volume", "PUT", "/os-quota-sets/{project_id}", body={"quota_set": {
        "volumes": 20, "gigabytes": 2000, "snapshots": 20, "backups": 20,
        "backup_gigabytes": 2000, "per_volume_gigabytes": -1, "groups": 20}}),
    Route("volume", "DELETE", "/os-quota-sets/{project_id}"),
    Route("volume", "GET", "/os-quota-class-sets/{class_name}"),
    Route("volume", "PUT", "/os-quota-class-sets/{class_name}",
          body={"quota_class_set": {"volumes": 20, "gigabytes": 2000}}),
    Route("volume", "GET", "/limits", ("project_id", "tenant_id")),
]
VOLUME_ROUTES += QUOTA_ROUTES

QOS_ROUTES = [
    Route("volume", "GET", "/qos-specs",
          ("limit", "marker", "offset", "sort", "sort_key", "sort_dir", "id", "value", "name")),
    Route("volume", "POST", "/qos-specs", body={"qos_specs": {
        "name": "fz-qos", "consumer": "front-end", "total_iops_sec": "100"}}),
    Route("volume", "GET", "/qos-specs/{qos_id}"),
    Route("volume", "PUT", "/qos-specs/{qos_id}", body={"qos_specs": {
        "consumer": "both", "read_iops_sec_per_gb": "10", "k": None}}),
    Route("volume", "DELETE", "/qos-specs/{qos_id}", ("force",)),
    Route("volume", "PUT", "/qos-specs/{qos_id}/delete_keys", body={"keys": ["key"]}),
    Route("volume", "GET", "/qos-specs/{qos_id}/associations"),
    Route("volume", "GET", "/qos-specs/{qos_id}/associate", ("vol_type_id",)),
    Route("volume", "GET", "/qos-specs/{qos_id}/disassociate", ("vol_type_id",)),
    Route("volume", "GET", "/qos-specs/{qos_id}/disassociate_all"),
]
VOLUME_ROUTES += QOS_ROUTES

# The volume API's own roots (served before the route table).
VOLUME_ROOTS = [Route("volume", "GET", "/"), Route("volume", "GET", "/v2/"),
                Route("volume", "GET", "/v3/")]

IMAGE_ROUTES = [
    Route("image", "GET", "/"),
    Route("image", "GET", "/versions"),
    Route("image", "GET", "/v2/schemas/image"),
    Route("image", "GET", "/v2/schemas/images"),
    Route("image", "POST", "/v2/images", body={
        "name": "fz", "disk_format": "raw", "container_format": "bare",
        "visibility": "private", "protected": False, "min_disk": 0, "min_ram": 0,
        "tags": ["t"], "os_distro": "x"}),
    Route("image", "GET", "/v2/images", IMAGE_LIST_QUERY),
    Route("image", "GET", "/v2/images/{image_id}"),
    Route("image", "HEAD", "/v2/images/{image_id}"),
    Route("image", "PATCH", "/v2/images/{image_id}", body=[
        {"op": "replace", "path": "/name", "value": "n"},
        {"op": "add", "path": "/os_distro", "value": "y"},
        {"op": "remove", "path": "/os_distro"}], content_type=PATCH_TYPE),
    Route("image", "DELETE", "/v2/images/{image_id}"),
    Route("image", "PUT", "/v2/images/{image_id}/tags/{tag}"),
    Route("image", "DELETE", "/v2/images/{image_id}/tags/{tag}"),
    Route("image", "PUT", "/v2/images/{image_id}/file", body=b"\0" * 4096 + b"data",
          content_type="application/octet-stream"),
    Route("image", "GET", "/v2/images/{image_id}/file"),
    Route("image", "GET", "/v2/images/{image_id}/tasks"),
    Route("image", "GET", "/v2/info/import"),
    Route("image", "PUT", "/v2/images/{image_id}/stage", body=b"\0" * 4096 + b"data",
          content_type="application/octet-stream"),
    Route("image", "POST", "/v2/images/{image_id}/import",
          body={"method": {"name": "glance-direct"}, "all_stores_must_succeed": True}),
    Route("image", "GET", "/v2/images/{image_id}/locations"),
    Route("image", "POST", "/v2/images/{image_id}/locations", body={
        "url": "file:///var/lib/cinderlite/images/{image_id}",
        "validation_data": {"os_hash_algo": "sha256", "os_hash_value": "ab" * 32}}),
    Route("image", "GET", "/v2/schemas/task"),
    Route("image", "GET", "/v2/schemas/tasks"),
    Route("image", "GET", "/v2/tasks", ("limit", "marker", "sort_key", "sort_dir", "status",
                                        "type", "owner", "image_id")),
    Route("image", "GET", "/v2/tasks/{task_id}"),
    Route("image", "DELETE", "/v2/tasks/{task_id}"),
    Route("image", "POST", "/v2/tasks", body={"type": "import", "input": {
        "import_from": "http://fz.invalid/disk", "import_from_format": "raw",
        "image_properties": {"disk_format": "raw", "container_format": "bare"}}}),
    Route("image", "PATCH", "/v2/images/{image_id}", body=[
        {"replace": "/name", "value": "n"}, {"add": "/os_distro", "value": "y"},
        {"remove": "/os_distro"}], content_type="application/openstack-images-v2.0-json-patch"),
    Route("image", "GET", "/v2/schemas/member"),
    Route("image", "GET", "/v2/schemas/members"),
    Route("image", "POST", "/v2/images/{image_id}/members", body={"member": "fz-project"}),
    Route("image", "GET", "/v2/images/{image_id}/members"),
    Route("image", "GET", "/v2/images/{image_id}/members/{member_id}"),
    Route("image", "PUT", "/v2/images/{image_id}/members/{member_id}",
          body={"status": "accepted"}),
    Route("image", "DELETE", "/v2/images/{image_id}/members/{member_id}"),
    Route("image", "POST", "/v2/images/{image_id}/actions/deactivate"),
    Route("image", "POST", "/v2/images/{image_id}/actions/reactivate"),
    Route("image", "GET", "/v2/info/usage"),
    Route("image", "GET", "/v2/info/stores"),
    Route("image", "GET", "/v2/info/stores/detail"),
    Route("image", "DELETE", "/v2/stores/{store_id}/{image_id}"),
    Route("image", "GET", "/v2/cache"),
    Route("image", "DELETE", "/v2/cache", headers={"x-image-cache-clear-target": "cache"}),
    Route("image", "PUT", "/v2/cache/{image_id}"),
    Route("image", "DELETE", "/v2/cache/{image_id}"),
    Route("image", "GET", "/v2/cache/nodes/{image_id}"),
    Route("image", "POST", "/v2/cache/clean"),
    Route("image", "POST", "/v2/cache/prune"),
]

_AUTH = {"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": "fz-user", "domain": {"name": "Default"}, "password": "fz-secret"}}},
    "scope": {"project": {"name": "fz-project", "domain": {"name": "Default"}}}}}

IDENTITY_ROUTES = [
    Route("identity", "GET", "/"),
    Route("identity", "GET", "/v3"),
    Route("identity", "GET", "/v3/"),
    Route("identity", "POST", "/v3/auth/tokens", ("nocatalog",), body=_AUTH),
    Route("identity", "GET", "/v3/auth/tokens", ("nocatalog",),
          headers={"X-Subject-Token": "{victim_token}"}),
    Route("identity", "HEAD", "/v3/auth/tokens", headers={"X-Subject-Token": "{victim_token}"}),
    Route("identity", "DELETE", "/v3/auth/tokens",
          headers={"X-Subject-Token": "{victim_token}"}),
    Route("identity", "GET", "/v3/auth/projects"),
    Route("identity", "GET", "/v3/auth/catalog"),
    Route("identity", "GET", "/v3/domains", ("name", "enabled")),
    Route("identity", "GET", "/v3/domains/{domain_id}"),
    Route("identity", "GET", "/v3/projects", ("name", "domain_id", "enabled")),
    Route("identity", "POST", "/v3/projects", body={"project": {
        "name": "fz-new", "domain_id": "default", "description": "d", "enabled": True}}),
    Route("identity", "GET", "/v3/projects/{project_id}"),
    Route("identity", "PATCH", "/v3/projects/{project_id}", body={"project": {
        "description": "d2", "enabled": True}}),
    Route("identity", "DELETE", "/v3/projects/{project_id}"),
    Route("identity", "GET", "/v3/users", ("name", "domain_id", "enabled")),
    Route("identity", "POST", "/v3/users", body={"user": {
        "name": "fz-new-user", "password": "pw", "domain_id": "default",
        "default_project_id": None, "enabled": True, "email": "a@b"}}),
    Route("identity", "GET", "/v3/users/{user_id}"),
    Route("identity", "PATCH", "/v3/users/{user_id}", body={"user": {
        "email": "x@y", "enabled": True}}),
    Route("identity", "POST", "/v3/users/{user_id}/password", body={"user": {
        "original_password": "fz-secret", "password": "fz-secret2"}}),
    Route("identity", "DELETE", "/v3/users/{user_id}"),
    Route("identity", "GET", "/v3/users/{user_id}/projects"),
    Route("identity", "GET", "/v3/roles", ("name",)),
    Route("identity", "POST", "/v3/roles", body={"role": {"name": "fz-role"}}),
    Route("identity", "GET", "/v3/roles/{role_id}"),
    Route("identity", "DELETE", "/v3/roles/{role_id}"),
    Route("identity", "GET", "/v3/projects/{project_id}/users/{user_id}/roles"),
    Route("identity", "PUT", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
    Route("identity", "GET", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
    Route("identity", "HEAD", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
    Route("identity", "DELETE", "/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"),
    Route("identity", "GET", "/v3/roles/{role_id}/implies"),
    Route("identity", "HEAD", "/v3/roles/{role_id}/implies"),
    Route("identity", "PUT", "/v3/roles/{role_id}/implies/{implied_role_id}"),
    Route("identity", "GET", "/v3/roles/{role_id}/implies/{implied_role_id}"),
    Route("identity", "HEAD", "/v3/roles/{role_id}/implies/{implied_role_id}"),
    Route("identity", "DELETE", "/v3/roles/{role_id}/implies/{implied_role_id}"),
    Route("identity", "GET", "/v3/role_inferences"),
    Route("identity", "HEAD", "/v3/role_inferences"),
    Route("identity", "GET", "/v3/role_assignments",
          ("user.id", "scope.project.id", "scope.system", "role.id", "effective",
           "include_names")),
    Route("identity", "GET", "/v3/system/users/{user_id}/roles"),
    Route("identity", "HEAD", "/v3/system/users/{user_id}/roles"),
    Route("identity", "PUT", "/v3/system/users/{user_id}/roles/{role_id}"),
    Route("identity", "GET", "/v3/system/users/{user_id}/roles/{role_id}"),
    Route("identity", "HEAD", "/v3/system/users/{user_id}/roles/{role_id}"),
    Route("identity", "DELETE", "/v3/system/users/{user_id}/roles/{role_id}"),
    Route("identity", "GET", "/v3/regions", ("parent_region_id",)),
    Route("identity", "HEAD", "/v3/regions"),
    Route("identity", "POST", "/v3/regions", body={"region": {
        "id": "fz-region", "description": "d", "parent_region_id": None}}),
    Route("identity", "GET", "/v3/regions/{region_id}"),
    Route("identity", "HEAD", "/v3/regions/{region_id}"),
    Route("identity", "PUT", "/v3/regions/{region_id}", body={"region": {"description": "d"}}),
    Route("identity", "PATCH", "/v3/regions/{region_id}", body={"region": {
        "description": "d2", "parent_region_id": None}}),
    Route("identity", "DELETE", "/v3/regions/{region_id}"),
    Route("identity", "GET", "/v3/services", ("type", "name")),
    Route("identity", "HEAD", "/v3/services"),
    Route("identity", "POST", "/v3/services", body={"service": {
        "type": "fz-type", "name": "fz", "description": "d", "enabled": True}}),
    Route("identity", "GET", "/v3/services/{service_id}"),
    Route("identity", "HEAD", "/v3/services/{service_id}"),
    Route("identity", "PATCH", "/v3/services/{service_id}", body={"service": {
        "name": "fz2", "enabled": False}}),
    Route("identity", "DELETE", "/v3/services/{service_id}"),
    Route("identity", "GET", "/v3/endpoints", ("service_id", "interface", "region_id")),
    Route("identity", "HEAD", "/v3/endpoints"),
    Route("identity", "POST", "/v3/endpoints", body={"endpoint": {
        "interface": "public", "service_id": "{service_id}", "url": "http://x.example/v1",
        "region_id": "{region_id}", "enabled": True}}),
    Route("identity", "GET", "/v3/endpoints/{endpoint_id}"),
    Route("identity", "HEAD", "/v3/endpoints/{endpoint_id}"),
    Route("identity", "PATCH", "/v3/endpoints/{endpoint_id}", body={"endpoint": {
        "url": "http://y.example/v1", "interface": "internal"}}),
    Route("identity", "DELETE", "/v3/endpoints/{endpoint_id}"),
]

_MD = "/v2/metadefs/namespaces/{md_namespace}"
_MD_PROPERTY = {"name": "fz-prop", "title": "P", "type": "string", "enum": ["a", "b"],
                "minimum": 1, "items": {"type": "string"}}
METADEF_ROUTES = [
    *(Route("image", "GET", f"/v2/schemas/metadefs/{name}") for name in (
        "namespace", "namespaces", "object", "objects", "property", "properties", "tag",
        "tags", "resource_type", "resource_types")),
    Route("image", "GET", "/v2/metadefs/namespaces",
          ("limit", "marker", "sort_key", "sort_dir", "visibility", "resource_types")),
    Route("image", "POST", "/v2/metadefs/namespaces", body={
        "namespace": "fz-ns-new", "visibility": "public", "protected": False,
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "p_"}],
        "properties": {"p": {"title": "P", "type": "integer", "minimum": 0}},
        "objects": [{"name": "o", "required": ["p"], "properties": {
            "p": {"title": "P", "type": "string"}}}],
        "tags": [{"name": "t"}]}),
    Route("image", "GET", _MD, ("resource_type",)),
    # Bodies are not filled in: the name stays the set-up's.
    Route("image", "PUT", _MD, body={"namespace": "fz-ns", "visibility": "public"}),
    Route("image", "GET", _MD + "/objects", ("limit", "sort_dir", "visibility")),
    Route("image", "POST", _MD + "/objects", body={
        "name": "fz-obj-new", "description": "d", "required": ["p"],
        "properties": {"p": {"title": "P", "type": "string"}}}),
    Route("image", "GET", _MD + "/objects/{md_object}"),
    Route("image", "PUT", _MD + "/objects/{md_object}", body={"name": "fz-obj"}),
    Route("image", "DELETE", _MD + "/objects/{md_object}"),
    Route("image", "GET", _MD + "/properties"),
    Route("image", "POST", _MD + "/properties", body=_MD_PROPERTY),
    Route("image", "GET", _MD + "/properties/{md_property}", ("resource_type",)),
    Route("image", "PUT", _MD + "/properties/{md_property}", body=_MD_PROPERTY),
    Route("image", "DELETE", _MD + "/properties/{md_property}"),
    Route("image", "GET", _MD + "/tags", ("limit", "marker", "sort_key", "sort_dir")),
    Route("image", "POST", _MD + "/tags", body={"tags": [{"name": "a"}, {"name": "b"}]},
          headers={"X-Openstack-Append": "true"}),
    Route("image", "GET", _MD + "/tags/{md_tag}"),
    Route("image", "POST", _MD + "/tags/{md_tag}"),
    Route("image", "PUT", _MD + "/tags/{md_tag}", body={"name": "fz-tag-2"}),
    Route("image", "DELETE", _MD + "/tags/{md_tag}"),
    Route("image", "GET", "/v2/metadefs/resource_types"),
    Route("image", "GET", _MD + "/resource_types"),
    Route("image", "POST", _MD + "/resource_types", body={
        "name": "OS::Cinder::Volume", "prefix": "v_", "properties_target": "image"}),
    Route("image", "DELETE", _MD + "/resource_types/{md_resource_type}"),
    # Last: what the routes above work on goes.
    Route("image", "DELETE", _MD + "/objects"),
    Route("image", "DELETE", _MD + "/properties"),
    Route("image", "DELETE", _MD + "/tags"),
    Route("image", "DELETE", _MD),
]

ROUTES = VOLUME_ROUTES + VOLUME_ROOTS + IMAGE_ROUTES + METADEF_ROUTES + IDENTITY_ROUTES
