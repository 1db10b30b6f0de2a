"""Cinder's host names: which rows a host filter matches, liveness, the layout."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cinderlite.domain import hosts as H
from cinderlite.domain.filters import time_matches

T0 = datetime(2026, 12, 4, 12, 0, 0)


@pytest.mark.parametrize(("stored", "value", "expected"), [
    ("node", "node", True),
    ("node@file", "node", True),
    ("node@file#file", "node", True),
    ("node@file", "node@file", True),
    ("node@file#file", "node@file", True),
    ("node@other", "node@file", False),
    ("node@file", "node@file#file", False),
    ("node@file#file", "node@file#file", True),
    ("node2@file", "node", False),
    ("nodeX", "node", False),
    ("node", "node@file", False),
])
def test_matches_host(stored: str, value: str, expected: bool) -> None:
    assert H.matches_host(stored, value) is expected


def test_backend_and_host_of() -> None:
    assert H.backend_of("h@b#p") == "h@b"
    assert H.backend_of("h@b") == "h@b"
    assert H.host_of("h@b#p") == "h"
    assert H.host_of("h") == "h"


def test_is_up() -> None:
    assert H.is_up(T0, T0, now=T0 + timedelta(seconds=60), down_after_seconds=60)
    assert not H.is_up(T0, T0, now=T0 + timedelta(seconds=61), down_after_seconds=60)
    # Never beaten: the creation counts.
    assert H.is_up(None, T0, now=T0 + timedelta(seconds=5), down_after_seconds=60)


def test_layout_names() -> None:
    layout = H.HostLayout(host="node", backend_name="file", zone="nova", default_zone="")
    assert layout.volume_host == "node@file"
    assert layout.pool_name == "node@file#file"
    assert layout.service_host(H.VOLUME_BINARY) == "node@file"
    assert layout.service_host(H.BACKUP_BINARY) == "node"
    assert layout.service_host(H.SCHEDULER_BINARY) == "node"


@pytest.mark.parametrize(("ops", "expected"), [
    ({"gt": T0 - timedelta(seconds=1)}, True),
    ({"gt": T0}, False),
    ({"gte": T0}, True),
    ({"lt": T0}, False),
    ({"lte": T0}, True),
    ({"eq": T0}, True),
    ({"neq": T0}, False),
    ({"gte": T0, "lt": T0 + timedelta(days=1)}, True),
    ({"gte": T0, "lt": T0}, False),
])
def test_time_matches(ops: dict[str, datetime], expected: bool) -> None:
    assert time_matches(T0, ops) is expected


def test_time_matches_null_matches_no_comparison() -> None:
    assert not time_matches(None, {"neq": T0})
    assert not time_matches(None, {"lt": T0})
