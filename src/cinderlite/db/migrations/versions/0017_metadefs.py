"""Image metadata definitions (Glance metadefs): namespaces, their objects,
properties and tags, resource types and their associations with namespaces.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_NAMESPACE_FK = "metadef_namespaces.id"


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(32), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("namespace", name=op.f("uq_metadef_namespaces_namespace")),
    )
    op.create_index(op.f("ix_metadef_namespaces_owner"), "metadef_namespaces", ["owner"])
    for table, extra in (
        (
            "metadef_objects",
            [
                sa.Column("description", sa.Text(), nullable=True),
                sa.Column("required", sa.JSON(), nullable=False),
                sa.Column("json_schema", sa.JSON(), nullable=False),
            ],
        ),
        ("metadef_properties", [sa.Column("json_schema", sa.JSON(), nullable=False)]),
        ("metadef_tags", []),
    ):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column(
                "namespace_id",
                sa.Integer(),
                sa.ForeignKey(_NAMESPACE_FK, ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("name", sa.String(80), nullable=False),
            *extra,
            *_stamps(),
            sa.UniqueConstraint("namespace_id", "name", name=op.f(f"uq_{table}_namespace_id")),
        )
    op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("protected", sa.Boolean(), nullable=False),
        *_stamps(),
        sa.UniqueConstraint("name", name=op.f("uq_metadef_resource_types_name")),
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column(
            "resource_type_id",
            sa.Integer(),
            sa.ForeignKey("metadef_resource_types.id"),
            primary_key=True,
        ),
        sa.Column(
            "namespace_id",
            sa.Integer(),
            sa.ForeignKey(_NAMESPACE_FK, ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("properties_target", sa.String(80), nullable=True),
        sa.Column("prefix", sa.String(80), nullable=True),
        *_stamps(),
    )
    op.create_index(
        op.f("ix_metadef_namespace_resource_types_namespace_id"),
        "metadef_namespace_resource_types",
        ["namespace_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_metadef_namespace_resource_types_namespace_id"),
        table_name="metadef_namespace_resource_types",
    )
    op.drop_table("metadef_namespace_resource_types")
    op.drop_table("metadef_resource_types")
    for table in ("metadef_tags", "metadef_properties", "metadef_objects"):
        op.drop_table(table)
    op.drop_index(op.f("ix_metadef_namespaces_owner"), table_name="metadef_namespaces")
    op.drop_table("metadef_namespaces")
