"""Cinder's host names and the rules read from them (no I/O).

A cinder-volume service is named `host@backend`, its pools `host@backend#pool`;
the scheduler and backup services are named `host`. A host filter matches at
the level its value names (cinder/db/api.py _filter_host): `host` matches the
host, its backends and their pools; `host@backend` the backend and its pools;
`host@backend#pool` that pool only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

VOLUME_BINARY = "cinder-volume"
SCHEDULER_BINARY = "cinder-scheduler"
BACKUP_BINARY = "cinder-backup"
API_BINARY = "cinder-api"
# The services one cinderlite process runs (its API is not a row, as in Cinder).
BINARIES = (SCHEDULER_BINARY, VOLUME_BINARY, BACKUP_BINARY)
# Those a process of each role (`serve --role`) runs, and so keeps up: the API
# processes schedule (a volume is placed while its create request is answered);
# the workers do the volume and backup services' data work. With only API
# processes running, the volume and backup services go down after
# service_down_time, and creates and backups are refused as Cinder refuses them.
ROLE_BINARIES: dict[str, tuple[str, ...]] = {
    "all": BINARIES,
    "api": (SCHEDULER_BINARY,),
    "worker": (VOLUME_BINARY, BACKUP_BINARY),
}
# cinder/common/constants.py LOG_BINARIES
LOG_BINARIES = (SCHEDULER_BINARY, VOLUME_BINARY, BACKUP_BINARY, API_BINARY)


def matches_host(stored: str, value: str) -> bool:
    """Whether a row's `stored` host is matched by the filter `value`."""
    if stored == value:
        return True
    if "#" in value:
        return False
    if stored.startswith(value + "#"):
        return True
    return "@" not in value and stored.startswith(value + "@")


def backend_of(name: str) -> str:
    """`host@backend` of a pool name (volume_utils.extract_host 'backend')."""
    return name.partition("#")[0]


def host_of(name: str) -> str:
    """`host` of a backend or pool name (volume_utils.extract_host 'host')."""
    return name.partition("#")[0].partition("@")[0]


def is_up(updated_at: datetime | None, created_at: datetime, *, now: datetime,
          down_after_seconds: float) -> bool:
    """Cinder's liveness: the last heartbeat (or the creation) is recent enough."""
    last = updated_at or created_at
    return abs((now - last).total_seconds()) <= down_after_seconds


@dataclass(frozen=True)
class HostLayout:
    """Where this process's services live, as Cinder names them."""

    # Cinder [DEFAULT] host (the machine's host name by default).
    host: str
    # The volume backend's name (volume_backend_name); its one pool has the same name.
    backend_name: str
    # Cinder storage_availability_zone: every service's zone.
    zone: str
    # Cinder default_availability_zone: a new volume's zone when none is asked.
    default_zone: str

    @property
    def volume_host(self) -> str:
        return f"{self.host}@{self.backend_name}"

    @property
    def pool_name(self) -> str:
        return f"{self.volume_host}#{self.backend_name}"

    def service_host(self, binary: str) -> str:
        return self.volume_host if binary == VOLUME_BINARY else self.host
