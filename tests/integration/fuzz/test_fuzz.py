"""A bounded fuzz run over every route of the three APIs: never a 5xx, never a traceback.

Hypothesis (derandomized: the same examples on every run) builds requests
from the valid ones in spec.py: path parameters from real disposable
resources or hostile strings, known and unknown query parameters with hostile
values, bodies with one field replaced, removed or added, or replaced whole
by garbage, odd microversion and Content-Type headers, missing or bad tokens.
The apps run in-process on a real database (SQLite, or PostgreSQL in the
PostgreSQL pass), on an event loop of their own in a thread, with the job
runner started so actions really run.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
import shutil
import threading
import uuid
from collections.abc import Coroutine
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cinderlite import app as app_module
from cinderlite.api.volume import routes as volume_routes
from tests.conftest import (
    PG_URL,
    Identity,
    _empty_pg_database,
    _with_database,
    login,
    make_settings,
    make_user,
)
from tests.integration.fuzz.spec import ROUTES, VOLUME_ROOTS, VOLUME_ROUTES, Route

pytestmark = pytest.mark.integration

T = TypeVar("T")
EXAMPLES_PER_ROUTE = 50

# --- hostile values -------------------------------------------------------------

SURROGATE = "\ud800"
# What no database or encoder can hold: drawn as often as everything else together.
BAD_TEXT = ["\x00", "a\x00b", SURROGATE, "x\udfffy"]
HOSTILE_TEXT = [
    "", " ", "a" * 256, "a" * 5000, "\x00", "a\x00b", SURROGATE, "x\udfffy", "ü", "😀",
    "../../etc/passwd", "%00", "%", "%zz", "null", "true", "-1", "0", "00", "1e309",
    "9" * 5000, "2147483648", "<script>", "' OR 1=1 --", "\n", "\t", "in:a,\"b", "gte:x",
    "a:b:c", "{'k': 'v'}", "{", "[]", "latest", "volume 3.0", "\\", "\u202e", "\ufeff",
]
HOSTILE_JSON: list[Any] = [
    *HOSTILE_TEXT, None, True, False, 0, -1, 1, 2**31, 2**63, 2**64, 10**100, -(10**100),
    1.5, -0.0, 1e308, [], {}, [None], {"": None}, {"a": {"b": {"c": []}}},
    [[[[[[[[[[]]]]]]]]]], {"k" * 300: "v"}, ["x"] * 300,
]
HOSTILE_IDS = [
    *HOSTILE_TEXT, str(uuid.uuid4()), "00000000-0000-0000-0000-000000000000", "detail",
    "default", "action", "a/b", "..", ".",
]
MICROVERSIONS = [
    None, "volume 3.0", "volume 3.3", "volume latest", "volume 3.999", "volume 2.0",
    "volume", "foo 3.0", "volume 3.0.1", "volume 03.1", "volume -3.0", "", "volume 3.0,x",
]
CONTENT_TYPES = [
    None, "application/json", "text/plain", "", "application/json; charset=latin-1",
    "application/octet-stream", "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch", "multipart/form-data; boundary=x",
]
RAW_BODIES = [
    b"", b"{", b"null", b"[]", b"{}", b"\xff\xfe", b"[" * 30000, b'{"a": NaN}',
    b'{"a": 1e999}', b'"\\ud800"', b"\x00" * 100, b'{"a":' * 5000, b"1" * 20000,
]


_hostile_text = st.one_of(st.sampled_from(BAD_TEXT), st.sampled_from(HOSTILE_TEXT))
_hostile_value = st.one_of(st.sampled_from(BAD_TEXT), st.sampled_from(HOSTILE_JSON))


def _encode_json(value: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a client would send them.
    return json.dumps(value, ensure_ascii=True).encode()


def _quote(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# --- the served apps on their own event loop ---------------------------------------


class Served:
    """The three apps on a real runtime, driven from synchronous (Hypothesis) tests."""

    def __init__(self, settings_: Any, pg_url: str | None) -> None:
        self.settings = settings_
        self.pg_url = pg_url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stopping: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.ids: dict[str, str] = {}
        self.who: dict[str, Identity] = {}
        self.clients: dict[str, httpx.AsyncClient] = {}
        self.thread = threading.Thread(target=self._run, daemon=True, name="fuzz-loop")
        self.thread.start()
        self.ready.wait(120)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    async def _main(self) -> None:
        self.stopping = asyncio.Event()
        if self.pg_url:
            await _empty_pg_database(self.pg_url)
        async with app_module.open_runtime(self.settings, run_migrations=False) as rt:
            await rt.services.identity.bootstrap(admin_password="a", demo_password="d")
            await app_module.recover(rt)
            await rt.jobs.start()
            self.who["admin"] = await login(rt, user="admin", project="admin")
            self.who["demo"] = await login(rt, user="demo", project="demo")
            victim = await make_user(rt, name="fz-user", project="fz-project",
                                     roles=("member",), password="fz-secret")
            self.who["victim"] = victim
            apps = {
                "identity": app_module.create_identity_app(rt),
                "volume": app_module.create_volume_app(rt),
                "image": app_module.create_image_app(rt),
            }
            for name, app in apps.items():
                self.clients[name] = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://fuzz"
                )
            await self._make_resources()
            self.ready.set()
            await self.stopping.wait()
            for client in self.clients.values():
                await client.aclose()

    async def _make_resources(self) -> None:
        """Disposable resources whose ids the fuzzer may use (and delete)."""
        admin = self.who["admin"].headers
        victim = self.who["victim"]
        vol = self.clients["volume"]
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/volumes", headers=admin,
                              json={"volume": {"size": 1, "metadata": {"key": "v"}}})
        self.ids["volume_id"] = resp.json()["volume"]["id"]
        self.ids["key"] = "key"
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/snapshots", headers=admin,
                              json={"snapshot": {"volume_id": self.ids["volume_id"],
                                                 "force": True, "metadata": {"key": "v"}}})
        self.ids["snapshot_id"] = resp.json()["snapshot"]["id"]
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/backups", headers=admin,
                              json={"backup": {"volume_id": self.ids["volume_id"],
                                               "force": True}})
        self.ids["backup_id"] = resp.json()["backup"]["id"]
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/volumes", headers=admin,
                              json={"volume": {"size": 1}})
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/os-volume-transfer",
                              headers=admin,
                              json={"transfer": {"volume_id": resp.json()["volume"]["id"]}})
        self.ids["transfer_id"] = resp.json()["transfer"]["id"]
        resp = await vol.get(f"/v3/{self.who['admin'].project_id}/types/default", headers=admin)
        self.ids["type_id"] = resp.json()["volume_type"]["id"]
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/qos-specs", headers=admin,
                              json={"qos_specs": {"name": "fz-q", "key": "v"}})
        self.ids["qos_id"] = resp.json()["qos_specs"]["id"]
        v338 = {**admin, "OpenStack-API-Version": "volume 3.38"}
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/group_types", headers=v338,
                              json={"group_type": {"name": "fz-gt",
                                                   "group_specs": {"key": "v"}}})
        self.ids["group_type_id"] = resp.json()["group_type"]["id"]
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/groups", headers=v338,
                              json={"group": {"group_type": self.ids["group_type_id"],
                                              "volume_types": [self.ids["type_id"]]}})
        self.ids["group_id"] = resp.json()["group"]["id"]
        resp = await vol.post(f"/v3/{self.who['admin'].project_id}/group_snapshots",
                              headers=v338,
                              json={"group_snapshot": {"group_id": self.ids["group_id"]}})
        self.ids["group_snapshot_id"] = resp.json()["group_snapshot"]["id"]
        resp = await vol.get(f"/v3/{self.who['admin'].project_id}/os-services"
                             "?binary=cinder-volume", headers=admin)
        self.ids["backend"] = resp.json()["services"][0]["host"]
        self.ids["service_action"] = "enable"
        self.ids["extension_alias"] = "os-hosts"
        img = self.clients["image"]
        resp = await img.post("/v2/images", headers=admin, json={
            "name": "fz", "disk_format": "raw", "container_format": "bare", "tags": ["tag"]})
        self.ids["image_id"] = resp.json()["id"]
        self.ids["tag"] = "tag"
        self.ids["store_id"] = "file"
        await img.post(f"/v2/images/{self.ids['image_id']}/members", headers=admin,
                       json={"member": victim.project_id})
        self.ids["member_id"] = victim.project_id
        await img.post("/v2/metadefs/namespaces", headers=admin, json={
            "namespace": "fz-ns", "visibility": "public",
            "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "fz_"}],
            "properties": {"fz-prop": {"title": "P", "type": "string"}},
            "objects": [{"name": "fz-obj"}], "tags": [{"name": "fz-tag"}]})
        self.ids.update(md_namespace="fz-ns", md_object="fz-obj", md_property="fz-prop",
                        md_tag="fz-tag", md_resource_type="OS::Glance::Image")
        self.ids["message_id"] = str(uuid.uuid4())
        self.ids["task_id"] = str(uuid.uuid4())
        self.ids["attachment_id"] = str(uuid.uuid4())
        self.ids["domain_id"] = "default"
        self.ids["project_id"] = victim.project_id
        self.ids["class_name"] = "default"
        self.ids["user_id"] = victim.caller.user_id
        ident = self.clients["identity"]
        for key, name in (("role_id", "fz-role"), ("implied_role_id", "fz-implied")):
            resp = await ident.post("/v3/roles", headers=admin, json={"role": {"name": name}})
            self.ids[key] = resp.json()["role"]["id"]
        await ident.put(f"/v3/projects/{victim.project_id}/users/{victim.caller.user_id}"
                        f"/roles/{self.ids['role_id']}", headers=admin)
        self.ids["victim_token"] = victim.token
        resp = await ident.post("/v3/regions", headers=admin,
                                json={"region": {"id": "fz-home"}})
        self.ids["region_id"] = resp.json()["region"]["id"]
        resp = await ident.post("/v3/services", headers=admin,
                                json={"service": {"type": "fz-svc", "name": "fz"}})
        self.ids["service_id"] = resp.json()["service"]["id"]
        resp = await ident.post("/v3/endpoints", headers=admin, json={"endpoint": {
            "interface": "public", "service_id": self.ids["service_id"],
            "url": "http://fz.example/", "region_id": self.ids["region_id"]}})
        self.ids["endpoint_id"] = resp.json()["endpoint"]["id"]

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def close(self) -> None:
        if self.stopping is not None:
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(60)


class Tracebacks(logging.Handler):
    """Every record at ERROR or above, or carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, db_template: str):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("fuzz")
    if PG_URL:
        url = _with_database(PG_URL, db_template)
        pg_url: str | None = url
    else:
        shutil.copyfile(db_template, tmp / "cinderlite.db")
        url = f"sqlite+aiosqlite:///{tmp / 'cinderlite.db'}"
        pg_url = None
    # With an image cache, so that its routes (and downloads through it) are fuzzed too.
    served = Served(make_settings(Path(tmp), url, image_cache_dir=str(tmp / "image-cache")),
                    pg_url)
    yield served
    served.close()


