"""The Tempest conformance gate: OpenStack's own API tests against a served cinderlite.

    python -m tests.tempest.gate [--tempest DIR] [--concurrency N] [--workdir DIR]

1. starts `cinderlite serve` on free ports with a temporary data directory and
   two image stores, `cheap` (weight 50) and `fast` (the default), so that
   Tempest's multi-store tests (import to stores, copy-image, delete from a
   store, store weights) run;
2. provisions, through the identity and image APIs, what Tempest's
   pre-provisioned credentials need: projects with one `member` and two
   `reader` users each, alternate projects with the same, three admins, and
   two small real images (qcow2 made by qemu-img) for `image_ref`, and a
   metadata definitions namespace associated with two resource types (the
   metadefs tests take the first listed resource type, which devstack gets by
   loading Glance's definition files); a loopback HTTP server serves a third
   qcow2 as `http_image` and `http_qcow2_image` (web-download imports; the
   server allows its port);
3. renders tempest.conf.in and an accounts file, runs `tempest run` on
   tempest.api.volume and tempest.api.image minus skip.txt;
4. judges the run against expected-failures.txt: it fails when a test outside
   the list fails, or when a listed test passes (it must then leave the list).

Run through `make test-tempest`, which builds the Tempest virtualenv first.
Exit status 0 when the gate holds, 1 when it does not, 2 on a set-up error.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.webserver import WebServer, running

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TEMPLATE = HERE / "tempest.conf.in"
SKIP_LIST = HERE / "skip.txt"
EXPECTED_FAILURES = HERE / "expected-failures.txt"
TESTS = r"^tempest\.api\.(volume|image)\."
REGION = "RegionOne"
START_TIMEOUT = 90.0
# Tempest locks an account for a whole test class, and a class asks for its
# project reader in the project of the member it already holds. Accounts that
# share a project see each other's volumes, so each project has one member
# (only members create) and two readers: with two workers the other class may
# hold one reader of a project it reads. More projects than two classes can
# take at once, and members first in the file, so that the primary and
# alternate accounts (any free non-admin account, in file order) are members.
# (With one reader per project the set-up failed one run in three with
# "Insufficient number of users provided"; with two members per project two
# classes listed each other's volumes.)
PROJECTS = tuple(f"tempest-{n}" for n in range(1, 7))
ALT_PROJECTS = tuple(f"tempest-alt-{n}" for n in range(1, 4))
READERS_PER_PROJECT = 2
ADMIN_PROJECT = "admin"
# Test ids carry their attributes: `...test_x[id-...,smoke]`.
_ATTRS = re.compile(r"\[[^\]]*\]$")


class GateError(Exception):
    """The gate could not be set up (not a verdict on the tests)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    identity: str
    volume: str
    image: str
    admin_password: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def served(workdir: Path, web_port: int) -> Iterator[Server]:
    """`cinderlite serve` on free ports, stopped (SIGTERM, then SIGKILL) on exit;
    web-download may fetch from 127.0.0.1:`web_port`."""
    ports = {name: free_port() for name in ("identity", "volume", "image")}
    admin_password = "tempest-admin-" + os.urandom(6).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDERLITE_"))}
    env.update({
        "CINDERLITE_DATA_DIR": str(workdir / "data"),
        "CINDERLITE_IDENTITY_PORT": str(ports["identity"]),
        "CINDERLITE_VOLUME_PORT": str(ports["volume"]),
        "CINDERLITE_IMAGE_PORT": str(ports["image"]),
        "CINDERLITE_ADMIN_PASSWORD": admin_password,
        "CINDERLITE_REGION": REGION,
        "CINDERLITE_IMPORT_ALLOWED_HOSTS": "127.0.0.1",
        "CINDERLITE_IMPORT_ALLOWED_PORTS": str(web_port),
        # Named in alphabetical order, the heavier first: Tempest's store waiter
        # compares an image's `stores` with the sorted store ids.
        "CINDERLITE_IMAGE_STORES": (
            f"cheap:{workdir / 'stores' / 'cheap'},fast:{workdir / 'stores' / 'fast'}"
        ),
        "CINDERLITE_DEFAULT_IMAGE_STORE": "fast",
        "CINDERLITE_IMAGE_STORE_WEIGHTS": "cheap:50",
        # An image cache ([image] image_caching_enabled): every download Tempest
        # makes goes through it, and its caching tests run.
        "CINDERLITE_IMAGE_CACHE_DIR": str(workdir / "image-cache"),
    })
    log = workdir / "cinderlite.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cinderlite", "serve"], cwd=workdir, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Server(
        identity=f"http://127.0.0.1:{ports['identity']}",
        volume=f"http://127.0.0.1:{ports['volume']}",
        image=f"http://127.0.0.1:{ports['image']}",
        admin_password=admin_password, process=process, log=log,
    )
    try:
        _wait_until_up(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise GateError(f"cinderlite exited ({server.process.returncode}); "
                            f"see {server.log}")
        try:
            if all(httpx.get(url + "/", timeout=2).status_code in (200, 300)
                   for url in (server.identity, server.volume, server.image)):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise GateError(f"cinderlite did not answer within {START_TIMEOUT:.0f} s; see {server.log}")


@dataclass
class Account:
    username: str
    password: str
    project_name: str
    roles: list[str]
    types: list[str] = field(default_factory=list)

    def yaml(self) -> str:
        lines = [
            f"- username: '{self.username}'",
            f"  password: '{self.password}'",
            f"  project_name: '{self.project_name}'",
            "  user_domain_name: 'Default'",
            "  project_domain_name: 'Default'",
            f"  roles: [{', '.join(repr(r) for r in self.roles)}]",
        ]
        if self.types:
            lines.append(f"  types: [{', '.join(repr(t) for t in self.types)}]")
        return "\n".join(lines)


class Keystone:
    """Just enough of the identity API to provision accounts, as an admin."""

    def __init__(self, url: str, admin_password: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": admin_password}}},
            "scope": {"project": {"name": ADMIN_PROJECT, "domain": {"id": "default"}}},
        }}
        resp = self.client.post("/v3/auth/tokens", json=body)
        _expect(resp, 201, "admin login")
        self.token = resp.headers["X-Subject-Token"]
        self.client.headers["X-Auth-Token"] = self.token
        roles = self.client.get("/v3/roles")
        _expect(roles, 200, "list roles")
        self.roles = {r["name"]: r["id"] for r in roles.json()["roles"]}

    def project(self, name: str) -> str:
        found = self.client.get("/v3/projects", params={"name": name})
        _expect(found, 200, "find project")
        if found.json()["projects"]:
            return str(found.json()["projects"][0]["id"])
        resp = self.client.post("/v3/projects", json={"project": {
            "name": name, "domain_id": "default", "description": "Tempest"}})
        _expect(resp, 201, f"create project {name}")
        return str(resp.json()["project"]["id"])

    def user(self, name: str, password: str, project_id: str, roles: list[str]) -> None:
        resp = self.client.post("/v3/users", json={"user": {
            "name": name, "password": password, "domain_id": "default",
            "default_project_id": project_id}})
        _expect(resp, 201, f"create user {name}")
        self.grant(resp.json()["user"]["id"], project_id, roles)

    def grant(self, user_id: str, project_id: str, roles: list[str]) -> None:
        for role in roles:
            resp = self.client.put(
                f"/v3/projects/{project_id}/users/{user_id}/roles/{self.roles[role]}")
            _expect(resp, 204, f"grant {role}")


