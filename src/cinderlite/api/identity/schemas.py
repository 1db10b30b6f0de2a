"""Keystone v3 wire format: request validation and response bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import jsonschema

from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.records import DomainRecord, ProjectRecord, RoleRecord, UserRecord
from cinderlite.services.identity import AuthRequest, NamedRef, TokenInfo
from cinderlite.services.identity_admin import Assignment

API_VERSION_ID = "v3.14"
API_UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPE = "application/vnd.openstack.identity-v3+json"

# --- requests -------------------------------------------------------------------

_ID = {"type": "string", "minLength": 1, "maxLength": 64}
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
_DESCRIPTION = {"type": ["string", "null"], "maxLength": 65535}
_BOOL = {"type": "boolean"}
_DOMAIN_REF = {
    "type": "object",
    "properties": {"id": _ID, "name": _NAME},
    "anyOf": [{"required": ["id"]}, {"required": ["name"]}],
}
_NAMED_REF: dict[str, Any] = {
    "type": "object",
    "properties": {"id": _ID, "name": _NAME, "domain": _DOMAIN_REF},
    "anyOf": [{"required": ["id"]}, {"required": ["name", "domain"]}],
}

AUTH = {
    "type": "object",
    "required": ["auth"],
    "properties": {
        "auth": {
            "type": "object",
            "required": ["identity"],
            "properties": {
                "identity": {
                    "type": "object",
                    "required": ["methods"],
                    "properties": {
                        "methods": {
                            "type": "array", "minItems": 1,
                            "items": {"type": "string", "maxLength": 64},
                        },
                        "password": {
                            "type": "object",
                            "required": ["user"],
                            "properties": {
                                "user": {
                                    **_NAMED_REF,
                                    "properties": {
                                        **_NAMED_REF["properties"],
                                        "password": {"type": "string", "maxLength": 4096},
                                    },
                                    "required": ["password"],
                                },
                            },
                        },
                        "token": {
                            "type": "object", "required": ["id"],
                            "properties": {"id": {"type": "string", "minLength": 1}},
                        },
                    },
                },
                "scope": {
                    "anyOf": [
                        {"type": "string", "enum": ["unscoped"]},
                        {
                            "type": "object",
                            "properties": {
                                "project": _NAMED_REF,
                                "domain": _DOMAIN_REF,
                                "system": {
                                    "type": "object",
                                    "properties": {"all": {"type": "boolean"}},
                                },
                            },
                        },
                    ],
                },
            },
        },
    },
}

PROJECT_CREATE = {
    "type": "object",
    "required": ["project"],
    "properties": {
        "project": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 64},
                "domain_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
                "parent_id": {"type": ["string", "null"], "maxLength": 64},
                "description": _DESCRIPTION,
                "enabled": _BOOL,
                "is_domain": _BOOL,
            },
        }
    },
}

PROJECT_UPDATE = {
    "type": "object",
    "required": ["project"],
    "properties": {
        "project": {
            "type": "object",
            "minProperties": 1,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 64},
                "domain_id": _ID,
                "description": _DESCRIPTION,
                "enabled": _BOOL,
            },
        }
    },
}

_USER_FIELDS = {
    "name": _NAME,
    "domain_id": _ID,
    "password": {"type": ["string", "null"], "maxLength": 4096},
    "default_project_id": {"type": ["string", "null"], "maxLength": 64},
    "description": _DESCRIPTION,
    "email": {"type": ["string", "null"], "maxLength": 255},
    "enabled": _BOOL,
}

USER_CREATE = {
    "type": "object",
    "required": ["user"],
    "properties": {
        "user": {"type": "object", "required": ["name"], "properties": _USER_FIELDS}
    },
}

USER_UPDATE = {
    "type": "object",
    "required": ["user"],
    "properties": {"user": {"type": "object", "minProperties": 1, "properties": _USER_FIELDS}},
}

PASSWORD_CHANGE = {
    "type": "object",
    "required": ["user"],
    "properties": {
        "user": {
            "type": "object",
            "required": ["password", "original_password"],
            "properties": {
                "password": {"type": "string", "minLength": 1, "maxLength": 4096},
                "original_password": {"type": "string", "maxLength": 4096},
            },
        }
    },
}

ROLE_CREATE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": _NAME,
                "description": _DESCRIPTION,
                "domain_id": {"type": "null"},
            },
        }
    },
}


def check(schema: dict[str, Any], body: Any) -> dict[str, Any]:
    """Validate `body` against `schema`; InvalidRequest (400) names the first bad field."""
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "body"
        raise InvalidRequest(f"Invalid input for field '{where}': {error.message}")
    return body  # type: ignore[no-any-return]


def _ref(raw: dict[str, Any]) -> NamedRef:
    domain = raw.get("domain") or {}
    return NamedRef(
        id=raw.get("id"), name=raw.get("name"),
        domain_id=domain.get("id"), domain_name=domain.get("name"),
    )


def parse_auth(body: Any) -> AuthRequest:
    check(AUTH, body)
    auth = body["auth"]
    identity = auth["identity"]
    methods = tuple(identity["methods"])
    for method in methods:
        if method in ("password", "token") and method not in identity:
            raise InvalidRequest(f"Expecting to find {method} in identity.")
    scope = auth.get("scope")
    project = None
    system = False
    if isinstance(scope, dict):
        if sum(key in scope for key in ("project", "domain", "system")) > 1:
            # keystone/auth/core.py: one scope at a time.
            raise InvalidRequest(
                "Expecting to find project, domain, OS-TRUST:trust or unscoped in scope."
            )
        if "domain" in scope:
            raise InvalidRequest(
                "Only project-scoped, system-scoped and unscoped tokens are supported."
            )
        if "project" in scope:
            project = _ref(scope["project"])
        # Keystone takes any system object as the whole system (`{"all": true}`).
        system = "system" in scope
    password = identity.get("password")
    return AuthRequest(
        methods=methods,
        user=_ref(password["user"]) if password else None,
        password=password["user"]["password"] if password else None,
        token=identity["token"]["id"] if "token" in identity else None,
        project=project,
        system=system,
    )


# --- responses ------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """Keystone's `2026-11-27T05:46:07.000000Z` (always UTC, always `Z`)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_entry(identity_url: str) -> dict[str, Any]:
    return {
        "id": API_VERSION_ID,
        "status": "stable",
        "updated": API_UPDATED,
        "links": [{"rel": "self", "href": f"{identity_url}/v3/"}],
        "media-types": [{"base": "application/json", "type": MEDIA_TYPE}],
    }