@pytest.fixture(scope="module")
def tracebacks():  # type: ignore[no-untyped-def]
    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


# --- the route description stays true ----------------------------------------------


def _template_regex(path: str) -> str:
    return "^" + re.sub(r"\{[^}]+\}", "([^/]+)", path) + "$"


def _app_routes(app: Any) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(routes: Any) -> None:
        for r in routes:
            if hasattr(r, "methods") and hasattr(r, "path"):
                for method in r.methods or ():
                    found.add((method, r.path))
                continue
            inner = getattr(r, "routes", None)
            if inner is None and hasattr(r, "original_router"):
                inner = r.original_router.routes
            assert inner is not None, f"cannot read the routes of {r!r}"
            walk(inner)

    walk(app.routes)
    return found


def test_spec_covers_every_route() -> None:
    """Each served route (method and path) has an entry in spec.py, and vice versa."""
    served_volume = {(m, p.pattern) for p, m, _, _ in volume_routes.ROUTES}
    described_volume = {(r.method, _template_regex(r.path)) for r in VOLUME_ROUTES}
    assert served_volume == described_volume
    for api, make in (("identity", app_module.create_identity_app),
                      ("image", app_module.create_image_app)):
        # Only the routes are read: an app built without its API's dependencies.
        bare = SimpleNamespace(identity_api=None, image_api=None)
        served_routes = {(m, p) for m, p in _app_routes(make(bare)) if m != "HEAD"}  # type: ignore[arg-type]
        described = {(r.method, r.path) for r in ROUTES if r.api == api and r.method != "HEAD"}
        # Path parameter names may differ: compare the shapes.
        def shape(routes: set[tuple[str, str]]) -> set[tuple[str, str]]:
            return {(m, re.sub(r"\{[^}]+\}", "{}", p)) for m, p in routes}

        assert shape(served_routes) == shape(described), api


