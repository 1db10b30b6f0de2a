"""API and worker processes by role on one PostgreSQL database, with real processes:
2 API processes (`serve --role api --processes 2`) and 2 workers (`--role worker`).

- kill -9 of the worker running an upload: the other one finishes it within the
  lease and a few seconds, and only it (never a rollback as well), bytes checked;
- SIGSTOP of that worker past its lease, then SIGCONT (while the other is still
  copying, or after it finished): the paused worker's late work commits nothing;
- a token revoked through one API machine is refused at once by another.

PostgreSQL only (several processes on one database): `make test-postgres`.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.multiprocess.cluster import (
    LEASE_SECONDS,
    MARKS,
    Client,
    Proc,
    Site,
    fresh_database,
    openrc,
    query,
    serve,
    wait_api,
    wait_until,
    wait_worker,
)

pytestmark = MARKS

GIB = 1 << 30
# Random (incompressible) bytes at the start of each 1 GiB volume: gzip takes a
# second or two over them, long enough to stop the worker halfway.
RANDOM_BYTES = 96 << 20
TRIALS = 20


@dataclass
class Cluster:
    site: Site
    database_url: str
    api: Proc
    workers: list[Proc]
    client: Client
    starts: int = 0

    def restart(self, dead: Proc) -> Proc:
        self.starts += 1
        fresh = serve(self.site, self.database_url, f"worker-{self.starts}", "--role", "worker")
        self.workers[self.workers.index(dead)] = fresh
        return fresh

    def worker_with_pid(self, pid: int) -> Proc:
        return next(w for w in self.workers if w.pid == pid)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with fresh_database() as database_url:
        site = Site(tmp_path / "data")
        api = serve(site, database_url, "api", "--role", "api", "--processes", "2")
        procs = [api]
        try:
            wait_api(site, api)
            workers = [
                serve(site, database_url, f"worker-{i}", "--role", "worker") for i in range(2)
            ]
            procs += workers
            for w in workers:
                wait_worker(w)
            client = Client.login(site, openrc(site.data_dir / "openrc-demo"))
            c = Cluster(site, database_url, api, workers, client, starts=2)
            yield c
            procs += c.workers
        finally:
            for p in procs:
                p.stop()


def _job(c: Cluster, image_id: str) -> dict[str, object] | None:
    rows = query(
        c.database_url,
        "SELECT state, lease_owner, lease_token, attempts, bytes_done FROM jobs "
        "WHERE image_id = $1",
        image_id,
    )
    return rows[0] if rows else None


def _owner_pid(row: dict[str, object]) -> int:
    return int(str(row["lease_owner"]).split(":")[1])


def _start_upload(c: Cluster) -> tuple[str, str, bytes]:
    resp = c.client.volume_api("POST", "/volumes", json={"volume": {"size": 1}})
    assert resp.status_code == 202, resp.text
    volume_id = resp.json()["volume"]["id"]
    wait_until(
        lambda: c.client.volume_api("GET", f"/volumes/{volume_id}").json()["volume"]["status"]
        == "available",
        timeout=30, what="volume available",
    )
    data = os.urandom(RANDOM_BYTES)
    with open(c.site.data_dir / "volumes" / f"volume-{volume_id}", "r+b") as fh:
        fh.write(data)
        os.fsync(fh.fileno())
    resp = c.client.volume_api("POST", f"/volumes/{volume_id}/action", json={
        "os-volume_upload_image": {
            "image_name": f"mp-{volume_id}", "disk_format": "raw",
            "container_format": "compressed",
        }
    })
    assert resp.status_code == 202, resp.text
    return volume_id, resp.json()["os-volume_upload_image"]["image_id"], data


def _running_with_progress(c: Cluster, image_id: str) -> dict[str, object]:
    def probe() -> dict[str, object] | None:
        row = _job(c, image_id)
        assert row is not None
        assert row["state"] in ("queued", "running"), row
        return row if row["state"] == "running" and int(str(row["bytes_done"])) > 0 else None

    return wait_until(probe, timeout=60, what=f"upload of image {image_id} under way",
                      interval=0.05)


def _taken_over(c: Cluster, image_id: str, *, by: Proc) -> dict[str, object]:
    """The job's row once `by` claimed it: within the lease and its poll (1 s)."""
    def probe() -> dict[str, object] | None:
        row = _job(c, image_id)
        assert row is not None
        owner = row["lease_owner"]
        return row if owner is not None and _owner_pid(row) == by.pid else None

    return wait_until(probe, timeout=LEASE_SECONDS + 4, what=f"{by.name} to take the job",
                      interval=0.05)


