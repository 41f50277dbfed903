"""The users screens: list, new-user form, one user's access/password/delete; the API's rules, CSRF, permissions."""

from __future__ import annotations

import html

import pytest

from tests.integration.dashboard.conftest import ADMIN_EMAIL, USER_PASSWORD, add_user, login, other_org_admin
from tests.integration.dashboard.test_web import csrf_of, signed_in_home, web_login
from tollhouse.dashboard.auth import password_matches
from tollhouse.dashboard.web.session import SESSION_COOKIE

NEW_PASSWORD = "another long password"
GOOD = {"email": "Carol@Example.test", "password": "carol's long password", "perm_apis": "read",
        "perm_keys": "none", "perm_policies": "none", "perm_analytics": "write", "perm_users": "none",
        "perm_system": "none"}


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


def snapshot(database) -> tuple:
    """Everything a users action may change: users, sessions and the audit log."""
    return (sorted(database.users.find({}), key=lambda user: user["_id"]),
            sorted(database.sessions.find({}), key=lambda session: session["_id"]),
            database.audit.count_documents({}))


def sign_in_as(client, email: str, password: str = USER_PASSWORD) -> str:
    """Start a web session for ``email`` (dropping any other); its CSRF token."""
    client.cookies.clear()
    assert web_login(client, email, password).status_code == 303
    return csrf_of(client.get("/").text)


def field_error(text: str, field: str) -> str:
    marker = f'data-testid="error-{field}">'
    assert marker in text, f"no error shown for {field}"
    return html.unescape(text.split(marker, 1)[1].split("</p>", 1)[0])


def refusal(text: str) -> str:
    marker = 'data-testid="refused">'
    assert marker in text, "no refusal shown"
    return html.unescape(text.split(marker, 1)[1].split("</p>", 1)[0])


def post(client, path: str, token: str | None, **data):
    if token is not None:
        data["csrf_token"] = token
    return client.post(path, data=data, follow_redirects=False)


def test_pages_need_a_session(client):
    for path in ("/users", "/users/new", "/users/someone"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/users")


def test_the_list_shows_email_admin_flag_permissions_and_creation_escaped(client, auth):
    add_user(client, auth, "<script>alert(1)</script>@example.test", {"keys": "read", "analytics": "write"})
    signed_in_home(client)
    listing = client.get("/users")
    assert listing.status_code == 200
    assert "<script>alert(1)" not in listing.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.test" in listing.text
    rows = listing.text.split('data-testid="user-row"')[1:]
    assert len(rows) == 2
    admin_row, other_row = rows
    assert ADMIN_EMAIL in admin_row and "<strong>admin</strong>" in admin_row
    assert 'data-area="apis">write<' in admin_row  # an admin writes everywhere
    assert 'data-area="keys">read<' in other_row and 'data-area="analytics">write<' in other_row
    assert 'data-area="apis">none<' in other_row and " UTC<" in other_row
    assert 'href="/users/new"' in listing.text


def test_the_list_pages(client, auth):
    for number in range(3):  # three more users: four in all, three per page
        add_user(client, auth, f"user{number}@example.test")
    signed_in_home(client)
    first, second = client.get("/users").text, client.get("/users?p=2").text
    assert first.count('data-testid="user-row"') == 3 and 'href="?p=2"' in first
    assert second.count('data-testid="user-row"') == 1 and "user2@example.test" in second
    assert client.get("/users?p=nonsense").text.count('data-testid="user-row"') == 3


def test_creating_a_user_through_the_form(client, database):
    signed_in_home(client)
    form = client.get("/users/new")
    for name in ("email", "password", "is_admin", "perm_apis", "perm_system", "csrf_token"):
        assert f'name="{name}"' in form.text
    reply = post(client, "/users/new", csrf_of(form.text), **GOOD)
    assert reply.status_code == 303
    stored = database.users.find_one({"email": "carol@example.test"})
    assert reply.headers["location"] == f"/users/{stored['_id']}?done=created"
    assert stored["permissions"] == {"apis": "read", "keys": "none", "policies": "none", "analytics": "write",
                                     "users": "none", "system": "none"}
    assert stored["is_admin"] is False and password_matches(GOOD["password"], stored["password_hash"])
    [entry] = database.audit.find({})
    assert (entry["area"], entry["action"], entry["target"], entry["user_email"]) == \
        ("users", "create", stored["_id"], ADMIN_EMAIL)
    assert GOOD["password"] not in repr(entry) and "$2b$" not in repr(entry)
    page = client.get(reply.headers["location"])
    assert 'data-testid="notice">User created.' in page.text and "carol@example.test" in page.text
    login(client, "carol@example.test", GOOD["password"])  # the new user can log in


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"email": ""}, "email", "email address"),
    ({"email": "not an email"}, "email", "email address"),
    ({"password": "short"}, "password", "at least 12 characters"),
    ({"password": "é" * 40}, "password", "at most 72 bytes"),
    ({"perm_keys": "owner"}, "perm_keys", "none, read or write"),
])
def test_bad_input_is_shown_next_to_the_field_with_values_kept_and_nothing_stored(client, database, changes, field,
                                                                                  expected):
    signed_in_home(client)
    before = snapshot(database)
    reply = post(client, "/users/new", csrf_of(client.get("/users/new").text), **{**GOOD, **changes})
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    assert f'value="{html.escape(changes.get("email", GOOD["email"]))}"' in reply.text
    assert '<option value="write" selected>write</option>' in reply.text.split('id="perm_analytics"')[1]
    assert GOOD["password"] not in reply.text  # a password is never sent back
    assert snapshot(database) == before


