"""Quotas: the resources a project's usage is counted in, and Cinder's answers
when a request would pass a limit (cinder/quota.py, cinder/quota_utils.py,
cinder/exception.py).

Usage is never stored: it is counted from the rows that consume it (volumes,
snapshots, backups, groups) in the same transaction that adds a row, so a
crash at any moment leaves it exact. A limit of -1 is unlimited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cinderlite.domain.errors import InvalidRequest, TooLarge

# The project-wide resources and Cinder's default limits.
DEFAULTS: Mapping[str, int] = {
    "volumes": 10,
    "snapshots": 10,
    "gigabytes": 1000,
    "backups": 10,
    "backup_gigabytes": 1000,
    "per_volume_gigabytes": -1,
    "groups": 10,
}
# Per volume type: `volumes_<name>`, `gigabytes_<name>`, `snapshots_<name>` (unlimited by default).
TYPE_RESOURCES = ("volumes", "gigabytes", "snapshots")
# Keys a quota set body may carry that are not resources (cinder/quota.py NON_QUOTA_KEYS).
NON_QUOTA_KEYS = frozenset({"tenant_id", "id"})
DEFAULT_CLASS = "default"
# Cinder constants.DB_MAX_INT.
DB_MAX_INT = 0x7FFFFFFF


class QuotaError(TooLarge):
    """Cinder's QuotaError family: 413 overLimit."""


class VolumeSizeExceedsAvailableQuota(QuotaError):
    def __init__(self, name: str, requested: int, quota: int, consumed: int) -> None:
        super().__init__(
            f"Requested volume or snapshot exceeds allowed {name} quota. Requested "
            f"{requested}G, quota is {quota}G and {consumed}G has been consumed."
        )


class VolumeBackupSizeExceedsAvailableQuota(QuotaError):
    def __init__(self, requested: int, quota: int, consumed: int) -> None:
        super().__init__(
            "Requested backup exceeds allowed Backup gigabytes quota. Requested "
            f"{requested}G, quota is {quota}G and {consumed}G has been consumed."
        )


class VolumeSizeExceedsLimit(QuotaError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"Requested volume size {size}G is larger than maximum allowed limit {limit}G."
        )


class VolumeLimitExceeded(QuotaError):
    def __init__(self, allowed: int, name: str = "volumes") -> None:
        super().__init__(f"Maximum number of volumes allowed ({allowed}) exceeded for "
                         f"quota '{name}'.")


class SnapshotLimitExceeded(QuotaError):
    def __init__(self, allowed: int) -> None:
        super().__init__(f"Maximum number of snapshots allowed ({allowed}) exceeded")


class BackupLimitExceeded(QuotaError):
    def __init__(self, allowed: int) -> None:
        super().__init__(f"Maximum number of backups allowed ({allowed}) exceeded")


class GroupLimitExceeded(QuotaError):
    def __init__(self, allowed: int) -> None:
        super().__init__(f"Maximum number of groups allowed ({allowed}) exceeded")


