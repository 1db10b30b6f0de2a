"""Glance 2.17's location API: the rules of `validation_data` and the errors.

`POST /v2/images/{id}/locations` takes a URL and, optionally, the hash the
data must have (`validation_data`: `os_hash_algo` and `os_hash_value`).
Glance checks the hash's shape when the request comes in
(glance/api/v2/images.py `_validate_hashing_data`) and compares it with the
data's hash in the task that reads the data
(glance/async_/flows/location_import.py `_VerifyValidationData`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from cinderlite.domain.errors import InvalidRequest

# The algorithms validation_data may name (Glance's add_location schema enum).
HASH_ALGOS = ("sha1", "sha256", "sha512", "md5")
# Glance [DEFAULT] hashing_algorithm: the algorithm of a location without validation_data.
DEFAULT_HASH_ALGO = "sha512"


class BadLocation(InvalidRequest):
    """A location URL that names no data this service may use (Glance's
    BadStoreUri from _check_location_uri: "Invalid location")."""

    def __init__(self) -> None:
        super().__init__("Invalid location")


def check_validation_data(data: Mapping[str, Any]) -> None:
    """Glance's `_validate_hashing_data`: `os_hash_value` must be hexadecimal and
    as long as a digest of `os_hash_algo` (the schema already made both present
    together and the algorithm one of HASH_ALGOS). InvalidRequest otherwise."""
    if "os_hash_value" not in data:
        return
    value = data["os_hash_value"]
    try:
        # bytes.fromhex, as Glance's bytearray.fromhex: whitespace between bytes passes.
        digest = bytes.fromhex(value)
    except ValueError:
        raise InvalidRequest(f"os_hash_value ({value}) is not a valid hexadecimal value") from None
    algo = data.get("os_hash_algo", DEFAULT_HASH_ALGO)
    want = hashlib.new(algo).digest_size
    if len(digest) != want:
        raise InvalidRequest(
            f"os_hash_value: ({value}) is not the correct size for ({algo}) "
            f"(should be ({want}) bytes)"
        )


def hash_algo(data: Mapping[str, Any]) -> str:
    """The algorithm the data is hashed with: validation_data's, else Glance's default."""
    algo = data.get("os_hash_algo")
    return algo if isinstance(algo, str) and algo in HASH_ALGOS else DEFAULT_HASH_ALGO


def check_hash_matches(data: Mapping[str, Any], actual: str) -> None:
    """After the data was hashed: validation_data's os_hash_value must be the one
    found (compared as given, as Glance compares them). InvalidRequest otherwise."""
    expected = data.get("os_hash_value")
    if expected is not None and expected != actual:
        raise InvalidRequest(
            f"os_hash_value: ({expected}) not matched with actual os_hash_value: ({actual})"
        )


__all__ = [
    "DEFAULT_HASH_ALGO",
    "HASH_ALGOS",
    "BadLocation",
    "check_hash_matches",
    "check_validation_data",
    "hash_algo",
]
