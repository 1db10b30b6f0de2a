"""Glance's image cache with the real glance client against a served cinderlite with
an image cache (docs/images.md): `glance cache-queue`, `cache-list`, `cache-delete`,
`cache-clear`, `cache-clean`, `cache-prune`, `cache-nodes-list`, downloads with
`glance image-download` served from the cache (bytes compared with what was
uploaded and with the cache's file), and the server without a cache, which
glanceclient finds does not list 2.14."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import CACHE_MAX_SIZE
from tests.e2e.support import LiveServer, list_rows, parse_table, run_cli, same_bytes, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SIZE = 3 << 20


def glance(server: LiveServer, env: dict[str, str], *args: str, check: bool = True):  # type: ignore[no-untyped-def]
    # glanceclient's cache commands want this node's own endpoint, never the catalog's.
    return run_cli(["glance", "--os-image-url", server.image_url, *args], env, check=check)


def cache_rows(server: LiveServer) -> dict[str, dict[str, str]]:
    out = glance(server, server.admin_env, "cache-list").stdout
    return {row["ID"]: row for row in list_rows(out)}


def upload(server: LiveServer, path: Path, name: str) -> str:
    out = run_cli(["glance", "image-create", "--disk-format", "raw", "--container-format",
                   "bare", "--name", name, "--file", str(path)], server.demo_env).stdout
    image = parse_table(out)
    assert image["status"] == "active"
    return image["id"]


def cached_file(server: LiveServer, image_id: str) -> Path:
    return server.data_dir.parent / "image-cache" / image_id


def test_cache_commands(cache_server: LiveServer, tmp_path: Path) -> None:
    server, admin, demo = cache_server, cache_server.admin_env, cache_server.demo_env
    first, second = tmp_path / "first.raw", tmp_path / "second.raw"
    first.write_bytes(os.urandom(SIZE))
    second.write_bytes(os.urandom(SIZE))
    first_id = upload(server, first, "cache-first")
    second_id = upload(server, second, "cache-second")
    assert cache_rows(server) == {}

    # Queued, then fetched by the prefetcher.
    glance(server, admin, "cache-queue", first_id)
    wait_until(lambda: cache_rows(server).get(first_id, {}).get("State") == "cached",
               timeout=60, what="the prefetcher to cache the first image")
    assert same_bytes(cached_file(server, first_id), first)
    row = cache_rows(server)[first_id]
    assert (row["Size"], row["Hits"]) == (str(SIZE), "0")

    # Downloads are served from the cache: hits count them.
    for n in (1, 2):
        out_file = tmp_path / f"down-{n}.raw"
        run_cli(["glance", "image-download", "--file", str(out_file), first_id], demo)
        assert same_bytes(out_file, first)
    assert cache_rows(server)[first_id]["Hits"] == "2"

    # A download of an image not cached fills the cache.
    out_file = tmp_path / "second-down.raw"
    run_cli(["glance", "image-download", "--file", str(out_file), second_id], demo)
    assert same_bytes(out_file, second)
    wait_until(lambda: second_id in cache_rows(server), timeout=60,
               what="the download to fill the cache")
    assert same_bytes(cached_file(server, second_id), second)

    # Two images, CACHE_MAX_SIZE holds one: the one accessed least recently goes.
    assert 2 * SIZE > CACHE_MAX_SIZE >= SIZE
    out = glance(server, admin, "cache-prune").stdout
    assert out.strip() == f"Pruned 1 file(s), {SIZE} byte(s)."
    assert set(cache_rows(server)) == {second_id}
    assert not cached_file(server, first_id).exists()

    glance(server, admin, "cache-delete", second_id)
    assert cache_rows(server) == {}

    # cache-clear (both, its default) empties the cache and the queue.
    out_file = tmp_path / "again.raw"
    run_cli(["glance", "image-download", "--file", str(out_file), first_id], demo)
    wait_until(lambda: first_id in cache_rows(server), timeout=60, what="a fill")
    glance(server, admin, "cache-clear")
    assert cache_rows(server) == {}
    glance(server, admin, "cache-clear", "--target", "queue")
    glance(server, admin, "cache-clean")

    nodes = glance(server, admin, "cache-nodes-list", first_id)
    assert "Centralized caching is not enabled" in nodes.stderr + nodes.stdout


def test_cache_commands_are_for_admins(cache_server: LiveServer) -> None:
    refused = glance(cache_server, cache_server.demo_env, "cache-list", check=False)
    assert refused.returncode != 0
    assert "403" in refused.stderr + refused.stdout
    out = glance(cache_server, cache_server.demo_env, "cache-clean")
    assert "You are not permitted to clean the image cache." in out.stderr + out.stdout


def test_a_server_without_a_cache_does_not_offer_it(server: LiveServer) -> None:
    refused = glance(server, server.admin_env, "cache-list", check=False)
    assert refused.returncode != 0
    assert "Glance does not support image caching API (v2.14)" in refused.stderr + refused.stdout
