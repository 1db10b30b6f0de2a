"""`cinderlite` subcommands for identity management (users, projects, roles).

Each command opens the runtime, calls the identity services and prints the
result. Every change is one write unit of work (all or nothing: a crash before
commit changes nothing); names are looked up first, in read units.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from cinderlite.config import Settings
from cinderlite.domain.errors import ServiceError
from cinderlite.domain.identity import DEFAULT_DOMAIN_ID, MEMBER_ROLE

if TYPE_CHECKING:
    from cinderlite.app import Services

Work = Callable[["Services"], Awaitable[int]]


def _run(settings: Settings, work: Work) -> int:
    """Run `work(services)` with a freshly opened runtime."""
    from cinderlite import app

    async def main() -> int:
        async with app.open_runtime(settings) as rt:
            # A fresh database (no `serve` yet) still gets the default domain and roles.
            await rt.services.identity.ensure_defaults()
            status = await work(rt.services)
            # Committed: a serving process drops its cached tokens at its next request
            # (a password change, a role removed... may have revoked some).
            await rt.validator.clear()
            return status

    try:
        return asyncio.run(main())
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


def cmd_user_create(settings: Settings, args: argparse.Namespace) -> int:
    if args.role and not args.project:
        print("error: --role needs --project", file=sys.stderr)
        return 2

    async def work(services: Services) -> int:
        admin = services.identity_admin
        project = await admin.find_by_name_or_id("project", args.project) if args.project \
            else None
        roles = [await admin.find_by_name_or_id("role", r) for r in args.role or []]
        if project is not None and not roles:
            roles = [await admin.find_by_name_or_id("role", MEMBER_ROLE)]
        user = await admin.create_user(
            name=args.name, domain_id=DEFAULT_DOMAIN_ID, password=args.password,
            default_project_id=project.id if project else None, roles=[r.id for r in roles],
        )
        names = ",".join(r.name for r in roles)
        where = f" with roles {names} on project {project.name}" if project else ""
        print(f"created user {user.name} ({user.id}){where}")
        return 0

    return _run(settings, work)


def cmd_project_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        project = await services.identity_admin.create_project(
            name=args.name, domain_id=DEFAULT_DOMAIN_ID, description=args.description
        )
        print(f"created project {project.name} ({project.id})")
        return 0

    return _run(settings, work)


def cmd_role_add(settings: Settings, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        admin = services.identity_admin
        user = await admin.find_by_name_or_id("user", args.user)
        project = await admin.find_by_name_or_id("project", args.project)
        role = await admin.find_by_name_or_id("role", args.role)
        await admin.grant_role(project_id=project.id, user_id=user.id, role_id=role.id)
        print(f"granted role {role.name} to user {user.name} on project {project.name}")
        return 0

    return _run(settings, work)


def cmd_user_password(settings: Settings, args: argparse.Namespace) -> int:
    """Set a password (generated when not given); the user's tokens are revoked.

    For admin and demo the openrc file is rewritten after the commit; if that
    write fails, the password printed here is still the valid one.
    """
    from cinderlite import cli
    from cinderlite.services.identity import new_secret

    password = args.password or new_secret(12)

    async def work(services: Services) -> int:
        admin = services.identity_admin
        user = await admin.find_by_name_or_id("user", args.name)
        await admin.update_user(user.id, {"password": password})
        return 0

    status = _run(settings, work)
    if status:
        return status
    if args.name in ("admin", "demo"):
        path = cli.write_openrc(
            settings, args.name,
            cli._openrc(settings, user=args.name, project=args.name, password=password),
        )
        print(f"wrote {path}")
    if args.password:
        print(f"password of {args.name} changed")
    else:
        print(f"new password of {args.name}: {password}")
    return 0


def _table(rows: Sequence[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def cmd_user_list(settings: Settings, _args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        admin = services.identity_admin
        held: dict[str, list[str]] = {}
        for a in await admin.list_assignments():
            held.setdefault(a.user.id, []).append(
                f"{a.role.name}@{a.project.name if a.project else 'system'}"
            )
        rows = [(user.id, user.name, "yes" if user.enabled else "no",
                 ",".join(held.get(user.id, []))) for user in await admin.list_users()]
        _table(rows, ("ID", "NAME", "ENABLED", "ROLES"))
        return 0

    return _run(settings, work)


def cmd_project_list(settings: Settings, _args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        rows = [(p.id, p.name, "yes" if p.enabled else "no", p.description)
                for p in await services.identity_admin.list_projects()]
        _table(rows, ("ID", "NAME", "ENABLED", "DESCRIPTION"))
        return 0

    return _run(settings, work)


def add_commands(sub: Any) -> None:
    """Register identity subcommands on the `cinderlite` parser; each sets `handler`."""
    p = sub.add_parser("user-create", help="create a user (with roles on a project)")
    p.add_argument("name")
    p.add_argument("--password", required=True)
    p.add_argument("--project", help="default project; roles are granted on it")
    p.add_argument("--role", action="append",
                   help="role to grant on --project (repeatable; default: member)")
    p.set_defaults(handler=cmd_user_create)

    p = sub.add_parser("project-create", help="create a project in the default domain")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(handler=cmd_project_create)

    p = sub.add_parser("role-add", help="grant a role to a user on a project")
    p.add_argument("--user", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("role")
    p.set_defaults(handler=cmd_role_add)

    p = sub.add_parser("user-password", help="set (or generate) a user's password")
    p.add_argument("name")
    p.add_argument("--password")
    p.set_defaults(handler=cmd_user_password)

    p = sub.add_parser("user-list", help="list users and their roles")
    p.set_defaults(handler=cmd_user_list)

    p = sub.add_parser("project-list", help="list projects")
    p.set_defaults(handler=cmd_project_list)
