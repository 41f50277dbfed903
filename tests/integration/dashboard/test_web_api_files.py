"""The JSON editor, export, and the two import pages (Tyk classic JSON, OpenAPI 3): errors beside their lines,
permissions, CSRF, escaping, and the round trip export -> import."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.integration.dashboard.conftest import USER_PASSWORD, add_user, definition, other_org_admin, received
from tests.integration.dashboard.test_web import csrf_of, signed_in_home, web_login
from tollhouse.core import notify
from tollhouse.dashboard.web.api_files import MAX_DOCUMENT_FORM_BYTES

PETSTORE = {
    "openapi": "3.0.3",
    "info": {"title": "Pet store", "version": "1.0.0"},
    "servers": [{"url": "http://127.0.0.1:9/v1"}],
    "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}},
    "security": [{"key": []}],
    "paths": {"/pets": {"get": {"responses": {"200": {"description": "ok"}}}},
              "/pets/{petId}": {"get": {"responses": {"200": {"description": "ok"}}}}},
}


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


@pytest.fixture
def api_id(client, auth) -> str:
    reply = client.post("/api/apis", headers=auth, json={"api_definition": definition()})
    assert reply.status_code == 200, reply.text
    return reply.json()["Meta"]


def token_of(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def textarea(text: str, name: str) -> str:
    match = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', text, re.S)
    assert match, f"no textarea {name}"
    return html.unescape(match.group(1))


def json_errors(text: str) -> list[tuple[str, str, str]]:
    """(data-path, line of the excerpt row holding it, message) of each validation error on the page."""
    found = []
    for row in re.finditer(r'<tr class="marked" data-line="(\d+)" data-testid="json-error-line">(.*?)</tr>', text,
                           re.S):
        for error in re.finditer(r'data-testid="json-error" data-path="([^"]*)"[^>]*>(.*?)</p>', row.group(2), re.S):
            message = html.unescape(re.sub(r"<[^>]+>", "", error.group(2))).strip()
            found.append((html.unescape(error.group(1)), row.group(1), " ".join(message.split())))
    return found


def save(client, api_id: str, text: str, token: str | None = "page"):
    data = {"definition": text}
    if token == "page":
        token = token_of(client, f"/apis/{api_id}/json")
    if token is not None:
        data["csrf_token"] = token
    return client.post(f"/apis/{api_id}/json", data=data, follow_redirects=False)


def stored(database, api_id: str) -> dict:
    return database.apis.find_one({"_id": api_id})["definition"]


# --- JSON editor -----------------------------------------------------------------------------------------------

def test_the_editor_shows_the_stored_definition_pretty_printed(client, api_id, database):
    signed_in_home(client)
    page = client.get(f"/apis/{api_id}/json")
    assert page.status_code == 200
    assert json.loads(textarea(page.text, "definition")) == stored(database, api_id)
    assert '\n  "name": "Orders"' in textarea(page.text, "definition")
    assert f'href="/apis/{api_id}/export"' in page.text and 'data-testid="save-json"' in page.text
    listing = client.get("/apis").text
    for link in ("/apis/import", "/apis/import/openapi", f"/apis/{api_id}/json", f"/apis/{api_id}/export"):
        assert f'href="{link}"' in listing, link


def test_saving_keeps_unknown_fields_audits_and_notifies(client, api_id, database, subscriber):
    signed_in_home(client)
    edited = {**stored(database, api_id), "name": "Orders v2", "tyk_field_we_ignore": {"deep": [1, {"x": None}]}}
    edited["proxy"]["target_url"] = "http://127.0.0.1:9/two"
    reply = save(client, api_id, json.dumps(edited, indent=4))
    assert reply.status_code == 303 and reply.headers["location"] == f"/apis/{api_id}/json?saved=1"
    assert stored(database, api_id) == edited
    assert stored(database, api_id)["proxy"]["x_vendor_extension"] == {"keep": [1, 2.5, None]}
    [change] = database.audit.find({"action": "update"})
    assert change["target"] == api_id and change["before"]["name"] == "Orders" and change["after"]["name"] == \
        "Orders v2"
    [notice] = received(subscriber, 1)
    assert notice.command == notify.API_UPDATED and notice.payload == api_id
    assert 'data-testid="notice">Saved.' in client.get(reply.headers["location"]).text


def test_a_syntax_error_shows_line_and_column_marks_the_line_and_keeps_the_text(client, api_id, database):
    signed_in_home(client)
    before = stored(database, api_id)
    text = '{\n  "name": "Orders",\n  "proxy": {"listen_path": "/orders/",,}\n}'
    reply = save(client, api_id, text)
    assert reply.status_code == 400
    assert 'data-line="3" data-column="39"' in reply.text
    assert "line 3, column 39" in reply.text
    assert '<tr class="marked" data-line="3" data-testid="json-error-line">' in reply.text
    assert textarea(reply.text, "definition") == text
    assert stored(database, api_id) == before and database.audit.count_documents({"action": "update"}) == 0


@pytest.mark.parametrize(("change", "path", "line", "expected"), [
    (lambda d: d["proxy"].update(target_url="ftp://x"), "proxy.target_url", "target_url", "absolute http(s) URL"),
    (lambda d: d.update(name=""), "name", "name", "at least 1 character"),
    (lambda d: d["proxy"].pop("listen_path"), "proxy.listen_path", "proxy", "is required"),
    (lambda d: d.update(use_basic_auth=True), "use_basic_auth", "use_basic_auth", "cannot be combined"),
    (lambda d: d.update(version_data={"not_versioned": False, "versions": {"v1.0": {"extended_paths": {
        "rate_limit": [{"path": "/a", "rate": 1, "per": 1}, {"path": "/b", "rate": -1, "per": 1}]}}}}),
     "version_data.versions.v1.0.extended_paths.rate_limit.1.rate", '"rate": -1', "greater than 0"),
    (lambda d: d.update(api_id="another-id"), "api_id", "api_id", "ids cannot change"),
])
def test_a_validation_error_is_shown_beside_the_line_of_its_field(client, api_id, database, change, path, line,
                                                                  expected):
    signed_in_home(client)
    before = stored(database, api_id)
    edited = json.loads(json.dumps(before))
    change(edited)
    text = json.dumps(edited, indent=2)
    reply = save(client, api_id, text)
    assert reply.status_code == 400
    [(error_path, error_line, message)] = json_errors(reply.text)
    assert error_path == path and expected in message
    # The row it sits in is the line of the text where the key (or, when missing, its parent) is.
    wanted = next(number for number, content in enumerate(text.split("\n"), 1)
                  if f'"{line}"' in content or line in content)
    assert error_line == str(wanted)
    assert textarea(reply.text, "definition") == text
    assert stored(database, api_id) == before


def test_a_listen_path_of_another_api_is_refused_beside_it(client, auth, api_id, database):
    signed_in_home(client)
    other = client.post("/api/apis", headers=auth, json={"api_definition": definition(
        name="Other", proxy={"listen_path": "/other/"})}).json()["Meta"]
    edited = stored(database, other)
    edited["proxy"]["listen_path"] = "/orders"
    reply = save(client, other, json.dumps(edited, indent=2))
    [(path, _, message)] = json_errors(reply.text)
    assert path == "proxy.listen_path" and "already used by API" in message


def test_the_editor_escapes_what_it_shows(client, auth, database):
    signed_in_home(client)
    api = client.post("/api/apis", headers=auth, json={"api_definition": definition(
        name="</textarea><script>alert(1)</script>")}).json()["Meta"]
    page = client.get(f"/apis/{api}/json")
    assert "<script>alert(1)" not in page.text and "&lt;/textarea&gt;&lt;script&gt;" in page.text
    reply = save(client, api, '{"name": "<b>x</b>", "bad": }')
    assert "<b>x</b>" not in reply.text and "&lt;b&gt;x&lt;/b&gt;" in reply.text
    assert json.loads(textarea(page.text, "definition"))["name"] == "</textarea><script>alert(1)</script>"


def test_an_api_of_another_organisation_is_not_found(client, settings, database):
    signed_in_home(client)
    theirs = client.post("/api/apis", headers=other_org_admin(client, settings),
                         json={"api_definition": definition(name="Theirs")}).json()["Meta"]
    for path in (f"/apis/{theirs}/json", f"/apis/{theirs}/export"):
        assert client.get(path).status_code == 404
    token = token_of(client, "/apis/import")
    assert save(client, theirs, json.dumps(definition()), token).status_code == 404
    assert stored(database, theirs)["name"] == "Theirs"


# --- export and import ---------------------------------------------------------------------------------------

def test_export_is_a_tyk_envelope_download_named_after_the_api(client, auth, database):
    signed_in_home(client)
    api = client.post("/api/apis", headers=auth, json={"api_definition": definition(
        name='Orders "EU"/<v2> ünï', proxy={"listen_path": "/eu/"})}).json()["Meta"]
    reply = client.get(f"/apis/{api}/export")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    assert reply.headers["content-disposition"] == 'attachment; filename="Orders-EU-v2-uni.json"'
    assert reply.json() == {"api_definition": stored(database, api)}
    # The very envelope Tyk's dashboard API answers for the API.
    assert reply.json() == client.get(f"/api/apis/{api}", headers=auth).json()


def test_export_then_import_gives_back_the_same_definition(client, auth, api_id, database):
    signed_in_home(client)
    exported = client.get(f"/apis/{api_id}/export").text
    before = stored(database, api_id)
    assert client.delete(f"/api/apis/{api_id}", headers=auth).status_code == 200
    reply = client.post("/apis/import", data={"definitions": exported, "csrf_token": token_of(client, "/apis/import")})
    assert reply.status_code == 200 and reply.text.count('data-status="created"') == 1
    assert stored(database, api_id) == before


def test_import_takes_a_list_and_reports_each_definition(client, api_id, database, subscriber):
    signed_in_home(client)
    batch = [
        {"api_definition": definition(name="From an envelope", proxy={"listen_path": "/one/"})},
        definition(name="Bare", proxy={"listen_path": "/two/"}, api_id="bare-id"),
        definition(name="Taken id", api_id=api_id, proxy={"listen_path": "/three/"}),
        definition(name="Taken path <i>"),
        definition(name="Bad upstream", proxy={"listen_path": "/four/", "target_url": "nope"}),
        "not an object",
    ]
    reply = client.post("/apis/import", data={"definitions": json.dumps(batch),
                                              "csrf_token": token_of(client, "/apis/import")})
    assert reply.status_code == 200
    statuses = re.findall(r'data-testid="import-result" data-status="(\w+)"', reply.text)
    assert statuses == ["created", "created", "refused", "refused", "refused", "refused"]
    assert "this organisation already has an API with this id" in reply.text
    assert "/orders/ is already used by API" in reply.text
    assert 'data-path="proxy.target_url"' in reply.text and "Taken path &lt;i&gt;" in reply.text
    assert {doc["name"] for doc in database.apis.find({})} == {"Orders", "From an envelope", "Bare"}
    assert database.apis.find_one({"_id": "bare-id"})["definition"]["custom_field"] == \
        {"nested": {"list": ["a", {"b": 1}]}}
    assert [notice.command for notice in received(subscriber, 2)] == [notify.API_ADDED] * 2


@pytest.mark.parametrize(("text", "expected"), [
    ("", "Paste a definition"),
    ('{"name": ', "Not valid JSON: Expecting value at line 1, column 10."),
    ("[]", "holds no definitions"),
])
def test_an_unreadable_import_is_refused_with_the_text_kept(client, database, text, expected):
    signed_in_home(client)
    reply = client.post("/apis/import", data={"definitions": text, "csrf_token": token_of(client, "/apis/import")})
    assert reply.status_code == 400
    assert expected in html.unescape(reply.text.split('data-testid="error-definitions">', 1)[1].split("</p>")[0])
    assert textarea(reply.text, "definitions") == text
    assert database.apis.count_documents({}) == 0


# --- OpenAPI import ------------------------------------------------------------------------------------------

def post_openapi(client, action: str = "preview", token: str | None = "page", **fields):
    data = {"document": json.dumps(PETSTORE), "listen_path": "/pets/", "upstream": "", "auth": "document",
            "action": action, **fields}
    if token == "page":
        token = token_of(client, "/apis/import/openapi")
    if token is not None:
        data["csrf_token"] = token
    return client.post("/apis/import/openapi", data=data, follow_redirects=False)


def test_openapi_preview_then_create(client, database, subscriber):
    signed_in_home(client)
    preview = post_openapi(client)
    assert preview.status_code == 200 and database.apis.count_documents({}) == 0
    shown = json.loads(html.unescape(preview.text.split('data-testid="openapi-preview">', 1)[1].split("</pre>")[0]))
    assert shown["name"] == "Pet store" and shown["use_standard_auth"] is True
    assert shown["auth_configs"] == {"authToken": {"auth_header_name": "X-Api-Key"}}
    assert 'data-testid="openapi-create"' in preview.text
    created = post_openapi(client, "create")
    assert created.status_code == 303
    api_id = created.headers["location"].split("/")[2]
    assert created.headers["location"] == f"/apis/{api_id}/json?created=openapi"
    definition_stored = stored(database, api_id)
    assert {key: value for key, value in definition_stored.items() if key not in ("api_id", "org_id")} == shown
    allowed = definition_stored["version_data"]["versions"]["Default"]["extended_paths"]["white_list"]
    assert [(entry["path"], entry["method"]) for entry in allowed] == [("/pets", "GET"), ("/pets/{petId}", "GET")]
    assert database.audit.count_documents({"action": "create", "target": api_id}) == 1
    [notice] = received(subscriber, 1)
    assert notice.command == notify.API_ADDED and notice.payload == api_id


def test_openapi_yaml_with_an_unsupported_scheme_warns_before_creating(client, database):
    signed_in_home(client)
    document = ("openapi: 3.1.0\ninfo: {title: Secured, version: '2'}\nservers: [{url: 'http://127.0.0.1:9/'}]\n"
                "components: {securitySchemes: {o: {type: oauth2, flows: {}}}}\nsecurity: [{o: []}]\n"
                "paths: {/a: {get: {}}}\n")
    reply = post_openapi(client, document=document)
    assert reply.status_code == 200
    assert "(oauth2) is not supported: the API was made keyless" in html.unescape(reply.text)
    assert database.apis.count_documents({}) == 0


@pytest.mark.parametrize(("fields", "field", "expected"), [
    ({"document": "{oops"}, "document", "not valid JSON: Expecting property name"),
    ({"document": json.dumps({"swagger": "2.0"})}, "document", "Swagger 2.0"),
    ({"document": json.dumps({**PETSTORE, "paths": {}})}, "document", "has no paths"),
    ({"document": json.dumps({**PETSTORE, "servers": [{"url": "/v1"}]})}, "upstream", "give the upstream URL"),
    ({"listen_path": ""}, "listen_path", "give the path"),
    ({"listen_path": "pets"}, "listen_path", "must start with '/'"),
    ({"upstream": "ftp://x/"}, "upstream", "absolute http(s) URL"),
    ({"auth": "magic"}, "auth", "choose one"),
])
def test_openapi_errors_are_shown_next_to_the_field_with_values_kept(client, database, fields, field, expected):
    signed_in_home(client)
    for action in ("preview", "create"):
        reply = post_openapi(client, action, **fields)
        assert reply.status_code == 400
        message = reply.text.split(f'data-testid="error-{field}">', 1)[1].split("</p>")[0]
        assert expected in html.unescape(message)
        assert textarea(reply.text, "document") == fields.get("document", json.dumps(PETSTORE))
    assert database.apis.count_documents({}) == 0


def test_a_document_over_the_limit_is_refused(client, database):
    signed_in_home(client)
    reply = post_openapi(client, document=json.dumps({**PETSTORE, "x": "y" * (2 * 1024 * 1024)}))
    assert reply.status_code == 400 and "the limit is 2 MB" in reply.text
    assert database.apis.count_documents({}) == 0


def test_a_body_too_large_for_any_document_changes_nothing(client, api_id, database):
    signed_in_home(client)
    before = stored(database, api_id)
    reply = save(client, api_id, " " * MAX_DOCUMENT_FORM_BYTES)
    assert reply.status_code == 413 and "The form is larger than" in reply.text
    assert stored(database, api_id) == before


# --- permissions, CSRF, sessions -----------------------------------------------------------------------------

def test_pages_need_a_session(client, api_id):
    for path in (f"/apis/{api_id}/json", f"/apis/{api_id}/export", "/apis/import", "/apis/import/openapi"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/apis"), path


def test_a_read_only_user_sees_and_exports_but_cannot_save_or_import(client, auth, api_id, database):
    add_user(client, auth, "reader@example.test", {"apis": "read"})
    client.cookies.clear()
    assert web_login(client, "reader@example.test", USER_PASSWORD).status_code == 303
    page = client.get(f"/apis/{api_id}/json")
    assert page.status_code == 200 and "readonly" in page.text and 'data-testid="save-json"' not in page.text
    assert client.get(f"/apis/{api_id}/export").status_code == 200
    listing = client.get("/apis").text
    assert f'href="/apis/{api_id}/json"' in listing and 'href="/apis/import"' not in listing
    for path in ("/apis/import", "/apis/import/openapi"):
        shown = client.get(path)
        assert shown.status_code == 200 and 'data-testid="needs-write"' in shown.text and "<textarea" not in shown.text
    own_token = csrf_of(client.get("/").text)
    before = stored(database, api_id)
    changed = json.dumps({**before, "name": "Changed"})
    assert save(client, api_id, changed, own_token).status_code == 403
    assert client.post("/apis/import", data={"definitions": json.dumps(definition(proxy={"listen_path": "/n/"})),
                                             "csrf_token": own_token}).status_code == 403
    assert post_openapi(client, "create", own_token).status_code == 403
    assert stored(database, api_id) == before and database.apis.count_documents({}) == 1
    assert database.audit.count_documents({"area": "apis", "action": {"$ne": "create"}}) == 0


def test_no_access_to_apis_is_refused_every_page(client, auth, api_id):
    add_user(client, auth, "nobody@example.test", {"apis": "none", "analytics": "read"})
    client.cookies.clear()
    assert web_login(client, "nobody@example.test", USER_PASSWORD).status_code == 303
    for path in (f"/apis/{api_id}/json", f"/apis/{api_id}/export", "/apis/import", "/apis/import/openapi"):
        assert client.get(path).status_code == 403, path


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_changes(client, api_id, database, token):
    signed_in_home(client)
    before = stored(database, api_id)
    assert save(client, api_id, json.dumps({**before, "name": "Changed"}), token).status_code == 403
    data = {"definitions": json.dumps(definition(proxy={"listen_path": "/n/"}))}
    if token is not None:
        data["csrf_token"] = token
    assert client.post("/apis/import", data=data).status_code == 403
    assert post_openapi(client, "create", token).status_code == 403
    assert stored(database, api_id) == before and database.apis.count_documents({}) == 1
    assert database.audit.count_documents({"action": "update"}) == 0
