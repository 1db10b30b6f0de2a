"""HTTP routes of the image API (Glance v2 subset)."""

from __future__ import annotations

import base64
import functools
import html
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from cinderlite.api import jsonbody, requests
from cinderlite.api.faults import (
    GENERIC_500,
    GLANCE_STATUS,
    glance_error,
    status_for,
    unauthenticated_response,
)
from cinderlite.api.image import filters, schemas
from cinderlite.api.requests import token_caller
from cinderlite.domain.errors import NotFound, ServiceError, Unauthenticated, UnsupportedMedia
from cinderlite.domain.identity import Caller
from cinderlite.domain.records import ImageRecord
from cinderlite.services import images
from cinderlite.services.auth import TokenValidator
from cinderlite.services.image_cache import ImageCacheService
from cinderlite.services.image_import import ImageImportService
from cinderlite.services.image_locations import ImageLocationService
from cinderlite.services.image_members import ImageMemberService
from cinderlite.services.images import READ_CHUNK_SIZE, ImageService, StoreInfo
from cinderlite.services.metadefs import MetadefService

router = APIRouter()


@dataclass(frozen=True)
class ImageApi:
    """The image API's dependencies; the wiring (app.py) builds it. Routes call
    ImageService, which opens its own units of work."""

    images: ImageService
    validator: TokenValidator
    identity_url: str
    image_url: str
    max_request_body_bytes: int
    members: ImageMemberService
    imports: ImageImportService
    metadefs: MetadefService
    locations: ImageLocationService
    cache: ImageCacheService

    @functools.cached_property
    def location_fields(self) -> schemas.LocationFields:
        return schemas.LocationFields(self.images)

    def view(self, image: ImageRecord) -> dict[str, Any]:
        """The image as this site shows it (locations and stores as configured)."""
        return schemas.image_view(image, self.location_fields)


def _api(request: Request) -> ImageApi:
    api: ImageApi = request.app.state.api
    return api


def _wants_json(request: Request) -> bool:
    """webob picks text/html for `*/*` or no Accept, JSON when JSON is asked for first."""
    accept = request.headers.get("accept", "").lower()
    json_at, html_at = accept.find("application/json"), accept.find("text/html")
    return json_at >= 0 and (html_at < 0 or json_at < html_at)


def _html_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Glance's errors as webob renders them for browsers and python-glanceclient,
    which turns this into "404 Not Found: <message>"."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    title = f"{status} {phrase}"
    body = (f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n"
            f"  <h1>{title}</h1>\n  {html.escape(message)}<br /><br />\n\n\n\n </body>\n</html>")
    return Response(body, status_code=status, headers=headers,
                    media_type="text/html; charset=UTF-8")


def _error(request: Request, status: int, message: str,
           headers: dict[str, str] | None = None) -> Response:
    if _wants_json(request):
        return glance_error(status, message, headers)
    return _html_error(status, message, headers)


def render_error(request: Request, exc: ServiceError) -> Response:
    if isinstance(exc, Unauthenticated):
        return unauthenticated_response(_api(request).identity_url)
    if isinstance(exc, images.ImageGone):
        return _error(request, 410, exc.message)
    return _error(request, status_for(exc, GLANCE_STATUS), exc.message)


def render_status(request: Request, status: int, detail: str) -> Response:
    return _error(request, status, detail)


def render_500() -> Response:
    return glance_error(500, GENERIC_500)


async def _caller(request: Request) -> Caller:
    """keystonemiddleware's job: the token in X-Auth-Token -> Caller, or 401."""
    return await token_caller(request, _api(request).validator)


async def _json_body(request: Request) -> Any:
    return await requests.read_json(
        request, _api(request).max_request_body_bytes,
        malformed="Malformed JSON in request body.", empty="Body expected in request.",
    )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        jsonbody.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )


# --- versions and schemas -----------------------------------------------------


def _versions(request: Request) -> dict[str, Any]:
    api = _api(request)
    return schemas.versions_document(
        api.image_url, multi_store=api.images.multi_store, cache=api.cache.enabled
    )


@router.get("/")
async def root_versions(request: Request) -> Response:
    return _json(_versions(request), status=300)


@router.get("/versions")
async def versions(request: Request) -> Response:
    return _json(_versions(request))


