"""A backup store that runs out of space: the backup ends in `error` with a
reason and Cinder's user message, its partial chunks are removed, the volume
gets its status back; a smaller backup then fits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.integration.volume.test_backups import (
    MIB,
    V33,
    _backup,
    _backup_status,
    _restore,
    _sha,
    _url,
    _volume,
)
from tests.integration.volume.test_volumes import wait_status

pytestmark = pytest.mark.integration
FS_MIB = 24


def _random_at(path: Path, offsets: list[int], length: int) -> None:
    with open(path, "r+b") as fh:
        for offset in offsets:
            fh.seek(offset)
            fh.write(os.urandom(length))


@pytest.fixture
def settings(tmp_path: Path, database_url: str, small_filesystem):  # type: ignore[no-untyped-def]
    where = small_filesystem(tmp_path / "backups", FS_MIB)
    return make_settings(tmp_path, database_url, backups_path=str(where))


async def test_full_backup_store(volume_client, demo, rt) -> None:  # type: ignore[no-untyped-def]
    vol = await _volume(volume_client, demo)
    path = rt.volumes.path(vol["id"])
    _random_at(path, [k * 8 * MIB for k in range(48)], MIB)  # twice the store, incompressible
    b = await _backup(volume_client, demo, vol["id"])
    failed = await _backup_status(volume_client, demo, b["id"], "error")
    assert "Backup storage is full" in failed["fail_reason"]
    assert not any(rt.settings.backups_dir.glob(f"{b['id']}*"))
    assert (await wait_status(volume_client, demo, vol["id"], "available"))
    resp = await volume_client.get(
        f"/v3/{demo.project_id}/messages?resource_uuid={b['id']}",
        headers={**demo.headers, **V33},
    )
    assert [m["user_message"] for m in resp.json()["messages"]] == [
        "create backup:Backup driver failed to create backup."
    ]
    # The failed backup may be deleted; a volume that fits backs up and restores.
    resp = await volume_client.delete(_url(demo, f"/{b['id']}"), headers=demo.headers)
    assert resp.status_code == 202
    small = await _volume(volume_client, demo)
    _random_at(rt.volumes.path(small["id"]), [0], 4 * MIB)
    ok = await _backup(volume_client, demo, small["id"])
    await _backup_status(volume_client, demo, ok["id"], "available")
    restored = await _restore(volume_client, demo, ok["id"])
    await wait_status(volume_client, demo, restored["volume_id"], "available")
    assert _sha(rt.volumes.path(restored["volume_id"])) == _sha(rt.volumes.path(small["id"]))
