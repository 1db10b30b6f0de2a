"""What every volume-API handler gets: the API's dependencies (VolumeApi) and what it
knows about its request (VolumeContext: who, which API, which version)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cinderlite.domain.identity import Caller
from cinderlite.services.attachments import AttachmentService
from cinderlite.services.auth import TokenValidator
from cinderlite.services.backup_records import BackupRecords
from cinderlite.services.backups import BackupService
from cinderlite.services.extend_completion import ExtendCompletionService
from cinderlite.services.group_replication import GroupReplicationService
from cinderlite.services.group_snapshots import GroupSnapshotService
from cinderlite.services.group_types import GroupTypeService
from cinderlite.services.groups import GroupService
from cinderlite.services.hosts import HostService, LogService
from cinderlite.services.messages import MessageService
from cinderlite.services.qos_specs import QosSpecService
from cinderlite.services.quotas import QuotaService
from cinderlite.services.reimage import ReimageService
from cinderlite.services.retype import RetypeService
from cinderlite.services.snapshots import SnapshotService
from cinderlite.services.transfers import TransferService
from cinderlite.services.uploads import UploadService
from cinderlite.services.volume_actions import VolumeActionService
from cinderlite.services.volume_types import VolumeTypeService
from cinderlite.services.volumes import VolumeService

MIN_VERSION = (3, 0)
# Advertise only a maximum whose fields and rules are really served: every change
# Cinder made up to 3.44 to what is served here is built (docs: README "What is served").
MAX_VERSION = (3, 71)


@dataclass(frozen=True, order=True)
class ApiVersion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)


V2 = ApiVersion(2, 0)


@dataclass(frozen=True)
class VolumeContext:
    caller: Caller
    # "v2": the /v2/{tenant_id} API (docs/api-v2.md); "v3": modern Cinder.
    api: Literal["v2", "v3"]
    # (2, 0) on /v2; the negotiated microversion on /v3 (3.0 without a header).
    version: ApiVersion
    request_id: str
    # The project id segment of the URL, None on project-less /v3 routes.
    url_project_id: str | None = None
    # The pool every volume here lives in (`os-vol-host-attr:host`).
    pool_host: str = "cinderlite@file#file"

    @property
    def project_id(self) -> str:
        return self.caller.project_id


@dataclass(frozen=True)
class VolumeApi:
    """The volume API's dependencies; the wiring (app.py) builds it."""

    volumes: VolumeService
    snapshots: SnapshotService
    backups: BackupService
    transfers: TransferService
    actions: VolumeActionService
    uploads: UploadService
    messages: MessageService
    attachments: AttachmentService
    reimage: ReimageService
    extend_completion: ExtendCompletionService
    hosts: HostService
    logs: LogService
    validator: TokenValidator
    identity_url: str
    volume_url: str
    max_request_body_bytes: int
    # Cinder enable_force_upload: without it /v3 ignores `force` on the upload action.
    enable_force_upload: bool
    group_types: GroupTypeService
    groups: GroupService
    group_snapshots: GroupSnapshotService
    group_replication: GroupReplicationService
    backup_records: BackupRecords
    quotas: QuotaService
    volume_types: VolumeTypeService
    retype: RetypeService
    qos_specs: QosSpecService
