"""Policy checks with Cinder's rule names and defaults, through oslo.policy.

An operator's policy file (YAML or JSON, oslo.policy's rule language, the same
file a Cinder deployment uses) overrides any default below.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from cinderlite.domain.errors import PolicyNotAuthorized
from cinderlite.domain.identity import Caller

# cinder/policies/base.py
ADMIN_OR_OWNER = (
    "is_admin:True or (role:admin and is_admin_project:True) or project_id:%(project_id)s"
)
ADMIN_API = "is_admin:True or (role:admin and is_admin_project:True)"
PROJECT_READER = "(role:admin) or (role:reader and project_id:%(project_id)s)"
PROJECT_MEMBER = "(role:admin) or (role:member and project_id:%(project_id)s)"

VOLUME_GET = "volume:get"
VOLUME_GET_ALL = "volume:get_all"
VOLUME_CREATE = "volume:create"
VOLUME_UPDATE = "volume:update"
VOLUME_DELETE = "volume:delete"
VOLUME_FORCE_DELETE = "volume:force_delete"
VOLUME_GET_METADATA = "volume:get_volume_metadata"
VOLUME_UPDATE_METADATA = "volume:update_volume_metadata"
VOLUME_DELETE_METADATA = "volume:delete_volume_metadata"
IMAGE_METADATA_SHOW = "volume_extension:volume_image_metadata:show"
IMAGE_METADATA_SET = "volume_extension:volume_image_metadata:set"
IMAGE_METADATA_REMOVE = "volume_extension:volume_image_metadata:remove"
GET_ALL_TENANTS = "volume_extension:volume_admin_actions:get_all_tenants"
RESET_STATUS = "volume_extension:volume_admin_actions:reset_status"
ATTACH = "volume_extension:volume_actions:attach"
DETACH = "volume_extension:volume_actions:detach"
UPLOAD_IMAGE = "volume_extension:volume_actions:upload_image"
UPLOAD_PUBLIC = "volume_extension:volume_actions:upload_public"
# Volume types (cinder/policies/volume_type.py, type_extra_specs.py,
# volume_access.py, default_types.py). TYPE_GET_ALL is the extra specs index.
TYPE_GET_ALL = "volume_extension:types_extra_specs:index"
TYPE_CREATE = "volume_extension:type_create"
TYPE_UPDATE = "volume_extension:type_update"
TYPE_DELETE = "volume_extension:type_delete"
TYPE_GET = "volume_extension:type_get"
TYPES_GET_ALL = "volume_extension:type_get_all"
TYPE_QOS_ID = "volume_extension:access_types_qos_specs_id"
TYPE_SHOW_SPECS = "volume_extension:access_types_extra_specs"
SPEC_CREATE = "volume_extension:types_extra_specs:create"
SPEC_DELETE = "volume_extension:types_extra_specs:delete"
SPEC_GET = "volume_extension:types_extra_specs:show"
SPEC_UPDATE = "volume_extension:types_extra_specs:update"
SPEC_READ_SENSITIVE = "volume_extension:types_extra_specs:read_sensitive"
ENCRYPTION_CREATE = "volume_extension:volume_type_encryption:create"
ENCRYPTION_GET = "volume_extension:volume_type_encryption:get"
ENCRYPTION_UPDATE = "volume_extension:volume_type_encryption:update"
ENCRYPTION_DELETE = "volume_extension:volume_type_encryption:delete"
TYPE_ACCESS = "volume_extension:volume_type_access"
TYPE_ACCESS_ADD = "volume_extension:volume_type_access:addProjectAccess"
TYPE_ACCESS_REMOVE = "volume_extension:volume_type_access:removeProjectAccess"
TYPE_ACCESS_LIST = "volume_extension:volume_type_access:get_all_for_type"
DEFAULT_SET = "volume_extension:default_set_or_update"
DEFAULT_GET = "volume_extension:default_get"
DEFAULT_GET_ALL = "volume_extension:default_get_all"
DEFAULT_UNSET = "volume_extension:default_unset"
RETYPE = "volume:retype"
# QoS specs (cinder/policies/qos_specs.py): QOS_DELETE covers delete_keys too,
# QOS_UPDATE the associations, QOS_GET_ALL the associations' list.
QOS_CREATE = "volume_extension:qos_specs_manage:create"
QOS_GET = "volume_extension:qos_specs_manage:get"
QOS_GET_ALL = "volume_extension:qos_specs_manage:get_all"
QOS_UPDATE = "volume_extension:qos_specs_manage:update"
QOS_DELETE = "volume_extension:qos_specs_manage:delete"
SNAPSHOT_GET = "volume:get_snapshot"
SNAPSHOT_GET_ALL = "volume:get_all_snapshots"
SNAPSHOT_CREATE = "volume:create_snapshot"
SNAPSHOT_UPDATE = "volume:update_snapshot"
SNAPSHOT_DELETE = "volume:delete_snapshot"
SNAPSHOT_EXTENDED = "volume_extension:extended_snapshot_attributes"
SNAPSHOT_GET_METADATA = "volume:get_snapshot_metadata"
SNAPSHOT_UPDATE_METADATA = "volume:update_snapshot_metadata"
SNAPSHOT_DELETE_METADATA = "volume:delete_snapshot_metadata"
SNAPSHOT_RESET_STATUS = "volume_extension:snapshot_admin_actions:reset_status"
SNAPSHOT_FORCE_DELETE = "volume_extension:snapshot_admin_actions:force_delete"
SNAPSHOT_UPDATE_STATUS = "snapshot_extension:snapshot_actions:update_snapshot_status"
EXTEND = "volume:extend"
EXTEND_ATTACHED = "volume:extend_attached_volume"
REVERT = "volume:revert_to_snapshot"
REIMAGE = "volume:reimage"
REIMAGE_RESERVED = "volume:reimage_reserved"
EXTEND_COMPLETE = "volume_extension:volume_admin_actions:extend_volume_completion"
UPDATE_READONLY = "volume:update_readonly_flag"
ADMIN_FORCE_DELETE = "volume_extension:volume_admin_actions:force_delete"
FORCE_DETACH = "volume_extension:volume_admin_actions:force_detach"
RESERVE = "volume_extension:volume_actions:reserve"
UNRESERVE = "volume_extension:volume_actions:unreserve"
BEGIN_DETACHING = "volume_extension:volume_actions:begin_detaching"
ROLL_DETACHING = "volume_extension:volume_actions:roll_detaching"
INITIALIZE_CONNECTION = "volume_extension:volume_actions:initialize_connection"
TERMINATE_CONNECTION = "volume_extension:volume_actions:terminate_connection"
ATTACHMENT_CREATE = "volume:attachment_create"
ATTACHMENT_UPDATE = "volume:attachment_update"
ATTACHMENT_DELETE = "volume:attachment_delete"
ATTACHMENT_COMPLETE = "volume:attachment_complete"
MULTIATTACH_BOOTABLE = "volume:multiattach_bootable_volume"
BACKUP_GET = "backup:get"
BACKUP_GET_ALL = "backup:get_all"
BACKUP_CREATE = "backup:create"
BACKUP_UPDATE = "backup:update"
BACKUP_DELETE = "backup:delete"
BACKUP_RESTORE = "backup:restore"
BACKUP_IMPORT = "backup:backup-import"
BACKUP_EXPORT = "backup:export-import"
BACKUP_ATTRIBUTES = "backup:backup_project_attribute"
GROUP_ATTRIBUTES = "group:group_project_attribute"
GROUP_SNAPSHOT_ATTRIBUTES = "group:group_snapshot_project_attribute"
BACKUP_RESET_STATUS = "volume_extension:backup_admin_actions:reset_status"
BACKUP_FORCE_DELETE = "volume_extension:backup_admin_actions:force_delete"
TRANSFER_CREATE = "volume:create_transfer"
TRANSFER_ACCEPT = "volume:accept_transfer"
TRANSFER_DELETE = "volume:delete_transfer"
TRANSFER_GET = "volume:get_transfer"
TRANSFER_GET_ALL = "volume:get_all_transfers"
MESSAGE_GET = "message:get"
# cinder/policies/quotas.py and quota_class.py.
QUOTAS_SHOW = "volume_extension:quotas:show"
QUOTAS_UPDATE = "volume_extension:quotas:update"
QUOTAS_DELETE = "volume_extension:quotas:delete"
QUOTA_CLASSES_GET = "volume_extension:quota_classes:get"
QUOTA_CLASSES_UPDATE = "volume_extension:quota_classes:update"
MESSAGE_GET_ALL = "message:get_all"
MESSAGE_DELETE = "message:delete"
# Generic volume groups (cinder/policies/group_types.py, groups.py, group_actions.py,
# group_snapshots.py, group_snapshot_actions.py).
GROUP_TYPE_CREATE = "group:group_types:create"
GROUP_TYPE_UPDATE = "group:group_types:update"
GROUP_TYPE_DELETE = "group:group_types:delete"
GROUP_TYPE_SHOW_SPECS = "group:access_group_types_specs"
GROUP_SPEC_GET = "group:group_types_specs:get"
GROUP_SPEC_GET_ALL = "group:group_types_specs:get_all"
GROUP_SPEC_CREATE = "group:group_types_specs:create"
GROUP_SPEC_UPDATE = "group:group_types_specs:update"
GROUP_SPEC_DELETE = "group:group_types_specs:delete"
GROUP_CREATE = "group:create"
GROUP_UPDATE = "group:update"
GROUP_GET = "group:get"
GROUP_GET_ALL = "group:get_all"
GROUP_DELETE = "group:delete"
GROUP_RESET_STATUS = "group:reset_status"
GROUP_ENABLE_REP = "group:enable_replication"
GROUP_DISABLE_REP = "group:disable_replication"
GROUP_FAILOVER_REP = "group:failover_replication"
GROUP_LIST_REP = "group:list_replication_targets"
GROUP_SNAPSHOT_CREATE = "group:create_group_snapshot"
GROUP_SNAPSHOT_DELETE = "group:delete_group_snapshot"
GROUP_SNAPSHOT_GET = "group:get_group_snapshot"
GROUP_SNAPSHOT_GET_ALL = "group:get_all_group_snapshots"
GROUP_SNAPSHOT_RESET_STATUS = "group:reset_group_snapshot_status"
SERVICES_INDEX = "volume_extension:services:index"
SERVICES_UPDATE = "volume_extension:services:update"
FREEZE_HOST = "volume:freeze_host"
THAW_HOST = "volume:thaw_host"
GET_POOLS = "scheduler_extension:scheduler_stats:get_pools"
CAPABILITIES = "volume_extension:capabilities"
HOSTS = "volume_extension:hosts"

DEFAULT_RULES: Mapping[str, str] = {
    "admin_or_owner": ADMIN_OR_OWNER,
    "admin_api": ADMIN_API,
    "xena_system_admin_or_project_reader": PROJECT_READER,
    "xena_system_admin_or_project_member": PROJECT_MEMBER,
    VOLUME_GET: "rule:xena_system_admin_or_project_reader",
    VOLUME_GET_ALL: "rule:xena_system_admin_or_project_reader",
    VOLUME_CREATE: "rule:xena_system_admin_or_project_member",
    VOLUME_UPDATE: "rule:xena_system_admin_or_project_member",
    VOLUME_DELETE: "rule:xena_system_admin_or_project_member",
    VOLUME_FORCE_DELETE: "rule:admin_api",
    VOLUME_GET_METADATA: "rule:xena_system_admin_or_project_reader",
    VOLUME_UPDATE_METADATA: "rule:xena_system_admin_or_project_member",
    VOLUME_DELETE_METADATA: "rule:xena_system_admin_or_project_member",
    IMAGE_METADATA_SHOW: "rule:xena_system_admin_or_project_reader",
    IMAGE_METADATA_SET: "rule:xena_system_admin_or_project_member",
    IMAGE_METADATA_REMOVE: "rule:xena_system_admin_or_project_member",
    GET_ALL_TENANTS: "rule:admin_api",
    RESET_STATUS: "rule:admin_api",
    ATTACH: "rule:xena_system_admin_or_project_member",
    DETACH: "rule:xena_system_admin_or_project_member",
    UPLOAD_IMAGE: "rule:xena_system_admin_or_project_member",
    UPLOAD_PUBLIC: "rule:admin_api",
    TYPE_GET_ALL: "rule:xena_system_admin_or_project_reader",
    TYPE_CREATE: "rule:admin_api",
    TYPE_UPDATE: "rule:admin_api",
    TYPE_DELETE: "rule:admin_api",
    TYPE_GET: "rule:xena_system_admin_or_project_reader",
    TYPES_GET_ALL: "rule:xena_system_admin_or_project_reader",
    TYPE_QOS_ID: "rule:admin_api",
    TYPE_SHOW_SPECS: "rule:xena_system_admin_or_project_reader",
    SPEC_CREATE: "rule:admin_api",
    SPEC_DELETE: "rule:admin_api",
    SPEC_GET: "rule:xena_system_admin_or_project_reader",
    SPEC_UPDATE: "rule:admin_api",
    SPEC_READ_SENSITIVE: "rule:admin_api",
    ENCRYPTION_CREATE: "rule:admin_api",
    ENCRYPTION_GET: "rule:admin_api",
    ENCRYPTION_UPDATE: "rule:admin_api",
    ENCRYPTION_DELETE: "rule:admin_api",
    TYPE_ACCESS: "rule:xena_system_admin_or_project_member",
    TYPE_ACCESS_ADD: "rule:admin_api",
    TYPE_ACCESS_REMOVE: "rule:admin_api",
    TYPE_ACCESS_LIST: "rule:admin_api",
    DEFAULT_SET: "rule:admin_api",
    DEFAULT_GET: "rule:admin_api",
    DEFAULT_GET_ALL: "rule:admin_api",
    DEFAULT_UNSET: "rule:admin_api",
    RETYPE: "rule:xena_system_admin_or_project_member",
    QOS_CREATE: "rule:admin_api",
    QOS_GET: "rule:admin_api",
    QOS_GET_ALL: "rule:admin_api",
    QOS_UPDATE: "rule:admin_api",
    QOS_DELETE: "rule:admin_api",
    SNAPSHOT_GET: "rule:xena_system_admin_or_project_reader",
    SNAPSHOT_GET_ALL: "rule:xena_system_admin_or_project_reader",
    SNAPSHOT_CREATE: "rule:xena_system_admin_or_project_member",
    SNAPSHOT_UPDATE: "rule:xena_system_admin_or_project_member",
    SNAPSHOT_DELETE: "rule:xena_system_admin_or_project_member",
    SNAPSHOT_EXTENDED: "rule:xena_system_admin_or_project_reader",
    SNAPSHOT_GET_METADATA: "rule:xena_system_admin_or_project_reader",
    SNAPSHOT_UPDATE_METADATA: "rule:xena_system_admin_or_project_member",
    SNAPSHOT_DELETE_METADATA: "rule:xena_system_admin_or_project_member",
    SNAPSHOT_RESET_STATUS: "rule:admin_api",
    SNAPSHOT_FORCE_DELETE: "rule:admin_api",
    SNAPSHOT_UPDATE_STATUS: "rule:xena_system_admin_or_project_member",
    EXTEND: "rule:xena_system_admin_or_project_member",
    EXTEND_ATTACHED: "rule:xena_system_admin_or_project_member",
    REVERT: "rule:xena_system_admin_or_project_member",
    REIMAGE: "rule:xena_system_admin_or_project_member",
    REIMAGE_RESERVED: "rule:xena_system_admin_or_project_member",
    EXTEND_COMPLETE: "rule:admin_api",
    UPDATE_READONLY: "rule:xena_system_admin_or_project_member",
    ADMIN_FORCE_DELETE: "rule:admin_api",
    FORCE_DETACH: "rule:admin_api",
    RESERVE: "rule:xena_system_admin_or_project_member",
    UNRESERVE: "rule:xena_system_admin_or_project_member",
    BEGIN_DETACHING: "rule:xena_system_admin_or_project_member",
    ROLL_DETACHING: "rule:xena_system_admin_or_project_member",
    INITIALIZE_CONNECTION: "rule:xena_system_admin_or_project_member",
    TERMINATE_CONNECTION: "rule:xena_system_admin_or_project_member",
    ATTACHMENT_CREATE: "rule:xena_system_admin_or_project_member",
    ATTACHMENT_UPDATE: "rule:xena_system_admin_or_project_member",
    ATTACHMENT_DELETE: "rule:xena_system_admin_or_project_member",
    ATTACHMENT_COMPLETE: "rule:xena_system_admin_or_project_member",
    MULTIATTACH_BOOTABLE: "rule:xena_system_admin_or_project_member",
    BACKUP_GET: "rule:xena_system_admin_or_project_reader",
    BACKUP_GET_ALL: "rule:xena_system_admin_or_project_reader",
    BACKUP_CREATE: "rule:xena_system_admin_or_project_member",
    BACKUP_UPDATE: "rule:xena_system_admin_or_project_member",
    BACKUP_DELETE: "rule:xena_system_admin_or_project_member",
    BACKUP_RESTORE: "rule:xena_system_admin_or_project_member",
    BACKUP_IMPORT: "rule:admin_api",
    BACKUP_EXPORT: "rule:admin_api",
    BACKUP_ATTRIBUTES: "rule:admin_api",
    GROUP_ATTRIBUTES: "rule:admin_api",
    GROUP_SNAPSHOT_ATTRIBUTES: "rule:admin_api",
    BACKUP_RESET_STATUS: "rule:admin_api",
    BACKUP_FORCE_DELETE: "rule:admin_api",
    TRANSFER_CREATE: "rule:xena_system_admin_or_project_member",
    TRANSFER_ACCEPT: "rule:xena_system_admin_or_project_member",
    TRANSFER_DELETE: "rule:xena_system_admin_or_project_member",
    TRANSFER_GET: "rule:xena_system_admin_or_project_reader",
    TRANSFER_GET_ALL: "rule:xena_system_admin_or_project_reader",
    MESSAGE_GET: "rule:xena_system_admin_or_project_reader",
    QUOTAS_SHOW: "rule:xena_system_admin_or_project_reader",
    QUOTAS_UPDATE: "rule:admin_api",
    QUOTAS_DELETE: "rule:admin_api",
    QUOTA_CLASSES_GET: "rule:admin_api",
    QUOTA_CLASSES_UPDATE: "rule:admin_api",
    MESSAGE_GET_ALL: "rule:xena_system_admin_or_project_reader",
    MESSAGE_DELETE: "rule:xena_system_admin_or_project_member",
    GROUP_TYPE_CREATE: "rule:admin_api",
    GROUP_TYPE_UPDATE: "rule:admin_api",
    GROUP_TYPE_DELETE: "rule:admin_api",
    GROUP_TYPE_SHOW_SPECS: "rule:admin_api",
    GROUP_SPEC_GET: "rule:admin_api",
    GROUP_SPEC_GET_ALL: "rule:admin_api",
    GROUP_SPEC_CREATE: "rule:admin_api",
    GROUP_SPEC_UPDATE: "rule:admin_api",
    GROUP_SPEC_DELETE: "rule:admin_api",
    GROUP_CREATE: "rule:xena_system_admin_or_project_member",
    GROUP_UPDATE: "rule:xena_system_admin_or_project_member",
    GROUP_GET: "rule:xena_system_admin_or_project_reader",
    GROUP_GET_ALL: "rule:xena_system_admin_or_project_reader",
    GROUP_DELETE: "rule:xena_system_admin_or_project_member",
    GROUP_RESET_STATUS: "rule:admin_api",
    GROUP_ENABLE_REP: "rule:xena_system_admin_or_project_member",
    GROUP_DISABLE_REP: "rule:xena_system_admin_or_project_member",
    GROUP_FAILOVER_REP: "rule:xena_system_admin_or_project_member",
    GROUP_LIST_REP: "rule:xena_system_admin_or_project_member",
    GROUP_SNAPSHOT_CREATE: "rule:xena_system_admin_or_project_member",
    GROUP_SNAPSHOT_DELETE: "rule:xena_system_admin_or_project_member",
    GROUP_SNAPSHOT_GET: "rule:xena_system_admin_or_project_reader",
    GROUP_SNAPSHOT_GET_ALL: "rule:xena_system_admin_or_project_reader",
    GROUP_SNAPSHOT_RESET_STATUS: "rule:admin_api",
    SERVICES_INDEX: "rule:admin_api",
    SERVICES_UPDATE: "rule:admin_api",
    FREEZE_HOST: "rule:admin_api",
    THAW_HOST: "rule:admin_api",
    GET_POOLS: "rule:admin_api",
    CAPABILITIES: "rule:admin_api",
    HOSTS: "rule:admin_api",
}


class Owned(Protocol):
    @property
    def project_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...


def target(resource: Owned) -> dict[str, object]:
    """The policy target of a project's resource (volume, snapshot, backup, group,
    group snapshot): the project and the user that own it."""
    return {"project_id": resource.project_id, "user_id": resource.user_id}


MEMO_SECONDS = 1.0
MEMO_ENTRIES = 4096


class Policy:
    """Evaluates named rules for a Caller against a target dict."""

    def __init__(self, policy_file: str | Path | None = None) -> None:
        conf = cfg.ConfigOpts()
        conf([], project="cinderlite", default_config_files=[])
        if policy_file:
            path = Path(policy_file)
            if not path.is_file():
                raise FileNotFoundError(f"policy file {path} does not exist")
        else:
            # oslo.policy wants a file name; an absent file means "defaults only".
            # The name lies in a directory of our own (mode 0700), so that no
            # other local user can create it and inject rules.
            private = tempfile.mkdtemp(prefix="cinderlite-policy-")
            weakref.finalize(self, shutil.rmtree, private, ignore_errors=True)
            path = Path(private) / "no-policy-file.yaml"
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=str(path))
        self._enforcer.register_defaults(
            [oslo_policy.RuleDefault(name, check) for name, check in DEFAULT_RULES.items()]
        )
        self._enforcer.load_rules()
        self._memo: dict[tuple[object, ...], tuple[bool, float]] = {}

    def allows(
        self, caller: Caller, action: str, target: Mapping[str, object] | None = None
    ) -> bool:
        items = (
            tuple(sorted(target.items())) if target else (("project_id", caller.project_id),)
        )
        # oslo.policy costs ~0.3-0.7 ms a call (it looks for changed policy files
        # and re-inspects its checks every time), a third of the upload action's
        # CPU. A decision depends only on the rule, the target and the caller's
        # credentials (made from the caller alone), so it is remembered for a
        # second: a changed policy file still takes effect within that second.
        key = (action, caller, items)
        now = time.monotonic()
        try:
            hit = self._memo.get(key)
            hashable = True
        except TypeError:  # an unhashable target value: no memo
            hit, hashable = None, False
        if hit is not None and now - hit[1] < MEMO_SECONDS:
            return hit[0]
        allowed = bool(self._enforcer.enforce(
            action, dict(items), caller.policy_credentials(), do_raise=False
        ))
        if hashable:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[key] = (allowed, now)
        return allowed

    def authorize(
        self, caller: Caller, action: str, target: Mapping[str, object] | None = None
    ) -> None:
        """Raise PolicyNotAuthorized ("Policy doesn't allow <action> ...") when denied."""
        if not self.allows(caller, action, target):
            raise PolicyNotAuthorized(action)
