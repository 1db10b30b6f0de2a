"""The real `openstack` CLI (keystoneauth1 + openstacksdk) against a served cinderlite.

Starts `python -m cinderlite serve` on free ports with a fresh data directory
and database, then drives the identity commands through the unmodified client.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _openrc(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, raw = line[len("export "):].partition("=")
            env[name] = shlex.split(raw)[0]
    return env


class Server:
    def __init__(self, data_dir: Path, identity_port: int, proc: subprocess.Popen[bytes]) -> None:
        self.data_dir = data_dir
        self.identity_url = f"http://127.0.0.1:{identity_port}"
        self.proc = proc
        self.home = data_dir.parent / "home"
        self.home.mkdir(exist_ok=True)

    def openstack(self, *argv: str, as_user: dict[str, str] | None = None) -> str:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OS_", "CINDERLITE_")) and k != "HOME"}
        env.update(_openrc(self.data_dir / "openrc-admin"))
        env.update(as_user or {})
        env["HOME"] = str(self.home)
        env["PYTHONWARNINGS"] = "ignore"
        done = subprocess.run(
            [str(VENV_BIN / "openstack"), *argv], env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )
        assert done.returncode == 0, f"openstack {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def openstack_json(self, *argv: str, as_user: dict[str, str] | None = None) -> object:
        return json.loads(self.openstack(*argv, "-f", "json", as_user=as_user))

    def openstack_fails(self, *argv: str) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDERLITE_"))}
        env.update(_openrc(self.data_dir / "openrc-admin"))
        env["HOME"] = str(self.home)
        done = subprocess.run([str(VENV_BIN / "openstack"), *argv], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode != 0, done.stdout
        return done.stderr


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    data_dir = tmp_path / "data"
    ports = {name: _free_port() for name in ("IDENTITY", "VOLUME", "IMAGE")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINDERLITE_")}
    env.update({f"CINDERLITE_{name}_PORT": str(port) for name, port in ports.items()})
    env.update(CINDERLITE_DATA_DIR=str(data_dir), CINDERLITE_DATABASE_URL=database_url,
               CINDERLITE_LOG_LEVEL="WARNING")
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cinderlite", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    srv = Server(data_dir, ports["IDENTITY"], proc)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            if (data_dir / "openrc-admin").exists():
                try:
                    if httpx.get(f"{srv.identity_url}/v3", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_identity_commands_with_real_openstack_cli(server: Server) -> None:
    token = server.openstack_json("token", "issue")
    assert token["id"]
    assert token["project_id"]
    assert token["user_id"]
    assert "T" in token["expires"]

    project = server.openstack_json("project", "create", "--description", "cli test", "clip")
    assert project["name"] == "clip"
    assert project["domain_id"] == "default"
    names = {p["Name"] for p in server.openstack_json("project", "list")}
    assert names == {"admin", "demo", "clip"}
    assert server.openstack_json("project", "show", "clip")["id"] == project["id"]

    user = server.openstack_json(
        "user", "create", "--project", "clip", "--password", "clip-pw", "clipper"
    )
    assert user["default_project_id"] == project["id"]
    server.openstack("role", "add", "--user", "clipper", "--project", "clip", "reader")
    assignments = server.openstack_json(
        "role", "assignment", "list", "--user", "clipper", "--project", "clip", "--names"
    )
    assert [(a["Role"], a["User"], a["Project"]) for a in assignments] == [
        ("reader", "clipper@Default", "clip@Default")
    ]
    roles = {r["Name"] for r in server.openstack_json("role", "list")}
    assert roles >= {"admin", "member", "reader"}
    assert {u["Name"] for u in server.openstack_json("user", "list")} == {
        "admin", "demo", "clipper"}
    assert server.openstack_json("user", "show", "clipper")["id"] == user["id"]

    # The new user logs in with the real client, and an admin revokes that token.
    as_clipper = {"OS_USERNAME": "clipper", "OS_PASSWORD": "clip-pw", "OS_PROJECT_NAME": "clip"}
    clip_token = server.openstack_json("token", "issue", as_user=as_clipper)
    assert clip_token["project_id"] == project["id"]
    check = {"X-Auth-Token": token["id"], "X-Subject-Token": clip_token["id"]}
    assert httpx.get(f"{server.identity_url}/v3/auth/tokens", headers=check).status_code == 200
    server.openstack("token", "revoke", clip_token["id"])
    assert httpx.get(f"{server.identity_url}/v3/auth/tokens", headers=check).status_code == 404

    server.openstack("user", "delete", "clipper")
    server.openstack("project", "delete", "clip")
    assert "clip" in server.openstack_fails("project", "show", "clip")
