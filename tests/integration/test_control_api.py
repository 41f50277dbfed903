"""The control API on real gateway processes (file mode), a real Redis and a real upstream."""

from __future__ import annotations

import json
import time

import bcrypt
import httpx
import pytest
import redis
from pymongo import MongoClient

from tests.gateways import CONTROL_SECRET, keyed
from tests.servers import free_port
from tests.stack import wait_until
from tests.unit.gateway.control.conftest import redis_values
from tollhouse.core import notify

BAD_SECRET = {"status": "error", "message": "Attempted administrative access with invalid or missing key!"}
ORDERS = {"orders": {"api_id": "orders", "versions": ["Default"]}}


class Control:
    def __init__(self, base: str, secret: str = CONTROL_SECRET):
        self.client = httpx.Client(base_url=base, headers={"x-tyk-authorization": secret}, timeout=10)

    def __getattr__(self, name):
        return getattr(self.client, name)


@pytest.fixture
def gateway(start_file_gateway, upstream):
    target = f"http://127.0.0.1:{upstream.port}/"
    return start_file_gateway(apis=[keyed("orders", "/orders/", target), keyed("billing", "/billing/", target)],
                              policies=[{"id": "reader", "access_rights": ORDERS}])


@pytest.fixture
def control(gateway):
    return Control(gateway.url)


def dump(redis_url: str) -> bytes:
    """Everything in Redis, as someone holding a leaked copy could read it."""
    client = redis.Redis.from_url(redis_url)
    return b"\n".join(name + b"=" + redis_values(client, name) for name in client.keys("*"))


@pytest.mark.parametrize("headers", [{}, {"x-tyk-authorization": ""}, {"x-tyk-authorization": "wrong"},
                                     {"x-tyk-authorization": CONTROL_SECRET[:-1]}])
@pytest.mark.parametrize("path", ["/tyk/keys", "/tyk/keys/create", "/tyk/policies", "/tyk/reload", "/tyk/nowhere"])
def test_missing_or_wrong_secret_is_403_with_tyks_message(gateway, headers, path):
    reply = httpx.post(gateway.url + path, headers=headers, json={})
    assert (reply.status_code, reply.json()) == (403, BAD_SECRET)


def test_key_lifecycle_through_the_data_path(gateway, control):
    created = control.post("/tyk/keys/create", json={"access_rights": ORDERS}).json()
    key, key_hash = created["key"], created["key_hash"]
    assert created == {"key": key, "status": "ok", "action": "added", "key_hash": key_hash}
    assert httpx.get(f"{gateway.url}/orders/echo", headers={"Authorization": key}).status_code == 200
    assert httpx.get(f"{gateway.url}/billing/echo", headers={"Authorization": key}).status_code == 403

    assert control.get(f"/tyk/keys/{key}").json() == control.get(f"/tyk/keys/{key_hash}?hashed=true").json()
    assert control.get("/tyk/keys").json() == {"keys": [key_hash]}

    rights = {**ORDERS, "billing": {"api_id": "billing"}}
    reply = control.put(f"/tyk/keys/{key_hash}?hashed=true", json={"access_rights": rights})
    assert reply.json() == {"key": key_hash, "status": "ok", "action": "modified", "key_hash": key_hash}
    assert httpx.get(f"{gateway.url}/billing/echo", headers={"Authorization": key}).status_code == 200

    assert control.delete(f"/tyk/keys/{key}").json() == {"key": key, "status": "ok", "action": "deleted",
                                                         "key_hash": key_hash}
    reply = httpx.get(f"{gateway.url}/orders/echo", headers={"Authorization": key})
    assert (reply.status_code, reply.json()) == (403, {"error": "Access to this API has been disallowed"})
    assert control.get(f"/tyk/keys/{key}").status_code == 404


def test_deleting_a_key_deletes_its_rate_limit_and_quota_counters(gateway, control, redis_url):
    session = {"rate": 100, "per": 60, "quota_max": 1000, "quota_renewal_rate": 3600, "access_rights": ORDERS}
    created = control.post("/tyk/keys/create", json=session).json()
    assert httpx.get(f"{gateway.url}/orders/echo", headers={"Authorization": created["key"]}).status_code == 200
    client = redis.Redis.from_url(redis_url)

    def counters():
        return sorted(name for name in client.keys(f"*{created['key_hash']}*") if not name.startswith(b"apikey-"))

    assert counters() == sorted([f"rate-limit-{created['key_hash']}".encode(), f"quota-{created['key_hash']}".encode()])
    control.delete(f"/tyk/keys/{created['key']}")
    assert counters() == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"rate": "fast"}, "rate: Input should be a valid number, unable to parse string as a number"),
        ({"access_rights": {"orders": {"allowed_urls": [{"url": "*"}]}}},
         "access_rights.orders.allowed_urls.0.url: is not a valid regular expression: nothing to repeat at "
         "position 0"),
        ({"apply_policies": ["reader", "gold"]}, "apply_policies: policy gold does not exist"),
        ([1], "request body must be a JSON object, not list"),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_the_key_is_unchanged(gateway, control, redis_url, body, message):
    control.post("/tyk/keys/custom-key-1", json={"access_rights": ORDERS})
    before = dump(redis_url)
    for method, path in [("PUT", "/tyk/keys/custom-key-1"), ("POST", "/tyk/keys/create")]:
        reply = control.request(method, path, json=body)
        assert (reply.status_code, reply.json()) == (400, {"status": "error", "message": message})
    assert dump(redis_url) == before
    assert httpx.get(f"{gateway.url}/orders/echo", headers={"Authorization": "custom-key-1"}).status_code == 200


