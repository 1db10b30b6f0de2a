"""Image stores: which configured stores hold an image's data (Glance's `stores`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for the images that exist: start-up recovery records, once image_stores
    # are configured, the stores their data is found in.
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("stores", sa.String(1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("stores")