def _expect(resp: httpx.Response, status: int, what: str) -> None:
    if resp.status_code != status:
        raise GateError(f"{what}: {resp.status_code} {resp.text[:300]}")


def provision(server: Server, workdir: Path) -> tuple[list[Account], str, str]:
    """The accounts (made through the identity API) and two image ids."""
    ks = Keystone(server.identity, server.admin_password)
    accounts: list[Account] = []

    def add(name: str, project: str, roles: list[str], types: list[str] | None = None) -> None:
        password = "tempest-" + os.urandom(6).hex()
        ks.user(name, password, ks.project(project), roles)
        accounts.append(Account(name, password, project, roles, types or []))

    groups = (("tempest", PROJECTS), ("tempest-alt", ALT_PROJECTS))
    for prefix, projects in groups:
        for n, project in enumerate(projects, 1):
            add(f"{prefix}-member-{n}", project, ["member"])
    for prefix, projects in groups:
        for n, project in enumerate(projects, 1):
            for k in range(1, READERS_PER_PROJECT + 1):
                add(f"{prefix}-reader-{n}-{k}", project, ["reader"])
    for n in (1, 2, 3):
        add(f"tempest-admin-{n}", ADMIN_PROJECT, ["admin"], ["admin"])

    images = [upload_image(server, ks.token, workdir, name) for name in ("tempest-a", "tempest-b")]
    load_definitions(server, ks.token)
    return accounts, images[0], images[1]


