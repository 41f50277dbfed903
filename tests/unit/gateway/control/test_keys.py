"""``/tyk/keys`` against a real Redis: create, read, update, delete, hashed addressing, refusals."""

from __future__ import annotations

import time

import bcrypt
import pytest

from tollhouse.core.keys import looks_like_hash

RIGHTS = {"orders": {"api_id": "orders", "versions": ["Default"]}}
SESSION = {"rate": 10, "per": 60, "access_rights": RIGHTS, "meta_data": {"team": "a"}}


def error(message: str) -> dict:
    return {"status": "error", "message": message}


def test_create_answers_the_key_once_and_stores_only_its_hash(control):
    reply = control.client.post("/tyk/keys/create", json={**SESSION, "org_id": "org1"})
    assert reply.status_code == 200
    body = reply.json()
    key, key_hash = body["key"], body["key_hash"]
    assert body == {"key": key, "status": "ok", "action": "added", "key_hash": control.hash(key)}
    assert key.startswith("org1") and len(key) == len("org1") + 48
    assert control.redis.keys("*") == [f"apikey-{key_hash}".encode()]

    by_key = control.client.get(f"/tyk/keys/{key}").json()
    by_hash = control.client.get(f"/tyk/keys/{key_hash}", params={"hashed": "true"}).json()
    assert by_key == by_hash
    assert (by_key["rate"], by_key["per"], by_key["meta_data"]) == (10, 60, {"team": "a"})
    assert by_key["date_created"] and by_key["last_updated"]
    assert key not in str(by_hash)


def test_post_to_keys_creates_like_create(control):
    body = control.client.post("/tyk/keys", json=SESSION).json()
    assert body["action"] == "added" and looks_like_hash(body["key_hash"])


def test_custom_key_is_added_once_then_refused(control):
    first = control.client.post("/tyk/keys/my-custom-key", json=SESSION)
    assert first.json() == {"key": "my-custom-key", "status": "ok", "action": "added",
                            "key_hash": control.hash("my-custom-key")}
    stored = control.redis.get(f"apikey-{control.hash('my-custom-key')}")
    again = control.client.post("/tyk/keys/my-custom-key", json={"rate": 1, "per": 1})
    assert (again.status_code, again.json()) == (
        409, error("Key already exists; PUT /tyk/keys/my-custom-key changes it"))
    assert control.redis.get(f"apikey-{control.hash('my-custom-key')}") == stored


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "message"),
    [
        ("GET", "/tyk/keys/no-such-key", {}, 404, "Key not found"),
        ("GET", "/tyk/keys/" + "0" * 64, {"hashed": "true"}, 404, "Key not found"),
        ("GET", "/tyk/keys/not-a-hash", {"hashed": "true"}, 400,
         "key: with hashed=true the path must carry the key's hash (64 hex digits)"),
        ("DELETE", "/tyk/keys/no-such-key", {}, 404, "Key not found"),
        ("POST", "/tyk/keys/" + "a" * 64, {"hashed": "1"}, 400,
         "key: a key is created from the key itself, not its hash (drop hashed=true)"),
        ("POST", "/tyk/keys/with%20space", {}, 400, "key: must be 1-256 visible ASCII characters without spaces"),
        ("POST", "/tyk/keys/" + "k" * 257, {}, 400, "key: must be 1-256 visible ASCII characters without spaces"),
        ("PUT", "/tyk/keys/no-such-key", {}, 404, "Key not found"),
    ],
)
def test_addressing_refusals(control, method, path, params, status, message):
    reply = control.client.request(method, path, params=params, json=SESSION)
    assert (reply.status_code, reply.json()) == (status, error(message))


