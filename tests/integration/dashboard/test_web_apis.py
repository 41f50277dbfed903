"""The APIs screens: the list, the API designer (new and edit), delete; errors next to fields, CSRF, permissions.

The forms are posted the way a browser posts them: every field the page renders, with its rendered value
(checked boxes and radios only, the selected option), then the test's changes.
"""

from __future__ import annotations

import copy
import html
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from tests.integration.dashboard.conftest import USER_PASSWORD, add_user, definition, other_org_admin, received
from tests.integration.dashboard.test_web import csrf_of, signed_in_home, web_login
from tests.servers import free_port
from tollhouse.core import notify
from tollhouse.dashboard.app import create_app

GOOD = {"name": "Orders", "listen_path": "/orders/", "target_url": "http://127.0.0.1:9/", "auth": "keyless"}
# A field set to None is left out of the post (an unticked checkbox).
OFF = None
CHOICES = ("auth", "version_location", "jwt_signing_method", "rule-0-method", "rule-0-kind")


class FormFields(HTMLParser):
    """What a browser would submit from the page's ``<form method=post>`` that is not the logout form."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self.inside = False
        self.select: str | None = None
        self.textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("action") != "/logout"
        if not self.inside or ("name" not in attrs and tag != "option"):
            return
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attrs:
                    self.fields[attrs["name"]] = attrs.get("value", "on")
            else:
                self.fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "select":
            self.select = attrs["name"]
        elif tag == "option" and self.select:
            if "selected" in attrs or self.select not in self.fields:
                self.fields[self.select] = attrs.get("value") or ""
                self.option_text = attrs.get("value") is None
        elif tag == "textarea":
            self.textarea = attrs["name"]
            self.fields[self.textarea] = ""

    def handle_data(self, data):
        if self.textarea:
            self.fields[self.textarea] += data
        elif self.select and getattr(self, "option_text", False) and not self.fields[self.select]:
            self.fields[self.select] = data.strip()

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "option":
            self.option_text = False


def fields_of(page: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(page)
    return parser.fields


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


def form_token(client) -> str:
    page = client.get("/apis/new")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def post_form(client, path: str, changes: dict, token: str | None = "rendered"):
    """Post the form of page ``path`` with ``changes`` (None: leave the field out); ``token`` None: no CSRF."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    data = fields_of(page.text) | changes
    data = {key: value for key, value in data.items() if value is not None}
    if token is None:
        data.pop("csrf_token")
    elif token != "rendered":
        data["csrf_token"] = token
    return client.post(path, data=data, follow_redirects=False)


def post_new(client, token: str | None = "rendered", **changes):
    return post_form(client, "/apis/new", {**GOOD, **changes}, token)


def field_error(text: str, field: str) -> str:
    marker = f'data-testid="error-{field}">'
    assert marker in text, f"no error shown for {field}"
    return html.unescape(text.split(marker, 1)[1].split("</p>", 1)[0])


def stored(database) -> dict:
    [document] = database.apis.find({})
    return document["definition"]


def at(raw: dict, path: str):
    for part in path.split("."):
        raw = raw[int(part)] if isinstance(raw, list) else raw[part]
    return raw


def test_the_list_is_empty_then_the_form_is_offered(client):
    signed_in_home(client)
    page = client.get("/apis")
    assert page.status_code == 200 and 'data-testid="no-apis"' in page.text
    assert 'href="/apis/new"' in page.text
    form = client.get("/apis/new")
    assert form.status_code == 200
    for name in ("name", "active", "domain", "listen_path", "target_url", "auth", "auth_header_name",
                 "jwt_source", "hmac_alg-hmac-sha256", "rate", "per", "strip_listen_path", "enable_cache",
                 "cache_timeout", "cors_enable", "cors_max_age", "versioned", "version_location", "version-0-name",
                 "rule-0-path", "rule-0-kind", "csrf_token"):
        assert f'name="{name}"' in form.text, name


