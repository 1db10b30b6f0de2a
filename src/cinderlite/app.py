"""create_*_app(runtime): the only place that wires things together.

One Runtime (engine, stores, policy, token validator, job runner) is shared by
the three ASGI apps: identity (Keystone v3), volume (Cinder) and image (Glance v2).

`serve` runs a process by role: `all` (the three APIs and the job workers, with
start-up recovery: one process serves everything), `api` (the APIs only; jobs
it queues are claimed by worker processes), `worker` (start-up recovery and the
job workers, no HTTP). `serve_api_processes` runs N `api` processes on the
same ports (SO_REUSEPORT: the kernel spreads connections over them).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.responses import Response

from cinderlite.api.faults import cinder_fault, glance_error, keystone_error
from cinderlite.api.identity.deps import IdentityApi
from cinderlite.api.image.routes import ImageApi
from cinderlite.api.middleware import RequestIdMiddleware
from cinderlite.api.protocol import TIMEOUT_MESSAGE
from cinderlite.api.requests import BAD_TEXT, TextGuardMiddleware
from cinderlite.api.volume.context import VolumeApi
from cinderlite.cloud.glance import Glance
from cinderlite.cloud.keystone import Keystone, ServiceUser
from cinderlite.config import Settings
from cinderlite.datapath.qemu import QemuLimits
from cinderlite.db import migrate
from cinderlite.db.backups import BACKUP_JOB, RESTORE_JOB, BackupRepository
from cinderlite.db.catalog import CatalogRepository
from cinderlite.db.database import Database
from cinderlite.db.fastread import SqliteReader, sqlite_path
from cinderlite.db.generations import TOKENS, GenerationRepository
from cinderlite.db.group_types import GroupTypeRepository
from cinderlite.db.groups import GroupRepository, GroupSnapshotRepository
from cinderlite.db.identity import IdentityRepository
from cinderlite.db.image_tasks import ImageTaskRepository
from cinderlite.db.images import ImageRepository
from cinderlite.db.jobs import JobRepository
from cinderlite.db.qos_specs import QosSpecRepository
from cinderlite.db.quotas import QuotaRepository
from cinderlite.db.services import ServiceRepository
from cinderlite.db.session import use_batch_scheduling
from cinderlite.db.snapshots import SNAPSHOT_JOB, SnapshotRepository
from cinderlite.db.transfers import TransferRepository
from cinderlite.db.volume_types import VolumeTypeRepository
from cinderlite.db.volumes import VolumeRepository
from cinderlite.domain import hosts as H
from cinderlite.domain.errors import DependencyUnavailable, ServiceError
from cinderlite.domain.hosts import HostLayout
from cinderlite.domain.image_import import COPY_IMAGE, ImportFilter, normalize_host
from cinderlite.domain.image_import import SUPPORTED_METHODS as SUPPORTED_IMPORT_METHODS
from cinderlite.services import identity
from cinderlite.services.attachments import AttachmentService
from cinderlite.services.auth import EmbeddedTokenValidator, RevocationNotice, TokenValidator
from cinderlite.services.backup_records import BackupRecords
from cinderlite.services.backups import BackupService
from cinderlite.services.catalog import CatalogService
from cinderlite.services.extend_completion import ExtendCompletionService
from cinderlite.services.group_replication import GroupReplicationService
from cinderlite.services.group_snapshots import GroupSnapshotService
from cinderlite.services.group_types import GroupTypeService
from cinderlite.services.groups import GroupService
from cinderlite.services.hosts import HostLimits, HostService, LogService, default_host_name
from cinderlite.services.identity import IdentityService
from cinderlite.services.identity_admin import IdentityAdminService
from cinderlite.services.image_cache import CacheSettings, ImageCacheService
from cinderlite.services.image_import import IMPORT_JOB, ImageImportService, ImportSettings
from cinderlite.services.image_locations import LOCATION_JOB, ImageLocationService
from cinderlite.services.image_members import ImageMemberService
from cinderlite.services.images import ImageService, LocationOptions
from cinderlite.services.messages import MessageService
from cinderlite.services.metadefs import MetadefService
from cinderlite.services.policy import Policy
from cinderlite.services.qos_specs import QosSpecService
from cinderlite.services.quotas import QuotaService
from cinderlite.services.reimage import REIMAGE_JOB, ReimageService
from cinderlite.services.retype import RetypeService
from cinderlite.services.snapshots import SnapshotService
from cinderlite.services.transfers import TransferService
from cinderlite.services.upload_worker import UploadWorker, WorkerLimits
from cinderlite.services.uploads import UploadLimits, UploadService
from cinderlite.services.volume_actions import VolumeActionService
from cinderlite.services.volume_types import VolumeTypeService
from cinderlite.services.volumes import CLONE_JOB, FILL_JOB, VolumeLimits, VolumeService
from cinderlite.storage.backups.base import BackupStore
from cinderlite.storage.images.base import ImageStore
from cinderlite.storage.images.cache import ImageCache
from cinderlite.storage.images.stores import ImageStores
from cinderlite.storage.private import private_dir, tighten, tighten_files
from cinderlite.storage.volumes.base import VolumeBackend
from cinderlite.workers.runner import JobRunner

log = logging.getLogger("cinderlite")
T = TypeVar("T")

ROLES = ("all", "api", "worker")


@dataclass(frozen=True)
class Services:
    """The use cases, built once per process by `open_runtime`."""

    volumes: VolumeService
    snapshots: SnapshotService
    backups: BackupService
    backup_records: BackupRecords
    transfers: TransferService
    actions: VolumeActionService
    uploads: UploadService
    upload_worker: UploadWorker
    images: ImageService
    image_cache: ImageCacheService
    image_imports: ImageImportService
    image_locations: ImageLocationService
    image_members: ImageMemberService
    metadefs: MetadefService
    messages: MessageService
    identity: IdentityService
    identity_admin: IdentityAdminService
    catalog: CatalogService
    attachments: AttachmentService
    reimage: ReimageService
    extend_completion: ExtendCompletionService
    group_types: GroupTypeService
    volume_types: VolumeTypeService
    retype: RetypeService
    qos_specs: QosSpecService
    groups: GroupService
    group_snapshots: GroupSnapshotService
    group_replication: GroupReplicationService
    quotas: QuotaService
    hosts: HostService


@dataclass
class Runtime:
    """What the wiring built for one process: started and stopped by `serve`,
    `cinderlite worker` and the tests. Services and APIs never see it: each gets
    the narrow parts it needs, handed over in `open_runtime`."""

    settings: Settings
    db: Database
    validator: TokenValidator
    policy: Policy
    volumes: VolumeBackend
    # The default image store (the one store without image_stores), and them all.
    images: ImageStore
    image_stores: ImageStores
    jobs: JobRunner
    services: Services
    identity_api: IdentityApi
    volume_api: VolumeApi
    image_api: ImageApi

    # Shortcuts for tests and start-up code that work on the database directly.
    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.db.sessionmaker

    @property
    def reader(self) -> SqliteReader | None:
        return self.db.reader

    def transaction(self) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
        return self.db.write()

    async def run_in_transaction(self, fn: Callable[[Session], T]) -> T:
        return await self.db.run(fn)

    async def run_read(self, fn: Callable[[Session], T]) -> T:
        return await self.db.run_read(fn)


def _import_settings(s: Settings) -> ImportSettings:
    def ports(values: tuple[str, ...], name: str) -> tuple[int, ...]:
        try:
            parsed = tuple(int(v) for v in values)
        except ValueError:
            raise ValueError(f"{name}: ports must be integers, got {values!r}") from None
        if any(not 1 <= p <= 65535 for p in parsed):
            raise ValueError(f"{name}: ports must be between 1 and 65535")
        return parsed

    unknown = [m for m in s.enabled_import_methods if m not in SUPPORTED_IMPORT_METHODS]
    if unknown:
        raise ValueError(f"enabled_import_methods: not served: {', '.join(unknown)}")
    return ImportSettings(
        # copy-image copies between stores: not offered with one store.
        methods=tuple(
            m for m in s.enabled_import_methods if m != COPY_IMAGE or s.image_stores
        ),
        import_filter=ImportFilter(
            allowed_schemes=tuple(x.lower() for x in s.import_allowed_schemes),
            disallowed_schemes=tuple(x.lower() for x in s.import_disallowed_schemes),
            allowed_hosts=tuple(normalize_host(x) or x for x in s.import_allowed_hosts),
            disallowed_hosts=tuple(normalize_host(x) or x for x in s.import_disallowed_hosts),
            allowed_ports=ports(s.import_allowed_ports, "import_allowed_ports"),
            disallowed_ports=ports(s.import_disallowed_ports, "import_disallowed_ports"),
            private_networks=tuple(s.import_private_networks),
        ),
        size_cap=s.image_size_cap, stage_host=s.image_url(),
        fetch_timeout=s.import_fetch_timeout_seconds, task_ttl_hours=s.task_time_to_live,
    )


def _services(
    settings: Settings, db: Database, policy: Policy, backend: VolumeBackend,
    store: ImageStores, jobs: JobRunner, backup_store: BackupStore, staging: ImageStore,
    cache: ImageCache | None = None,
) -> Services:
    """Every service with the narrow things it needs; the settings are read here only."""
    s = settings
    volume_repo = VolumeRepository(db)
    qos_repo = QosSpecRepository(db)
    identity_repo = IdentityRepository()
    qemu_limits = QemuLimits(
        cpu_seconds=s.qemu_img_cpu_limit, address_space=s.qemu_img_address_space_limit
    )
    quotas = QuotaService(db, QuotaRepository(db), policy, defaults={
        "volumes": s.quota_volumes, "snapshots": s.quota_snapshots,
        "gigabytes": s.quota_gigabytes, "backups": s.quota_backups,
        "backup_gigabytes": s.quota_backup_gigabytes,
        "per_volume_gigabytes": s.per_volume_size_limit, "groups": s.quota_groups,
    })
    hosts = HostService(
        units=db, repo=ServiceRepository(), policy=policy, capacity=backend.capacity,
        limits=HostLimits(
            layout=HostLayout(
                host=s.service_host or default_host_name(), backend_name=s.volume_backend_name,
                zone=s.storage_availability_zone, default_zone=s.default_availability_zone,
            ),
            report_interval_seconds=s.report_interval,
            service_down_time_seconds=s.service_down_time,
            max_over_subscription_ratio=s.max_over_subscription_ratio,
            reserved_percentage=s.reserved_percentage,
        ),
    )
    images = ImageService(
        units=db, repo=ImageRepository(db), job_repo=JobRepository(db), store=store,
        jobs=jobs, size_cap=s.image_size_cap, staging=staging,
        locations=LocationOptions(
            show_multiple_locations=s.show_multiple_locations,
            show_image_direct_url=s.show_image_direct_url,
        ),
        cache=cache,
    )
    snapshot_repo = SnapshotRepository(db)
    snapshots = SnapshotService(
        units=db, repo=snapshot_repo, backend=backend, policy=policy, jobs=jobs,
        message_ttl_seconds=s.message_ttl_seconds, hosts=hosts,
    )
    group_repo = GroupRepository(db)
    group_type_repo = GroupTypeRepository(db)
    group_snapshot_repo = GroupSnapshotRepository(db)
    volumes = VolumeService(
        database=db, repo=volume_repo, backend=backend, store=store, policy=policy, jobs=jobs,
        snapshots=snapshots, groups=group_repo, hosts=hosts,
        limits=VolumeLimits(
            max_over_subscription_ratio=s.max_over_subscription_ratio,
            reserved_percentage=s.reserved_percentage,
            message_ttl_seconds=s.message_ttl_seconds,
            image_conversion_disable=s.image_conversion_disable,
            allow_compression_on_image_upload=s.allow_compression_on_image_upload,
            vmdk_allowed_types=tuple(s.vmdk_allowed_types),
            qemu=qemu_limits,
        ),
    )
    groups = GroupService(
        units=db, repo=group_repo, types=group_type_repo, snapshots=group_snapshot_repo,
        volumes=volumes, policy=policy, jobs=jobs, quotas=quotas,
    )
    group_snapshots = GroupSnapshotService(
        units=db, repo=group_snapshot_repo, groups=group_repo, snapshot_repo=snapshot_repo,
        snapshots=snapshots, policy=policy, jobs=jobs, quotas=quotas,
    )
    # A clone job settles the group it makes a member of; a snapshot job, its
    # group snapshot.
    volumes.member_settled = groups.member_settled
    volumes.quotas = quotas
    snapshots.quotas = quotas
    snapshots.member_settled = group_snapshots.settle
    transfers = TransferService(
        units=db, repo=TransferRepository(db), volumes=volume_repo, policy=policy,
    )
    transfers.quotas = quotas
    type_repo = VolumeTypeRepository(db)
    volume_types = VolumeTypeService(units=db, repo=type_repo, policy=policy)
    image_imports = ImageImportService(
        units=db, images=images, repo=ImageRepository(db), tasks=ImageTaskRepository(),
        job_repo=JobRepository(db), store=store, staging=staging, jobs=jobs,
        settings=_import_settings(s),
    )
    return Services(
        quotas=quotas,
        volume_types=volume_types,
        qos_specs=QosSpecService(units=db, repo=qos_repo, types=type_repo, policy=policy),
        retype=RetypeService(
            units=db, types=volume_types, policy=policy, quotas=quotas, hosts=hosts,
            qos=qos_repo,
        ),
        group_types=GroupTypeService(
            units=db, repo=group_type_repo, policy=policy,
            default_name=s.default_group_type or None,
        ),
        groups=groups,
        group_snapshots=group_snapshots,
        group_replication=GroupReplicationService(
            units=db, groups=groups, repo=group_repo, types=group_type_repo, policy=policy,
        ),
        volumes=volumes,
        snapshots=snapshots,
        backups=BackupService(
            units=db, repo=BackupRepository(db), snapshots=snapshot_repo, volumes=volumes,
            backend=backend, store=backup_store, policy=policy, jobs=jobs,
            message_ttl_seconds=s.message_ttl_seconds, hosts=hosts,
        ),
        backup_records=BackupRecords(
            units=db, repo=BackupRepository(db), store=backup_store, policy=policy,
            quotas=quotas, availability_zone=s.storage_availability_zone,
        ),
        # Every transfer step is one transaction: nothing for `recover` to mend.
        transfers=transfers,
        actions=VolumeActionService(
            units=db, repo=volume_repo, volumes=volumes, backend=backend, policy=policy,
            snapshots=snapshots, qos=qos_repo,
        ),
        uploads=UploadService(
            database=db, repo=volume_repo, backend=backend, store=store, policy=policy,
            jobs=jobs,
            limits=UploadLimits(
                allow_compression=s.allow_compression_on_image_upload,
                image_size_cap=s.image_size_cap,
                core_properties=tuple(s.glance_core_properties),
                reserved_namespaces=tuple(s.reserved_image_namespaces),
            ),
        ),
        upload_worker=UploadWorker(
            database=db, repo=volume_repo, backend=backend, store=store, jobs=jobs,
            recorded_store=store.default_id if store.multi else None,
            limits=WorkerLimits(
                image_conversion_disable=s.image_conversion_disable,
                image_compress_on_upload=s.image_compress_on_upload,
                qcow2_compression_type=s.qcow2_compression_type,
                native_conversion=s.native_conversion,
                qemu=qemu_limits,
                message_ttl_seconds=s.message_ttl_seconds,
            ),
        ),
        images=images,
        image_cache=ImageCacheService(
            images=images, repo=ImageRepository(db), cache=cache,
            settings=CacheSettings(
                max_size=s.image_cache_max_size, stall_time=s.image_cache_stall_time,
            ),
        ),
        image_imports=image_imports,
        image_locations=ImageLocationService(
            units=db, images=images, imports=image_imports, repo=ImageRepository(db),
            tasks=ImageTaskRepository(), store=store, jobs=jobs, size_cap=s.image_size_cap,
        ),
        image_members=ImageMemberService(units=db, repo=ImageRepository(db)),
        metadefs=MetadefService(units=db),
        messages=MessageService(db, policy),
        identity=IdentityService(
            units=db, repo=identity_repo, token_lifetime_seconds=s.token_lifetime_seconds
        ),
        identity_admin=IdentityAdminService(units=db, repo=identity_repo),
        catalog=CatalogService(units=db, repo=CatalogRepository()),
        attachments=AttachmentService(
            units=db, volumes=volumes, backend=backend, policy=policy, qos=qos_repo,
        ),
        reimage=ReimageService(
            database=db, volumes=volumes, snapshots=snapshots, backend=backend, policy=policy,
            jobs=jobs, message_ttl_seconds=s.message_ttl_seconds,
        ),
        extend_completion=ExtendCompletionService(
            database=db, volumes=volumes, backend=backend, policy=policy,
            message_ttl_seconds=s.message_ttl_seconds,
        ),
        hosts=hosts,
    )


def image_stores(settings: Settings) -> ImageStores:
    """The image stores the operator configured (`image_stores`), or the one store
    in data_dir/images; their directories are made (private) here."""
    from cinderlite.storage.images.files import FileImageStore
    from cinderlite.storage.images.stores import SINGLE_STORE_ID, StoreInfo, parse_store_config

    if not settings.image_stores:
        if settings.default_image_store:
            raise ValueError("default_image_store needs image_stores")
        infos = [StoreInfo(id=SINGLE_STORE_ID, path=settings.images_dir)]
        default, multi = SINGLE_STORE_ID, False
    else:
        infos, default = parse_store_config(
            settings.image_stores, default=settings.default_image_store,
            descriptions=settings.image_store_descriptions,
            weights=settings.image_store_weights,
        )
        multi = True
        taken = {
            os.path.realpath(d): name for name, d in (
                ("the import staging area", settings.staging_dir),
                ("the volumes", settings.volumes_dir), ("the backups", settings.backups_dir),
            )
        }
        for info in infos:
            if os.path.realpath(info.path) in taken:
                raise ValueError(f"image_stores: store {info.id!r} is in the directory of "
                                 f"{taken[os.path.realpath(info.path)]}")
    stores = {info.id: FileImageStore(info.path) for info in infos}
    return ImageStores(stores, infos, default=default, multi=multi)


def image_cache(settings: Settings, store: ImageStores) -> ImageCache | None:
    """This node's image cache (image_cache_dir), or None when none is configured.
    The directory must be the cache's own: clearing the cache removes the files
    named like image ids in it."""
    s = settings
    if s.image_cache_max_size < 0 or s.image_cache_stall_time < 0:
        raise ValueError("image_cache_max_size and image_cache_stall_time must not be negative")
    if not s.image_cache_dir:
        return None
    if s.joined:
        raise ValueError("image_cache_dir cannot be set when joined to a cloud "
                         "(keystone_url): images are the cloud's Glance's")
    taken = {
        os.path.realpath(d): name for name, d in (
            ("the data directory", s.data_dir), ("the import staging area", s.staging_dir),
            ("the volumes", s.volumes_dir), ("the backups", s.backups_dir),
            *((f"image store {info.id!r}", info.path) for info in store.infos),
        )
    }
    where = os.path.realpath(s.image_cache_dir)
    if where in taken:
        raise ValueError(f"image_cache_dir: {s.image_cache_dir} is the directory of "
                         f"{taken[where]}: the cache needs a directory of its own")
    return ImageCache(Path(s.image_cache_dir))


def _cloud(settings: Settings) -> tuple[Keystone | None, Glance | None]:
    """The cloud's Keystone and Glance when joined (keystone_url set), else None, None."""
    if not settings.joined:
        return None, None
    s = settings
    keystone = Keystone(ServiceUser(
        auth_url=s.keystone_url, username=s.keystone_service_user,
        password=s.keystone_service_password, project_name=s.keystone_service_project,
        user_domain_name=s.keystone_service_user_domain,
        project_domain_name=s.keystone_service_project_domain,
    ))
    found: list[str] = [s.glance_url] if s.glance_url else []

    async def glance_url() -> str:
        # Cinder's glance_catalog_info: the image service of the service user's
        # catalog, looked up once it is first needed.
        if not found:
            url = await keystone.endpoint("image", s.glance_interface)
            if url is None:
                raise DependencyUnavailable(
                    "image", f"no image service at interface {s.glance_interface} in the "
                    "catalog of the cloud's Keystone, and no glance_url setting"
                )
            found.append(url)
        return found[0]

    glance = Glance(
        url=glance_url, service_token=keystone.service_token,
        timeout=s.glance_request_timeout_seconds,
    )
    return keystone, glance


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, run_migrations: bool = True, shared: bool = False,
    role: str = "all",
) -> AsyncIterator[Runtime]:
    """Create directories, migrate the database, and build every shared object.

    `shared`: other processes serve the same APIs (role `api`, several
    processes or machines), so the token cache checks the database's
    revocation counter on every request (services/auth.py). `role` says which
    services' rows the process keeps up (domain/hosts.ROLE_BINARIES).
    """
    from cinderlite.storage.backups.files import FileBackupStore
    from cinderlite.storage.images.files import FileImageStore
    from cinderlite.storage.images.glance import GlanceImageStore
    from cinderlite.storage.volumes.files import FileVolumeBackend

    identity.configure_password_hashing(
        time_cost=settings.argon2_time_cost, memory_kib=settings.argon2_memory_kib
    )
    for directory in (
        settings.data_dir, settings.volumes_dir, settings.images_dir, settings.backups_dir,
        settings.staging_dir,
    ):
        private_dir(directory)
    store = image_stores(settings)
    url = settings.resolved_database_url
    if run_migrations:
        await migrate.upgrade(url)
    # Files made before modes were kept private (or under a loose umask), the
    # SQLite database and its -wal/-shm among them (SQLite gives those the
    # database's mode).
    changed = await asyncio.to_thread(tighten, settings.data_dir)
    db_file = sqlite_path(url)
    if db_file is not None:  # the database may live outside data_dir
        changed += await asyncio.to_thread(tighten_files, db_file, "-wal", "-shm")
    if changed:
        log.info("made %d files and directories under %s private (0600/0700)", changed,
                 settings.data_dir)
    async with Database.open(url) as db:
        policy = Policy(settings.policy_file or None)
        backend = FileVolumeBackend(settings.volumes_dir)
        keystone, glance = _cloud(settings)
        if glance is not None:
            # Joined to a cloud: images are its Glance's (one store, no image_stores).
            from cinderlite.storage.images.stores import SINGLE_STORE_ID, StoreInfo

            if settings.image_stores:
                raise ValueError("image_stores cannot be set when joined to a cloud "
                                 "(keystone_url): images are the cloud's Glance's")
            store = ImageStores(
                {SINGLE_STORE_ID: GlanceImageStore(settings.images_dir, glance)},
                [StoreInfo(id=SINGLE_STORE_ID, path=settings.images_dir)],
                default=SINGLE_STORE_ID, multi=False,
            )
        jobs = JobRunner(
            JobRepository(db), workers=settings.upload_workers,
            lease_seconds=settings.job_lease_seconds,
        )
        backup_store = FileBackupStore(
            settings.backups_dir, chunk_size=settings.backup_chunk_size,
            compression=settings.backup_compression_algorithm,
            workers=settings.backup_workers,
        )
        staging = FileImageStore(settings.staging_dir)
        # The image cache is the API node's (workers serve no downloads).
        cache = image_cache(settings, store) if role != "worker" else None
        services = _services(
            settings, db, policy, backend, store, jobs, backup_store, staging, cache
        )
        validator = (
            EmbeddedTokenValidator(
                services.identity, notice=RevocationNotice(settings.data_dir / "revoked"),
                generations=GenerationRepository(db, TOKENS), check_generations=shared,
            ) if keystone is None
            # keystonemiddleware's auth_token: the cloud's Keystone behind the same
            # bounded cache (a revoked token is refused within cache_seconds).
            else EmbeddedTokenValidator(
                keystone, cache_seconds=settings.keystone_token_cache_seconds,
            )
        )
        jobs.register("upload", services.upload_worker.run)
        jobs.register(FILL_JOB, services.volumes.run_fill)
        jobs.register(CLONE_JOB, services.volumes.run_clone)
        jobs.register(REIMAGE_JOB, services.reimage.run_reimage)
        jobs.register(SNAPSHOT_JOB, services.snapshots.run_copy)
        jobs.register(BACKUP_JOB, services.backups.run_backup)
        jobs.register(RESTORE_JOB, services.backups.run_restore)
        jobs.register(IMPORT_JOB, services.image_imports.run)
        jobs.register(LOCATION_JOB, services.image_locations.run)
        limit = settings.max_request_body_bytes
        rt = Runtime(
            settings=settings, db=db, validator=validator, policy=policy, volumes=backend,
            images=store.default, image_stores=store, jobs=jobs, services=services,
            identity_api=IdentityApi(
                identity=services.identity, admin=services.identity_admin,
                catalog=services.catalog, validator=validator,
                identity_url=settings.identity_url(), max_request_body_bytes=limit,
            ),
            volume_api=VolumeApi(
                volumes=services.volumes, snapshots=services.snapshots,
                backups=services.backups, actions=services.actions,
                uploads=services.uploads, attachments=services.attachments,
                reimage=services.reimage, extend_completion=services.extend_completion,
                transfers=services.transfers, group_types=services.group_types,
                groups=services.groups, group_snapshots=services.group_snapshots,
                group_replication=services.group_replication,
                backup_records=services.backup_records, messages=services.messages,
                quotas=services.quotas, hosts=services.hosts,
                logs=LogService(hosts=services.hosts, policy=policy),
                volume_types=services.volume_types, retype=services.retype,
                qos_specs=services.qos_specs, validator=validator,
                identity_url=settings.identity_url(), volume_url=settings.volume_url(),
                max_request_body_bytes=limit, enable_force_upload=settings.enable_force_upload,
            ),
            image_api=ImageApi(
                images=services.images, validator=validator,
                identity_url=settings.identity_url(), image_url=settings.image_url(),
                max_request_body_bytes=limit, members=services.image_members,
                imports=services.image_imports,
                metadefs=services.metadefs, locations=services.image_locations,
                cache=services.image_cache,
            ),
        )
        # The services' rows and their heartbeat live as long as the runtime.
        await services.hosts.start(H.ROLE_BINARIES[role])
        try:
            yield rt
        finally:
            await services.image_cache.stop()
            if cache is not None:
                cache.close()
            await services.hosts.stop()
            await jobs.stop()
            if glance is not None:
                await glance.aclose()


