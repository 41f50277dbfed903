"""/api/apis as Tyk's dashboard answers it: CRUD, paging, validation, and stored data never damaged."""

from __future__ import annotations

import copy
import json

import pytest
from pymongo import MongoClient

from tests.integration.dashboard.conftest import definition, other_org_admin


def create(client, auth, body: dict) -> str:
    reply = client.post("/api/apis", headers=auth, json={"api_definition": body})
    assert reply.status_code == 200, reply.text
    assert reply.json()["Status"] == "OK"
    return reply.json()["Meta"]


def stored_apis(settings) -> list[dict]:
    return list(MongoClient(settings.mongo_url)[settings.mongo_database]["apis"].find({}).sort("_id"))


def test_round_trip_keeps_every_field(client, auth):
    sent = definition()
    reply = client.post("/api/apis", headers=auth, json={"api_definition": sent})
    assert reply.status_code == 200
    assert reply.json()["Message"] == "API created"
    api_id = reply.json()["Meta"]
    assert api_id

    got = client.get(f"/api/apis/{api_id}", headers=auth).json()["api_definition"]
    org_id = got.pop("org_id")
    assert org_id
    assert got == {**sent, "api_id": api_id}

    changed = {**got, "name": "Orders v2", "another_unknown": True}
    reply = client.put(f"/api/apis/{api_id}", headers=auth, json={"api_definition": changed})
    assert reply.status_code == 200
    assert reply.json() == {"Status": "OK", "Message": "API modified", "Meta": None}
    stored = client.get(f"/api/apis/{api_id}", headers=auth).json()["api_definition"]
    assert stored == {**changed, "org_id": org_id}

    listed = client.get("/api/apis", headers=auth).json()
    assert listed == {"apis": [{"api_definition": {**changed, "org_id": org_id}}], "pages": 1}

    reply = client.delete(f"/api/apis/{api_id}", headers=auth)
    assert reply.json() == {"Status": "OK", "Message": "API deleted", "Meta": None}
    assert client.get(f"/api/apis/{api_id}", headers=auth).status_code == 404
    assert client.delete(f"/api/apis/{api_id}", headers=auth).status_code == 404


def test_given_api_id_is_kept_and_org_id_is_the_users(client, auth):
    api_id = create(client, auth, definition(api_id="orders-1", org_id="someone-elses-org"))
    assert api_id == "orders-1"
    stored = client.get("/api/apis/orders-1", headers=auth).json()["api_definition"]
    assert stored["org_id"] != "someone-elses-org"


def test_paging_newest_first(client, auth):
    # page_size is 3 in these tests
    ids = [create(client, auth, definition(api_id=f"api-{n}", proxy={"listen_path": f"/p{n}"}))
           for n in range(5)]
    first = client.get("/api/apis?p=1", headers=auth).json()
    second = client.get("/api/apis?p=2", headers=auth).json()
    everything = client.get("/api/apis?p=0", headers=auth).json()
    assert first["pages"] == second["pages"] == 2
    assert [api["api_definition"]["api_id"] for api in first["apis"] + second["apis"]] == ids[::-1]
    assert len(everything["apis"]) == 5
    assert client.get("/api/apis?p=9", headers=auth).json()["apis"] == []


def test_unknown_api_is_404(client, auth):
    for method in ("get", "delete"):
        reply = getattr(client, method)("/api/apis/nope", headers=auth)
        assert reply.status_code == 404
        assert reply.json() == {"Status": "Error", "Message": "API not found"}
    reply = client.put("/api/apis/nope", headers=auth, json={"api_definition": definition()})
    assert reply.status_code == 404


def _without(field_path: str) -> dict:
    body = definition()
    *parents, last = field_path.split(".")
    target = body
    for parent in parents:
        target = target[parent]
    del target[last]
    return {"api_definition": body}


INVALID = [
    ("missing-target-url", _without("proxy.target_url"), "proxy.target_url", "is required"),
    ("relative-target-url", {"api_definition": definition(proxy={"target_url": "/just/a/path"})},
     "proxy.target_url", "must be an absolute http(s) URL"),
    ("ftp-target-url", {"api_definition": definition(proxy={"target_url": "ftp://host/"})},
     "proxy.target_url", "must be an absolute http(s) URL"),
    ("listen-path-without-slash", {"api_definition": definition(proxy={"listen_path": "orders"})},
     "proxy.listen_path", "must start with '/'"),
    ("bad-api-id", {"api_definition": definition(api_id="has spaces!")},
     "api_id", "must be 1-128 characters"),
    ("missing-api-definition", {"definition": definition()}, "api_definition", "is required"),
    ("api-definition-not-object", {"api_definition": ["x"]}, "api_definition", "valid dictionary"),
    ("dollar-field-name", {"api_definition": definition(custom_field={"$where": 1})},
     "custom_field.$where", "must not start with '$'"),
    ("huge-integer", {"api_definition": definition(custom_field=2**70)}, "custom_field", "64-bit"),
]


