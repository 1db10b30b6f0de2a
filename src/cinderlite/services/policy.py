"""Policy checks with Cinder's rule names and defaults, through oslo.policy.

An operator's policy file (YAML or JSON, oslo.policy's rule language, the same
file a Cinder deployment uses) overrides any default below.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

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
GET_ALL_TENANTS = "volume_extension:volume_admin_actions:get_all_tenants"
RESET_STATUS = "volume_extension:volume_admin_actions:reset_status"
ATTACH = "volume_extension:volume_actions:attach"
DETACH = "volume_extension:volume_actions:detach"
UPLOAD_IMAGE = "volume_extension:volume_actions:upload_image"
UPLOAD_PUBLIC = "volume_extension:volume_actions:upload_public"
TYPE_GET_ALL = "volume_extension:types_extra_specs:index"
MESSAGE_GET = "message:get"
MESSAGE_GET_ALL = "message:get_all"
MESSAGE_DELETE = "message:delete"

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
    GET_ALL_TENANTS: "rule:admin_api",
    RESET_STATUS: "rule:admin_api",
    ATTACH: "rule:xena_system_admin_or_project_member",
    DETACH: "rule:xena_system_admin_or_project_member",
    UPLOAD_IMAGE: "rule:xena_system_admin_or_project_member",
    UPLOAD_PUBLIC: "rule:admin_api",
    TYPE_GET_ALL: "rule:xena_system_admin_or_project_reader",
    MESSAGE_GET: "rule:xena_system_admin_or_project_reader",
    MESSAGE_GET_ALL: "rule:xena_system_admin_or_project_reader",
    MESSAGE_DELETE: "rule:xena_system_admin_or_project_member",
}


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
            path = Path(tempfile.gettempdir()) / "cinderlite-no-policy-file.yaml"
            path.unlink(missing_ok=True)
        self._enforcer = oslo_policy.Enforcer(conf, policy_file=str(path))
        self._enforcer.register_defaults(
            [oslo_policy.RuleDefault(name, check) for name, check in DEFAULT_RULES.items()]
        )
        self._enforcer.load_rules()

    def allows(
        self, caller: Caller, action: str, target: Mapping[str, object] | None = None
    ) -> bool:
        target = dict(target or {"project_id": caller.project_id})
        return bool(
            self._enforcer.enforce(action, target, caller.policy_credentials(), do_raise=False)
        )

    def authorize(
        self, caller: Caller, action: str, target: Mapping[str, object] | None = None
    ) -> None:
        """Raise PolicyNotAuthorized ("Policy doesn't allow <action> ...") when denied."""
        if not self.allows(caller, action, target):
            raise PolicyNotAuthorized(action)
