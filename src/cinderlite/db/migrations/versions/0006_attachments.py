"""attachments: an attachment keeps its connector and connection info (the
attachments API, 3.27); volumes keep Cinder's admin metadata (readonly,
attached_mode)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volume_attachments") as batch:
        batch.add_column(sa.Column("connector", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("connection_info", sa.JSON(), nullable=True))
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(
            sa.Column("admin_meta", sa.JSON(), nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.drop_column("admin_meta")
    with op.batch_alter_table("volume_attachments") as batch:
        batch.drop_column("connection_info")
        batch.drop_column("connector")
