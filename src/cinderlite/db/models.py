"""SQLAlchemy tables for identity, volumes, snapshots, transfers, images, jobs and user messages.

Timestamps are naive UTC datetimes. Ids are strings: 32 hex characters for
identity objects (as Keystone), canonical UUIDs for volumes and images.
Schema changes go through an Alembic migration in db/migrations/versions/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cinderlite.domain.volumes import AttachStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


RowT = TypeVar("RowT", bound=Base)


def detached(row: RowT) -> RowT:
    """A copy of the row's column values bound to no session: what a service hands
    back after its unit ends (the 202 body shows the row as written)."""
    model = type(row)
    copy = model()
    for column in model.__table__.columns:
        setattr(copy, column.key, getattr(row, column.key))
    return copy


# --- identity ---------------------------------------------------------------


class Domain(Base):
    __tablename__ = "domains"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    domain_id: Mapped[str] = mapped_column(ForeignKey("domains.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Role(Base):
    __tablename__ = "roles"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class ImpliedRole(Base):
    """Keystone's role inference rules: a grant of the prior role also gives the implied one."""

    __tablename__ = "implied_roles"
    prior_role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )
    implied_role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class RoleAssignment(Base):
    __tablename__ = "role_assignments"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class SystemAssignment(Base):
    """A role on the system (Keystone's `--system all`): the only system target is `all`."""

    __tablename__ = "system_assignments"
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role_id: Mapped[str] = mapped_column(
        ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True
    )


class Region(Base):
    __tablename__ = "regions"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    parent_region_id: Mapped[str | None] = mapped_column(
        ForeignKey("regions.id"), nullable=True
    )


class Service(Base):
    __tablename__ = "services"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Endpoint(Base):
    """A service's URL for one interface in one region. `url` may hold Keystone's
    substitutions, `$(project_id)s` or `%(project_id)s`, filled in per token."""

    __tablename__ = "endpoints"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    interface: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str | None] = mapped_column(ForeignKey("regions.id"), nullable=True)
    url: Mapped[str] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class Token(Base):
    """An issued token. Only the SHA-256 of the token string is stored."""

    __tablename__ = "tokens"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    # Scoped to the whole system (`"system": {"all": true}`) rather than a project.
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    methods: Mapped[list[Any]] = mapped_column(JSON)
    audit_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


# --- block storage ----------------------------------------------------------


