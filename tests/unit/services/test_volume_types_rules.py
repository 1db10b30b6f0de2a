"""The volume types' pure rules: cacheable vs multiattach, the extra specs filter,
the encryption key_size format."""

from __future__ import annotations

import pytest

from cinderlite.api.volume import type_schemas as ts
from cinderlite.domain.errors import InvalidRequest
from cinderlite.services.volume_types import _check_cacheable, _has_specs


def test_cacheable_cannot_join_multiattach() -> None:
    with pytest.raises(InvalidRequest, match=r"cacheable cannot be set with multiattach\."):
        _check_cacheable({"cacheable": "<is> True"}, {"multiattach": "<is> True"})
    with pytest.raises(InvalidRequest):
        _check_cacheable({"cacheable": "<is> True", "multiattach": "<is> True"}, {})
    _check_cacheable({"cacheable": "<is> True"}, {"multiattach": "<is> False"})
    _check_cacheable({"other": "x"}, {"multiattach": "<is> True", "cacheable": "<is> True"})


def test_extra_specs_filter_matches_every_key() -> None:
    assert _has_specs({"a": "1", "b": "2"}, {"a": "1"})
    assert not _has_specs({"a": "1"}, {"a": "1", "b": "2"})
    assert not _has_specs({"a": "2"}, {"a": "1"})


def test_key_size() -> None:
    assert ts.key_size("256") == 256
    assert ts.key_size(128) == 128
    assert ts.key_size(None) is None
    with pytest.raises(InvalidRequest):
        ts.key_size("big")
    with pytest.raises(InvalidRequest):
        ts.key_size(True)
