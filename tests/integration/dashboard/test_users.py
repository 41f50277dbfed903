"""/api/users: create, read, change, reset and delete users in the caller's organisation, and the rules."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from tests.integration.dashboard.conftest import ADMIN_EMAIL, USER_PASSWORD, add_user, login, user_auth

NEW_PASSWORD = "a brand new password"


def users_of(client, auth) -> list[dict]:
    return client.get("/api/users", headers=auth, params={"p": 0}).json()["users"]


def admin_id(client, auth) -> str:
    return next(user["id"] for user in users_of(client, auth) if user["email_address"] == ADMIN_EMAIL)


def test_create_read_list_without_password_hashes(client, auth):
    user_id = add_user(client, auth, "Alice@Example.test", {"apis": "write", "keys": "read"})
    got = client.get(f"/api/users/{user_id}", headers=auth).json()
    assert got == {"id": user_id, "email_address": "alice@example.test", "org_id": got["org_id"], "is_admin": False,
                   "user_permissions": {"apis": "write", "keys": "read", "policies": "none", "analytics": "none",
                                        "users": "none", "system": "none"}}
    listed = users_of(client, auth)
    assert [user["email_address"] for user in listed] == [ADMIN_EMAIL, "alice@example.test"]
    assert listed[0]["user_permissions"] == dict.fromkeys(listed[0]["user_permissions"], "write")
    assert "password" not in client.get("/api/users", headers=auth).text
    assert login(client, "ALICE@example.test", USER_PASSWORD)


@pytest.mark.parametrize("email", ["bob@example.test", "BOB@EXAMPLE.TEST", "Bob@Example.Test"],
                         ids=["same", "upper", "mixed"])
def test_emails_are_unique_whatever_the_case(client, auth, email):
    add_user(client, auth, "bob@example.test")
    reply = client.post("/api/users", headers=auth, json={"email_address": email, "password": USER_PASSWORD})
    assert reply.status_code == 409
    assert reply.json() == {"Status": "Error", "Message": "A user with the email bob@example.test already exists"}


@pytest.mark.parametrize(("body", "field"), [
    ({"email_address": "c@example.test", "password": "too short"}, "password"),
    ({"email_address": "c@example.test", "password": "é" * 37}, "password"),  # 74 bytes, 37 characters
    ({"email_address": "no-at-sign", "password": USER_PASSWORD}, "email_address"),
    ({"email_address": "c@example.test", "password": USER_PASSWORD, "user_permissions": {"gateways": "read"}},
     "user_permissions.gateways"),
    ({"email_address": "c@example.test", "password": USER_PASSWORD, "user_permissions": {"apis": "admin"}},
     "user_permissions.apis"),
], ids=["short", "over-72-bytes", "email", "unknown-area", "unknown-mode"])
def test_invalid_users_are_400_naming_the_field(client, auth, body, field):
    reply = client.post("/api/users", headers=auth, json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["Errors"][0]["field"].startswith(field)


def test_update_permissions_and_reset_password(client, auth):
    user_id = add_user(client, auth, "dana@example.test", {"apis": "read"})
    token = {"authorization": login(client, "dana@example.test", USER_PASSWORD)}
    reply = client.put(f"/api/users/{user_id}", headers=auth, json={"user_permissions": {"keys": "write"}})
    assert reply.status_code == 200
    assert client.get(f"/api/users/{user_id}", headers=auth).json()["user_permissions"]["keys"] == "write"
    reply = client.post(f"/api/users/{user_id}/actions/reset", headers=auth, json={"new_password": NEW_PASSWORD})
    assert reply.status_code == 200
    assert client.get("/api/keys", headers=token).status_code == 401  # the reset revoked its tokens
    assert client.post("/api/login", json={"username": "dana@example.test", "password": USER_PASSWORD}
                       ).status_code == 401
    assert login(client, "dana@example.test", NEW_PASSWORD)


def test_nobody_deletes_themselves_and_the_last_admin_stays(client, auth):
    me = admin_id(client, auth)
    reply = client.delete(f"/api/users/{me}", headers=auth)
    assert (reply.status_code, reply.json()["Message"]) == (409, "You cannot delete yourself")
    reply = client.put(f"/api/users/{me}", headers=auth, json={"is_admin": False})
    assert (reply.status_code, reply.json()["Message"]) == (409, "The organisation's last admin cannot lose the "
                                                                 "admin flag")
    second = add_user(client, auth, "second-admin@example.test", is_admin=True)
    second_auth = {"authorization": login(client, "second-admin@example.test", USER_PASSWORD)}
    assert client.delete(f"/api/users/{me}", headers=second_auth).status_code == 200
    reply = client.delete(f"/api/users/{second}", headers=second_auth)
    assert reply.status_code == 409
    assert client.get("/api/users", headers=auth).status_code == 401  # the deleted admin's token is revoked


def test_users_write_never_escalates(client, auth):
    manager = user_auth(client, auth, "manager@example.test", {"users": "write", "apis": "read"})
    me = admin_id(client, auth)
    attempts = [
        ("POST", "/api/users", {"email_address": "x@example.test", "password": USER_PASSWORD, "is_admin": True}),
        ("POST", "/api/users", {"email_address": "x@example.test", "password": USER_PASSWORD,
                                "user_permissions": {"apis": "write"}}),
        ("PUT", f"/api/users/{me}", {"user_permissions": {}}),
        ("POST", f"/api/users/{me}/actions/reset", {"new_password": NEW_PASSWORD}),
        ("DELETE", f"/api/users/{me}", None),
    ]
    for method, path, body in attempts:
        reply = client.request(method, path, headers=manager, json=body)
        assert reply.status_code == 403, (method, path, reply.text)
    reply = client.post("/api/users", headers=manager, json={
        "email_address": "y@example.test", "password": USER_PASSWORD, "user_permissions": {"apis": "read"}})
    assert reply.status_code == 200


def test_other_organisations_users_are_invisible(client, auth, settings):
    user_id = add_user(client, auth, "erin@example.test")
    db = MongoClient(settings.mongo_url)[settings.mongo_database]
    db["users"].update_one({"_id": user_id}, {"$set": {"org_id": "other-org"}})
    assert [user["email_address"] for user in users_of(client, auth)] == [ADMIN_EMAIL]
    for method in ("GET", "PUT", "DELETE"):
        assert client.request(method, f"/api/users/{user_id}", headers=auth, json={}).status_code == 404
