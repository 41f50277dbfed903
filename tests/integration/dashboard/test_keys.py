"""/api/keys as Tyk's dashboard answers it: keys in Redis as the gateways read them, hashed, checked, scoped."""

from __future__ import annotations

import time

import bcrypt
import pytest
import redis
from fastapi.testclient import TestClient

from tests.integration.dashboard.conftest import KEY_HASH_SECRET, definition, login, other_org_admin
from tests.servers import free_port
from tollhouse.core.keys import decode_session, hash_key, session_name
from tollhouse.dashboard.app import create_app


def session(**overrides) -> dict:
    """A valid session granting the API "orders", with a field Tollhouse does not know (it must survive)."""
    return {"rate": 10, "per": 60, "quota_max": 100, "quota_renewal_rate": 3600,
            "access_rights": {"orders": {"versions": ["Default"]}}, "x_vendor": {"keep": [1, None]}, **overrides}


@pytest.fixture
def orders(client, auth) -> str:
    reply = client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="orders")})
    assert reply.status_code == 200, reply.text
    return "orders"


@pytest.fixture
def gold(client, auth, orders) -> str:
    reply = client.post("/api/portal/policies", headers=auth,
                        json={"id": "gold", "rate": 100, "per": 1, "key_expires_in": 3600,
                              "access_rights": {"orders": {}}})
    assert reply.status_code == 200, reply.text
    return "gold"


@pytest.fixture
def db(redis_url):
    return redis.Redis.from_url(redis_url)


