"""Upload use cases: start_upload (request side), run_upload (worker side), recover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cinderlite.app import Runtime


async def run_upload(rt: Runtime, ctx: Any) -> None:
    raise NotImplementedError("upload worker not written yet")


async def recover(rt: Runtime) -> None:
    return None
