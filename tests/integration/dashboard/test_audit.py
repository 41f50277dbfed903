"""The audit log: one entry per change (who, what, before/after), never a secret; GET /api/audit filters and pages."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from tests.integration.dashboard.conftest import ADMIN_EMAIL, add_user, definition, user_auth


def entries(client, auth, **params) -> list[dict]:
    reply = client.get("/api/audit", headers=auth, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()["entries"]


def newest(client, auth) -> dict:
    return entries(client, auth)[0]


def test_every_kind_of_change_is_recorded_with_before_and_after(client, auth, settings):
    changes = []  # (area, action, target, check(entry))

    assert client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="orders")}
                       ).status_code == 200
    changes.append(("apis", "create", "orders", lambda e: e["before"] is None and e["after"]["name"] == "Orders"))
    client.put("/api/apis/orders", headers=auth, json={"api_definition": definition(api_id="orders", name="New")})
    changes.append(("apis", "update", "orders",
                    lambda e: (e["before"]["name"], e["after"]["name"]) == ("Orders", "New")))

    policy_id = client.post("/api/portal/policies", headers=auth, json={"name": "Gold"}).json()["Meta"]
    changes.append(("policies", "create", policy_id, lambda e: e["after"]["name"] == "Gold"))
    client.put(f"/api/portal/policies/{policy_id}", headers=auth, json={"name": "Platinum"})
    changes.append(("policies", "update", policy_id,
                    lambda e: (e["before"]["name"], e["after"]["name"]) == ("Gold", "Platinum")))

    created = client.post("/api/keys/basic-user", headers=auth, json={
        "basic_auth_data": {"password": "basic secret"}, "access_rights": {"orders": {"versions": ["Default"]}}})
    assert created.status_code == 200, created.text
    key_hash = created.json()["key_hash"]
    changes.append(("keys", "create", key_hash, lambda e: e["after"]["basic_auth_data"]["password"] ==
                    "(not recorded)"))
    client.put(f"/api/keys/{key_hash}?hashed=true", headers=auth, json={"rate": 7, "per": 1,
               "access_rights": {"orders": {"versions": ["Default"]}}})
    changes.append(("keys", "update", key_hash, lambda e: e["after"]["rate"] == 7))
    client.delete(f"/api/keys/{key_hash}?hashed=true", headers=auth)
    changes.append(("keys", "delete", key_hash, lambda e: e["after"] is None and e["before"]["rate"] == 7))

    user_id = add_user(client, auth, "frank@example.test", {"apis": "read"})
    changes.append(("users", "create", user_id, lambda e: e["after"]["user_permissions"] == {"apis": "read"}))
    client.put(f"/api/users/{user_id}", headers=auth, json={"user_permissions": {"keys": "write"}})
    changes.append(("users", "update", user_id, lambda e: (e["before"]["user_permissions"],
                                                           e["after"]["user_permissions"]) ==
                    ({"apis": "read"}, {"keys": "write"})))
    client.post(f"/api/users/{user_id}/actions/reset", headers=auth, json={"new_password": "a new password here"})
    changes.append(("users", "reset_password", user_id, lambda e: e["after"]["email_address"] == "frank@example.test"))
    client.delete(f"/api/users/{user_id}", headers=auth)
    changes.append(("users", "delete", user_id, lambda e: e["after"] is None))

    client.delete(f"/api/portal/policies/{policy_id}", headers=auth)
    changes.append(("policies", "delete", policy_id, lambda e: e["before"]["name"] == "Platinum"))
    client.delete("/api/apis/orders", headers=auth)
    changes.append(("apis", "delete", "orders", lambda e: e["after"] is None and e["before"]["name"] == "New"))

    recorded = list(reversed(entries(client, auth, p=1) + entries(client, auth, p=2) + entries(client, auth, p=3)
                             + entries(client, auth, p=4) + entries(client, auth, p=5)))
    assert [(e["area"], e["action"], e["target"]) for e in recorded] == [c[:3] for c in changes]
    for entry, (_, _, _, check) in zip(recorded, changes, strict=True):
        assert entry["user_email"] == ADMIN_EMAIL and entry["org_id"] and entry["at"].endswith("Z")
        assert check(entry), entry

    stored = repr(list(MongoClient(settings.mongo_url)[settings.mongo_database]["audit"].find({})))
    for secret in ("basic-user\"", "basic secret", "a new password here", "$2b$"):
        assert secret not in stored, secret
    assert "org_at" in MongoClient(settings.mongo_url)[settings.mongo_database]["audit"].index_information()


def test_refused_changes_are_not_recorded(client, auth):
    client.post("/api/apis", headers=auth, json={"api_definition": {}})
    client.delete("/api/apis/missing", headers=auth)
    assert entries(client, auth) == []


@pytest.mark.parametrize(("params", "expected"), [
    ({"area": "apis"}, ["b", "a"]),
    ({"target": "a"}, ["a"]),
    ({"user": "writer@example.test"}, ["b"]),
    ({"area": "keys"}, []),
], ids=["area", "target", "user", "nothing"])
def test_filters(client, auth, params, expected):
    writer = user_auth(client, auth, "writer@example.test", {"apis": "write"})
    client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="a")})
    client.post("/api/apis", headers=writer, json={"api_definition": definition(api_id="b",
                                                                                proxy={"listen_path": "/b/"})})
    assert [e["target"] for e in entries(client, auth, **params)] == expected


def test_reading_the_log_needs_system_read(client, auth):
    system_reader = user_auth(client, auth, "auditor@example.test", {"system": "read"})
    assert client.get("/api/audit", headers=system_reader).status_code == 200
    other = user_auth(client, auth, "other@example.test", {"apis": "write", "users": "write"})
    assert client.get("/api/audit", headers=other).status_code == 403
