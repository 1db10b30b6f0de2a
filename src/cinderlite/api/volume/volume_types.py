"""The volume types API: /v3[/{project_id}]/types (and /v2's), their extra specs,
project access (os-volume-type-access), encryption specs and, from 3.62, the
projects' default types (/default-types).

Paths, bodies, statuses and messages as Cinder's (cinder/api/v3/types.py,
v3/views/types.py, contrib/types_manage.py, types_extra_specs.py,
volume_type_access.py, volume_type_encryption.py, v3/default_types.py).
"""

from __future__ import annotations

import ast
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import schemas
from cinderlite.api.volume import type_schemas as ts
from cinderlite.api.volume.context import ApiVersion, VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import parse_offset, parse_page
from cinderlite.api.volume.views import timestamp
from cinderlite.domain.errors import InvalidRequest, NotFound
from cinderlite.domain.records import VolumeTypeRecord
from cinderlite.services.volume_types import SORT_KEYS, USER_VISIBLE_EXTRA_SPECS, TypeQuery

DEFAULT_TYPE_OVERRIDES = ApiVersion(3, 62)
NOT_FOUND = "The resource could not be found."


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def _body(body: object) -> object:
    return None if body is NO_BODY else body


def view(api: VolumeApi, ctx: VolumeContext, t: VolumeTypeRecord) -> dict[str, Any]:
    """cinder/api/v3/views/types.py, with os-volume-type-access:is_public."""
    service = api.volume_types
    out: dict[str, Any] = {
        "id": t.id, "name": t.name, "is_public": t.is_public, "description": t.description,
    }
    specs = service.visible_specs(ctx.caller, t.extra_specs)
    if specs is not None:
        out["extra_specs"] = specs
    # Admins only (access_types_qos_specs_id), as Cinder.
    if service.shows_qos_id(ctx.caller):
        out["qos_specs_id"] = t.qos_specs_id
    if service.shows_access(ctx.caller):
        out["os-volume-type-access:is_public"] = t.is_public
    return out


def manage_view(api: VolumeApi, ctx: VolumeContext, t: VolumeTypeRecord) -> dict[str, Any]:
    """Create and update answer with the types-manage view (cinder/api/views/types.py):
    every extra spec, no qos_specs_id."""
    out: dict[str, Any] = {
        "id": t.id, "name": t.name, "is_public": t.is_public,
        "extra_specs": dict(t.extra_specs or {}), "description": t.description,
    }
    return out


def _parse_is_public(raw: str | None) -> bool | None:
    """cinder/api/api_utils.py _parse_is_public."""
    if raw is None:
        return True
    value = raw.strip().lower()
    if value == "none":
        return None
    if value in schemas.TRUE_STRINGS:
        return True
    if value in ("false", "0", "off", "no", "n", "f"):
        return False
    raise InvalidRequest(f"Invalid is_public filter [{raw}]")


