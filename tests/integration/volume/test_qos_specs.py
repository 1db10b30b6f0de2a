"""QoS specs through the ASGI volume API: create, list, show, set and unset keys,
delete, and the association with volume types; Cinder's bodies, statuses,
messages and (admin-only) policies."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.integration

CONSUMER_MESSAGE = (
    "Invalid qos specs: Valid consumer of QoS specs are: QoSConsumerValues("
    "default=<class 'oslo_versionedobjects.fields.UnspecifiedDefault'>,nullable=False,"
    "valid_values=('back-end', 'front-end', 'both'))"
)


def _base(client) -> str:  # type: ignore[no-untyped-def]
    return str(client.base_url).rstrip("/")


def _url(who, suffix: str = "") -> str:  # type: ignore[no-untyped-def]
    return f"/v3/{who.project_id}/qos-specs{suffix}"


async def _create(client, who, **fields) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(_url(who), json={"qos_specs": fields}, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _type(client, who, name: str) -> dict:  # type: ignore[no-untyped-def]
    resp = await client.post(f"/v3/{who.project_id}/types",
                             json={"volume_type": {"name": name}}, headers=who.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["volume_type"]


def _message(resp, kind: str = "badRequest") -> str:  # type: ignore[no-untyped-def]
    return resp.json()[kind]["message"]


async def test_create_answers_the_spec_and_its_links(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    body = await _create(volume_client, admin, name="gold", read_iops_sec="2000")
    spec = body["qos_specs"]
    assert set(spec) == {"id", "name", "consumer", "specs"}
    assert spec["name"] == "gold"
    assert spec["consumer"] == "back-end"  # Cinder's default
    assert spec["specs"] == {"read_iops_sec": "2000"}
    assert body["links"] == [
        {"rel": "self",
         "href": f"{_base(volume_client)}/v3/{admin.project_id}/qos-specs/{spec['id']}"},
        {"rel": "bookmark",
         "href": f"{_base(volume_client)}/{admin.project_id}/qos-specs/{spec['id']}"},
    ]
    shown = await volume_client.get(_url(admin, f"/{spec['id']}"), headers=admin.headers)
    assert shown.status_code == 200
    assert shown.json() == body
    listed = await volume_client.get(_url(admin), headers=admin.headers)
    assert listed.json() == {"qos_specs": [spec]}


@pytest.mark.parametrize("consumer", ["front-end", "back-end", "both"])
async def test_each_consumer_is_kept_out_of_the_specs(volume_client, admin, consumer: str) -> None:  # type: ignore[no-untyped-def]
    spec = (await _create(volume_client, admin, name="q", consumer=consumer, k="v"))["qos_specs"]
    assert (spec["consumer"], spec["specs"]) == (consumer, {"k": "v"})


@pytest.mark.parametrize("consumer", ["", "sideways", 5, ["front-end"]])
async def test_an_unknown_consumer_is_refused(volume_client, admin, consumer: object) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(_url(admin), json={"qos_specs": {
        "name": "q", "consumer": consumer}}, headers=admin.headers)
    assert resp.status_code == 400
    if isinstance(consumer, str):
        assert _message(resp) == CONSUMER_MESSAGE
    else:
        assert _message(resp) == (
            'Invalid input received: Value for key "consumer" is not a string or unicode'
        )
    assert (await volume_client.get(_url(admin), headers=admin.headers)).json() == {
        "qos_specs": []}


@pytest.mark.parametrize(("spec", "message"), [
    ({"name": ""}, "An invalid 'name' value was provided. The 'name' can not be None."),
    ({"name": "   "}, "An invalid 'name' value was provided. The 'name' can not be empty."),
    ({"name": "n" * 256},
     "An invalid 'name' value was provided. The 'name' can not be greater than 255 characters."),
    ({"name": "q", "a" * 256: "v"},
     f'Invalid input received: Key "{"a" * 256}" has 256 characters, more than 255.'),
    ({"name": "q", "k": "v" * 256},
     'Invalid input received: Value for key "k" has 256 characters, more than 255.'),
    ({"name": "q", "": "v"}, 'Invalid input received: Key "" has 0 characters, less than 1.'),
    ({"name": "q", "k": 1}, 'Invalid input received: Value for key "k" is not a string or unicode'),
    ({"consumer": "both"}, "Invalid input for field/attribute qos_specs. Value: "
                           "{'consumer': 'both'}. 'name' is a required property"),
])
async def test_bad_create_bodies_are_refused(volume_client, admin, spec, message) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(_url(admin), json={"qos_specs": spec}, headers=admin.headers)
    assert resp.status_code == 400
    assert _message(resp) == message


async def test_a_missing_body_is_refused(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(_url(admin), json={"qos": {"name": "q"}},
                                    headers=admin.headers)
    assert resp.status_code == 400


async def test_a_null_value_is_kept(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec = (await _create(volume_client, admin, name="q", k=None))["qos_specs"]
    assert spec["specs"] == {"k": None}


async def test_a_taken_name_is_a_conflict(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    await _create(volume_client, admin, name="silver")
    resp = await volume_client.post(_url(admin), json={"qos_specs": {"name": "  silver "}},
                                    headers=admin.headers)
    assert resp.status_code == 409
    assert _message(resp, "conflictingRequest") == "QoS Specs silver already exists."


async def test_concurrent_creates_of_one_name_make_one_spec(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    answers = await asyncio.gather(*(
        volume_client.post(_url(admin), json={"qos_specs": {"name": "race"}},
                           headers=admin.headers) for _ in range(5)
    ))
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409, 409]


async def test_every_path_is_admin_only(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q"))["qos_specs"]["id"]
    vtype = await _type(volume_client, admin, "t")
    calls = [
        ("GET", "", None), ("POST", "", {"qos_specs": {"name": "x"}}),
        ("GET", f"/{spec_id}", None), ("PUT", f"/{spec_id}", {"qos_specs": {"k": "v"}}),
        ("PUT", f"/{spec_id}/delete_keys", {"keys": ["k"]}),
        ("DELETE", f"/{spec_id}", None), ("DELETE", f"/{spec_id}?force=maybe", None),
        ("GET", f"/{spec_id}/associations", None),
        ("GET", f"/{spec_id}/associate?vol_type_id={vtype['id']}", None),
        ("GET", f"/{spec_id}/disassociate?vol_type_id={vtype['id']}", None),
        ("GET", f"/{spec_id}/disassociate_all", None),
        ("GET", "/nonexistent", None),
    ]
    for method, suffix, body in calls:
        resp = await volume_client.request(method, _url(demo, suffix), json=body,
                                           headers=demo.headers)
        assert resp.status_code == 403, (method, suffix, resp.text)
    shown = await volume_client.get(_url(admin, f"/{spec_id}"), headers=admin.headers)
    assert shown.json()["qos_specs"]["specs"] == {}


async def test_unknown_specs_are_404(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    vtype = await _type(volume_client, admin, "t")
    missing = "0b1c2d3e-0000-4000-8000-000000000000"
    for method, suffix, body in [
        ("GET", "", None), ("PUT", "", {"qos_specs": {"k": "v"}}),
        ("PUT", "/delete_keys", {"keys": ["k"]}), ("DELETE", "", None),
        ("DELETE", "?force=True", None), ("GET", "/associations", None),
        ("GET", f"/associate?vol_type_id={vtype['id']}", None),
        ("GET", f"/disassociate?vol_type_id={vtype['id']}", None),
        ("GET", "/disassociate_all", None),
    ]:
        resp = await volume_client.request(method, _url(admin, f"/{missing}{suffix}"),
                                           json=body, headers=admin.headers)
        assert resp.status_code == 404, (method, suffix)
        assert _message(resp, "itemNotFound") == f"No such QoS spec {missing}."


async def test_set_keys_answers_the_body_and_merges(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q", a="1", b="2"))["qos_specs"]["id"]
    url = _url(admin, f"/{spec_id}")
    resp = await volume_client.put(url, json={"qos_specs": {"b": "20", "c": None}},
                                   headers=admin.headers)
    assert resp.status_code == 200
    assert resp.json() == {"qos_specs": {"b": "20", "c": None}}
    shown = (await volume_client.get(url, headers=admin.headers)).json()["qos_specs"]
    assert shown["specs"] == {"a": "1", "b": "20", "c": None}
    assert shown["consumer"] == "back-end"
    resp = await volume_client.put(url, json={"qos_specs": {"consumer": "front-end"}},
                                   headers=admin.headers)
    assert resp.status_code == 200
    shown = (await volume_client.get(url, headers=admin.headers)).json()["qos_specs"]
    assert (shown["consumer"], shown["specs"]) == ("front-end", {"a": "1", "b": "20", "c": None})


async def test_set_keys_refusals(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q"))["qos_specs"]["id"]
    url = _url(admin, f"/{spec_id}")
    resp = await volume_client.put(url, json={"qos_specs": {"consumer": "nowhere"}},
                                   headers=admin.headers)
    assert resp.status_code == 400
    assert _message(resp) == CONSUMER_MESSAGE
    for bad in ({"qos_specs": {"k": ["v"]}}, {"qos_specs": {"bad!key": "v"}},
                {"qos_specs": {"k": "v" * 256}}, {"specs": {"k": "v"}}, {"qos_specs": "k"}):
        resp = await volume_client.put(url, json=bad, headers=admin.headers)
        assert resp.status_code == 400, bad
    shown = (await volume_client.get(url, headers=admin.headers)).json()["qos_specs"]
    assert (shown["consumer"], shown["specs"]) == ("back-end", {})


async def test_delete_keys_stops_at_the_first_missing_key(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q", a="1", b="2", c="3"))[
        "qos_specs"]["id"]
    url = _url(admin, f"/{spec_id}")
    resp = await volume_client.put(f"{url}/delete_keys", json={"keys": ["a"]},
                                   headers=admin.headers)
    assert resp.status_code == 202
    assert resp.content == b""
    resp = await volume_client.put(f"{url}/delete_keys", json={"keys": ["b", "zz", "c"]},
                                   headers=admin.headers)
    assert resp.status_code == 404
    assert _message(resp, "itemNotFound") == f"QoS spec {spec_id} has no spec with key zz."
    # As Cinder: the keys before the missing one are gone, the ones after stay.
    shown = (await volume_client.get(url, headers=admin.headers)).json()["qos_specs"]
    assert shown["specs"] == {"c": "3"}
    resp = await volume_client.put(f"{url}/delete_keys", json={"keys": ["consumer"]},
                                   headers=admin.headers)
    assert resp.status_code == 404
    for bad in ({}, {"keys": "c"}, {"keys": ["c", "c"]}, {"keys": [""]}, {"keys": [1]},
                {"keys": ["c"], "more": 1}):
        resp = await volume_client.put(f"{url}/delete_keys", json=bad, headers=admin.headers)
        assert resp.status_code == 400, bad
    assert (await volume_client.get(url, headers=admin.headers)).json()["qos_specs"][
        "specs"] == {"c": "3"}


async def test_associate_disassociate_and_the_types_view(volume_client, admin, demo) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q"))["qos_specs"]["id"]
    types = [await _type(volume_client, admin, name) for name in ("t-b", "t-a", "t-c")]
    url = _url(admin, f"/{spec_id}")
    for t in types:
        resp = await volume_client.get(f"{url}/associate?vol_type_id={t['id']}",
                                       headers=admin.headers)
        assert resp.status_code == 202
        assert resp.content == b""
    # Associating again with the same spec changes nothing.
    resp = await volume_client.get(f"{url}/associate?vol_type_id={types[0]['id']}",
                                   headers=admin.headers)
    assert resp.status_code == 202
    resp = await volume_client.get(f"{url}/associations", headers=admin.headers)
    assert resp.json() == {"qos_associations": [
        {"association_type": "volume_type", "name": t["name"], "id": t["id"]}
        for t in sorted(types, key=lambda t: t["name"])
    ]}
    type_url = f"/v3/{admin.project_id}/types/{types[0]['id']}"
    shown = (await volume_client.get(type_url, headers=admin.headers)).json()["volume_type"]
    assert shown["qos_specs_id"] == spec_id
    # Only admins see the type's spec (access_types_qos_specs_id).
    shown = (await volume_client.get(f"/v3/{demo.project_id}/types/{types[0]['id']}",
                                     headers=demo.headers)).json()["volume_type"]
    assert "qos_specs_id" not in shown

    resp = await volume_client.get(f"{url}/disassociate?vol_type_id={types[0]['id']}",
                                   headers=admin.headers)
    assert resp.status_code == 202
    shown = (await volume_client.get(type_url, headers=admin.headers)).json()["volume_type"]
    assert shown["qos_specs_id"] is None
    assoc = (await volume_client.get(f"{url}/associations", headers=admin.headers)).json()
    assert {a["id"] for a in assoc["qos_associations"]} == {types[1]["id"], types[2]["id"]}
    # A type the spec is not associated with: nothing to do.
    resp = await volume_client.get(f"{url}/disassociate?vol_type_id={types[0]['id']}",
                                   headers=admin.headers)
    assert resp.status_code == 202
    resp = await volume_client.get(f"{url}/disassociate_all", headers=admin.headers)
    assert resp.status_code == 202
    assoc = (await volume_client.get(f"{url}/associations", headers=admin.headers)).json()
    assert assoc == {"qos_associations": []}


async def test_association_refusals(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    first = (await _create(volume_client, admin, name="first"))["qos_specs"]["id"]
    second = (await _create(volume_client, admin, name="second"))["qos_specs"]["id"]
    vtype = await _type(volume_client, admin, "t")
    for action in ("associate", "disassociate"):
        for query in ("", "?vol_type_id="):
            resp = await volume_client.get(_url(admin, f"/{first}/{action}{query}"),
                                           headers=admin.headers)
            assert resp.status_code == 400
            assert _message(resp) == "Volume Type id must not be None."
        missing = "9f8e7d6c-0000-4000-8000-000000000000"
        resp = await volume_client.get(_url(admin, f"/{first}/{action}?vol_type_id={missing}"),
                                       headers=admin.headers)
        assert resp.status_code == 404
        assert _message(resp, "itemNotFound") == f"Volume type {missing} could not be found."
    resp = await volume_client.get(_url(admin, f"/{first}/associate?vol_type_id={vtype['id']}"),
                                   headers=admin.headers)
    assert resp.status_code == 202
    # A type has one spec at most.
    resp = await volume_client.get(_url(admin, f"/{second}/associate?vol_type_id={vtype['id']}"),
                                   headers=admin.headers)
    assert resp.status_code == 400
    assert _message(resp) == (
        f"Invalid volume type: Type {vtype['id']} is already associated with another qos "
        f"specs: {first}"
    )
    # The other spec's disassociate leaves the type's association alone.
    resp = await volume_client.get(
        _url(admin, f"/{second}/disassociate?vol_type_id={vtype['id']}"), headers=admin.headers)
    assert resp.status_code == 202
    shown = (await volume_client.get(f"/v3/{admin.project_id}/types/{vtype['id']}",
                                     headers=admin.headers)).json()["volume_type"]
    assert shown["qos_specs_id"] == first


async def test_concurrent_associations_of_one_type_keep_one_spec(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    specs = [(await _create(volume_client, admin, name=f"q{i}"))["qos_specs"]["id"]
             for i in range(4)]
    vtype = await _type(volume_client, admin, "t")
    answers = await asyncio.gather(*(
        volume_client.get(_url(admin, f"/{s}/associate?vol_type_id={vtype['id']}"),
                          headers=admin.headers) for s in specs
    ))
    assert sorted(r.status_code for r in answers) == [202, 400, 400, 400]
    winner = specs[[r.status_code for r in answers].index(202)]
    shown = (await volume_client.get(f"/v3/{admin.project_id}/types/{vtype['id']}",
                                     headers=admin.headers)).json()["volume_type"]
    assert shown["qos_specs_id"] == winner


async def test_delete_of_an_associated_spec_needs_force(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q", k="v"))["qos_specs"]["id"]
    vtype = await _type(volume_client, admin, "t")
    url = _url(admin, f"/{spec_id}")
    await volume_client.get(f"{url}/associate?vol_type_id={vtype['id']}", headers=admin.headers)
    for query in ("", "?force=False", "?force=0"):
        resp = await volume_client.delete(f"{url}{query}", headers=admin.headers)
        assert resp.status_code == 400
        assert _message(resp) == "Qos specs still in use."
    resp = await volume_client.delete(f"{url}?force=maybe", headers=admin.headers)
    assert resp.status_code == 400
    assert _message(resp) == "Value 'maybe' for 'force' is not a boolean."
    assert (await volume_client.get(url, headers=admin.headers)).status_code == 200
    resp = await volume_client.delete(f"{url}?force=True", headers=admin.headers)
    assert resp.status_code == 202
    assert (await volume_client.get(url, headers=admin.headers)).status_code == 404
    shown = (await volume_client.get(f"/v3/{admin.project_id}/types/{vtype['id']}",
                                     headers=admin.headers)).json()["volume_type"]
    assert shown["qos_specs_id"] is None
    # The name is free again.
    await _create(volume_client, admin, name="q")


async def test_delete_of_a_free_spec(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q", k="v"))["qos_specs"]["id"]
    resp = await volume_client.delete(_url(admin, f"/{spec_id}"), headers=admin.headers)
    assert resp.status_code == 202
    assert (await volume_client.get(_url(admin), headers=admin.headers)).json() == {
        "qos_specs": []}


async def test_deleting_a_type_ends_its_association(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    spec_id = (await _create(volume_client, admin, name="q"))["qos_specs"]["id"]
    vtype = await _type(volume_client, admin, "t")
    await volume_client.get(_url(admin, f"/{spec_id}/associate?vol_type_id={vtype['id']}"),
                            headers=admin.headers)
    resp = await volume_client.delete(f"/v3/{admin.project_id}/types/{vtype['id']}",
                                      headers=admin.headers)
    assert resp.status_code == 202
    assoc = await volume_client.get(_url(admin, f"/{spec_id}/associations"),
                                    headers=admin.headers)
    assert assoc.json() == {"qos_associations": []}
    assert (await volume_client.delete(_url(admin, f"/{spec_id}"),
                                       headers=admin.headers)).status_code == 202


async def test_list_pages_sorts_and_filters(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    made = [(await _create(volume_client, admin, name=f"q{i}"))["qos_specs"] for i in range(4)]
    newest_first = [s["id"] for s in reversed(made)]

    async def ids(query: str) -> list[str]:
        resp = await volume_client.get(_url(admin, query), headers=admin.headers)
        assert resp.status_code == 200, resp.text
        return [s["id"] for s in resp.json()["qos_specs"]]

    assert await ids("") == newest_first  # created_at desc, as Cinder
    assert await ids("?sort=id:asc") == sorted(newest_first)
    assert await ids("?sort=id") == sorted(newest_first, reverse=True)
    assert await ids("?sort_key=created_at&sort_dir=asc") == newest_first[::-1]
    assert await ids("?sort=value:asc") == [s["id"] for s in made]  # Cinder's name column
    assert await ids("?offset=1") == newest_first[1:]
    assert await ids("?limit=2&offset=1") == newest_first[1:3]
    assert await ids(f"?marker={newest_first[0]}") == newest_first[1:]
    assert await ids(f"?id={made[2]['id']}") == [made[2]["id"]]
    assert await ids("?value=q1") == [made[1]["id"]]
    # Filters on what is not one of Cinder's columns match nothing there.
    assert await ids("?name=q1") == []
    assert await ids("?consumer=back-end") == []
    resp = await volume_client.get(_url(admin, "?limit=2"), headers=admin.headers)
    assert resp.json()["qos_specs_links"] == [{
        "rel": "next",
        "href": f"{_base(volume_client)}/v3/{admin.project_id}/qos-specs?limit=2"
                f"&marker={newest_first[1]}",
    }]
    resp = await volume_client.get(_url(admin, "?limit=5"), headers=admin.headers)
    assert "qos_specs_links" not in resp.json()
    for query, message in [
        ("?marker=nope", None), ("?sort=name", "Invalid input received: Invalid sort key name"),
        ("?limit=x", "limit param must be an integer"), ("?offset=-1", None),
        ("?sort=id:sideways", None),
    ]:
        resp = await volume_client.get(_url(admin, query), headers=admin.headers)
        if query.startswith("?marker"):
            assert resp.status_code == 404
            assert _message(resp, "itemNotFound") == "No such QoS spec nope."
            continue
        assert resp.status_code == 400, query
        if message is not None:
            assert _message(resp) == message


async def test_served_on_v2_and_project_less_v3(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    resp = await volume_client.post(f"/v2/{admin.project_id}/qos-specs",
                                    json={"qos_specs": {"name": "v2", "consumer": "both"}},
                                    headers=admin.headers)
    assert resp.status_code == 200, resp.text
    spec_id = resp.json()["qos_specs"]["id"]
    # Cinder's links carry the project only when the URL is /v3/{project_id}.
    assert resp.json()["links"] == [
        {"rel": "self", "href": f"{_base(volume_client)}/v2/qos-specs/{spec_id}"},
        {"rel": "bookmark", "href": f"{_base(volume_client)}/qos-specs/{spec_id}"},
    ]
    resp = await volume_client.get(f"/v3/qos-specs/{spec_id}", headers=admin.headers)
    assert resp.status_code == 200
    assert resp.json()["qos_specs"]["consumer"] == "both"
    assert resp.json()["links"][0]["href"] == f"{_base(volume_client)}/v3/qos-specs/{spec_id}"
    resp = await volume_client.get(f"/v2/{admin.project_id}/qos-specs", headers=admin.headers)
    assert [s["id"] for s in resp.json()["qos_specs"]] == [spec_id]
    resp = await volume_client.get(f"/v2/{admin.project_id}/qos-specs/{spec_id}/disassociate_all",
                                   headers=admin.headers)
    assert resp.status_code == 202
    resp = await volume_client.post(f"/v3/{admin.project_id}/qos-specs/{spec_id}",
                                    json={}, headers=admin.headers)
    assert resp.status_code == 405


async def test_front_end_specs_reach_the_connection_info(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.volume.test_volumes import wait_status

    front = (await _create(volume_client, admin, name="front", consumer="front-end",
                           total_iops_sec_per_gb="10", read_bytes_sec="1000"))["qos_specs"]
    back = (await _create(volume_client, admin, name="back", total_iops_sec="5"))["qos_specs"]
    answers = {}
    for spec, type_name in ((front, "t-front"), (back, "t-back")):
        vtype = await _type(volume_client, admin, type_name)
        await volume_client.get(_url(admin, f"/{spec['id']}/associate?vol_type_id={vtype['id']}"),
                                headers=admin.headers)
        resp = await volume_client.post(f"/v3/{admin.project_id}/volumes", json={"volume": {
            "size": 2, "volume_type": type_name}}, headers=admin.headers)
        assert resp.status_code == 202, resp.text
        vol_id = resp.json()["volume"]["id"]
        await wait_status(volume_client, admin, vol_id, "available")
        resp = await volume_client.post(
            f"/v3/{admin.project_id}/volumes/{vol_id}/action", headers=admin.headers,
            json={"os-initialize_connection": {"connector": {"host": "here"}}})
        assert resp.status_code == 200, resp.text
        legacy = resp.json()["connection_info"]["data"]["qos_specs"]
        headers = {**admin.headers, "OpenStack-API-Version": "volume 3.27"}
        base = f"/v3/{admin.project_id}/attachments"
        resp = await volume_client.post(base, headers=headers, json={"attachment": {
            "volume_uuid": vol_id, "instance_uuid": "5f0c5a3e-3b6a-4c2c-9d49-0d9d0f3c7a11",
            "connector": {"host": "here"}}})
        assert resp.status_code == 200, resp.text
        answers[type_name] = (legacy, resp.json()["attachment"]["connection_info"]["qos_specs"])
    # Cinder's _parse_connection_options: front-end keys, per-GB ones for the size.
    wanted = {"total_iops_sec": 20, "read_bytes_sec": "1000"}
    assert answers["t-front"] == (wanted, wanted)
    assert answers["t-back"] == (None, None)


async def test_an_in_use_volume_keeps_its_front_end_spec_on_retype(volume_client, admin) -> None:  # type: ignore[no-untyped-def]
    from tests.integration.volume.test_volumes import wait_status

    front = (await _create(volume_client, admin, name="front", consumer="both"))["qos_specs"]
    back = (await _create(volume_client, admin, name="back"))["qos_specs"]
    for spec, type_name in ((front, "t-front"), (back, "t-back")):
        vtype = await _type(volume_client, admin, type_name)
        await volume_client.get(_url(admin, f"/{spec['id']}/associate?vol_type_id={vtype['id']}"),
                                headers=admin.headers)
    await _type(volume_client, admin, "t-plain")
    volumes = f"/v3/{admin.project_id}/volumes"
    resp = await volume_client.post(volumes, json={"volume": {"size": 1, "volume_type": "t-plain"}},
                                    headers=admin.headers)
    vol_id = resp.json()["volume"]["id"]
    await wait_status(volume_client, admin, vol_id, "available")
    act = f"{volumes}/{vol_id}/action"

    async def retype(name: str):  # type: ignore[no-untyped-def]
        return await volume_client.post(act, json={"os-retype": {"new_type": name}},
                                        headers=admin.headers)

    resp = await volume_client.post(act, json={"os-attach": {
        "mountpoint": "/dev/vdb", "host_name": "h"}}, headers=admin.headers)
    assert resp.status_code == 202
    await wait_status(volume_client, admin, vol_id, "in-use")
    resp = await retype("t-front")
    assert resp.status_code == 400
    assert _message(resp) == (
        "Invalid volume: Retype needs volume to be in available or in-use state, not be part "
        "of an active migration or a consistency group, requested type has to be different "
        "that the one from the volume, and for in-use volumes front-end qos specs cannot "
        "change."
    )
    # A back-end spec is the backend's business: the in-use volume may take it.
    assert (await retype("t-back")).status_code == 202
    shown = (await volume_client.get(f"{volumes}/{vol_id}", headers=admin.headers)).json()
    assert shown["volume"]["volume_type"] == "t-back"
    assert (await retype("t-front")).status_code == 400
    resp = await volume_client.post(act, json={"os-detach": {}}, headers=admin.headers)
    assert resp.status_code == 202
    await wait_status(volume_client, admin, vol_id, "available")
    assert (await retype("t-front")).status_code == 202
