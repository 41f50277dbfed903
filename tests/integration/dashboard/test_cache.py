"""Clearing an API's response cache from the dashboard: ``DELETE /api/cache/{api_id}`` and the edit page's button.

Cached answers are written here the way the gateways name them (``core/cache_names.py``); the gateway side,
end to end, is in tests/integration/test_cache.py.
"""

from __future__ import annotations

import pytest
import redis

from tests.integration.dashboard.conftest import definition, other_org_admin, user_auth
from tests.integration.dashboard.test_web import csrf_of, web_login
from tollhouse.core.cache_names import entry_name


@pytest.fixture
def cached(client, auth, redis_url):
    """APIs ``orders`` and ``orders-v2`` (whose id starts with the other's), each with two cached answers."""
    for api_id, path in (("orders", "/orders/"), ("orders-v2", "/orders-v2/")):
        reply = client.post("/api/apis", headers=auth,
                            json={"api_definition": definition(api_id=api_id, proxy={"listen_path": path})})
        assert reply.status_code == 200, reply.text
    store = redis.Redis.from_url(redis_url)
    for api_id in ("orders", "orders-v2"):
        for digest in ("a", "b"):
            store.set(entry_name(api_id, digest), b"answer", ex=60)
    return store


def remaining(store: redis.Redis, api_id: str) -> int:
    return sum(1 for digest in ("a", "b") if store.exists(entry_name(api_id, digest)))


def test_delete_clears_that_api_only_and_is_audited(client, auth, cached):
    reply = client.delete("/api/cache/orders", headers=auth)
    assert (reply.status_code, reply.json()) == (200, {"Status": "OK", "Message": "cache invalidated", "Meta": "2"})
    assert (remaining(cached, "orders"), remaining(cached, "orders-v2")) == (0, 2)
    entry = client.get("/api/audit", headers=auth).json()["entries"][0]
    assert (entry["area"], entry["action"], entry["target"]) == ("apis", "clear_cache", "orders")
    assert entry["after"] == {"answers_dropped": 2}


@pytest.mark.parametrize("who, api_id, status", [
    ("reader", "orders", 403),
    ("other org", "orders", 404),
    ("admin", "no-such-api", 404),
    ("nobody", "orders", 401),
])
def test_delete_is_refused_without_write_access_to_that_api(client, auth, settings, cached, who, api_id, status):
    headers = {"admin": auth, "nobody": {},
               "reader": user_auth(client, auth, "reader@example.test", {"apis": "read"}) if who == "reader" else {},
               "other org": other_org_admin(client, settings) if who == "other org" else {}}[who]
    assert client.delete(f"/api/cache/{api_id}", headers=headers).status_code == status
    assert remaining(cached, "orders") == 2


def test_the_edit_page_button_clears_the_cache_with_the_csrf_token(client, cached):
    assert web_login(client).status_code == 303
    page = client.get("/apis/orders")
    assert 'data-testid="clear-cache"' in page.text
    refused = client.post("/apis/orders/cache/clear", data={"csrf_token": "wrong"}, follow_redirects=False)
    assert refused.status_code == 403 and remaining(cached, "orders") == 2
    reply = client.post("/apis/orders/cache/clear", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (303, "/apis/orders?cache=cleared")
    assert remaining(cached, "orders") == 0 and remaining(cached, "orders-v2") == 2
    assert "Cache cleared on every gateway." in client.get(reply.headers["location"]).text
