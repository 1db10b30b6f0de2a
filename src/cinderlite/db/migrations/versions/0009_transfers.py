"""transfers: offers of volumes to other projects (salted hashes of their auth keys)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "transfers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("volume_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("crypt_hash", sa.String(length=128), nullable=False),
        sa.Column("no_snapshots", sa.Boolean(), nullable=False),
        sa.Column("source_project_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["volume_id"], ["volumes.id"], ondelete="CASCADE",
                                name="fk_transfers_volume_id_volumes"),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
    )
    op.create_index("ix_transfers_volume_id", "transfers", ["volume_id"])
    op.create_index(
        "ix_transfers_source_project_created", "transfers",
        ["source_project_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_transfers_source_project_created", table_name="transfers")
    op.drop_index("ix_transfers_volume_id", table_name="transfers")
    op.drop_table("transfers")