def test_a_leaked_redis_dump_holds_no_key_and_no_password(gateway, control, redis_url):
    keys = [control.post("/tyk/keys/create", json={"access_rights": ORDERS}).json()["key"] for _ in range(5)]
    password = "basic-auth-password-42"
    control.post("/tyk/keys/alice", json={"access_rights": ORDERS, "basic_auth_data": {"password": password}})
    keys.append("alice-custom-key-77")
    control.post("/tyk/keys/alice-custom-key-77", json={"access_rights": ORDERS})
    leaked = dump(redis_url)
    assert leaked.count(b"apikey-") == 7
    for secret in [*keys, password]:
        assert secret.encode() not in leaked, secret
    stored = control.get("/tyk/keys/alice").json()["basic_auth_data"]
    assert stored["hash_type"] == "bcrypt" and bcrypt.checkpw(password.encode(), stored["password"].encode())


def test_policies_crud(gateway, control):
    assert [p["id"] for p in control.get("/tyk/policies").json()] == ["reader"]
    gold = {"id": "gold", "rate": 100, "per": 60, "access_rights": ORDERS}
    assert control.post("/tyk/policies", json=gold).json() == {"key": "gold", "status": "ok", "action": "added"}
    assert json.loads((gateway.policies / "gold.json").read_text()) == gold
    assert control.get("/tyk/policies/gold").json()["rate"] == 100
    reply = control.put("/tyk/policies/gold", json={**gold, "per": -1})
    assert (reply.status_code, reply.json()["message"]) == (400, "per: Input should be greater than or equal to 0")
    assert control.put("/tyk/policies/gold", json={**gold, "rate": 50}).json()["action"] == "modified"
    assert control.get("/tyk/policies/gold").json()["rate"] == 50
    assert control.delete("/tyk/policies/gold").json()["action"] == "deleted"
    assert [p["id"] for p in control.get("/tyk/policies").json()] == ["reader"]


def test_a_policy_change_reaches_existing_keys_within_a_second(gateway, control):
    key = control.post("/tyk/keys/create", json={"apply_policies": ["reader"]}).json()["key"]
    auth = {"Authorization": key}
    assert httpx.get(f"{gateway.url}/orders/echo", headers=auth).status_code == 200
    assert httpx.get(f"{gateway.url}/billing/echo", headers=auth).status_code == 403

    started = time.monotonic()
    control.put("/tyk/policies/reader", json={"access_rights": {"billing": {"api_id": "billing"}}})
    wait_until(lambda: httpx.get(f"{gateway.url}/orders/echo", headers=auth).status_code == 403, 1,
               interval=0.02, message="the tightened policy applies")
    assert httpx.get(f"{gateway.url}/billing/echo", headers=auth).status_code == 200
    assert time.monotonic() - started < 1.0

    # A policy changed on disk and reloaded by a signal reaches the key the same way.
    gateway.write_policy({"id": "reader", "access_rights": ORDERS})
    gateway.reload(lambda: httpx.get(f"{gateway.url}/orders/echo", headers=auth).status_code == 200)


def test_apis_crud_and_reload(gateway, control, upstream):
    target = f"http://127.0.0.1:{upstream.port}/"
    shop = {"api_id": "shop", "name": "Shop", "use_keyless": True,
            "proxy": {"listen_path": "/shop/", "target_url": target, "strip_listen_path": True}}
    assert control.post("/tyk/apis", json=shop).json() == {"key": "shop", "status": "ok", "action": "added"}
    assert httpx.get(f"{gateway.url}/shop/echo").status_code == 200  # live when the reply came
    assert control.get("/tyk/apis/shop").json() == shop
    assert sorted(api["api_id"] for api in control.get("/tyk/apis").json()) == ["billing", "orders", "shop"]

    reply = control.put("/tyk/apis/shop", json={**shop, "proxy": {**shop["proxy"], "listen_path": "/orders/"}})
    assert reply.json()["message"] == "proxy.listen_path: /orders/ is already served by API orders"
    moved = {**shop, "proxy": {**shop["proxy"], "listen_path": "/store/"}}
    assert control.put("/tyk/apis/shop", json=moved).json()["action"] == "modified"
    assert httpx.get(f"{gateway.url}/store/echo").status_code == 200
    assert httpx.get(f"{gateway.url}/shop/echo").status_code == 404

    assert control.delete("/tyk/apis/shop").json()["action"] == "deleted"
    assert httpx.get(f"{gateway.url}/store/echo").status_code == 404

    # A file dropped in by hand is served after /tyk/reload, as with Tyk.
    gateway.write_api({**shop, "api_id": "manual", "proxy": {**shop["proxy"], "listen_path": "/manual/"}})
    assert control.get("/tyk/reload?block=true").json() == {"status": "ok", "message": ""}
    assert httpx.get(f"{gateway.url}/manual/echo").status_code == 200
    gateway.write_api({**shop, "api_id": "later", "proxy": {**shop["proxy"], "listen_path": "/later/"}})
    assert control.get("/tyk/reload").json() == {"status": "ok", "message": ""}
    wait_until(lambda: httpx.get(f"{gateway.url}/later/echo").status_code == 200, 5, message="non-blocking reload")