@router.get("/v2/schemas/image")
async def image_schema(request: Request) -> Response:
    await _caller(request)
    return _json(schemas.served_image_schema(_api(request).location_fields))


@router.get("/v2/schemas/images")
async def images_schema(request: Request) -> Response:
    await _caller(request)
    return _json(schemas.served_images_schema(_api(request).location_fields))


# --- images -------------------------------------------------------------------


@router.post("/v2/images")
async def create_image(request: Request) -> Response:
    caller = await _caller(request)
    fields, props = schemas.parse_create(await _json_body(request))
    api = _api(request)
    image = await api.images.create(caller, fields=fields, properties=props)
    headers = {"Location": f"{api.image_url}/v2/images/{image.id}"}
    if api.imports.methods:
        # Glance names its enabled import methods on every create (images.py create).
        headers["OpenStack-image-import-methods"] = ",".join(api.imports.methods)
    return _json(api.view(image), status=201, headers=headers)


@router.get("/v2/images")
async def list_images(request: Request) -> Response:
    caller = await _caller(request)
    query = filters.parse_list_query(request.query_params, images.SORT_KEYS)
    api = _api(request)
    page = await api.images.list(
        caller, filters=query["filters"], sort=query["sort"], limit=query["limit"] + 1,
        marker=query["marker"],
    )
    body: dict[str, Any] = {
        "images": [api.view(i) for i in page[: query["limit"]]],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if len(page) > query["limit"] and query["limit"] > 0:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        params.append(("marker", page[query["limit"] - 1].id))
        body["next"] = f"/v2/images?{urlencode(params)}"
    return _json(body)


async def show_image(request: Request) -> Response:
    # A plain Starlette route: clients poll this while uploads run, and FastAPI's
    # per-request parameter handling was a large part of its cost. Starlette lets
    # HEAD into a GET route; FastAPI (so every other route here) answers it 405.
    if request.method != "GET":
        raise StarletteHTTPException(status_code=405)
    caller = await _caller(request)
    api = _api(request)
    image = await api.images.show(caller, request.path_params["image_id"])
    return _json(api.view(image))


router.add_route("/v2/images/{image_id}", show_image, methods=["GET"], include_in_schema=False)


@router.patch("/v2/images/{image_id}")
async def update_image(request: Request, image_id: str) -> Response:
    caller = await _caller(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in schemas.PATCH_CONTENT_TYPES:
        # Glance names the media types it takes in Accept-Patch.
        return _error(
            request, 415,
            f"The request media type {content_type or 'None'} is not supported by this "
            f"server. Image PATCH expects one of: {', '.join(schemas.PATCH_CONTENT_TYPES)}.",
            headers={"Accept-Patch": ", ".join(schemas.PATCH_CONTENT_TYPES)},
        )
    ops = await _json_body(request)
    if content_type == schemas.PATCH_CONTENT_TYPE_V20:
        ops = schemas.patch_from_draft4(ops)

    api = _api(request)
    visible = api.images.location_options.show_multiple_locations

    def edit(image: ImageRecord) -> tuple[dict[str, Any], dict[str, str]]:
        return schemas.apply_patch(schemas.mutable_view(image), ops, locations_visible=visible)

    image = await api.images.update(caller, image_id, edit)
    return _json(api.view(image))


@router.delete("/v2/images/{image_id}")
async def delete_image(request: Request, image_id: str) -> Response:
    caller = await _caller(request)
    await _api(request).images.delete(caller, image_id)
    return Response(status_code=204)


@router.put("/v2/images/{image_id}/tags/{tag}")
async def add_tag(request: Request, image_id: str, tag: str) -> Response:
    await _change_tags(request, image_id, tag, add=True)
    return Response(status_code=204)


@router.delete("/v2/images/{image_id}/tags/{tag}")
async def delete_tag(request: Request, image_id: str, tag: str) -> Response:
    await _change_tags(request, image_id, tag, add=False)
    return Response(status_code=204)


async def _change_tags(request: Request, image_id: str, tag: str, *, add: bool) -> None:
    caller = await _caller(request)

    def edit(image: ImageRecord) -> tuple[dict[str, Any], dict[str, str]]:
        tags = list(image.tags or [])
        if add:
            if tag not in tags:
                tags.append(tag)
        elif tag in tags:
            tags.remove(tag)
        else:
            raise NotFound(f"Tag {tag} not found.")
        return schemas.apply_patch(
            schemas.mutable_view(image), [{"op": "replace", "path": "/tags", "value": tags}]
        )

    await _api(request).images.update(caller, image_id, edit)


# --- image data ---------------------------------------------------------------


def octet_stream_length(request: Request) -> int | None:
    """The declared length of an image data body (PUT file, PUT stage), which must
    be application/octet-stream (Glance's 415 otherwise)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/octet-stream":
        raise UnsupportedMedia(
            f"The request media type {content_type or 'None'} is not supported by this server."
        )
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None


@router.put("/v2/images/{image_id}/file")
async def upload_image_data(request: Request, image_id: str) -> Response:
    caller = await _caller(request)
    content_length = octet_stream_length(request)
    try:
        await _api(request).images.upload_data(
            caller, image_id, request.stream(), content_length=content_length,
            # Glance 2.8: the store to write into (ignored on a single-store site).
            store_id=request.headers.get("x-image-meta-store"),
        )
    except ClientDisconnect:
        # Nobody is listening any more; the image is back in `queued`.
        return Response(status_code=400)
    return Response(status_code=204)


@router.get("/v2/images/{image_id}/file")
async def download_image_data(request: Request, image_id: str) -> Response:
    caller = await _caller(request)
    # Glance's cache middleware leaves partial downloads alone (it neither serves
    # them from the cache nor caches them); Content-Range is its old request form.
    ranged = "range" in request.headers or "content-range" in request.headers
    data = await _api(request).cache.open_data(caller, image_id, ranged=ranged)
    if data.chunks is None:
        return Response(status_code=204)
    headers = {}
    if data.image.size is not None:
        headers["Content-Length"] = str(data.image.size)
    if data.image.checksum:
        headers["Content-MD5"] = base64.b64encode(bytes.fromhex(data.image.checksum)).decode()
    return _ClosingStreamingResponse(
        data.chunks, media_type="application/octet-stream", headers=headers
    )


class _ClosingStreamingResponse(StreamingResponse):
    """Closes its body when the response ends, however it ends: a client that went
    away mid-way leaves the data's generator suspended otherwise, until the
    collector finds it (its open file, an image cache fill, stay that long)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                await close()


# --- quota usage (Glance 2.13) ----------------------------------------------------


@router.get("/v2/info/usage")
async def usage_info(request: Request) -> Response:
    """Glance's quota usage without unified limits (use_keystone_limits off, its
    default): no image quotas are enforced here, so there is no usage to report."""
    await _caller(request)
    return _json({"usage": {}})


# --- stores (Glance 2.8, 2.10, 2.15) --------------------------------------------


def _store_summary(api: ImageApi, info: StoreInfo) -> dict[str, Any]:
    store: dict[str, Any] = {"id": info.id}
    if info.description:
        store["description"] = info.description
    if info.id == api.images.default_store:
        store["default"] = "true"
    return store


@router.get("/v2/info/stores")
async def stores_info(request: Request) -> Response:
    caller = await _caller(request)
    api = _api(request)
    stores = [_store_summary(api, info) for info in api.images.stores_info(caller)]
    return _json({"stores": stores})


@router.get("/v2/info/stores/detail")
async def stores_info_detail(request: Request) -> Response:
    caller = await _caller(request)
    api = _api(request)
    stores = []
    for info in api.images.stores_info(caller, detail=True):
        # Glance's file store properties: files are written sparse (thin), and
        # downloads read READ_CHUNK_SIZE bytes at a time.
        stores.append({
            **_store_summary(api, info), "type": info.type, "weight": info.weight,
            "properties": {"data_dir": str(info.path), "chunk_size": READ_CHUNK_SIZE,
                           "thin_provisioning": True},
        })
    return _json({"stores": stores})


@router.delete("/v2/stores/{store_id}/{image_id}")
async def delete_from_store(request: Request, store_id: str, image_id: str) -> Response:
    caller = await _caller(request)
    await _api(request).images.delete_from_store(caller, store_id, image_id)
    return Response(status_code=204)
