"""validation_data of Glance 2.17's location API: shape checks and the hash comparison."""

from __future__ import annotations

import hashlib

import pytest

from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.image_locations import check_hash_matches, check_validation_data, hash_algo

SHA256 = hashlib.sha256(b"x").hexdigest()


@pytest.mark.parametrize("data", [
    {},
    {"os_hash_algo": "sha256", "os_hash_value": SHA256},
    {"os_hash_algo": "md5", "os_hash_value": hashlib.md5(b"x").hexdigest()},
    {"os_hash_algo": "sha1", "os_hash_value": hashlib.sha1(b"x").hexdigest().upper()},
])
def test_well_formed_validation_data_passes(data) -> None:  # type: ignore[no-untyped-def]
    check_validation_data(data)


def test_a_value_that_is_not_hexadecimal_is_refused() -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_validation_data({"os_hash_algo": "sha256", "os_hash_value": "xyz"})
    assert exc.value.message == "os_hash_value (xyz) is not a valid hexadecimal value"


def test_a_value_of_the_wrong_length_for_its_algorithm_is_refused() -> None:
    with pytest.raises(InvalidRequest) as exc:
        check_validation_data({"os_hash_algo": "sha512", "os_hash_value": SHA256})
    assert exc.value.message == (
        f"os_hash_value: ({SHA256}) is not the correct size for (sha512) (should be (64) bytes)"
    )


def test_the_algorithm_is_validation_datas_or_sha512() -> None:
    assert hash_algo({"os_hash_algo": "sha256", "os_hash_value": SHA256}) == "sha256"
    assert hash_algo({}) == "sha512"


def test_the_hash_must_match_as_given() -> None:
    check_hash_matches({}, SHA256)
    check_hash_matches({"os_hash_value": SHA256}, SHA256)
    with pytest.raises(InvalidRequest, match="not matched with actual os_hash_value"):
        check_hash_matches({"os_hash_value": SHA256.upper()}, SHA256)
