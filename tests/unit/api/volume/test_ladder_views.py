"""The per-microversion keys of volume views from 3.48 on, the 3.45/3.65 query
parameters and 3.53's update schema (the ladder above 3.44)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from cinderlite.api.volume import listing, schemas, views
from cinderlite.api.volume.context import ApiVersion, VolumeContext
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.identity import Caller
from cinderlite.services.volumes import VolumeDetail

MEMBER = Caller(user_id="u", user_name="u", project_id="p", project_name="p",
                roles=frozenset({"member"}))
ADMIN = Caller(user_id="a", user_name="a", project_id="p", project_name="p",
               roles=frozenset({"admin", "member"}))


def _ctx(minor: int, caller: Caller = MEMBER, api: str = "v3") -> VolumeContext:
    return VolumeContext(caller, api, ApiVersion(3 if api == "v3" else 2, minor), "r")  # type: ignore[arg-type]


def _detail() -> VolumeDetail:
    row: Any = SimpleNamespace(
        id="v1", status="available", size=1, availability_zone="nova",
        created_at=datetime(2026, 1, 1), updated_at=None, name="n", description=None,
        snapshot_id=None, source_volid=None, meta={}, admin_meta={}, project_id="p",
        user_id="u", bootable=False, image_meta={}, volume_type_id="t1", group_id=None,
        multiattach=False,
    )
    return VolumeDetail(row, "__DEFAULT__", [])


def _added(minor: int, caller: Caller = MEMBER) -> set[str]:
    base = set(views.volume(_detail(), _ctx(44, caller), "http://h"))
    return set(views.volume(_detail(), _ctx(minor, caller), "http://h")) - base


@pytest.mark.parametrize(("minor", "member", "admin"), [
    (44, set(), set()),
    (47, set(), set()),
    (48, {"shared_targets", "service_uuid"}, {"shared_targets", "service_uuid"}),
    (61, {"shared_targets", "service_uuid"},
     {"shared_targets", "service_uuid", "cluster_name"}),
    (63, {"shared_targets", "service_uuid", "volume_type_id"},
     {"shared_targets", "service_uuid", "cluster_name", "volume_type_id"}),
    (64, {"shared_targets", "service_uuid", "volume_type_id"},
     {"shared_targets", "service_uuid", "cluster_name", "volume_type_id"}),
    (65, {"shared_targets", "service_uuid", "volume_type_id", "consumes_quota"},
     {"shared_targets", "service_uuid", "cluster_name", "volume_type_id", "consumes_quota"}),
    (71, {"shared_targets", "service_uuid", "volume_type_id", "consumes_quota"},
     {"shared_targets", "service_uuid", "cluster_name", "volume_type_id", "consumes_quota"}),
])
def test_keys_per_version(minor: int, member: set[str], admin: set[str]) -> None:
    assert _added(minor) == member
    assert _added(minor, ADMIN) == admin


def test_values() -> None:
    body = views.volume(_detail(), _ctx(71, ADMIN), "http://h")
    assert body["shared_targets"] is False  # never null, so 3.69 changes nothing here
    assert body["service_uuid"] == views.SERVICE_UUID
    assert body["cluster_name"] is None
    assert body["volume_type_id"] == "t1"
    assert body["consumes_quota"] is True
    assert "encryption_key_id" not in body  # only for encrypted volumes
    v2 = views.volume(_detail(), _ctx(0, ADMIN, "v2"), "http://h")
    assert "shared_targets" not in v2


def test_take_with_count() -> None:
    params = {"with_count": "true", "name": "x"}
    assert listing.take_with_count(params, since_3_45=False) == (params, False)
    rest, show = listing.take_with_count(params, since_3_45=True)
    assert (dict(rest), show) == ({"name": "x"}, True)
    assert listing.take_with_count({"with_count": "0"}, since_3_45=True)[1] is False
    with pytest.raises(InvalidRequest) as bad:
        listing.take_with_count({"with_count": "2"}, since_3_45=True)
    assert bad.value.message == "Value '2' for 'with_count' is not a boolean."


def test_consumes_quota() -> None:
    assert listing.consumes_quota({"consumes_quota": "false"}, since_3_65=False) is None
    assert listing.consumes_quota({}, since_3_65=True) is None
    assert listing.consumes_quota({"consumes_quota": "yes"}, since_3_65=True) is True
    assert listing.consumes_quota({"consumes_quota": "off"}, since_3_65=True) is False
    with pytest.raises(InvalidRequest) as bad:
        listing.consumes_quota({"consumes_quota": "maybe"}, since_3_65=True)
    assert bad.value.message == "Value 'maybe' for 'use_quota' is not a boolean."


def test_update_schema_from_3_53() -> None:
    assert schemas.validate(schemas.UPDATE, {"volume": {}}) == {"volume": {}}
    with pytest.raises(InvalidRequest) as bad:
        schemas.validate(schemas.UPDATE_V353, {"volume": {}})
    assert bad.value.message == (
        "Invalid input for field/attribute volume. Value: {}. {} is not valid under any of "
        "the given schemas"
    )
    for key in ("name", "description", "display_name", "display_description", "metadata"):
        value: object = {} if key == "metadata" else "x"
        schemas.validate(schemas.UPDATE_V353, {"volume": {key: value}})


def test_reimage_and_extend_completion_schemas() -> None:
    uid = "5b1e0f3c-0000-4000-8000-000000000001"
    assert schemas.validate(schemas.REIMAGE, {"os-reimage": {"image_id": uid}})
    schemas.validate(schemas.REIMAGE, {"os-reimage": {"image_id": uid,
                                                      "reimage_reserved": "yes"}})
    for body, fragment in (
        ({"os-reimage": {}}, "'image_id' is a required property"),
        ({"os-reimage": {"image_id": "x"}}, "'x' is not a 'uuid'"),
        ({"os-reimage": {"image_id": uid, "reimage_reserved": "sure"}}, "is not one of"),
        ({"os-reimage": {"image_id": uid, "other": 1}}, "Additional properties"),
    ):
        with pytest.raises(InvalidRequest) as bad:
            schemas.validate(schemas.REIMAGE, body)
        assert fragment in bad.value.message
    for ok in ({}, {"error": True}, {"error": None}, {"error": "false"}):
        schemas.validate(schemas.EXTEND_VOLUME_COMPLETION, {"os-extend_volume_completion": ok})
    with pytest.raises(InvalidRequest):
        schemas.validate(schemas.EXTEND_VOLUME_COMPLETION,
                         {"os-extend_volume_completion": {"error": 1}})
