"""The policies screens: list (paged), new, edit, delete; errors next to fields, CSRF, permissions, notices, audit."""

from __future__ import annotations

import pytest

from tests.integration.dashboard.conftest import USER_PASSWORD, add_user, definition, other_org_admin, received
from tests.integration.dashboard.test_web import csrf_of, signed_in_home, web_login
from tests.integration.dashboard.test_web_apis import field_error, fields_of, post_form
from tollhouse.core import notify

GOOD = {"name": "Gold", "rate": "100", "per": "60", "quota_max": "1000", "quota_renewal_rate": "3600",
        "key_expires_in": "86400", "tags": "paid, tier-1", "api:orders": "on"}
OFF = None


@pytest.fixture
def database(client, settings):
    return client.app.state.store.client[settings.mongo_database]


@pytest.fixture
def orders(client, auth) -> str:
    versions = {"v1": {"name": "v1"}, "v2": {"name": "v2"}}
    raw = definition(api_id="orders", name="Orders", version_data={"not_versioned": False, "versions": versions})
    reply = client.post("/api/apis", headers=auth, json={"api_definition": raw})
    assert reply.status_code == 200, reply.text
    return "orders"


def post_new(client, token: str | None = "rendered", **changes):
    return post_form(client, "/policies/new", {**GOOD, **changes}, token)