BAD_BODIES = [
    ({"rate": -1}, "rate: Input should be greater than or equal to 0"),
    ({"quota_max": -2}, "quota_max: Input should be greater than or equal to -1"),
    ({"expires": "soon"}, "expires: Input should be a valid integer, unable to parse string as an integer"),
    ({"access_rights": {"orders": {"allowed_urls": [{"url": "(", "methods": ["GET"]}]}}},
     "access_rights.orders.allowed_urls.0.url: is not a valid regular expression: missing ), unterminated "
     "subpattern at position 0"),
    ({"access_rights": {"orders": {"api_id": "billing"}}},
     "access_rights.orders.api_id: 'billing' does not match its entry's name 'orders'"),
    ({"apply_policies": ["gold"]}, "apply_policies: policy gold does not exist"),
    ({"apply_policy_id": "silver"}, "apply_policy_id: policy silver does not exist"),
    ({"basic_auth_data": {"password": "p" * 73}},
     "basic_auth_data.password: is longer than 72 bytes, which bcrypt cannot use"),
    ({"is_inactive": "maybe"}, "is_inactive: Input should be a valid boolean, unable to interpret input"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_bad_bodies_are_refused_naming_the_field_and_change_nothing(control, body, message):
    control.client.post("/tyk/keys/existing-key", json=SESSION)
    before = control.stored()
    for method, path in [("POST", "/tyk/keys/create"), ("POST", "/tyk/keys/new-key"),
                         ("PUT", "/tyk/keys/existing-key")]:
        reply = control.client.request(method, path, json=body)
        assert (reply.status_code, reply.json()) == (400, error(message)), (method, path)
    assert control.stored() == before


def test_update_replaces_the_session_by_key_or_by_hash(control):
    key_hash = control.client.post("/tyk/keys/k1", json=SESSION).json()["key_hash"]
    created = control.client.get("/tyk/keys/k1").json()["date_created"]

    reply = control.client.put("/tyk/keys/k1", json={"rate": 5, "per": 1, "access_rights": RIGHTS})
    assert reply.json() == {"key": "k1", "status": "ok", "action": "modified", "key_hash": key_hash}
    session = control.client.get("/tyk/keys/k1").json()
    assert (session["rate"], session["per"], session.get("meta_data")) == (5, 1, {})
    assert session["date_created"] == created

    reply = control.client.put(f"/tyk/keys/{key_hash}", params={"hashed": "true"}, json={"is_inactive": True})
    assert reply.json() == {"key": key_hash, "status": "ok", "action": "modified", "key_hash": key_hash}
    assert control.client.get("/tyk/keys/k1").json()["is_inactive"] is True


def test_update_resets_the_quota_unless_suppress_reset(control):
    key_hash = control.client.post("/tyk/keys/k1", json=SESSION).json()["key_hash"]
    control.redis.set(f"quota-{key_hash}", 7)
    control.redis.set(f"quota-orders-{key_hash}", 7)
    control.redis.set(f"rate-limit-{key_hash}", 3)
    control.client.put("/tyk/keys/k1", params={"suppress_reset": "1"}, json=SESSION)
    assert control.redis.get(f"quota-{key_hash}") == b"7"
    control.client.put("/tyk/keys/k1", json=SESSION)
    assert control.redis.get(f"quota-{key_hash}") is None
    assert control.redis.get(f"quota-orders-{key_hash}") is None
    assert control.redis.get(f"rate-limit-{key_hash}") == b"3"  # rate windows are not a quota


@pytest.mark.parametrize("hashed", [False, True])
def test_delete_removes_the_key_and_its_counters_only(control, hashed):
    key_hash = control.client.post("/tyk/keys/k1", json=SESSION).json()["key_hash"]
    other = control.client.post("/tyk/keys/k2", json=SESSION).json()["key_hash"]
    counters = ["rate-limit-{}", "rate-limit-orders-{}", "rate-limit-endpoint:orders:Default:GET:/items:{}",
                "quota-{}", "quota-orders-{}"]
    for owner in (key_hash, other):
        for name in counters:
            control.redis.set(name.format(owner), 1)
    control.redis.set("rate-limit-api:orders", 1)  # the API's own limit belongs to no key
    path, params = (f"/tyk/keys/{key_hash}", {"hashed": "true"}) if hashed else ("/tyk/keys/k1", {})
    reply = control.client.delete(path, params=params)
    assert reply.json() == {"key": key_hash if hashed else "k1", "status": "ok", "action": "deleted",
                            "key_hash": key_hash}
    assert sorted(control.redis.keys("*")) == sorted(
        name.encode() for name in [f"apikey-{other}", "rate-limit-api:orders", *(n.format(other) for n in counters)])
    assert control.client.delete(path, params=params).status_code == 404


def test_list_answers_hashes(control):
    hashes = sorted(control.client.post("/tyk/keys/create", json=SESSION).json()["key_hash"] for _ in range(3))
    assert control.client.get("/tyk/keys").json() == {"keys": hashes}


def test_basic_auth_password_is_stored_as_bcrypt_and_kept_on_update(control):
    password = "correct horse battery staple"
    control.client.post("/tyk/keys/alice", json={**SESSION, "basic_auth_data": {"password": password}})
    stored = control.client.get("/tyk/keys/alice").json()["basic_auth_data"]
    assert stored["hash_type"] == "bcrypt"
    assert bcrypt.checkpw(password.encode(), stored["password"].encode())
    assert password.encode() not in b"".join(control.stored().values())

    control.client.put("/tyk/keys/alice", json={**SESSION, "rate": 1})  # no password: the hash stays
    assert control.client.get("/tyk/keys/alice").json()["basic_auth_data"] == stored

    control.client.put("/tyk/keys/alice", json={**SESSION, "basic_auth_data": {"password": "a new password"}})
    changed = control.client.get("/tyk/keys/alice").json()["basic_auth_data"]["password"]
    assert bcrypt.checkpw(b"a new password", changed.encode())


def test_an_imported_bcrypt_hash_is_kept_as_is(control):
    hashed = bcrypt.hashpw(b"imported", bcrypt.gensalt(4)).decode()
    control.client.post("/tyk/keys/bob", json={"basic_auth_data": {"password": hashed, "hash_type": "bcrypt"}})
    assert control.client.get("/tyk/keys/bob").json()["basic_auth_data"] == {"password": hashed,
                                                                              "hash_type": "bcrypt"}


def test_policies_must_exist_and_key_expires_in_sets_expires_at_creation(control):
    control.write_policy({"id": "short", "key_expires_in": 60, "access_rights": RIGHTS})
    control.write_policy({"id": "long", "key_expires_in": 3600, "access_rights": RIGHTS})
    control.write_policy({"id": "forever", "access_rights": RIGHTS})
    control.reload()

    def expires(body):
        key = control.client.post("/tyk/keys/create", json=body).json()["key"]
        return control.client.get(f"/tyk/keys/{key}").json()["expires"]

    now = int(time.time())
    assert now + 3600 <= expires({"apply_policies": ["short", "long"]}) <= now + 3602
    assert now + 60 <= expires({"apply_policy_id": "short"}) <= now + 62
    assert expires({"apply_policies": ["forever"]}) == 0
    assert expires({"apply_policies": ["short"], "expires": 12345}) == 12345


def test_a_redis_dump_reveals_no_key(control):
    keys = [control.client.post("/tyk/keys/create", json=SESSION).json()["key"] for _ in range(3)]
    keys.append("custom-key-value")
    control.client.post("/tyk/keys/custom-key-value", json=SESSION)
    dump = b"".join(name + (value or b"") for name, value in control.stored().items())
    assert all(key.encode() not in dump for key in keys)
