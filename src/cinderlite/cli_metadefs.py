"""`cinderlite metadefs load FILE.json...`: metadata definitions an operator
provides, loaded as namespaces (what `glance-manage db_load_metadefs` does for
Glance's files; none are shipped here).

Each file holds one namespace as `POST /v2/metadefs/namespaces` takes it: its
fields with any `resource_type_associations`, `properties`, `objects` and
`tags`. Each file is one write unit of work: a crash or a full disk while
loading leaves that namespace either whole or absent; a namespace that exists
already is left as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cinderlite import cli_identity
from cinderlite.api.image.metadef_schemas import parse_namespace
from cinderlite.config import Settings
from cinderlite.domain.errors import Conflict, ServiceError
from cinderlite.domain.identity import ADMIN_ROLE, Caller
from cinderlite.services.identity_admin import IdentityAdminService
from cinderlite.services.metadefs import MetadefService


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    status = 0
    bodies: list[tuple[str, Any]] = []
    for path in args.files:
        try:
            bodies.append((path, json.loads(Path(path).read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            status = 1

    async def work(services: Any) -> int:  # app.Services: only the wiring imports app
        identity: IdentityAdminService = services.identity_admin
        metadefs: MetadefService = services.metadefs
        project = await identity.find_by_name_or_id("project", args.project)
        operator = Caller(
            user_id="",
            user_name="cinderlite",
            project_id=project.id,
            project_name=project.name,
            roles=frozenset({ADMIN_ROLE}),
        )
        failed = status
        for path, body in bodies:
            try:
                spec = parse_namespace(body)
                namespace = await metadefs.create_namespace(operator, spec)
            except Conflict:
                print(f"skipped {path}: namespace {spec.namespace} exists")
                continue
            except ServiceError as exc:
                print(f"error: {path}: {exc.message}", file=sys.stderr)
                failed = 1
                continue
            print(f"loaded namespace {namespace.namespace} from {path}")
        return failed

    return cli_identity._run(settings, work)


def add_commands(sub: Any) -> None:
    """Register `metadefs load` on the `cinderlite` parser."""
    p = sub.add_parser("metadefs", help="image metadata definitions (load JSON files)")
    actions = p.add_subparsers(dest="metadefs_command", required=True)
    load = actions.add_parser("load", help="load namespaces from JSON files you provide")
    load.add_argument("files", nargs="+", metavar="FILE.json")
    load.add_argument(
        "--project",
        default="admin",
        help="owner project of namespaces that name none (default: admin)",
    )
    load.set_defaults(handler=cmd_load)
