"""Pure rules of services/identity_policy.py and identity_admin.py: admin checks and
Keystone's messages."""

from __future__ import annotations

import pytest

from cinderlite.domain.errors import Conflict, Forbidden, NotFound
from cinderlite.domain.identity import Caller
from cinderlite.services.identity_admin import DuplicateEntry, IdentityNotFound
from cinderlite.services.identity_policy import check_admin, check_admin_or_self

ADMIN = Caller(user_id="u-admin", user_name="admin", project_id="p1", project_name="admin",
               roles=frozenset({"admin", "member", "reader"}))
MEMBER = Caller(user_id="u-demo", user_name="demo", project_id="p2", project_name="demo",
                roles=frozenset({"member", "reader"}))


def test_check_admin_allows_admin_role() -> None:
    check_admin(ADMIN, "list_projects")


def test_check_admin_refuses_others_with_keystone_message() -> None:
    with pytest.raises(Forbidden) as info:
        check_admin(MEMBER, "list_projects")
    assert info.value.message == (
        "You are not authorized to perform the requested action: identity:list_projects."
    )


def test_check_admin_or_self_allows_the_user_itself() -> None:
    check_admin_or_self(MEMBER, "get_user", "u-demo")
    check_admin_or_self(ADMIN, "get_user", "u-demo")


def test_check_admin_or_self_refuses_another_user() -> None:
    with pytest.raises(Forbidden, match="identity:validate_token"):
        check_admin_or_self(MEMBER, "validate_token", "u-admin")


def test_unscoped_admin_is_not_admin() -> None:
    unscoped = Caller(user_id="u-admin", user_name="admin", project_id="", project_name="",
                      roles=frozenset())
    with pytest.raises(Forbidden):
        check_admin(unscoped, "list_users")


def test_not_found_message() -> None:
    err = IdentityNotFound("project", "abc")
    assert isinstance(err, NotFound)
    assert err.message == "Could not find project: abc."


def test_duplicate_messages() -> None:
    err = DuplicateEntry("project", "demo", "default")
    assert isinstance(err, Conflict)
    assert err.message == (
        "Conflict occurred attempting to store project - Duplicate entry found with name demo "
        "at domain ID default."
    )
    assert DuplicateEntry("role", "reader", None).message == (
        "Conflict occurred attempting to store role - Duplicate entry found with name reader."
    )
