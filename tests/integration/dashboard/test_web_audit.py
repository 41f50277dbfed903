"""The audit log screens: newest first, paging, filters, one entry's before/after with changes marked, no secrets."""

from __future__ import annotations

import html
import re

import pytest

from tests.integration.dashboard.conftest import ADMIN_EMAIL, USER_PASSWORD, add_user, definition, other_org_admin
from tests.integration.dashboard.test_web import signed_in_home, web_login
from tollhouse.dashboard.web.audit import Line, changed_paths, json_lines


def sign_in_as(client, email: str, password: str = USER_PASSWORD) -> None:
    client.cookies.clear()
    assert web_login(client, email, password).status_code == 303


def rows(text: str) -> list[str]:
    """The visible text of each row of the log, tags removed."""
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", row)).split())
            for row in re.findall(r'<tr data-entry-id="[^"]+" data-testid="audit-row">(.*?)</tr>', text, re.S)]


def entry_ids(text: str) -> list[str]:
    return re.findall(r'<tr data-entry-id="([^"]+)"', text)


def pane(text: str, side: str) -> list[tuple[str, bool]]:
    """The lines of the before or after pane: (text, marked as changed)."""
    block = text.split(f'data-testid="{side}">', 1)[1].split("</pre>", 1)[0]
    return [(html.unescape(body), "changed" in classes)
            for classes, body in re.findall(r'<span class="(line[^"]*)">(.*?)</span>', block)]


def test_pages_need_a_session_and_system_read(client, auth):
    for path in ("/audit", "/audit/0123456789abcdef01234567"):
        assert client.get(path, follow_redirects=False).headers["location"].startswith("/login?next=/audit")
    add_user(client, auth, "manager@example.test", {"users": "write", "apis": "write"})
    sign_in_as(client, "manager@example.test")
    assert client.get("/audit").status_code == 403
    assert 'href="/audit"' not in client.get("/").text
    add_user(client, auth, "auditor@example.test", {"system": "read"})
    sign_in_as(client, "auditor@example.test")
    assert client.get("/audit").status_code == 200


def test_the_log_lists_who_when_what_newest_first_and_pages(client, auth):
    add_user(client, auth, "writer@example.test", {"apis": "write"})
    writer = {"authorization": client.post("/api/login", json={"username": "writer@example.test",
                                                                "password": USER_PASSWORD}).json()["access_token"]}
    assert client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="a")}).status_code == 200
    client.post("/api/apis", headers=writer, json={"api_definition": definition(api_id="b", name="Bee",
                                                                                proxy={"listen_path": "/b/"})})
    client.delete("/api/apis/a", headers=auth)
    signed_in_home(client)
    first = client.get("/audit")
    assert first.status_code == 200
    assert [row.split(" UTC ", 1)[1] for row in rows(first.text)] == [
        f"{ADMIN_EMAIL} delete apis a (Orders) Before / after",
        "writer@example.test create apis b (Bee) Before / after",
        f"{ADMIN_EMAIL} create apis a (Orders) Before / after",
    ]
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC", rows(first.text)[0])
    assert 'href="/audit?p=2"' in first.text  # page size 3: the user creation is on page 2
    second = client.get("/audit?p=2")
    assert [row.split(" UTC ", 1)[1] for row in rows(second.text)] == [
        f"{ADMIN_EMAIL} create users {client.app.state.store.find_user('writer@example.test')['_id']} "
        "(writer@example.test) Before / after"]


@pytest.mark.parametrize(("query", "expected"), [
    ("area=apis", ["b", "a"]),
    ("area=users", ["user"]),
    ("target=a", ["a"]),
    ("user=writer%40example.test", ["b"]),
    ("user=nobody%40example.test", []),
], ids=["area-apis", "area-users", "target", "user", "nothing"])
def test_filters(client, auth, query, expected):
    user_id = add_user(client, auth, "writer@example.test", {"apis": "write"})
    writer = {"authorization": client.post("/api/login", json={"username": "writer@example.test",
                                                                "password": USER_PASSWORD}).json()["access_token"]}
    client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="a")})
    client.post("/api/apis", headers=writer, json={"api_definition": definition(api_id="b",
                                                                                proxy={"listen_path": "/b/"})})
    signed_in_home(client)
    page = client.get(f"/audit?{query}")
    assert page.status_code == 200
    targets = [re.search(r"<code>(.*?)</code>", row).group(1)
               for row in re.findall(r'data-testid="audit-row">(.*?)</tr>', page.text, re.S)]
    assert targets == [user_id if target == "user" else target for target in expected]
    if not expected:
        assert 'data-testid="no-entries"' in page.text and "match these filters" in page.text
    if query.startswith("user=writer"):  # the filter stays filled in
        assert 'id="user" name="user" type="text" value="writer@example.test"' in page.text


