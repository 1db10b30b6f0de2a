"""QoS specs: the specs, their keys, and an index on the volume types' association.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qos_specs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("consumer", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("name", name="uq_qos_specs_name"),
    )
    op.create_table(
        "qos_spec_keys",
        sa.Column("qos_specs_id", sa.String(36),
                  sa.ForeignKey("qos_specs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(255), nullable=True),
    )
    # volume_types.qos_specs_id exists since 0001 (always NULL until now): the
    # association is that column; associations and the in-use check read it.
    op.create_index("ix_volume_types_qos_specs_id", "volume_types", ["qos_specs_id"])


def downgrade() -> None:
    op.drop_index("ix_volume_types_qos_specs_id", table_name="volume_types")
    op.drop_table("qos_spec_keys")
    op.drop_table("qos_specs")
