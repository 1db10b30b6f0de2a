"""HTTP routes of Glance's metadata definitions API (glance/api/v2/metadef_*.py):
/v2/metadefs/namespaces (with their objects, properties, tags and resource type
associations), /v2/metadefs/resource_types and /v2/schemas/metadefs/*."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.image import metadef_schemas as ms
from cinderlite.api.image import routes
from cinderlite.domain.errors import InvalidRequest
from cinderlite.services.metadefs import MetadefService

router = APIRouter()

NS = "/v2/metadefs/namespaces/{namespace}"

# glance-api.conf [DEFAULT] limit_param_default and api_limit_max.
LIMIT_DEFAULT = 25
LIMIT_MAX = 1000

_TRUE = ("1", "t", "true", "on", "y", "yes")


def _metadefs(request: Request) -> MetadefService:
    service: MetadefService = routes._api(request).metadefs
    return service


def _sort_dir(params: Any) -> str:
    sort_dir = params.get("sort_dir", "desc")
    if sort_dir not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid sort direction: {sort_dir}")
    return str(sort_dir)


def _sort_key(params: Any, keys: tuple[str, ...]) -> str:
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in keys:
        # paginate_query's InvalidSortKey (Glance lets it out as a 500).
        raise InvalidRequest("Sort key supplied was not valid.")
    return str(sort_key)


def _limit(value: str, *, zero_ok: bool = True) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise InvalidRequest("limit param must be an integer") from None
    if limit < 0 or (limit == 0 and not zero_ok):
        raise InvalidRequest("limit param must be positive")
    return limit


def _visibility(params: Any, allowed: tuple[str, ...]) -> str | None:
    visibility = params.get("visibility")
    if visibility and visibility not in allowed:
        raise InvalidRequest(f"Invalid visibility value: {visibility}")
    return str(visibility) if visibility else None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return routes._json(body, status=status, headers=headers)


# --- schemas -----------------------------------------------------------------------


def _schema_route(name: str) -> None:
    schema = ms.SCHEMAS[name]

    async def serve(request: Request) -> Response:
        await routes._caller(request)
        return _json(schema)

    router.add_api_route(
        f"/v2/schemas/metadefs/{name}", serve, methods=["GET"], include_in_schema=False
    )


for _name in ms.SCHEMAS:
    _schema_route(_name)


# --- namespaces --------------------------------------------------------------------

NAMESPACE_SORT_KEYS = (
    "namespace",
    "display_name",
    "description",
    "visibility",
    "protected",
    "owner",
    "created_at",
    "updated_at",
    "id",
)


@router.get("/v2/metadefs/namespaces")
async def list_namespaces(request: Request) -> Response:
    caller = await routes._caller(request)
    params = request.query_params
    limit = min(LIMIT_MAX, _limit(params["limit"])) if "limit" in params else LIMIT_DEFAULT
    sort_dir = _sort_dir(params)
    sort_key = _sort_key(params, NAMESPACE_SORT_KEYS)
    visibility = _visibility(params, ("public", "private"))
    resource_types = params.get("resource_types")
    page = await _metadefs(request).list_namespaces(
        caller,
        visibility=visibility,
        resource_types=resource_types.split(",") if resource_types is not None else None,
        sort_key=sort_key,
        sort_dir=sort_dir,
        limit=limit,
        marker=params.get("marker"),
    )
    views = []
    for ns in page.namespaces:
        view = ms.namespace_view(ns)
        if page.associations.get(ns.namespace):
            view["resource_type_associations"] = [
                ms.association_view(a) for a in page.associations[ns.namespace]
            ]
        views.append(view)
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    body: dict[str, Any] = {
        "namespaces": views,
        "first": "/v2/metadefs/namespaces" + (f"?{urlencode(query)}" if query else ""),
        "schema": "/v2/schemas/metadefs/namespaces",
    }
    if views and len(views) == limit:
        query.append(("marker", page.namespaces[-1].namespace))
        body["next"] = f"/v2/metadefs/namespaces?{urlencode(query)}"
    return _json(body)


@router.post("/v2/metadefs/namespaces")
async def create_namespace(request: Request) -> Response:
    caller = await routes._caller(request)
    spec = ms.parse_namespace(await routes._json_body(request))
    namespace = await _metadefs(request).create_namespace(caller, spec)
    return _json(
        ms.created_namespace_view(namespace, spec),
        status=201,
        headers={"Location": ms.namespace_href(namespace.namespace)},
    )


@router.get(NS)
async def show_namespace(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    detail = await _metadefs(request).show_namespace(
        caller, namespace, resource_type=request.query_params.get("resource_type")
    )
    return _json(ms.namespace_detail_view(detail))


@router.put(NS)
async def update_namespace(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    spec = ms.parse_namespace(await routes._json_body(request))
    updated = await _metadefs(request).update_namespace(caller, namespace, spec)
    return _json(ms.namespace_view(updated))


@router.delete(NS)
async def delete_namespace(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_namespace(caller, namespace)
    return Response(status_code=204)


@router.delete(NS + "/objects")
async def delete_objects(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_contents(caller, namespace, "objects")
    return Response(status_code=204)


@router.delete(NS + "/properties")
async def delete_properties(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_contents(caller, namespace, "properties")
    return Response(status_code=204)


@router.delete(NS + "/tags")
async def delete_tags(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_contents(caller, namespace, "tags")
    return Response(status_code=204)


# --- objects -----------------------------------------------------------------------


def _check_index_params(params: Any) -> None:
    """The objects index takes and checks Glance's paging parameters, though its
    database call lists them all (glance/db/__init__.py MetadefObjectRepo.list)."""
    _sort_dir(params)
    _visibility(params, ("public", "private", "shared"))
    if "limit" in params:
        _limit(params["limit"], zero_ok=False)


@router.get(NS + "/objects")
async def list_objects(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    _check_index_params(request.query_params)
    objects = await _metadefs(request).list_objects(caller, namespace)
    # Glance's schema link here has no leading slash.
    return _json(
        {
            "objects": [ms.object_view(namespace, o) for o in objects],
            "schema": "v2/schemas/metadefs/objects",
        }
    )


@router.post(NS + "/objects")
async def create_object(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    spec = ms.parse_object(await routes._json_body(request), check_properties=True)
    obj = await _metadefs(request).create_object(caller, namespace, spec)
    return _json(ms.object_view(namespace, obj), status=201)


@router.get(NS + "/objects/{name}")
async def show_object(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    obj = await _metadefs(request).show_object(caller, namespace, name)
    return _json(ms.object_view(namespace, obj))


@router.put(NS + "/objects/{name}")
async def update_object(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    spec = ms.parse_object(await routes._json_body(request), check_properties=False)
    obj = await _metadefs(request).update_object(caller, namespace, name, spec)
    return _json(ms.object_view(namespace, obj))


@router.delete(NS + "/objects/{name}")
async def delete_object(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_object(caller, namespace, name)
    return Response(status_code=204)


# --- properties --------------------------------------------------------------------


@router.get(NS + "/properties")
async def list_properties(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    props = await _metadefs(request).list_properties(caller, namespace)
    return _json({"properties": {p.name: dict(p.schema) for p in props}})


@router.post(NS + "/properties")
async def create_property(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    name, schema = ms.parse_property(await routes._json_body(request))
    prop = await _metadefs(request).create_property(caller, namespace, name, schema)
    return _json(ms.property_view(prop), status=201)


@router.get(NS + "/properties/{name}")
async def show_property(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    prop = await _metadefs(request).show_property(
        caller, namespace, name, resource_type=request.query_params.get("resource_type")
    )
    return _json(ms.property_view(prop))


@router.put(NS + "/properties/{name}")
async def update_property(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    new_name, schema = ms.parse_property(await routes._json_body(request))
    prop = await _metadefs(request).update_property(caller, namespace, name, new_name, schema)
    return _json(ms.property_view(prop))


@router.delete(NS + "/properties/{name}")
async def delete_property(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_property(caller, namespace, name)
    return Response(status_code=204)


# --- tags --------------------------------------------------------------------------

TAG_SORT_KEYS = ("name", "created_at", "updated_at", "id", "namespace_id")


@router.get(NS + "/tags")
async def list_tags(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    params = request.query_params
    sort_dir = _sort_dir(params)
    sort_key = _sort_key(params, TAG_SORT_KEYS)
    _visibility(params, ("public", "private", "shared"))
    limit = _limit(params["limit"]) if params.get("limit") else None
    tags = await _metadefs(request).list_tags(
        caller,
        namespace,
        sort_key=sort_key,
        sort_dir=sort_dir,
        limit=limit,
        marker=params.get("marker") or None,
    )
    return _json({"tags": [{"name": t.name} for t in tags]})


@router.post(NS + "/tags")
async def create_tags(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    names = ms.parse_tags(await routes._json_body(request))
    append = request.headers.get("x-openstack-append", "").strip().lower() in _TRUE
    await _metadefs(request).create_tags(caller, namespace, names, append=append)
    return _json({"tags": [{"name": n} for n in names]}, status=201)


@router.get(NS + "/tags/{name}")
async def show_tag(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    tag = await _metadefs(request).show_tag(caller, namespace, name)
    return _json(ms.tag_view(tag))


@router.post(NS + "/tags/{name}")
async def create_tag(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    tag = await _metadefs(request).create_tag(
        caller, namespace, name, check=lambda: ms.validate(ms.TAG_SCHEMA, {"name": name})
    )
    return _json(ms.tag_view(tag), status=201)


@router.put(NS + "/tags/{name}")
async def update_tag(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    new_name = ms.parse_tag(await routes._json_body(request))
    tag = await _metadefs(request).update_tag(caller, namespace, name, new_name)
    return _json(ms.tag_view(tag))


@router.delete(NS + "/tags/{name}")
async def delete_tag(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_tag(caller, namespace, name)
    return Response(status_code=204)


# --- resource types ----------------------------------------------------------------


@router.get("/v2/metadefs/resource_types")
async def list_resource_types(request: Request) -> Response:
    caller = await routes._caller(request)
    types = await _metadefs(request).list_resource_types(caller)
    return _json({"resource_types": [ms.resource_type_view(t) for t in types]})


@router.get(NS + "/resource_types")
async def list_associations(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    found = await _metadefs(request).list_associations(caller, namespace)
    return _json({"resource_type_associations": [ms.association_view(a) for a in found]})


@router.post(NS + "/resource_types")
async def create_association(request: Request, namespace: str) -> Response:
    caller = await routes._caller(request)
    spec = ms.parse_association(await routes._json_body(request))
    assoc = await _metadefs(request).create_association(caller, namespace, spec)
    return _json(ms.association_view(assoc), status=201)


@router.delete(NS + "/resource_types/{name}")
async def delete_association(request: Request, namespace: str, name: str) -> Response:
    caller = await routes._caller(request)
    await _metadefs(request).delete_association(caller, namespace, name)
    return Response(status_code=204)