def test_pages_need_a_session(client):
    for path in ("/apis", "/apis/new", "/apis/some-id", "/apis/some-id/delete"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/apis")


# What each form field writes into the stored definition (created through the form).
FIELD_CASES = [
    ({}, {"name": "Orders", "active": True, "use_keyless": True, "use_standard_auth": False,
          "proxy.listen_path": "/orders/", "proxy.target_url": "http://127.0.0.1:9/",
          "proxy.strip_listen_path": True, "version_data.not_versioned": True,
          "version_data.versions.Default.name": "Default", "definition.location": "header",
          "definition.key": "x-api-version", "cache_options.enable_cache": False, "CORS.enable": False}),
    ({"active": OFF, "strip_listen_path": OFF, "domain": "API.Example.test"},
     {"active": False, "proxy.strip_listen_path": False, "domain": "api.example.test"}),
    ({"auth": "token", "auth_header_name": "X-Api-Key", "use_param": "on", "param_name": "key", "use_cookie": "on",
      "cookie_name": "k", "strip_auth_data": "on"},
     {"use_standard_auth": True, "use_keyless": False, "strip_auth_data": True,
      "auth_configs.authToken": {"auth_header_name": "X-Api-Key", "use_param": True, "param_name": "key",
                                 "use_cookie": True, "cookie_name": "k"}}),
    ({"auth": "basic", "auth_header_name": "X-Basic"},
     {"use_basic_auth": True, "use_standard_auth": False, "auth_configs.basic.auth_header_name": "X-Basic"}),
    ({"auth": "jwt", "jwt_signing_method": "rsa", "jwt_source": "https://idp.example.test/jwks.json",
      "jwt_identity_base_field": "user_id", "jwt_policy_field_name": "pol", "jwt_default_policies": "p1, p2"},
     {"enable_jwt": True, "jwt_signing_method": "rsa", "jwt_source": "https://idp.example.test/jwks.json",
      "jwt_identity_base_field": "user_id", "jwt_policy_field_name": "pol", "jwt_default_policies": ["p1", "p2"],
      "auth_configs.jwt.auth_header_name": "Authorization"}),
    ({"auth": "signature", "hmac_alg-hmac-sha256": "on", "hmac_alg-hmac-sha512": "on",
      "hmac_allowed_clock_skew": "5000"},
     {"enable_signature_checking": True, "hmac_allowed_algorithms": ["hmac-sha256", "hmac-sha512"],
      "hmac_allowed_clock_skew": 5000}),
    ({"rate": "100", "per": "60"}, {"global_rate_limit": {"rate": 100, "per": 60}}),
    ({"enable_cache": "on", "cache_timeout": "30", "cache_all_safe_requests": "on",
      "cache_response_codes": "200, 301", "cache_by_headers": "Accept-Language, X-Tenant",
      "enable_upstream_cache_control": "on"},
     {"cache_options": {"enable_cache": True, "cache_timeout": 30, "cache_all_safe_requests": True,
                        "cache_response_codes": [200, 301], "cache_by_headers": ["Accept-Language", "X-Tenant"],
                        "enable_upstream_cache_control": True}}),
    ({"cors_enable": "on", "cors_allowed_origins": "https://a.example.test\nhttps://b.example.test",
      "cors_allowed_methods": "GET, PUT", "cors_allowed_headers": "Authorization", "cors_exposed_headers": "X-Id",
      "cors_allow_credentials": "on", "cors_max_age": "600", "cors_options_passthrough": "on"},
     {"CORS": {"enable": True, "allowed_origins": ["https://a.example.test", "https://b.example.test"],
               "allowed_methods": ["GET", "PUT"], "allowed_headers": ["Authorization"], "exposed_headers": ["X-Id"],
               "allow_credentials": True, "max_age": 600, "options_passthrough": True}}),
    ({"versioned": "on", "version_location": "url-param", "version_key": "v", "default_version": "v1",
      "version-0-name": "v1", "version-0-expires": "2031-01-02 03:04", "version-1-name": "v2",
      "rule-0-version": "v2", "rule-0-method": "DELETE", "rule-0-path": "/admin/{id}", "rule-0-kind": "black_list",
      "rule-1-version": "v2", "rule-1-method": "POST", "rule-1-path": "/admin/{id}", "rule-1-kind": "black_list"},
     {"definition": {"location": "url-param", "key": "v"},
      "version_data.not_versioned": False, "version_data.default_version": "v1",
      "version_data.versions.v1.expires": "2031-01-02 03:04",
      "version_data.versions.v1.extended_paths": {},
      "version_data.versions.v2.extended_paths.black_list": [
          {"path": "/admin/{id}", "method_actions": {method: {"action": "no_action", "code": 200, "data": "",
                                                              "headers": {}} for method in ("DELETE", "POST")}}],
      }),
    ({"rule-0-path": "/public", "rule-0-kind": "ignored", "rule-0-method": "GET",
      "rule-1-path": "/orders", "rule-1-kind": "white_list", "rule-1-method": "GET"},
     {"version_data.versions.Default.extended_paths.ignored.0.path": "/public",
      "version_data.versions.Default.extended_paths.white_list.0.method_actions.GET.action": "no_action"}),
]


@pytest.mark.parametrize(("changes", "expected"), FIELD_CASES)
def test_each_field_is_stored_where_tyk_keeps_it(client, database, changes, expected):
    signed_in_home(client)
    reply = post_new(client, **changes)
    assert reply.status_code == 303, reply.text
    raw = stored(database)
    for path, value in expected.items():
        assert at(raw, path) == value, path


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"name": ""}, "name", "at least 1 character"),
    ({"listen_path": "orders"}, "listen_path", "must start with '/'"),
    ({"listen_path": "/a b/"}, "listen_path", "plain path"),
    ({"target_url": "ftp://example.test/"}, "target_url", "absolute http(s) URL"),
    ({"target_url": ""}, "target_url", "absolute http(s) URL"),
    ({"domain": "bad domain!"}, "domain", "host name"),
    ({"auth": "magic"}, "auth", "choose one of: Keyless"),
    ({"auth": "token", "auth_header_name": "X Key"}, "auth_header_name", "must be a header name"),
    ({"auth": "jwt", "jwt_source": "not base64!"}, "jwt_source", "JWKS URL, or base64"),
    ({"auth": "jwt", "jwt_signing_method": "none"}, "jwt_signing_method", "hmac, rsa or ecdsa"),
    ({"auth": "signature", "hmac_allowed_clock_skew": "soon"}, "hmac_allowed_clock_skew", "milliseconds"),
    ({"rate": "ten", "per": "60"}, "rate", "greater than 0"),
    ({"rate": "10", "per": "-1"}, "per", "greater than 0"),
    ({"rate": "10", "per": ""}, "per", "needs both rate and per"),
    ({"cache_timeout": "soon"}, "cache_timeout", "whole number of seconds"),
    ({"cache_timeout": "1.5"}, "cache_timeout", "whole number of seconds"),
    ({"cache_response_codes": "200, 2xx"}, "cache_response_codes", "'2xx' is not an HTTP status code"),
    ({"cors_max_age": "-1"}, "cors_max_age", "whole number of seconds"),
    ({"cors_allowed_methods": "GET, P O"}, "cors_allowed_methods", "'P O' is not an HTTP method"),
    ({"version_location": "cookie"}, "version_location", "header, url-param or url"),
    ({"version_key": ""}, "version_key", "name the header"),
    ({"versioned": "on", "version-0-name": ""}, "versions", "at least one version"),
    ({"versioned": "on", "default_version": "v9"}, "default_version", "'v9' is not in versions"),
    ({"version-0-expires": "tomorrow"}, "version-0-expires", "YYYY-MM-DD HH:MM"),
    ({"version-1-name": "Default"}, "version-1-name", "named twice"),
    ({"version-1-name": "v.1"}, "version-1-name", "must not contain '.'"),
    ({"rule-0-path": "/a(b"}, "rule-0-path", "not a valid regular expression"),
    ({"rule-0-path": "/a", "rule-0-version": "v9"}, "rule-0-version", "'v9' is not one of the versions"),
    ({"rule-0-path": "/a", "rule-0-method": "BREW"}, "rule-0-method", "choose an HTTP method"),
    ({"rule-0-path": "/a", "rule-0-kind": "mock"}, "rule-0-kind", "black list, white list or ignored"),
    ({"version-1-name": "v2", "rule-0-path": "/a"}, "rule-0-version", "choose the version"),
])
def test_a_bad_field_is_shown_next_to_it_with_the_values_kept_and_nothing_stored(client, database, changes, field,
                                                                                  expected):
    signed_in_home(client)
    reply = post_new(client, **changes)
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    kept = fields_of(reply.text)
    for name, value in {**GOOD, **changes}.items():
        if value is not None and name not in CHOICES:  # a choice not offered cannot be shown chosen
            assert kept.get(name, "").replace("\n", "") == value.replace("\n", ""), name
    assert database.apis.count_documents({}) == 0
    assert client.app.state.store.audit.count_documents({}) == 0


