"""snapshots: the snapshots table; volumes remember the snapshot or volume they came from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.String(length=8), nullable=False),
        sa.Column("volume_size", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"],
                                name="fk_snapshots_volume_id_volumes"),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
    )
    op.create_index("ix_snapshots_volume_id", "snapshots", ["volume_id"])
    op.create_index("ix_snapshots_status", "snapshots", ["status"])
    op.create_index(
        "ix_snapshots_project_created_id", "snapshots", ["project_id", "created_at", "id"]
    )
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(sa.Column("snapshot_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("source_volid", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.drop_column("source_volid")
        batch.drop_column("snapshot_id")
    op.drop_index("ix_snapshots_project_created_id", table_name="snapshots")
    op.drop_index("ix_snapshots_status", table_name="snapshots")
    op.drop_index("ix_snapshots_volume_id", table_name="snapshots")
    op.drop_table("snapshots")
