"""qemu-img info parsing and the checks made on a source before it is converted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cinderlite.datapath.qemu import check_source_info, parse_info
from cinderlite.domain.errors import ImageUnacceptable

SRC = Path("/proc/self/fd/7")
ALLOWED = ("streamOptimized", "monolithicSparse")


def info_json(fmt: str, **extra: object) -> str:
    return json.dumps({"format": fmt, "virtual-size": 1 << 20, "actual-size": 4096, **extra})


def vmdk_info(create_type: str, *extents: str) -> str:
    return info_json("vmdk", **{"format-specific": {"type": "vmdk", "data": {
        "create-type": create_type,
        "extents": [{"filename": e, "virtual-size": 1 << 20, "format": ""} for e in extents],
    }}})


def test_parse_info_reads_vmdk_create_type_and_extents() -> None:
    info = parse_info(vmdk_info("monolithicSparse", str(SRC)))
    assert info.create_type == "monolithicSparse"
    assert info.extents == (str(SRC),)


def test_a_single_sparse_vmdk_that_is_its_own_extent_passes() -> None:
    check_source_info(parse_info(vmdk_info("monolithicSparse", str(SRC))), SRC,
                      image_id="i", vmdk_allowed_types=ALLOWED)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (vmdk_info("monolithicFlat", "/etc/shadow"), "Invalid VMDK create-type"),
        (vmdk_info("monolithicSparse", "/srv/other.vmdk"), "single sparse file"),
        (vmdk_info("monolithicSparse", str(SRC), "/srv/b.vmdk"), "single sparse file"),
        (info_json("qcow2", **{"backing-filename": "/etc/shadow"}), "backed by:/etc/shadow"),
        (info_json("qcow2", **{"format-specific": {"type": "qcow2", "data": {
            "data-file": "/etc/shadow"}}}), "not allowed to have a data file"),
    ],
)
def test_sources_reading_other_files_are_unacceptable(text: str, reason: str) -> None:
    with pytest.raises(ImageUnacceptable, match=reason):
        check_source_info(parse_info(text), SRC, image_id="i", vmdk_allowed_types=ALLOWED)