def _build(
    api: object,
    *,
    title: str,
    router: Any,
    render_error: Callable[[Request, ServiceError], Response],
    render_status: Callable[[Request, int, str], Response],
    render_500: Callable[[], Response],
    compute_id: bool = False,
    redirect_slashes: bool = True,
) -> FastAPI:
    app = FastAPI(title=title, openapi_url=None, docs_url=None, redoc_url=None,
                  redirect_slashes=redirect_slashes)
    app.state.api = api
    app.include_router(router)

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        return render_error(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return render_status(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return render_status(request, 400, f"Invalid input for {where}: {first.get('msg', '')}")

    app.add_middleware(
        TextGuardMiddleware,
        reject=lambda scope: render_status(Request(scope), 400, BAD_TEXT),
    )
    app.add_middleware(RequestIdMiddleware, render_500=render_500, compute_id=compute_id)
    return app


def create_identity_app(rt: Runtime) -> FastAPI:
    from cinderlite.api.identity import routes

    return _build(
        rt.identity_api,
        title="cinderlite identity",
        router=routes.router,
        render_error=routes.render_error,
        render_status=routes.render_status,
        render_500=routes.render_500,
    )


def create_volume_app(rt: Runtime) -> Starlette:
    """The volume API routes everything through one dispatcher (Cinder's order of
    checks, cinder/api/openstack/wsgi.py), so it runs on plain Starlette: FastAPI's extra middleware
    layers would only add cost to the hottest path of the service."""
    from cinderlite.api.volume import routes

    async def _service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceError)
        return routes.render_error(request, exc)

    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return routes.render_status(request, exc.status_code, str(exc.detail))

    app = Starlette(
        routes=list(routes.router.routes),
        exception_handlers={ServiceError: _service_error, StarletteHTTPException: _http_error},
        middleware=[
            Middleware(RequestIdMiddleware, render_500=routes.render_500, compute_id=True),
            Middleware(
                TextGuardMiddleware,
                reject=lambda scope: routes.render_status(Request(scope), 400, BAD_TEXT),
            ),
        ],
    )
    app.state.api = rt.volume_api
    return app


def create_image_app(rt: Runtime) -> FastAPI:
    from cinderlite.api.image import cache, imports, locations, members, metadefs, routes

    router = APIRouter()
    router.include_router(routes.router)
    router.include_router(cache.router)
    router.include_router(members.router)
    router.include_router(imports.router)
    router.include_router(locations.router)
    router.include_router(metadefs.router)
    return _build(
        rt.image_api,
        title="cinderlite image",
        router=router,
        render_error=routes.render_error,
        render_status=routes.render_status,
        render_500=routes.render_500,
        # Glance's mapper knows no `/v2/images/`: 404, not a redirect to the list.
        redirect_slashes=False,
    )


class _Server:
    """A uvicorn server that leaves signal handling to `serve`, with the request
    deadlines of api/protocol.py (`timeout` renders its 408 in the API's format)."""

    def __init__(
        self, app: Starlette, settings: Settings, port: int, timeout: Response,
        *, reuse_port: bool = False,
    ) -> None:
        import uvicorn

        from cinderlite.api.protocol import protocol_class

        config = uvicorn.Config(
            app,
            host=settings.host,
            port=port,
            lifespan="off",
            access_log=False,
            log_level=settings.log_level.lower(),
            loop="uvloop",
            http=protocol_class(
                header_timeout=settings.request_header_timeout_seconds,
                body_idle_timeout=settings.request_body_idle_timeout_seconds,
                timeout_body=bytes(timeout.body),
                timeout_content_type=(timeout.media_type or "application/json").encode(),
            ),
            timeout_keep_alive=75,
            backlog=2048,
        )
        self.server = uvicorn.Server(config)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._socket = _reuse_port_socket(settings.host, port) if reuse_port else None

    async def serve(self) -> None:
        await self.server.serve(sockets=[self._socket] if self._socket is not None else None)

    def stop(self) -> None:
        self.server.should_exit = True


async def serve(
    settings: Settings, *, on_ready: Callable[[Runtime], Any] | None = None,
    role: str = "all", reuse_port: bool = False, run_migrations: bool = True,
) -> None:
    """Run the process's `role` (ROLES) until SIGINT/SIGTERM: `all` the three APIs
    and the job runner, `api` the APIs only, `worker` the job runner only."""
    import concurrent.futures
    import os
    import signal

    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    # `to_thread` work (file-system calls, password hashing) must not preempt
    # the event loop thread when it is handed over (see use_batch_scheduling).
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(
            max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="asyncio",
            initializer=use_batch_scheduling,
        )
    )
    shared = role != "all" or reuse_port
    async with open_runtime(
        settings, run_migrations=run_migrations, shared=shared, role=role
    ) as rt:
        if on_ready is not None:
            await on_ready(rt)
        loop = asyncio.get_running_loop()
        if role == "worker":
            # Recovery mends what a crash left (its steps are idempotent and act
            # only on rows no live job holds), then the workers claim jobs.
            await recover(rt, catalog=False)
            await rt.jobs.start()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info("running job workers (%d), no HTTP", settings.upload_workers)
            await stop.wait()
            return
        if role == "all":
            await recover(rt)
            await rt.jobs.start()
        else:
            # The catalog follows this process's settings; the rest of recovery,
            # like the jobs, belongs to the workers.
            await sync_catalog(rt)
        if not settings.joined:
            # Images queued for this node's cache by a previous run (services/image_cache.py).
            await rt.services.image_cache.start()
        servers = [
            _Server(create_volume_app(rt), settings, settings.volume_port,
                    cinder_fault(408, TIMEOUT_MESSAGE), reuse_port=reuse_port),
        ]
        if not settings.joined:
            # Joined to a cloud, identity and images are that cloud's Keystone and
            # Glance: the built-in APIs are not served (docs/cloud.md).
            servers += [
                _Server(create_identity_app(rt), settings, settings.identity_port,
                        keystone_error(408, TIMEOUT_MESSAGE), reuse_port=reuse_port),
                _Server(create_image_app(rt), settings, settings.image_port,
                        glance_error(408, TIMEOUT_MESSAGE), reuse_port=reuse_port),
            ]
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, functools.partial(_stop_all, servers))
        if settings.joined:
            log.info(
                "serving block storage on %s, joined to the cloud of Keystone %s "
                "(images: %s; role %s)",
                settings.volume_url(), settings.identity_url(),
                settings.glance_url or f"the catalog's, {settings.glance_interface} interface",
                role,
            )
        else:
            log.info(
                "serving identity on %s, block storage on %s, image on %s (role %s)",
                settings.identity_url(),
                settings.volume_url(),
                settings.image_url(),
                role,
            )
        # What start-up built (modules, apps, policy rules) lives as long as the
        # process: take it out of the collector's sight. Otherwise each full
        # collection walks some 150k objects (60-90 ms on a 2-core machine) and, with
        # 64 requests in flight promoting their objects, runs several times a second:
        # that pause was the p90/p99 of every API.
        gc.collect()
        gc.freeze()
        await asyncio.gather(*(s.serve() for s in servers))


