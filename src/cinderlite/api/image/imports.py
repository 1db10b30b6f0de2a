"""HTTP routes of interoperable image import and image tasks (Glance v2
discovery.py, image_data.py stage, images.py import_image, tasks.py)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import jsonschema
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from cinderlite.api.image import routes, schemas
from cinderlite.domain.errors import InvalidRequest
from cinderlite.domain.image_tasks import TASK_TYPES
from cinderlite.domain.records import ImageTaskRecord
from cinderlite.services.image_import import (
    TASK_LIMIT_DEFAULT,
    ImageImportService,
    ImportRequest,
    TaskQuery,
)

router = APIRouter()

_UUID = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)

# glance/api/v2/tasks.py _TASK_SCHEMA.
_TASK_PROPERTIES: dict[str, Any] = {
    "id": {"description": "An identifier for the task", "pattern": _UUID, "type": "string"},
    "type": {"description": "The type of task represented by this content",
             "enum": list(TASK_TYPES), "type": "string"},
    "status": {"description": "The current status of this task",
               "enum": ["pending", "processing", "success", "failure"], "type": "string"},
    "input": {"description": "The parameters required by task, JSON blob",
              "type": ["null", "object"]},
    "result": {"description": "The result of current task, JSON blob",
               "type": ["null", "object"]},
    "owner": {"description": "An identifier for the owner of this task", "type": "string"},
    "message": {"description": "Human-readable informative message only included when "
                               "appropriate (usually on failure)", "type": "string"},
    "image_id": {"description": "Image associated with the task", "type": "string"},
    "request_id": {"description": "Human-readable informative request-id", "type": "string"},
    "user_id": {"description": "User associated with the task", "type": "string"},
    "expires_at": {"description": "Datetime when this resource would be subject to removal",
                   "type": ["null", "string"]},
    "created_at": {"description": "Datetime when this resource was created", "type": "string"},
    "updated_at": {"description": "Datetime when this resource was updated", "type": "string"},
    "self": {"readOnly": True, "type": "string"},
    "schema": {"readOnly": True, "type": "string"},
}
# GET /v2/schemas/task: Schema("task", ...).minimal().
TASK_SCHEMA: dict[str, Any] = {"name": "task", "properties": _TASK_PROPERTIES}
# GET /v2/schemas/tasks: the collection of the partial task (no input, result, message).
_PARTIAL = {k: v for k, v in _TASK_PROPERTIES.items() if k not in ("input", "result", "message")}
TASKS_SCHEMA: dict[str, Any] = {
    "name": "tasks",
    "properties": {
        "tasks": {"type": "array", "items": {"name": "task", "properties": _PARTIAL}},
        "schema": {"type": "string"},
    },
    "links": [{"rel": "describedby", "href": "{schema}"}],
}
# What POST /v2/tasks bodies are validated against (Schema.raw()).
_TASK_VALIDATOR = jsonschema.Draft4Validator(
    {"name": "task", "properties": _TASK_PROPERTIES, "additionalProperties": False}
)
TASK_STATUSES = ("pending", "processing", "success", "failure")
DELETE_REFUSED = ("This operation is currently not permitted on Glance Tasks. They are auto "
                  "deleted after reaching the time based on their expires_at property.")


def _imports(request: Request) -> ImageImportService:
    service: ImageImportService = routes._api(request).imports
    return service


# --- discovery ------------------------------------------------------------------


@router.get("/v2/info/import")
async def import_info(request: Request) -> Response:
    await routes._caller(request)
    return routes._json({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": list(_imports(request).methods),
    }})


# --- stage and import -----------------------------------------------------------


@router.put("/v2/images/{image_id}/stage")
async def stage_image_data(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    content_length = routes.octet_stream_length(request)
    try:
        await _imports(request).stage(
            caller, image_id, request.stream(), content_length=content_length,
        )
    except ClientDisconnect:
        # Nobody is listening any more; the image is back in `queued`.
        return Response(status_code=400)
    return Response(status_code=204)


def parse_import(
    body: Any, methods: tuple[str, ...], store_header: str | None = None,
) -> ImportRequest:
    """glance/api/v2/images.py RequestDeserializer._validate_import_body; the
    stores (`stores`, `all_stores`, X-Image-Meta-Store) are the service's to check."""
    if not isinstance(body, dict):
        raise InvalidRequest("Body expected in request.")
    method = body.get("method")
    if method is None:
        raise InvalidRequest("Import request requires a 'method' field.")
    if not isinstance(method, dict) or "name" not in method:
        raise InvalidRequest("Import request requires a 'name' field.")
    name = method["name"]
    if not isinstance(name, str) or name not in methods:
        raise InvalidRequest(f"Unknown import method name '{name}'.")
    must_succeed = body.get("all_stores_must_succeed", True)
    if not isinstance(must_succeed, bool):
        raise InvalidRequest("'all_stores_must_succeed' must be boolean value only")
    if not isinstance(body.get("all_stores", False), bool):
        raise InvalidRequest("'all_stores' must be boolean value only")
    uri = method.get("uri")
    return ImportRequest(
        method=name, uri=uri if isinstance(uri, str) else None, body=body,
        all_stores_must_succeed=must_succeed, all_stores=bool(body.get("all_stores", False)),
        stores_param=body.get("stores"), stores_given="stores" in body,
        store_header=store_header,
    )


