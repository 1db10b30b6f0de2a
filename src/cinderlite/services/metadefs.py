"""Image metadata definitions (Glance v2 metadefs): namespaces and what they hold.

Who may do what (Glance's defaults, glance/policies/metadef.py): admins write
(`metadef_admin` for every add, modify and delete); readers read the public
namespaces and their own project's. A namespace the caller does not see is
"not found", whatever it was asked to do; a write on one it sees but may not
change is 403 "You are not authorized to complete <action> action.". Each
controller of glance/api/v2/metadef_*.py words its 404s its own way; the
messages below follow them.

Every use case is one unit of work: a crash halfway rolls the transaction back
and leaves nothing half made (a namespace created with its objects, properties,
tags and resource types is all there or not at all), and a full disk makes the
database refuse the commit with the same result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from cinderlite.db import metadefs as db
from cinderlite.domain import metadefs as md
from cinderlite.domain.clock import utcnow
from cinderlite.domain.errors import Forbidden, NotFound, ServiceError
from cinderlite.domain.identity import ADMIN_ROLE, MEMBER_ROLE, READER_ROLE, Caller
from cinderlite.services.units import Unit, Units

RefusalFactory = Callable[[str], ServiceError]

T = TypeVar("T")

_READ_ROLES = frozenset({READER_ROLE, MEMBER_ROLE, ADMIN_ROLE})


def _not_visible(name: str) -> Forbidden:
    # The database layer's refusal, which Glance's namespace index lets through.
    return Forbidden(f"Forbidding request, metadata definition namespace={name} is not visible.")


def _resource_not_found(_name: str) -> NotFound:
    # webob's HTTPNotFound() without an explanation (get_metadef_namespace refused).
    return NotFound("The resource could not be found.")


@dataclass(frozen=True)
class AssociationSpec:
    name: str
    prefix: str | None = None
    properties_target: str | None = None


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    description: str | None = None
    required: list[str] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class NamespaceSpec:
    """A namespace as created or replaced: its own fields, and (on create) what it holds."""

    namespace: str
    display_name: str | None = None
    description: str | None = None
    visibility: str | None = None
    protected: bool | None = None
    owner: str | None = None
    associations: list[AssociationSpec] = field(default_factory=list)
    objects: list[ObjectSpec] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NamespacePage:
    namespaces: list[md.Namespace]
    associations: dict[str, list[md.Association]]


def _dup_tag(namespace: str) -> Callable[[str], str]:
    def message(name: str) -> str:
        return (
            f"A metadata tag with name={name} already exists in namespace={namespace}. "
            "(Please note that metadata tag names are case insensitive)."
        )

    return message


class MetadefService:
    """The metadef use cases, each in one unit of work."""

    def __init__(self, *, units: Units) -> None:
        self._units = units

    # --- who sees what ---------------------------------------------------------

    @staticmethod
    def _sees(caller: Caller, row: db.MetadefNamespace) -> bool:
        if caller.is_admin:
            return True
        return bool(caller.roles & _READ_ROLES) and md.visible(
            db.namespace_record(row), project_id=caller.project_id, is_admin=False
        )

    @staticmethod
    def _may_read(caller: Caller, action: str) -> None:
        """A project reader's rule without a namespace (get_metadef_namespaces,
        list_metadef_resource_types)."""
        if not caller.is_admin and not caller.roles & _READ_ROLES:
            raise md.not_authorized(action)

    @staticmethod
    def _may_write(caller: Caller, action: str) -> None:
        """metadef_admin: every add, modify and delete."""
        if not caller.is_admin:
            raise md.not_authorized(action)

    async def _namespace(
        self,
        caller: Caller,
        unit: Unit,
        name: str,
        *,
        missing: RefusalFactory = md.namespace_not_found,
        hidden: RefusalFactory = md.namespace_not_found,
        for_update: bool = False,
    ) -> db.MetadefNamespace:
        row = await db.get_namespace(unit, name, for_update=for_update)
        if row is None:
            raise missing(name)
        if not self._sees(caller, row):
            raise hidden(name)
        return row

    # --- namespaces ------------------------------------------------------------

    async def list_namespaces(
        self,
        caller: Caller,
        *,
        visibility: str | None,
        resource_types: Sequence[str] | None,
        sort_key: str,
        sort_dir: str,
        limit: int,
        marker: str | None,
    ) -> NamespacePage:
        """GET /v2/metadefs/namespaces: the visible ones, with their resource types."""
        self._may_read(caller, "get_metadef_namespaces")
        async with self._units.read() as unit:
            marker_row = None
            if marker is not None:
                marker_row = await self._namespace(
                    caller,
                    unit,
                    marker,
                    missing=md.no_such_namespace,
                    hidden=_not_visible,
                )
            rows = await db.list_namespaces(
                unit,
                visible_to=None if caller.is_admin else caller.project_id,
                visibility=visibility,
                resource_types=resource_types,
                sort=[(sort_key, sort_dir)],
                limit=limit,
                marker=marker_row,
            )
            rows = [r for r in rows if self._sees(caller, r)]
            found = await db.associations(unit, [r.id for r in rows])
            return NamespacePage(
                namespaces=[db.namespace_record(r) for r in rows],
                associations={r.namespace: found.get(r.id, []) for r in rows},
            )

    async def create_namespace(self, caller: Caller, spec: NamespaceSpec) -> md.Namespace:
        """POST /v2/metadefs/namespaces, with any objects, properties, tags and
        resource type associations it names, all in one transaction."""
        self._may_write(caller, "add_metadef_namespace")
        now = utcnow()
        async with self._units.write() as unit:
            row = await db.add_namespace(
                unit,
                db.MetadefNamespace(
                    namespace=spec.namespace,
                    display_name=spec.display_name,
                    description=spec.description,
                    visibility=spec.visibility or "private",
                    protected=bool(spec.protected),
                    owner=spec.owner or caller.project_id,
                    created_at=now,
                    updated_at=now,
                ),
                duplicate=f"The metadata definition namespace={spec.namespace} already exists.",
            )
            for assoc in spec.associations:
                await self._associate(unit, row, assoc, now=now)
            for obj in spec.objects:
                await db.add(
                    unit,
                    db.MetadefObject(
                        namespace_id=row.id,
                        name=obj.name,
                        description=obj.description,
                        required=list(obj.required),
                        json_schema=dict(obj.properties),
                        created_at=now,
                        updated_at=now,
                    ),
                    duplicate=_dup_object(obj.name, spec.namespace),
                )
            await db.add_tags(unit, row.id, spec.tags, now=now, duplicate=_dup_tag(spec.namespace))
            for name, schema in spec.properties.items():
                await db.add(
                    unit,
                    db.MetadefProperty(
                        namespace_id=row.id,
                        name=name,
                        json_schema=dict(schema),
                        created_at=now,
                        updated_at=now,
                    ),
                    duplicate=_dup_property(name, spec.namespace),
                )
            return db.namespace_record(row)

    async def show_namespace(
        self, caller: Caller, name: str, *, resource_type: str | None = None
    ) -> md.NamespaceDetail:
        """GET /v2/metadefs/namespaces/{ns}: with its resource types, objects,
        properties and tags; their property names prefixed as for `resource_type`."""
        async with self._units.read() as unit:
            row = await self._namespace(
                caller, unit, name, missing=md.no_such_namespace, hidden=_resource_not_found
            )
            associations = (await db.associations(unit, [row.id])).get(row.id, [])
            objects = [
                db.object_record(o) for o in await db.list_content(unit, db.MetadefObject, row.id)
            ]
            properties = {
                p.name: dict(p.json_schema or {})
                for p in await db.list_content(unit, db.MetadefProperty, row.id)
            }
            tags = [db.tag_record(t) for t in await db.list_tags(unit, row.id)]
        detail = md.NamespaceDetail(
            namespace=db.namespace_record(row),
            associations=associations,
            properties=properties,
            objects=objects,
            tags=tags,
        )
        if resource_type:
            detail = _prefixed(detail, resource_type)
        return detail

    async def update_namespace(
        self, caller: Caller, name: str, spec: NamespaceSpec
    ) -> md.Namespace:
        """PUT /v2/metadefs/namespaces/{ns}: every field replaced; those left out
        take their create defaults, as in Glance."""
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, name, for_update=True)
            self._may_write(caller, "modify_metadef_namespace")
            row.namespace = spec.namespace
            row.display_name = spec.display_name
            row.description = spec.description
            row.visibility = spec.visibility or "private"
            row.protected = bool(spec.protected)
            row.owner = spec.owner or caller.project_id
            row.updated_at = utcnow()
            await db.save(
                unit,
                duplicate=(
                    "Invalid update. It would result in a duplicate metadata definition "
                    f"namespace with the same name of {spec.namespace}"
                ),
            )
            return db.namespace_record(row)

    async def delete_namespace(self, caller: Caller, name: str) -> None:
        """DELETE /v2/metadefs/namespaces/{ns}: with everything in it, unless protected."""
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, name, for_update=True)
            self._may_write(caller, "delete_metadef_namespace")
            if row.protected:
                raise md.protected_namespace(row.namespace)
            await db.delete_namespace(unit, row)

    async def delete_contents(self, caller: Caller, name: str, what: str) -> None:
        """DELETE /v2/metadefs/namespaces/{ns}/objects|properties|tags: all of them.
        Glance checks delete_metadef_namespace (and delete_metadef_tags for tags)
        and refuses a protected namespace with the namespace's own message."""
        model: type[db.MetadefObject] | type[db.MetadefProperty] | type[db.MetadefTag]
        if what == "objects":
            model = db.MetadefObject
        elif what == "properties":
            model = db.MetadefProperty
        else:
            model = db.MetadefTag
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, name, for_update=True)
            self._may_write(caller, "delete_metadef_namespace")
            if what == "tags":
                self._may_write(caller, "delete_metadef_tags")
            if row.protected:
                raise md.protected_namespace(row.namespace)
            await db.delete_contents(unit, row.id, model)

    # --- objects ---------------------------------------------------------------

    async def _object_namespace(
        self,
        caller: Caller,
        unit: Unit,
        name: str,
        action: str | None = None,
        *,
        for_update: bool = False,
    ) -> db.MetadefNamespace:
        row = await self._namespace(
            caller, unit, name, missing=md.no_such_namespace, for_update=for_update
        )
        if action is not None:
            self._may_write(caller, action)
        return row

    async def list_objects(self, caller: Caller, namespace: str) -> list[md.MetaObject]:
        async with self._units.read() as unit:
            row = await self._object_namespace(caller, unit, namespace)
            return [
                db.object_record(o) for o in await db.list_content(unit, db.MetadefObject, row.id)
            ]

    async def show_object(self, caller: Caller, namespace: str, name: str) -> md.MetaObject:
        async with self._units.read() as unit:
            row = await self._object_namespace(caller, unit, namespace)
            return db.object_record(await _get_object(unit, row, name))

    async def create_object(
        self, caller: Caller, namespace: str, spec: ObjectSpec
    ) -> md.MetaObject:
        now = utcnow()
        async with self._units.write() as unit:
            row = await self._object_namespace(caller, unit, namespace, "add_metadef_object")
            obj = await db.add(
                unit,
                db.MetadefObject(
                    namespace_id=row.id,
                    name=spec.name,
                    description=spec.description,
                    required=list(spec.required),
                    json_schema=dict(spec.properties),
                    created_at=now,
                    updated_at=now,
                ),
                duplicate=_dup_object(spec.name, namespace),
            )
            return db.object_record(obj)

    async def update_object(
        self, caller: Caller, namespace: str, name: str, spec: ObjectSpec
    ) -> md.MetaObject:
        async with self._units.write() as unit:
            row = await self._object_namespace(
                caller, unit, namespace, "modify_metadef_object", for_update=True
            )
            obj = await _get_object(unit, row, name)
            obj.name = spec.name
            obj.description = spec.description
            obj.required = list(spec.required)
            obj.json_schema = dict(spec.properties)
            obj.updated_at = utcnow()
            await db.save(
                unit,
                duplicate=(
                    "Invalid update. It would result in a duplicate metadata definition object "
                    f"with the same name={spec.name} in namespace={namespace}."
                ),
            )
            return db.object_record(obj)

    async def delete_object(self, caller: Caller, namespace: str, name: str) -> None:
        async with self._units.write() as unit:
            row = await self._object_namespace(
                caller, unit, namespace, "delete_metadef_object", for_update=True
            )
            obj = await _get_object(unit, row, name)
            await _remove_unprotected(unit, row, obj, "object")

    # --- properties ------------------------------------------------------------

    async def list_properties(self, caller: Caller, namespace: str) -> list[md.Property]:
        async with self._units.read() as unit:
            row = await self._namespace(caller, unit, namespace)
            return [
                db.property_record(p)
                for p in await db.list_content(unit, db.MetadefProperty, row.id)
            ]

    async def show_property(
        self, caller: Caller, namespace: str, name: str, *, resource_type: str | None = None
    ) -> md.Property:
        """GET .../properties/{name}; with `resource_type`, `name` carries that
        association's prefix (hw_cpu_cores -> cpu_cores)."""
        async with self._units.read() as unit:
            row = await self._namespace(caller, unit, namespace)
            if resource_type:
                prefix = await self._prefix(unit, row, resource_type)
                if prefix and name.startswith(prefix):
                    name = name[len(prefix) :]
                else:
                    raise NotFound(
                        f"Property {name} does not start with the expected resource type "
                        f"association prefix of '{prefix}'."
                    )
            return db.property_record(await _get_property(unit, row, name))

    async def _prefix(self, unit: Unit, row: db.MetadefNamespace, resource_type: str) -> str | None:
        if await db.get_resource_type(unit, resource_type) is None:
            raise NotFound(
                f"The metadata definition resource-type with name={resource_type}, was not found."
            )
        for assoc in (await db.associations(unit, [row.id])).get(row.id, []):
            if assoc.name == resource_type:
                return assoc.prefix
        raise NotFound(
            "The metadata definition resource-type association of "
            f"resource-type={resource_type} to namespace={row.namespace}, was not found."
        )

    async def create_property(
        self, caller: Caller, namespace: str, name: str, schema: dict[str, Any]
    ) -> md.Property:
        now = utcnow()
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace)
            self._may_write(caller, "add_metadef_property")
            prop = await db.add(
                unit,
                db.MetadefProperty(
                    namespace_id=row.id,
                    name=name,
                    json_schema=dict(schema),
                    created_at=now,
                    updated_at=now,
                ),
                duplicate=_dup_property(name, namespace),
            )
            return db.property_record(prop)

    async def update_property(
        self, caller: Caller, namespace: str, name: str, new_name: str, schema: dict[str, Any]
    ) -> md.Property:
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace, for_update=True)
            self._may_write(caller, "modify_metadef_property")
            prop = await _get_property(unit, row, name)
            prop.name = new_name
            prop.json_schema = dict(schema)
            prop.updated_at = utcnow()
            await db.save(
                unit,
                duplicate=(
                    "Invalid update. It would result in a duplicate metadata definition property "
                    f"with the same name={new_name} in namespace={namespace}."
                ),
            )
            return db.property_record(prop)

    async def delete_property(self, caller: Caller, namespace: str, name: str) -> None:
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace, for_update=True)
            self._may_write(caller, "remove_metadef_property")
            prop = await _get_property(unit, row, name)
            await _remove_unprotected(unit, row, prop, "property")

    # --- tags ------------------------------------------------------------------

    async def list_tags(
        self,
        caller: Caller,
        namespace: str,
        *,
        sort_key: str,
        sort_dir: str,
        limit: int | None,
        marker: str | None,
    ) -> list[md.Tag]:
        async with self._units.read() as unit:
            row = await self._namespace(caller, unit, namespace)
            marker_row = await _get_tag(unit, row, marker) if marker else None
            tags = await db.list_tags(
                unit, row.id, sort=[(sort_key, sort_dir)], limit=limit, marker=marker_row
            )
            return [db.tag_record(t) for t in tags]

    async def show_tag(self, caller: Caller, namespace: str, name: str) -> md.Tag:
        async with self._units.read() as unit:
            row = await self._namespace(caller, unit, namespace)
            return db.tag_record(await _get_tag(unit, row, name))

    async def create_tag(
        self, caller: Caller, namespace: str, name: str, *, check: Callable[[], None]
    ) -> md.Tag:
        """POST .../tags/{name}: `check` validates the name once the namespace is
        found, before the policy (Glance's order)."""
        now = utcnow()
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace)
            check()
            self._may_write(caller, "add_metadef_tag")
            tag = await db.add(
                unit,
                db.MetadefTag(
                    namespace_id=row.id,
                    name=name,
                    created_at=now,
                    updated_at=now,
                ),
                duplicate=_dup_tag(namespace)(name),
            )
            return db.tag_record(tag)

    async def create_tags(
        self, caller: Caller, namespace: str, names: Sequence[str], *, append: bool
    ) -> None:
        """POST .../tags: these tags, replacing the namespace's (X-Openstack-Append
        false, the default) or added to them."""
        now = utcnow()
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace, for_update=True)
            self._may_write(caller, "add_metadef_tags")
            if not names:
                return
            if not append:
                await db.delete_contents(unit, row.id, db.MetadefTag)
            await db.add_tags(unit, row.id, names, now=now, duplicate=_dup_tag(namespace))

    async def update_tag(self, caller: Caller, namespace: str, name: str, new_name: str) -> md.Tag:
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace, for_update=True)
            self._may_write(caller, "modify_metadef_tag")
            tag = await _get_tag(unit, row, name)
            tag.name = new_name
            tag.updated_at = utcnow()
            await db.save(unit, duplicate=_dup_tag(namespace)(new_name))
            return db.tag_record(tag)

    async def delete_tag(self, caller: Caller, namespace: str, name: str) -> None:
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace, for_update=True)
            self._may_write(caller, "delete_metadef_tag")
            tag = await _get_tag(unit, row, name)
            await _remove_unprotected(unit, row, tag, "tag")

    # --- resource types --------------------------------------------------------

    async def list_resource_types(self, caller: Caller) -> list[md.ResourceType]:
        self._may_read(caller, "list_metadef_resource_types")
        async with self._units.read() as unit:
            return [db.resource_type_record(r) for r in await db.list_resource_types(unit)]

    async def list_associations(self, caller: Caller, namespace: str) -> list[md.Association]:
        async with self._units.read() as unit:
            row = await self._namespace(caller, unit, namespace)
            return (await db.associations(unit, [row.id])).get(row.id, [])

    async def _associate(
        self, unit: Unit, row: db.MetadefNamespace, spec: AssociationSpec, *, now: datetime
    ) -> md.Association:
        rtype = await db.ensure_resource_type(unit, spec.name, now=now)
        await db.add_association(
            unit,
            row.id,
            rtype.id,
            prefix=spec.prefix,
            properties_target=spec.properties_target,
            now=now,
            duplicate=(
                "The metadata definition resource-type association of "
                f"resource-type={spec.name} to namespace={row.namespace} "
                "already exists."
            ),
        )
        return md.Association(
            name=spec.name,
            prefix=spec.prefix,
            properties_target=spec.properties_target,
            created_at=now,
            updated_at=now,
        )

    async def create_association(
        self, caller: Caller, namespace: str, spec: AssociationSpec
    ) -> md.Association:
        """POST .../resource_types: the resource type is made if it is new."""
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace)
            self._may_write(caller, "add_metadef_resource_type_association")
            return await self._associate(unit, row, spec, now=utcnow())

    async def delete_association(self, caller: Caller, namespace: str, name: str) -> None:
        """DELETE .../resource_types/{name}: the association; the type stays."""
        async with self._units.write() as unit:
            row = await self._namespace(caller, unit, namespace, for_update=True)
            self._may_write(caller, "remove_metadef_resource_type_association")
            rtype = await db.get_resource_type(unit, name)
            gone = NotFound(f"Failed to find resource type {name} to delete")
            if rtype is None:
                raise gone
            associated = (await db.associations(unit, [row.id])).get(row.id, [])
            if not any(a.name == name for a in associated):
                raise gone
            if row.protected:
                raise Forbidden(
                    f"Metadata definition resource-type-association {name} is "
                    "protected and cannot be deleted."
                )
            await db.delete_association(unit, row.id, rtype.id)