def _api_process(settings: Settings) -> None:
    """One of `serve_api_processes`' children (a fresh interpreter: spawn)."""
    import logging as _logging
    import sys

    _logging.basicConfig(
        level=getattr(_logging, settings.log_level.upper(), _logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    asyncio.run(serve(settings, role="api", reuse_port=True, run_migrations=False))


def serve_api_processes(
    settings: Settings, processes: int, *, on_ready: Callable[[Runtime], Any] | None = None
) -> int:
    """`processes` API processes on the same ports; returns when they have ended.

    This process migrates the database and runs `on_ready` once, then starts the
    children and waits. SIGTERM/SIGINT are passed on. A child that dies on its
    own ends the others too (exit status 1), so the service manager (systemd's
    Restart=) starts the set again rather than running short of a process.
    """
    import multiprocessing
    import signal
    import time

    async def prepare() -> None:
        async with open_runtime(settings) as rt:
            await sync_catalog(rt)
            if on_ready is not None:
                await on_ready(rt)

    asyncio.run(prepare())
    ctx = multiprocessing.get_context("spawn")
    children = [
        ctx.Process(target=_api_process, args=(settings,), name=f"cinderlite-api-{i}")
        for i in range(processes)
    ]
    stopping = False

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.pid is not None and child.exitcode is None:
                os.kill(child.pid, signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.start()
        log.info("started %d API processes", processes)
        while any(child.exitcode is None for child in children):
            if not stopping and any(child.exitcode is not None for child in children):
                log.error("an API process ended on its own; stopping the others")
                stop(signal.SIGTERM, None)
                for child in children:
                    child.join(30)
                return 1
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if all(child.exitcode == 0 for child in children) else 1


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other processes may bind too (SO_REUSEPORT): the
    kernel spreads new connections over every process listening on the port."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock


def _stop_all(servers: list[_Server]) -> None:
    for s in servers:
        s.stop()


async def sync_catalog(rt: Runtime) -> None:
    """The built-in catalog entries follow the configured host and ports (services/catalog.py)."""
    from cinderlite.services.catalog import builtin_services

    s = rt.settings
    if s.joined:
        return  # the catalog is the cloud's Keystone's
    builtin = builtin_services(
        identity_url=s.identity_url(), volume_url=s.volume_url(), image_url=s.image_url()
    )
    await rt.services.catalog.sync_builtin(builtin, s.region)


async def recover(rt: Runtime, *, catalog: bool = True) -> None:
    """Start-up recovery of state a crash may have left (see services/*.recover);
    with `catalog`, the built-in catalog entries too (an API's settings)."""
    from cinderlite.datapath.orphans import kill_orphaned_qemu_img
    # First: nothing may go on writing into files the steps below remove.
    await asyncio.to_thread(kill_orphaned_qemu_img, rt.settings.data_dir)
    for info in rt.image_stores.infos:  # image stores outside data_dir (image_stores)
        if not info.path.resolve().is_relative_to(rt.settings.data_dir.resolve()):
            await asyncio.to_thread(kill_orphaned_qemu_img, info.path)
    if catalog:
        await sync_catalog(rt)
    # Snapshots first: a volume's interrupted delete finishes its snapshots' deletes.
    await rt.services.snapshots.recover()
    # Backups before volumes: a failed restore's volume becomes deletable.
    await rt.services.backups.recover()
    await rt.services.volumes.recover()
    await rt.services.reimage.recover()
    # After snapshots and volumes: what they left settles the groups and group
    # snapshots made from them.
    await rt.services.group_snapshots.recover()
    await rt.services.groups.recover()
    await rt.services.actions.recover()
    await rt.services.upload_worker.recover()
    await rt.services.images.recover()
    await rt.services.image_imports.recover()