class UnexpectedOverQuota(QuotaError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Unexpected over quota on {name}.")


def resource_names(type_names: Iterable[str]) -> list[str]:
    """Every quota key, in Cinder's order: the per-type keys after the project ones."""
    names = [k for k in DEFAULTS if k != "groups"]
    for type_name in type_names:
        names.extend(f"{r}_{type_name}" for r in TYPE_RESOURCES)
    names.append("groups")
    return names


def default_limit(name: str, defaults: Mapping[str, int]) -> int:
    return defaults.get(name, -1)


@dataclass(frozen=True)
class Demand:
    """What one operation adds to its project's usage. `resource` names the kind
    of thing made ("volumes", "snapshots", "backups", "groups"); `size` its GiB."""

    resource: str
    deltas: Mapping[str, int]
    size: int = 0


def volume_demand(size: int, type_name: str | None, *, count: int = 1) -> Demand:
    deltas = {"volumes": count, "gigabytes": size}
    if type_name:
        deltas |= {f"volumes_{type_name}": count, f"gigabytes_{type_name}": size}
    return Demand("volumes", deltas, size)


def extend_demand(grow_by: int, type_name: str | None) -> Demand:
    deltas = {"gigabytes": grow_by}
    if type_name:
        deltas[f"gigabytes_{type_name}"] = grow_by
    return Demand("volumes", deltas, grow_by)


def snapshot_demand(size: int, type_name: str | None) -> Demand:
    deltas = {"snapshots": 1, "gigabytes": size}
    if type_name:
        deltas |= {f"snapshots_{type_name}": 1, f"gigabytes_{type_name}": size}
    return Demand("snapshots", deltas, size)


def backup_demand(size: int) -> Demand:
    return Demand("backups", {"backups": 1, "backup_gigabytes": size}, size)


def check(demand: Demand, limits: Mapping[str, int], usage: Mapping[str, int]) -> None:
    """Raise Cinder's exception for the first limit `demand` would pass
    (cinder/quota_utils.process_reserve_over_quota): a gigabytes key first."""
    overs = [
        name for name, delta in demand.deltas.items()
        if delta > 0 and limits.get(name, -1) >= 0
        and usage.get(name, 0) + delta > limits[name]
    ]
    for name in sorted(overs, key=lambda n: "gigabytes" not in n):
        if "gigabytes" in name:
            if demand.resource == "backups":
                raise VolumeBackupSizeExceedsAvailableQuota(
                    demand.size, limits[name], usage.get(name, 0))
            raise VolumeSizeExceedsAvailableQuota(
                name, demand.size, limits[name], usage.get(name, 0))
        if demand.resource in name:
            if demand.resource == "volumes":
                raise VolumeLimitExceeded(limits[name], name)
            if demand.resource == "snapshots":
                raise SnapshotLimitExceeded(limits[name])
            if demand.resource == "backups":
                raise BackupLimitExceeded(limits[name])
            raise GroupLimitExceeded(limits[name])
    if overs:
        raise UnexpectedOverQuota(", ".join(overs))


def check_volume_size(size: int, limits: Mapping[str, int]) -> None:
    """Cinder's per_volume_gigabytes rule (VolumeSizeExceedsLimit, 413)."""
    limit = limits.get("per_volume_gigabytes", -1)
    if limit >= 0 and size > limit:
        raise VolumeSizeExceedsLimit(size, limit)


def validate_limits(body: Mapping[str, object], known: Iterable[str], *,
                    class_set: bool = False) -> dict[str, int]:
    """Cinder's `quota_set` / `quota_class_set` format checks: unknown keys
    ("Bad key(s) in quota set: ..."), then each value an integer in [-1, DB_MAX_INT]
    (oslo strutils.validate_integer's messages)."""
    known_set = set(known)
    bad = [k for k in body if k not in known_set and (class_set or k not in NON_QUOTA_KEYS)]
    if bad:
        what = "quota class set" if class_set else "quota set"
        raise InvalidRequest(f"Invalid input received: Bad key(s) in {what}: {', '.join(bad)}")
    values: dict[str, int] = {}
    for key, raw in body.items():
        if key in NON_QUOTA_KEYS and key not in known_set:
            continue
        values[key] = _integer(raw, key)
    return values


def _integer(raw: object, name: str) -> int:
    # oslo strutils.validate_integer: int(str(value)), so True, 1.5 and "x" are refused.
    try:
        value = int(str(raw))
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer") from None
    if value < -1:
        raise InvalidRequest(f"{name} must be >= -1")
    if value > DB_MAX_INT:
        raise InvalidRequest(f"{name} must be <= {DB_MAX_INT}")
    return value


def check_not_below_usage(values: Mapping[str, int], usage: Mapping[str, int]) -> None:
    """Cinder's quota update refusal of a limit below what is in use (400)."""
    for key, value in values.items():
        if key == "per_volume_gigabytes" or value == -1:
            continue
        used = usage.get(key, 0)
        if value < used:
            raise InvalidRequest(
                f"Quota {key} limit must be equal or greater than existing resources. "
                f"Current usage is {used} and the requested limit is {value}."
            )
