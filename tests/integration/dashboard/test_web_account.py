"""The account screen: who one is and one's access; changing one's own password (login's check, throttle, CSRF)."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from tests.integration.dashboard.conftest import USER_PASSWORD, add_user, login
from tests.integration.dashboard.test_web import csrf_of, web_login
from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.auth import LOCKED_OUT, password_matches, token_hash
from tollhouse.dashboard.web.session import SESSION_COOKIE

EMAIL = "gina@example.test"
NEW_PASSWORD = "gina's brand new password"


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


def signed_in(client, email: str = EMAIL) -> str:
    """A web session of ``email``; the account page's CSRF token."""
    client.cookies.clear()
    assert web_login(client, email, USER_PASSWORD).status_code == 303
    page = client.get("/account")
    assert page.status_code == 200
    return csrf_of(page.text)


def change(client, token: str | None, current: str = USER_PASSWORD, new: str = NEW_PASSWORD,
           again: str | None = None):
    data = {"current_password": current, "new_password": new, "new_password_again": new if again is None else again}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/account/password", data=data, follow_redirects=False)


def field_error(text: str, field: str) -> str:
    marker = f'data-testid="error-{field}">'
    assert marker in text, f"no error shown for {field}"
    return html.unescape(text.split(marker, 1)[1].split("</p>", 1)[0])


def stored_hash(database, email: str = EMAIL) -> str:
    return database.users.find_one({"email": email})["password_hash"]


def test_the_page_needs_a_session(client):
    reply = client.get("/account", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/login?next=/account"


def test_the_page_shows_email_organisation_admin_flag_and_access(client, auth):
    add_user(client, auth, EMAIL, {"analytics": "read", "keys": "write"})
    signed_in(client)
    page = client.get("/account").text
    assert f'data-testid="account-email">{EMAIL}<' in page
    assert 'data-testid="account-organisation">Example Org<' in page
    assert 'data-testid="account-admin">no<' in page
    assert 'data-area="analytics">read<' in page and 'data-area="keys">write<' in page
    assert 'data-area="apis">none<' in page and 'data-area="system">none<' in page


def test_an_email_with_markup_is_escaped(client, auth):
    add_user(client, auth, "<script>alert(1)</script>@example.test")
    signed_in(client, "<script>alert(1)</script>@example.test")
    page = client.get("/account").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;@example.test" in page


def test_changing_the_password_keeps_this_session_and_ends_the_others(client, auth, database, settings):
    user_id = add_user(client, auth, EMAIL)
    api_token = login(client, EMAIL, USER_PASSWORD)
    with TestClient(create_app(settings)) as elsewhere:  # another browser of the same user
        assert web_login(elsewhere, EMAIL, USER_PASSWORD).status_code == 303
        token = signed_in(client)
        this_session = client.cookies.get(SESSION_COOKIE)
        assert database.sessions.count_documents({"user_id": user_id}) == 3

        reply = change(client, token)
        assert reply.status_code == 303 and reply.headers["location"] == "/account?changed=1"
        assert "your other sessions were signed out" in client.get(reply.headers["location"]).text
        assert [session["_id"] for session in database.sessions.find({"user_id": user_id})] == \
            [token_hash(this_session)]
        assert elsewhere.get("/", follow_redirects=False).status_code == 303
    assert client.get("/api/apis", headers={"authorization": api_token}).status_code == 401
    assert password_matches(NEW_PASSWORD, stored_hash(database))
    assert client.post("/api/login", json={"username": EMAIL, "password": USER_PASSWORD}).status_code == 401
    login(client, EMAIL, NEW_PASSWORD)
    [entry] = database.audit.find({"action": "change_password"})
    assert (entry["user_email"], entry["area"], entry["target"]) == (EMAIL, "users", user_id)
    for secret in (USER_PASSWORD, NEW_PASSWORD, "$2b$", "password_hash"):
        assert secret not in repr(entry), secret


@pytest.mark.parametrize(("current", "new", "again", "field", "expected"), [
    ("", NEW_PASSWORD, None, "current_password", "Enter your current password"),
    (USER_PASSWORD, "short", None, "new_password", "at least 12 characters"),
    (USER_PASSWORD, "é" * 40, None, "new_password", "at most 72 bytes"),
    (USER_PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "new_password_again", "differ"),
], ids=["no-current", "too-short", "too-long", "mismatch"])
def test_bad_input_changes_nothing_and_counts_no_failed_login(client, auth, database, current, new, again, field,
                                                              expected):
    add_user(client, auth, EMAIL)
    token = signed_in(client)
    before = stored_hash(database)
    reply = change(client, token, current, new, again)
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    assert NEW_PASSWORD not in reply.text and USER_PASSWORD not in reply.text  # passwords never come back
    assert stored_hash(database) == before
    assert database.login_failures.count_documents({}) == 0
    assert database.audit.count_documents({"action": "change_password"}) == 0


def test_a_wrong_current_password_counts_as_a_failed_login_and_locks_out(settings):
    with TestClient(create_app(settings.model_copy(update={"login_max_failures": 3}))) as client:
        admin = {"authorization": login(client)}
        add_user(client, admin, EMAIL)
        database = client.app.state.store.client[settings.mongo_database]
        token = signed_in(client)
        before = stored_hash(database)
        for _ in range(3):
            reply = change(client, token, current="not my password")
            assert reply.status_code == 400
            assert "not your current password" in field_error(reply.text, "current_password")
        locked = change(client, token)  # the right password, but locked now
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert LOCKED_OUT in field_error(locked.text, "current_password")
        assert stored_hash(database) == before
        # The very lockout of the login form and the API.
        assert client.post("/api/login", json={"username": EMAIL, "password": USER_PASSWORD}).status_code == 429


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_changes(client, auth, database, token):
    add_user(client, auth, EMAIL)
    signed_in(client)
    before = (stored_hash(database), database.sessions.count_documents({}))
    assert change(client, token).status_code == 403
    assert (stored_hash(database), database.sessions.count_documents({})) == before
    assert database.audit.count_documents({"action": "change_password"}) == 0
