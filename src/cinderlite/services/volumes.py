"""Volume use cases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cinderlite.app import Runtime


async def run_fill(rt: Runtime, ctx: Any) -> None:
    raise NotImplementedError("volume fill not written yet")


async def recover(rt: Runtime) -> None:
    return None
