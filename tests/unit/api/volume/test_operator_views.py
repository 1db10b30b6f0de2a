"""The os-services view per microversion, pool filter comparisons and the 3.60
time filter parser."""

from __future__ import annotations

from datetime import datetime

import pytest

from cinderlite.api.volume.context import ApiVersion, VolumeContext
from cinderlite.api.volume.listing import parse_time_filter
from cinderlite.api.volume.operator import service_view
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.identity import Caller
from cinderlite.services.hosts import ServiceState, equal_after_convert

CALLER = Caller(user_id="u", user_name="u", project_id="p", project_name="p",
                roles=frozenset({"admin"}))
T0 = datetime(2026, 12, 4, 12, 0, 0)


def _ctx(version: tuple[int, int]) -> VolumeContext:
    return VolumeContext(CALLER, "v3", ApiVersion(*version), "req-1")


def _state(binary: str) -> ServiceState:
    return ServiceState(binary=binary, host="h@file" if binary == "cinder-volume" else "h",
                        zone="nova", disabled=False, disabled_reason=None, frozen=False,
                        up=True, updated_at=T0)


def test_service_view_per_version() -> None:
    volume = _state("cinder-volume")
    assert service_view(volume, _ctx((3, 0)), True) == {
        "binary": "cinder-volume", "host": "h@file", "zone": "nova", "status": "enabled",
        "state": "up", "updated_at": "2026-12-04T12:00:00.000000", "disabled_reason": None,
        "replication_status": "disabled", "active_backend_id": None, "frozen": False,
    }
    assert service_view(volume, _ctx((3, 7)), True)["cluster"] is None
    assert "backend_state" not in service_view(volume, _ctx((3, 48)), True)
    assert service_view(volume, _ctx((3, 49)), True)["backend_state"] == "up"
    assert service_view(volume, _ctx((3, 49)), False)["backend_state"] is None
    backup = service_view(_state("cinder-backup"), _ctx((3, 49)), True)
    assert "backend_state" not in backup
    assert "frozen" not in backup


@pytest.mark.parametrize(("capability", "value", "expected"), [
    ("local", "local", True), ("local", "iSCSI", False), (True, "true", True),
    (True, "False", False), (20.0, "20.0", True), (3, "3", True), (None, "x", False),
])
def test_equal_after_convert(capability: object, value: str, expected: bool) -> None:
    assert equal_after_convert(capability, value) is expected


def test_parse_time_filter() -> None:
    assert parse_time_filter("gt:2026-12-04T12:00:00Z,lte:2026-12-05T01:02:03+01:00") == {
        "gt": T0, "lte": datetime(2026, 12, 5, 0, 2, 3)}
    for text, message in (("after:2026-01-01", "Invalid after operator"),
                          ("gt:soon", "Invalid soon value"),
                          ("gt", "Invalid gt value")):
        with pytest.raises(InvalidRequest) as err:
            parse_time_filter(text)
        assert err.value.message == message
