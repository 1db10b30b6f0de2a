"""snapshot image metadata: snapshots keep their volume's image metadata

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: NULL is "nothing kept" (the volume was not bootable).
    with op.batch_alter_table("snapshots") as batch:
        batch.add_column(sa.Column("image_meta", sa.JSON(), nullable=True))
    # Snapshots taken before this revision keep what their volume has now (the
    # closest to what it had then), when it is bootable.
    op.execute(sa.text(
        "UPDATE snapshots SET image_meta = (SELECT volumes.image_meta FROM volumes "
        "WHERE volumes.id = snapshots.volume_id AND volumes.bootable)"
    ))


def downgrade() -> None:
    with op.batch_alter_table("snapshots") as batch:
        batch.drop_column("image_meta")
