"""/api/portal/policies as Tyk's dashboard answers it: CRUD, paging, validation, org scoping, notifications."""

from __future__ import annotations

import copy
import json
import re

import pytest
from pymongo import MongoClient

from tests.integration.dashboard.conftest import NODE_SECRET, definition, other_org_admin, received
from tollhouse.core import notify
from tollhouse.core.session import parse_policy


def policy(**overrides) -> dict:
    """A valid policy granting the API "orders", with a field Tollhouse does not know (it must survive)."""
    return {"name": "Gold", "rate": 100, "per": 60, "quota_max": -1,
            "access_rights": {"orders": {"versions": ["Default"], "allowed_urls": [{"url": "/items.*",
                                                                                     "methods": ["GET"]}]}},
            "x_vendor": {"keep": [1, 2.5, None]}, **overrides}


@pytest.fixture
def orders(client, auth) -> str:
    reply = client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="orders")})
    assert reply.status_code == 200, reply.text
    return "orders"


def create(client, auth, body: dict) -> str:
    reply = client.post("/api/portal/policies", headers=auth, json=body)
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["Status"] == "OK"
    assert answer["Message"] == answer["Meta"]
    return answer["Meta"]


def stored_policies(settings) -> list[dict]:
    return list(MongoClient(settings.mongo_url)[settings.mongo_database]["policies"].find({}).sort("_id"))


def test_round_trip_keeps_every_field(client, auth, orders):
    sent = policy()
    policy_id = create(client, auth, sent)
    assert re.fullmatch(r"[0-9a-f]{24}", policy_id)  # an ObjectId's hex, as Tyk generates

    got = client.get(f"/api/portal/policies/{policy_id}", headers=auth).json()
    org_id = got.pop("org_id")
    created = got.pop("date_created")
    assert org_id and created and got.pop("last_updated")
    expected_rights = {"orders": {**sent["access_rights"]["orders"], "api_id": "orders"}}
    assert got == {**sent, "access_rights": expected_rights, "_id": policy_id, "id": policy_id}

    changed = {**got, "name": "Platinum", "rate": 1000, "another_unknown": True}
    reply = client.put(f"/api/portal/policies/{policy_id}", headers=auth, json=changed)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"Status": "OK", "Message": "Data updated", "Meta": None}
    stored = client.get(f"/api/portal/policies/{policy_id}", headers=auth).json()
    assert stored.pop("last_updated") >= created
    assert stored == {**changed, "org_id": org_id, "date_created": created}

    listed = client.get("/api/portal/policies", headers=auth).json()
    assert listed["Pages"] == 1
    assert [item["id"] for item in listed["Data"]] == [policy_id]
    assert listed["Data"][0]["name"] == "Platinum"

    reply = client.delete(f"/api/portal/policies/{policy_id}", headers=auth)
    assert reply.json() == {"Status": "OK", "Message": "Data deleted", "Meta": None}
    assert client.get(f"/api/portal/policies/{policy_id}", headers=auth).status_code == 404
    assert client.delete(f"/api/portal/policies/{policy_id}", headers=auth).status_code == 404


@pytest.mark.parametrize("field", ["id", "_id"])
def test_given_id_is_kept_and_org_id_is_the_users(client, auth, orders, field):
    policy_id = create(client, auth, policy(**{field: "gold-1"}, org_id="someone-elses-org"))
    assert policy_id == "gold-1"
    stored = client.get("/api/portal/policies/gold-1", headers=auth).json()
    assert stored["id"] == stored["_id"] == "gold-1"
    assert stored["org_id"] != "someone-elses-org"


def test_gateways_read_the_stored_document(client, auth, orders):
    policy_id = create(client, auth, policy(id="gold"))
    reply = client.get("/system/policies", headers={"authorization": NODE_SECRET})
    assert reply.status_code == 200
    [document] = reply.json()["Message"]
    assert document["_id"] == document["id"] == policy_id
    parsed = parse_policy(document)
    assert parsed.rate == 100 and parsed.access_rights["orders"].api_id == "orders"


def test_paging_newest_first(client, auth, orders):
    # page_size is 3 in these tests
    ids = [create(client, auth, policy(id=f"policy-{n}")) for n in range(5)]
    first = client.get("/api/portal/policies?p=1", headers=auth).json()
    second = client.get("/api/portal/policies?p=2", headers=auth).json()
    everything = client.get("/api/portal/policies?p=0", headers=auth).json()
    assert first["Pages"] == second["Pages"] == 2
    assert [item["id"] for item in first["Data"] + second["Data"]] == ids[::-1]
    assert len(everything["Data"]) == 5
    assert client.get("/api/portal/policies?p=9", headers=auth).json() == {"Data": [], "Pages": 2}


def test_unknown_policy_is_404(client, auth, orders):
    for method in ("get", "delete"):
        reply = getattr(client, method)("/api/portal/policies/nope", headers=auth)
        assert reply.status_code == 404
        assert reply.json() == {"Status": "Error", "Message": "Policy not found"}
    assert client.put("/api/portal/policies/nope", headers=auth, json=policy()).status_code == 404


