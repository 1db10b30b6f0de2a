"""catalog and system scope: regions, services, endpoints; system role assignments

The catalog was built from settings on every token; it is now kept in these
tables, which the identity API manages (the built-in endpoints follow the
settings at each start, see services/catalog.py). System role assignments carry
Keystone's system scope; the bootstrapped admin gets `admin` on the system, as
keystone-manage bootstrap gives it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_assignments",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name="fk_system_assignments_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["role_id"], ["roles.id"],
                                name="fk_system_assignments_role_id_roles", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role_id", name="pk_system_assignments"),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("parent_region_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["parent_region_id"], ["regions.id"],
                                name="fk_regions_parent_region_id_regions"),
        sa.PrimaryKeyConstraint("id", name="pk_regions"),
    )
    op.create_table(
        "services",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_services"),
    )
    op.create_table(
        "endpoints",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("interface", sa.String(length=8), nullable=False),
        sa.Column("region_id", sa.String(length=255), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["service_id"], ["services.id"],
                                name="fk_endpoints_service_id_services", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["region_id"], ["regions.id"],
                                name="fk_endpoints_region_id_regions"),
        sa.PrimaryKeyConstraint("id", name="pk_endpoints"),
    )
    op.create_index("ix_endpoints_service_id", "endpoints", ["service_id"])
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(
            sa.Column("system", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    conn = op.get_bind()
    admin = conn.execute(sa.text(
        "SELECT u.id FROM users u WHERE u.name = 'admin' AND u.domain_id = 'default'"
    )).scalar()
    role = conn.execute(sa.text("SELECT id FROM roles WHERE name = 'admin'")).scalar()
    if admin is not None and role is not None:
        conn.execute(
            sa.text("INSERT INTO system_assignments (user_id, role_id) VALUES (:u, :r)"),
            {"u": admin, "r": role},
        )


def downgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("system")
    op.drop_index("ix_endpoints_service_id", table_name="endpoints")
    op.drop_table("endpoints")
    op.drop_table("services")
    op.drop_table("regions")
    op.drop_table("system_assignments")