def test_a_taken_listen_path_is_shown_next_to_the_listen_path(client, database):
    signed_in_home(client)
    assert post_new(client).status_code == 303
    reply = post_new(client, name="Other", listen_path="/orders")
    assert reply.status_code == 400
    assert "/orders/ is already used by API" in field_error(reply.text, "listen_path")
    assert database.apis.count_documents({}) == 1


def test_values_are_escaped_when_the_form_comes_back(client):
    signed_in_home(client)
    reply = post_new(client, name='"><script>alert(1)</script>', listen_path="nope",
                     **{"rule-0-path": "<script>x</script>", "version-0-expires": "<b>"})
    assert reply.status_code == 400
    assert "<script>" not in reply.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text
    assert "<b>" not in reply.text


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_is_stored(client, database, token):
    signed_in_home(client)
    reply = post_new(client, token)
    assert reply.status_code == 403
    assert database.apis.count_documents({}) == 0


def test_creating_stores_audits_notifies_and_lists_the_api(client, auth, database, subscriber):
    signed_in_home(client)
    reply = post_new(client, name="Health <check>", listen_path="/test_health_check/",
                     target_url="http://127.0.0.1:9/hello", auth="token", rate="100", per="60",
                     strip_listen_path=OFF)
    assert reply.status_code == 303 and reply.headers["location"] == "/apis"
    [document] = database.apis.find({})
    raw = document["definition"]
    assert raw["name"] == "Health <check>" and raw["use_standard_auth"] is True
    assert raw["use_keyless"] is False and raw["active"] is True
    assert raw["proxy"] == {"listen_path": "/test_health_check/", "target_url": "http://127.0.0.1:9/hello",
                            "strip_listen_path": False}
    assert raw["global_rate_limit"] == {"rate": 100, "per": 60}
    [change] = client.app.state.store.audit.find({})
    assert change["area"] == "apis" and change["action"] == "create" and change["target"] == document["api_id"]
    [notice] = received(subscriber, 1)
    assert notice.command == notify.API_ADDED and notice.payload == document["api_id"]
    # The JSON API sees the very same definition.
    assert client.get(f"/api/apis/{document['api_id']}", headers=auth).json()["api_definition"] == raw
    listing = client.get("/apis").text
    assert "Health &lt;check&gt;" in listing and "/test_health_check/" in listing
    assert "http://127.0.0.1:9/hello" in listing and "Auth token" in listing and "active" in listing
    assert f'href="/apis/{document["api_id"]}"' in listing


