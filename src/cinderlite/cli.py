"""Command line: serve | worker | db-upgrade | bootstrap | identity management."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cinderlite import cli_identity, cli_metadefs
from cinderlite.config import Settings, load_settings
from cinderlite.storage.private import private_dir

if TYPE_CHECKING:
    from cinderlite.services.identity import IdentityService

log = logging.getLogger("cinderlite")


def _openrc(settings: Settings, *, user: str, project: str, password: str) -> str:
    lines = {
        "OS_AUTH_URL": f"{settings.identity_url()}/v3",
        "OS_IDENTITY_API_VERSION": "3",
        "OS_AUTH_TYPE": "password",
        "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": project,
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": settings.region,
        "OS_INTERFACE": "public",
        "OS_IMAGE_API_VERSION": "2",
    }
    body = "".join(f"export {k}='{v}'\n" for k, v in lines.items())
    return f"# cinderlite credentials for {user}/{project}; source this file.\n{body}"


def write_openrc(settings: Settings, name: str, content: str) -> Path:
    path = settings.data_dir / f"openrc-{name}"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content)
    os.replace(tmp, path)
    return path


async def bootstrap_and_write_openrc(settings: Settings, identity: IdentityService) -> None:
    """Create admin/demo when none exist and write data/openrc-admin and openrc-demo."""
    result = await identity.bootstrap(
        admin_password=settings.admin_password, demo_password=settings.demo_password
    )
    if result.created:
        for name, password in (("admin", result.admin_password), ("demo", result.demo_password)):
            path = write_openrc(settings, name, _openrc(settings, user=name, project=name,
                                                        password=password))
            log.info("wrote %s", path)
    else:
        for name in ("admin", "demo"):
            path = settings.data_dir / f"openrc-{name}"
            if not path.exists():
                log.warning(
                    "%s is missing and user %r already exists; set a new password with "
                    "'cinderlite user-password %s' to write it again", path, name, name
                )


def _check_qemu_img() -> None:
    if shutil.which("qemu-img") is None:
        log.warning("qemu-img is not installed (Debian package qemu-utils): uploads in "
                    "formats other than raw and image inspection will fail")


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    """`serve --role all|api|worker [--processes N]` (see app.serve)."""
    from cinderlite import app

    role: str = getattr(args, "role", "all")
    processes: int = getattr(args, "processes", 1)
    if role != "api" and processes != 1:
        print("cinderlite serve: --processes needs --role api (workers scale with "
              "upload_workers and more worker processes)", file=sys.stderr)
        return 2
    _check_qemu_img()

    async def ready(rt: app.Runtime) -> None:
        # Joined to a cloud, the users are that cloud's Keystone's (docs/cloud.md).
        if not settings.joined:
            await bootstrap_and_write_openrc(settings, rt.services.identity)

    # Workers create no users: the API that clients log in to does.
    on_ready = None if role == "worker" else ready
    if processes > 1:
        return app.serve_api_processes(settings, processes, on_ready=on_ready)
    asyncio.run(app.serve(settings, on_ready=on_ready, role=role))
    return 0


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from cinderlite.db import migrate

    private_dir(settings.data_dir)
    asyncio.run(migrate.upgrade(settings.resolved_database_url))
    print("database is at the latest revision")
    return 0


def cmd_bootstrap(settings: Settings, _args: argparse.Namespace) -> int:
    from cinderlite import app

    async def run() -> None:
        async with app.open_runtime(settings) as rt:
            await bootstrap_and_write_openrc(settings, rt.services.identity)

    asyncio.run(run())
    return 0


def cmd_worker(settings: Settings, _args: argparse.Namespace) -> int:
    """`serve --role worker`: the job runner only, against a shared database."""
    return cmd_serve(settings, argparse.Namespace(role="worker", processes=1))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cinderlite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the identity, volume and image APIs and run jobs")
    serve.add_argument(
        "--role", choices=("all", "api", "worker"), default="all",
        help="all: the APIs and the job workers in one process (default); api: the APIs "
             "only; worker: the job workers only (no HTTP)",
    )
    serve.add_argument(
        "--processes", type=_positive, default=1, metavar="N",
        help="with --role api: N server processes sharing the ports (default 1)",
    )
    sub.add_parser("worker", help="run the job workers only (serve --role worker)")
    sub.add_parser("db-upgrade", help="apply database migrations")
    sub.add_parser("bootstrap", help="create the admin and demo users and openrc files")
    cli_identity.add_commands(sub)
    cli_metadefs.add_commands(sub)
    return parser


COMMANDS = {
    "serve": cmd_serve,
    "worker": cmd_worker,
    "db-upgrade": cmd_db_upgrade,
    "bootstrap": cmd_bootstrap,
}


def main(argv: list[str] | None = None) -> int:
    # Nothing the service or its qemu-img children write is for other users
    # (storage/private.py makes the same modes explicit where files are made).
    os.umask(0o077)
    args = build_parser().parse_args(argv)
    settings = load_settings()
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    if handler is None:
        return 2
    return int(handler(settings, args) or 0)
