"""Request parsing of os-volume_upload_image per API and microversion (no HTTP)."""

from __future__ import annotations

import pytest

from cinderlite.api.volume.context import ApiVersion, VolumeContext
from cinderlite.api.volume.upload import parse_request
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.identity import Caller

CALLER = Caller(
    user_id="u", user_name="u", project_id="p", project_name="p", roles=frozenset({"member"})
)


def ctx(api: str = "v3", version: tuple[int, int] = (3, 0)) -> VolumeContext:
    return VolumeContext(
        caller=CALLER,
        api=api,
        version=ApiVersion(*version),  # type: ignore[arg-type]
        request_id="req-1",
    )


def test_defaults_at_3_0_send_no_visibility() -> None:
    req = parse_request(ctx(), {"image_name": "a"}, enable_force_upload=True)
    assert (req.disk_format, req.container_format, req.force) == ("raw", "bare", False)
    assert req.visibility is None
    assert req.protected is None


def test_3_1_defaults_private_and_parses_string_booleans() -> None:
    req = parse_request(
        ctx(version=(3, 1)),
        {"image_name": "a", "protected": "On", "force": "y"},
        enable_force_upload=True,
    )
    assert (req.visibility, req.protected, req.force) == ("private", True, True)


def test_force_ignored_on_v3_when_disabled_but_not_on_v2() -> None:
    body = {"image_name": "a", "force": True}
    assert parse_request(ctx(), body, enable_force_upload=False).force is False
    assert parse_request(ctx("v2", (2, 0)), body, enable_force_upload=False).force is True


def test_container_format_null_passes_on_v3() -> None:
    req = parse_request(
        ctx(), {"image_name": "a", "container_format": None}, enable_force_upload=True
    )
    assert req.container_format is None


@pytest.mark.parametrize("value", ["a\u0000b", "line\u2028sep", "x" * 256])
def test_container_format_must_be_printable_and_short(value: str) -> None:
    with pytest.raises(InvalidRequest, match="container_format"):
        parse_request(
            ctx(), {"image_name": "a", "container_format": value}, enable_force_upload=True
        )


def test_only_first_error_is_reported() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_request(ctx(), {"image_name": "", "disk_format": "iso"}, enable_force_upload=True)
    assert err.value.message == (
        "Invalid input for field/attribute image_name. Value: . '' should be non-empty"
    )


def test_v2_accepts_iso_and_refuses_vhd() -> None:
    assert (
        parse_request(
            ctx("v2", (2, 0)), {"image_name": "a", "disk_format": "iso"}, enable_force_upload=True
        ).disk_format
        == "iso"
    )
    with pytest.raises(InvalidRequest, match="disk_format"):
        parse_request(
            ctx("v2", (2, 0)), {"image_name": "a", "disk_format": "vhd"}, enable_force_upload=True
        )