def load_definitions(server: Server, token: str) -> None:
    """What an operator loads before users browse metadata definitions: here one
    namespace of our own, whose associations make the resource types exist."""
    with httpx.Client(base_url=server.image, timeout=30,
                      headers={"X-Auth-Token": token, "Accept": "application/json"}) as c:
        resp = c.post("/v2/metadefs/namespaces", json={
            "namespace": "CinderLite::Gate", "display_name": "Tempest gate",
            "visibility": "public", "protected": True,
            "resource_type_associations": [{"name": "OS::Glance::Image"},
                                           {"name": "OS::Cinder::Volume"}],
        })
        _expect(resp, 201, "create the metadefs namespace")


def upload_image(server: Server, token: str, workdir: Path, name: str) -> str:
    """A public 1 MiB qcow2 made by qemu-img, uploaded through the image API."""
    path = workdir / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    with httpx.Client(base_url=server.image, timeout=60,
                      headers={"X-Auth-Token": token, "Accept": "application/json"}) as c:
        resp = c.post("/v2/images", json={
            "name": name, "disk_format": "qcow2", "container_format": "bare",
            "visibility": "public"})
        _expect(resp, 201, f"create image {name}")
        image_id = str(resp.json()["id"])
        resp = c.put(f"/v2/images/{image_id}/file", content=path.read_bytes(),
                     headers={"Content-Type": "application/octet-stream"})
        _expect(resp, 204, f"upload image {name}")
    return image_id


def web_image(web: WebServer, workdir: Path) -> str:
    """The URL of a 1 MiB qcow2 on the loopback server (Tempest's http_image)."""
    path = workdir / "web.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "1M"], check=True)
    return web.serve("/web.qcow2", path.read_bytes())


def render(workdir: Path, server: Server, accounts: list[Account], images: tuple[str, str],
           http_image: str) -> Path:
    accounts_file = workdir / "accounts.yaml"
    accounts_file.write_text("\n".join(a.yaml() for a in accounts) + "\n")
    conf = workdir / "etc" / "tempest.conf"
    conf.parent.mkdir(exist_ok=True)
    conf.write_text(string.Template(TEMPLATE.read_text()).substitute(
        log_file=str(workdir / "tempest.log"),
        lock_path=str(workdir / "locks"),
        accounts_file=str(accounts_file),
        identity_uri=f"{server.identity}/v3",
        region=REGION,
        image_ref=images[0],
        image_ref_alt=images[1],
        http_image=http_image,
    ))
    return conf


def run_tempest(tempest_bin: Path, workdir: Path, conf: Path, concurrency: int) -> int:
    argv = [
        str(tempest_bin / "tempest"), "run", "--config-file", str(conf),
        "--regex", TESTS, "--exclude-list", str(SKIP_LIST),
        "--concurrency", str(concurrency),
    ]
    print("+", " ".join(argv), flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost"
    with (workdir / "tempest-run.out").open("w") as out:
        return subprocess.run(argv, cwd=workdir, env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False).returncode


def results(tempest_bin: Path, workdir: Path) -> dict[str, str]:
    """{test id without attributes: status} of the last run ('success', 'failure',
    'skip', ...: subunit's words)."""
    subunit = subprocess.run([str(tempest_bin / "stestr"), "last", "--subunit"], cwd=workdir,
                             capture_output=True, check=False).stdout
    # subunit2csv exits 1 when the stream holds a failure, as a test runner would.
    table = subprocess.run([str(tempest_bin / "subunit2csv")], input=subunit,
                           capture_output=True, check=False).stdout.decode()
    found: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(table)):
        test = _ATTRS.sub("", row["test"])
        if test.startswith("setUpClass (") or test.startswith("tearDownClass ("):
            # A class whose set-up failed: every test of it counts as failed.
            test = test[test.index("(") + 1:-1]
        found[test] = row["status"]
    return found