def _parse_specs(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(f"Invalid filter extra_specs [{raw}]")
    return value


async def list_types(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    params = request.query_params
    limit, sort = parse_page(params, SORT_KEYS)
    # Admins filter on extra specs at every version; from 3.52 everyone may (a
    # resource filter), but only on the user-visible keys: any other key gives
    # an empty list, as Cinder answers (a filter on what one cannot see).
    since_352 = ctx.api == "v3" and ctx.version.at_least(3, 52)
    specs = (_parse_specs(params.get("extra_specs"))
             if ctx.caller.is_admin or since_352 else None)
    if specs and not ctx.caller.is_admin and any(
        k not in USER_VISIBLE_EXTRA_SPECS for k in specs
    ):
        return _json({"volume_types": []})
    query = TypeQuery(
        is_public=_parse_is_public(params.get("is_public")), sort=sort, limit=limit,
        marker=params.get("marker"), offset=parse_offset(params), extra_specs=specs,
    )
    found = await api.volume_types.list_types(ctx.caller, query)
    return _json({"volume_types": [view(api, ctx, t) for t in found]})


async def show_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    return _json({"volume_type": view(api, ctx, await api.volume_types.show(ctx.caller, args[0]))})


async def default_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    found = await api.volume_types.default_for(ctx.caller.project_id)
    if found is None:
        found = await api.volumes.default_type()
    return _json({"volume_type": view(api, ctx, found)})


async def create_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    t = ts.validate(ts.TYPE_CREATE, _body(body))["volume_type"]
    if not t["name"].strip():
        raise InvalidRequest(
            "Invalid input for field/attribute name. Value: . "
            "An invalid 'name' value was provided. The 'name' can not be empty."
        )
    raw_public = t.get("os-volume-type-access:is_public", True)
    created = await api.volume_types.create(
        ctx.caller, name=t["name"], description=t.get("description"),
        specs=t.get("extra_specs") or {}, is_public=schemas.to_bool(raw_public),
    )
    out = manage_view(api, ctx, created)
    # os-volume-type-access extends the create answer only (not update's).
    if api.volume_types.shows_access(ctx.caller):
        out["os-volume-type-access:is_public"] = created.is_public
    return _json({"volume_type": out})


async def update_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    t = ts.validate(ts.TYPE_UPDATE, _body(body))["volume_type"]
    is_public = schemas.to_bool(t["is_public"]) if t.get("is_public") is not None else None
    updated = await api.volume_types.update(
        ctx.caller, args[0], name=t.get("name"), description=t.get("description"),
        is_public=is_public,
    )
    return _json({"volume_type": manage_view(api, ctx, updated)})


async def delete_type(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    await api.volume_types.delete(ctx.caller, args[0])
    return Response(status_code=202)


async def type_action(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    raw = _body(body)
    if isinstance(raw, dict) and "addProjectAccess" in raw:
        project = ts.validate(ts.ADD_PROJECT_ACCESS, raw)["addProjectAccess"]["project"]
        await api.volume_types.add_access(ctx.caller, args[0], project)
    elif isinstance(raw, dict) and "removeProjectAccess" in raw:
        project = ts.validate(ts.REMOVE_PROJECT_ACCESS, raw)["removeProjectAccess"]["project"]
        await api.volume_types.remove_access(ctx.caller, args[0], project)
    else:
        raise InvalidRequest("There is no such action: " + (
            next(iter(raw), "None") if isinstance(raw, dict) and raw else "None"))
    return Response(status_code=202)


async def list_access(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    projects = await api.volume_types.access_list(ctx.caller, args[0])
    return _json({"volume_type_access": [
        {"volume_type_id": args[0], "project_id": p} for p in projects
    ]})


# --- extra specs ---------------------------------------------------------------------


async def list_specs(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    return _json({"extra_specs": await api.volume_types.get_specs(ctx.caller, args[0])})


async def create_specs(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    specs = ts.validate(ts.SPECS_CREATE, _body(body))
    await api.volume_types.set_specs(ctx.caller, args[0], specs["extra_specs"])
    return _json(specs)


async def show_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    return _json({args[1]: await api.volume_types.get_spec(ctx.caller, args[0], args[1])})


async def update_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    spec = ts.validate(ts.SPECS_UPDATE, _body(body))
    await api.volume_types.set_specs(ctx.caller, args[0], spec, uri_key=args[1])
    return _json(spec)


async def delete_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    await api.volume_types.delete_spec(ctx.caller, args[0], args[1])
    return Response(status_code=202)


# --- encryption (metadata only) ----------------------------------------------------------


async def _encryption(api: VolumeApi, ctx: VolumeContext, type_id: str) -> dict[str, Any]:
    row = await api.volume_types.get_encryption(ctx.caller, type_id)
    if row is None:
        return {}
    return {
        "volume_type_id": row.volume_type_id, "encryption_id": row.encryption_id,
        "cipher": row.cipher, "key_size": row.key_size, "provider": row.provider,
        "control_location": row.control_location, "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at), "deleted": False, "deleted_at": None,
    }


async def show_encryption(api: VolumeApi, ctx: VolumeContext, request: Request,
                          args: tuple[str, ...], body: object) -> Response:
    return _json(await _encryption(api, ctx, args[0]))


async def show_encryption_item(api: VolumeApi, ctx: VolumeContext, request: Request,
                               args: tuple[str, ...], body: object) -> Response:
    specs = await _encryption(api, ctx, args[0])
    if args[1] not in specs:
        raise NotFound(f"Volume type encryption for type {args[0]} does not exist.")
    return _json({args[1]: specs[args[1]]})


def _encryption_body(schema: dict[str, Any], body: object) -> dict[str, Any]:
    valid = ts.validate(schema, _body(body))
    enc = dict(valid["encryption"])
    if enc.get("key_size") is not None:
        enc["key_size"] = ts.key_size(enc["key_size"])
    return {"encryption": enc}


async def create_encryption(api: VolumeApi, ctx: VolumeContext, request: Request,
                            args: tuple[str, ...], body: object) -> Response:
    valid = _encryption_body(ts.ENCRYPTION_CREATE, body)
    encryption_id = await api.volume_types.create_encryption(
        ctx.caller, args[0], valid["encryption"]
    )
    # Cinder's answer is the body its database call filled in.
    valid["encryption"].update(volume_type_id=args[0], encryption_id=encryption_id)
    return _json(valid)


async def update_encryption(api: VolumeApi, ctx: VolumeContext, request: Request,
                            args: tuple[str, ...], body: object) -> Response:
    valid = _encryption_body(ts.ENCRYPTION_UPDATE, body)
    await api.volume_types.update_encryption(ctx.caller, args[0], valid["encryption"])
    return _json(valid)


async def delete_encryption(api: VolumeApi, ctx: VolumeContext, request: Request,
                            args: tuple[str, ...], body: object) -> Response:
    await api.volume_types.delete_encryption(ctx.caller, args[0])
    return Response(status_code=202)


# --- projects' default types (3.62) -----------------------------------------------------


def _gate(ctx: VolumeContext) -> None:
    if ctx.api != "v3" or ctx.version < DEFAULT_TYPE_OVERRIDES:
        raise NotFound(NOT_FOUND)


def _default_view(row: Any) -> dict[str, str]:
    return {"project_id": row.project_id, "volume_type_id": row.volume_type_id}


async def set_default(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    valid = ts.validate(ts.DEFAULT_TYPE, _body(body))
    if "default_type" not in valid:
        raise InvalidRequest("'default_type' is a required property")
    row = await api.volume_types.set_default(
        ctx.caller, args[0], valid["default_type"]["volume_type"]
    )
    return _json({"default_type": _default_view(row)})


async def show_default(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    row = await api.volume_types.get_default(ctx.caller, args[0])
    return _json({"default_type": _default_view(row)})


async def list_defaults(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    rows = await api.volume_types.list_defaults(ctx.caller)
    return _json({"default_types": [_default_view(r) for r in rows]})


async def unset_default(api: VolumeApi, ctx: VolumeContext, request: Request,
                        args: tuple[str, ...], body: object) -> Response:
    _gate(ctx)
    await api.volume_types.unset_default(ctx.caller, args[0])
    return Response(status_code=204)


_ID = r"([^/]+)"
# (pattern, method, handler, v3 only)
ROUTES: tuple[tuple[str, str, Any, bool], ...] = (
    (r"/types", "GET", list_types, False),
    (r"/types", "POST", create_type, False),
    (r"/types/default", "GET", default_type, False),
    (rf"/types/{_ID}", "GET", show_type, False),
    (rf"/types/{_ID}", "PUT", update_type, False),
    (rf"/types/{_ID}", "DELETE", delete_type, False),
    (rf"/types/{_ID}/action", "POST", type_action, False),
    (rf"/types/{_ID}/os-volume-type-access", "GET", list_access, False),
    (rf"/types/{_ID}/extra_specs", "GET", list_specs, False),
    (rf"/types/{_ID}/extra_specs", "POST", create_specs, False),
    (rf"/types/{_ID}/extra_specs/{_ID}", "GET", show_spec, False),
    (rf"/types/{_ID}/extra_specs/{_ID}", "PUT", update_spec, False),
    (rf"/types/{_ID}/extra_specs/{_ID}", "DELETE", delete_spec, False),
    (rf"/types/{_ID}/encryption", "GET", show_encryption, False),
    (rf"/types/{_ID}/encryption", "POST", create_encryption, False),
    (rf"/types/{_ID}/encryption/{_ID}", "GET", show_encryption_item, False),
    (rf"/types/{_ID}/encryption/{_ID}", "PUT", update_encryption, False),
    (rf"/types/{_ID}/encryption/{_ID}", "DELETE", delete_encryption, False),
    (r"/default-types", "GET", list_defaults, True),
    (rf"/default-types/{_ID}", "GET", show_default, True),
    (rf"/default-types/{_ID}", "PUT", set_default, True),
    (rf"/default-types/{_ID}", "DELETE", unset_default, True),
)

__all__ = ["DEFAULT_TYPE_OVERRIDES", "ROUTES", "view"]
