"""The image cache shared by several API processes of one node (`serve --role api
--processes 2`, one image_cache_dir): concurrent downloads through both processes
get whole, correct bytes and leave one entry per image and no partial file; the
cache list is the same from either process; a queued image is prefetched by one;
a delete through either removes the entry.

PostgreSQL only (several processes on one database): `make test-postgres`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.multiprocess.cluster import (
    MARKS,
    Client,
    Proc,
    Site,
    fresh_database,
    openrc,
    wait_api,
    wait_until,
)

pytestmark = MARKS

SIZE = 8 << 20
DOWNLOADS = 8


@dataclass
class Node:
    site: Site
    cache_dir: Path
    demo: Client
    admin: Client

    def cache(self) -> dict[str, object]:
        resp = self.admin.image_api("GET", "/cache")
        assert resp.status_code == 200, resp.text
        body: dict[str, object] = resp.json()
        return body

    def cached_ids(self) -> set[str]:
        return {str(e["image_id"]) for e in self.cache()["cached_images"]}  # type: ignore[attr-defined]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with fresh_database() as database_url:
        site = Site(tmp_path / "data")
        cache_dir = tmp_path / "image-cache"
        env = {**site.env(database_url), "CINDERLITE_IMAGE_CACHE_DIR": str(cache_dir)}
        api = Proc("api", [sys.executable, "-m", "cinderlite", "serve", "--role", "api",
                           "--processes", "2"], env, tmp_path / "api.log")
        api.start()
        try:
            wait_api(site, api)
            yield Node(
                site, cache_dir, Client.login(site, openrc(site.data_dir / "openrc-demo")),
                Client.login(site, openrc(site.data_dir / "openrc-admin")),
            )
            assert "Traceback" not in api.text(), api.text()[-4000:]
        finally:
            api.stop()


def _upload(node: Node, data: bytes) -> str:
    resp = node.demo.image_api("POST", "/images", json={
        "disk_format": "raw", "container_format": "bare"})
    assert resp.status_code == 201, resp.text
    image_id = str(resp.json()["id"])
    url = f"{node.site.url(node.site.image_port)}/v2/images/{image_id}/file"
    resp = httpx.put(url, content=data, timeout=60, trust_env=False, headers={
        **node.demo.headers, "Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    return image_id


def _sha(node: Node, image_id: str) -> str:
    digest = hashlib.sha256()
    with node.demo.image_data(image_id) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_bytes(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def test_processes_share_one_cache(node: Node) -> None:
    datas = [os.urandom(SIZE) for _ in range(3)]
    ids = [_upload(node, data) for data in datas]
    want = {i: hashlib.sha256(d).hexdigest() for i, d in zip(ids, datas, strict=True)}
    jobs = [image_id for image_id in ids for _ in range(DOWNLOADS)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda i: (i, _sha(node, i)), jobs))
    assert all(sha == want[i] for i, sha in got)

    wait_until(lambda: node.cached_ids() == set(ids), timeout=60, what="three entries")
    for image_id, data in zip(ids, datas, strict=True):
        assert (node.cache_dir / image_id).read_bytes() == data
    assert os.listdir(node.cache_dir / "incomplete") == []
    # Each connection may land on either process: they all see the same cache.
    states = [node.cache() for _ in range(8)]
    assert all(s == states[0] for s in states)

    # Served from the cache now, whichever process answers.
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(lambda i: _sha(node, i), [ids[0]] * 8)) == {want[ids[0]]}
    hits = {str(e["image_id"]): int(e["hits"])  # type: ignore[index]
            for e in node.cache()["cached_images"]}  # type: ignore[attr-defined]
    assert hits[ids[0]] >= 8

    extra = os.urandom(SIZE)
    queued = _upload(node, extra)
    resp = node.admin.image_api("PUT", f"/cache/{queued}")
    assert resp.status_code == 202
    wait_until(lambda: queued in node.cached_ids(), timeout=60, what="the prefetch")
    assert (node.cache_dir / queued).read_bytes() == extra
    assert node.cache()["queued_images"] == []

    for image_id in (ids[1], queued):
        resp = node.demo.image_api("DELETE", f"/images/{image_id}")
        assert resp.status_code == 204
    assert node.cached_ids() == {ids[0], ids[2]}
    assert not (node.cache_dir / queued).exists()
