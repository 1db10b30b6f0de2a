"""Backup records: export a backup's database row as Cinder's `backup_url`, and
import one back (cinder/backup/api.py export_record/import_record, the POSIX
driver's record). Admins only.

The record is Cinder's: base64 of a JSON object of the backup's fields. Its
`service_metadata` names the directory that holds the bytes (the id of the
backup that wrote them). An import under another id gives those chunk files a
second name (hard links), so deleting either backup leaves the other whole.

Crash safety: an import under the same id as its bytes only verifies them and
inserts the row `available` in one unit. An import under a new id inserts the
row `creating` first, links the files into `<id>.part/` and renames it, then
makes the row `available`; a crash in between leaves a `creating` backup with
no job, which start-up recovery turns into `error` and whose linked files it
removes (the original's stay).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from datetime import datetime
from typing import Any

from oslo_utils import uuidutils

from cinderlite.db.backups import BackupRepository
from cinderlite.db.models import Backup
from cinderlite.domain import backups as bk
from cinderlite.domain import quotas
from cinderlite.domain.backups import BackupStatus
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import (
    BackupCorrupt,
    BackupNotFound,
    Conflict,
    InvalidBackup,
    InvalidInput,
)
from cinderlite.domain.identity import Caller
from cinderlite.services import policy as P
from cinderlite.services.policy import Policy
from cinderlite.services.quotas import QuotaService
from cinderlite.services.units import Units
from cinderlite.storage.backups.base import BackupStore

log = logging.getLogger("cinderlite.backup_records")

GiB = 1 << 30
# The backup service name Cinder's POSIX driver reports (cinder.backup.manager
# driver_name); records of any other service cannot be imported here.
DRIVER = "cinder.backup.drivers.posix.PosixBackupDriver"
# cinder/backup/api.py IMPORT_VOLUME_ID: the volume of a backup being imported.
IMPORT_VOLUME_ID = "00000000-0000-0000-0000-000000000000"
# The fields the manager requires of a decoded record (cinder/backup/manager.py).
REQUIRED = ("display_name", "display_description", "container", "size",
            "service_metadata", "object_count", "id")
MAX_CHAIN = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: object, default: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        return parsed.replace(tzinfo=None)
    return default


def encode(backup: Backup) -> str:
    """The backup's row as Cinder's backup_url."""
    record = {
        "id": backup.id, "user_id": backup.user_id, "project_id": backup.project_id,
        "volume_id": backup.volume_id, "host": None,
        "availability_zone": backup.availability_zone, "container": backup.container,
        "parent_id": backup.parent_id, "status": backup.status,
        "fail_reason": backup.fail_reason, "service_metadata": backup.id,
        "service": DRIVER, "size": backup.size, "object_count": backup.object_count,
        "display_name": backup.name, "display_description": backup.description,
        "snapshot_id": backup.snapshot_id, "data_timestamp": _iso(backup.data_timestamp),
        "created_at": _iso(backup.created_at), "updated_at": _iso(backup.updated_at),
        "restore_volume_id": None, "temp_volume_id": None, "temp_snapshot_id": None,
        "num_dependent_backups": 0, "encryption_key_id": None,
        "metadata": dict(backup.meta or {}), "driver_info": {},
    }
    return base64.b64encode(json.dumps(record).encode()).decode()


def decode(url: str) -> dict[str, Any]:
    """Cinder's Backup.decode_record, then the API's two required fields."""
    try:
        raw = base64.b64decode(url.encode(), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidInput("Can't parse backup record.") from None
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Can't parse backup record.") from None
    if not isinstance(record, dict):
        raise InvalidInput("Can't parse backup record.")
    if "id" not in record:
        raise InvalidInput("Provided backup record is missing an id")
    if "size" not in record:
        raise InvalidInput("Provided backup record is missing size attribute")
    if not isinstance(record["id"], str) or not uuidutils.is_uuid_like(record["id"]):
        raise InvalidInput("Provided backup record has an id that is not a UUID")
    size = record["size"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidInput("Provided backup record has a size that is not a positive integer")
    return record


def _text(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value[:255] if isinstance(value, str) else None


def _metadata(record: dict[str, Any]) -> dict[str, str]:
    value = record.get("metadata")
    if not isinstance(value, dict):
        return {}
    return {str(k)[:255]: str(v)[:255] for k, v in value.items()}


class BackupRecords:
    """export_record and import_record."""

    def __init__(
        self, *, units: Units, repo: BackupRepository, store: BackupStore, policy: Policy,
        quotas: QuotaService | None = None, availability_zone: str = "nova",
    ) -> None:
        self._units = units
        self._repo = repo
        self._store = store
        self._policy = policy
        # An imported backup counts against the importing project's backups and
        # backup_gigabytes, as Cinder reserves them (None: unlimited).
        self._quotas = quotas
        # Cinder's manager gives an imported backup its own zone.
        self._zone = availability_zone

    async def export(self, caller: Caller, backup_id: str) -> tuple[str, str]:
        """(backup_service, backup_url) of an `available` backup."""
        found = await self._repo.get(backup_id)
        if found is None or not self._policy.allows(
            caller, P.BACKUP_GET, {"project_id": found.project_id, "user_id": found.user_id}
        ):
            raise BackupNotFound(backup_id)
        self._policy.authorize(
            caller, P.BACKUP_EXPORT, {"project_id": found.project_id, "user_id": found.user_id}
        )
        if found.status != BackupStatus.AVAILABLE:
            raise InvalidBackup(f"Backup status must be available and not {found.status}.")
        return DRIVER, encode(found)

    async def import_(self, caller: Caller, service: str, url: str) -> Backup:
        """The imported backup's row (`available`, or `error` with Cinder's
        fail_reason when the record cannot be used, as Cinder's manager leaves it)."""
        self._policy.authorize(caller, P.BACKUP_IMPORT, {"project_id": caller.project_id})
        record = decode(url)
        backup_id: str = record["id"]
        if await self._repo.get(backup_id) is not None:
            raise InvalidBackup("Backup already exists in database.")
        now = utcnow()
        row = Backup(
            id=backup_id, project_id=caller.project_id or "", user_id=caller.user_id,
            volume_id=IMPORT_VOLUME_ID, snapshot_id=None, parent_id=None,
            name=_text(record, "display_name"), description=record.get("display_description")
            if isinstance(record.get("display_description"), str) else None,
            status=BackupStatus.CREATING, fail_reason=None, size=record["size"],
            object_count=0, container=_text(record, "container"),
            availability_zone=self._zone, restore_volume_id=None,
            data_timestamp=_parse_time(record.get("data_timestamp"), now),
            meta=_metadata(record), created_at=now, updated_at=None,
        )
        problem = self._refusal(service, record)
        parents: list[Backup] = []
        if problem is None:
            parents, problem = await self._chain(record)
        source = record.get("service_metadata")
        if problem is None and source == backup_id:
            # The bytes are this backup's own (a database restored without it):
            # verify them, then one unit; nothing is written, nothing to undo.
            count, problem = await self._verify(backup_id, source, row.size, len(parents))
            if problem is None:
                self._finish(row, record, parents, count)
                return await self._insert(row)
        if problem is not None:
            row.status = BackupStatus.ERROR
            row.fail_reason = problem[:255]
            log.warning("import of backup record %s failed: %s", backup_id, problem)
            return await self._insert(row)
        inserted = await self._insert(row)
        count, problem = await self._verify(backup_id, str(source), row.size, len(parents))
        async with self._units.write() as db:
            if problem is None:
                self._finish(row, record, parents, count)
                ok = await self._repo.transition(
                    db, backup_id, bk.FINISH_CREATE, now=utcnow(), values={
                        "object_count": row.object_count, "volume_id": row.volume_id,
                        "parent_id": row.parent_id, "snapshot_id": row.snapshot_id,
                    },
                )
            else:
                ok = await self._repo.transition(
                    db, backup_id, bk.FAIL_CREATE, now=utcnow(),
                    values={"fail_reason": problem[:255]},
                )
        if problem is not None or not ok:
            await self._store.discard(backup_id)
        return await self._repo.get(backup_id) or inserted

    # --- steps ------------------------------------------------------------------------

    @staticmethod
    def _refusal(service: str, record: dict[str, Any]) -> str | None:
        """Why Cinder's backup manager would not import this record, if it would not."""
        if service != DRIVER:
            return (
                "Import record failed, cannot find backup service to perform the import. "
                f"Request service {service}."
            )
        missing = sorted(set(REQUIRED) - set(record))
        if missing:
            return (
                "Driver successfully decoded imported backup data, but there are missing "
                f"fields ({', '.join(missing)})."
            )
        source = record.get("service_metadata")
        if not isinstance(source, str) or not uuidutils.is_uuid_like(source):
            return "The backup record's service_metadata names no backup of this service."
        return None

    async def _chain(self, record: dict[str, Any]) -> tuple[list[Backup], str | None]:
        """The imported backup's ancestors (nearest first) from the database."""
        parents: list[Backup] = []
        parent_id = record.get("parent_id")
        while parent_id is not None and len(parents) < MAX_CHAIN:
            parent = (
                await self._repo.get(parent_id) if isinstance(parent_id, str) else None
            )
            if parent is None:
                return [], f"The parent backup {parent_id} of this incremental backup is missing."
            parents.append(parent)
            parent_id = parent.parent_id
        return parents, None

    async def _verify(
        self, backup_id: str, source: str, size: int, depth: int
    ) -> tuple[int, str | None]:
        """(chunk files, None) once the bytes are the backup's; (0, why) if not."""
        try:
            count = await self._store.adopt(backup_id, source, size * GiB, depth=depth)
        except FileNotFoundError:
            return 0, f"The backup data {source} was not found in the backup store."
        except BackupCorrupt as exc:
            return 0, exc.message
        except OSError as exc:
            return 0, f"The backup data could not be imported: {exc.strerror or exc}"
        return count, None

    @staticmethod
    def _finish(row: Backup, record: dict[str, Any], parents: list[Backup], count: int) -> None:
        row.status = BackupStatus.AVAILABLE
        row.object_count = count
        row.parent_id = parents[0].id if parents else None
        volume_id = record.get("volume_id")
        row.volume_id = volume_id if isinstance(volume_id, str) and uuidutils.is_uuid_like(
            volume_id) else IMPORT_VOLUME_ID
        snapshot_id = record.get("snapshot_id")
        row.snapshot_id = snapshot_id if isinstance(snapshot_id, str) and uuidutils.is_uuid_like(
            snapshot_id) else None

    async def _insert(self, row: Backup) -> Backup:
        try:
            async with self._units.write() as db:
                if self._quotas is not None:
                    await self._quotas.reserve(db, row.project_id, quotas.backup_demand(row.size))
                await self._repo.add(db, row)
        except Conflict:
            raise InvalidBackup("Backup already exists in database.") from None
        found = await self._repo.get(row.id)
        if found is None:
            raise BackupNotFound(row.id)
        return found


__all__ = ["DRIVER", "IMPORT_VOLUME_ID", "BackupRecords", "decode", "encode"]
