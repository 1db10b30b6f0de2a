"""Image format inspection as Glance does it, with oslo.utils' format inspectors.

Data declared `bare` must be what its disk_format says (raw accepts anything)
and must pass the inspectors' safety checks (no qcow2 backing or external data
file, no VMDK extents pointing at other files, sane partition tables...). The
data is only ever parsed by these pure-Python inspectors, never by qemu-img.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from oslo_utils.imageutils import format_inspector as fi

from cinderlite.domain.errors import UnsupportedMedia

log = logging.getLogger(__name__)

# Formats whose virtual size the inspector knows; raw's is its byte size.
VIRTUAL_SIZE_FORMATS = frozenset({"qcow2", "vmdk", "vdi", "vhd", "vhdx", "iso"})
SAFETY_FAILED = "Image failed safety checks"
# Reading this much is enough for every header region the inspectors know of;
# after it a wrong disk_format is refused without reading the rest.
EARLY_DECISION_BYTES = 1 << 20


# Largest piece of data an inspector that is still looking for regions sees at once.
FEED_SLICE = 64 * 1024


def _settled(inspector: fi.FileInspector) -> bool:
    """Complete, and with no region at the end of the data still to capture."""
    return inspector.complete and not any(
        isinstance(r, fi.EndCaptureRegion) for r in inspector._capture_regions.values()
    )


def mismatch_message(disk_format: str, detected: str) -> str:
    return f"Image disk_format {disk_format} does not match stream data {detected}"


class StreamInspector:
    """Feed the data chunk by chunk (`feed`, blocking CPU work: call it from a
    worker thread), then `finish(size)` for the virtual size.

    Raises UnsupportedMedia with Glance's texts, from `feed` as soon as a wrong
    format is certain, or from `finish`. Containers other than `bare` are not
    inspected (Glance does the same) and get no virtual size.
    """

    def __init__(self, disk_format: str | None, container_format: str | None) -> None:
        self.disk_format = disk_format or ""
        self.enabled = container_format == "bare" and bool(disk_format)
        self._inspectors: dict[str, fi.FileInspector] = (
            {name: cls() for name, cls in fi.ALL_FORMATS.items()} if self.enabled else {}
        )
        self._failed: set[str] = set()
        self._seen = 0

    def feed(self, chunk: bytes) -> None:
        if not self.enabled or not chunk:
            return
        self._seen += len(chunk)
        view = memoryview(chunk)
        for name, inspector in self._inspectors.items():
            if name in self._failed:
                continue
            try:
                if _settled(inspector):
                    inspector.eat_chunk(chunk)
                    continue
                # The inspectors find some regions (VHDX metadata, VMDK
                # descriptors) only while reading the region before them, so
                # they must see the data in small pieces, as Glance feeds them.
                for i in range(0, len(view), FEED_SLICE):
                    inspector.eat_chunk(bytes(view[i : i + FEED_SLICE]))
            except Exception as exc:  # the inspectors raise assorted parse errors
                log.debug("format inspector %s gave up: %s", name, exc)
                self._failed.add(name)
        self._check_early()

    def _check_early(self) -> None:
        expected = self._inspectors.get(self.disk_format)
        if expected is None or self.disk_format == "raw" or self._seen < EARLY_DECISION_BYTES:
            return
        if self.disk_format in self._failed or (expected.complete and not expected.format_match):
            raise UnsupportedMedia(mismatch_message(self.disk_format, self._detected_so_far()))

    def _matches(self) -> list[fi.FileInspector]:
        return [
            i for name, i in self._inspectors.items()
            if name != "raw" and name not in self._failed and i.complete and i.format_match
        ]

    def _detected_so_far(self) -> str:
        names = sorted(i.NAME for i in self._matches())
        return ",".join(names) if names else "raw"

    def finish(self, size: int) -> int | None:
        """End of data: check format and safety; return the virtual size (or None)."""
        if not self.enabled:
            return None
        for name, inspector in self._inspectors.items():
            if name not in self._failed:
                inspector.finish()
        matches = self._matches()
        names = {i.NAME for i in matches}
        if self.disk_format == "iso" and "iso" in names and names <= {"iso", "gpt"}:
            # Bootable ISO/GPT hybrids are accepted as ISO (Glance does the same).
            matches = [i for i in matches if i.NAME == "iso"]
        if len(matches) > 1:
            # Two formats at once means a header hidden inside another one.
            log.warning("image data matches several formats: %s", sorted(names))
            raise UnsupportedMedia(SAFETY_FAILED)
        detected = matches[0] if matches else self._inspectors["raw"]
        if self.disk_format != detected.NAME:
            if self.disk_format == "raw":
                log.warning("image declared raw holds %s data; accepted as raw", detected.NAME)
                return size
            if self.disk_format not in self._inspectors:
                # No inspector for ami/ari/aki/ploop: Glance cannot check them either.
                return None
            raise UnsupportedMedia(mismatch_message(self.disk_format, detected.NAME))
        try:
            detected.safety_check()
        except (fi.SafetyCheckFailed, fi.ImageFormatError) as exc:
            log.warning("image safety check failed (%s): %s", detected.NAME, exc)
            raise UnsupportedMedia(SAFETY_FAILED) from exc
        if detected.NAME == "raw":
            return size
        if detected.NAME in VIRTUAL_SIZE_FORMATS:
            return int(detected.virtual_size) or None
        return None

    @property
    def needs_more(self) -> bool:
        """False once the result can no longer change by reading more data."""
        if not self.enabled:
            return False
        return any(
            not _settled(inspector)
            for name, inspector in self._inspectors.items()
            if name != "raw" and name not in self._failed
        )


def inspect_file(
    path: str | os.PathLike[str], disk_format: str | None, container_format: str | None,
    *, chunk_size: int = 1 << 20,
) -> int | None:
    """Inspect a whole file as Glance inspects an upload (blocking; use a thread).

    Returns the virtual size (None when not known); raises UnsupportedMedia.
    Reads only as far as the inspectors need, plus the end for formats with a
    footer.
    """
    inspector = StreamInspector(disk_format, container_format)
    if not inspector.enabled:
        return None
    size = Path(path).stat().st_size
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            if not chunk:
                break
            inspector.feed(chunk)
            if not inspector.needs_more and fh.tell() >= EARLY_DECISION_BYTES:
                break
    # The raw inspector's "virtual size" is what it has read; use the file size.
    return inspector.finish(size)
