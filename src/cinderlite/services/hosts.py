"""The operator's view of the services this process runs (Cinder's os-services,
os-availability-zone, scheduler-stats, capabilities and os-hosts).

One cinderlite process is Cinder's cinder-scheduler and cinder-backup (named
by the host) and one cinder-volume backend (`host@backend`, one pool
`host@backend#backend`, the volumes' file system). Each has a row in
`volume_services`; the running process stamps their heartbeat every
`report_interval` seconds, and a service whose heartbeat is older than
`service_down_time` is `down`. Disabling (or freezing) the volume service
takes its backend out of scheduling: new volumes fail as Cinder's scheduler
fails them (status `error`, a user message), and its pool is no longer listed.

Writes are single statements: a crash leaves nothing half-done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oslo_utils import strutils

from cinderlite.db import volumes as volumes_db
from cinderlite.db.models import BlockService
from cinderlite.db.services import ServiceRepository, usage_by_project, volume_usage
from cinderlite.domain import hosts as H
from cinderlite.domain.capabilities import capability_keys, unmet
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.units import Units

log = logging.getLogger("cinderlite.hosts")

GiB = 1 << 30
VENDOR_NAME = "Open Source"
DRIVER_VERSION = "1.0.0"
STORAGE_PROTOCOL = "local"
FROZEN = ("Invalid input received: Modification operations are not allowed on frozen "
          "storage backends.")


@dataclass(frozen=True)
class HostLimits:
    """The settings the service reads (made from Settings by the wiring)."""

    layout: H.HostLayout
    report_interval_seconds: float
    service_down_time_seconds: float
    max_over_subscription_ratio: float
    reserved_percentage: int


@dataclass(frozen=True)
class ServiceState:
    """A service as os-services shows it."""

    binary: str
    host: str
    zone: str
    disabled: bool
    disabled_reason: str | None
    frozen: bool
    up: bool
    updated_at: datetime | None


@dataclass(frozen=True)
class HostUsage:
    project: str
    volume_count: int
    total_volume_gb: int
    snapshot_count: int
    total_snapshot_gb: int


def _state(row: BlockService, now: datetime, down_after: float) -> ServiceState:
    """Cinder's index: the later of the heartbeat and the operator's last change."""
    updated_at = row.updated_at
    if row.modified_at is not None:
        last = row.updated_at or row.created_at
        if abs((now - last).total_seconds()) >= abs((now - row.modified_at).total_seconds()):
            updated_at = row.modified_at
    return ServiceState(
        binary=row.binary, host=row.host, zone=row.availability_zone, disabled=row.disabled,
        disabled_reason=row.disabled_reason, frozen=row.frozen,
        up=H.is_up(row.updated_at, row.created_at, now=now, down_after_seconds=down_after),
        updated_at=updated_at,
    )


def equal_after_convert(capability: object, value: str) -> bool:
    """Cinder's pool filter comparison (host_manager._equal_after_convert)."""
    if capability is None or isinstance(capability, str):
        return value == capability
    if isinstance(capability, bool):
        return capability == strutils.bool_from_string(value)
    return str(value) == str(capability)