@router.post("/v2/images/{image_id}/import")
async def import_image(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    service = _imports(request)
    req = parse_import(await routes._json_body(request), service.methods,
                       request.headers.get("x-image-meta-store"))
    await service.start_import(caller, image_id, req, request_id=request_id(request))
    return Response(status_code=202)


def request_id(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


# --- tasks ------------------------------------------------------------------------


def task_view(task: ImageTaskRecord) -> dict[str, Any]:
    """glance/api/v2/tasks.py ResponseSerializer._format_task."""
    view: dict[str, Any] = {
        "id": task.id, "input": task.input, "type": task.type, "status": task.status,
        "owner": task.owner, "message": task.message or "", "result": task.result,
        "created_at": schemas.timestamp(task.created_at),
        "updated_at": schemas.timestamp(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }
    for key in ("image_id", "request_id", "user_id"):
        if getattr(task, key):
            view[key] = getattr(task, key)
    if task.expires_at is not None:
        view["expires_at"] = schemas.timestamp(task.expires_at)
    return view


def task_stub(task: ImageTaskRecord) -> dict[str, Any]:
    """ResponseSerializer._format_task_stub: what a list shows of a task."""
    view: dict[str, Any] = {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "created_at": schemas.timestamp(task.created_at),
        "updated_at": schemas.timestamp(task.updated_at),
        "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task",
    }
    if task.expires_at is not None:
        view["expires_at"] = schemas.timestamp(task.expires_at)
    return view


def _db_time(value: Any) -> str | None:
    # oslo to_primitive's datetime text, which Glance's plain JSON serializer uses.
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def image_task_view(task: ImageTaskRecord) -> dict[str, Any]:
    """A task as GET /v2/images/{id}/tasks shows it: Glance's database record
    (db/sqlalchemy/api.py _task_format), serialized as is."""
    return {
        "id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
        "expires_at": _db_time(task.expires_at), "created_at": _db_time(task.created_at),
        "updated_at": _db_time(task.updated_at), "deleted_at": None, "deleted": False,
        "image_id": task.image_id, "request_id": task.request_id, "user_id": task.user_id,
        "input": task.input, "result": task.result, "message": task.message or "",
    }


@router.get("/v2/images/{image_id}/tasks")
async def image_tasks(request: Request, image_id: str) -> Response:
    caller = await routes._caller(request)
    tasks = await _imports(request).image_tasks(caller, image_id)
    return routes._json({"tasks": [image_task_view(t) for t in tasks]})


@router.get("/v2/schemas/task")
async def task_schema(request: Request) -> Response:
    await routes._caller(request)
    return routes._json(TASK_SCHEMA)


@router.get("/v2/schemas/tasks")
async def tasks_schema(request: Request) -> Response:
    await routes._caller(request)
    return routes._json(TASKS_SCHEMA)


def _task_query(params: Any) -> TaskQuery:
    """glance/api/v2/tasks.py RequestDeserializer.index."""
    query = dict(params)
    limit = query.pop("limit", None)
    marker = query.pop("marker", None)
    sort_dir = query.pop("sort_dir", "desc")
    sort_key = query.pop("sort_key", "created_at")
    if sort_dir not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid sort direction: {sort_dir}")
    status = query.get("status")
    if status and status not in TASK_STATUSES:
        raise InvalidRequest(f"Invalid status value: {status}")
    kind = query.get("type")
    if kind and kind not in ("import",):
        raise InvalidRequest(f"Invalid type value: {kind}")
    if marker is not None:
        try:
            uuid.UUID(marker)
        except ValueError:
            raise InvalidRequest("Invalid marker format") from None
    count = TASK_LIMIT_DEFAULT
    if limit is not None:
        try:
            count = int(limit)
        except ValueError:
            raise InvalidRequest("limit param must be an integer") from None
        if count < 0:
            raise InvalidRequest("limit param must be positive")
    return TaskQuery(filters=query, sort_key=sort_key, sort_dir=sort_dir, limit=count,
                     marker=marker)


@router.get("/v2/tasks")
async def list_tasks(request: Request) -> Response:
    caller = await routes._caller(request)
    query = _task_query(request.query_params)
    tasks = await _imports(request).list_tasks(caller, query)
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
    body: dict[str, Any] = {
        "tasks": [task_stub(t) for t in tasks],
        "first": "/v2/tasks" + (f"?{urlencode(params)}" if params else ""),
        "schema": "/v2/schemas/tasks",
    }
    if tasks and len(tasks) == query.limit:
        body["next"] = f"/v2/tasks?{urlencode([*params, ('marker', tasks[-1].id)])}"
    return routes._json(body)


@router.get("/v2/tasks/{task_id}")
async def show_task(request: Request, task_id: str) -> Response:
    caller = await routes._caller(request)
    task = await _imports(request).show_task(caller, task_id)
    return routes._json(task_view(task))


@router.delete("/v2/tasks/{task_id}")
async def delete_task(request: Request, task_id: str) -> Response:
    caller = await routes._caller(request)
    await _imports(request).show_task(caller, task_id)
    return Response(DELETE_REFUSED, status_code=405, headers={"Allow": "GET"},
                    media_type="text/plain; charset=UTF-8")


@router.post("/v2/tasks")
async def create_task(request: Request) -> Response:
    """Deprecated in Glance, admins only by default (tasks_api_access)."""
    caller = await routes._caller(request)
    service = _imports(request)
    service.authorize_tasks(caller)
    body = await routes._json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequest("Body expected in request.")
    for key in ("type", "input"):
        if key not in body:
            raise InvalidRequest(f"Task '{key}' is required")
    error = jsonschema.exceptions.best_match(_TASK_VALIDATOR.iter_errors(body))
    if error is not None:
        raise InvalidRequest(f"Provided object does not match schema 'task': {error.message}")
    task_input = body["input"] or {}
    image = None
    if body["type"] == "import":
        await service.check_legacy_import(task_input)
        image = schemas.parse_create(task_input.get("image_properties") or {})
    task = await service.create_task(
        caller, task_type=body["type"], task_input=task_input, image=image,
        request_id=request_id(request),
    )
    return routes._json(task_view(task), status=201,
                        headers={"Location": f"/v2/tasks/{task.id}"})


__all__ = ["TASKS_SCHEMA", "TASK_SCHEMA", "parse_import", "router"]
