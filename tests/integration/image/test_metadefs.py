"""Glance v2 metadata definitions over HTTP: namespaces, objects, properties, tags,
resource types and their schemas, with Glance's visibility, protection, policy
(admins write, readers read) and messages."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import make_user

pytestmark = pytest.mark.integration

NS = "/v2/metadefs/namespaces"


@pytest.fixture
async def alt(rt):  # type: ignore[no-untyped-def]
    """A member of another project."""
    return await make_user(rt, name="alt", project="alt", roles=("member",))


def message(resp: httpx.Response) -> str:
    return str(resp.json()["message"])


async def create(client: httpx.AsyncClient, who: Any, name: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post(NS, json={"namespace": name, **fields}, headers=who.headers)
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def names(client: httpx.AsyncClient, who: Any, query: str = "") -> list[str]:
    resp = await client.get(f"{NS}{query}", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return [n["namespace"] for n in resp.json()["namespaces"]]


# --- schemas -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("namespace", "namespace"),
        ("namespaces", "namespaces"),
        ("object", "object"),
        ("objects", "objects"),
        ("property", "property"),
        ("properties", "properties"),
        ("tag", "tag"),
        ("tags", "tags"),
        ("resource_type", "resource_type_association"),
        ("resource_types", "resource_type_associations"),
    ],
)
async def test_schema_is_served_to_readers(image_client, reader, path, name) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get(f"/v2/schemas/metadefs/{path}", headers=reader.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == name


async def test_schemas_need_a_token(image_client) -> None:  # type: ignore[no-untyped-def]
    assert (await image_client.get("/v2/schemas/metadefs/namespace")).status_code == 401


async def test_namespace_schema_is_glances(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    body = (await image_client.get("/v2/schemas/metadefs/namespace", headers=demo.headers)).json()
    assert body["required"] == ["namespace"]
    assert body["additionalProperties"] is False
    assert body["properties"]["visibility"]["enum"] == ["public", "private"]
    assert set(body["definitions"]) == {
        "positiveInteger",
        "positiveIntegerDefault0",
        "stringArray",
        "property",
    }
    listing = (
        await image_client.get("/v2/schemas/metadefs/namespaces", headers=demo.headers)
    ).json()
    assert listing["properties"]["namespaces"]["items"]["required"] == ["namespace"]
    assert "definitions" not in listing["properties"]["namespaces"]["items"]
    assert set(listing["definitions"]) == set(body["definitions"])
    prop = (await image_client.get("/v2/schemas/metadefs/property", headers=demo.headers)).json()
    assert prop["required"] == ["type", "title", "name"]
    props = (await image_client.get("/v2/schemas/metadefs/properties", headers=demo.headers)).json()
    assert props["properties"]["properties"]["additionalProperties"]["required"] == [
        "type",
        "title",
    ]


# --- namespaces ----------------------------------------------------------------------


async def test_create_takes_glances_defaults(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(NS, json={"namespace": "CL::Plain"}, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == f"{NS}/CL::Plain"
    body = resp.json()
    assert body["visibility"] == "private"
    assert body["protected"] is False
    assert body["owner"] == admin.caller.project_id
    assert body["self"] == f"{NS}/CL::Plain"
    assert body["schema"] == "/v2/schemas/metadefs/namespace"
    assert body["created_at"].endswith("Z")
    assert "display_name" not in body
    assert "description" not in body


async def test_create_with_contents_and_show_them(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    body = await create(
        image_client,
        admin,
        "CL::Full",
        display_name="Full",
        description="all of it",
        visibility="public",
        protected=True,
        owner="someone",
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}],
        properties={"cores": {"title": "Cores", "type": "integer", "minimum": 1}},
        objects=[
            {
                "name": "CPU",
                "required": ["cores"],
                "properties": {"cores": {"title": "Cores", "type": "integer"}},
            }
        ],
        tags=[{"name": "fast"}, {"name": "small"}],
    )
    assert body["owner"] == "someone"
    assert body["resource_type_associations"] == [{"name": "OS::Glance::Image", "prefix": "hw_"}]
    assert body["tags"] == [{"name": "fast"}, {"name": "small"}]
    assert body["objects"] == [
        {
            "name": "CPU",
            "required": ["cores"],
            "properties": {"cores": {"title": "Cores", "type": "integer"}},
        }
    ]

    shown = (await image_client.get(f"{NS}/CL::Full", headers=admin.headers)).json()
    assert shown["display_name"] == "Full"
    assert shown["properties"] == {"cores": {"title": "Cores", "type": "integer", "minimum": 1}}
    assert [t["name"] for t in shown["tags"]] == ["fast", "small"]
    (assoc,) = shown["resource_type_associations"]
    assert assoc["name"] == "OS::Glance::Image"
    assert assoc["prefix"] == "hw_"
    (obj,) = shown["objects"]
    assert obj["self"] == f"{NS}/CL::Full/objects/CPU"
    assert obj["schema"] == "/v2/schemas/metadefs/object"

    prefixed = (
        await image_client.get(
            f"{NS}/CL::Full?resource_type=OS::Glance::Image", headers=admin.headers
        )
    ).json()
    assert list(prefixed["properties"]) == ["hw_cores"]
    assert prefixed["objects"][0]["required"] == ["hw_cores"]
    assert list(prefixed["objects"][0]["properties"]) == ["hw_cores"]


async def test_create_of_a_taken_name_is_409(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Twice")
    resp = await image_client.post(NS, json={"namespace": "CL::Twice"}, headers=admin.headers)
    assert resp.status_code == 409
    assert message(resp) == "The metadata definition namespace=CL::Twice already exists."


async def test_create_failing_halfway_leaves_nothing(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(
        NS,
        json={"namespace": "CL::Half", "tags": [{"name": "x"}, {"name": "x"}]},
        headers=admin.headers,
    )
    assert resp.status_code == 409
    assert message(resp).startswith(
        "A metadata tag with name=x already exists in namespace=CL::Half."
    )
    resp = await image_client.get(f"{NS}/CL::Half", headers=admin.headers)
    assert resp.status_code == 404


async def test_only_admins_create(image_client, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(NS, json={"namespace": "CL::Mine"}, headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete add_metadef_namespace action."


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        (
            {},
            400,
            "Provided object does not match schema 'namespace': 'namespace' is a required property",
        ),
        (
            {"namespace": "CL::V", "visibility": "shared"},
            400,
            "Provided object does not match schema 'namespace': 'shared' is not one of "
            "['public', 'private']",
        ),
        ({"namespace": "x" * 81}, 400, "Provided object does not match schema 'namespace': "),
        (
            {"namespace": "CL::V", "extra": 1},
            400,
            "Provided object does not match schema 'namespace': Additional properties",
        ),
        (
            {"namespace": "CL::V", "properties": {"p": {"type": "string"}}},
            400,
            "Provided object does not match schema 'namespace': 'title' is a required property",
        ),
        ({"namespace": "CL::V", "self": "/x"}, 403, "Attribute 'self' is read-only."),
        ({"namespace": "CL::V", "created_at": "now"}, 403, "Attribute 'created_at' is read-only."),
        ([], 400, "Provided object does not match schema 'namespace': "),
    ],
)
async def test_create_refuses_bad_bodies(image_client, admin, body, status, text) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(NS, json=body, headers=admin.headers)
    assert resp.status_code == status, resp.text
    assert message(resp).startswith(text)


@pytest.mark.parametrize(
    "body",
    [
        {"resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "p" * 81}]},
        {"resource_type_associations": [{"name": "r" * 81}]},
        {"resource_type_associations": [{"prefix": "p_"}]},
        {"objects": [{"name": "o" * 81}]},
        {"tags": [{"name": "t" * 81}]},
    ],
)
async def test_create_refuses_nested_items_the_columns_cannot_hold(
    image_client, admin, body
) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(
        NS, json={"namespace": "CL::Wide", **body}, headers=admin.headers
    )
    assert resp.status_code == 400, resp.text
    assert message(resp).startswith("Invalid input: ")
    assert (await image_client.get(f"{NS}/CL::Wide", headers=admin.headers)).status_code == 404


async def test_create_refuses_malformed_json(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(
        NS, content=b"{", headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert message(resp) == "Malformed JSON in request body."


async def test_private_namespaces_are_their_projects(image_client, admin, demo, reader) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Private")
    await create(image_client, admin, "CL::Public", visibility="public")
    assert "CL::Private" not in await names(image_client, demo)
    assert "CL::Public" in await names(image_client, demo)
    assert "CL::Public" in await names(image_client, reader)
    assert "CL::Private" in await names(image_client, admin)
    resp = await image_client.get(f"{NS}/CL::Private", headers=demo.headers)
    assert resp.status_code == 404
    assert message(resp) == "The resource could not be found."
    resp = await image_client.get(f"{NS}/CL::Nothing", headers=demo.headers)
    assert resp.status_code == 404
    assert message(resp) == "Metadata definition namespace=CL::Nothing was not found."
    resp = await image_client.get(f"{NS}/CL::Public", headers=reader.headers)
    assert resp.status_code == 200


async def test_a_projects_own_private_namespace_is_seen(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Demos", owner=demo.caller.project_id)
    assert "CL::Demos" in await names(image_client, demo)
    assert (await image_client.get(f"{NS}/CL::Demos", headers=demo.headers)).status_code == 200


async def test_list_filters_by_visibility_and_resource_types(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::A",
        visibility="public",
        resource_type_associations=[{"name": "OS::Cinder::Volume"}],
    )
    await create(
        image_client, admin, "CL::B", resource_type_associations=[{"name": "OS::Glance::Image"}]
    )
    await create(image_client, admin, "CL::C")
    assert await names(image_client, admin, "?visibility=public") == ["CL::A"]
    assert sorted(await names(image_client, admin, "?visibility=private")) == ["CL::B", "CL::C"]
    assert await names(image_client, admin, "?resource_types=OS::Glance::Image") == ["CL::B"]
    found = await names(image_client, admin, "?resource_types=OS::Glance::Image,OS::Cinder::Volume")
    assert sorted(found) == ["CL::A", "CL::B"]
    assert await names(image_client, admin, "?resource_types=OS::Nova::Flavor") == []
    listed = (await image_client.get(f"{NS}?visibility=public", headers=admin.headers)).json()
    assert listed["namespaces"][0]["resource_type_associations"][0]["name"] == (
        "OS::Cinder::Volume"
    )
    assert listed["first"] == f"{NS}?visibility=public"
    assert listed["schema"] == "/v2/schemas/metadefs/namespaces"


async def test_list_pages_with_limit_marker_and_sort(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    for name in ("CL::P2", "CL::P1", "CL::P3"):
        await create(image_client, admin, name)
    resp = await image_client.get(
        f"{NS}?sort_key=namespace&sort_dir=asc&limit=2", headers=admin.headers
    )
    body = resp.json()
    assert [n["namespace"] for n in body["namespaces"]] == ["CL::P1", "CL::P2"]
    query = parse_qs(urlsplit(body["next"]).query)
    assert query["marker"] == ["CL::P2"]
    assert query["sort_key"] == ["namespace"]
    body = (await image_client.get(body["next"], headers=admin.headers)).json()
    assert [n["namespace"] for n in body["namespaces"]] == ["CL::P3"]
    assert "next" not in body
    # Newest first by default.
    assert await names(image_client, admin) == ["CL::P3", "CL::P1", "CL::P2"]


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("?sort_dir=up", "Invalid sort direction: up"),
        ("?sort_key=color", "Sort key supplied was not valid."),
        ("?limit=-1", "limit param must be positive"),
        ("?limit=many", "limit param must be an integer"),
        ("?visibility=shared", "Invalid visibility value: shared"),
    ],
)
async def test_list_refuses_bad_queries(image_client, admin, query, text) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get(f"{NS}{query}", headers=admin.headers)
    assert resp.status_code == 400
    assert message(resp) == text


async def test_list_marker_must_exist(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.get(f"{NS}?marker=CL::Gone", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Metadata definition namespace=CL::Gone was not found."


async def test_update_replaces_every_field(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::Old",
        visibility="public",
        protected=True,
        description="before",
        tags=[{"name": "kept"}],
    )
    resp = await image_client.put(
        f"{NS}/CL::Old", json={"namespace": "CL::New"}, headers=admin.headers
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["namespace"] == "CL::New"
    assert body["visibility"] == "private"
    assert body["protected"] is False
    assert "description" not in body
    assert (await image_client.get(f"{NS}/CL::Old", headers=admin.headers)).status_code == 404
    shown = (await image_client.get(f"{NS}/CL::New", headers=admin.headers)).json()
    assert shown["tags"] == [{"name": "kept"}]


async def test_update_to_a_taken_name_is_409(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::One")
    await create(image_client, admin, "CL::Two")
    resp = await image_client.put(
        f"{NS}/CL::One", json={"namespace": "CL::Two"}, headers=admin.headers
    )
    assert resp.status_code == 409
    assert message(resp) == (
        "Invalid update. It would result in a duplicate metadata "
        "definition namespace with the same name of CL::Two"
    )


async def test_update_refusals(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Pub", visibility="public")
    await create(image_client, admin, "CL::Priv")
    resp = await image_client.put(
        f"{NS}/CL::Pub", json={"namespace": "CL::Pub"}, headers=demo.headers
    )
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete modify_metadef_namespace action."
    resp = await image_client.put(
        f"{NS}/CL::Priv", json={"namespace": "CL::Priv"}, headers=demo.headers
    )
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Priv not found"
    resp = await image_client.put(
        f"{NS}/CL::Pub", json={"display_name": "x"}, headers=admin.headers
    )
    assert resp.status_code == 400


async def test_delete_takes_the_contents_along(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::Gone",
        objects=[{"name": "o"}],
        properties={"p": {"title": "P", "type": "string"}},
        tags=[{"name": "t"}],
        resource_type_associations=[{"name": "OS::Glance::Image"}],
    )
    resp = await image_client.delete(f"{NS}/CL::Gone", headers=admin.headers)
    assert resp.status_code == 204
    resp = await image_client.get(f"{NS}/CL::Gone", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Metadata definition namespace=CL::Gone was not found."
    # The same name is free again, and comes back empty.
    await create(image_client, admin, "CL::Gone")
    shown = (await image_client.get(f"{NS}/CL::Gone", headers=admin.headers)).json()
    assert not {"objects", "properties", "tags", "resource_type_associations"} & set(shown)
    # Resource types outlive their associations.
    types = (await image_client.get("/v2/metadefs/resource_types", headers=admin.headers)).json()
    assert [t["name"] for t in types["resource_types"]] == ["OS::Glance::Image"]


async def test_a_protected_namespace_is_not_deleted(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Kept", protected=True, objects=[{"name": "o"}])
    for path in ("", "/objects", "/properties", "/tags"):
        resp = await image_client.delete(f"{NS}/CL::Kept{path}", headers=admin.headers)
        assert resp.status_code == 403, path
        assert message(resp) == (
            "Metadata definition namespace CL::Kept is protected and cannot be deleted."
        )
    assert (
        await image_client.get(f"{NS}/CL::Kept/objects/o", headers=admin.headers)
    ).status_code == 200


async def test_delete_refusals(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Pub", visibility="public")
    resp = await image_client.delete(f"{NS}/CL::Pub", headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete delete_metadef_namespace action."
    resp = await image_client.delete(f"{NS}/CL::Nope", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Nope not found"
    resp = await image_client.delete(f"{NS}/CL::Pub/tags", headers=demo.headers)
    assert resp.status_code == 403


@pytest.mark.parametrize("what", ["objects", "properties", "tags"])
async def test_delete_all_of_one_kind(image_client, admin, what) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::Bulk",
        objects=[{"name": "o"}],
        properties={"p": {"title": "P", "type": "string"}},
        tags=[{"name": "t"}],
    )
    resp = await image_client.delete(f"{NS}/CL::Bulk/{what}", headers=admin.headers)
    assert resp.status_code == 204
    shown = (await image_client.get(f"{NS}/CL::Bulk", headers=admin.headers)).json()
    assert what not in shown
    assert {"objects", "properties", "tags"} - {what} <= set(shown)


async def test_wrong_method_is_405(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.patch(NS, json={}, headers=admin.headers)
    assert resp.status_code == 405


# --- objects -------------------------------------------------------------------------


OBJ = f"{NS}/CL::Obj/objects"


@pytest.fixture
async def obj_ns(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Obj", visibility="public")


@pytest.mark.usefixtures("obj_ns")
async def test_object_lifecycle(image_client, admin, reader) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(
        OBJ,
        json={
            "name": "CPU",
            "description": "cpu",
            "required": ["cores"],
            "properties": {"cores": {"title": "Cores", "type": "integer", "minimum": 1}},
        },
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["self"] == f"{OBJ}/CPU"
    assert body["schema"] == "/v2/schemas/metadefs/object"
    assert body["properties"]["cores"] == {"title": "Cores", "type": "integer", "minimum": 1}

    listed = (await image_client.get(OBJ, headers=reader.headers)).json()
    assert [o["name"] for o in listed["objects"]] == ["CPU"]
    assert listed["schema"] == "v2/schemas/metadefs/objects"
    shown = (await image_client.get(f"{OBJ}/CPU", headers=reader.headers)).json()
    assert shown["required"] == ["cores"]

    resp = await image_client.put(f"{OBJ}/CPU", json={"name": "Processor"}, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "Processor"
    assert "properties" not in resp.json()
    resp = await image_client.get(f"{OBJ}/CPU", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Could not find metadata object CPU"

    assert (await image_client.delete(f"{OBJ}/Processor", headers=admin.headers)).status_code == 204
    assert (await image_client.get(OBJ, headers=admin.headers)).json()["objects"] == []


@pytest.mark.usefixtures("obj_ns")
async def test_object_names_are_unique_in_a_namespace(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    for name in ("a", "b"):
        assert (
            await image_client.post(OBJ, json={"name": name}, headers=admin.headers)
        ).status_code == 201
    resp = await image_client.post(OBJ, json={"name": "a"}, headers=admin.headers)
    assert resp.status_code == 409
    assert message(resp) == (
        "A metadata definition object with name=a already exists in namespace=CL::Obj."
    )
    resp = await image_client.put(f"{OBJ}/b", json={"name": "a"}, headers=admin.headers)
    assert resp.status_code == 409
    assert message(resp) == (
        "Invalid update. It would result in a duplicate metadata "
        "definition object with the same name=a in namespace=CL::Obj."
    )
    # Another namespace may use the name.
    await create(image_client, admin, "CL::Other")
    assert (
        await image_client.post(
            f"{NS}/CL::Other/objects", json={"name": "a"}, headers=admin.headers
        )
    ).status_code == 201


@pytest.mark.usefixtures("obj_ns")
async def test_object_refusals(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(OBJ, json={"name": "o"}, headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete add_metadef_object action."
    resp = await image_client.post(
        OBJ, json={"name": "o", "properties": {"p": {"type": "string"}}}, headers=admin.headers
    )
    assert resp.status_code == 400
    assert message(resp) == (
        "Provided object does not match schema 'object': 'title' is a required property"
    )
    # Each property is also checked as a property, whose array items are strings.
    resp = await image_client.post(
        OBJ,
        json={"name": "o", "properties": {"p": {"title": "P", "type": "string", "required": []}}},
        headers=admin.headers,
    )
    assert resp.status_code == 400
    assert message(resp).startswith("Provided object does not match schema 'property': ")
    resp = await image_client.post(OBJ, json={"description": "no name"}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.post(OBJ, json={"name": "o", "schema": "x"}, headers=admin.headers)
    assert resp.status_code == 403
    assert message(resp) == "Attribute 'schema' is read-only."
    resp = await image_client.get(f"{NS}/CL::Missing/objects", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Metadata definition namespace=CL::Missing was not found."
    await create(image_client, admin, "CL::Hidden")
    resp = await image_client.get(f"{NS}/CL::Hidden/objects", headers=demo.headers)
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Hidden not found"
    resp = await image_client.get(f"{OBJ}?limit=0", headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.delete(f"{OBJ}/none", headers=admin.headers)
    assert resp.status_code == 404


async def test_objects_of_a_protected_namespace_stay(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Prot", protected=True, objects=[{"name": "o"}])
    resp = await image_client.delete(f"{NS}/CL::Prot/objects/o", headers=admin.headers)
    assert resp.status_code == 403
    assert message(resp) == "Metadata definition object o is protected and cannot be deleted."


# --- properties ----------------------------------------------------------------------


PROPS = f"{NS}/CL::Props/properties"


@pytest.fixture
async def props_ns(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::Props",
        visibility="public",
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}],
    )


@pytest.mark.usefixtures("props_ns")
async def test_property_lifecycle(image_client, admin, reader) -> None:  # type: ignore[no-untyped-def]
    enum = ["kvm", "qemu"]
    resp = await image_client.post(
        PROPS,
        json={
            "name": "hypervisor",
            "title": "Hypervisor",
            "type": "string",
            "enum": enum,
            "required": ["x"],
        },
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    # `required` is not an attribute of Glance's PropertyType: dropped.
    assert resp.json() == {
        "name": "hypervisor",
        "title": "Hypervisor",
        "type": "string",
        "enum": enum,
    }
    listed = (await image_client.get(PROPS, headers=reader.headers)).json()
    assert listed["properties"]["hypervisor"]["title"] == "Hypervisor"
    shown = (await image_client.get(f"{PROPS}/hypervisor", headers=reader.headers)).json()
    assert shown["enum"] == enum
    shown = await image_client.get(
        f"{PROPS}/hw_hypervisor?resource_type=OS::Glance::Image", headers=reader.headers
    )
    assert shown.status_code == 200
    assert shown.json()["name"] == "hypervisor"

    resp = await image_client.put(
        f"{PROPS}/hypervisor",
        json={"name": "hv", "title": "HV", "type": "string"},
        headers=admin.headers,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"name": "hv", "title": "HV", "type": "string"}
    resp = await image_client.get(f"{PROPS}/hypervisor", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Could not find property hypervisor"
    assert (await image_client.delete(f"{PROPS}/hv", headers=admin.headers)).status_code == 204
    assert (await image_client.get(PROPS, headers=admin.headers)).json() == {"properties": {}}


@pytest.mark.usefixtures("props_ns")
async def test_property_refusals(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    prop = {"name": "p", "title": "P", "type": "string"}
    assert (await image_client.post(PROPS, json=prop, headers=admin.headers)).status_code == 201
    resp = await image_client.post(PROPS, json=prop, headers=admin.headers)
    assert resp.status_code == 409
    assert message(resp) == (
        "A metadata definition property with name=p already exists in namespace=CL::Props."
    )
    assert (
        await image_client.post(PROPS, json={**prop, "name": "q"}, headers=admin.headers)
    ).status_code == 201
    resp = await image_client.put(f"{PROPS}/q", json=prop, headers=admin.headers)
    assert resp.status_code == 409
    resp = await image_client.post(
        PROPS, json={"name": "r", "type": "string"}, headers=admin.headers
    )
    assert resp.status_code == 400
    resp = await image_client.post(PROPS, json={**prop, "type": "color"}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.post(PROPS, json={**prop, "updated_at": "x"}, headers=admin.headers)
    assert resp.status_code == 403
    assert message(resp) == "Attribute 'updated_at' is read-only."
    resp = await image_client.post(PROPS, json={**prop, "name": "s"}, headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete add_metadef_property action."
    resp = await image_client.get(
        f"{PROPS}/p?resource_type=OS::Glance::Image", headers=admin.headers
    )
    assert resp.status_code == 404
    assert message(resp) == (
        "Property p does not start with the expected resource type association prefix of 'hw_'."
    )
    resp = await image_client.get(
        f"{PROPS}/hw_p?resource_type=OS::Nova::Flavor", headers=admin.headers
    )
    assert resp.status_code == 404
    resp = await image_client.get(f"{NS}/CL::Missing/properties", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Missing not found"


async def test_properties_of_a_protected_namespace_stay(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::Prot",
        protected=True,
        properties={"p": {"title": "P", "type": "string"}},
    )
    resp = await image_client.delete(f"{NS}/CL::Prot/properties/p", headers=admin.headers)
    assert resp.status_code == 403
    assert message(resp) == "Metadata definition property p is protected and cannot be deleted."


# --- tags ----------------------------------------------------------------------------


TAGS = f"{NS}/CL::Tags/tags"


@pytest.fixture
async def tags_ns(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Tags", visibility="public")


async def tag_names(client: httpx.AsyncClient, who: Any, query: str = "") -> list[str]:
    resp = await client.get(f"{TAGS}{query}", headers=who.headers)
    assert resp.status_code == 200, resp.text
    return [t["name"] for t in resp.json()["tags"]]


@pytest.mark.usefixtures("tags_ns")
async def test_tag_lifecycle(image_client, admin, reader) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(f"{TAGS}/fast", headers=admin.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "fast"
    assert resp.json()["created_at"].endswith("Z")
    resp = await image_client.post(f"{TAGS}/fast", headers=admin.headers)
    assert resp.status_code == 409
    assert message(resp) == (
        "A metadata tag with name=fast already exists in "
        "namespace=CL::Tags. (Please note that metadata tag names are "
        "case insensitive)."
    )
    shown = (await image_client.get(f"{TAGS}/fast", headers=reader.headers)).json()
    assert set(shown) == {"name", "created_at", "updated_at"}
    resp = await image_client.put(f"{TAGS}/fast", json={"name": "quick"}, headers=admin.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "quick"
    assert await tag_names(image_client, reader) == ["quick"]
    resp = await image_client.get(f"{TAGS}/fast", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Could not find metadata tag fast"
    assert (await image_client.delete(f"{TAGS}/quick", headers=admin.headers)).status_code == 204
    assert await tag_names(image_client, admin) == []


@pytest.mark.usefixtures("tags_ns")
async def test_bulk_tags_replace_unless_appended(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await image_client.post(f"{TAGS}/old", headers=admin.headers)
    body = {"tags": [{"name": "a"}, {"name": "b"}]}
    resp = await image_client.post(TAGS, json=body, headers=admin.headers)
    assert resp.status_code == 201, resp.text
    assert resp.json() == body
    assert sorted(await tag_names(image_client, admin)) == ["a", "b"]
    resp = await image_client.post(
        TAGS,
        json={"tags": [{"name": "c"}]},
        headers={**admin.headers, "X-Openstack-Append": "True"},
    )
    assert resp.status_code == 201
    assert sorted(await tag_names(image_client, admin)) == ["a", "b", "c"]
    resp = await image_client.post(
        TAGS,
        json={"tags": [{"name": "a"}]},
        headers={**admin.headers, "X-Openstack-Append": "true"},
    )
    assert resp.status_code == 409
    assert message(resp).startswith("A metadata tag with name=a already exists")
    # Refused as a whole: nothing was replaced.
    resp = await image_client.post(
        TAGS, json={"tags": [{"name": "d"}, {"name": "d"}]}, headers=admin.headers
    )
    assert resp.status_code == 409
    assert sorted(await tag_names(image_client, admin)) == ["a", "b", "c"]


@pytest.mark.usefixtures("tags_ns")
async def test_tags_page_and_sort(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await image_client.post(
        TAGS, json={"tags": [{"name": n} for n in "cab"]}, headers=admin.headers
    )
    assert await tag_names(image_client, admin, "?sort_key=name&sort_dir=asc") == ["a", "b", "c"]
    assert await tag_names(image_client, admin, "?sort_key=name&sort_dir=asc&limit=2") == ["a", "b"]
    assert await tag_names(image_client, admin, "?sort_key=name&sort_dir=asc&marker=a") == [
        "b",
        "c",
    ]
    resp = await image_client.get(f"{TAGS}?marker=zz", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Could not find metadata tag zz"
    resp = await image_client.get(f"{TAGS}?sort_dir=sideways", headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.get(f"{TAGS}?limit=-2", headers=admin.headers)
    assert resp.status_code == 400


@pytest.mark.usefixtures("tags_ns")
async def test_tag_refusals(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(f"{TAGS}/{'x' * 81}", headers=admin.headers)
    assert resp.status_code == 400
    assert message(resp).startswith("Provided object does not match schema 'tag': ")
    resp = await image_client.post(f"{TAGS}/mine", headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete add_metadef_tag action."
    resp = await image_client.post(TAGS, json={"tags": [{"name": "a"}]}, headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == "You are not authorized to complete add_metadef_tags action."
    resp = await image_client.post(TAGS, json={"tags": [{"title": "a"}]}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.post(TAGS, json={"tags": [{"name": "y" * 81}]}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.post(f"{NS}/CL::Missing/tags/t", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Missing not found"
    resp = await image_client.put(f"{TAGS}/none", json={"name": "x"}, headers=admin.headers)
    assert resp.status_code == 404
    resp = await image_client.put(
        f"{TAGS}/none", json={"name": "x", "created_at": "x"}, headers=admin.headers
    )
    assert resp.status_code == 403


async def test_tags_of_a_protected_namespace_stay(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Prot", protected=True, tags=[{"name": "t"}])
    resp = await image_client.delete(f"{NS}/CL::Prot/tags/t", headers=admin.headers)
    assert resp.status_code == 403
    assert message(resp) == "Metadata definition tag t is protected and cannot be deleted."


# --- resource types ------------------------------------------------------------------


RT = f"{NS}/CL::Types/resource_types"


@pytest.fixture
async def types_ns(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Types", visibility="public")


@pytest.mark.usefixtures("types_ns")
async def test_association_lifecycle(image_client, admin, reader) -> None:  # type: ignore[no-untyped-def]
    assert (
        await image_client.get("/v2/metadefs/resource_types", headers=reader.headers)
    ).json() == {"resource_types": []}
    resp = await image_client.post(
        RT,
        json={"name": "OS::Cinder::Volume", "prefix": "vol_", "properties_target": "image"},
        headers=admin.headers,
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["name"] == "OS::Cinder::Volume"
    assert body["prefix"] == "vol_"
    assert body["properties_target"] == "image"
    types = (await image_client.get("/v2/metadefs/resource_types", headers=reader.headers)).json()[
        "resource_types"
    ]
    assert [t["name"] for t in types] == ["OS::Cinder::Volume"]
    assert set(types[0]) == {"name", "created_at", "updated_at"}
    listed = (await image_client.get(RT, headers=reader.headers)).json()
    assert [a["name"] for a in listed["resource_type_associations"]] == ["OS::Cinder::Volume"]
    resp = await image_client.post(RT, json={"name": "OS::Cinder::Volume"}, headers=admin.headers)
    assert resp.status_code == 409
    assert message(resp) == (
        "The metadata definition resource-type association of "
        "resource-type=OS::Cinder::Volume to namespace=CL::Types "
        "already exists."
    )
    assert (
        await image_client.delete(f"{RT}/OS::Cinder::Volume", headers=admin.headers)
    ).status_code == 204
    assert (await image_client.get(RT, headers=admin.headers)).json() == {
        "resource_type_associations": []
    }
    resp = await image_client.delete(f"{RT}/OS::Cinder::Volume", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Failed to find resource type OS::Cinder::Volume to delete"


@pytest.mark.usefixtures("types_ns")
async def test_association_refusals(image_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    resp = await image_client.post(RT, json={"name": "OS::Glance::Image"}, headers=demo.headers)
    assert resp.status_code == 403
    assert message(resp) == (
        "You are not authorized to complete add_metadef_resource_type_association action."
    )
    resp = await image_client.post(RT, json={"prefix": "x"}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.post(RT, json={"name": "x" * 81}, headers=admin.headers)
    assert resp.status_code == 400
    resp = await image_client.delete(f"{RT}/OS::Nothing", headers=admin.headers)
    assert resp.status_code == 404
    resp = await image_client.get(f"{NS}/CL::Missing/resource_types", headers=admin.headers)
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Missing not found"


async def test_associations_of_a_protected_namespace_stay(image_client, admin) -> None:  # type: ignore[no-untyped-def]
    await create(
        image_client,
        admin,
        "CL::Prot",
        protected=True,
        resource_type_associations=[{"name": "OS::Glance::Image"}],
    )
    resp = await image_client.delete(
        f"{NS}/CL::Prot/resource_types/OS::Glance::Image", headers=admin.headers
    )
    assert resp.status_code == 403
    assert message(resp) == (
        "Metadata definition resource-type-association OS::Glance::Image "
        "is protected and cannot be deleted."
    )


async def test_another_projects_member_reads_public_only(image_client, admin, alt) -> None:  # type: ignore[no-untyped-def]
    await create(image_client, admin, "CL::Shared", visibility="public", tags=[{"name": "t"}])
    await create(image_client, admin, "CL::Closed", tags=[{"name": "t"}])
    assert (
        await image_client.get(f"{NS}/CL::Shared/tags/t", headers=alt.headers)
    ).status_code == 200
    resp = await image_client.get(f"{NS}/CL::Closed/tags/t", headers=alt.headers)
    assert resp.status_code == 404
    assert message(resp) == "Namespace CL::Closed not found"
