"""First run without the deploy's admin: /bootstrap with the one-time code from the log, once, then login."""

from __future__ import annotations

import logging
import re

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from pymongo import MongoClient

from tests.integration.dashboard.test_web import csrf_of
from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.settings import DashboardSettings
from tollhouse.dashboard.web.session import SESSION_COOKIE

PASSWORD = "a first admin password"
GOOD = {"org_name": "Acme", "email": "Root@Acme.test", "password": PASSWORD, "password_again": PASSWORD}


@pytest.fixture
def fresh_settings(settings) -> DashboardSettings:
    return settings.model_copy(update={"org_name": "", "admin_email": "", "admin_password_hash": ""})


@pytest.fixture
def fresh(fresh_settings, caplog):
    """A dashboard with no admin yet, and the bootstrap code it logged."""
    caplog.set_level(logging.WARNING, logger="tollhouse.dashboard")
    with TestClient(create_app(fresh_settings)) as client:
        [code] = re.findall(r"one-time code (\S+)", caplog.text)
        client.code = code
        yield client


@pytest.fixture
def database(fresh_settings):
    return MongoClient(fresh_settings.mongo_url)[fresh_settings.mongo_database]


def submit(client: TestClient, **changes):
    page = client.get("/bootstrap")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), "code": client.code, **GOOD, **changes}
    return client.post("/bootstrap", data=data, follow_redirects=False)


def field_error(text: str, field: str) -> str:
    marker = f'data-testid="error-{field}">'
    assert marker in text, f"no error shown for {field}: {text}"
    return text.split(marker, 1)[1].split("</p>", 1)[0]


def test_login_sends_to_bootstrap_while_no_admin_exists(fresh):
    reply = fresh.get("/login", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/bootstrap"
    assert fresh.get("/", follow_redirects=True).url.path == "/bootstrap"


def test_bootstrap_creates_the_organisation_and_admin_and_signs_in(fresh, database):
    reply = submit(fresh)
    assert reply.status_code == 303 and reply.headers["location"] == "/"
    assert SESSION_COOKIE in reply.cookies
    home = fresh.get("/")
    assert home.status_code == 200 and 'data-testid="organisation">Acme<' in home.text
    [user] = database.users.find({})
    [org] = database.organisations.find({})
    assert user["email"] == "root@acme.test" and user["is_admin"] and user["org_id"] == org["_id"]
    assert user["password_hash"].startswith("$2b$12$")
    assert database.bootstrap_codes.count_documents({}) == 0
    [entry] = database.audit.find({"action": "bootstrap"})
    assert entry["user_email"] == "root@acme.test" and "password_hash" not in str(entry)
    # Done once: the page now sends to login, and a second bootstrap (even with the code) creates nothing.
    fresh.cookies.clear()
    assert fresh.get("/bootstrap", follow_redirects=False).headers["location"] == "/login"
    assert fresh.get("/login").status_code == 200
    login = fresh.post("/api/login", json={"username": "root@acme.test", "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"code": "0000-0000-0000-0000"}, "code", "wrong or was already used"),
    ({"code": ""}, "code", "Enter the one-time code"),
    ({"org_name": ""}, "org_name", "organisation"),
    ({"email": "not an email"}, "email", "Enter an email address"),
    ({"password": "short", "password_again": "short"}, "password", "at least 12 characters"),
    ({"password_again": "something else entirely"}, "password_again", "differ"),
])
def test_bad_input_is_shown_next_to_its_field_and_creates_nothing(fresh, database, changes, field, expected):
    reply = submit(fresh, **changes)
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    assert database.users.count_documents({}) == 0 and database.organisations.count_documents({}) == 0
    if field != "code":  # the code is only used up by a bootstrap that succeeds
        assert database.bootstrap_codes.count_documents({}) == 1
    assert 'value="Acme"' in reply.text or changes.get("org_name") == ""
    assert PASSWORD not in reply.text  # passwords are never echoed back
    assert submit(fresh).status_code == 303  # the right code still works afterwards


def test_a_form_without_its_csrf_cookie_token_is_refused(fresh, database):
    fresh.get("/bootstrap")
    for token in (None, "forged"):
        data = {"code": fresh.code, **GOOD} | ({"csrf_token": token} if token else {})
        assert fresh.post("/bootstrap", data=data, follow_redirects=False).status_code == 403
    assert database.users.count_documents({}) == 0


def test_output_is_escaped(fresh):
    reply = submit(fresh, org_name="<script>alert(1)</script>", password="x", password_again="x")
    assert "<script>alert(1)</script>" not in reply.text and "&lt;script&gt;" in reply.text


def test_each_start_without_an_admin_issues_a_new_code_and_the_old_one_dies(fresh_settings, caplog, database):
    caplog.set_level(logging.WARNING, logger="tollhouse.dashboard")
    with TestClient(create_app(fresh_settings)):
        pass
    with TestClient(create_app(fresh_settings)) as client:
        first, second = re.findall(r"one-time code (\S+)", caplog.text)
        assert first != second
        client.code = first
        assert "wrong or was already used" in field_error(submit(client).text, "code")
        client.code = second
        assert submit(client).status_code == 303


def test_settings_with_the_admin_create_it_and_issue_no_code(settings, caplog, database):
    caplog.set_level(logging.WARNING, logger="tollhouse.dashboard")
    with TestClient(create_app(settings)) as client:
        assert client.get("/bootstrap", follow_redirects=False).headers["location"] == "/login"
    assert "one-time code" not in caplog.text and database.bootstrap_codes.count_documents({}) == 0


@pytest.mark.parametrize("missing", ["org_name", "admin_email", "admin_password_hash"])
def test_the_admin_settings_come_all_three_or_none(settings, missing):
    values = settings.model_dump() | {missing: ""}
    with pytest.raises(ValidationError, match=missing):
        DashboardSettings(**values)