def test_an_unknown_area_is_refused_next_to_the_field(client):
    signed_in_home(client)
    page = client.get("/audit?area=<script>")
    assert page.status_code == 400 and 'data-testid="error-area"' in page.text
    assert "<script>" not in page.text


def test_an_entry_shows_before_and_after_side_by_side_with_the_changes_marked(client, auth):
    user_id = add_user(client, auth, "dave@example.test", {"apis": "read", "keys": "read"})
    client.put(f"/api/users/{user_id}", headers=auth, json={"user_permissions": {"apis": "read", "keys": "write"},
                                                            "is_admin": False})
    signed_in_home(client)
    listing = client.get("/audit")
    newest = entry_ids(listing.text)[0]
    assert f'href="/audit/{newest}"' in listing.text
    page = client.get(f"/audit/{newest}")
    assert page.status_code == 200
    assert 'data-testid="entry-who">admin@example.test<' in page.text
    assert 'data-testid="entry-action">update<' in page.text
    assert 'data-testid="changed-fields">user_permissions.keys<' in page.text
    before, after = pane(page.text, "before"), pane(page.text, "after")
    assert before[0] == ("{", False) and len(before) == len(after)
    assert [line for line, marked in before if marked] == ['    "keys": "read"']
    assert [line for line, marked in after if marked] == ['    "keys": "write"']
    assert '  "email_address": "dave@example.test",' in [line for line, _ in after]
    # A creation: nothing before, everything after is new.
    created = client.get(f"/audit/{entry_ids(listing.text)[1]}").text
    assert pane(created, "before") == [("null", True)]
    assert all(marked for _, marked in pane(created, "after"))


def test_no_secret_reaches_the_log_pages(client, auth):
    client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="orders")})
    created = client.post("/api/keys/basic-user", headers=auth, json={
        "basic_auth_data": {"password": "basic secret"}, "access_rights": {"orders": {"versions": ["Default"]}}})
    assert created.status_code == 200, created.text
    user_id = add_user(client, auth, "erin@example.test")
    client.post(f"/api/users/{user_id}/actions/reset", headers=auth, json={"new_password": "a new password here"})
    signed_in_home(client)
    listing = client.get("/audit").text
    pages = [listing] + [client.get(f"/audit/{entry_id}").text for entry_id in entry_ids(listing)]
    assert len(pages) == 4  # key, user, reset (page 1 of the log)
    everything = "\n".join(pages)
    for secret in ("basic secret", USER_PASSWORD, "a new password here", "$2b$", "password_hash"):
        assert secret not in everything, secret
    assert "(not recorded)" in everything  # the key's basic-auth password, named but not shown


def test_names_are_escaped(client, auth):
    client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="x",
                                                                              name="<script>alert(1)</script>")})
    signed_in_home(client)
    listing = client.get("/audit").text
    detail = client.get(f"/audit/{entry_ids(listing)[0]}").text
    for text in (listing, detail):
        assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_unknown_and_other_organisations_entries_are_not_found(client, settings):
    other = other_org_admin(client, settings)
    client.post("/api/apis", headers=other, json={"api_definition": definition(api_id="theirs")})
    [theirs] = client.app.state.store.audit.find({"org_id": "other-org"})
    signed_in_home(client)
    assert "theirs" not in client.get("/audit").text
    for entry_id in (str(theirs["_id"]), "0123456789abcdef01234567", "not-an-id"):
        assert client.get(f"/audit/{entry_id}").status_code == 404, entry_id


def test_changed_paths_reach_into_nested_objects():
    before = {"a": 1, "b": {"c": 2, "d": [1, 2]}, "gone": True}
    after = {"a": 1, "b": {"c": 3, "d": [1, 2]}, "new": None}
    assert changed_paths(before, after) == {("b", "c"), ("gone",), ("new",)}
    assert changed_paths(None, {"a": 1}) == {(), ("a",)}
    assert changed_paths({"a": {}}, {"a": {"b": 1}}) == {("a",), ("a", "b")}


def test_json_lines_is_pretty_json_with_marks():
    lines = json_lines({"b": [1, 2], "a": {"x": "y", "z": 0}}, {("a", "x")})
    assert "\n".join(line.text for line in lines) == \
        '{\n  "a": {\n    "x": "y",\n    "z": 0\n  },\n  "b": [\n    1,\n    2\n  ]\n}'
    assert [line for line in lines if line.changed] == [Line('    "x": "y",', True)]
    # An object whose every field changed is marked whole, braces included.
    assert all(line.changed for line in json_lines({"a": {"x": 1}}, {("a", "x")})[1:-1])
