"""Pure parts of the qemu-img additions for uploads: argv, progress parsing, ISO detection."""

from __future__ import annotations

from pathlib import Path

from cinderlite.datapath import qemu


def test_convert_args_compressed_qcow2_with_zstd() -> None:
    args = qemu.convert_args(
        Path("/v"),
        Path("/o"),
        src_format="raw",
        dst_format="qcow2",
        compress=True,
        compression_type="zstd",
    )
    assert args[:6] == ["qemu-img", "convert", "-f", "raw", "-O", "qcow2"]
    assert "-c" in args
    assert "compression_type=zstd" in args
    assert "-W" in args
    assert args[args.index("-m") + 1] == "8"
    assert args[-2:] == ["/v", "/o"]


def test_convert_args_no_compression_options_for_other_formats() -> None:
    args = qemu.convert_args(Path("/v"), Path("/o"), src_format="raw", dst_format="vpc")
    assert "-c" not in args
    assert "-o" not in args


def test_qemu_format_names() -> None:
    assert qemu.qemu_format("vhd") == "vpc"
    assert qemu.qemu_format("ploop") == "parallels"
    assert qemu.qemu_format("iso") == "raw"


def test_parse_progress_takes_the_last_value() -> None:
    assert qemu.parse_progress(b"    (0.00/100%)\r    (12.50/100%)\r    (37.01/100%)\r") == 37.01
    assert qemu.parse_progress(b"(100/100%)\n") == 100.0
    assert qemu.parse_progress(b"nothing here") is None


def test_looks_like_iso(tmp_path: Path) -> None:
    iso = tmp_path / "iso"
    with open(iso, "wb") as fh:
        fh.truncate(64 * 1024)
        fh.seek(32769)
        fh.write(b"CD001")
    plain = tmp_path / "plain"
    plain.write_bytes(bytes(64 * 1024))
    short = tmp_path / "short"
    short.write_bytes(b"x")
    assert qemu.looks_like_iso(iso)
    assert not qemu.looks_like_iso(plain)
    assert not qemu.looks_like_iso(short)