def _domain_ref(domain: DomainRecord) -> dict[str, str]:
    return {"id": domain.id, "name": domain.name}


def token_body(info: TokenInfo, catalog_entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    token: dict[str, Any] = {
        "methods": list(info.methods),
        "user": {
            "id": info.user.id,
            "name": info.user.name,
            "domain": _domain_ref(info.user_domain),
            "password_expires_at": None,
        },
        "audit_ids": list(info.audit_ids),
        "expires_at": format_time(info.expires_at),
        "issued_at": format_time(info.issued_at),
    }
    if info.project is not None and info.project_domain is not None:
        token["project"] = {
            "id": info.project.id,
            "name": info.project.name,
            "domain": _domain_ref(info.project_domain),
        }
        token["is_domain"] = False
    elif info.system:
        token["system"] = {"all": True}
    if token.get("project") is not None or info.system:
        token["roles"] = [{"id": r.id, "name": r.name} for r in info.roles]
        if catalog_entries is not None:
            token["catalog"] = catalog_entries
    return {"token": token}


def domain_view(domain: DomainRecord, base: str) -> dict[str, Any]:
    return {
        "id": domain.id, "name": domain.name, "description": domain.description or "",
        "enabled": domain.enabled, "tags": [], "options": {},
        "links": {"self": f"{base}/v3/domains/{domain.id}"},
    }


def project_view(project: ProjectRecord, base: str) -> dict[str, Any]:
    return {
        "id": project.id, "name": project.name, "domain_id": project.domain_id,
        "description": project.description or "", "enabled": project.enabled,
        "parent_id": project.domain_id, "is_domain": False, "tags": [], "options": {},
        "links": {"self": f"{base}/v3/projects/{project.id}"},
    }


def user_view(user: UserRecord, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": user.id, "name": user.name, "domain_id": user.domain_id,
        "enabled": user.enabled, "password_expires_at": None, "options": {},
        "links": {"self": f"{base}/v3/users/{user.id}"},
    }
    # Keystone shows optional attributes only when they were set.
    if user.default_project_id:
        body["default_project_id"] = user.default_project_id
    if user.email:
        body["email"] = user.email
    if user.description:
        body["description"] = user.description
    return body


def role_view(role: RoleRecord, base: str) -> dict[str, Any]:
    return {
        "id": role.id, "name": role.name, "domain_id": None,
        "description": role.description or None, "options": {},
        "links": {"self": f"{base}/v3/roles/{role.id}"},
    }


def assignment_view(a: Assignment, base: str, *, include_names: bool) -> dict[str, Any]:
    role: dict[str, Any] = {"id": a.role.id}
    user: dict[str, Any] = {"id": a.user.id}
    if include_names:
        role["name"] = a.role.name
        user.update(name=a.user.name, domain=_domain_ref(a.user_domain))
    granted = a.prior_role or a.role  # an implied role links to the grant it comes from
    scope: dict[str, Any]
    if a.project is None:
        scope = {"system": {"all": True}}
        target = f"{base}/v3/system/users/{a.user.id}/roles/{granted.id}"
    else:
        project: dict[str, Any] = {"id": a.project.id}
        if include_names and a.project_domain is not None:
            project.update(name=a.project.name, domain=_domain_ref(a.project_domain))
        scope = {"project": project}
        target = f"{base}/v3/projects/{a.project.id}/users/{a.user.id}/roles/{granted.id}"
    links = {"assignment": target}
    if a.prior_role is not None:
        # Keystone's own path for this link (role_assignments.py _format_entity).
        links["prior_role"] = f"{base}/v3/prior_role/{a.role.id}/implies/{a.prior_role.id}"
    return {"role": role, "user": user, "scope": scope, "links": links}


def collection(key: str, items: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {key: items, "links": {"self": self_url, "previous": None, "next": None}}
