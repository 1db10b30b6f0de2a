"""cinderlite joined to a real Keystone and Glance (tests/cloud/cloud.py), served once
for the session; `make test-cloud` runs these (`-m cloud`), `make test` deselects them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cloud.cloud import Cloud
from tests.e2e import support
from tests.e2e.support import VENV_BIN, Api, LiveServer, client_env, free_port, wait_until

# Where Keystone and Glance are installed (make test-cloud: .venv-cloud).
CLOUD_VENV = Path(os.environ.get("CINDERLITE_CLOUD_VENV", ".venv-cloud")).resolve()
# keystonemiddleware's token cache time, short here so that the revocation test is quick.
TOKEN_CACHE_SECONDS = 5
# The ports the built-in identity and image APIs would listen on: nothing does.
UNSERVED_PORTS: list[int] = []


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    if not (CLOUD_VENV / "bin" / "keystone-manage").exists():
        pytest.fail(f"no Keystone in {CLOUD_VENV}: run `make test-cloud` (it installs them)")
    with Cloud.running(tmp_path_factory.mktemp("cloud"), CLOUD_VENV / "bin") as c:
        yield c


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture(scope="session")
def joined(cloud: Cloud, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`cinderlite serve` joined to the cloud: its Keystone, its Glance (from the catalog)."""
    root = tmp_path_factory.mktemp("joined")
    data_dir = root / "data"
    home = root / "home"
    home.mkdir()
    workdir = root / "work"
    workdir.mkdir()
    log_path = root / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CINDERLITE_"))}
    UNSERVED_PORTS[:] = [free_port(), free_port()]
    env.update({
        "CINDERLITE_DATA_DIR": str(data_dir),
        "CINDERLITE_VOLUME_PORT": str(cloud.volume_port),
        # Not served when joined: free ports, to show nothing answers there.
        "CINDERLITE_IDENTITY_PORT": str(UNSERVED_PORTS[0]),
        "CINDERLITE_IMAGE_PORT": str(UNSERVED_PORTS[1]),
        "CINDERLITE_KEYSTONE_URL": cloud.keystone_url,
        "CINDERLITE_KEYSTONE_SERVICE_USER": cloud.service_user.user,
        "CINDERLITE_KEYSTONE_SERVICE_PASSWORD": cloud.service_user.password,
        "CINDERLITE_KEYSTONE_SERVICE_PROJECT": cloud.service_user.project,
        "CINDERLITE_KEYSTONE_TOKEN_CACHE_SECONDS": str(TOKEN_CACHE_SECONDS),
        "CINDERLITE_LOG_LEVEL": "INFO",
    })
    support.server_log = log_path
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(VENV_BIN / "python"), "-m", "cinderlite", "serve"], env=env, cwd=root,
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        def up() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"cinderlite serve exited with {proc.returncode}\n{support.log_tail(100)}"
                )
            return _answers(cloud.volume_port)

        wait_until(up, timeout=60, what="cinderlite joined to the cloud", interval=0.2)
        demo = cloud.demo.openrc(cloud.keystone_url)
        admin = cloud.admin.openrc(cloud.keystone_url)
        # Api and the helpers of tests/e2e: the identity and image URLs are the cloud's.
        yield LiveServer(
            data_dir=data_dir, identity_port=cloud.keystone_port,
            volume_port=cloud.volume_port, image_port=cloud.glance_port,
            demo_openrc=demo, admin_openrc=admin, demo_env=client_env(demo, home),
            admin_env=client_env(admin, home), log_path=log_path, workdir=workdir,
        )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if "Traceback" in log_path.read_text(errors="replace"):
            sys.stderr.write(f"\ncinderlite server log has tracebacks: {log_path}\n")


@pytest.fixture(scope="session")
def demo_api(joined: LiveServer) -> Api:
    return Api.login(joined, joined.demo_openrc)