class HostService:
    def __init__(
        self, *, units: Units, repo: ServiceRepository, policy: Policy,
        capacity: Callable[[], tuple[int, int]], limits: HostLimits,
    ) -> None:
        self._units = units
        self._repo = repo
        self._policy = policy
        self._capacity = capacity
        self._limits = limits
        self._task: asyncio.Task[None] | None = None
        # The services this process runs (H.ROLE_BINARIES by its role; `start`).
        self._binaries: tuple[str, ...] = H.BINARIES

    @property
    def layout(self) -> H.HostLayout:
        return self._limits.layout

    def _keys(self) -> list[tuple[str, str]]:
        return [(self.layout.service_host(b), b) for b in self._binaries]

    # --- the running process ----------------------------------------------------------

    async def register(self) -> None:
        """The rows of the services this process runs, stamped now."""
        now = utcnow()
        async with self._units.write() as db:
            for host, binary in self._keys():
                await self._repo.register(
                    db, host=host, binary=binary, topic=binary, zone=self.layout.zone, now=now,
                )

    async def start(self, binaries: tuple[str, ...] = H.BINARIES) -> None:
        """Register the rows of `binaries` (the services of this process's role),
        then stamp their heartbeat every report_interval until `stop`."""
        self._binaries = binaries
        await self.register()
        if self._task is None:
            self._task = asyncio.create_task(self._beat(), name="service-heartbeat")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def heartbeat(self) -> None:
        async with self._units.write() as db:
            found = await self._repo.heartbeat(db, keys=self._keys(), now=utcnow())
        if found < len(self._binaries):
            await self.register()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._limits.report_interval_seconds)
            try:
                await self.heartbeat()
            except Exception:  # a busy or lost database: the next beat tries again
                log.warning("service heartbeat failed", exc_info=True)

    # --- reads -------------------------------------------------------------------------

    async def states(self) -> list[ServiceState]:
        """Every service's row, as os-services shows it."""
        return await self._states()

    async def _states(self) -> list[ServiceState]:
        async with self._units.read() as db:
            rows = await self._repo.list(db)
        now = utcnow()
        return [_state(r, now, self._limits.service_down_time_seconds) for r in rows]

    async def list_services(
        self, caller: Caller, *, host: str | None = None, binary: str | None = None,
    ) -> list[ServiceState]:
        self._policy.authorize(caller, P.SERVICES_INDEX, {})
        return [
            s for s in await self._states()
            if (host is None or H.matches_host(s.host, host))
            and (binary is None or s.binary == binary)
        ]

    def _volume_backend(self, states: list[ServiceState]) -> ServiceState | None:
        """The volume service if the scheduler may place volumes on it: enabled,
        not frozen and up (Cinder's scheduler keeps only those backends)."""
        for s in states:
            if s.binary == H.VOLUME_BINARY and s.host == self.layout.volume_host:
                return None if s.disabled or s.frozen or not s.up else s
        return None

    def _zones(self, states: list[ServiceState]) -> list[tuple[str, bool]]:
        disabled: dict[str, bool] = {}
        for s in states:
            if s.binary == H.VOLUME_BINARY:
                disabled[s.zone] = disabled.get(s.zone, True) and s.disabled
        return [(zone, not d) for zone, d in disabled.items()]

    async def zones(self) -> list[tuple[str, bool]]:
        """(zone, available) of the volume services (Cinder list_availability_zones:
        a zone is available while one of its volume services is enabled)."""
        return self._zones(await self._states())

    async def place(self, requested: str | None) -> tuple[str, bool]:
        """(zone, whether the volume backend takes new volumes) for a new volume.

        The zone is the one asked (InvalidRequest unless a volume service is in
        it), else default_availability_zone, else storage_availability_zone."""
        states = await self._states()
        zone = requested or self.layout.default_zone or self.layout.zone
        if zone not in {name for name, _ in self._zones(states)}:
            raise InvalidRequest(f"Availability zone '{zone}' is invalid.")
        return zone, self._volume_backend(states) is not None

    async def assert_not_frozen(self) -> None:
        """Cinder's assert_not_frozen for what lives on the volume backend."""
        for s in await self._states():
            if s.binary == H.VOLUME_BINARY and s.host == self.layout.volume_host and s.frozen:
                raise InvalidRequest(FROZEN)

    async def backup_service_available(self, zone: str | None) -> bool:
        """An enabled, up cinder-backup in `zone` (Cinder backup API
        _get_any_available_backup_service)."""
        return any(s.binary == H.BACKUP_BINARY and not s.disabled and s.up
                   and (not zone or s.zone == zone) for s in await self._states())

    # --- switches ----------------------------------------------------------------------

    async def set_enabled(
        self, caller: Caller, *, host: str, binary: str, enabled: bool,
        reason: str | None = None, set_reason: bool = False,
    ) -> None:
        """enable (clears the reason), disable (keeps it), disable-log-reason (sets it)."""
        self._policy.authorize(caller, P.SERVICES_UPDATE, {})
        values: dict[str, Any] = {"disabled": not enabled}
        if enabled:
            values["disabled_reason"] = None
        elif set_reason:
            values["disabled_reason"] = reason
        async with self._units.write() as db:
            changed = await self._repo.set_values(
                db, host=host, binary=binary, now=utcnow(), **values
            )
        if not changed:
            raise NotFound(f"Service {binary} could not be found on host {host}.")

    async def set_frozen(self, caller: Caller, *, host: str, frozen: bool) -> None:
        """freeze/thaw the volume service(s) of `host` (Cinder's replication freeze:
        a frozen backend is left out of scheduling)."""
        self._policy.authorize(caller, P.FREEZE_HOST if frozen else P.THAW_HOST, {})
        volume_services = [s for s in await self._states()
                           if s.binary == H.VOLUME_BINARY and H.matches_host(s.host, host)]
        if not volume_services:
            raise InvalidRequest(f"Invalid input received: No service found with host={host}")
        changed = []
        async with self._units.write() as db:
            for s in volume_services:
                if await self._repo.set_values(
                    db, host=s.host, binary=s.binary, now=utcnow(),
                    expect={"frozen": not frozen}, frozen=frozen,
                ):
                    changed.append(s.host)
        if not changed:
            hosts = [s.host for s in volume_services]
            raise InvalidRequest(
                "Invalid input received: No service could be changed: frozen in "
                f"{hosts} must be {not frozen} to failover."
            )

    # --- capacity ------------------------------------------------------------------------

    async def _pool_capabilities(self) -> dict[str, Any]:
        total, free = await asyncio.to_thread(self._capacity)
        async with self._units.read() as db:
            count, allocated = await volume_usage(db)
        layout = self.layout
        return {
            "pool_name": layout.backend_name,
            "total_capacity_gb": round(total / GiB, 2),
            "free_capacity_gb": round(free / GiB, 2),
            "reserved_percentage": self._limits.reserved_percentage,
            "location_info": f"cinderlite:{layout.host}:{layout.backend_name}",
            "QoS_support": False,
            "provisioned_capacity_gb": allocated,
            "allocated_capacity_gb": allocated,
            "max_over_subscription_ratio": self._limits.max_over_subscription_ratio,
            "thin_provisioning_support": True,
            "thick_provisioning_support": False,
            "total_volumes": count,
            "filter_function": None,
            "goodness_function": None,
            # Volumes of a multiattach type take several attachments.
            "multiattach": True,
            "backend_state": "up",
            "volume_backend_name": layout.backend_name,
            "vendor_name": VENDOR_NAME,
            "driver_version": DRIVER_VERSION,
            "storage_protocol": STORAGE_PROTOCOL,
            "shared_targets": False,
            "sparse_copy_volume": True,
            "timestamp": utcnow().isoformat(),
        }

    async def pools(
        self, caller: Caller, *, filters: Mapping[str, str], volume_type: str | None = None,
    ) -> list[tuple[str, dict[str, Any]]]:
        """(name, capabilities) of the pools the scheduler would place volumes on:
        `name` and any capability filter as Cinder's host manager compares them;
        `volume_type` keeps the pools whose capabilities meet the type's extra specs."""
        self._policy.authorize(caller, P.GET_POOLS, {})
        specs: Mapping[str, str] | None = None
        if volume_type is not None:
            async with self._units.read() as db:
                vtype = await volumes_db.find_type(db, name_or_id=volume_type)
            if vtype is None:
                raise NotFound(f"Volume type with name {volume_type} could not be found.")
            specs = vtype.extra_specs
        if self._volume_backend(await self._states()) is None:
            return []
        name = self.layout.pool_name
        caps = await self._pool_capabilities()
        if unmet(caps, specs) is not None:
            return []
        rest = dict(filters)
        wanted_name = rest.pop("name", None)
        if wanted_name and wanted_name != name:
            return []
        if any(not equal_after_convert(caps.get(k), v) for k, v in rest.items()):
            return []
        return [(name, caps)]

    async def satisfies(self, extra_specs: Mapping[str, str] | None) -> bool:
        """Whether the volume backend's capabilities meet a type's extra specs
        (Cinder's CapabilitiesFilter; capacity is checked on its own)."""
        if not capability_keys(extra_specs):
            return True
        missing = unmet(await self._pool_capabilities(), extra_specs)
        if missing is not None:
            log.info("the volume backend does not meet extra spec %r", missing)
        return missing is None

    async def capabilities(self, caller: Caller, backend: str) -> dict[str, Any]:
        """The volume backend's static capabilities (the driver's stats)."""
        self._policy.authorize(caller, P.CAPABILITIES, {})
        found = [s for s in await self._states() if s.binary == H.VOLUME_BINARY
                 and (H.matches_host(s.host, backend) or s.host == H.backend_of(backend))]
        if not found:
            raise NotFound(f"Can't find service: {backend}")
        caps = await self._pool_capabilities()
        return {"host": found[0].host, **caps}

    # --- os-hosts ------------------------------------------------------------------------

    async def hosts(
        self, caller: Caller, *, zone: str | None = None, service: str | None = None,
    ) -> list[ServiceState]:
        """Cinder's os-hosts index: the enabled services, by zone and topic."""
        self._policy.authorize(caller, P.HOSTS, {})
        return [s for s in await self._states()
                if not s.disabled and (not zone or s.zone == zone)
                and (service is None or s.binary == service)]

    async def host_usage(self, caller: Caller, host: str) -> list[HostUsage]:
        """What the volume service on `host` holds, in total and per project."""
        self._policy.authorize(caller, P.HOSTS, {})
        volume_services = [s for s in await self._states()
                           if s.binary == H.VOLUME_BINARY and H.matches_host(s.host, host)]
        if not volume_services:
            raise NotFound(f"Service {H.VOLUME_BINARY} could not be found on host {host}.")
        async with self._units.read() as db:
            per_project = await usage_by_project(db)
        rows = [HostUsage(project, *figures) for project, figures in sorted(per_project.items())
                if figures[0] > 0]
        total = HostUsage(
            "(total)",
            sum(r.volume_count for r in rows), sum(r.total_volume_gb for r in rows),
            sum(r.snapshot_count for r in rows), sum(r.total_snapshot_gb for r in rows),
        )
        return [total, *rows]