def create_by_api(client, auth, **overrides) -> str:
    reply = client.post("/api/apis", headers=auth, json={"api_definition": definition(**overrides)})
    assert reply.status_code == 200, reply.text
    return reply.json()["Meta"]


# A definition full of what the form does not show: it must all survive an edit through the form.
UNKNOWN = {
    "custom_field": {"nested": {"list": ["a", {"b": 1}]}},
    "tags": ["edge"],
    "auth_configs": {"authToken": {"auth_header_name": "X-Key", "x_token_extra": 1},
                     "jwt": {"auth_header_name": "X-Jwt"}},
    "jwt_signing_method": "rsa", "jwt_identity_base_field": "uid",
    "cache_options": {"enable_cache": True, "cache_timeout": 15, "x_cache_extra": "keep"},
    "CORS": {"enable": True, "allowed_origins": ["https://a.example.test"], "debug": True},
    "definition": {"location": "header", "key": "x-version", "strip_path": True},
    "version_data": {"not_versioned": False, "default_version": "v1", "x_data_extra": 3, "versions": {
        "v1": {"name": "v1", "expires": "", "global_headers": {"X-Env": "prod"}, "extended_paths": {
            "rate_limit": [{"path": "/slow", "method": "GET", "rate": 1, "per": 60}],
            "black_list": [{"path": "/admin", "ignore_case": True, "method_actions": {
                "GET": {"action": "no_action", "code": 200, "data": "", "headers": {}}}}],
            "ignored": [{"path": "/mock", "method_actions": {
                "GET": {"action": "reply", "code": 418, "data": "teapot", "headers": {"X-M": "1"}}}}]}}}},
}


