"""implied_roles: Keystone's role inference rules, with its defaults

admin implies member and member implies reader, as keystone-manage bootstrap
sets them up; a database made before this revision gets them here.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULTS = (("admin", "member"), ("member", "reader"))


def upgrade() -> None:
    op.create_table(
        "implied_roles",
        sa.Column("prior_role_id", sa.String(length=64), nullable=False),
        sa.Column("implied_role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["implied_role_id"], ["roles.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["prior_role_id"], ["roles.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("prior_role_id", "implied_role_id"),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT name, id FROM roles")).all()
    ids: dict[str, str] = {str(row[0]): str(row[1]) for row in rows}
    for prior, implied in DEFAULTS:
        if prior in ids and implied in ids:
            conn.execute(
                sa.text("INSERT INTO implied_roles (prior_role_id, implied_role_id) "
                        "VALUES (:p, :i)"),
                {"p": ids[prior], "i": ids[implied]},
            )


def downgrade() -> None:
    op.drop_table("implied_roles")
