"""The versions list with an image cache (Glance's versions.py index with image_cache_dir)."""

from __future__ import annotations

from cinderlite.api.image.schemas import api_versions

BASE = ["2.7", "2.6", "2.5", "2.4", "2.3", "2.2", "2.1", "2.0"]


def test_with_a_cache_2_18_is_current_and_the_cache_versions_come_first() -> None:
    single = api_versions(multi_store=False, cache=True)
    assert single == [
        ("2.18", "CURRENT"), ("2.17", "SUPPORTED"), ("2.16", "SUPPORTED"),
        ("2.15", "SUPPORTED"), ("2.14", "SUPPORTED"), ("2.13", "SUPPORTED"),
        ("2.12", "SUPPORTED"), ("2.11", "SUPPORTED"), ("2.9", "SUPPORTED"),
        *((v, "SUPPORTED") for v in BASE),
    ]
    multi = [v for v, _ in api_versions(multi_store=True, cache=True)]
    assert multi == ["2.18", "2.17", "2.16", "2.15", "2.14", "2.13", "2.12", "2.11", "2.10",
                     "2.9", "2.8", *BASE]


def test_each_version_is_listed_once_with_one_current() -> None:
    for multi_store in (False, True):
        for cache in (False, True):
            versions = api_versions(multi_store=multi_store, cache=cache)
            assert len({v for v, _ in versions}) == len(versions)
            assert [s for _, s in versions].count("CURRENT") == 1
            assert ("2.14" in {v for v, _ in versions}) is cache