def create_by_api(client, auth, **fields) -> str:
    body = {"name": "Silver", "rate": 5, "per": 1, "access_rights": {"orders": {"versions": ["v1"]}}, **fields}
    reply = client.post("/api/portal/policies", headers=auth, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["Meta"]


def stored(database) -> list[dict]:
    return list(database.policies.find({}))


def sign_in_as(client, auth, email: str, permissions: dict[str, str]) -> None:
    add_user(client, auth, email, permissions)
    client.cookies.clear()
    assert web_login(client, email, USER_PASSWORD).status_code == 303


def test_pages_need_a_session(client):
    for path in ("/policies", "/policies/new", "/policies/gold", "/policies/gold/delete"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/policies"), path


def test_the_list_is_empty_then_the_form_offers_every_field(client, orders):
    signed_in_home(client)
    listing = client.get("/policies")
    assert listing.status_code == 200 and 'data-testid="no-policies"' in listing.text
    assert 'href="/policies/new"' in listing.text
    form = client.get("/policies/new").text
    for name in ("name", "id", "active", "rate", "per", "quota_max", "quota_renewal_rate", "key_expires_in", "tags",
                 "api:orders", "version:orders:v1", "version:orders:v2", "csrf_token"):
        assert f'name="{name}"' in form, name
    assert fields_of(form)["active"] == "on"  # a new policy is active unless unticked


def test_creating_stores_audits_announces_and_lists_the_policy(client, auth, orders, database, subscriber):
    signed_in_home(client)
    reply = post_new(client, name="Gold <tier>", **{"version:orders:v2": "on"})
    assert reply.status_code == 303 and reply.headers["location"] == "/policies"
    [document] = stored(database)
    policy_id = document["_id"]
    assert document["name"] == "Gold <tier>" and document["active"] is True
    assert (document["rate"], document["per"], document["quota_max"], document["quota_renewal_rate"]) == \
        (100, 60, 1000, 3600)
    assert document["key_expires_in"] == 86400 and document["tags"] == ["paid", "tier-1"]
    assert document["access_rights"] == {"orders": {"api_id": "orders", "api_name": "Orders", "versions": ["v2"]}}
    [change] = client.app.state.store.audit.find({"area": "policies"})
    assert change["action"] == "create" and change["target"] == policy_id
    [notice] = received(subscriber, 1)
    assert notice.command == notify.POLICY_CHANGED and notice.payload == policy_id
    # The JSON API serves the very same document.
    assert client.get(f"/api/portal/policies/{policy_id}", headers=auth).json()["access_rights"] == \
        document["access_rights"]
    listing = client.get("/policies").text
    assert 'data-testid="policy-row"' in listing and "Gold &lt;tier&gt;" in listing and "<tier>" not in listing
    assert "100 per 60 s" in listing and "1000 per 1 h" in listing and "1 d" in listing and "Orders" in listing
    assert f'href="/policies/{policy_id}"' in listing


def test_blank_limits_mean_none_and_a_given_id_is_kept(client, orders, database):
    signed_in_home(client)
    reply = post_new(client, id="free", rate="", per="", quota_max="", quota_renewal_rate="", key_expires_in="",
                     tags="", active=OFF)
    assert reply.status_code == 303, reply.text
    [document] = stored(database)
    assert document["_id"] == "free" and document["active"] is False
    assert (document["rate"], document["per"], document["quota_max"], document["quota_renewal_rate"]) == (0, 0, -1, 0)
    assert document["key_expires_in"] == 0 and document["tags"] == []
    assert document["access_rights"]["orders"]["versions"] == []  # none ticked: every version


@pytest.mark.parametrize(("changes", "field", "expected"), [
    ({"rate": "ten"}, "rate", "must be a number"),
    ({"per": ""}, "per", "needs both rate and per"),
    ({"rate": "-1"}, "rate", "greater than or equal to 0"),
    ({"quota_max": "1.5"}, "quota_max", "whole number"),
    ({"quota_max": "-5"}, "quota_max", "greater than or equal to -1"),
    ({"quota_renewal_rate": "-1"}, "quota_renewal_rate", "greater than or equal to 0"),
    ({"key_expires_in": "soon"}, "key_expires_in", "whole number"),
    ({"id": "bad id!"}, "id", "should match pattern"),
])
def test_a_bad_field_is_shown_next_to_it_with_the_values_kept_and_nothing_stored(client, orders, database, changes,
                                                                                  field, expected):
    signed_in_home(client)
    reply = post_new(client, **changes)
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    kept = fields_of(reply.text)
    for name, value in {**GOOD, **changes}.items():
        assert kept.get(name) == value, name
    assert stored(database) == []
    assert client.app.state.store.audit.count_documents({"area": "policies"}) == 0


def test_a_taken_id_is_shown_next_to_the_id(client, auth, orders, database):
    create_by_api(client, auth, id="gold")
    signed_in_home(client)
    reply = post_new(client, id="gold", name="Another")
    assert reply.status_code == 400 and "already exists" in field_error(reply.text, "id")
    assert [document["name"] for document in stored(database)] == ["Silver"]


def test_values_are_escaped_when_the_form_comes_back(client, orders):
    signed_in_home(client)
    reply = post_new(client, name='"><script>alert(1)</script>', tags="<b>x</b>", rate="many")
    assert reply.status_code == 400
    assert "<script>" not in reply.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text
    assert "<b>" not in reply.text


def test_an_edit_keeps_what_the_form_does_not_show_and_is_audited_and_announced(client, auth, orders, database,
                                                                                subscriber):
    extra = {"partitions": {"quota": True}, "meta_data": {"team": "a"}, "x_vendor": [1, None],
             "access_rights": {"orders": {"versions": ["v1"], "allowed_urls": [{"url": "/items", "methods": ["GET"]}],
                                          "limit": {"rate": 1, "per": 1}}}}
    policy_id = create_by_api(client, auth, **extra)
    received(subscriber, 1)  # the policy's creation
    [before] = stored(database)
    signed_in_home(client)
    page = client.get(f"/policies/{policy_id}")
    assert page.status_code == 200
    shown = fields_of(page.text)
    assert shown["name"] == "Silver" and shown["rate"] == "5" and shown["per"] == "1" and shown["quota_max"] == ""
    assert shown["api:orders"] == "on" and shown["version:orders:v1"] == "on" and "version:orders:v2" not in shown
    reply = post_form(client, f"/policies/{policy_id}", {"name": "Silver plus", "quota_max": "50",
                                                          "version:orders:v2": "on"})
    assert reply.status_code == 303 and reply.headers["location"] == f"/policies/{policy_id}?saved=1"
    [after] = stored(database)
    assert after["name"] == "Silver plus" and after["quota_max"] == 50
    assert after["partitions"] == {"quota": True} and after["meta_data"] == {"team": "a"}
    assert after["x_vendor"] == [1, None] and after["date_created"] == before["date_created"]
    rights = after["access_rights"]["orders"]
    assert rights["versions"] == ["v1", "v2"] and rights["limit"] == {"rate": 1, "per": 1}
    assert rights["allowed_urls"] == [{"url": "/items", "methods": ["GET"]}]
    [change] = client.app.state.store.audit.find({"area": "policies", "action": "update"})
    assert change["target"] == policy_id and change["before"]["name"] == "Silver"
    assert change["after"]["name"] == "Silver plus"
    [notice] = received(subscriber, 1)
    assert notice.command == notify.POLICY_CHANGED and notice.payload == policy_id
    assert 'data-testid="saved"' in client.get(f"/policies/{policy_id}?saved=1").text


def test_saving_the_form_unchanged_changes_nothing_but_the_time(client, auth, orders, database):
    policy_id = create_by_api(client, auth, tags=["a"], key_expires_in=60, quota_max=10, quota_renewal_rate=60)
    [before] = stored(database)
    signed_in_home(client)
    assert post_form(client, f"/policies/{policy_id}", {}).status_code == 303
    [after] = stored(database)
    before.pop("last_updated"), after.pop("last_updated")
    # The form writes the fields it shows: the API it grants gets its name, "active" its default.
    before["access_rights"]["orders"]["api_name"] = "Orders"
    before["active"] = True
    assert after == before


def test_a_bad_edit_keeps_the_values_and_stores_nothing(client, auth, orders, database):
    policy_id = create_by_api(client, auth)
    [before] = stored(database)
    signed_in_home(client)
    reply = post_form(client, f"/policies/{policy_id}", {"name": "Renamed", "per": "-3"})
    assert reply.status_code == 400 and "greater than or equal to 0" in field_error(reply.text, "per")
    assert fields_of(reply.text)["name"] == "Renamed" and 'data-testid="save-policy"' in reply.text
    assert stored(database) == [before]
    assert client.app.state.store.audit.count_documents({"area": "policies", "action": "update"}) == 0


def test_deleting_asks_first_then_deletes_audits_and_announces(client, auth, orders, database, subscriber):
    policy_id = create_by_api(client, auth, name="Doomed <p>")
    received(subscriber, 1)  # the policy's creation
    signed_in_home(client)
    assert f'href="/policies/{policy_id}/delete"' in client.get("/policies").text
    confirm = client.get(f"/policies/{policy_id}/delete")
    assert confirm.status_code == 200 and "Delete policy Doomed &lt;p&gt;?" in confirm.text
    assert len(stored(database)) == 1  # asking deletes nothing
    reply = client.post(f"/policies/{policy_id}/delete", data={"csrf_token": csrf_of(confirm.text)},
                        follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/policies"
    assert stored(database) == []
    [change] = client.app.state.store.audit.find({"area": "policies", "action": "delete"})
    assert change["target"] == policy_id and change["before"]["name"] == "Doomed <p>"
    [notice] = received(subscriber, 1)
    assert notice.command == notify.POLICY_CHANGED and notice.payload == policy_id
    assert 'data-testid="no-policies"' in client.get("/policies").text
    assert client.get(f"/policies/{policy_id}").status_code == 404


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_changes(client, auth, orders, database, token):
    policy_id = create_by_api(client, auth)
    before = stored(database)
    signed_in_home(client)
    assert post_new(client, token, id="new-one").status_code == 403
    assert post_form(client, f"/policies/{policy_id}", {"name": "Changed"}, token).status_code == 403
    data = {} if token is None else {"csrf_token": token}
    assert client.post(f"/policies/{policy_id}/delete", data=data, follow_redirects=False).status_code == 403
    assert stored(database) == before
    assert client.app.state.store.audit.count_documents({"area": "policies", "action": {"$ne": "create"}}) == 0
    assert client.app.state.store.audit.count_documents({"area": "policies"}) == 1


def test_the_list_is_paged(client, auth, orders):
    for number in range(4):  # page_size is 3 in these tests
        create_by_api(client, auth, id=f"p{number}", name=f"Policy {number}")
    signed_in_home(client)
    first, second = client.get("/policies").text, client.get("/policies?p=2").text
    assert first.count('data-testid="policy-row"') == 3 and 'href="?p=2"' in first
    assert second.count('data-testid="policy-row"') == 1 and 'href="?p=1"' in second
    assert 'data-testid="no-policies"' in client.get("/policies?p=3").text
    assert client.get("/policies?p=abc").text.count('data-testid="policy-row"') == 3  # a hand-edited page: the first


def test_another_organisations_policy_is_not_found(client, auth, orders, settings, database):
    policy_id = create_by_api(client, auth)
    before = stored(database)
    assert other_org_admin(client, settings)
    client.cookies.clear()
    assert web_login(client, "other@example.test", "other password").status_code == 303
    assert 'data-testid="no-policies"' in client.get("/policies").text
    assert client.get(f"/policies/{policy_id}").status_code == 404
    assert client.get(f"/policies/{policy_id}/delete").status_code == 404
    token = csrf_of(client.get("/").text)
    assert client.post(f"/policies/{policy_id}", data={"csrf_token": token, **GOOD}).status_code == 404
    assert client.post(f"/policies/{policy_id}/delete", data={"csrf_token": token}).status_code == 404
    assert stored(database) == before


def test_a_read_only_user_sees_but_cannot_create_edit_or_delete(client, auth, orders, database, subscriber):
    policy_id = create_by_api(client, auth)
    before = stored(database)
    received(subscriber, 1)  # the policy's creation
    sign_in_as(client, auth, "policy-reader@example.test", {"policies": "read"})
    listing = client.get("/policies")
    assert listing.status_code == 200 and 'href="/policies/new"' not in listing.text
    assert f'href="/policies/{policy_id}/delete"' not in listing.text
    view = client.get(f"/policies/{policy_id}")
    assert view.status_code == 200 and 'data-testid="save-policy"' not in view.text and "disabled" in view.text
    assert client.get("/policies/new").status_code == 403
    assert client.get(f"/policies/{policy_id}/delete").status_code == 403
    own_token = csrf_of(client.get("/").text)
    for path, data in (("/policies/new", GOOD), (f"/policies/{policy_id}", {**GOOD, "name": "Changed"}),
                       (f"/policies/{policy_id}/delete", {})):
        reply = client.post(path, data={"csrf_token": own_token, **data}, follow_redirects=False)
        assert reply.status_code == 403 and "write access to policies" in reply.text, path
    assert stored(database) == before
    assert client.app.state.store.audit.count_documents({"area": "policies", "action": {"$ne": "create"}}) == 0
    assert subscriber.get_message(timeout=0.5) is None  # nothing announced


def test_no_access_to_policies_is_refused_every_page(client, auth, orders):
    policy_id = create_by_api(client, auth)
    sign_in_as(client, auth, "nobody@example.test", {"policies": "none", "keys": "read"})
    for path in ("/policies", "/policies/new", f"/policies/{policy_id}", f"/policies/{policy_id}/delete"):
        assert client.get(path).status_code == 403, path