def _settled(c: Cluster, image_id: str, timeout: float) -> str:
    """The image's final status: active, or gone (404)."""
    def probe() -> str | None:
        resp = c.client.image_api("GET", f"/images/{image_id}")
        if resp.status_code == 404:
            return "gone"
        status = str(resp.json()["status"])
        return status if status == "active" else None

    return str(wait_until(probe, timeout=timeout, what=f"image {image_id} settled"))


def _check_image_bytes(c: Cluster, image_id: str, data: bytes) -> None:
    """The stored bytes are the checksum's, and ungzipped they are the volume."""
    image = c.client.image_api("GET", f"/images/{image_id}").json()
    md5 = hashlib.md5(usedforsecurity=False)
    inflate = zlib.decompressobj(wbits=31)
    plain = 0
    zero = bytes(1 << 20)
    with c.client.image_data(image_id) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_bytes(1 << 20):
            md5.update(chunk)
            pending = chunk
            while pending:
                # Bounded pieces: 1 MiB of gzipped zeros inflates to about 1 GiB.
                piece = memoryview(inflate.decompress(pending, len(zero)))
                pending = inflate.unconsumed_tail
                if plain < len(data):
                    head = data[plain:plain + len(piece)]
                    assert piece[: len(head)] == head, f"image bytes differ at {plain}"
                    tail = piece[len(head):]
                else:
                    tail = piece
                assert tail == zero[: len(tail)], f"image bytes not zero at {plain}"
                plain += len(piece)
        while not inflate.eof and (rest := inflate.decompress(b"", len(zero))):
            assert rest == zero[: len(rest)]
            plain += len(rest)
    assert md5.hexdigest() == image["checksum"]
    assert plain == GIB


def _check_upload_finished_once(
    c: Cluster, volume_id: str, image_id: str, data: bytes, by_pid: int
) -> None:
    """Finished by the worker `by_pid`, and only finished: the image active with the
    right bytes, the volume available, no failure message, nothing left over."""
    row = _job(c, image_id)
    assert row is not None
    assert row["state"] == "done", row
    assert _owner_pid(row) == by_pid, row
    volume = c.client.volume_api("GET", f"/volumes/{volume_id}").json()["volume"]
    assert volume["status"] == "available", volume
    messages = c.client.volume_api(
        "GET", "/messages", headers={**c.client.headers, "OpenStack-API-Version": "volume 3.3"}
    ).json()["messages"]
    assert [m for m in messages if m["resource_uuid"] == volume_id] == []
    _check_image_bytes(c, image_id, data)
    staging = c.site.data_dir / "images" / ".staging"
    assert sorted(p.name for p in staging.glob(f"{image_id}.*")) == []
    unfinished = query(c.database_url,
                       "SELECT id FROM jobs WHERE state IN ('queued', 'running')")
    assert unfinished == []


def _clean_up(c: Cluster, volume_id: str, image_id: str) -> None:
    c.client.image_api("DELETE", f"/images/{image_id}")
    c.client.volume_api("DELETE", f"/volumes/{volume_id}")