@pytest.mark.parametrize(("body", "field", "message"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_definition_is_a_400_naming_the_field(client, auth, body, field, message):
    reply = client.post("/api/apis", headers=auth, json=body)
    assert reply.status_code == 400, reply.text
    answer = reply.json()
    assert answer["Status"] == "Error"
    assert answer["Message"].startswith(f"{field}: ")
    assert message in answer["Message"]
    assert {"field": field, "message": answer["Message"].removeprefix(f"{field}: ")} in answer["Errors"]


def test_body_that_is_not_json_is_a_400(client, auth):
    reply = client.post("/api/apis", headers={**auth, "content-type": "application/json"}, content=b"{nope")
    assert reply.status_code == 400
    assert reply.json()["Message"] == "(body): is not valid JSON"
    for body in (b"null", b"[]"):
        reply = client.post("/api/apis", headers={**auth, "content-type": "application/json"}, content=body)
        assert reply.status_code == 400
        assert reply.json()["Message"] == "(body): must be a JSON object"
    reply = client.post("/api/apis", headers=auth, data={"api_definition": "x"})  # a form, not JSON
    assert reply.status_code == 400


def test_non_finite_number_is_a_400(client, auth):
    # Python's JSON parser accepts NaN; storing it would break every later listing.
    raw = json.dumps({"api_definition": definition(custom_field=[float("inf")])})
    reply = client.post("/api/apis", headers={**auth, "content-type": "application/json"}, content=raw)
    assert reply.status_code == 400
    assert reply.json()["Message"] == "custom_field.0: must be a finite number"


def test_duplicate_listen_path_is_a_400(client, auth):
    first = create(client, auth, definition())
    for listen_path in ("/orders/", "/orders"):  # the same route, written two ways
        reply = client.post("/api/apis", headers=auth,
                            json={"api_definition": definition(proxy={"listen_path": listen_path})})
        assert reply.status_code == 400
        assert reply.json()["Message"] == f"proxy.listen_path: /orders/ is already used by API {first}"
    # Another domain may use the same path.
    create(client, auth, definition(domain="shop.example.test"))


def test_duplicate_api_id_is_a_400(client, auth):
    create(client, auth, definition(api_id="same"))
    reply = client.post("/api/apis", headers=auth,
                        json={"api_definition": definition(api_id="same", proxy={"listen_path": "/other/"})})
    assert reply.status_code == 400
    assert reply.json()["Message"].startswith("api_id: ")


def test_bad_input_leaves_stored_data_untouched(client, auth, settings):
    api_id = create(client, auth, definition(api_id="keep-me"))
    create(client, auth, definition(api_id="neighbour", proxy={"listen_path": "/neighbour/"}))
    before = copy.deepcopy(stored_apis(settings))

    bad_updates = [
        {"api_definition": definition(api_id=api_id, proxy={"target_url": "nope"})},
        {"api_definition": definition(api_id=api_id, proxy={"listen_path": "/neighbour"})},
        {"api_definition": definition(api_id="another-id")},
        {"api_definition": "not an object"},
        {},
    ]
    for body in bad_updates:
        reply = client.put(f"/api/apis/{api_id}", headers=auth, json=body)
        assert reply.status_code == 400, (body, reply.text)
    json_headers = {**auth, "content-type": "application/json"}
    not_a_number = json.dumps({"api_definition": definition(api_id=api_id, custom_field=float("nan"))})
    for raw in (b'{"api_definition": ', not_a_number.encode()):
        reply = client.put(f"/api/apis/{api_id}", headers=json_headers, content=raw)
        assert reply.status_code == 400, (raw, reply.text)
    reply = client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id=api_id)})
    assert reply.status_code == 400

    assert stored_apis(settings) == before


def test_other_organisations_apis_are_invisible(client, auth, settings):
    api_id = create(client, auth, definition())
    other = other_org_admin(client, settings)

    assert client.get("/api/apis", headers=other).json() == {"apis": [], "pages": 1}
    assert client.get(f"/api/apis/{api_id}", headers=other).status_code == 404
    assert client.put(f"/api/apis/{api_id}", headers=other,
                      json={"api_definition": definition()}).status_code == 404
    assert client.delete(f"/api/apis/{api_id}", headers=other).status_code == 404
    # Routes are shared by every gateway, so they stay unique across organisations.
    reply = client.post("/api/apis", headers=other, json={"api_definition": definition()})
    assert reply.status_code == 400
    assert reply.json()["Message"].startswith("proxy.listen_path: ")