def create(client, auth, body: dict) -> dict:
    reply = client.post("/api/keys", headers=auth, json=body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_created_key_is_stored_only_as_its_hash(client, auth, orders, db):
    answer = create(client, auth, session())
    key, key_hash = answer["key_id"], answer["key_hash"]
    assert answer["api_model"] == {}
    assert key_hash == hash_key(KEY_HASH_SECRET, key)  # the gateways' hash: the key works there
    stored = decode_session(db.get(session_name(key_hash)))
    assert stored.org_id and key.startswith(stored.org_id)
    assert stored.rate == 10 and stored.access_rights["orders"].api_id == "orders"
    assert stored.model_extra["x_vendor"] == {"keep": [1, None]}
    assert stored.date_created and stored.last_updated
    assert answer["data"] == client.get(f"/api/keys/{key}", headers=auth).json()["data"]
    # A dump of Redis reveals no key: its random part (after the org_id prefix) appears nowhere.
    dump = b"".join(name + (db.get(name) or b"") for name in db.scan_iter("*") if db.type(name) == b"string")
    assert len(key.removeprefix(stored.org_id)) == 48
    assert key.removeprefix(stored.org_id).encode() not in dump


def test_read_update_delete_by_key_and_by_hash(client, auth, orders, db):
    answer = create(client, auth, session())
    key, key_hash = answer["key_id"], answer["key_hash"]

    by_key = client.get(f"/api/keys/{key}", headers=auth).json()
    by_hash = client.get(f"/api/keys/{key_hash}?hashed=true", headers=auth).json()
    assert by_key["key_id"] == key and by_hash["key_id"] == key_hash
    assert by_key["data"] == by_hash["data"] and by_key["key_hash"] == by_hash["key_hash"] == key_hash

    changed = {**by_key["data"], "rate": 50, "is_inactive": True}
    reply = client.put(f"/api/keys/{key_hash}?hashed=1", headers=auth, json=changed)
    assert reply.status_code == 200, reply.text
    assert reply.json()["data"]["rate"] == 50
    stored = decode_session(db.get(session_name(key_hash)))
    assert stored.rate == 50 and stored.is_inactive
    assert stored.date_created == by_key["data"]["date_created"]

    reply = client.delete(f"/api/keys/{key}", headers=auth)
    assert reply.json() == {"Status": "OK", "Message": "Key deleted successfully.", "Meta": None}
    assert db.get(session_name(key_hash)) is None
    for method in ("get", "delete"):
        reply = getattr(client, method)(f"/api/keys/{key}", headers=auth)
        assert reply.status_code == 404
        assert reply.json() == {"Status": "Error", "Message": "Key not found"}
    assert client.put(f"/api/keys/{key}", headers=auth, json=session()).status_code == 404
    assert db.get(session_name(key_hash)) is None  # an update never brings a key back


def test_update_resets_the_quota_and_delete_drops_every_counter(client, auth, orders, db):
    key_hash = create(client, auth, session())["key_hash"]
    # Key-wide, per API (the API's id before the hash) and per endpoint, as the gateway names them.
    counters = [f"quota-{key_hash}", f"quota-orders-{key_hash}", f"rate-limit-{key_hash}",
                f"rate-limit-orders-{key_hash}", f"rate-limit-endpoint:orders:v1:GET:/items-{key_hash}"]
    for name in [*counters, "rate-limit-api:orders"]:
        db.set(name, 5)

    client.put(f"/api/keys/{key_hash}?hashed=true&suppress_reset=1", headers=auth, json=session())
    assert all(db.exists(name) for name in counters)
    client.put(f"/api/keys/{key_hash}?hashed=true", headers=auth, json=session())
    assert [bool(db.exists(name)) for name in counters] == [False, False, True, True, True]

    client.delete(f"/api/keys/{key_hash}?hashed=true", headers=auth)
    assert not any(db.exists(name) for name in counters)
    assert db.exists("rate-limit-api:orders")  # the API's own limit is no key's counter


def test_paging_lists_sorted_hashes_of_the_organisation_only(client, auth, orders, db):
    # page_size is 3 in these tests
    hashes = sorted(create(client, auth, session())["key_hash"] for _ in range(5))
    db.set(session_name("f" * 64), '{"org_id": "other-org"}')  # another organisation's key
    db.set(session_name("e" * 64), "not json")
    first = client.get("/api/keys?p=1", headers=auth).json()
    second = client.get("/api/keys?p=2", headers=auth).json()
    assert first["pages"] == second["pages"] == 2
    assert first["data"]["keys"] + second["data"]["keys"] == hashes
    assert client.get("/api/keys?p=0", headers=auth).json() == {"data": {"keys": hashes}, "pages": 2}
    assert client.get("/api/keys?p=9", headers=auth).json() == {"data": {"keys": []}, "pages": 2}


def test_policies_must_exist_and_give_new_keys_their_lifetime(client, auth, gold):
    answer = create(client, auth, {"apply_policies": [gold]})
    assert time.time() + 3500 < answer["data"]["expires"] <= time.time() + 3600
    assert create(client, auth, {"apply_policies": [gold], "expires": 0})["data"]["expires"] > 0
    fixed = int(time.time()) + 60
    assert create(client, auth, {"apply_policy_id": gold, "expires": fixed})["data"]["expires"] == fixed


def test_custom_key_with_basic_auth_password_stored_as_bcrypt(client, auth, orders, db):
    body = session(basic_auth_data={"password": "s3cret pass"})
    reply = client.post("/api/keys/alice", headers=auth, json=body)
    assert reply.status_code == 200, reply.text
    assert reply.json()["key_id"] == "alice"
    key_hash = hash_key(KEY_HASH_SECRET, "alice")
    assert reply.json()["key_hash"] == key_hash
    stored = decode_session(db.get(session_name(key_hash)))
    assert stored.basic_auth_data.hash_type == "bcrypt"
    assert bcrypt.checkpw(b"s3cret pass", stored.basic_auth_data.password.encode())
    assert b"s3cret pass" not in db.get(session_name(key_hash))

    reply = client.post("/api/keys/alice", headers=auth, json=session())
    assert reply.status_code == 409
    assert reply.json()["Message"] == "Key already exists; PUT /api/keys/alice changes it"

    # A PUT without the password keeps the stored hash; one with a bcrypt hash stores it as given.
    client.put("/api/keys/alice", headers=auth, json=session(rate=1))
    assert decode_session(db.get(session_name(key_hash))).basic_auth_data.password == stored.basic_auth_data.password
    imported = bcrypt.hashpw(b"imported", bcrypt.gensalt(4)).decode()
    client.put("/api/keys/alice", headers=auth, json=session(basic_auth_data={"password": imported}))
    assert decode_session(db.get(session_name(key_hash))).basic_auth_data.password == imported


CUSTOM_REFUSED = [
    ("hash-as-custom-key", "/api/keys/" + "a" * 64 + "?hashed=true", "key", "not its hash"),
    ("space-in-key", "/api/keys/has%20space", "key", "visible ASCII"),
]


@pytest.mark.parametrize(("path", "field", "message"), [case[1:] for case in CUSTOM_REFUSED],
                         ids=[case[0] for case in CUSTOM_REFUSED])
def test_unusable_custom_key_is_a_400(client, auth, orders, path, field, message):
    reply = client.post(path, headers=auth, json=session())
    assert reply.status_code == 400
    assert reply.json()["Message"].startswith(f"{field}: ") and message in reply.json()["Message"]


INVALID = [
    ("rate-not-a-number", session(rate="fast"), "rate", "valid number"),
    ("negative-expires", session(expires=-1), "expires", "greater than or equal to 0"),
    ("quota-below-minus-one", session(quota_max=-2), "quota_max", "greater than or equal to -1"),
    ("inactive-not-bool", session(is_inactive="maybe"), "is_inactive", "valid boolean"),
    ("unknown-api", session(access_rights={"billing": {}}), "access_rights.billing", "API billing does not exist"),
    ("api-id-mismatch", session(access_rights={"orders": {"api_id": "billing"}}), "access_rights.orders.api_id",
     "does not match its entry's name"),
    ("bad-url-regex", session(access_rights={"orders": {"allowed_urls": [{"url": "(", "methods": ["GET"]}]}}),
     "access_rights.orders.allowed_urls.0.url", "not a valid regular expression"),
    ("unknown-policy", session(apply_policies=["nope"]), "apply_policies", "policy nope does not exist"),
    ("unknown-policy-id", session(apply_policy_id="nope"), "apply_policy_id", "policy nope does not exist"),
    ("password-too-long", session(basic_auth_data={"password": "x" * 73}), "basic_auth_data.password",
     "longer than 72 bytes"),
    ("body-not-object", ["x"], "(body)", "must be a JSON object"),
]


@pytest.mark.parametrize(("body", "field", "message"), [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_invalid_session_is_a_400_naming_the_field(client, auth, orders, db, body, field, message):
    for method, path in (("POST", "/api/keys"), ("POST", "/api/keys/custom-key")):
        reply = client.request(method, path, headers=auth, json=body)
        assert reply.status_code == 400, reply.text
        answer = reply.json()
        assert answer["Message"].startswith(f"{field}: ")
        assert message in answer["Message"]
        assert {"field": field, "message": answer["Message"].removeprefix(f"{field}: ")} in answer["Errors"]
    assert list(db.scan_iter("apikey-*")) == []  # nothing stored


def test_bad_input_leaves_the_stored_key_untouched(client, auth, orders, db):
    answer = create(client, auth, session())
    key, key_hash = answer["key_id"], answer["key_hash"]
    before = db.get(session_name(key_hash))
    for body in (session(rate=-1), session(apply_policies=["nope"]), session(access_rights={"nope": {}}), "x"):
        reply = client.put(f"/api/keys/{key}", headers=auth, json=body)
        assert reply.status_code == 400, (body, reply.text)
    reply = client.put(f"/api/keys/{key}", headers={**auth, "content-type": "application/json"}, content=b'{"r')
    assert reply.status_code == 400
    reply = client.get("/api/keys/not-a-hash?hashed=true", headers=auth)
    assert reply.status_code == 400
    assert reply.json()["Message"].startswith("key: with hashed=true")
    assert db.get(session_name(key_hash)) == before


def test_other_organisations_keys_are_invisible(client, auth, orders, gold, settings):
    key = create(client, auth, session())["key_id"]
    other = other_org_admin(client, settings)

    assert client.get("/api/keys", headers=other).json() == {"data": {"keys": []}, "pages": 1}
    assert client.get(f"/api/keys/{key}", headers=other).status_code == 404
    assert client.put(f"/api/keys/{key}", headers=other, json={}).status_code == 404
    assert client.delete(f"/api/keys/{key}", headers=other).status_code == 404
    assert client.get(f"/api/keys/{key}", headers=auth).status_code == 200
    # Nor can another organisation's APIs or policies be granted.
    reply = client.post("/api/keys", headers=other, json=session())
    assert reply.json()["Message"] == "access_rights.orders: API orders does not exist in this organisation"
    reply = client.post("/api/keys", headers=other, json={"apply_policies": [gold]})
    assert reply.json()["Message"] == "apply_policies: policy gold does not exist in this organisation"


ROUTES = {"list": ("GET", "/api/keys"), "create": ("POST", "/api/keys"), "custom": ("POST", "/api/keys/k"),
          "read": ("GET", "/api/keys/k"), "replace": ("PUT", "/api/keys/k"), "delete": ("DELETE", "/api/keys/k")}


@pytest.mark.parametrize(("method", "path"), ROUTES.values(), ids=ROUTES.keys())
@pytest.mark.parametrize("headers", [{}, {"authorization": "not-a-token"}], ids=["missing", "unknown"])
def test_a_user_token_is_required(client, method, path, headers):
    kwargs = {"json": session()} if method in ("POST", "PUT") else {}
    reply = client.request(method, path, headers=headers, **kwargs)
    assert reply.status_code == 401
    assert reply.json()["Status"] == "Error"


def test_redis_down_is_a_503_naming_it(settings):
    without_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(without_redis)) as client:
        auth = {"authorization": login(client)}
        assert client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="orders")}
                           ).status_code == 200
        for method, path in ROUTES.values():
            kwargs = {"json": session()} if method in ("POST", "PUT") else {}
            reply = client.request(method, path, headers=auth, **kwargs)
            assert reply.status_code == 503, (method, path, reply.text)
            assert reply.json() == {"Status": "Error",
                                    "Message": "Redis unavailable (keys are stored there), try again later"}
        # The rest of the dashboard keeps working.
        assert client.get("/api/apis", headers=auth).status_code == 200
