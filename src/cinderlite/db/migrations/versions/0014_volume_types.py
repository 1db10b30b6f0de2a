"""Volume types as an admin API: private types' project access, encryption specs
(metadata only) and per-project default types (3.62).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 13:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "volume_type_projects",
        sa.Column("volume_type_id", sa.String(36),
                  sa.ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("project_id", sa.String(64), primary_key=True),
    )
    op.create_table(
        "volume_type_encryption",
        sa.Column("volume_type_id", sa.String(36),
                  sa.ForeignKey("volume_types.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("encryption_id", sa.String(36), nullable=False),
        sa.Column("cipher", sa.String(255), nullable=True),
        sa.Column("key_size", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(255), nullable=False),
        sa.Column("control_location", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    op.create_table(
        "default_volume_types",
        sa.Column("project_id", sa.String(64), primary_key=True),
        sa.Column("volume_type_id", sa.String(36),
                  sa.ForeignKey("volume_types.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
    )
    op.create_index(
        "ix_default_volume_types_volume_type_id", "default_volume_types", ["volume_type_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_default_volume_types_volume_type_id", table_name="default_volume_types")
    op.drop_table("default_volume_types")
    op.drop_table("volume_type_encryption")
    op.drop_table("volume_type_projects")
