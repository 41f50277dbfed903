"""The web app's shell: login form, session cookie, CSRF, logout, expiry, lockout, escaping, page headers."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient

from tests.integration.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, USER_PASSWORD, add_user
from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.auth import LOCKED_OUT, LOGIN_FAILED, token_hash
from tollhouse.dashboard.web.session import LOGIN_CSRF_COOKIE, SESSION_COOKIE


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


def web_login(client: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD, next_path: str = "/"):
    page = client.get("/login")
    assert page.status_code == 200
    return client.post("/login", data={"csrf_token": csrf_of(page.text), "email": email, "password": password,
                                       "next": next_path}, follow_redirects=False)


def set_cookie_headers(reply) -> list[str]:
    return reply.headers.get_list("set-cookie")


def session_cookie_header(reply) -> str:
    [header] = [value for value in set_cookie_headers(reply) if value.startswith(SESSION_COOKIE + "=")]
    return header


def signed_in_home(client: TestClient) -> str:
    reply = web_login(client)
    assert reply.status_code == 303 and reply.headers["location"] == "/", reply.text
    home = client.get("/")
    assert home.status_code == 200
    return home.text


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


def test_pages_need_a_session_and_send_to_login_with_next(client):
    reply = client.get("/?x=1", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/login?next=/%3Fx%3D1"


def test_login_sets_a_session_cookie_and_shows_the_home_page(client, database):
    reply = web_login(client)
    assert reply.status_code == 303
    cookie = session_cookie_header(reply).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http, no setting
    token = client.cookies.get(SESSION_COOKIE)
    session = database.sessions.find_one({"_id": token_hash(token)})
    assert session["kind"] == "web" and session["csrf_token"]
    assert database.sessions.count_documents({"_id": token}) == 0  # only the hash is stored
    home = client.get("/")
    assert ADMIN_EMAIL in home.text and "Example Org" in home.text and 'href="/apis"' in home.text
    assert home.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in \
        home.headers["content-security-policy"]


def test_login_redirects_to_a_local_next_only(client):
    assert web_login(client, next_path="/keys?page=2").headers["location"] == "/keys?page=2"
    client.cookies.clear()
    assert web_login(client, next_path="//evil.example/").headers["location"] == "/"


def test_secure_cookies_over_https_and_behind_tls_setting(settings):
    with TestClient(create_app(settings), base_url="https://dashboard.test") as client:
        assert "secure" in session_cookie_header(web_login(client)).lower()
    with TestClient(create_app(settings.model_copy(update={"web_behind_tls": True}))) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()  # the login CSRF cookie too
        # The client keeps Secure cookies for https: hand the CSRF cookie back as a browser behind TLS would.
        token = csrf_of(page.text)
        reply = client.post("/login", data={"csrf_token": token, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                            headers={"cookie": f"{LOGIN_CSRF_COOKIE}={token}"}, follow_redirects=False)
        assert reply.status_code == 303
        assert "secure" in session_cookie_header(reply).lower()


def test_login_form_without_or_with_a_wrong_csrf_token_is_refused_and_signs_nobody_in(client, database):
    client.get("/login")
    for data in ({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                 {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": "forged"}):
        reply = client.post("/login", data=data, follow_redirects=False)
        assert reply.status_code == 403
        assert SESSION_COOKIE not in reply.headers.get("set-cookie", "")
    # A token from the page but no cookie (a cross-site form cannot send ours): refused too.
    token = client.cookies.get(LOGIN_CSRF_COOKIE)
    client.cookies.clear()
    reply = client.post("/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token},
                        follow_redirects=False)
    assert reply.status_code == 403
    assert database.sessions.count_documents({}) == 0


def test_logout_needs_the_csrf_token_and_changes_nothing_without_it(client, database):
    home = signed_in_home(client)
    token = client.cookies.get(SESSION_COOKIE)
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": csrf_of(home) + "x"}):
        reply = client.post("/logout", data=data, follow_redirects=False)
        assert reply.status_code == 403, data
        assert database.sessions.count_documents({"_id": token_hash(token)}) == 1
    assert client.get("/").status_code == 200


def test_logout_revokes_the_session_even_for_a_copied_cookie(client, database, settings):
    home = signed_in_home(client)
    token = client.cookies.get(SESSION_COOKIE)
    reply = client.post("/logout", data={"csrf_token": csrf_of(home)}, follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/login"
    assert database.sessions.count_documents({"_id": token_hash(token)}) == 0
    with TestClient(create_app(settings), cookies={SESSION_COOKIE: token}) as copy:
        assert copy.get("/", follow_redirects=False).status_code == 303


def test_an_expired_session_sends_back_to_login(client, database):
    signed_in_home(client)
    token = client.cookies.get(SESSION_COOKIE)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    database.sessions.update_one({"_id": token_hash(token)}, {"$set": {"expires_at": past}})
    reply = client.get("/", follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


def test_session_lifetime_comes_from_the_setting(settings, database):
    with TestClient(create_app(settings.model_copy(update={"web_session_ttl_seconds": 120}))) as client:
        reply = web_login(client)
        assert "max-age=120" in session_cookie_header(reply).lower()
        session = database.sessions.find_one({"_id": token_hash(client.cookies.get(SESSION_COOKIE))})
        expires_at = session["expires_at"].replace(tzinfo=dt.UTC)
        assert 100 < (expires_at - dt.datetime.now(dt.UTC)).total_seconds() <= 121


def test_an_api_access_token_is_not_a_browser_session(client, auth):
    client.cookies.set(SESSION_COOKIE, auth["authorization"])
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_api_ignores_the_session_cookie(client):
    signed_in_home(client)
    assert client.get("/api/apis").status_code == 401


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    wrong = web_login(client, password="not it")
    unknown = web_login(client, email="nobody@example.test")
    assert wrong.status_code == unknown.status_code == 401
    assert LOGIN_FAILED in wrong.text and LOGIN_FAILED in unknown.text
    assert "nobody@example.test" in unknown.text  # the email is kept in the form, escaped


def test_lockout_through_the_form_refuses_even_the_right_password(settings):
    with TestClient(create_app(settings.model_copy(update={"login_max_failures": 3}))) as client:
        for _ in range(3):
            assert web_login(client, password="wrong").status_code == 401
        locked = web_login(client)
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert LOCKED_OUT in locked.text
        assert SESSION_COOKIE not in client.cookies
        # The API shares the lockout: same throttle.
        api = client.post("/api/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert api.status_code == 429


def test_output_is_escaped(settings):
    with TestClient(create_app(settings.model_copy(update={"org_name": "<i>Acme</i> & Co"}))) as client:
        failed = web_login(client, email="<script>alert(1)</script>@example.test", password="wrong")
        assert "<script>alert(1)" not in failed.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in failed.text
        home = signed_in_home(client)
        assert "<i>Acme</i>" not in home and "&lt;i&gt;Acme&lt;/i&gt; &amp; Co" in home


def test_home_links_only_the_areas_the_user_may_read(client, auth):
    add_user(client, auth, "reader@example.test", {"analytics": "read", "keys": "none"})
    client.cookies.clear()
    assert web_login(client, "reader@example.test", USER_PASSWORD).status_code == 303
    text = client.get("/").text
    assert 'href="/analytics"' in text and 'href="/keys"' not in text and 'href="/apis"' not in text


def test_static_files_are_served_locally(client):
    assert client.get("/static/app.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200
    assert "//cdn" not in client.get("/login").text


def test_a_page_of_an_area_needs_its_permission(settings, client, auth):
    from fastapi import Depends

    from tollhouse.dashboard.web.session import page

    app = client.app

    @app.get("/probe-keys")
    def probe(session=Depends(page("keys", "write"))) -> dict:  # noqa: B008
        return {"ok": True}

    add_user(client, auth, "keys-reader@example.test", {"keys": "read"})
    assert web_login(client, "keys-reader@example.test", USER_PASSWORD).status_code == 303
    refused = client.get("/probe-keys")
    assert refused.status_code == 403 and "write access to keys" in refused.text
    client.cookies.clear()
    signed_in_home(client)  # the admin
    assert client.get("/probe-keys").json() == {"ok": True}
