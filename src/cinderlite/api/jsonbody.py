"""JSON response bodies of the three APIs: orjson, with the standard library for
what orjson refuses (integers beyond 64 bits, non-string keys)."""

from __future__ import annotations

import json

import orjson


def dumps(body: object) -> bytes:
    """`body` as compact UTF-8 JSON (what Starlette's JSONResponse writes)."""
    try:
        return orjson.dumps(body)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(
            body, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
