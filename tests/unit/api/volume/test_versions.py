"""Microversion header parsing and the version document."""

from __future__ import annotations

import pytest

from cinderlite.api.volume import versions
from cinderlite.api.volume.context import ApiVersion


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, ApiVersion(3, 0)),
        ("volume 3.0", ApiVersion(3, 0)),
        ("volume 3.3", ApiVersion(3, 3)),
        ("volume latest", versions.MAX),
        ("Volume LATEST", versions.MAX),
        ("compute 2.1, volume 3.2", ApiVersion(3, 2)),
    ],
)
def test_parse_accepts(header: str | None, expected: ApiVersion) -> None:
    assert versions.parse_header(header) == expected


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("volume 3.1.1", 400),
        ("volume 3.01", 400),
        ("volume 03.1", 400),
        ("volume abc", 400),
        ("volume", 400),
        ("compute 2.1", 400),
        ("", 400),
        ("volume 3.72", 406),
        ("volume 2.0", 406),
        ("volume 4.0", 406),
    ],
)
def test_parse_rejects(header: str, status: int) -> None:
    with pytest.raises(versions.VersionError) as info:
        versions.parse_header(header)
    assert info.value.status == status


def test_out_of_range_message_names_the_range() -> None:
    with pytest.raises(versions.VersionError) as info:
        versions.parse_header("volume 3.72")
    assert info.value.message == (
        f"Version 3.72 is not supported by the API. Minimum is 3.0 and maximum is {versions.MAX}."
    )


def test_version_document_shape() -> None:
    doc = versions.versions_document("http://h:8776/")
    v2, v3 = doc["versions"]  # type: ignore[misc]
    assert v3["id"] == "v3.0"
    assert v3["status"] == "CURRENT"
    assert v3["version"] == str(versions.MAX)
    assert v3["min_version"] == "3.0"
    assert {"rel": "self", "href": "http://h:8776/v3/"} in v3["links"]
    assert v2["id"] == "v2.0"
    assert v2["status"] == "DEPRECATED"
    assert (v2["version"], v2["min_version"]) == ("", "")
    assert {"rel": "self", "href": "http://h:8776/v2/"} in v2["links"]
    assert v2["media-types"] == [{
        "base": "application/json", "type": "application/vnd.openstack.volume+json;version=2",
    }]


def test_each_api_root_documents_itself() -> None:
    for api, expected in (("v2", "v2.0"), ("v3", "v3.0")):
        (entry,) = versions.version_document("http://h:8776", api)["versions"]  # type: ignore[misc]
        assert entry["id"] == expected


def test_response_headers() -> None:
    assert versions.response_headers(ApiVersion(3, 2)) == {
        "OpenStack-API-Version": "volume 3.2", "Vary": "OpenStack-API-Version",
    }
