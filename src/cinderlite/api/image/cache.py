"""HTTP routes of Glance's cache management API (glance/api/v2/cached_images.py:
2.14's list, queue, delete and clear; 2.18's clean and prune; the cached-nodes
list). services/image_cache.py says what they do."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from cinderlite.api.image import routes
from cinderlite.services.image_cache import ImageCacheService

router = APIRouter()


def _cache(request: Request) -> ImageCacheService:
    service: ImageCacheService = routes._api(request).cache
    return service


@router.get("/v2/cache")
async def get_cache_state(request: Request) -> Response:
    caller = await routes._caller(request)
    state = await _cache(request).state(caller)
    return routes._json({
        "cached_images": [
            {"image_id": e.image_id, "hits": e.hits, "last_accessed": e.last_accessed,
             "last_modified": e.last_modified, "size": e.size}
            for e in state.cached
        ],
        "queued_images": state.queued,
    })


@router.delete("/v2/cache")
async def clear_cache(request: Request) -> Response:
    caller = await routes._caller(request)
    target = request.headers.get("x-image-cache-clear-target", "")
    await _cache(request).clear(caller, target)
    return Response(status_code=204)


@router.post("/v2/cache/clean")
async def clean_cache(request: Request) -> Response:
    caller = await routes._caller(request)
    await _cache(request).clean(caller)
    # Glance's serializer: 200 and no body.
    return Response(status_code=200)


@router.post("/v2/cache/prune")
async def prune_cache(request: Request) -> Response:
    caller = await routes._caller(request)
    pruned = await _cache(request).prune(caller)
    return routes._json(
        {"total_files_pruned": pruned.files, "total_bytes_pruned": pruned.bytes}
    )


@router.get("/v2/cache/nodes/{image_id}")
async def get_cached_nodes(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    return routes._json(await _cache(request).cached_nodes(caller, image_id))


@router.put("/v2/cache/{image_id}")
async def queue_image(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    await _cache(request).queue(caller, image_id)
    return Response(status_code=202)


@router.delete("/v2/cache/{image_id}")
async def delete_cache_entry(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    await _cache(request).delete(caller, image_id)
    return Response(status_code=204)


__all__ = ["router"]
