"""The keys screens: list (paged, by hash), new key (from policies or direct) shown once, the key's page with its
usage, revoke; errors next to fields, CSRF, permissions, organisation scoping, audit."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
import redis
import redis.asyncio

from tests.integration.dashboard.conftest import KEY_HASH_SECRET, USER_PASSWORD, add_user, definition, other_org_admin
from tests.integration.dashboard.test_web import csrf_of, signed_in_home, web_login
from tests.integration.dashboard.test_web_apis import field_error, fields_of, post_form
from tollhouse.core.keys import decode_session, hash_key, session_name
from tollhouse.gateway.ratelimit import Limiter, QuotaRule, RateRule

FROM_POLICY = {"source": "policies", "policy:gold": "on", "expiry": "never"}
DIRECT = {"source": "direct", "rate": "10", "per": "60", "quota_max": "5", "quota_renewal_rate": "3600",
          "api:orders": "on", "expiry": "never"}
OFF = None


@pytest.fixture
def db(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def orders(client, auth) -> str:
    versions = {"v1": {"name": "v1"}, "v2": {"name": "v2"}}
    raw = definition(api_id="orders", name="Orders", use_keyless=False, use_standard_auth=True,
                     version_data={"not_versioned": False, "versions": versions})
    reply = client.post("/api/apis", headers=auth, json={"api_definition": raw})
    assert reply.status_code == 200, reply.text
    return "orders"


@pytest.fixture
def gold(client, auth, orders) -> str:
    reply = client.post("/api/portal/policies", headers=auth,
                        json={"id": "gold", "name": "Gold <tier>", "rate": 100, "per": 1, "key_expires_in": 3600,
                              "access_rights": {"orders": {}}})
    assert reply.status_code == 200, reply.text
    return "gold"


def stored_hashes(db) -> list[str]:
    return sorted(name.decode().removeprefix("apikey-") for name in db.scan_iter(match="apikey-*"))


def audited(client, action: str) -> list[dict]:
    return list(client.app.state.store.audit.find({"area": "keys", "action": action}))


def post_new(client, fields: dict, token: str | None = "rendered", **changes):
    return post_form(client, "/keys/new", {**fields, **changes}, token)


def shown_key(page: str) -> str:
    marker = 'data-testid="new-key">'
    assert marker in page, page
    return page.split(marker, 1)[1].split("</code>", 1)[0]


def create_by_api(client, auth, **session) -> str:
    body = {"rate": 1, "per": 1, "access_rights": {"orders": {}}, **session}
    reply = client.post("/api/keys", headers=auth, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()["key_hash"]


def sign_in_as(client, auth, email: str, permissions: dict[str, str]) -> None:
    add_user(client, auth, email, permissions)
    client.cookies.clear()
    assert web_login(client, email, USER_PASSWORD).status_code == 303


def test_pages_need_a_session(client):
    some_hash = "a" * 64
    for path in ("/keys", "/keys/new", f"/keys/{some_hash}", f"/keys/{some_hash}/revoke"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"].startswith("/login?next=/keys"), path


def test_the_list_is_empty_then_the_form_offers_policies_limits_apis_and_expiry(client, gold):
    signed_in_home(client)
    listing = client.get("/keys")
    assert listing.status_code == 200 and 'data-testid="no-keys"' in listing.text and 'href="/keys/new"' in listing.text
    form = client.get("/keys/new").text
    for name in ("alias", "source", "policy:gold", "rate", "per", "quota_max", "quota_renewal_rate", "api:orders",
                 "version:orders:v1", "expiry", "expires_at", "csrf_token"):
        assert f'name="{name}"' in form, name
    assert 'type="datetime-local"' in form and "Gold &lt;tier&gt;" in form and "<tier>" not in form


def test_a_key_from_a_policy_is_shown_once_and_stored_only_as_its_hash(client, auth, gold, db):
    signed_in_home(client)
    reply = post_new(client, FROM_POLICY, alias="partner <a>")
    assert reply.status_code == 200 and "location" not in reply.headers
    assert reply.headers["cache-control"] == "no-store"
    key = shown_key(reply.text)
    assert "shown only this once" in reply.text
    key_hash = hash_key(KEY_HASH_SECRET, key)  # the gateways' hash: the key works there
    assert stored_hashes(db) == [key_hash]
    session = decode_session(db.get(session_name(key_hash)))
    assert session.apply_policies == ["gold"] and session.alias == "partner <a>"
    assert time.time() + 3500 < session.expires <= time.time() + 3600  # the policy's key lifetime
    [change] = audited(client, "create")
    assert change["target"] == key_hash and key not in str(change)
    # Never again: not in the list, the key's page, nor the JSON API's answers.
    for page in (client.get("/keys").text, client.get(f"/keys/{key_hash}").text):
        assert key not in page and key_hash in page
    assert client.get(f"/api/keys/{key_hash}?hashed=true", headers=auth).json()["data"]["apply_policies"] == ["gold"]
    listing = client.get("/keys").text
    assert 'data-testid="key-row"' in listing and "Gold &lt;tier&gt;" in listing and "partner &lt;a&gt;" in listing
    assert f'href="/keys/{key_hash}"' in listing and "by policy" in listing


def test_a_direct_key_gets_its_own_limits_versions_and_expiry(client, orders, db):
    signed_in_home(client)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    reply = post_new(client, DIRECT, expiry="at", expires_at=expires.strftime("%Y-%m-%dT%H:%M"),
                     **{"version:orders:v2": "on"})
    assert reply.status_code == 200, reply.text
    key_hash = hash_key(KEY_HASH_SECRET, shown_key(reply.text))
    session = decode_session(db.get(session_name(key_hash)))
    assert (session.rate, session.per, session.quota_max, session.quota_renewal_rate) == (10, 60, 5, 3600)
    assert session.expires == int(expires.timestamp()) and session.apply_policies == []
    assert list(session.access_rights) == ["orders"] and session.access_rights["orders"].versions == ["v2"]
    assert session.access_rights["orders"].api_name == "Orders"
    listing = client.get("/keys").text
    assert "10 per 60 s" in listing and "5 per 1 h" in listing and expires.strftime("%Y-%m-%d %H:%M") in listing


@pytest.mark.parametrize(("fields", "changes", "field", "expected"), [
    (FROM_POLICY, {"policy:gold": OFF}, "policies", "tick at least one policy"),
    (DIRECT, {"api:orders": OFF}, "access_rights", "tick at least one API"),
    (DIRECT, {"source": OFF}, "source", "choose"),
    (DIRECT, {"rate": "fast"}, "rate", "must be a number"),
    (DIRECT, {"per": ""}, "per", "needs both rate and per"),
    (DIRECT, {"quota_max": "-3"}, "quota_max", "greater than or equal to -1"),
    (DIRECT, {"quota_renewal_rate": "hourly"}, "quota_renewal_rate", "whole number"),
    (DIRECT, {"expiry": "at", "expires_at": "tomorrow"}, "expires_at", "YYYY-MM-DDTHH:MM"),
    (DIRECT, {"expiry": "at", "expires_at": "2001-01-01T00:00"}, "expires_at", "must be in the future"),
])
def test_a_bad_field_is_shown_next_to_it_with_the_values_kept_and_nothing_stored(client, gold, db, fields, changes,
                                                                                  field, expected):
    signed_in_home(client)
    reply = post_new(client, fields, alias="mine", **changes)
    assert reply.status_code == 400
    assert expected in field_error(reply.text, field)
    assert 'data-testid="new-key"' not in reply.text
    kept = fields_of(reply.text)
    for name, value in {**fields, "alias": "mine", **changes}.items():
        if name != "source" or value is not None:
            assert kept.get(name) == value, name
    assert stored_hashes(db) == []
    assert audited(client, "create") == []


def test_values_are_escaped_when_the_form_comes_back(client, gold):
    signed_in_home(client)
    reply = post_new(client, DIRECT, alias='"><script>alert(1)</script>', rate="<b>")
    assert reply.status_code == 400
    assert "<script>" not in reply.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in reply.text
    assert "<b>" not in reply.text


def test_the_list_is_paged(client, auth, orders):
    hashes = sorted(create_by_api(client, auth) for _ in range(4))  # page_size is 3 in these tests
    signed_in_home(client)
    first, second = client.get("/keys").text, client.get("/keys?p=2").text
    assert first.count('data-testid="key-row"') == 3 and second.count('data-testid="key-row"') == 1
    assert 'href="?p=2"' in first and 'href="?p=1"' in second
    assert all(f'href="/keys/{key_hash}"' in first + second for key_hash in hashes)


def use_quota(redis_url: str, key_hash: str, times: int) -> None:
    """Count ``times`` requests against the key's quota with the gateways' own limiter script."""
    async def run():
        client = redis.asyncio.Redis.from_url(redis_url)
        limiter = Limiter(client)
        for _ in range(times):
            decision = await limiter.check([RateRule(f"rate-limit-{key_hash}", 10, 60)],
                                           QuotaRule(f"quota-{key_hash}", 5, 3600))
            assert decision.allowed
        await client.aclose()
    asyncio.run(run())


def test_the_key_page_shows_its_limits_access_and_quota_usage(client, orders, redis_url):
    signed_in_home(client)
    reply = post_new(client, DIRECT, alias="metered", **{"version:orders:v1": "on"})
    key_hash = hash_key(KEY_HASH_SECRET, shown_key(reply.text))
    page = client.get(f"/keys/{key_hash}").text
    assert 'data-testid="key-usage"' in page and "no period running" in page
    use_quota(redis_url, key_hash, 2)
    page = client.get(f"/keys/{key_hash}").text
    usage = fields_in(page, "usage-rate", "usage-quota", "usage-used", "usage-remaining")
    assert usage == ["10 per 60 s", "5 per 1 h", "2", "3"]
    renews = fields_in(page, "usage-renews")[0]
    assert dt.datetime.strptime(renews, "%Y-%m-%d %H:%M:%S UTC").replace(tzinfo=dt.UTC) > dt.datetime.now(dt.UTC)
    assert 'data-testid="key-access-row"' in page and "Orders" in page and ">v1<" in page
    assert f'href="/analytics/logs?key_hash={key_hash}"' in page and f'href="/analytics?key_hash={key_hash}"' in page
    assert "metered" in page and 'data-testid="key-problems"' not in page


def fields_in(page: str, *testids: str) -> list[str]:
    values = []
    for testid in testids:
        marker = f'data-testid="{testid}">'
        assert marker in page, testid
        values.append(page.split(marker, 1)[1].split("<", 1)[0].strip())
    return values


def test_the_key_page_shows_what_its_policies_grant_and_why_a_key_is_refused(client, auth, gold):
    key_hash = create_by_api(client, auth, apply_policies=["gold"])
    signed_in_home(client)
    page = client.get(f"/keys/{key_hash}").text
    assert "Gold &lt;tier&gt;" in page and fields_in(page, "usage-rate") == ["100 per 1 s"]
    assert "every version" in page and 'data-testid="key-problems"' not in page
    assert client.delete("/api/portal/policies/gold", headers=auth).status_code == 200
    page = client.get(f"/keys/{key_hash}").text
    assert 'data-testid="key-problems"' in page and "Its policy gold does not exist." in page
    assert "gold (missing)" in page


def test_revoking_asks_first_then_deletes_the_key_and_its_counters(client, auth, orders, db, redis_url):
    key_hash = create_by_api(client, auth, quota_max=5, quota_renewal_rate=3600, rate=10, per=60)
    use_quota(redis_url, key_hash, 1)
    assert db.exists(f"quota-{key_hash}") and db.exists(f"rate-limit-{key_hash}")
    signed_in_home(client)
    confirm = client.get(f"/keys/{key_hash}/revoke")
    assert confirm.status_code == 200 and "Revoke this key?" in confirm.text
    assert stored_hashes(db) == [key_hash]  # asking deletes nothing
    reply = client.post(f"/keys/{key_hash}/revoke", data={"csrf_token": csrf_of(confirm.text)},
                        follow_redirects=False)
    assert reply.status_code == 303 and reply.headers["location"] == "/keys"
    assert stored_hashes(db) == [] and not db.exists(f"quota-{key_hash}") and not db.exists(f"rate-limit-{key_hash}")
    [change] = audited(client, "delete")
    assert change["target"] == key_hash and change["before"]["quota_max"] == 5
    assert 'data-testid="no-keys"' in client.get("/keys").text
    assert client.get(f"/keys/{key_hash}").status_code == 404
    assert client.get(f"/api/keys/{key_hash}?hashed=true", headers=auth).status_code == 404


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_without_the_csrf_token_nothing_changes(client, auth, gold, db, token):
    key_hash = create_by_api(client, auth)
    before = db.get(session_name(key_hash))
    signed_in_home(client)
    assert post_new(client, FROM_POLICY, token).status_code == 403
    data = {} if token is None else {"csrf_token": token}
    assert client.post(f"/keys/{key_hash}/revoke", data=data, follow_redirects=False).status_code == 403
    assert stored_hashes(db) == [key_hash] and db.get(session_name(key_hash)) == before
    assert len(audited(client, "create")) == 1 and audited(client, "delete") == []


def test_another_organisations_key_is_not_found(client, auth, orders, settings, db):
    key_hash = create_by_api(client, auth)
    assert other_org_admin(client, settings)
    client.cookies.clear()
    assert web_login(client, "other@example.test", "other password").status_code == 303
    assert 'data-testid="no-keys"' in client.get("/keys").text
    assert client.get(f"/keys/{key_hash}").status_code == 404
    assert client.get(f"/keys/{key_hash}/revoke").status_code == 404
    token = csrf_of(client.get("/").text)
    assert client.post(f"/keys/{key_hash}/revoke", data={"csrf_token": token}).status_code == 404
    assert stored_hashes(db) == [key_hash]


def test_what_is_not_a_hash_is_not_found(client):
    signed_in_home(client)
    assert client.get("/keys/not-a-hash").status_code == 404
    token = csrf_of(client.get("/").text)
    assert client.post("/keys/not-a-hash/revoke", data={"csrf_token": token}).status_code == 404


def test_a_read_only_user_sees_but_cannot_create_or_revoke(client, auth, gold, db):
    key_hash = create_by_api(client, auth)
    before = db.get(session_name(key_hash))
    sign_in_as(client, auth, "key-reader@example.test", {"keys": "read"})
    listing = client.get("/keys")
    assert listing.status_code == 200 and f'href="/keys/{key_hash}"' in listing.text
    assert 'href="/keys/new"' not in listing.text and f'href="/keys/{key_hash}/revoke"' not in listing.text
    view = client.get(f"/keys/{key_hash}")
    assert view.status_code == 200 and 'data-testid="revoke-key"' not in view.text
    assert client.get("/keys/new").status_code == 403
    assert client.get(f"/keys/{key_hash}/revoke").status_code == 403
    own_token = csrf_of(client.get("/").text)
    for path, data in (("/keys/new", FROM_POLICY), (f"/keys/{key_hash}/revoke", {})):
        reply = client.post(path, data={"csrf_token": own_token, **data}, follow_redirects=False)
        assert reply.status_code == 403 and "write access to keys" in reply.text, path
    assert stored_hashes(db) == [key_hash] and db.get(session_name(key_hash)) == before
    assert len(audited(client, "create")) == 1 and audited(client, "delete") == []


def test_no_access_to_keys_is_refused_every_page(client, auth, orders):
    key_hash = create_by_api(client, auth)
    sign_in_as(client, auth, "nobody@example.test", {"keys": "none", "policies": "read"})
    for path in ("/keys", "/keys/new", f"/keys/{key_hash}", f"/keys/{key_hash}/revoke"):
        assert client.get(path).status_code == 403, path
