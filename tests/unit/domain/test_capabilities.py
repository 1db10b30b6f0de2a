"""Cinder's capabilities filter: extra spec operators and scopes."""

from __future__ import annotations

import pytest

from cinderlite.domain.capabilities import capability_keys, match, unmet


@pytest.mark.parametrize(("value", "requirement", "expected"), [
    ("local", "local", True),
    ("local", "iSCSI", False),
    (True, "True", False),  # a literal compares as is: True is not "True"
    (True, "<is> True", True),
    (False, "<is> True", False),
    ("true", "<is> True", True),
    (100, "= 50", True),  # "=" means at least
    (10, "= 50", False),
    (10, "== 10", True),
    (10, "!= 10", False),
    (10, ">= 10.0", True),
    (10, "<= 9", False),
    ("abc", "s== abc", True),
    ("abc", "s!= abc", False),
    ("abc", "s< abd", True),
    ("abc", "s> abd", False),
    ("abc", "s>= abc", True),
    ("abc", "s<= abb", False),
    ("thin,thick", "<in> thick", True),
    ("thin", "<in> thick", False),
    ("b", "<or> a <or> b <or> c", True),
    ("d", "<or> a <or> b", False),
    (None, "<is> True", False),
    (None, None, True),
    ("x", None, False),
    ("x", "= not-a-number", False),
    (10, ">=", False),
])
def test_match(value: object, requirement: str | None, expected: bool) -> None:
    assert match(value, requirement) is expected


def test_scopes() -> None:
    specs = {"RESKEY:availability_zones": "a", "QoS:x": "y", "capabilities:vendor_name": "V",
             "storage_protocol": "local", "capabilities:pool:deep": "1"}
    assert capability_keys(specs) == [
        ("capabilities:vendor_name", ["vendor_name"]), ("storage_protocol", ["storage_protocol"]),
        ("capabilities:pool:deep", ["pool", "deep"]),
    ]


def test_unmet() -> None:
    caps = {"storage_protocol": "local", "vendor_name": "V", "multiattach": True,
            "pool": {"deep": "1"}, "protocols": ["nfs", "local"]}
    assert unmet(caps, None) is None
    assert unmet(caps, {"RESKEY:availability_zones": "nowhere"}) is None
    assert unmet(caps, {"storage_protocol": "local", "multiattach": "<is> True"}) is None
    assert unmet(caps, {"capabilities:pool:deep": "1"}) is None
    assert unmet(caps, {"protocols": "local"}) is None  # one item of a list matches
    assert unmet(caps, {"storage_protocol": "iSCSI"}) == "storage_protocol"
    assert unmet(caps, {"replication_enabled": "<is> True"}) == "replication_enabled"
    assert unmet(caps, {"capabilities:vendor_name:x": "V"}) == "capabilities:vendor_name:x"
