"""Fencing tokens on job leases, and the cache generations that multi-process
deployments check (the token cache).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("lease_token", sa.String(32), nullable=True))
    table = op.create_table(
        "cache_generations",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("generation", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(table, [{"name": "tokens", "generation": 0}])


def downgrade() -> None:
    op.drop_table("cache_generations")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_token")
