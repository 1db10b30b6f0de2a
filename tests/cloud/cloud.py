"""A real OpenStack cloud on loopback: Keystone and Glance from PyPI (make test-cloud).

`Cloud.start` writes their configuration into a temporary directory, runs them
under uwsgi on free ports with SQLite, bootstraps Keystone, and registers what a
deployment registers (docs/cloud.md): a `service` project, a `glance` and a
`cinderlite` service user (roles admin and service there), the image and
block-storage services with their endpoints, and a `demo` project with a member
user. Keystone and Glance run from their own virtualenv (CINDERLITE_CLOUD_VENV,
`.venv-cloud`), the clients and cinderlite from the test's.
"""

from __future__ import annotations

import contextlib
import getpass
import grp
import os
import secrets
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.support import free_port

START_TIMEOUT = 120.0
REGION = "RegionOne"


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


@dataclass
class Account:
    user: str
    password: str
    project: str

    def openrc(self, keystone_url: str) -> dict[str, str]:
        return {
            "OS_AUTH_URL": f"{keystone_url}/v3",
            "OS_AUTH_TYPE": "password",
            "OS_USERNAME": self.user,
            "OS_PASSWORD": self.password,
            "OS_PROJECT_NAME": self.project,
            "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default",
            "OS_REGION_NAME": REGION,
            "OS_IDENTITY_API_VERSION": "3",
            "OS_INTERFACE": "public",
        }


