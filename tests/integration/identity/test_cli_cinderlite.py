"""The `cinderlite` identity subcommands, run as real processes against the test database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import httpx
import pytest

pytestmark = pytest.mark.integration


async def cinderlite(settings, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m cinderlite ...` without blocking the event loop: the test's own
    runtime (job runner) keeps running and may hold a short write transaction."""
    env = {
        **os.environ,
        "CINDERLITE_DATA_DIR": str(settings.data_dir),
        "CINDERLITE_DATABASE_URL": settings.resolved_database_url,
        "CINDERLITE_LOG_LEVEL": "WARNING",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cinderlite", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def auth(user: str, password: str, project: str) -> dict:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }


async def test_project_user_and_roles(identity_client: httpx.AsyncClient, rt, settings) -> None:
    done = await cinderlite(settings, "project-create", "ops", "--description", "operations")
    assert done.returncode == 0, done.stderr
    assert "created project ops" in done.stdout
    done = await cinderlite(
        settings,
        "user-create",
        "carol",
        "--password",
        "c-pw",
        "--project",
        "ops",
        "--role",
        "reader",
    )
    assert done.returncode == 0, done.stderr
    resp = await identity_client.post("/v3/auth/tokens", json=auth("carol", "c-pw", "ops"))
    assert resp.status_code == 201
    assert [r["name"] for r in resp.json()["token"]["roles"]] == ["reader"]

    done = await cinderlite(settings, "role-add", "--user", "carol", "--project", "demo", "member")
    assert done.returncode == 0, done.stderr
    resp = await identity_client.post("/v3/auth/tokens", json=auth("carol", "c-pw", "demo"))
    assert resp.status_code == 201

    users = await cinderlite(settings, "user-list")
    assert users.returncode == 0
    carol = next(line for line in users.stdout.splitlines() if " carol " in line)
    assert "reader@ops" in carol
    assert "member@demo" in carol
    projects = await cinderlite(settings, "project-list")
    assert {line.split()[1] for line in projects.stdout.splitlines()[1:]} == {
        "admin",
        "demo",
        "ops",
    }


async def test_errors_exit_nonzero_and_change_nothing(
    identity_client: httpx.AsyncClient, rt, settings
) -> None:
    dup = await cinderlite(settings, "project-create", "demo")
    assert dup.returncode == 1
    assert "Duplicate entry found with name demo" in dup.stderr
    bad_role = await cinderlite(
        settings,
        "user-create",
        "dave",
        "--password",
        "x",
        "--project",
        "demo",
        "--role",
        "nosuchrole",
    )
    assert bad_role.returncode == 1
    assert "Could not find role: nosuchrole." in bad_role.stderr
    assert "dave" not in (await cinderlite(settings, "user-list")).stdout
    bad_user = await cinderlite(
        settings, "role-add", "--user", "nobody", "--project", "demo", "reader"
    )
    assert bad_user.returncode == 1


async def test_user_password_rewrites_openrc(
    identity_client: httpx.AsyncClient, rt, demo, settings
) -> None:
    done = await cinderlite(settings, "user-password", "demo")
    assert done.returncode == 0, done.stderr
    new_password = done.stdout.strip().splitlines()[-1].split(": ", 1)[1]
    openrc = (settings.data_dir / "openrc-demo").read_text()
    assert f"export OS_PASSWORD='{new_password}'" in openrc
    assert "export OS_USERNAME='demo'" in openrc
    assert (settings.data_dir / "openrc-demo").stat().st_mode & 0o077 == 0
    assert (
        await identity_client.post("/v3/auth/tokens", json=auth("demo", "demo-secret", "demo"))
    ).status_code == 401
    assert (
        await identity_client.post("/v3/auth/tokens", json=auth("demo", new_password, "demo"))
    ).status_code == 201
    # The old token was revoked with the password change.
    await rt.validator.clear()
    resp = await identity_client.get("/v3/auth/projects", headers=demo.headers)
    assert resp.status_code == 401

    chosen = await cinderlite(settings, "user-password", "demo", "--password", "chosen-pw")
    assert chosen.returncode == 0
    assert "OS_PASSWORD='chosen-pw'" in (settings.data_dir / "openrc-demo").read_text()