# cinder/utils.py LOG_LEVELS: the levels set-log takes.
LOG_LEVELS = ("INFO", "WARNING", "ERROR", "DEBUG")


def log_level(text: str | None) -> int:
    """The logging level named `text` (Cinder's get_log_method), else InvalidRequest."""
    level = (text or "").upper()
    if level not in LOG_LEVELS:
        raise InvalidRequest(f"Invalid input received: {text or ''} is not a valid log level.")
    return int(getattr(logging, level))


def _loggers(prefix: str | None) -> dict[str, logging.Logger]:
    return {name: logger for name, logger in logging.root.manager.loggerDict.items()
            if name and isinstance(logger, logging.Logger) and name.startswith(prefix or "")}


@dataclass(frozen=True)
class LogLevels:
    host: str
    binary: str
    levels: dict[str, str]


class LogService:
    """os-services set-log/get-log (3.32). Every service listed runs in this
    process, so they share its loggers: a level set for one is set for all."""

    def __init__(self, *, hosts: HostService, policy: Policy) -> None:
        self._hosts = hosts
        self._policy = policy

    async def _targets(self, binary: str | None, server: str | None) -> list[tuple[str, str]]:
        """(host, binary) of the services a request names (Cinder's
        _log_params_binaries_services: cinder-api, and the services that are up)."""
        if binary == H.API_BINARY:
            binaries: tuple[str, ...] = (H.API_BINARY,)
        elif binary in (None, "", "*"):
            binaries = H.LOG_BINARIES
        else:
            binaries = (binary,)
        found = [(s.host, s.binary) for s in await self._hosts.states()
                 if s.up and s.binary in binaries
                 and (not server or H.matches_host(s.host, server))]
        layout = self._hosts.layout
        if H.API_BINARY in binaries and (not server or server == layout.host):
            found.insert(0, (layout.host, H.API_BINARY))
        return found

    async def set_levels(self, caller: Caller, *, binary: str | None, server: str | None,
                         prefix: str | None, level: str | None) -> None:
        self._policy.authorize(caller, P.SERVICES_UPDATE, {})
        value = log_level(level)
        if await self._targets(binary, server):
            for logger in _loggers(prefix).values():
                logger.setLevel(value)

    async def get_levels(self, caller: Caller, *, binary: str | None, server: str | None,
                         prefix: str | None) -> list[LogLevels]:
        self._policy.authorize(caller, P.SERVICES_UPDATE, {})
        levels = {name: logging.getLevelName(logger.getEffectiveLevel())
                  for name, logger in sorted(_loggers(prefix).items())}
        return [LogLevels(host, b, dict(levels)) for host, b in
                await self._targets(binary, server)]


def default_host_name() -> str:
    """Cinder's [DEFAULT] host default: the machine's host name."""
    return os.uname().nodename or "localhost"