@dataclass
class Cloud:
    root: Path
    venv_bin: Path
    keystone_port: int
    glance_port: int
    volume_port: int
    admin: Account
    demo: Account
    glance_user: Account
    service_user: Account
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def keystone_url(self) -> str:
        return f"http://127.0.0.1:{self.keystone_port}"

    @property
    def glance_url(self) -> str:
        return f"http://127.0.0.1:{self.glance_port}"

    @property
    def volume_url(self) -> str:
        return f"http://127.0.0.1:{self.volume_port}"

    # --- start ------------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path, venv_bin: Path) -> Iterator[Cloud]:
        keystone_port, glance_port, volume_port = _free_ports(3)
        cloud = cls(
            root=root, venv_bin=venv_bin, keystone_port=keystone_port,
            glance_port=glance_port, volume_port=volume_port,
            admin=Account("admin", secrets.token_hex(8), "admin"),
            demo=Account("demo", secrets.token_hex(8), "demo"),
            glance_user=Account("glance", secrets.token_hex(8), "service"),
            service_user=Account("cinderlite", secrets.token_hex(8), "service"),
        )
        try:
            cloud._start_keystone()
            cloud._register()
            cloud._start_glance()
            yield cloud
        finally:
            cloud.stop()

    def _run(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        proc = subprocess.run(
            argv, env={**os.environ, **(env or {})}, capture_output=True, text=True,
            timeout=300, check=False, stdin=subprocess.DEVNULL,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )

    def _uwsgi(self, name: str, port: int, module: str, env: dict[str, str],
               extra: list[str]) -> None:
        log = self.root / f"{name}.log"
        argv = [
            str(self.venv_bin / "uwsgi"), "--http-socket", f"127.0.0.1:{port}",
            "--module", module, "--virtualenv", str(self.venv_bin.parent),
            "--master", "--processes", "1", "--threads", "4", "--enable-threads",
            "--die-on-term", "--lazy-apps", "--buffer-size", "65535",
            # uwsgi's http-socket does not keep connections alive: say so, or a client
            # that reuses its connection meets a reset (devstack's setting).
            "--add-header", "Connection: close",
            "--logto", str(log), *extra,
        ]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        self.procs.append(subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        ))

    def _wait(self, url: str, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise AssertionError(f"{what} exited {proc.returncode}:\n{self.logs()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5, trust_env=False).status_code < 500:
                    return
            time.sleep(0.5)
        raise AssertionError(f"{what} did not answer on {url}:\n{self.logs()}")

    def logs(self, lines: int = 40) -> str:
        out = []
        for log in sorted(self.root.glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name} ---\n" + "\n".join(text))
        return "\n".join(out)

    def _start_keystone(self) -> None:
        conf = self.root / "keystone.conf"
        keys = {name: self.root / name for name in ("fernet-keys", "receipt-keys", "cred-keys")}
        conf.write_text(textwrap.dedent(f"""\
            [DEFAULT]
            log_file = {self.root / 'keystone-app.log'}
            [database]
            connection = sqlite:///{self.root / 'keystone.db'}
            [token]
            provider = fernet
            expiration = 3600
            [fernet_tokens]
            key_repository = {keys['fernet-keys']}
            [fernet_receipts]
            key_repository = {keys['receipt-keys']}
            [credential]
            key_repository = {keys['cred-keys']}
            [cache]
            # One process: its in-memory cache is invalidated by revocations like any.
            enabled = true
            backend = dogpile.cache.memory
            """))
        manage = [str(self.venv_bin / "keystone-manage"), "--config-file", str(conf)]
        owner = ["--keystone-user", getpass.getuser(),
                 "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
        self._run([*manage, "db_sync"])
        self._run([*manage, "fernet_setup", *owner])
        self._run([*manage, "credential_setup", *owner])
        url = f"{self.keystone_url}/v3"
        self._run([
            *manage, "bootstrap", "--bootstrap-password", self.admin.password,
            "--bootstrap-username", "admin", "--bootstrap-project-name", "admin",
            "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
            "--bootstrap-region-id", REGION, "--bootstrap-admin-url", url,
            "--bootstrap-internal-url", url, "--bootstrap-public-url", url,
        ])
        self._uwsgi("keystone", self.keystone_port, "keystone.wsgi.api:application",
                    {"OS_KEYSTONE_CONFIG_FILES": str(conf)}, [])
        self._wait(f"{self.keystone_url}/v3", "keystone")

    # --- registration, through Keystone's API as the admin --------------------

    def token(self, account: Account) -> str:
        resp = httpx.post(f"{self.keystone_url}/v3/auth/tokens", trust_env=False, timeout=30, json={
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": account.user, "domain": {"id": "default"},
                    "password": account.password,
                }}},
                "scope": {"project": {"name": account.project, "domain": {"id": "default"}}},
            }
        })
        assert resp.status_code == 201, resp.text
        return resp.headers["X-Subject-Token"]

    def _post(self, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = httpx.post(f"{self.keystone_url}/v3{path}", json=body, trust_env=False,
                          headers={"X-Auth-Token": token}, timeout=30)
        assert resp.status_code == 201, f"POST {path}: {resp.status_code} {resp.text}"
        result: dict[str, Any] = resp.json()
        return result

    def _find(self, token: str, path: str, name: str) -> str | None:
        resp = httpx.get(f"{self.keystone_url}/v3{path}", params={"name": name},
                         headers={"X-Auth-Token": token}, trust_env=False, timeout=30)
        found = resp.json()[path.strip("/")]
        return str(found[0]["id"]) if found else None

    def _ensure(self, token: str, path: str, body: dict[str, Any]) -> str:
        """The id of the role or project named so (bootstrap makes some), made if missing."""
        key = path.strip("/").removesuffix("s")
        existing = self._find(token, path, body["name"])
        if existing is not None:
            return existing
        return str(self._post(token, path, {key: body})[key]["id"])

    def _grant(self, token: str, project: str, user: str, role: str) -> None:
        resp = httpx.put(f"{self.keystone_url}/v3/projects/{project}/users/{user}/roles/{role}",
                         headers={"X-Auth-Token": token}, trust_env=False, timeout=30)
        assert resp.status_code in (200, 204), resp.text

    def _register(self) -> None:
        token = self.token(self.admin)
        roles = {
            name: self._ensure(token, "/roles", {"name": name})
            for name in ("admin", "member", "service")
        }
        service_project = self._ensure(
            token, "/projects", {"name": "service", "domain_id": "default"})
        demo_project = self._ensure(token, "/projects", {"name": "demo", "domain_id": "default"})
        for account in (self.glance_user, self.service_user):
            user = self._post(token, "/users", {"user": {
                "name": account.user, "password": account.password, "domain_id": "default"}})
            for role in ("admin", "service"):
                self._grant(token, service_project, user["user"]["id"], roles[role])
        demo = self._post(token, "/users", {"user": {
            "name": self.demo.user, "password": self.demo.password, "domain_id": "default"}})
        self._grant(token, demo_project, demo["user"]["id"], roles["member"])
        volume = f"{self.volume_url}/v3/$(project_id)s"
        for service_type, name, url in (
            ("image", "glance", self.glance_url),
            ("block-storage", "cinder", volume),
            ("volumev3", "cinderv3", volume),
        ):
            service = self._post(token, "/services", {"service": {
                "type": service_type, "name": name}})["service"]["id"]
            for interface in ("public", "internal", "admin"):
                self._post(token, "/endpoints", {"endpoint": {
                    "service_id": service, "interface": interface, "url": url,
                    "region_id": REGION}})

    def _start_glance(self) -> None:
        conf_dir = self.root / "glance"
        conf_dir.mkdir()
        paste = self.venv_bin.parent / "etc" / "glance" / "glance-api-paste.ini"
        (conf_dir / "glance-api-paste.ini").write_text(paste.read_text())
        (conf_dir / "glance-api.conf").write_text(textwrap.dedent(f"""\
            [DEFAULT]
            log_file = {self.root / 'glance-app.log'}
            enabled_backends = fs:file
            worker_self_reference_url = {self.glance_url}
            [database]
            connection = sqlite:///{self.root / 'glance.db'}
            [glance_store]
            default_backend = fs
            [fs]
            filesystem_store_datadir = {self.root / 'glance-images'}
            [os_glance_staging_store]
            filesystem_store_datadir = {self.root / 'glance-staging'}
            [os_glance_tasks_store]
            filesystem_store_datadir = {self.root / 'glance-tasks'}
            [paste_deploy]
            flavor = keystone
            [keystone_authtoken]
            www_authenticate_uri = {self.keystone_url}
            auth_url = {self.keystone_url}
            auth_type = password
            username = {self.glance_user.user}
            password = {self.glance_user.password}
            project_name = service
            user_domain_name = Default
            project_domain_name = Default
            service_token_roles_required = true
            """))
        self._run([str(self.venv_bin / "glance-manage"), "--config-dir", str(conf_dir),
                   "db_sync"])
        self._uwsgi(
            "glance", self.glance_port, "glance.wsgi.api:application",
            {"OS_GLANCE_CONFIG_DIR": str(conf_dir)},
            ["--http-raw-body", "--http-chunked-input", "--http-auto-chunked",
             "--chunked-input-limit", str(1 << 30), "--http-timeout", "900",
             "--socket-timeout", "900"],
        )
        self._wait(f"{self.glance_url}/versions", "glance")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self.procs.clear()
