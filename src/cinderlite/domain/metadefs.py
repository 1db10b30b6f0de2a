"""Metadata definitions (Glance's metadefs): the records, who sees a namespace,
and the refusals Glance words the same way everywhere.

A namespace is public or private to its owner project. Objects, properties,
tags and resource type associations belong to one namespace and are seen by
whoever sees it; a `protected` namespace keeps its contents from deletion
(glance/domain/__init__.py MetadefNamespace.delete and friends).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cinderlite.domain.errors import Forbidden, NotFound

VISIBILITIES = ("public", "private")

# Glance's width of names, prefixes and targets (glance/db/sqlalchemy/models_metadef.py).
NAME_LENGTH = 80


@dataclass(frozen=True, slots=True)
class Namespace:
    namespace: str
    display_name: str | None
    description: str | None
    visibility: str
    protected: bool
    owner: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Association:
    """A resource type associated with a namespace (its name, and how the
    namespace's properties apply to it)."""

    name: str
    prefix: str | None
    properties_target: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    protected: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MetaObject:
    name: str
    description: str | None
    required: list[str]
    properties: dict[str, dict[str, Any]]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Property:
    """A property: its name and its JSON-schema-like definition (title, type, ...)."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tag:
    name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NamespaceDetail:
    """A namespace with what it holds, as GET /v2/metadefs/namespaces/{ns} shows it."""

    namespace: Namespace
    associations: list[Association] = field(default_factory=list)
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: list[MetaObject] = field(default_factory=list)
    tags: list[Tag] = field(default_factory=list)


def visible(namespace: Namespace, *, project_id: str, is_admin: bool) -> bool:
    """Glance's _is_namespace_visible: admins see all, others public ones and their own."""
    return is_admin or namespace.visibility == "public" or namespace.owner == project_id


def not_authorized(action: str) -> Forbidden:
    """A policy refusal on a namespace the caller sees (glance.common.exception.Forbidden)."""
    return Forbidden(f"You are not authorized to complete {action} action.")


def namespace_not_found(name: str) -> NotFound:
    """What most metadef controllers say for a namespace that is missing or not visible."""
    return NotFound(f"Namespace {name} not found")


def no_such_namespace(name: str) -> NotFound:
    """MetadefNamespaceNotFound: the database layer's word for a missing namespace."""
    return NotFound(f"Metadata definition namespace={name} was not found.")


def protected_namespace(name: str) -> Forbidden:
    return Forbidden(f"Metadata definition namespace {name} is protected and cannot be deleted.")