# --- helpers --------------------------------------------------------------------------


def _dup_object(name: str, namespace: str) -> str:
    return f"A metadata definition object with name={name} already exists in namespace={namespace}."


def _dup_property(name: str, namespace: str) -> str:
    return (
        f"A metadata definition property with name={name} already exists in namespace={namespace}."
    )


async def _get_object(unit: Unit, row: db.MetadefNamespace, name: str) -> db.MetadefObject:
    return _found(
        await db.get_content(unit, db.MetadefObject, row.id, name),
        f"Could not find metadata object {name}",
    )


async def _get_property(unit: Unit, row: db.MetadefNamespace, name: str) -> db.MetadefProperty:
    return _found(
        await db.get_content(unit, db.MetadefProperty, row.id, name),
        f"Could not find property {name}",
    )


async def _get_tag(unit: Unit, row: db.MetadefNamespace, name: str) -> db.MetadefTag:
    return _found(
        await db.get_content(unit, db.MetadefTag, row.id, name),
        f"Could not find metadata tag {name}",
    )


def _found(item: T | None, message: str) -> T:
    if item is None:
        raise NotFound(message)
    return item


async def _remove_unprotected(
    unit: Unit,
    row: db.MetadefNamespace,
    item: db.MetadefObject | db.MetadefProperty | db.MetadefTag,
    kind: str,
) -> None:
    """Delete an object, property or tag unless its namespace is protected (Glance's 403)."""
    if row.protected:
        raise Forbidden(
            f"Metadata definition {kind} {item.name} is protected and cannot be deleted."
        )
    await db.remove(unit, item)


def _prefixed(detail: md.NamespaceDetail, resource_type: str) -> md.NamespaceDetail:
    """Glance's _prefix_property_name: property names (and objects' required
    names) carry the prefix of the association with `resource_type`."""
    prefix = next((a.prefix for a in detail.associations if a.name == resource_type), None)
    if not prefix:
        return detail
    objects = [
        md.MetaObject(
            name=o.name,
            description=o.description,
            required=[prefix + r for r in o.required],
            properties={prefix + k: v for k, v in o.properties.items()},
            created_at=o.created_at,
            updated_at=o.updated_at,
        )
        for o in detail.objects
    ]
    return md.NamespaceDetail(
        namespace=detail.namespace,
        associations=detail.associations,
        properties={prefix + k: v for k, v in detail.properties.items()},
        objects=objects,
        tags=detail.tags,
    )
