"""Log in, use the token, log out; every refusal is a Tyk-shaped 401 that reveals nothing."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from pymongo import MongoClient

from tests.integration.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tollhouse.dashboard.auth import token_hash

REFUSED = {"Status": "Error", "Message": "Invalid username or password"}


def test_login_returns_a_token_that_authorises_api_calls(client, settings):
    reply = client.post("/api/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert reply.status_code == 200
    body = reply.json()
    ttl = settings.token_ttl_seconds
    assert time.time() + ttl - 60 < body["expires_at"] <= time.time() + ttl
    token = body["access_token"]
    assert client.get("/api/apis", headers={"authorization": token}).status_code == 200
    assert client.get("/api/apis", headers={"authorization": f"Bearer {token}"}).status_code == 200


def test_login_accepts_email_and_any_case(client):
    reply = client.post("/api/login", json={"email": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD})
    assert reply.status_code == 200


def test_only_the_token_hash_is_stored(client, settings):
    token = login(client)
    sessions = MongoClient(settings.mongo_url)[settings.mongo_database]["sessions"]
    stored = list(sessions.find({}))
    assert [session["_id"] for session in stored] == [token_hash(token)]
    assert token not in repr(stored)


@pytest.mark.parametrize("credentials", [
    {"username": ADMIN_EMAIL, "password": "wrong password"},
    {"username": "nobody@example.test", "password": ADMIN_PASSWORD},
    {"username": ADMIN_EMAIL, "password": "x" * 100},  # longer than bcrypt can take
], ids=["wrong-password", "unknown-user", "overlong-password"])
def test_bad_credentials_get_the_same_401(client, credentials):
    reply = client.post("/api/login", json=credentials)
    assert reply.status_code == 401
    assert reply.json() == REFUSED


def test_login_without_a_name_is_a_400(client):
    reply = client.post("/api/login", json={"password": ADMIN_PASSWORD})
    assert reply.status_code == 400
    assert reply.json()["Status"] == "Error"


@pytest.mark.parametrize("headers", [{}, {"authorization": ""}, {"authorization": "not-a-token"}],
                         ids=["missing", "empty", "unknown"])
def test_api_calls_without_a_valid_token_are_refused(client, headers):
    reply = client.get("/api/apis", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["Status"] == "Error"


def test_expired_token_is_refused(client, settings):
    token = login(client)
    sessions = MongoClient(settings.mongo_url)[settings.mongo_database]["sessions"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    sessions.update_one({"_id": token_hash(token)}, {"$set": {"expires_at": past}})
    reply = client.get("/api/apis", headers={"authorization": token})
    assert reply.status_code == 401
    assert reply.json() == {"Status": "Error", "Message": "Invalid, expired or revoked access token"}


def test_logout_revokes_only_that_token(client):
    first, second = login(client), login(client)
    reply = client.post("/api/logout", headers={"authorization": first})
    assert reply.status_code == 200
    assert reply.json()["Status"] == "OK"
    assert client.get("/api/apis", headers={"authorization": first}).status_code == 401
    assert client.post("/api/logout", headers={"authorization": first}).status_code == 401
    assert client.get("/api/apis", headers={"authorization": second}).status_code == 200
