"""groups: group types, generic volume groups, their volume types and group snapshots;
volumes.group_id and snapshots.group_snapshot_id

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_types",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_public", sa.Boolean(), nullable=False),
        sa.Column("group_specs", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_group_types"),
        sa.UniqueConstraint("name", name="uq_group_types_name"),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("availability_zone", sa.String(length=255), nullable=False),
        sa.Column("group_type_id", sa.String(length=36), nullable=False),
        sa.Column("group_snapshot_id", sa.String(length=36), nullable=True),
        sa.Column("source_group_id", sa.String(length=36), nullable=True),
        sa.Column("replication_status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["group_type_id"], ["group_types.id"],
                                name="fk_groups_group_type_id_group_types"),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
    )
    op.create_index("ix_groups_status", "groups", ["status"])
    op.create_index("ix_groups_group_type_id", "groups", ["group_type_id"])
    op.create_index("ix_groups_group_snapshot_id", "groups", ["group_snapshot_id"])
    op.create_index("ix_groups_source_group_id", "groups", ["source_group_id"])
    op.create_index("ix_groups_project_created_id", "groups", ["project_id", "created_at", "id"])
    op.create_table(
        "group_volume_types",
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("volume_type_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE",
                                name="fk_group_volume_types_group_id_groups"),
        sa.ForeignKeyConstraint(["volume_type_id"], ["volume_types.id"],
                                name="fk_group_volume_types_volume_type_id_volume_types"),
        sa.PrimaryKeyConstraint("group_id", "volume_type_id", name="pk_group_volume_types"),
    )
    op.create_index(
        "ix_group_volume_types_volume_type_id", "group_volume_types", ["volume_type_id"]
    )
    op.create_table(
        "group_snapshots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("group_id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("group_type_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"],
                                name="fk_group_snapshots_group_id_groups"),
        sa.PrimaryKeyConstraint("id", name="pk_group_snapshots"),
    )
    op.create_index("ix_group_snapshots_group_id", "group_snapshots", ["group_id"])
    op.create_index("ix_group_snapshots_status", "group_snapshots", ["status"])
    op.create_index(
        "ix_group_snapshots_project_created_id", "group_snapshots",
        ["project_id", "created_at", "id"],
    )
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(sa.Column("group_id", sa.String(length=36), nullable=True))
        batch.create_index("ix_volumes_group_id", ["group_id"])
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("group_snapshot_id", sa.String(length=36), nullable=True))
        batch.create_index("ix_snapshots_group_snapshot_id", ["group_snapshot_id"])


def downgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_index("ix_snapshots_group_snapshot_id")
        batch.drop_column("group_snapshot_id")
    with op.batch_alter_table("volumes") as batch:
        batch.drop_index("ix_volumes_group_id")
        batch.drop_column("group_id")
    op.drop_table("group_snapshots")
    op.drop_table("group_volume_types")
    op.drop_table("groups")
    op.drop_table("group_types")
