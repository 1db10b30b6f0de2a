"""The group request formats and Cinder's messages for them."""

from __future__ import annotations

import pytest

from cinderlite.api.volume import group_schemas as gs
from cinderlite.domain.errors import InvalidRequest


def test_group_status_accepts_cinder_statuses_case_blind() -> None:
    assert gs.group_status("ERROR", snapshot=False) == "error"
    assert gs.group_status("error_deleting", snapshot=True) == "error_deleting"


def test_group_status_messages() -> None:
    with pytest.raises(InvalidRequest) as exc:
        gs.group_status(" ", snapshot=False)
    assert exc.value.message == "Invalid Group Status: The 'status' can not be empty."
    with pytest.raises(InvalidRequest) as exc:
        gs.group_status("in-use", snapshot=False)
    assert exc.value.message.startswith("Invalid Group Status: Group status: in-use is invalid")
    with pytest.raises(InvalidRequest) as exc:
        gs.group_status("x", snapshot=True)
    assert exc.value.message.startswith(
        "Invalid GroupSnapshot Status: Group snapshot status: x is invalid, valid statuses are:"
    )


def test_create_from_src_takes_one_source_and_uuids() -> None:
    ok = {"create-from-src": {"source_group_id": "0e9d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b"}}
    assert gs.validate(gs.GROUP_CREATE_FROM_SRC, ok) == ok
    with pytest.raises(InvalidRequest):
        gs.validate(gs.GROUP_CREATE_FROM_SRC, {"create-from-src": {}})
    with pytest.raises(InvalidRequest):
        gs.validate(gs.GROUP_CREATE_FROM_SRC, {"create-from-src": {"source_group_id": "nope"}})


def test_group_update_needs_one_field_and_specs_update_one_key() -> None:
    with pytest.raises(InvalidRequest):
        gs.validate(gs.GROUP_UPDATE, {"group": {}})
    with pytest.raises(InvalidRequest):
        gs.validate(gs.GROUP_SPECS_UPDATE, {"a": "1", "b": "2"})
    with pytest.raises(InvalidRequest) as exc:
        gs.check_name("   ")
    assert exc.value.message == (
        "An invalid 'name' value was provided. The 'name' can not be empty."
    )