INVALID = [
    ("rate-not-a-number", policy(rate="fast"), "rate", "valid number"),
    ("negative-per", policy(per=-1), "per", "greater than or equal to 0"),
    ("quota-below-minus-one", policy(quota_max=-2), "quota_max", "greater than or equal to -1"),
    ("bad-id", policy(id="has spaces!"), "id", "should match pattern"),
    ("id-not-a-string", policy(id=5), "id", "must be a string"),
    ("ids-disagree", policy(id="a", _id="b"), "_id", "must be the same as id"),
    ("unknown-api", policy(access_rights={"billing": {}}), "access_rights.billing",
     "API billing does not exist"),
    ("api-id-mismatch", policy(access_rights={"orders": {"api_id": "billing"}}), "access_rights.orders.api_id",
     "does not match its entry's name"),
    ("bad-url-regex", policy(access_rights={"orders": {"allowed_urls": [{"url": "("}]}}),
     "access_rights.orders.allowed_urls.0.url", "not a valid regular expression"),
    ("partitions-not-object", policy(partitions=[]), "partitions", "valid dictionary"),
    ("dollar-field-name", policy(x_vendor={"$where": 1}), "x_vendor.$where", "must not start with '$'"),
    ("huge-integer", policy(x_vendor=2**70), "x_vendor", "64-bit"),
    ("body-not-object", ["x"], "(body)", "must be a JSON object"),
]


@pytest.mark.parametrize(("body", "field", "message"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_policy_is_a_400_naming_the_field(client, auth, orders, body, field, message):
    reply = client.post("/api/portal/policies", headers=auth, json=body)
    assert reply.status_code == 400, reply.text
    answer = reply.json()
    assert answer["Status"] == "Error"
    assert answer["Message"].startswith(f"{field}: ")
    assert message in answer["Message"]
    assert {"field": field, "message": answer["Message"].removeprefix(f"{field}: ")} in answer["Errors"]


def test_non_finite_number_is_a_400(client, auth, orders):
    raw = json.dumps(policy(x_vendor=[float("nan")]))
    reply = client.post("/api/portal/policies", headers={**auth, "content-type": "application/json"}, content=raw)
    assert reply.status_code == 400
    assert reply.json()["Message"] == "x_vendor.0: must be a finite number"


def test_duplicate_id_is_a_400(client, auth, orders):
    create(client, auth, policy(id="same"))
    reply = client.post("/api/portal/policies", headers=auth, json=policy(_id="same"))
    assert reply.status_code == 400
    assert reply.json()["Message"] == "id: a policy with id same already exists"


def test_bad_input_leaves_stored_data_untouched(client, auth, orders, settings):
    policy_id = create(client, auth, policy(id="keep-me"))
    create(client, auth, policy(id="neighbour"))
    before = copy.deepcopy(stored_policies(settings))

    bad_updates = [
        policy(rate=-5),
        policy(id="neighbour"),
        policy(_id="another-id"),
        policy(access_rights={"nope": {}}),
        policy(x_vendor={"$set": 1}),
        "not an object",
    ]
    for body in bad_updates:
        reply = client.put(f"/api/portal/policies/{policy_id}", headers=auth, json=body)
        assert reply.status_code == 400, (body, reply.text)
    reply = client.put(f"/api/portal/policies/{policy_id}", headers={**auth, "content-type": "application/json"},
                       content=b'{"name": ')
    assert reply.status_code == 400
    assert client.post("/api/portal/policies", headers=auth, json=policy(id=policy_id)).status_code == 400

    assert stored_policies(settings) == before


def test_other_organisations_policies_are_invisible(client, auth, orders, settings):
    policy_id = create(client, auth, policy())
    other = other_org_admin(client, settings)

    assert client.get("/api/portal/policies", headers=other).json() == {"Data": [], "Pages": 1}
    assert client.get(f"/api/portal/policies/{policy_id}", headers=other).status_code == 404
    assert client.put(f"/api/portal/policies/{policy_id}", headers=other,
                      json=policy(access_rights={})).status_code == 404
    assert client.delete(f"/api/portal/policies/{policy_id}", headers=other).status_code == 404
    # Another organisation's API cannot be granted.
    reply = client.post("/api/portal/policies", headers=other, json=policy())
    assert reply.status_code == 400
    assert reply.json()["Message"] == "access_rights.orders: API orders does not exist in this organisation"
    # Ids are shared by every gateway, so they stay unique across organisations.
    reply = client.post("/api/portal/policies", headers=other, json=policy(id=policy_id, access_rights={}))
    assert reply.status_code == 400
    assert reply.json()["Message"].startswith("id: ")


ROUTES = {"list": ("get", "/api/portal/policies"), "create": ("post", "/api/portal/policies"),
          "read": ("get", "/api/portal/policies/x"), "replace": ("put", "/api/portal/policies/x"),
          "delete": ("delete", "/api/portal/policies/x")}


@pytest.mark.parametrize(("method", "path"), ROUTES.values(), ids=ROUTES.keys())
@pytest.mark.parametrize("headers", [{}, {"authorization": "not-a-token"}], ids=["missing", "unknown"])
def test_a_user_token_is_required(client, method, path, headers):
    kwargs = {"json": policy()} if method in ("post", "put") else {}
    reply = client.request(method.upper(), path, headers=headers, **kwargs)
    assert reply.status_code == 401
    assert reply.json()["Status"] == "Error"


def test_every_change_is_announced(client, auth, orders, subscriber):
    policy_id = create(client, auth, policy())
    client.put(f"/api/portal/policies/{policy_id}", headers=auth, json=policy(name="Renamed"))
    client.post("/api/portal/policies", headers=auth, json=policy(rate=-1))  # refused: not announced
    client.delete(f"/api/portal/policies/{policy_id}", headers=auth)
    assert received(subscriber, 3) == [notify.Notification(notify.POLICY_CHANGED, policy_id)] * 3
    assert subscriber.get_message(timeout=0.3) is None
