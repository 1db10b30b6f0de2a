"""Queries for image metadata definitions (Glance metadefs): the one place the
metadef tables are read and written. Every function works inside the caller's
unit of work; a unique name taken (by this unit or a concurrent one) raises
Conflict with the message the caller gives, and the unit rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, delete, or_, select
from sqlalchemy.exc import IntegrityError

from cinderlite.db.database import Unit
from cinderlite.db.models import (
    Base,
    MetadefNamespace,
    MetadefNamespaceResourceType,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefTag,
)
from cinderlite.db.paging import SortColumns
from cinderlite.domain import metadefs as md
from cinderlite.domain.errors import Conflict

NAMESPACE_SORT = SortColumns(
    {
        "id": MetadefNamespace.id,
        "namespace": MetadefNamespace.namespace,
        "display_name": MetadefNamespace.display_name,
        "description": MetadefNamespace.description,
        "visibility": MetadefNamespace.visibility,
        "protected": MetadefNamespace.protected,
        "owner": MetadefNamespace.owner,
        "created_at": MetadefNamespace.created_at,
        "updated_at": MetadefNamespace.updated_at,
    }
)

TAG_SORT = SortColumns(
    {
        "id": MetadefTag.id,
        "name": MetadefTag.name,
        "namespace_id": MetadefTag.namespace_id,
        "created_at": MetadefTag.created_at,
        "updated_at": MetadefTag.updated_at,
    }
)

RowT = TypeVar("RowT", bound=Base)


# --- rows -> records ---------------------------------------------------------------


def namespace_record(row: MetadefNamespace) -> md.Namespace:
    return md.Namespace(
        namespace=row.namespace,
        display_name=row.display_name,
        description=row.description,
        visibility=row.visibility,
        protected=bool(row.protected),
        owner=row.owner,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def object_record(row: MetadefObject) -> md.MetaObject:
    return md.MetaObject(
        name=row.name,
        description=row.description,
        required=list(row.required or []),
        properties=dict(row.json_schema or {}),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def property_record(row: MetadefProperty) -> md.Property:
    return md.Property(name=row.name, schema=dict(row.json_schema or {}))


def tag_record(row: MetadefTag) -> md.Tag:
    return md.Tag(name=row.name, created_at=row.created_at, updated_at=row.updated_at)


def resource_type_record(row: MetadefResourceType) -> md.ResourceType:
    return md.ResourceType(
        name=row.name,
        protected=bool(row.protected),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _insert(unit: Unit, row: RowT, duplicate: str) -> RowT:
    unit.add(row)
    try:
        await unit.flush()
    except IntegrityError:
        raise Conflict(duplicate) from None
    return row


async def _flush(unit: Unit, duplicate: str) -> None:
    try:
        await unit.flush()
    except IntegrityError:
        raise Conflict(duplicate) from None


async def _all(unit: Unit, stmt: Select[RowT]) -> list[RowT]:
    return list((await unit.execute(stmt)).scalars())


# --- namespaces --------------------------------------------------------------------


async def get_namespace(
    unit: Unit, name: str, *, for_update: bool = False
) -> MetadefNamespace | None:
    stmt = select(MetadefNamespace).where(MetadefNamespace.namespace == name)
    if for_update:
        stmt = stmt.with_for_update()
    return (await unit.execute(stmt)).scalar_one_or_none()


async def list_namespaces(
    unit: Unit,
    *,
    visible_to: str | None,
    visibility: str | None,
    resource_types: Sequence[str] | None,
    sort: Sequence[tuple[str, str]],
    limit: int | None,
    marker: MetadefNamespace | None,
) -> list[MetadefNamespace]:
    """Namespaces in `sort` order (then created_at and id, as Glance pages them).
    visible_to: a project id (its own and the public ones), None for all."""
    stmt = select(MetadefNamespace)
    if visible_to is not None:
        stmt = stmt.where(
            or_(MetadefNamespace.owner == visible_to, MetadefNamespace.visibility == "public")
        )
    if visibility is not None:
        stmt = stmt.where(MetadefNamespace.visibility == visibility)
    if resource_types is not None:
        associated = (
            select(MetadefNamespaceResourceType.namespace_id)
            .join(
                MetadefResourceType,
                MetadefResourceType.id == MetadefNamespaceResourceType.resource_type_id,
            )
            .where(MetadefResourceType.name.in_(list(resource_types)))
        )
        stmt = stmt.where(MetadefNamespace.id.in_(associated))
    keys = list(sort)
    if not any(k == "created_at" for k, _ in keys):
        keys.append(("created_at", keys[-1][1]))
    keys = NAMESPACE_SORT.order_keys(keys)
    if marker is not None:
        stmt = stmt.where(NAMESPACE_SORT.after(marker, keys))
    stmt = stmt.order_by(*(NAMESPACE_SORT.order(k, d) for k, d in keys))
    if limit is not None:
        stmt = stmt.limit(limit)
    return await _all(unit, stmt)


async def add_namespace(unit: Unit, row: MetadefNamespace, *, duplicate: str) -> MetadefNamespace:
    return await _insert(unit, row, duplicate)


async def save(unit: Unit, *, duplicate: str) -> None:
    """Write the changes made to rows of this unit (a rename may take a used name)."""
    await _flush(unit, duplicate)


async def delete_namespace(unit: Unit, row: MetadefNamespace) -> None:
    """The namespace and everything in it (explicitly, as Glance's delete_cascade:
    the foreign keys cascade too, where the database enforces them)."""
    for model in (MetadefTag, MetadefObject, MetadefProperty, MetadefNamespaceResourceType):
        await unit.execute(delete(model).where(model.namespace_id == row.id))
    await unit.execute(delete(MetadefNamespace).where(MetadefNamespace.id == row.id))


async def delete_contents(
    unit: Unit,
    namespace_id: int,
    model: type[MetadefObject] | type[MetadefProperty] | type[MetadefTag],
) -> None:
    await unit.execute(delete(model).where(model.namespace_id == namespace_id))


# --- objects, properties, tags -------------------------------------------------------


ContentT = TypeVar("ContentT", MetadefObject, MetadefProperty, MetadefTag)


async def list_content(unit: Unit, model: type[ContentT], namespace_id: int) -> list[ContentT]:
    """A namespace's objects or properties (`model`), in creation order."""
    stmt = select(model).where(model.namespace_id == namespace_id).order_by(model.id)
    return await _all(unit, stmt)


