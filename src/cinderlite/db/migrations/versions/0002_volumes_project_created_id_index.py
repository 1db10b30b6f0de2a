"""volumes: index (project_id, created_at, id) for the default listing order

The volume listing sorts by created_at desc with id desc as the tie-breaker
(db/volumes.py `_order_keys`). Without id in the index, SQLite builds a temporary
B-tree for the ORDER BY and PostgreSQL sorts; with it, a project's page is read in
index order. The new index replaces ix_volumes_project_created, its prefix.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 12:49:30.458013
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volumes_project_created_id", ["project_id", "created_at", "id"], unique=False
        )
        batch_op.drop_index("ix_volumes_project_created")


def downgrade() -> None:
    with op.batch_alter_table("volumes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_volumes_project_created", ["project_id", "created_at"], unique=False
        )
        batch_op.drop_index("ix_volumes_project_created_id")