class VolumeType(Base):
    __tablename__ = "volume_types"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The QoS spec associated with the type (one at most, as in Cinder).
    qos_specs_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class VolumeTypeProject(Base):
    """A project that may use a private volume type (Cinder's volume_type_projects)."""

    __tablename__ = "volume_type_projects"
    volume_type_id: Mapped[str] = mapped_column(
        ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class VolumeTypeEncryption(Base):
    """A volume type's encryption specs (Cinder's encryption table): metadata only."""

    __tablename__ = "volume_type_encryption"
    volume_type_id: Mapped[str] = mapped_column(
        ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True
    )
    encryption_id: Mapped[str] = mapped_column(String(36))
    cipher: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider: Mapped[str] = mapped_column(String(255))
    control_location: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class DefaultVolumeType(Base):
    """A project's default volume type (Cinder's default_volume_types, 3.62)."""

    __tablename__ = "default_volume_types"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volume_type_id: Mapped[str] = mapped_column(
        ForeignKey("volume_types.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class QosSpecs(Base):
    """A named set of QoS keys (Cinder's quality_of_service_specs root row); volume
    types point at it through volume_types.qos_specs_id."""

    __tablename__ = "qos_specs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # front-end, back-end or both (domain/qos.py CONSUMERS).
    consumer: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class QosSpecKey(Base):
    """One key of a QoS spec (Cinder's child rows); the value may be null."""

    __tablename__ = "qos_spec_keys"
    qos_specs_id: Mapped[str] = mapped_column(
        ForeignKey("qos_specs.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Volume(Base):
    __tablename__ = "volumes"
    # The listing's default order is created_at desc, id desc (id breaks ties): with
    # id in the index, a project's page is read in index order, with no sort step.
    __table_args__ = (Index("ix_volumes_project_created_id", "project_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), index=True)
    previous_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attach_status: Mapped[str] = mapped_column(String(32), default=AttachStatus.DETACHED.value)
    volume_type_id: Mapped[str | None] = mapped_column(ForeignKey("volume_types.id"), nullable=True)
    availability_zone: Mapped[str] = mapped_column(String(255), default="nova")
    bootable: Mapped[bool] = mapped_column(Boolean, default=False)
    # User metadata (`metadata` in the API).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Cinder's volume_glance_metadata: properties of the image the volume was made
    # from (image_id, image_name, checksum, ..., custom properties).
    image_meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_image_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The snapshot or the volume this one was copied from (Cinder's snapshot_id
    # and source_volid); kept after the source is gone, as Cinder keeps them.
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    source_volid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # Cinder's volume admin metadata: `readonly` (os-update_readonly_flag) and
    # `attached_mode` (while attached); the views show them in `metadata`.
    admin_meta: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, server_default="{}"
    )
    # Cinder's volumes.multiattach: made with a type whose extra spec `multiattach`
    # is "<is> True"; such a volume may have several attachments.
    multiattach: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # The generic volume group the volume belongs to (3.13), if any.
    group_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)


class Snapshot(Base):
    """A point-in-time copy of a volume's bytes (storage: snapshot-<id> beside the
    volume files). The volume cannot be deleted while it has snapshots, so
    volume_id always names a volume row."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_project_created_id", "project_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    # Cinder's "0%" .. "100%".
    progress: Mapped[str] = mapped_column(String(8), default="0%")
    # The volume's size when the snapshot was taken, in GiB.
    volume_size: Mapped[int] = mapped_column(Integer)
    # User metadata (`metadata` in the API).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The volume's image metadata when the snapshot was taken, kept (as Cinder
    # keeps it) only when the volume was bootable then: volumes made from the
    # snapshot get it. NULL when none was kept.
    image_meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The group snapshot this snapshot was taken for (3.14), if any: it then goes
    # only with its group snapshot.
    group_snapshot_id: Mapped[str | None] = mapped_column(
        String(36), nullable=True, index=True
    )


# --- generic volume groups --------------------------------------------------


class GroupType(Base):
    """Cinder's group types (3.11): a name, public or not, and group specs."""

    __tablename__ = "group_types"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    group_specs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Group(Base):
    """A generic volume group (3.13). Member volumes name it in volumes.group_id;
    the volume types it takes are rows of group_volume_types. A group made from
    a group snapshot or another group names its source (3.14)."""

    __tablename__ = "groups"
    __table_args__ = (Index("ix_groups_project_created_id", "project_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    availability_zone: Mapped[str] = mapped_column(String(255))
    group_type_id: Mapped[str] = mapped_column(ForeignKey("group_types.id"), index=True)
    group_snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    source_group_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    replication_status: Mapped[str] = mapped_column(String(32), default="disabled")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class GroupVolumeType(Base):
    """The volume types a group takes (Cinder's group_volume_type_mapping)."""

    __tablename__ = "group_volume_types"
    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    volume_type_id: Mapped[str] = mapped_column(
        ForeignKey("volume_types.id"), primary_key=True, index=True
    )
    # The order the types were given in (the views list them so).
    position: Mapped[int] = mapped_column(Integer, default=0)


class GroupSnapshot(Base):
    """A snapshot of each volume of a group (3.14); its snapshots name it in
    snapshots.group_snapshot_id. A group cannot be deleted while it has one."""

    __tablename__ = "group_snapshots"
    __table_args__ = (
        Index("ix_group_snapshots_project_created_id", "project_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("groups.id"), index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    group_type_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Backup(Base):
    """A copy of a volume's bytes in the backup store (storage/backups), Cinder's
    backups table. volume_id is no foreign key: a volume with backups may be
    deleted, and its backups stay restorable. parent_id names the backup an
    incremental one was taken on top of; a parent cannot be deleted while it
    has children."""

    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_project_created_id", "project_id", "created_at", "id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str] = mapped_column(String(64))
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    snapshot_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    parent_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    fail_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The volume's size when the backup was taken, in GiB.
    size: Mapped[int] = mapped_column(Integer)
    # Chunk files this backup stores itself (holes and chunks shared with the
    # parent are not counted).
    object_count: Mapped[int] = mapped_column(Integer, default=0)
    container: Mapped[str | None] = mapped_column(String(255), nullable=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The volume being written by a restore in progress (Cinder's restore_volume_id).
    restore_volume_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # When the data was taken: the backup's created_at, or its snapshot's.
    data_timestamp: Mapped[datetime] = mapped_column(DateTime)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Transfer(Base):
    """An offer of a volume to another project (Cinder's transfers table). While it
    exists the volume is `awaiting-transfer`; an accept or a delete removes the
    row in the same transaction as the volume's status change. Only a salt and a
    keyed hash of the auth key are kept (domain/transfers.py)."""

    __tablename__ = "transfers"
    __table_args__ = (
        Index("ix_transfers_source_project_created", "source_project_id", "created_at", "id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # A transfer of a volume that is deleted (after an admin reset its status) goes with it.
    volume_id: Mapped[str] = mapped_column(
        ForeignKey("volumes.id", ondelete="CASCADE"), index=True
    )
    # `name` in the API (Cinder's display_name).
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    salt: Mapped[str] = mapped_column(String(64))
    crypt_hash: Mapped[str] = mapped_column(String(128))
    # Accept moves the volume only, leaving its snapshots with the giver (3.55).
    no_snapshots: Mapped[bool] = mapped_column(Boolean, default=False)
    # The volume's project when the transfer was made: the project that sees it.
    source_project_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class BlockService(Base):
    """A service this process runs (Cinder's services table): cinder-volume,
    cinder-scheduler, cinder-backup. `updated_at` is the heartbeat the running
    process writes; `disabled` and `frozen` are the operator's switches."""

    __tablename__ = "volume_services"
    __table_args__ = (UniqueConstraint("host", "binary", name="uq_volume_services_host_binary"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    availability_zone: Mapped[str] = mapped_column(String(255))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    report_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # The last heartbeat.
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The last change an operator made (enable, disable, freeze, thaw).
    modified_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class VolumeAttachment(Base):
    """An attachment of a volume (os-attach, or the attachments API). attach_status:
    reserved -> attaching -> attached (Cinder VolumeAttachStatus); an ended one is
    `detached` (os-detach) or gone (attachment delete)."""

    __tablename__ = "volume_attachments"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    volume_id: Mapped[str] = mapped_column(ForeignKey("volumes.id", ondelete="CASCADE"), index=True)
    instance_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    attached_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    mountpoint: Mapped[str | None] = mapped_column(String(255), nullable=True)
    attach_mode: Mapped[str] = mapped_column(String(8), default="rw")
    attach_status: Mapped[str] = mapped_column(String(32), default=AttachStatus.ATTACHED.value)
    attached_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    detached_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The connector the consumer gave (attachments API) and the connection info
    # it was answered with.
    connector: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    connection_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class UserMessage(Base):
    """Cinder's user messages (GET /v3/{project_id}/messages)."""

    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource_type: Mapped[str] = mapped_column(String(32))
    resource_uuid: Mapped[str | None] = mapped_column(String(36), nullable=True)
    event_id: Mapped[str] = mapped_column(String(64))
    message_level: Mapped[str] = mapped_column(String(16))
    action_id: Mapped[str] = mapped_column(String(8))
    detail_id: Mapped[str] = mapped_column(String(8))
    # Free text for the log and the progress view; the API shows only
    # "<action>:<detail>" as Cinder does.
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


# --- images -----------------------------------------------------------------


class Image(Base):
    __tablename__ = "images"
    __table_args__ = (Index("ix_images_owner_created", "owner", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    visibility: Mapped[str] = mapped_column(String(16), default="shared")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    disk_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    container_format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    checksum: Mapped[str | None] = mapped_column(String(32), nullable=True)
    os_hash_algo: Mapped[str | None] = mapped_column(String(64), nullable=True)
    os_hash_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    # Custom properties (string values) and tags.
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # The image stores holding the data, comma-separated ids (Glance's `stores`):
    # NULL until it has data, and while there is one store (no image_stores).
    stores: Mapped[str | None] = mapped_column(String(1024), nullable=True)


class ImageMember(Base):
    """Projects a `shared` image is shared with."""

    __tablename__ = "image_members"
    image_id: Mapped[str] = mapped_column(
        ForeignKey("images.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ImageTask(Base):
    """An image task (Glance's `tasks` and `task_info` in one row): the record of
    an interoperable import (`api_image_import`) or a legacy `import` task."""

    __tablename__ = "image_tasks"
    __table_args__ = (Index("ix_image_tasks_owner_created", "owner", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    # pending | processing | success | failure
    status: Mapped[str] = mapped_column(String(30), index=True)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    input: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    # Set when the task ends (success or failure): then + task_time_to_live.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


# --- image metadata definitions (Glance metadefs) -------------------------------
# Names are unique: namespaces overall, resource types overall, objects,
# properties and tags within their namespace. The contents of a namespace go
# with it (ON DELETE CASCADE); resource types outlive their associations.


class MetadefNamespace(Base):
    __tablename__ = "metadef_namespaces"
    __table_args__ = (UniqueConstraint("namespace"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(80))
    display_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    visibility: Mapped[str] = mapped_column(String(32))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MetadefObject(Base):
    __tablename__ = "metadef_objects"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    required: Mapped[list[Any]] = mapped_column(JSON, default=list)
    json_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MetadefProperty(Base):
    __tablename__ = "metadef_properties"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(80))
    json_schema: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MetadefTag(Base):
    __tablename__ = "metadef_tags"
    __table_args__ = (UniqueConstraint("namespace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MetadefResourceType(Base):
    __tablename__ = "metadef_resource_types"
    __table_args__ = (UniqueConstraint("name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class MetadefNamespaceResourceType(Base):
    __tablename__ = "metadef_namespace_resource_types"
    resource_type_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_resource_types.id"), primary_key=True
    )
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    properties_target: Mapped[str | None] = mapped_column(String(80), nullable=True)
    prefix: Mapped[str | None] = mapped_column(String(80), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


# --- durable background work --------------------------------------------------


class Job(Base):
    """A durable unit of background work (an upload, a volume fill from an image).

    Claimed with a lease: a worker sets lease_owner/lease_expires_at in the same
    statement that moves state from `queued` (or an expired `running`) to
    `running`, so a crashed worker's job is taken up again.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created", "state", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # "upload" (volume -> image) or "fill" (image -> new volume), ...
    kind: Mapped[str] = mapped_column(String(16))
    # queued | running | done | failed | cancelled
    state: Mapped[str] = mapped_column(String(16))
    # "" for the jobs that work on an image alone (image imports).
    volume_id: Mapped[str] = mapped_column(String(36), index=True)
    image_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    project_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Parameters of the work (disk_format, container_format, ...).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # A new random value at every claim: the fencing token. A worker's final
    # writes check it in their own transaction (db/jobs.hold), so a worker whose
    # job was claimed again by another can no longer commit.
    lease_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    bytes_done: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_total: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class ProjectQuota(Base):
    """A project's own limit on one resource (Cinder's quotas table); a resource
    without a row takes its class's (or the configured) default."""

    __tablename__ = "quotas"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resource: Mapped[str] = mapped_column(String(300), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaClassLimit(Base):
    """A quota class's limit on one resource (Cinder's quota_classes table); the
    `default` class overrides the configured defaults."""

    __tablename__ = "quota_classes"
    class_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    resource: Mapped[str] = mapped_column(String(300), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class CacheGeneration(Base):
    """A counter bumped by every change that invalidates a per-process cache in
    every process (`tokens`: a token revoked, a user disabled, a role removed).
    The processes of a multi-process deployment compare it before trusting their
    cache (services/auth.py); the migration inserts the rows."""

    __tablename__ = "cache_generations"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