# --- building requests ----------------------------------------------------------------


@st.composite
def _mutated(draw: st.DrawFn, sample: Any) -> tuple[bytes | None, bool]:
    """A body derived from `sample`, and whether it is JSON."""
    if isinstance(sample, bytes):
        kind = draw(st.sampled_from(["same", "raw", "empty"]))
        return ({"same": sample, "raw": draw(st.sampled_from(RAW_BODIES)), "empty": b""}[kind],
                False)
    mode = draw(st.sampled_from(["same", "leaf", "drop", "extra", "whole", "raw"]))
    if mode == "raw":
        return draw(st.sampled_from(RAW_BODIES)), False
    if mode == "whole":
        return _encode_json(draw(st.sampled_from(HOSTILE_JSON))), True
    body = json.loads(json.dumps(sample))
    for _ in range(draw(st.integers(1, 3)) if mode != "same" else 0):
        containers = _containers(body)
        if not containers:
            break
        parent = draw(st.sampled_from(containers))
        keys = list(parent.keys()) if isinstance(parent, dict) else list(range(len(parent)))
        # A copy: a later round may pick the value as its parent, and must not change
        # (or nest into itself) the shared HOSTILE_JSON sample.
        if mode == "extra" and isinstance(parent, dict):
            parent[draw(_hostile_text)] = copy.deepcopy(draw(_hostile_value))
        elif keys and mode == "drop":
            del parent[draw(st.sampled_from(keys))]
        elif keys:
            parent[draw(st.sampled_from(keys))] = copy.deepcopy(draw(_hostile_value))
    return _encode_json(body), True


