"""Helpers for upload tests: volumes made by inserting rows and writing their files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

from cinderlite import app as app_module
from cinderlite.db.models import Image, Job, UserMessage, Volume, VolumeAttachment
from cinderlite.domain.clock import utcnow

MIB = 1 << 20


async def make_volume(
    rt: app_module.Runtime,
    *,
    project_id: str,
    user_id: str = "u",
    size_gib: int = 1,
    status: str = "available",
    data: Iterable[tuple[int, bytes]] = (),
    file_bytes: int | None = None,
    image_meta: dict | None = None,
    attached: bool = False,
    description: str | None = None,
    volume_type_id: str | None = None,
) -> str:
    """A volume row and its sparse file (`file_bytes` defaults to size_gib GiB)."""
    volume_id = str(uuid.uuid4())
    now = utcnow()
    async with rt.transaction() as db:
        db.add(
            Volume(
                id=volume_id,
                project_id=project_id,
                user_id=user_id,
                name=f"vol-{volume_id[:8]}",
                description=description,
                size=size_gib,
                status=status,
                attach_status="detached",
                availability_zone="nova",
                bootable=False,
                meta={},
                image_meta=image_meta or {},
                volume_type_id=volume_type_id,
                created_at=now,
                updated_at=now,
            )
        )
        if attached:
            db.add(
                VolumeAttachment(
                    id=str(uuid.uuid4()),
                    volume_id=volume_id,
                    instance_uuid=str(uuid.uuid4()),
                    attach_status="attached",
                    attached_at=now,
                )
            )
    await rt.volumes.create(volume_id, file_bytes if file_bytes is not None else size_gib << 30)
    path = rt.volumes.path(volume_id)
    fd = os.open(path, os.O_WRONLY)
    try:
        for offset, chunk in data:
            os.pwrite(fd, chunk, offset)
    finally:
        os.close(fd)
    return volume_id


def volume_bytes(rt: app_module.Runtime, volume_id: str) -> bytes:
    return Path(rt.volumes.path(volume_id)).read_bytes()


async def get_row(rt: app_module.Runtime, model: type, key: str):  # type: ignore[no-untyped-def]
    async with rt.transaction() as db:
        return await db.get(model, key, populate_existing=True)


async def volume_status(rt: app_module.Runtime, volume_id: str) -> str:
    row = await get_row(rt, Volume, volume_id)
    return row.status


async def image_row(rt: app_module.Runtime, image_id: str) -> Image | None:
    return await get_row(rt, Image, image_id)


async def job_row(rt: app_module.Runtime, job_id: str) -> Job | None:
    return await get_row(rt, Job, job_id)


async def messages_for(rt: app_module.Runtime, volume_id: str) -> list[UserMessage]:
    from sqlalchemy import select

    async with rt.transaction() as db:
        rows = await db.execute(select(UserMessage).where(UserMessage.resource_uuid == volume_id))
        return list(rows.scalars())


def staging_files(rt: app_module.Runtime) -> list[str]:
    staging = rt.images.staging_dir
    return sorted(p.name for p in staging.iterdir())


@pytest.fixture
def random_mib():  # type: ignore[no-untyped-def]
    def make(n: int = 1) -> bytes:
        return os.urandom(n * MIB)

    return make