def assert_kept(expected, actual, path: str = "(definition)") -> None:
    """Everything in ``expected`` is in ``actual`` with the same value (``actual`` may hold more keys)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} was lost"
            assert_kept(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for index, (value, found) in enumerate(zip(expected, actual, strict=True)):
            assert_kept(value, found, f"{path}.{index}")
    else:
        assert actual == expected and type(actual) is type(expected), path


def test_unknown_fields_survive_an_edit_and_the_change_is_audited_and_announced(client, auth, database, subscriber):
    api_id = create_by_api(client, auth, use_keyless=False, use_standard_auth=True, **UNKNOWN)
    received(subscriber, 1)
    before = stored(database)
    signed_in_home(client)
    page = client.get(f"/apis/{api_id}")
    assert page.status_code == 200
    shown = fields_of(page.text)
    assert shown["auth"] == "token" and shown["auth_header_name"] == "X-Key" and shown["versioned"] == "on"
    assert shown["rule-0-path"] == "/admin" and shown["rule-0-kind"] == "black_list"
    assert shown["rule-1-path"] == "/mock" and shown["rule-1-kind"] == "ignored"
    reply = post_form(client, f"/apis/{api_id}", {"target_url": "http://127.0.0.1:9/v2/", "version-0-name": "v1",
                                                  "rule-2-version": "v1", "rule-2-path": "/internal",
                                                  "rule-2-method": "POST", "rule-2-kind": "black_list"})
    assert reply.status_code == 303 and reply.headers["location"] == f"/apis/{api_id}?saved=1"
    after = stored(database)
    # Every value stored before is still there, unchanged but for the new upstream and the rule added beside
    # the kept ones (the form adds the Tyk fields it shows, e.g. CORS.max_age, with their defaults).
    expected = copy.deepcopy(before)
    expected["proxy"]["target_url"] = "http://127.0.0.1:9/v2/"
    expected["version_data"]["versions"]["v1"]["extended_paths"]["black_list"].append(
        {"path": "/internal", "method_actions": {"POST": {"action": "no_action", "code": 200, "data": "",
                                                          "headers": {}}}})
    assert_kept(expected, after)
    assert after["active"] is True and after["use_basic_auth"] is False and after["enable_jwt"] is False
    [change] = client.app.state.store.audit.find({"action": "update"})
    assert change["target"] == api_id and change["before"] == before and change["after"] == after
    [notice] = received(subscriber, 1)
    assert notice.command == notify.API_UPDATED and notice.payload == api_id
    assert "the gateways were told" in client.get(f"/apis/{api_id}?saved=1").text


def test_saving_the_edit_form_unchanged_changes_nothing(client, database):
    signed_in_home(client)
    assert post_new(client, auth="jwt", jwt_source="https://idp.example.test/jwks", rate="5", per="1",
                    enable_cache="on", cors_enable="on", cors_allowed_origins="https://x.example.test",
                    **{"rule-0-path": "/private", "rule-0-kind": "black_list", "rule-0-method": "PUT"}
                    ).status_code == 303
    [document] = database.apis.find({})
    before = document["definition"]
    reply = post_form(client, f"/apis/{document['api_id']}", {})
    assert reply.status_code == 303, reply.text
    assert stored(database) == before


def test_a_bad_edit_keeps_the_values_and_stores_nothing(client, auth, database):
    api_id = create_by_api(client, auth)
    before = stored(database)
    signed_in_home(client)
    reply = post_form(client, f"/apis/{api_id}", {"name": "Renamed", "cors_max_age": "a day"})
    assert reply.status_code == 400
    assert "whole number" in field_error(reply.text, "cors_max_age")
    assert fields_of(reply.text)["name"] == "Renamed" and 'data-testid="save-api"' in reply.text
    assert stored(database) == before
    assert client.app.state.store.audit.count_documents({"action": "update"}) == 0


def test_switching_versions_off_keeps_the_rules_of_the_default_version(client, database):
    signed_in_home(client)
    assert post_new(client, versioned="on", **{"version-0-name": "v1", "rule-0-path": "/a"}).status_code == 303
    [document] = database.apis.find({})
    reply = post_form(client, f"/apis/{document['api_id']}", {"versioned": OFF})
    assert reply.status_code == 303
    data = stored(database)["version_data"]
    assert data["not_versioned"] is True and list(data["versions"]) == ["v1"]
    assert data["versions"]["v1"]["extended_paths"]["black_list"][0]["path"] == "/a"


def test_deleting_asks_first_then_deletes_audits_and_announces(client, auth, database, subscriber):
    api_id = create_by_api(client, auth, name="Doomed <api>")
    received(subscriber, 1)
    signed_in_home(client)
    listing = client.get("/apis").text
    assert f'href="/apis/{api_id}/delete"' in listing
    confirm = client.get(f"/apis/{api_id}/delete")
    assert confirm.status_code == 200 and "Delete API Doomed &lt;api&gt;?" in confirm.text
    assert database.apis.count_documents({}) == 1  # asking deletes nothing
    reply = client.post(f"/apis/{api_id}/delete", data={"csrf_token": csrf_of(confirm.text)},
                        follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/apis"
    assert database.apis.count_documents({}) == 0
    [change] = client.app.state.store.audit.find({"action": "delete"})
    assert change["target"] == api_id and change["before"]["name"] == "Doomed <api>"
    [notice] = received(subscriber, 1)
    assert notice.command == notify.API_REMOVED and notice.payload == api_id
    assert 'data-testid="no-apis"' in client.get("/apis").text
    assert client.get(f"/apis/{api_id}").status_code == 404


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_edit_and_delete_without_the_csrf_token_change_nothing(client, auth, database, token):
    api_id = create_by_api(client, auth)
    before = stored(database)
    signed_in_home(client)
    assert post_form(client, f"/apis/{api_id}", {"name": "Changed"}, token).status_code == 403
    data = {} if token is None else {"csrf_token": token}
    assert client.post(f"/apis/{api_id}/delete", data=data, follow_redirects=False).status_code == 403
    assert stored(database) == before
    assert client.app.state.store.audit.count_documents({"action": {"$in": ["update", "delete"]}}) == 0


def test_another_organisations_api_is_not_found(client, auth, settings, database):
    api_id = create_by_api(client, auth)
    before = stored(database)
    other = other_org_admin(client, settings)
    assert other  # the other admin exists; now sign in to the web app as them
    client.cookies.clear()
    assert web_login(client, "other@example.test", "other password").status_code == 303
    assert client.get(f"/apis/{api_id}").status_code == 404
    assert client.get(f"/apis/{api_id}/delete").status_code == 404
    token = csrf_of(client.get("/").text)
    assert client.post(f"/apis/{api_id}", data={"csrf_token": token, **GOOD}).status_code == 404
    assert client.post(f"/apis/{api_id}/delete", data={"csrf_token": token}).status_code == 404
    assert stored(database) == before


def test_a_read_only_user_sees_but_cannot_create_edit_or_delete(client, auth, database):
    api_id = create_by_api(client, auth, active=False)
    before = stored(database)
    add_user(client, auth, "api-reader@example.test", {"apis": "read"})
    client.cookies.clear()
    assert web_login(client, "api-reader@example.test", USER_PASSWORD).status_code == 303
    listing = client.get("/apis")
    assert listing.status_code == 200 and "New API" not in listing.text and 'href="/apis/new"' not in listing.text
    assert "inactive" in listing.text and f'href="/apis/{api_id}/delete"' not in listing.text
    view = client.get(f"/apis/{api_id}")
    assert view.status_code == 200 and 'data-testid="save-api"' not in view.text and "disabled" in view.text
    assert 'data-testid="delete-api"' not in view.text
    assert client.get("/apis/new").status_code == 403
    assert client.get(f"/apis/{api_id}/delete").status_code == 403
    own_token = csrf_of(client.get("/").text)  # the reader's own, valid CSRF token (the logout form)
    for path, data in (("/apis/new", GOOD), (f"/apis/{api_id}", {**GOOD, "name": "Changed"}),
                       (f"/apis/{api_id}/delete", {})):
        reply = client.post(path, data={"csrf_token": own_token, **data}, follow_redirects=False)
        assert reply.status_code == 403 and "write access to apis" in reply.text, path
    assert [stored(database)] == [before]
    assert client.app.state.store.audit.count_documents({"area": "apis", "action": {"$ne": "create"}}) == 0


def test_no_access_to_apis_is_refused_every_page(client, auth):
    api_id = create_by_api(client, auth)
    add_user(client, auth, "nobody@example.test", {"apis": "none", "analytics": "read"})
    client.cookies.clear()
    assert web_login(client, "nobody@example.test", USER_PASSWORD).status_code == 303
    for path in ("/apis", "/apis/new", f"/apis/{api_id}", f"/apis/{api_id}/delete"):
        assert client.get(path).status_code == 403, path


def test_names_from_the_json_api_are_escaped_on_the_list_and_edit_pages(client, auth):
    api_id = create_by_api(client, auth, name="<script>alert(1)</script>",
                           proxy={"target_url": "http://127.0.0.1:9/<x>"})
    signed_in_home(client)
    for path in ("/apis", f"/apis/{api_id}", f"/apis/{api_id}/delete"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


def test_an_edit_stored_while_redis_is_away_says_the_gateways_were_not_told(settings, database):
    without_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(without_redis)) as client:
        signed_in_home(client)
        assert post_new(client).status_code == 303
        [document] = database.apis.find({})
        reply = post_form(client, f"/apis/{document['api_id']}", {"name": "Renamed"})
        assert reply.status_code == 303 and reply.headers["location"].endswith("?saved=unannounced")
        assert stored(database)["name"] == "Renamed"
        assert "the gateways were not told" in client.get(reply.headers["location"]).text