def test_a_taken_email_is_refused_next_to_the_email_whatever_its_case(client, auth, database):
    add_user(client, auth, "carol@example.test")
    signed_in_home(client)
    before = snapshot(database)
    reply = post(client, "/users/new", csrf_of(client.get("/users/new").text), **GOOD)
    assert reply.status_code == 409
    assert "already exists" in field_error(reply.text, "email")
    assert snapshot(database) == before


def test_a_user_manager_cannot_grant_more_than_it_has(client, auth, database):
    add_user(client, auth, "manager@example.test", {"users": "write", "keys": "read"})
    token = sign_in_as(client, "manager@example.test")
    before = snapshot(database)
    reply = post(client, "/users/new", token, **{**GOOD, "perm_apis": "none", "perm_analytics": "none",
                                                 "perm_keys": "write"})
    assert reply.status_code == 403
    assert "you cannot grant write on keys: you have read" in refusal(reply.text)
    assert 'value="carol@example.test"' in reply.text.lower()
    reply = post(client, "/users/new", token, **{**GOOD, "perm_apis": "none", "perm_analytics": "none",
                                                 "is_admin": "on"})
    assert reply.status_code == 403 and "only an admin may grant admin" in refusal(reply.text)
    assert snapshot(database) == before
    # Within its own rights it may create.
    assert post(client, "/users/new", token, **{**GOOD, "perm_apis": "none", "perm_analytics": "none",
                                                "perm_keys": "read"}).status_code == 303


def test_editing_a_users_access(client, auth, database):
    user_id = add_user(client, auth, "dave@example.test", {"apis": "read"})
    signed_in_home(client)
    page = client.get(f"/users/{user_id}")
    assert page.status_code == 200 and '<option value="read" selected>read</option>' in \
        page.text.split('id="perm_apis"')[1]
    data = {f"perm_{area}": "none" for area in ("apis", "keys", "policies", "analytics", "users", "system")}
    reply = post(client, f"/users/{user_id}", csrf_of(page.text), **{**data, "perm_keys": "write"})
    assert reply.status_code == 303 and reply.headers["location"] == f"/users/{user_id}?done=access"
    stored = database.users.find_one({"_id": user_id})
    assert stored["permissions"]["keys"] == "write" and stored["permissions"]["apis"] == "none"
    [entry] = database.audit.find({"action": "update"})
    assert entry["before"]["user_permissions"] == {"apis": "read"}
    assert entry["after"]["user_permissions"]["keys"] == "write"
    assert 'data-testid="notice">Access saved.' in client.get(reply.headers["location"]).text


def test_refused_edits_say_why_and_change_nothing(client, auth, database):
    other_admin = add_user(client, auth, "second-admin@example.test", is_admin=True)
    add_user(client, auth, "manager@example.test", {"users": "write"})
    token = sign_in_as(client, "manager@example.test")
    before = snapshot(database)
    for action, data in ((f"/users/{other_admin}", {"perm_apis": "read"}),
                         (f"/users/{other_admin}/reset", {"new_password": NEW_PASSWORD}),
                         (f"/users/{other_admin}/delete", {})):
        reply = post(client, action, token, **data)
        assert reply.status_code == 403, action
        assert "only an admin may change an admin" in refusal(reply.text)
    assert snapshot(database) == before

    # The last admin: an admin can neither demote nor delete the only other admin once alone.
    token = sign_in_as(client, ADMIN_EMAIL, "correct horse battery staple")
    assert post(client, f"/users/{other_admin}/delete", token).status_code == 303
    admin_id = database.users.find_one({"email": ADMIN_EMAIL})["_id"]
    before = snapshot(database)
    reply = post(client, f"/users/{admin_id}", token, perm_apis="write")  # no is_admin: a demotion
    assert reply.status_code == 409 and "last admin cannot lose the admin flag" in refusal(reply.text)
    reply = post(client, f"/users/{admin_id}/delete", token)
    assert reply.status_code == 409 and "cannot delete yourself" in refusal(reply.text)
    assert snapshot(database) == before


