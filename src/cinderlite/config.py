"""Settings: every operator option, typed, read once.

Values come from, in rising priority: the defaults below, a TOML file named by
``CINDERLITE_CONFIG`` (keys are the field names), and ``CINDERLITE_<FIELD>``
environment variables (upper case). Only ``app.py`` and ``cli.py`` read them.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "CINDERLITE_"


@dataclass(frozen=True)
class Settings:
    # Where everything lives: volumes/, images/, conversion/, the SQLite file.
    data_dir: Path = Path("data")
    # SQLAlchemy async URL; empty means SQLite in data_dir/cinderlite.db.
    database_url: str = ""

    host: str = "127.0.0.1"
    # The host name put into catalog and version-document URLs.
    public_host: str = "127.0.0.1"
    identity_port: int = 5000
    volume_port: int = 8776
    image_port: int = 9292

    region: str = "RegionOne"
    token_lifetime_seconds: int = 3600
    # Argon2id cost of new password hashes (argon2-cffi's defaults).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    # Passwords given to the users bootstrapped on first start; generated when empty.
    admin_password: str = ""
    demo_password: str = ""

    # oslo.policy file (YAML or JSON) overriding the default rules.
    policy_file: str = ""

    # Cinder [DEFAULT] enable_force_upload. Off in Cinder; /v2 honours
    # force regardless (docs/api-v2.md), this only governs /v3.
    enable_force_upload: bool = True
    # Cinder [DEFAULT] default_group_type: the group type GET /group_types/default
    # answers with (none by default, as Cinder: that GET is then a 404).
    default_group_type: str = ""
    # Cinder [DEFAULT] image_compress_on_upload: qcow2 output is compressed.
    image_compress_on_upload: bool = True
    # qcow2 compression type used when compressing: "zlib" (readable by every
    # qemu-img) or "zstd" (faster, needs QEMU >= 5.1 to read).
    qcow2_compression_type: str = "zlib"
    # Cinder [DEFAULT] allow_compression_on_image_upload (container_format=compressed).
    allow_compression_on_image_upload: bool = False
    # Uncompressed qcow2, vmdk and vdi images are written by cinderlite itself
    # in one pass, hashed as written (false: always `qemu-img convert`).
    native_conversion: bool = True
    # Cinder [DEFAULT] image_conversion_disable.
    image_conversion_disable: bool = False
    # Cinder [DEFAULT] vmdk_allowed_types: VMDK create types a volume may be made
    # from. Only single-file types with a sparse header are safe: the others
    # name extent files that qemu-img would read from the host.
    vmdk_allowed_types: tuple[str, ...] = ("streamOptimized", "monolithicSparse")
    # Cinder [DEFAULT] glance_core_properties: not copied to uploaded images.
    glance_core_properties: tuple[str, ...] = (
        "checksum",
        "container_format",
        "disk_format",
        "image_name",
        "image_id",
        "min_disk",
        "min_ram",
        "name",
        "size",
    )
    # Cinder [DEFAULT] reserved_image_namespaces (added to the fixed ones).
    reserved_image_namespaces: tuple[str, ...] = ()
    # Cinder [DEFAULT] message_ttl.
    message_ttl_seconds: int = 2592000

    # Backups (Cinder's POSIX backup driver): where they are kept; empty means
    # data_dir/backups (made private, 0700, like the volumes).
    backups_path: str = ""
    # Cinder [DEFAULT] backup_compression_algorithm: "zlib" (the default) or
    # "none" (also "off", "no").
    backup_compression_algorithm: str = "zlib"
    # A backup is cut into chunks of this many bytes, each stored (compressed) in
    # its own file with its sha256; an incremental backup stores only the chunks
    # that changed. A multiple of 4096 up to 64 MiB. 1 MiB: a multiple of Cinder's
    # POSIX driver's change-tracking block (backup_sha_block_size_bytes, 32 KiB);
    # backups made with another size keep theirs (it is in their manifest).
    backup_chunk_size: int = 1 << 20
    # Threads that read, hash and compress (or check and write) one backup's chunks.
    backup_workers: int = 4

    # Upload worker pool.
    upload_workers: int = 4
    job_lease_seconds: int = 60
    # Resource limits for qemu-img (Cinder image_conversion_cpu_limit etc.).
    qemu_img_cpu_limit: int = 600
    qemu_img_address_space_limit: int = 1 << 30

    # Cinder's thin provisioning limits (CapacityFilter): volumes are sparse files,
    # so up to this many times the volume file system's capacity may be promised.
    max_over_subscription_ratio: float = 20.0
    # Cinder reserved_percentage: capacity of the volume file system kept free.
    reserved_percentage: int = 0

    # Cinder's default quotas (quota_volumes, quota_gigabytes, ...; -1: unlimited).
    # The `default` quota class (os-quota-class-sets/default) overrides them.
    quota_volumes: int = 10
    quota_snapshots: int = 10
    quota_gigabytes: int = 1000
    quota_backups: int = 10
    quota_backup_gigabytes: int = 1000
    quota_groups: int = 10
    per_volume_size_limit: int = -1
    # Cinder [DEFAULT] host: the name the services are listed under (the volume
    # service as `<host>@<volume_backend_name>`); empty means the machine's host name.
    service_host: str = ""
    # The volume backend's name (and its one pool's): pools are `<host>@<name>#<name>`.
    volume_backend_name: str = "file"
    # Cinder storage_availability_zone: the zone of every service here.
    storage_availability_zone: str = "nova"
    # Cinder default_availability_zone: a new volume's zone when none is asked
    # (empty: storage_availability_zone).
    default_availability_zone: str = ""
    # Cinder report_interval / service_down_time: the services' heartbeat period,
    # and how old a heartbeat may be before os-services shows the service down.
    report_interval: int = 10
    service_down_time: int = 60

    # Joined to a cloud (docs/cloud.md). With keystone_url set, tokens are validated
    # against that Keystone (keystonemiddleware auth_token's way: this service user's
    # token, GET /v3/auth/tokens, a short cache) and the built-in identity and image
    # APIs are not served. The URL is Keystone's, with or without the /v3.
    keystone_url: str = ""
    # keystonemiddleware [keystone_authtoken] username, password, project_name,
    # user_domain_name, project_domain_name: the service user cinderlite logs in as.
    keystone_service_user: str = "cinderlite"
    keystone_service_password: str = ""
    keystone_service_project: str = "service"
    keystone_service_user_domain: str = "Default"
    keystone_service_project_domain: str = "Default"
    # keystonemiddleware token_cache_time: how long a validated token is believed
    # without asking Keystone again (never past its expiry). A revoked token is
    # refused at the latest this long after its revocation.
    keystone_token_cache_seconds: int = 60
    # Where images go when joined: this Glance, or (empty) the catalog's `image`
    # service at glance_interface (Cinder's glance_catalog_info).
    glance_url: str = ""
    glance_interface: str = "public"
    # Cinder [glance] glance_request_timeout: seconds without progress on one call.
    glance_request_timeout_seconds: float = 300.0

    # Glance image_size_cap.
    image_size_cap: int = 1099511627776
    # Glance [DEFAULT] enabled_backends, file stores only: `<id>:<directory>`
    # entries (e.g. "fast:/srv/fast,cheap:/srv/cheap"). Empty: one store in
    # data_dir/images and no multi-store API (GET /v2/info/stores is a 404), as
    # Glance without enabled_backends. See docs/images.md.
    image_stores: tuple[str, ...] = ()
    # Glance [glance_store] default_backend: where uploads without a chosen
    # store and volume uploads (os-volume_upload_image) go; empty: the first listed.
    default_image_store: str = ""
    # Glance's per-store store_description and weight: `<id>:<text>` and `<id>:<int>`.
    image_store_descriptions: tuple[str, ...] = ()
    image_store_weights: tuple[str, ...] = ()
    # Glance show_multiple_locations / show_image_direct_url: the image's
    # `locations` and `direct_url` (file:// URLs of its data) in every image view.
    show_multiple_locations: bool = False
    show_image_direct_url: bool = False
    # Glance enabled_import_methods: interoperable import methods offered
    # (glance-direct, web-download, copy-image; empty: none). copy-image is
    # offered only where several stores are configured (image_stores).
    enabled_import_methods: tuple[str, ...] = ("glance-direct", "web-download", "copy-image")
    # Glance [import_filtering_opts]: which URLs web-download fetches. An allow
    # list, when not empty, wins over the matching deny list (docs/images.md).
    import_allowed_schemes: tuple[str, ...] = ("http", "https")
    import_disallowed_schemes: tuple[str, ...] = ()
    import_allowed_hosts: tuple[str, ...] = ()
    import_disallowed_hosts: tuple[str, ...] = ()
    import_allowed_ports: tuple[str, ...] = ("80", "443")
    import_disallowed_ports: tuple[str, ...] = ()
    # Non-public networks (CIDR, e.g. "10.1.2.0/24") web-download may fetch from;
    # loopback, private, link-local and reserved addresses are refused otherwise
    # (a host named in import_allowed_hosts is fetched whatever its address).
    import_private_networks: tuple[str, ...] = ()
    # Seconds web-download waits for a connection or for the next bytes.
    import_fetch_timeout_seconds: float = 60.0
    # Glance image_cache_dir: this API node's image cache (downloads served from
    # it and filling it, the cache management API; docs/images.md). Empty: no
    # cache, as Glance's default. A directory of its own on a local file system.
    image_cache_dir: str = ""
    # Glance image_cache_max_size: what POST /v2/cache/prune brings the cache
    # down to (not a hard limit: downloads fill the cache past it).
    image_cache_max_size: int = 10 * 1024**3
    # Glance image_cache_stall_time: seconds after which POST /v2/cache/clean
    # removes an incomplete cache file nobody writes any more.
    image_cache_stall_time: int = 86400
    # Glance [task] task_time_to_live: hours an ended task is kept.
    task_time_to_live: int = 48
    # A request's headers must arrive within this many seconds of its first byte,
    # and its body must never pause longer than the other: 408, connection closed.
    request_header_timeout_seconds: float = 30.0
    request_body_idle_timeout_seconds: float = 60.0
    # Largest request body accepted by the JSON APIs.
    max_request_body_bytes: int = 112 * 1024

    log_level: str = "INFO"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'cinderlite.db').resolve()}"

    @property
    def volumes_dir(self) -> Path:
        return self.data_dir / "volumes"

    @property
    def backups_dir(self) -> Path:
        return Path(self.backups_path) if self.backups_path else self.data_dir / "backups"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def staging_dir(self) -> Path:
        """Glance's node_staging_uri: staged and downloaded image data before import."""
        return self.data_dir / "staging"

    @property
    def joined(self) -> bool:
        """True when joined to a cloud's Keystone (and its Glance)."""
        return bool(self.keystone_url)

    def identity_url(self) -> str:
        if self.keystone_url:
            return self.keystone_url.rstrip("/").removesuffix("/v3")
        return f"http://{self.public_host}:{self.identity_port}"

    def volume_url(self) -> str:
        return f"http://{self.public_host}:{self.volume_port}"

    def image_url(self) -> str:
        return f"http://{self.public_host}:{self.image_port}"


def _convert(raw: Any, annotation: Any, name: str) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is bool or annotation == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{name}: expected a boolean, got {raw!r}")
    if annotation is int:
        return int(raw)
    if annotation is float:
        return float(raw)
    if annotation is Path:
        return Path(raw)
    if origin is tuple:
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return tuple(str(x) for x in raw)
    if origin in (types.UnionType, typing.Union):
        return raw
    return str(raw)


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from the config file, the environment and keyword overrides."""
    env = dict(os.environ if environ is None else environ)
    hints = typing.get_type_hints(Settings)
    values: dict[str, Any] = {}
    config_file = env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            data = tomllib.load(fh)
        for key, raw in data.items():
            if key not in hints:
                raise ValueError(f"{config_file}: unknown option {key!r}")
            values[key] = _convert(raw, hints[key], key)
    for f in dataclasses.fields(Settings):
        raw = env.get(ENV_PREFIX + f.name.upper())
        if raw is not None:
            values[f.name] = _convert(raw, hints[f.name], f.name)
    values.update(overrides)
    return Settings(**values)


__all__ = ["Settings", "field", "load_settings"]
