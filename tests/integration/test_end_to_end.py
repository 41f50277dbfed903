"""The appliance end to end on loopback: dashboard, gateway and pump as real processes."""

from __future__ import annotations

import json
import time

import httpx
import redis
from pymongo import MongoClient

from tests.stack import keyless, wait_until
from tollhouse.core import notify


def gateway_health(gateway) -> dict:
    return httpx.get(f"http://127.0.0.1:{gateway.port}/hello", timeout=10).json()


def reloads(gateway) -> int:
    return gateway_health(gateway)["details"]["apis"]["reloads"]


def settled_reloads(gateway) -> int:
    """The reload count once start-up reloads (first load, catch-up after subscribing) are over."""
    previous = -1
    while (current := reloads(gateway)) != previous or current == 0:
        previous = current
        time.sleep(0.5)
    return current


def test_seed_health_check_through_the_gateway_with_analytics(stack):
    """The original design's own test: the dashboard's health, published through the gateway."""
    gateway = stack.start_gateway()
    stack.start_pump()
    stack.login()
    api_id = stack.create_api(keyless("health", "/test_health_check/", f"{stack.dashboard_url}/"))

    url = f"http://127.0.0.1:{gateway.port}/test_health_check/hello"
    reply = wait_until(lambda: (r := httpx.get(url, timeout=10)).status_code == 200 and r, 10,
                       message="API served by the gateway")
    direct = httpx.get(f"{stack.dashboard_url}/hello", timeout=10).json()
    assert reply.json()["status"] == direct["status"] == "pass"
    assert set(reply.json()["details"]) == set(direct["details"])

    raw = MongoClient(stack.mongo_url)[stack.database]["tyk_analytics"]
    record = wait_until(lambda: raw.find_one({"api_id": api_id}), 30, 0.5, message="analytics record in MongoDB")
    assert record["path"] == "/test_health_check/hello"
    assert record["response_code"] == 200
    assert record["method"] == "GET"
    assert record["latency"]["total"] >= record["latency"]["upstream"] > 0

    # The hits on the analytics chart (the pump's aggregates) and in the log browser (the raw records).
    def charted() -> int:
        series = stack.api("GET", "/api/analytics/series", params={"api_id": api_id, "granularity": "minute",
                                                                   "from": record["timestamp"].isoformat()}).json()
        return sum(point["requests"] for point in series["data"])

    wait_until(lambda: charted() >= 1, 30, 0.5, message="the hit on the analytics chart")
    logs = stack.api("GET", "/api/analytics/logs", params={"api_id": api_id}).json()
    assert record["request_id"] in [entry["request_id"] for entry in logs["data"]]


def test_changes_reach_the_gateway_without_restart(stack):
    gateway = stack.start_gateway()
    base = f"http://127.0.0.1:{gateway.port}"
    api_id = stack.create_api(keyless("health", "/one/", f"{stack.dashboard_url}/"))
    wait_until(lambda: httpx.get(f"{base}/one/hello").status_code == 200, 10, message="API added")

    definition = stack.api("GET", f"/api/apis/{api_id}").json()["api_definition"]
    definition["proxy"]["listen_path"] = "/two/"
    assert stack.api("PUT", f"/api/apis/{api_id}", json={"api_definition": definition}).status_code == 200
    wait_until(lambda: httpx.get(f"{base}/two/hello").status_code == 200, 10, message="API moved")
    assert httpx.get(f"{base}/one/hello").status_code == 404

    assert stack.api("DELETE", f"/api/apis/{api_id}").status_code == 200
    wait_until(lambda: httpx.get(f"{base}/two/hello").status_code == 404, 10, message="API removed")


def test_unsigned_and_badly_signed_notifications_are_ignored(stack, redis_url):
    gateway = stack.start_gateway()
    wait_until(lambda: "listening for change notifications" in gateway.log(), 10, message="subscribed")
    before = settled_reloads(gateway)
    client = redis.Redis.from_url(redis_url)
    client.publish(notify.CHANNEL, json.dumps({"command": "ApiUpdated", "payload": "x"}))
    client.publish(notify.CHANNEL, notify.encode("f" * 32, notify.API_UPDATED, "x"))
    client.publish(notify.CHANNEL, "not json")
    wait_until(lambda: gateway.log().count("ignored a notification") >= 3, 10, message="notices logged")
    assert reloads(gateway) == before

    client.publish(notify.CHANNEL, notify.encode(stack.node_secret, notify.API_UPDATED, "x"))
    wait_until(lambda: reloads(gateway) == before + 1, 10, message="signed notice reloads")


def test_invalid_stored_definition_does_not_take_down_the_others(stack):
    gateway = stack.start_gateway()
    base = f"http://127.0.0.1:{gateway.port}"
    stack.create_api(keyless("good", "/good/", f"{stack.dashboard_url}/"))
    wait_until(lambda: httpx.get(f"{base}/good/hello").status_code == 200, 10, message="good API served")

    # Written behind the dashboard's back, as an old or hand-edited record would be.
    broken = {"api_id": "broken", "name": "broken", "use_keyless": True, "proxy": {"listen_path": "/b/"}}
    MongoClient(stack.mongo_url)[stack.database]["apis"].insert_one(
        {"_id": "broken", "api_id": "broken", "org_id": "", "active": True, "definition": broken})
    redis.Redis.from_url(stack.redis_url).publish(
        notify.CHANNEL, notify.encode(stack.node_secret, notify.API_ADDED, "broken"))

    wait_until(lambda: "rejected API definition broken: proxy.target_url: is required" in gateway.log(), 10,
               message="rejection logged with its reason")
    assert httpx.get(f"{base}/good/hello").status_code == 200
    assert gateway_health(gateway)["details"]["dashboard"]["rejected_definitions"] == 1


def test_gateway_keeps_serving_when_the_dashboard_is_away(stack):
    gateway = stack.start_gateway()
    base = f"http://127.0.0.1:{gateway.port}"
    upstream = stack.start_dashboard()  # a second dashboard process serves as the upstream
    stack.create_api(keyless("health", "/h/", f"http://127.0.0.1:{upstream.port}/"))
    wait_until(lambda: httpx.get(f"{base}/h/hello").status_code == 200, 10, message="API served")

    stack.processes[0].stop()  # the dashboard the gateway pulls from
    redis.Redis.from_url(stack.redis_url).publish(
        notify.CHANNEL, notify.encode(stack.node_secret, notify.GROUP_RELOAD, ""))
    health = wait_until(lambda: (h := gateway_health(gateway))["details"]["dashboard"]["status"] == "warn" and h,
                        10, message="dashboard reported away")
    assert health["status"] == "warn"
    assert httpx.get(f"{base}/h/hello").status_code == 200
