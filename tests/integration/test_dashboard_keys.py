"""Keys and policies made on the dashboard, used on a gateway: real dashboard, gateway, Redis and upstream.

The dashboard writes keys to Redis with the gateways' hash and policies to MongoDB; the gateway reads
keys per request and re-reads policies on the signed PolicyChanged notice, so a policy change reaches a
key that applies it at once, without touching the key.
"""

from __future__ import annotations

import time

import httpx

from tests.gateways import keyed
from tests.stack import wait_until

ALLOWED = "Access to this API has been disallowed"


def ok(reply: httpx.Response) -> dict:
    assert reply.status_code == 200, reply.text
    return reply.json()


def seconds_until(condition, timeout: float) -> float:
    started = time.monotonic()
    wait_until(condition, timeout, 0.02, message="change visible at the gateway")
    return time.monotonic() - started


def test_key_and_policy_from_the_dashboard_work_on_the_gateway(stack, upstream):
    gateway = stack.start_gateway()
    url = f"http://127.0.0.1:{gateway.port}/orders/echo"
    api_id = stack.create_api(keyed("orders", "/orders/", f"http://127.0.0.1:{upstream.port}/"))
    policy = {"id": "gold", "name": "Gold", "access_rights": {api_id: {"versions": ["Default"]}}}
    policy_id = ok(stack.api("POST", "/api/portal/policies", json=policy))["Meta"]
    key = ok(stack.api("POST", "/api/keys", json={"apply_policies": [policy_id]}))["key_id"]

    def status(headers: dict) -> int:
        return httpx.get(url, headers=headers, timeout=10).status_code

    wait_until(lambda: status({"Authorization": key}) == 200, 10, message="key accepted by the gateway")
    assert status({"Authorization": f"Bearer {key}"}) == 200
    reply = httpx.get(url, timeout=10)
    assert (reply.status_code, reply.json()) == (401, {"error": "Authorization field missing"})
    reply = httpx.get(url, headers={"Authorization": key + "x"}, timeout=10)
    assert (reply.status_code, reply.json()) == (403, {"error": ALLOWED})

    # The policy no longer grants the API: the key is refused within a second, without being touched.
    ok(stack.api("PUT", f"/api/portal/policies/{policy_id}", json={**policy, "access_rights": {}}))
    assert seconds_until(lambda: status({"Authorization": key}) == 403, 1.0) < 1.0
    assert httpx.get(url, headers={"Authorization": key}, timeout=10).json() == {"error": ALLOWED}

    # And back.
    ok(stack.api("PUT", f"/api/portal/policies/{policy_id}", json=policy))
    assert seconds_until(lambda: status({"Authorization": key}) == 200, 1.0) < 1.0

    # Deleting a policy that keys apply is allowed; those keys are refused from then on.
    ok(stack.api("DELETE", f"/api/portal/policies/{policy_id}"))
    seconds_until(lambda: status({"Authorization": key}) == 403, 1.0)

    # A key changed or deleted on the dashboard counts from the next request (keys are read per request).
    own_rights = {"access_rights": {api_id: {}}}
    ok(stack.api("PUT", f"/api/keys/{key}", json=own_rights))
    assert status({"Authorization": key}) == 200
    ok(stack.api("DELETE", f"/api/keys/{key}"))
    assert status({"Authorization": key}) == 403


def test_basic_auth_user_from_the_dashboard_works_on_the_gateway(stack, upstream):
    gateway = stack.start_gateway()
    url = f"http://127.0.0.1:{gateway.port}/members/echo"
    definition = keyed("members", "/members/", f"http://127.0.0.1:{upstream.port}/",
                       use_standard_auth=False, use_basic_auth=True)
    api_id = stack.create_api(definition)
    user = {"access_rights": {api_id: {}}, "basic_auth_data": {"password": "open sesame"}}
    stored = ok(stack.api("POST", "/api/keys/alice", json=user))["data"]["basic_auth_data"]
    assert stored["hash_type"] == "bcrypt" and stored["password"].startswith("$2")

    wait_until(lambda: httpx.get(url, auth=("alice", "open sesame"), timeout=10).status_code == 200, 10,
               message="basic-auth user accepted by the gateway")
    assert httpx.get(url, auth=("alice", "wrong"), timeout=10).status_code == 401
