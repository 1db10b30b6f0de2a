"""OpenStack's format inspector (oslo.utils; Glance, Nova, Cinder use it) accepts our images."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cinderlite.datapath.convert import NATIVE_FORMATS, convert_native
from tests.unit.datapath.files import sparse_file

format_inspector = pytest.importorskip("oslo_utils.imageutils.format_inspector")

pytestmark = pytest.mark.integration

MIB = 1 << 20


@pytest.mark.parametrize("fmt", NATIVE_FORMATS)
def test_inspector_detects_the_format_and_finds_it_safe(tmp_path: Path, fmt: str) -> None:
    rng = random.Random(5)
    src = tmp_path / "v.raw"
    sparse_file(src, 64 * MIB, [(0, rng.randbytes(MIB)), (40 * MIB + 3, rng.randbytes(5000))])
    out = tmp_path / f"v.{fmt}"
    convert_native(src, out, fmt=fmt)
    inspector = format_inspector.detect_file_format(str(out))
    detected = inspector.NAME
    assert detected == fmt
    assert inspector.virtual_size == 64 * MIB
    inspector.safety_check()  # raises SafetyCheckFailed on backing files, data files, ...
