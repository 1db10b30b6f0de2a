"""Who may read, add, remove and change image memberships (Glance's secure-RBAC
defaults), and how member request bodies are read."""

from __future__ import annotations

from datetime import datetime

import pytest

from cinderlite.api.image.members import parse_member, parse_status
from cinderlite.db.images import ImageRow
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.identity import Caller
from cinderlite.services import image_members as rules

NOW = datetime(2026, 1, 1)


def image(owner: str = "p-owner", visibility: str = "shared") -> ImageRow:
    return ImageRow(
        id="i", name=None, owner=owner, status="active", visibility=visibility,
        protected=False, os_hidden=False, disk_format="raw", container_format="bare",
        size=1, virtual_size=1, checksum=None, os_hash_algo=None, os_hash_value=None,
        min_disk=0, min_ram=0, properties={}, tags=[], created_at=NOW, updated_at=NOW,
    )


def caller(project: str, *roles: str) -> Caller:
    return Caller(user_id="u", user_name="u", project_id=project, project_name=project,
                  roles=frozenset(roles))


OWNER_MEMBER = caller("p-owner", "member", "reader")
OWNER_READER = caller("p-owner", "reader")
MEMBER = caller("p-alt", "member", "reader")
MEMBER_READER = caller("p-alt", "reader")
ADMIN = caller("p-admin", "admin", "member", "reader")


@pytest.mark.parametrize(("who", "manage", "read", "change"), [
    (OWNER_MEMBER, True, True, False),
    (OWNER_READER, False, True, False),
    (MEMBER, False, True, True),
    (MEMBER_READER, False, True, False),
    (ADMIN, True, True, True),
])
def test_member_policies(who: Caller, manage: bool, read: bool, change: bool) -> None:
    img = image()
    assert rules._can_manage(who, img) is manage
    assert rules._can_read(who, img) is read
    assert rules._can_change_status(who, img) is change


def test_a_non_shared_image_of_another_project_gives_no_member_rights() -> None:
    img = image(visibility="public")
    assert not rules._can_read(MEMBER, img)
    assert not rules._can_change_status(MEMBER, img)
    assert rules._can_read(OWNER_READER, img)


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Member to be added not specified"),
    ({"member": ""}, "Member can't be empty"),
    ({"member": None}, "Member can't be empty"),
    ("p", 'Expected a member in the form: {"member": "image_id"}'),
    (None, 'Expected a member in the form: {"member": "image_id"}'),
    ({"member": ["p"]}, 'Expected a member in the form: {"member": "image_id"}'),
    ({"member": "p" * 65}, "Member can't be longer than 64 characters"),
])
def test_bad_member_bodies(body: object, message: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_member(body)
    assert exc.value.message == message


def test_member_and_status_bodies() -> None:
    assert parse_member({"member": "p-alt", "extra": 1}) == "p-alt"
    assert parse_status({"status": "accepted"}) == "accepted"
    with pytest.raises(InvalidRequest, match="Status not specified"):
        parse_status({"state": "accepted"})
    with pytest.raises(InvalidRequest, match="Expected a status in the form"):
        parse_status(["accepted"])
