"""Keystone's default rules for the identity API, as checks that raise.

Routes check the caller before calling a service; a service checks itself when
the rule depends on what it reads (revoking a token: admin or the token's user).
"""

from __future__ import annotations

from cinderlite.domain.errors import Forbidden
from cinderlite.domain.identity import READER_ROLE, Caller


class IdentityForbidden(Forbidden):
    def __init__(self, action: str) -> None:
        super().__init__(f"You are not authorized to perform the requested action: {action}.")
        self.action = action


def check_admin(caller: Caller, op: str) -> None:
    """Keystone's `admin_required` rule for identity:<op>; raises IdentityForbidden."""
    if not caller.is_admin:
        raise IdentityForbidden(f"identity:{op}")


def check_admin_or_system_reader(caller: Caller, op: str) -> None:
    """Keystone's `admin_required or (role:reader and system_scope:all)`."""
    if not (caller.is_admin or (caller.system_scope and READER_ROLE in caller.roles)):
        raise IdentityForbidden(f"identity:{op}")


def check_admin_or_self(caller: Caller, op: str, user_id: str) -> None:
    if not caller.is_admin and caller.user_id != user_id:
        raise IdentityForbidden(f"identity:{op}")
