"""Whether the backend can hold a thin-provisioned volume: Cinder's CapacityFilter rule.

Volumes are sparse files, so their sizes are promised, not allocated. Like
Cinder's scheduler with thin provisioning, a request is refused when the
provisioned sizes would pass `max_over_subscription_ratio` times the
capacity, or when the free space times that ratio is less than the request
(after `reserved_percentage` of the capacity is set aside).
"""

from __future__ import annotations

from dataclasses import dataclass

from cinderlite.domain.errors import StorageFull

GiB = 1 << 30


class NoValidBackend(StorageFull):
    """Cinder's scheduler answer; here refused before the volume is accepted."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"No valid backend was found. {reason}")


@dataclass(frozen=True)
class Capacity:
    total_bytes: int
    free_bytes: int
    provisioned_gib: int  # the sizes of the volumes that exist
    max_over_subscription_ratio: float = 20.0
    reserved_percentage: int = 0


def check_fits(requested_gib: int, capacity: Capacity) -> None:
    """Raise NoValidBackend unless `requested_gib` more can be provisioned."""
    total_gib = capacity.total_bytes / GiB
    reserved_gib = total_gib * capacity.reserved_percentage / 100
    free_gib = max(capacity.free_bytes / GiB - reserved_gib, 0.0)
    ratio = max(capacity.max_over_subscription_ratio, 1.0)
    if total_gib <= 0:
        raise NoValidBackend("The volume backend reports no capacity.")
    provisioned_ratio = (capacity.provisioned_gib + requested_gib) / total_gib
    if provisioned_ratio > ratio:
        raise NoValidBackend(
            "Insufficient free space for thin provisioning. The ratio of provisioned "
            f"capacity over total capacity {provisioned_ratio:.2f} has exceeded the maximum "
            f"over subscription ratio {ratio:.2f}."
        )
    available = free_gib * ratio
    if available < requested_gib:
        raise NoValidBackend(
            f"Insufficient free virtual space ({available:.0f}GB) to accommodate thin "
            f"provisioned {requested_gib}GB volume."
        )
