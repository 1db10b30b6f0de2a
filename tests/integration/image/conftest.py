"""Image API tests read Glance's JSON errors; the SDK asks for JSON the same way."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture(autouse=True)
def _json_errors(image_client: httpx.AsyncClient) -> None:
    image_client.headers["Accept"] = "application/json"
