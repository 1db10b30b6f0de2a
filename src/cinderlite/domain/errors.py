"""Domain errors. They say what went wrong, never which HTTP status to use.

ServiceError                      message is safe to show to API clients
├── NotFound                      a resource does not exist or is not visible
├── InvalidRequest                the request breaks a rule (bad value, wrong state)
│   ├── InvalidVolume             "Invalid volume: ..." (Cinder's InvalidVolume)
│   └── ImageUnacceptable         image data refused before any tool reads it
├── MalformedRequest              the URL or body cannot be understood
├── Forbidden                     the caller may not do this (policy)
├── Unauthenticated               no valid credentials
├── Conflict                      the resource is in a state that forbids this
├── TooLarge                      a body or an image exceeds a limit
├── UnsupportedMedia              wrong Content-Type or data of the wrong format
├── StorageFull                   no space left where the bytes must go
├── ConversionFailed              qemu-img failed or produced something unexpected
├── DependencyUnavailable         identity or image service cannot be reached
└── ServiceUnavailable            none of our own services can take the work
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base for errors whose message is safe to show to API clients."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError): ...


class InvalidRequest(ServiceError): ...


class InvalidVolume(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid volume: {reason}")
        self.reason = reason


class ImageUnacceptable(InvalidRequest):
    """Image data that is not what it claims to be, or would make a tool read
    other files (Cinder's ImageUnacceptable)."""

    def __init__(self, image_id: str, reason: str) -> None:
        super().__init__(f"Image {image_id} is unacceptable: {reason}")
        self.image_id = image_id
        self.reason = reason


class MalformedRequest(ServiceError): ...


class Forbidden(ServiceError): ...


class PolicyNotAuthorized(Forbidden):
    def __init__(self, action: str) -> None:
        super().__init__(f"Policy doesn't allow {action} to be performed.")
        self.action = action


class Unauthenticated(ServiceError):
    def __init__(self, message: str = "The request you have made requires authentication.") -> None:
        super().__init__(message)


class Conflict(ServiceError): ...


class TooLarge(ServiceError): ...


class UnsupportedMedia(ServiceError): ...


class StorageFull(ServiceError): ...


class ConversionFailed(ServiceError): ...


class DependencyUnavailable(ServiceError):
    """A service we depend on (identity, image) cannot be reached."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service


class VolumeNotFound(NotFound):
    def __init__(self, volume_id: str) -> None:
        super().__init__(f"Volume {volume_id} could not be found.")
        self.volume_id = volume_id


class GlanceMetadataNotFound(NotFound):
    """A volume without image metadata, or without the key asked for (Cinder says
    the same for both)."""

    def __init__(self, volume_id: str) -> None:
        super().__init__(f"Glance metadata for volume/snapshot {volume_id} cannot be found.")


class ImageNotFound(NotFound):
    def __init__(self, image_id: str) -> None:
        super().__init__(f"Image {image_id} could not be found.")
        self.image_id = image_id


class NoImageFound(NotFound):
    """Glance's own 404 text for an unknown or invisible image."""

    def __init__(self, image_id: str) -> None:
        super().__init__(f"No image found with ID {image_id}")
        self.image_id = image_id


class InvalidSnapshot(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid snapshot: {reason}")
        self.reason = reason


class SnapshotNotFound(NotFound):
    def __init__(self, snapshot_id: str) -> None:
        super().__init__(f"Snapshot {snapshot_id} could not be found.")
        self.snapshot_id = snapshot_id


class InvalidInput(InvalidRequest):
    """Cinder's InvalidInput: "Invalid input received: <reason>"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid input received: {reason}")
        self.reason = reason


class InvalidBackup(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid backup: {reason}")
        self.reason = reason


class BackupNotFound(NotFound):
    def __init__(self, backup_id: str) -> None:
        super().__init__(f"Backup {backup_id} could not be found.")
        self.backup_id = backup_id


class BackupCorrupt(ServiceError):
    """The backup's stored bytes are not what its metadata says (a checksum
    mismatch, a chunk of the wrong size, a metadata file we did not write)."""
class TransferNotFound(NotFound):
    def __init__(self, transfer_id: str) -> None:
        super().__init__(f"Transfer {transfer_id} could not be found.")
        self.transfer_id = transfer_id


class InvalidAuthKey(InvalidRequest):
    """A transfer's accept with the wrong auth key (Cinder's InvalidAuthKey)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid auth key: {reason}")
        self.reason = reason


# --- generic volume groups (Cinder's GroupTypeNotFound, GroupNotFound, ...) ---------


class GroupTypeNotFound(NotFound):
    def __init__(self, group_type_id: str) -> None:
        super().__init__(f"Group type {group_type_id} could not be found.")
        self.group_type_id = group_type_id


class GroupTypeNotFoundByName(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"Group type with name {name} could not be found.")
        self.name = name


class GroupTypeExists(Conflict):
    def __init__(self, name_or_id: str) -> None:
        super().__init__(f"Group Type {name_or_id} already exists.")


class GroupNotFound(NotFound):
    def __init__(self, group_id: str) -> None:
        super().__init__(f"Group {group_id} could not be found.")
        self.group_id = group_id


class InvalidGroup(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid Group: {reason}")
        self.reason = reason


class InvalidGroupType(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid group type: {reason}")
        self.reason = reason


class InvalidVolumeType(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid volume type: {reason}")
        self.reason = reason


class GroupSnapshotNotFound(NotFound):
    def __init__(self, group_snapshot_id: str) -> None:
        super().__init__(f"GroupSnapshot {group_snapshot_id} could not be found.")
        self.group_snapshot_id = group_snapshot_id


class InvalidGroupSnapshot(InvalidRequest):
    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid GroupSnapshot: {reason}")
        self.reason = reason


class ServiceUnavailable(ServiceError):
    """No service of ours (enabled and up) can take the work: Cinder's 503 of
    `Service cinder-backup could not be found.`."""
