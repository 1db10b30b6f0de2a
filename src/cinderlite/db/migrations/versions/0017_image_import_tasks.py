"""Image tasks: the records of interoperable imports (Glance's tasks).

Revision ID: 0017
Revises: 0014
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(255), nullable=True),
        sa.Column("image_id", sa.String(36), nullable=True),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("input", sa.JSON(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_image_tasks_status", "image_tasks", ["status"])
    op.create_index("ix_image_tasks_image_id", "image_tasks", ["image_id"])
    op.create_index("ix_image_tasks_owner_created", "image_tasks", ["owner", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_image_tasks_owner_created", table_name="image_tasks")
    op.drop_index("ix_image_tasks_image_id", table_name="image_tasks")
    op.drop_index("ix_image_tasks_status", table_name="image_tasks")
    op.drop_table("image_tasks")
