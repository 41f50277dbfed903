"""Login throttling: lockout per email and per address, its expiry, and answers that never reveal an email exists."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from pymongo import MongoClient

from tests.integration.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tollhouse.dashboard.app import create_app

REFUSED = {"Status": "Error", "Message": "Invalid username or password"}
LOCKED = {"Status": "Error", "Message": "Too many failed logins; try again later"}


@pytest.fixture
def throttled(settings):
    small = settings.model_copy(update={"login_max_failures": 3, "login_max_failures_per_ip": 5,
                                        "login_failure_window_seconds": 600, "login_lockout_seconds": 120})
    with TestClient(create_app(small)) as test_client:
        yield test_client


def attempt(client, email: str, password: str):
    return client.post("/api/login", json={"username": email, "password": password})


def counters(settings):
    return MongoClient(settings.mongo_url)[settings.mongo_database]["login_failures"]


@pytest.mark.parametrize("email", [ADMIN_EMAIL, "nobody@example.test"], ids=["known", "unknown"])
def test_lockout_after_n_failures_even_with_the_right_password(throttled, email):
    for _ in range(3):
        reply = attempt(throttled, email, "wrong password")
        assert (reply.status_code, reply.json()) == (401, REFUSED)
    for password in ("wrong password", ADMIN_PASSWORD):
        reply = attempt(throttled, email, password)
        assert (reply.status_code, reply.json()) == (429, LOCKED)
        assert 0 < int(reply.headers["retry-after"]) <= 120


def test_lockout_is_per_email(throttled):
    for _ in range(3):
        attempt(throttled, "nobody@example.test", "wrong password")
    assert attempt(throttled, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200


def test_lockout_expires(throttled, settings):
    for _ in range(3):
        attempt(throttled, ADMIN_EMAIL, "wrong password")
    assert attempt(throttled, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    counters(settings).update_many({}, {"$set": {"locked_until": past, "window_start": past - dt.timedelta(hours=1)}})
    assert attempt(throttled, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200


def test_a_success_clears_the_emails_count(throttled):
    for _ in range(2):
        attempt(throttled, ADMIN_EMAIL, "wrong password")
    assert attempt(throttled, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200
    for _ in range(2):
        assert attempt(throttled, ADMIN_EMAIL, "wrong password").status_code == 401
    assert attempt(throttled, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200


def test_one_address_is_locked_after_its_own_limit(throttled):
    for index in range(5):  # five different emails, each under its own limit
        assert attempt(throttled, f"spray{index}@example.test", "wrong password").status_code == 401
    reply = attempt(throttled, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert (reply.status_code, reply.json()) == (429, LOCKED)


def test_counters_are_stored_with_a_ttl_and_without_the_email(throttled, settings):
    attempt(throttled, ADMIN_EMAIL, "wrong password")
    stored = list(counters(settings).find({}))
    assert {document["_id"].split(":")[0] for document in stored} == {"email", "ip"}
    assert ADMIN_EMAIL not in repr(stored)
    assert counters(settings).index_information()["expiry_ttl"]["expireAfterSeconds"] == 0


def test_unknown_email_and_wrong_password_answer_alike(client):
    known = attempt(client, ADMIN_EMAIL, "wrong password")
    unknown = attempt(client, "nobody@example.test", "wrong password")
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content) == (401, known.content)
    assert known.json() == REFUSED