def test_control_port_serves_only_the_control_api(start_file_gateway, upstream):
    control_port = free_port()
    target = f"http://127.0.0.1:{upstream.port}/"
    gateway = start_file_gateway(apis=[keyed("orders", "/orders/", target)], control_port=control_port)
    control = Control(f"http://127.0.0.1:{control_port}")
    wait_until(lambda: control.get("/tyk/keys").status_code == 200, 5, message="control port up")

    main = httpx.get(f"{gateway.url}/tyk/keys", headers={"x-tyk-authorization": CONTROL_SECRET})
    assert (main.status_code, main.json()) == (404, {"error": "the control API is not served on this port"})
    assert httpx.get(f"http://127.0.0.1:{control_port}/tyk/keys").status_code == 403
    other = control.get("/orders/echo")
    assert (other.status_code, other.json()) == (404, {"status": "error",
                                                       "message": "only the control API is served here"})
    key = control.post("/tyk/keys/create", json={"access_rights": ORDERS}).json()["key"]
    assert httpx.get(f"{gateway.url}/orders/echo", headers={"Authorization": key}).status_code == 200


def test_group_reload_reaches_every_gateway_sharing_redis(start_file_gateway, upstream):
    node_secret = "node-secret-" + CONTROL_SECRET
    first = start_file_gateway(name="first", node_secret=node_secret)
    second = start_file_gateway(name="second", node_secret=node_secret)
    alone = start_file_gateway(name="alone")
    target = f"http://127.0.0.1:{upstream.port}/"
    for gateway in (first, second):
        gateway.write_api({"api_id": "new", "name": "new", "use_keyless": True,
                           "proxy": {"listen_path": "/new/", "target_url": target, "strip_listen_path": True}})
    assert Control(first.url).get("/tyk/reload/group").json() == {"status": "ok", "message": ""}
    for gateway in (first, second):
        wait_until(lambda gateway=gateway: httpx.get(f"{gateway.url}/new/echo").status_code == 200, 5,
                   message=f"{gateway.name} reloaded")
    reply = Control(alone.url).get("/tyk/reload/group")
    assert reply.status_code == 400 and "node_secret" in reply.json()["message"]


def test_dashboard_mode_pulls_policies_and_a_policy_change_reaches_keys_within_a_second(stack, upstream):
    """Policies stored by the dashboard (its Mongo collection), pulled from /system/policies, changed by notice."""
    stack.login()
    target = f"http://127.0.0.1:{upstream.port}/"
    api_id = stack.create_api(keyed("orders", "/orders/", target))
    policies = MongoClient(stack.mongo_url)[stack.database]["policies"]
    policies.insert_one({"_id": "reader", "id": "reader", "access_rights": {api_id: {"api_id": api_id}}})
    control_port = free_port()
    gateway = stack.start_gateway(control_port=control_port)
    base = f"http://127.0.0.1:{gateway.port}"
    control = Control(f"http://127.0.0.1:{control_port}", stack.gateway_secret)
    wait_until(lambda: [p["id"] for p in control.get("/tyk/policies").json()] == ["reader"], 10,
               message="policies pulled from the dashboard")

    key = control.post("/tyk/keys/create", json={"apply_policies": ["reader"]}).json()["key"]
    wait_until(lambda: httpx.get(f"{base}/orders/echo", headers={"Authorization": key}).status_code == 200, 10,
               message="API served")
    reply = control.put("/tyk/policies/reader", json={"access_rights": {}})
    assert reply.status_code == 405 and "come from the dashboard" in reply.json()["message"]

    started = time.monotonic()
    policies.update_one({"_id": "reader"}, {"$set": {"access_rights": {"elsewhere": {"api_id": "elsewhere"}}}})
    redis.Redis.from_url(stack.redis_url).publish(
        notify.CHANNEL, notify.encode(stack.node_secret, notify.POLICY_CHANGED, "reader"))
    wait_until(lambda: httpx.get(f"{base}/orders/echo", headers={"Authorization": key}).status_code == 403, 1,
               interval=0.02, message="the changed policy applies")
    assert time.monotonic() - started < 1.0