def read_list(path: Path) -> dict[str, str]:
    """`test id  # reason` lines; blank lines and whole-line comments are ignored."""
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text, _, reason = line.partition("#")
        if text.strip():
            entries[text.strip()] = reason.strip()
    return entries


@dataclass
class Verdict:
    passed: list[str]
    skipped: list[str]
    expected: list[str]
    unexpected_failures: list[str]
    unexpected_passes: list[str]
    stale: list[str]

    @property
    def holds(self) -> bool:
        return not self.unexpected_failures and not self.unexpected_passes


def judge(found: dict[str, str], expected: dict[str, str]) -> Verdict:
    def failed(status: str) -> bool:
        return status in ("failure", "fail", "error", "uxsuccess", "unexpectedsuccess")

    def is_expected(test: str) -> bool:
        # A listed class covers its tests (a failed setUpClass is reported per class).
        return test in expected or any(test.startswith(e + ".") for e in expected)

    passed = sorted(t for t, s in found.items() if s in ("success", "xfail", "expectedfailure"))
    skipped = sorted(t for t, s in found.items() if s == "skip")
    failures = sorted(t for t, s in found.items() if failed(s))
    return Verdict(
        passed=passed,
        skipped=skipped,
        expected=[t for t in failures if is_expected(t)],
        unexpected_failures=[t for t in failures if not is_expected(t)],
        # A passing test under a listed class counts too: the class's set-up
        # works now, so the list must name its failing tests one by one.
        unexpected_passes=[t for t in passed if is_expected(t)],
        stale=sorted(e for e in expected if not any(
            t == e or t.startswith(e + ".") for t in found)),
    )


def report(verdict: Verdict, expected: dict[str, str], seconds: float) -> None:
    print(f"\ntempest: {len(verdict.passed)} passed, {len(verdict.expected)} failed as "
          f"expected, {len(verdict.skipped)} skipped, in {seconds:.0f} s")
    if verdict.unexpected_failures:
        print("\nFAILED, and not in tests/tempest/expected-failures.txt:")
        for t in verdict.unexpected_failures:
            print(f"  {t}")
    if verdict.unexpected_passes:
        print("\nPASSED, but listed in tests/tempest/expected-failures.txt "
              "(remove these lines):")
        for t in verdict.unexpected_passes:
            print(f"  {t}")
    if verdict.stale:
        print("\nnote: listed as expected failures but not run (renamed, or now skipped):")
        for t in verdict.stale:
            print(f"  {t}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tempest", type=Path, default=ROOT / ".venv-tempest" / "bin",
                        help="bin directory of the virtualenv that holds Tempest")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep the run here (default: a temporary directory, removed "
                             "when the gate holds)")
    args = parser.parse_args(argv)
    args.tempest = args.tempest.absolute()  # tempest runs from the work directory
    if not (args.tempest / "tempest").exists():
        print(f"no tempest in {args.tempest}: run `make test-tempest`", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cinderlite-tempest-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        with running() as web, served(workdir, web.port) as server:
            accounts, image_a, image_b = provision(server, workdir)
            conf = render(workdir, server, accounts, (image_a, image_b),
                          web_image(web, workdir))
            rc = run_tempest(args.tempest, workdir, conf, args.concurrency)
        found = results(args.tempest, workdir)
    except (GateError, subprocess.CalledProcessError, httpx.HTTPError, OSError) as exc:
        print(f"tempest gate: set-up failed: {exc} (files in {workdir})", file=sys.stderr)
        return 2
    if not found:
        print(f"tempest gate: no results (tempest exited {rc}); see "
              f"{workdir / 'tempest-run.out'}", file=sys.stderr)
        return 2
    expected = read_list(EXPECTED_FAILURES)
    verdict = judge(found, expected)
    report(verdict, expected, time.monotonic() - started)
    if verdict.holds:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        return 0
    print(f"\nthe run is kept in {workdir} (tempest-run.out, tempest.log, cinderlite.log)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