async def get_content(
    unit: Unit, model: type[ContentT], namespace_id: int, name: str
) -> ContentT | None:
    """A namespace's object, property or tag (`model`) named `name`."""
    stmt = select(model).where(model.namespace_id == namespace_id, model.name == name)
    return (await unit.execute(stmt)).scalar_one_or_none()


async def list_tags(
    unit: Unit,
    namespace_id: int,
    *,
    sort: Sequence[tuple[str, str]] = (),
    limit: int | None = None,
    marker: MetadefTag | None = None,
) -> list[MetadefTag]:
    stmt = select(MetadefTag).where(MetadefTag.namespace_id == namespace_id)
    keys = list(sort) or [("created_at", "asc")]
    if not any(k == "created_at" for k, _ in keys):
        keys.append(("created_at", keys[-1][1]))
    keys = TAG_SORT.order_keys(keys)
    if marker is not None:
        stmt = stmt.where(TAG_SORT.after(marker, keys))
    stmt = stmt.order_by(*(TAG_SORT.order(k, d) for k, d in keys))
    if limit is not None:
        stmt = stmt.limit(limit)
    return await _all(unit, stmt)


async def add(unit: Unit, row: RowT, *, duplicate: str) -> RowT:
    """Insert an object, property or tag row."""
    return await _insert(unit, row, duplicate)


async def add_tags(
    unit: Unit,
    namespace_id: int,
    names: Iterable[str],
    *,
    now: datetime,
    duplicate: Callable[[str], str],
) -> None:
    """Insert tags one by one, so a name taken (also twice in `names`) is named."""
    for name in names:
        await _insert(
            unit,
            MetadefTag(namespace_id=namespace_id, name=name, created_at=now, updated_at=now),
            duplicate(name),
        )


async def remove(unit: Unit, row: Base) -> None:
    await unit.delete(row)
    await unit.flush()


# --- resource types ----------------------------------------------------------------


async def list_resource_types(unit: Unit) -> list[MetadefResourceType]:
    return await _all(unit, select(MetadefResourceType).order_by(MetadefResourceType.id))


async def get_resource_type(unit: Unit, name: str) -> MetadefResourceType | None:
    stmt = select(MetadefResourceType).where(MetadefResourceType.name == name)
    return (await unit.execute(stmt)).scalar_one_or_none()


async def ensure_resource_type(unit: Unit, name: str, *, now: datetime) -> MetadefResourceType:
    """The resource type named `name`, made (not protected) when missing."""
    found = await get_resource_type(unit, name)
    if found is not None:
        return found
    return await _insert(
        unit,
        MetadefResourceType(name=name, protected=False, created_at=now, updated_at=now),
        f"A metadata definition resource-type with name={name} already exists.",
    )


async def associations(unit: Unit, namespace_ids: Sequence[int]) -> dict[int, list[md.Association]]:
    """The resource type associations of each namespace, oldest first."""
    if not namespace_ids:
        return {}
    stmt = (
        select(MetadefNamespaceResourceType, MetadefResourceType.name)
        .join(
            MetadefResourceType,
            MetadefResourceType.id == MetadefNamespaceResourceType.resource_type_id,
        )
        .where(MetadefNamespaceResourceType.namespace_id.in_(list(namespace_ids)))
        .order_by(MetadefNamespaceResourceType.created_at, MetadefResourceType.id)
    )
    found: dict[int, list[md.Association]] = {}
    for assoc, name in (await unit.execute(stmt)).all():
        found.setdefault(assoc.namespace_id, []).append(
            md.Association(
                name=name,
                prefix=assoc.prefix,
                properties_target=assoc.properties_target,
                created_at=assoc.created_at,
                updated_at=assoc.updated_at,
            )
        )
    return found


async def add_association(
    unit: Unit,
    namespace_id: int,
    resource_type_id: int,
    *,
    prefix: str | None,
    properties_target: str | None,
    now: datetime,
    duplicate: str,
) -> MetadefNamespaceResourceType:
    row = MetadefNamespaceResourceType(
        namespace_id=namespace_id,
        resource_type_id=resource_type_id,
        prefix=prefix,
        properties_target=properties_target,
        created_at=now,
        updated_at=now,
    )
    return await _insert(unit, row, duplicate)


async def delete_association(unit: Unit, namespace_id: int, resource_type_id: int) -> bool:
    stmt = delete(MetadefNamespaceResourceType).where(
        MetadefNamespaceResourceType.namespace_id == namespace_id,
        MetadefNamespaceResourceType.resource_type_id == resource_type_id,
    )
    result = await unit.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]


__all__ = [
    "MetadefNamespace",
    "MetadefObject",
    "MetadefProperty",
    "MetadefResourceType",
    "MetadefTag",
    "Unit",
]
