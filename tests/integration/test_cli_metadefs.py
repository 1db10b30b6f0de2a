"""`cinderlite metadefs load`: namespaces from JSON files an operator provides."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cinderlite import app, cli, cli_metadefs
from cinderlite.config import Settings
from cinderlite.domain.identity import ADMIN_ROLE, Caller
from cinderlite.domain.metadefs import NamespaceDetail

pytestmark = pytest.mark.integration

DEFINITION = {
    "namespace": "Operator::Disks",
    "display_name": "Disks",
    "visibility": "public",
    "protected": True,
    "resource_type_associations": [{"name": "OS::Cinder::Volume", "prefix": "disk_"}],
    "properties": {"bus": {"title": "Bus", "type": "string", "enum": ["scsi", "virtio"]}},
    "objects": [{"name": "Cache", "properties": {"mode": {"title": "Mode", "type": "string"}}}],
    "tags": [{"name": "storage"}],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test's settings, on a database with the admin project (as after `bootstrap`)."""

    async def bootstrap() -> None:
        async with app.open_runtime(settings, run_migrations=False) as rt:
            await rt.services.identity.bootstrap(
                admin_password=settings.admin_password, demo_password=settings.demo_password
            )

    asyncio.run(bootstrap())
    return settings


def _show(settings: Settings, name: str) -> NamespaceDetail:
    async def run() -> NamespaceDetail:
        async with app.open_runtime(settings) as rt:
            admin = Caller(
                user_id="",
                user_name="t",
                project_id="",
                project_name="",
                roles=frozenset({ADMIN_ROLE}),
            )
            return await rt.services.metadefs.show_namespace(admin, name)

    return asyncio.run(run())


def _load(settings: Settings, *files: Path) -> int:
    args = cli.build_parser().parse_args(["metadefs", "load", *map(str, files)])
    assert args.handler is cli_metadefs.cmd_load
    return int(args.handler(settings, args))


def test_load_makes_the_namespace_with_its_contents(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "disks.json"
    path.write_text(json.dumps(DEFINITION))
    assert _load(settings, path) == 0
    assert "loaded namespace Operator::Disks" in capsys.readouterr().out
    detail = _show(settings, "Operator::Disks")
    assert detail.namespace.protected is True
    assert detail.properties == {
        "bus": {"title": "Bus", "type": "string", "enum": ["scsi", "virtio"]}
    }
    assert [o.name for o in detail.objects] == ["Cache"]
    assert [t.name for t in detail.tags] == ["storage"]
    assert [(a.name, a.prefix) for a in detail.associations] == [("OS::Cinder::Volume", "disk_")]
    # Loading again leaves it as it is.
    assert _load(settings, path) == 0
    assert "skipped" in capsys.readouterr().out


def test_load_reports_bad_files_and_loads_the_rest(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"namespace": "Operator::Bad", "visibility": "secret"}))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"namespace": "Operator::Good"}))
    assert _load(settings, broken, invalid, tmp_path / "missing.json", good) == 1
    err = capsys.readouterr().err
    assert "broken.json" in err
    assert "missing.json" in err
    assert "'secret' is not one of ['public', 'private']" in err
    assert _show(settings, "Operator::Good").namespace.owner
