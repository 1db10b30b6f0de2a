"""The compare-and-swap every status change is built on, for any table with `id`,
`status` and `updated_at` columns (volumes, images, snapshots, backups)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Update, update

from cinderlite.domain.transitions import Transition


def cas_stmt(
    model: Any, row_id: str, rule: Transition[Any], *, now: datetime, target: Any = None,
    **values: Any,
) -> Update:
    """`UPDATE <table> SET status = rule.target, updated_at = now, values...
    WHERE id = row_id AND status IN rule.source`.

    `target`, an SQL expression, replaces `rule.target` when the statement itself
    picks between transitions of the same source (the end of an upload)."""
    source: list[StrEnum] = sorted(rule.source)
    return (
        update(model)
        .where(model.id == row_id, model.status.in_(source))
        .values(status=rule.target if target is None else target, updated_at=now, **values)
    )
