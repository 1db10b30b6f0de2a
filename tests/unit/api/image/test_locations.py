"""The location API's request body (Glance's add_location schema) and the versions list."""

from __future__ import annotations

from typing import Any

import pytest

from cinderlite.api.image.locations import parse_add_location
from cinderlite.api.image.schemas import api_versions
from cinderlite.domain.errors import InvalidRequest


def test_a_url_and_validation_data_are_read() -> None:
    body = {"url": "file:///x", "validation_data": {"os_hash_algo": "sha256",
                                                     "os_hash_value": "ab"}}
    assert parse_add_location(body) == ("file:///x", body["validation_data"])
    assert parse_add_location({"url": "file:///x"}) == ("file:///x", {})


@pytest.mark.parametrize(("body", "reason"), [
    ({}, "'url' is a required property"),
    ([], "[] is not of type 'object'"),
    ({"url": 5}, "5 is not of type 'string'"),
    ({"url": "u", "validation_data": None}, "None is not of type 'object'"),
    ({"url": "u", "validation_data": {"os_hash_value": "ab"}},
     "'os_hash_algo' is a dependency of 'os_hash_value'"),
    ({"url": "u", "validation_data": {"os_hash_algo": "sha256"}},
     "'os_hash_value' is a dependency of 'os_hash_algo'"),
    ({"url": "u", "validation_data": {"os_hash_algo": "sha123", "os_hash_value": "ab"}},
     "'sha123' is not one of ['sha1', 'sha256', 'sha512', 'md5']"),
    ({"url": "u", "validation_data": {"checksum": "ab"}},
     "Additional properties are not allowed ('checksum' was unexpected)"),
])
def test_bodies_outside_the_schema_are_refused(body: Any, reason: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        parse_add_location(body)
    assert exc.value.message == f"Provided object does not match schema 'location': {reason}"


def test_versions_follow_glance_without_a_cache() -> None:
    # One store: Glance lists 2.9 alone after 2.15; 2.13-2.11 are served here too.
    single = api_versions(multi_store=False)
    assert single[:6] == [("2.15", "SUPPORTED"), ("2.13", "SUPPORTED"), ("2.12", "SUPPORTED"),
                          ("2.11", "SUPPORTED"), ("2.9", "SUPPORTED"), ("2.17", "CURRENT")]
    assert [v for v, _ in single[6:]] == ["2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"]
    multi = [v for v, _ in api_versions(multi_store=True)]
    assert multi[:8] == ["2.15", "2.13", "2.12", "2.11", "2.10", "2.9", "2.8", "2.17"]
    assert [s for _, s in api_versions(multi_store=True)].count("CURRENT") == 1