@pytest.mark.timeout(900)
def test_a_killed_worker_s_upload_is_finished_by_the_other_one(cluster: Cluster) -> None:
    c = cluster
    started = time.monotonic()
    interrupted = 0
    for _ in range(TRIALS + 10):
        if interrupted == TRIALS:
            break
        for w in c.workers:  # both up: a replacement started by the last trial too
            wait_worker(w)
        volume_id, image_id, data = _start_upload(c)
        row = _running_with_progress(c, image_id)
        victim = c.worker_with_pid(_owner_pid(row))
        survivor = next(w for w in c.workers if w is not victim)
        assert survivor.alive()
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.popen is not None
        victim.popen.wait(10)
        killed_at = time.monotonic()
        first = _job(c, image_id)
        assert first is not None
        if first["state"] == "done":  # finished just before the kill: not a trial
            c.restart(victim)
            _check_upload_finished_once(c, volume_id, image_id, data, victim.pid)
        else:
            interrupted += 1
            # The survivor takes the job once the lease ran out (its poll: 1 s).
            claimed = _taken_over(c, image_id, by=survivor)
            took = time.monotonic() - killed_at
            assert claimed["attempts"] == 2, claimed
            assert took <= LEASE_SECONDS + 4
            # The replacement starts now: it must not be the one that takes over.
            c.restart(victim)
            assert _settled(c, image_id, timeout=60) == "active"
            _check_upload_finished_once(c, volume_id, image_id, data, survivor.pid)
        _clean_up(c, volume_id, image_id)
    assert interrupted == TRIALS
    assert time.monotonic() - started < 840


@pytest.mark.parametrize("resume", ["while the other copies", "after the other finished"])
def test_a_worker_paused_past_its_lease_commits_nothing(cluster: Cluster, resume: str) -> None:
    c = cluster
    volume_id, image_id, data = _start_upload(c)
    row = _running_with_progress(c, image_id)
    paused = c.worker_with_pid(_owner_pid(row))
    other = next(w for w in c.workers if w is not paused)
    os.kill(paused.pid, signal.SIGSTOP)
    try:
        _taken_over(c, image_id, by=other)
        if resume == "after the other finished":
            assert _settled(c, image_id, timeout=60) == "active"
    finally:
        os.kill(paused.pid, signal.SIGCONT)
    # The paused worker wakes up with its old claim: its renewal or its next
    # write finds the lease taken, and it stops without committing anything.
    wait_until(lambda: "another worker" in paused.text(), timeout=30,
               what="the resumed worker to find its lease taken")
    assert _settled(c, image_id, timeout=60) == "active"
    time.sleep(1)  # anything late of the resumed worker would land by now
    _check_upload_finished_once(c, volume_id, image_id, data, other.pid)
    assert paused.alive()
    assert "Traceback" not in paused.text()


def test_a_token_revoked_through_one_api_machine_is_refused_by_another(
    tmp_path: Path,
) -> None:
    with fresh_database() as database_url:
        # Two "machines": data directories of their own, so only the database
        # connects them (no revocation file seen by both).
        one, two = Site(tmp_path / "one" / "data"), Site(tmp_path / "two" / "data")
        for site in (one, two):
            site.data_dir.parent.mkdir(parents=True)
        api_one = serve(one, database_url, "api-one", "--role", "api")
        procs = [api_one]
        try:
            wait_api(one, api_one)
            rc = openrc(one.data_dir / "openrc-demo")
            # The second machine's data directory gets the credentials copied, as an
            # operator would (bootstrap ran once, on the first).
            two.data_dir.mkdir(mode=0o700)
            for name in ("openrc-demo", "openrc-admin"):
                (two.data_dir / name).write_bytes((one.data_dir / name).read_bytes())
            api_two = serve(two, database_url, "api-two", "--role", "api")
            procs.append(api_two)
            wait_api(two, api_two)
            on_one = Client.login(one, rc)
            on_two = Client(two, on_one.token, on_one.project_id)
            for _ in range(5):  # cached by the second machine's validator
                assert on_two.volume_api("GET", "/volumes").status_code == 200
            resp = httpx.delete(
                f"{one.url(one.identity_port)}/v3/auth/tokens",
                headers={"X-Auth-Token": on_one.token, "X-Subject-Token": on_one.token},
                timeout=10, trust_env=False,
            )
            assert resp.status_code == 204, resp.text
            assert on_two.volume_api("GET", "/volumes").status_code == 401
            assert on_one.volume_api("GET", "/volumes").status_code == 401
        finally:
            for p in procs:
                p.stop()