def test_setting_a_password_signs_the_user_out_and_is_audited_without_it(client, auth, database, settings):
    user_id = add_user(client, auth, "erin@example.test")
    api_token = login(client, "erin@example.test", USER_PASSWORD)
    sign_in_as(client, "erin@example.test")
    erin_session = client.cookies.get(SESSION_COOKIE)
    token = sign_in_as(client, ADMIN_EMAIL, "correct horse battery staple")

    reply = post(client, f"/users/{user_id}/reset", token, new_password="too short")
    assert reply.status_code == 400 and "at least 12 characters" in field_error(reply.text, "new_password")
    assert database.sessions.count_documents({"user_id": user_id}) == 2

    reply = post(client, f"/users/{user_id}/reset", token, new_password=NEW_PASSWORD)
    assert reply.status_code == 303 and reply.headers["location"] == f"/users/{user_id}?done=password"
    assert password_matches(NEW_PASSWORD, database.users.find_one({"_id": user_id})["password_hash"])
    assert database.sessions.count_documents({"user_id": user_id}) == 0
    assert client.get("/api/apis", headers={"authorization": api_token}).status_code == 401
    client.cookies.set(SESSION_COOKIE, erin_session)
    assert client.get("/", follow_redirects=False).status_code == 303  # her browser session is over
    [entry] = database.audit.find({"action": "reset_password"})
    assert NEW_PASSWORD not in repr(entry) and "$2b$" not in repr(entry)


def test_deleting_a_user(client, auth, database):
    user_id = add_user(client, auth, "frank@example.test")
    login(client, "frank@example.test", USER_PASSWORD)
    signed_in_home(client)
    page = client.get(f"/users/{user_id}")
    assert 'data-testid="delete-user"' in page.text
    reply = post(client, f"/users/{user_id}/delete", csrf_of(page.text))
    assert reply.status_code == 303 and reply.headers["location"] == "/users"
    assert database.users.count_documents({"_id": user_id}) == 0
    assert database.sessions.count_documents({"user_id": user_id}) == 0
    assert database.audit.count_documents({"action": "delete", "target": user_id}) == 1
    assert "frank@example.test" not in client.get("/users").text
    assert client.get(f"/users/{user_id}").status_code == 404


def test_a_read_only_user_sees_but_cannot_change(client, auth, database):
    target = add_user(client, auth, "target@example.test", {"apis": "read"})
    add_user(client, auth, "reader@example.test", {"users": "read"})
    token = sign_in_as(client, "reader@example.test")
    listing = client.get("/users")
    assert listing.status_code == 200 and 'href="/users/new"' not in listing.text
    page = client.get(f"/users/{target}")
    assert page.status_code == 200 and "save-access" not in page.text and "delete-user" not in page.text
    assert 'id="perm_apis" name="perm_apis" disabled' in page.text
    assert client.get("/users/new").status_code == 403
    before = snapshot(database)
    for action, data in (("/users/new", GOOD), (f"/users/{target}", {"perm_apis": "write"}),
                         (f"/users/{target}/reset", {"new_password": NEW_PASSWORD}), (f"/users/{target}/delete", {})):
        reply = post(client, action, token, **data)
        assert reply.status_code == 403 and "write access to users" in reply.text, action
    assert snapshot(database) == before


def test_no_users_access_is_refused_every_page(client, auth):
    target = add_user(client, auth, "target@example.test")
    add_user(client, auth, "nobody@example.test", {"analytics": "read", "users": "none"})
    sign_in_as(client, "nobody@example.test")
    for path in ("/users", "/users/new", f"/users/{target}"):
        assert client.get(path).status_code == 403, path


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_changes(client, auth, database, token):
    target = add_user(client, auth, "target@example.test")
    signed_in_home(client)
    before = snapshot(database)
    for action, data in (("/users/new", GOOD), (f"/users/{target}", {"perm_apis": "write"}),
                         (f"/users/{target}/reset", {"new_password": NEW_PASSWORD}), (f"/users/{target}/delete", {})):
        assert post(client, action, token, **data).status_code == 403, action
    assert snapshot(database) == before


def test_another_organisations_user_is_not_found(client, settings, database):
    other_org_admin(client, settings)  # user "u2" of "other-org"
    token = sign_in_as(client, ADMIN_EMAIL, "correct horse battery staple")
    before = snapshot(database)
    assert client.get("/users/u2").status_code == 404
    for action, data in (("/users/u2", {"perm_apis": "write"}), ("/users/u2/reset", {"new_password": NEW_PASSWORD}),
                         ("/users/u2/delete", {})):
        assert post(client, action, token, **data).status_code == 404, action
    assert snapshot(database) == before
    assert "other@example.test" not in client.get("/users").text