def _containers(value: Any) -> list[Any]:
    found: list[Any] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            found.append(item)
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


@st.composite
def requests(
    draw: st.DrawFn, route: Route, ids: dict[str, str], who: dict[str, Identity]
) -> dict[str, Any]:
    """One request derived from `route`: one part of it (body, query, path, headers or
    credentials) hostile, the rest valid, so the hostile part reaches deep code."""
    target = draw(st.sampled_from(["body", "body", "body", "query", "path", "headers", "auth"]))
    caller = draw(st.sampled_from(["admin", "admin", "admin", "demo"]))
    if target == "auth":
        caller = draw(st.sampled_from(["demo", "none", "bogus"]))
    headers: dict[str, str] = {}
    if caller in who:
        headers["X-Auth-Token"] = who[caller].token
    elif caller == "bogus":
        headers["X-Auth-Token"] = draw(st.sampled_from(["x", "-", "a" * 500, "gAAAA"]))
    for name, value in route.headers.items():
        headers[name] = value.format(**ids)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in ids and (target != "path" or draw(st.booleans())):
            return _quote(ids[name])
        return _quote(draw(st.one_of(st.sampled_from(BAD_TEXT), st.sampled_from(HOSTILE_IDS))))

    path = re.sub(r"\{([^}]+)\}", fill, route.path)
    if route.api == "volume" and route not in VOLUME_ROOTS:
        own = who[caller].project_id if caller in who else who["admin"].project_id
        project = draw(st.sampled_from([own, own, ""]))
        if target == "path" and draw(st.booleans()):
            project = draw(st.sampled_from([who["demo"].project_id, "not-hex", *BAD_TEXT]))
        api = draw(st.sampled_from(["v3", "v3", "v2"]))
        path = f"/{api}/{_quote(project)}{path}" if project else f"/{api}{path}"
        version = draw(st.sampled_from([None, "volume 3.0", "volume 3.3", "volume latest"]))
        if target == "headers":
            version = draw(st.sampled_from(MICROVERSIONS))
        if version is not None:
            headers["OpenStack-API-Version"] = version
    query = ""
    if target == "query":
        names = [*route.query, "bogus_key", *BAD_TEXT]
        pairs = draw(st.lists(st.tuples(st.sampled_from(names), _hostile_text),
                              min_size=1, max_size=3))
        query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs)
    content: bytes | None = None
    if route.body is not None:
        content = (draw(_mutated(route.body))[0] if target == "body"
                   else route.body if isinstance(route.body, bytes)
                   else _encode_json(route.body))
    content_type: str | None = route.content_type
    if target == "headers":
        content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content is not None and content_type:
        headers["Content-Type"] = content_type
    return {"method": route.method, "url": f"{path}?{query}" if query else path,
            "headers": headers, "content": content}


def _route_id(route: Route) -> str:
    first = next(iter(route.body), "") if isinstance(route.body, dict) else ""
    return f"{route.api}-{route.method}-{route.path}{'-' + first if first else ''}"


@pytest.mark.parametrize("route", ROUTES, ids=_route_id)
def test_no_request_gets_a_5xx_or_a_traceback(
    route: Route, served: Served, tracebacks: Tracebacks
) -> None:
    client = served.clients[route.api]
    strategy = requests(route, served.ids, served.who)

    @settings(max_examples=EXAMPLES_PER_ROUTE, derandomize=True, deadline=None,
              database=None, suppress_health_check=list(HealthCheck))
    @given(req=strategy)
    def check(req: dict[str, Any]) -> None:
        tracebacks.records.clear()
        resp = served.call(client.request(**req))
        shown = repr(req)[:1500]
        assert resp.status_code < 500, f"{shown}\n-> {resp.status_code} {resp.text[:500]}"
        assert not tracebacks.records, (
            f"{shown}\n-> {resp.status_code}; logged: "
            + "; ".join(r.getMessage() for r in tracebacks.records)
        )

    check()



