"""Who is calling: the Caller value every service receives."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

ADMIN_ROLE = "admin"
MEMBER_ROLE = "member"
READER_ROLE = "reader"
DEFAULT_ROLES = (ADMIN_ROLE, MEMBER_ROLE, READER_ROLE)
# keystone-manage bootstrap's role inference rules: (prior, implied).
DEFAULT_IMPLIED_ROLES = ((ADMIN_ROLE, MEMBER_ROLE), (MEMBER_ROLE, READER_ROLE))
# Keystone [assignment] prohibited_implied_role default.
PROHIBITED_IMPLIED_ROLES = (ADMIN_ROLE,)
DEFAULT_DOMAIN_ID = "default"
# The one system scope Keystone has: `"system": {"all": true}`.
SYSTEM_ALL = "all"
DEFAULT_DOMAIN_NAME = "Default"


@dataclass(frozen=True)
class Caller:
    user_id: str
    user_name: str
    project_id: str
    project_name: str
    roles: frozenset[str]
    user_domain_id: str = DEFAULT_DOMAIN_ID
    user_domain_name: str = DEFAULT_DOMAIN_NAME
    project_domain_id: str = DEFAULT_DOMAIN_ID
    project_domain_name: str = DEFAULT_DOMAIN_NAME
    expires_at: datetime | None = None
    token_id: str = ""
    # SYSTEM_ALL for a system-scoped token (then project_id is ""), else "".
    system_scope: str = ""
    # Roles as listed in the token, names only; `roles` is the same set.
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # The token itself when it came from a cloud's Keystone: what calls to that
    # cloud's other services (Glance) carry on the caller's behalf (Cinder's
    # context.auth_token). Never shown.
    auth_token: str = field(default="", compare=False, hash=False, repr=False)

    def __hash__(self) -> int:
        # A caller is hashed on every policy check (services/policy.py memo key) and
        # lives as long as its token's cache entry: hash its compared fields once.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(tuple(getattr(self, f.name) for f in fields(self) if f.compare))
            object.__setattr__(self, "_hash", cached)
        return cached

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles

    def policy_credentials(self) -> dict[str, object]:
        """The credential dict oslo.policy rules are evaluated against."""
        return {
            "user_id": self.user_id,
            # None, not "": a token without a project (system-scoped or unscoped)
            # must never match `project_id:%(project_id)s` on an empty target.
            "project_id": self.project_id or None,
            "roles": sorted(self.roles),
            "is_admin": self.is_admin,
            # Single-cloud model: every admin is in the admin project (Cinder
            # `is_admin_project` defaults to True without a configured admin project).
            "is_admin_project": True,
            "system_scope": self.system_scope or None,
            "domain_id": None,
            "user_domain_id": self.user_domain_id,
            "project_domain_id": self.project_domain_id,
        }
