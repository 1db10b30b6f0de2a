"""Cinder-style schema validation messages and the request parsers of the volume API."""

from __future__ import annotations

import pytest

from cinderlite.api.volume import actions, schemas
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.routes import MethodNotAllowed, match_route, parse_list_query, split_path
from cinderlite.domain.errors import InvalidRequest, MalformedRequest, NotFound


def _message(schema: dict, body: object) -> str:  # type: ignore[type-arg]
    with pytest.raises(InvalidRequest) as info:
        schemas.validate(schema, body)
    return info.value.message


def test_create_accepts_nulls_everywhere() -> None:
    schemas.validate(schemas.CREATE, {"volume": {
        "availability_zone": None, "metadata": None, "backup_id": None, "description": None,
        "source_volid": None, "consistencygroup_id": None, "size": 1, "volume_type": None,
        "name": "v1", "snapshot_id": None, "imageRef": None}})


def test_messages_name_the_field_and_value() -> None:
    assert _message(schemas.CREATE, {"volume": {"size": 0}}) == (
        "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"
    )
    assert _message(schemas.CREATE, {"volume": {"size": 1, "x": 1}}) == (
        "Invalid input for field/attribute volume. Value: {'size': 1, 'x': 1}. "
        "Additional properties are not allowed ('x' was unexpected)"
    )
    assert _message(schemas.CREATE, None) == "None is not of type 'object'"
    assert _message(schemas.CREATE, {}) == "'volume' is a required property"


@pytest.mark.parametrize("value", ["True", "yes", "0", "f", True, False])
def test_boolean_strings(value: object) -> None:
    schemas.validate(schemas.SET_BOOTABLE, {"os-set_bootable": {"bootable": value}})


@pytest.mark.parametrize("value", ["maybe", 1, None])
def test_boolean_rejects(value: object) -> None:
    _message(schemas.SET_BOOTABLE, {"os-set_bootable": {"bootable": value}})


def test_to_bool() -> None:
    assert schemas.to_bool("Yes")
    assert schemas.to_bool(True)
    assert not schemas.to_bool("off")


def test_find_action() -> None:
    name, _ = actions.find_action({"os-detach": {}})
    assert name == "os-detach"
    with pytest.raises(MalformedRequest, match="There is no such action: None"):
        actions.find_action(NO_BODY)
    with pytest.raises(MalformedRequest, match=r"There is no such action: os-x\. Verify"):
        actions.find_action({"os-x": {}})
    with pytest.raises(MalformedRequest, match="Malformed request body"):
        actions.find_action({})
    with pytest.raises(MalformedRequest, match="Malformed request body"):
        actions.find_action(5)
    with pytest.raises(NotFound):
        actions.find_action(["os-detach"])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v3/volumes", ("v3", None, "/volumes")),
        ("/v3/abc-123/volumes/x", ("v3", "abc-123", "/volumes/x")),
        ("/v3/ABC/volumes", None),
        ("/v3/abc", None),
        ("/v2/tenant/volumes", ("v2", "tenant", "/volumes")),
        ("/v2//volumes", None),
        ("/v1/x/volumes", None),
    ],
)
def test_split_path(path: str, expected: tuple | None) -> None:  # type: ignore[type-arg]
    assert split_path(path) == expected


def test_match_route_detail_before_id_and_405() -> None:
    handler, args = match_route("v3", "GET", "/volumes/detail")
    assert handler.__name__ == "list_detail"
    assert args == ()
    handler, args = match_route("v3", "GET", "/volumes/abc")
    assert handler.__name__ == "show_volume"
    assert args == ("abc",)
    with pytest.raises(MethodNotAllowed):
        match_route("v3", "PATCH", "/volumes/abc")
    with pytest.raises(NotFound):
        match_route("v2", "GET", "/messages")


def test_list_query_defaults_and_parsing() -> None:
    q = parse_list_query({})
    assert q.sort == [("created_at", "desc")]
    assert q.limit == 1000
    assert not q.all_tenants
    q = parse_list_query({"sort": "name:asc,size", "limit": "5", "all_tenants": "1",
                          "metadata": "{'a': 'b'}", "name": "n", "bootable": "true"})
    assert q.sort == [("name", "asc"), ("size", "desc")]
    assert q.limit == 5
    assert q.all_tenants
    assert q.metadata == {"a": "b"}
    assert q.filters == {"name": "n", "bootable": True}


@pytest.mark.parametrize(
    "params",
    [{"limit": "x"}, {"limit": "-1"}, {"sort": "name:up"}, {"sort": "nope"},
     {"sort": "name", "sort_key": "size"}, {"metadata": "[1]"}],
)
def test_list_query_rejects(params: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        parse_list_query(params)
