"""Which images are Nova's images of volume-backed instances (3.46, os-reimage)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from cinderlite.services.reimage import boot_snapshot_id

SNAP = "5b1e0f3c-0000-4000-8000-0000000000cc"


def _image(properties: dict[str, Any] | None) -> Any:
    return SimpleNamespace(properties=properties)


def test_boot_snapshot_of_a_nova_image() -> None:
    bdm = [
        {"source_type": "volume", "boot_index": 1, "volume_id": "x"},
        {"source_type": "snapshot", "boot_index": 0, "snapshot_id": SNAP, "volume_size": 2},
    ]
    assert boot_snapshot_id(_image({"block_device_mapping": json.dumps(bdm)})) == (SNAP, 2)
    # Already decoded (as Cinder's glance client hands it over) works too.
    assert boot_snapshot_id(_image({"block_device_mapping": bdm})) == (SNAP, 2)


@pytest.mark.parametrize("properties", [
    None, {}, {"block_device_mapping": "not json"}, {"block_device_mapping": "{}"},
    {"block_device_mapping": json.dumps([{"source_type": "snapshot", "boot_index": 1,
                                          "snapshot_id": SNAP}])},
    {"block_device_mapping": json.dumps([{"source_type": "image", "boot_index": 0}])},
    {"block_device_mapping": json.dumps(["x", 1])},
])
def test_other_images(properties: dict[str, Any] | None) -> None:
    assert boot_snapshot_id(_image(properties)) is None
