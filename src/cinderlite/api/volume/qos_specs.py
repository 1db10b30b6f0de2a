"""The QoS specs API: /v3[/{project_id}]/qos-specs and /v2/{project_id}/qos-specs,
with the association of a spec with volume types.

Paths, bodies, statuses and messages as Cinder's (cinder/api/contrib/
qos_specs_manage.py, cinder/api/views/qos_specs.py, cinder/api/schemas/
qos_specs.py); every path is admin-only by Cinder's default policies.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cinderlite.api import jsonbody
from cinderlite.api.volume import type_schemas as ts
from cinderlite.api.volume.context import VolumeApi, VolumeContext
from cinderlite.api.volume.deps import NO_BODY
from cinderlite.api.volume.listing import (
    MAX_LIMIT,
    PAGING_KEYS,
    base_url,
    bool_param,
    next_links,
    parse_offset,
    parse_page,
)
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.qos import QosSpec
from cinderlite.services.qos_specs import FILTER_KEYS, SORT_KEYS, QosQuery

COLLECTION = "qos-specs"


def _json(body: object, status: int = 200) -> Response:
    return Response(jsonbody.dumps(body), status_code=status, media_type="application/json")


def _accepted() -> Response:
    return Response(status_code=202)


def _body(body: object) -> object:
    return None if body is NO_BODY else body


# --- views (cinder/api/views/qos_specs.py) ---------------------------------------------


def _spec(s: QosSpec) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "consumer": s.consumer, "specs": dict(s.specs)}


def _links(request: Request, ctx: VolumeContext, spec_id: str) -> list[dict[str, str]]:
    # Cinder puts the project in the links when the URL has /v3/{project_id}
    # (common.ViewBuilder._get_project_id_in_url): never on /v2, nor on the
    # project-less /v3 routes.
    base = base_url(request)
    project = f"/{ctx.url_project_id}" if ctx.api == "v3" and ctx.url_project_id else ""
    return [
        {"rel": "self", "href": f"{base}/{ctx.api}{project}/{COLLECTION}/{spec_id}"},
        {"rel": "bookmark", "href": f"{base}{project}/{COLLECTION}/{spec_id}"},
    ]


def _detail(request: Request, ctx: VolumeContext, s: QosSpec) -> dict[str, Any]:
    return {"qos_specs": _spec(s), "links": _links(request, ctx, s.id)}


# --- handlers ------------------------------------------------------------------------


def _check_name(name: str) -> None:
    """cinder/api/validation/validators.py name_skip_leading_trailing_spaces."""
    if not name:
        reason = "The 'name' can not be None."
    elif not name.strip():
        reason = "The 'name' can not be empty."
    elif len(name.strip()) > 255:
        reason = "The 'name' can not be greater than 255 characters."
    else:
        return
    raise InvalidRequest(f"An invalid 'name' value was provided. {reason}")


async def list_specs(api: VolumeApi, ctx: VolumeContext, request: Request,
                     args: tuple[str, ...], body: object) -> Response:
    params = request.query_params
    limit, sort = parse_page(params, SORT_KEYS)
    # What is left once paging and sorting are taken out are filters
    # (admins' filters are all kept: remove_invalid_filter_options).
    filters = {k: v for k, v in params.items() if k not in PAGING_KEYS}
    query = QosQuery(
        sort=sort, limit=limit, marker=params.get("marker"), offset=parse_offset(params),
        filters={k: v for k, v in filters.items() if k in FILTER_KEYS},
        unmatched=any(k not in FILTER_KEYS for k in filters),
    )
    found = await api.qos_specs.list_specs(ctx.caller, query)
    out: dict[str, Any] = {"qos_specs": [_spec(s) for s in found]}
    # Cinder's collection links: a next link once a page is as long as the
    # limit (the maximum when none was given).
    if found and len(found) >= (limit if limit is not None else MAX_LIMIT):
        out["qos_specs_links"] = next_links(request, found[-1].id)
    return _json(out)


async def create_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    specs = dict(ts.validate(ts.QOS_CREATE, _body(body))["qos_specs"])
    name = specs.pop("name")
    _check_name(name)
    created = await api.qos_specs.create(ctx.caller, name, specs)
    return _json(_detail(request, ctx, created))


async def show_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    return _json(_detail(request, ctx, await api.qos_specs.show(ctx.caller, args[0])))


async def set_keys(api: VolumeApi, ctx: VolumeContext, request: Request,
                   args: tuple[str, ...], body: object) -> Response:
    valid = ts.validate(ts.QOS_SET, _body(body))
    await api.qos_specs.set_keys(ctx.caller, args[0], valid["qos_specs"])
    # Cinder answers with the request's body.
    return _json(valid)


async def delete_keys(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    keys = ts.validate(ts.QOS_UNSET, _body(body))["keys"]
    await api.qos_specs.delete_keys(ctx.caller, args[0], keys)
    return _accepted()


async def delete_spec(api: VolumeApi, ctx: VolumeContext, request: Request,
                      args: tuple[str, ...], body: object) -> Response:
    api.qos_specs.authorize_delete(ctx.caller)
    force = bool_param(request.query_params.get("force", "False"), "force")
    await api.qos_specs.delete(ctx.caller, args[0], force=force)
    return _accepted()


async def associations(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    found = await api.qos_specs.associations(ctx.caller, args[0])
    return _json({"qos_associations": [
        {"association_type": "volume_type", "name": a.name, "id": a.id} for a in found
    ]})


async def associate(api: VolumeApi, ctx: VolumeContext, request: Request,
                    args: tuple[str, ...], body: object) -> Response:
    await api.qos_specs.associate(ctx.caller, args[0], request.query_params.get("vol_type_id"))
    return _accepted()


async def disassociate(api: VolumeApi, ctx: VolumeContext, request: Request,
                       args: tuple[str, ...], body: object) -> Response:
    await api.qos_specs.disassociate(
        ctx.caller, args[0], request.query_params.get("vol_type_id")
    )
    return _accepted()


async def disassociate_all(api: VolumeApi, ctx: VolumeContext, request: Request,
                           args: tuple[str, ...], body: object) -> Response:
    await api.qos_specs.disassociate_all(ctx.caller, args[0])
    return _accepted()


_ID = r"([^/]+)"
# (pattern, method, handler); served on /v2 and /v3 as the volume types are.
ROUTES: tuple[tuple[str, str, Any], ...] = (
    (r"/qos-specs", "GET", list_specs),
    (r"/qos-specs", "POST", create_spec),
    (rf"/qos-specs/{_ID}", "GET", show_spec),
    (rf"/qos-specs/{_ID}", "PUT", set_keys),
    (rf"/qos-specs/{_ID}", "DELETE", delete_spec),
    (rf"/qos-specs/{_ID}/delete_keys", "PUT", delete_keys),
    (rf"/qos-specs/{_ID}/associations", "GET", associations),
    (rf"/qos-specs/{_ID}/associate", "GET", associate),
    (rf"/qos-specs/{_ID}/disassociate", "GET", disassociate),
    (rf"/qos-specs/{_ID}/disassociate_all", "GET", disassociate_all),
)

__all__ = ["COLLECTION", "ROUTES"]
