"""Image format inspection with oslo.utils' format inspectors, before any tool reads the data.

Two checks share the inspectors: the image service's, as Glance does it (data
declared `bare` must be what its disk_format says, raw accepts anything, and
must pass the safety checks: no qcow2 backing or external data file, no VMDK
extents pointing at other files, sane partition tables...), and the stricter
one made on the exact bytes a volume is about to be filled from
(`check_source`), whatever their container, as Cinder makes it before
qemu-img may open them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as fi

from cinderlite.domain.errors import ImageUnacceptable, UnsupportedMedia

log = logging.getLogger(__name__)


class _RefusalsAreWarnings(logging.Filter):
    """The inspectors log what they refuse in hostile data at ERROR; that is an
    expected refusal (we answer it), not a fault of ours: log it as a WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and not record.exc_info:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger(fi.__name__).addFilter(_RefusalsAreWarnings())

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

    def __init__(
        self, disk_format: str | None, container_format: str | None, *, always: bool = False
    ) -> None:
        self.disk_format = disk_format or ""
        # Glance inspects only `bare` data; `always` inspects whatever the container.
        self.enabled = (always or container_format == "bare") and bool(disk_format)
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

    def detect(self) -> fi.FileInspector:
        """End of data: the one format the data is in (the raw inspector when none
        other matched). Two formats at once is UnsupportedMedia (SAFETY_FAILED)."""
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
        return matches[0] if matches else self._inspectors["raw"]

    def finish(self, size: int) -> int | None:
        """End of data: check format and safety; return the virtual size (or None)."""
        if not self.enabled:
            return None
        detected = self.detect()
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


def _feed(inspector: StreamInspector, fd: int, chunk_size: int) -> int:
    """Feed the data at `fd` from offset 0 (pread: the file position is left alone),
    as far as the inspectors need; return the data's size."""
    size = os.fstat(fd).st_size
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(chunk_size, size - offset), offset)
        if not chunk:
            break
        inspector.feed(chunk)
        offset += len(chunk)
        if not inspector.needs_more and offset >= EARLY_DECISION_BYTES:
            break
    return size


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
    fd = os.open(path, os.O_RDONLY)
    try:
        size = _feed(inspector, fd, chunk_size)
    finally:
        os.close(fd)
    # The raw inspector's "virtual size" is what it has read; use the file size.
    return inspector.finish(size)


# --- before qemu-img reads tenant data ---------------------------------------------

# Formats with a layout of their own that qemu-img interprets (and that can name
# other files). Cinder refuses an image declared raw whose data is one of them.
STRUCTURED_FORMATS = frozenset({"qcow2", "vmdk", "vdi", "vhd", "vhdx", "qed"})
# Cinder's and Nova's `vmdk_allowed_types` default: the single-file variants
# with a sparse header. The others (monolithicFlat, twoGbMaxExtent*, vmfs*)
# are text descriptors whose extents name other files, which qemu-img opens.
VMDK_ALLOWED_TYPES = ("streamOptimized", "monolithicSparse")
VMDK_MAGIC = b"KDMV"


@dataclass(frozen=True)
class CheckedSource:
    """What `check_source` found: the inspector's name of the data and its virtual size."""

    format: str
    virtual_size: int | None


def check_source(
    fd: int, disk_format: str, *, image_id: str,
    vmdk_allowed_types: Iterable[str] = VMDK_ALLOWED_TYPES, chunk_size: int = 1 << 20,
) -> CheckedSource:
    """Check the bytes at `fd` before a volume is filled from them (blocking; use a thread).

    They must be what `disk_format` says (an image declared raw or iso must not
    be one of STRUCTURED_FORMATS; one without an inspector, ploop, must not
    look like any of them), pass the inspector's safety checks (no backing or
    data file, no VMDK extent naming another file...), and a VMDK must be a
    single file with a sparse header and an allowed create type. The caller
    hands qemu-img this same open file, so what was checked is what is read.
    Raises ImageUnacceptable with the reason.
    """
    inspector = StreamInspector(disk_format, None, always=True)
    try:
        _feed(inspector, fd, chunk_size)
        detected = inspector.detect()
    except UnsupportedMedia as exc:
        if exc.message == SAFETY_FAILED:
            raise ImageUnacceptable(image_id, "the data matches more than one format") from exc
        raise _claimed(image_id, disk_format) from exc
    name = detected.NAME
    if disk_format in ("raw", "iso"):
        if name in STRUCTURED_FORMATS:
            raise _claimed(image_id, disk_format)
    elif disk_format in fi.ALL_FORMATS:
        if name != disk_format:
            raise _claimed(image_id, disk_format)
    elif name != "raw":  # ploop and the others no inspector knows
        raise _claimed(image_id, disk_format)
    try:
        detected.safety_check()
    except (fi.SafetyCheckFailed, fi.ImageFormatError) as exc:
        log.warning("image %s failed the %s safety checks: %s", image_id, name, exc)
        raise ImageUnacceptable(image_id, f"the {name} data failed safety checks") from exc
    if name == "vmdk":
        _check_vmdk(fd, detected, image_id, vmdk_allowed_types)
    virtual = int(detected.virtual_size) if name in VIRTUAL_SIZE_FORMATS else None
    return CheckedSource(name, virtual or None)


def _claimed(image_id: str, disk_format: str) -> ImageUnacceptable:
    return ImageUnacceptable(
        image_id,
        f"The image format was claimed to be '{disk_format}' but the image data appears "
        "to be in a different format.",
    )


def _check_vmdk(
    fd: int, detected: fi.FileInspector, image_id: str, allowed: Iterable[str]
) -> None:
    # A text descriptor passes the inspector when it says monolithicSparse and
    # its extent names have no '/', yet qemu-img would open those names next
    # to the image: only a file that starts with the sparse header is its own
    # single extent.
    if os.pread(fd, len(VMDK_MAGIC), 0) != VMDK_MAGIC:
        raise ImageUnacceptable(image_id, "A VMDK image must be a single sparse file")
    create_type = str(getattr(detected, "vmdktype", ""))
    if create_type not in {t.lower() for t in allowed}:
        log.warning("image %s: VMDK createType %r is not allowed", image_id, create_type)
        raise ImageUnacceptable(image_id, "Invalid VMDK create-type specified")
