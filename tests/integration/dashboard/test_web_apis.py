"""The APIs screens: list and the new-API form (validation next to the field, CSRF, permissions, creation)."""

from __future__ import annotations

import html

import pytest

from tests.integration.dashboard.conftest import USER_PASSWORD, add_user, received
from tests.integration.dashboard.test_web import csrf_of, signed_in_home, web_login
from tollhouse.core import notify

GOOD = {"name": "Orders", "listen_path": "/orders/", "target_url": "http://127.0.0.1:9/", "auth": "keyless",
        "rate": "", "per": "", "strip_listen_path": "on"}


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


def form_token(client) -> str:
    page = client.get("/apis/new")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def post_new(client, token: str | None, **changes):
    data = {**GOOD, **changes}
    data = {key: value for key, value in data.items() if value is not None}
    if token is not None:
        data["csrf_token"] = token
    return client.post("/apis/new", data=data, follow_redirects=False)


def field_error(text: str, field: str) -> str:
    marker = f'data-testid="error-{field}">'
    assert marker in text, f"no error shown for {field}"
    return html.unescape(text.split(marker, 1)[1].split("</p>", 1)[0])


def test_the_list_is_empty_then_the_form_is_offered(client):
    signed_in_home(client)
    page = client.get("/apis")
    assert page.status_code == 200 and 'data-testid="no-apis"' in page.text
    assert 'href="/apis/new"' in page.text
    form = client.get("/apis/new")
    assert form.status_code == 200
    for name in ("name", "listen_path", "target_url", "auth", "rate", "per", "strip_listen_path", "csrf_token"):
        assert f'name="{name}"' in form.text


def test_pages_need_a_session(client):
    for path in ("/apis", "/apis/new"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/apis")


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"name": ""}, "name", "at least 1 character"),
    ({"listen_path": "orders"}, "listen_path", "must start with '/'"),
    ({"listen_path": "/a b/"}, "listen_path", "plain path"),
    ({"target_url": "ftp://example.test/"}, "target_url", "absolute http(s) URL"),
    ({"target_url": ""}, "target_url", "absolute http(s) URL"),
    ({"auth": "magic"}, "auth", "keyless or auth token"),
    ({"rate": "ten", "per": "60"}, "rate", "greater than 0"),
    ({"rate": "10", "per": "-1"}, "per", "greater than 0"),
    ({"rate": "10", "per": ""}, "per", "needs both rate and per"),
])
def test_a_bad_field_is_shown_next_to_it_with_the_values_kept_and_nothing_stored(client, database, changes, field,
                                                                                  expected):
    signed_in_home(client)
    reply = post_new(client, form_token(client), **changes)
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    kept = {**GOOD, **changes}
    for name in ("name", "listen_path", "target_url", "rate", "per"):
        assert f'name="{name}" type="text"' in reply.text or f'id="{name}"' in reply.text
        assert f'value="{html.escape(kept[name])}"' in reply.text, name
    assert database.apis.count_documents({}) == 0
    assert client.app.state.store.audit.count_documents({}) == 0


def test_a_taken_listen_path_is_shown_next_to_the_listen_path(client, database):
    signed_in_home(client)
    assert post_new(client, form_token(client)).status_code == 303
    reply = post_new(client, form_token(client), name="Other", listen_path="/orders")
    assert reply.status_code == 400
    assert "/orders/ is already used by API" in field_error(reply.text, "listen_path")
    assert database.apis.count_documents({}) == 1


def test_values_are_escaped_when_the_form_comes_back(client):
    signed_in_home(client)
    reply = post_new(client, form_token(client), name='"><script>alert(1)</script>', listen_path="nope")
    assert reply.status_code == 400
    assert "<script>alert(1)" not in reply.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_is_stored(client, database, token):
    signed_in_home(client)
    reply = post_new(client, token)
    assert reply.status_code == 403
    assert database.apis.count_documents({}) == 0


def test_a_read_only_user_sees_no_new_button_and_cannot_post(client, auth, database):
    add_user(client, auth, "api-reader@example.test", {"apis": "read"})
    client.cookies.clear()
    assert web_login(client, "api-reader@example.test", USER_PASSWORD).status_code == 303
    listing = client.get("/apis")
    assert listing.status_code == 200 and "New API" not in listing.text and 'href="/apis/new"' not in listing.text
    assert client.get("/apis/new").status_code == 403
    own_token = csrf_of(client.get("/").text)  # the reader's own, valid CSRF token (the logout form)
    reply = post_new(client, own_token)
    assert reply.status_code == 403 and "write access to apis" in reply.text
    assert database.apis.count_documents({}) == 0


def test_no_access_to_apis_is_refused_the_list(client, auth):
    add_user(client, auth, "nobody@example.test", {"apis": "none", "analytics": "read"})
    client.cookies.clear()
    assert web_login(client, "nobody@example.test", USER_PASSWORD).status_code == 303
    assert client.get("/apis").status_code == 403


def test_creating_stores_audits_notifies_and_lists_the_api(client, auth, database, subscriber):
    signed_in_home(client)
    reply = post_new(client, form_token(client), name="Health <check>", listen_path="/test_health_check/",
                     target_url="http://127.0.0.1:9/hello", auth="token", rate="100", per="60",
                     strip_listen_path=None)
    assert reply.status_code == 303 and reply.headers["location"] == "/apis"
    [stored] = database.apis.find({})
    definition = stored["definition"]
    assert definition["name"] == "Health <check>" and definition["use_standard_auth"] is True
    assert definition["use_keyless"] is False and definition["active"] is True
    assert definition["proxy"] == {"listen_path": "/test_health_check/", "target_url": "http://127.0.0.1:9/hello",
                                   "strip_listen_path": False}
    assert definition["global_rate_limit"] == {"rate": 100, "per": 60}
    [change] = client.app.state.store.audit.find({})
    assert change["area"] == "apis" and change["action"] == "create" and change["target"] == stored["api_id"]
    [notice] = received(subscriber, 1)
    assert notice.command == notify.API_ADDED and notice.payload == stored["api_id"]
    # The JSON API sees the very same definition.
    assert client.get(f"/api/apis/{stored['api_id']}", headers=auth).json()["api_definition"] == definition
    listing = client.get("/apis").text
    assert "Health &lt;check&gt;" in listing and "/test_health_check/" in listing
    assert "http://127.0.0.1:9/hello" in listing and "Auth token" in listing and "active" in listing
