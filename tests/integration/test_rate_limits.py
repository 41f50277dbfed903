"""Exact rate limits and quotas through real gateway processes sharing one Redis, with a real upstream.

Two file-mode gateways (same Redis, same key_hash_secret) stand for several gateway hosts: whatever
gateway a request reaches, it counts against the same limits.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
import redis as redis_lib

from tests.gateways import keyed, store_key
from tollhouse.core.keys import session_name

KEY = "rate-test-key"
ORDERS = "orders"


def keyless(api_id: str, listen_path: str, target_url: str, **fields) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": listen_path, "target_url": target_url, "strip_listen_path": True}, **fields}


def key_session(**limits) -> dict:
    return {"access_rights": {ORDERS: {"api_id": ORDERS, "versions": ["Default"]}}, **limits}


@pytest.fixture
def apis(upstream):
    target = f"http://127.0.0.1:{upstream.port}/"
    return [
        keyed(ORDERS, "/orders/", target, version_data={"not_versioned": True, "versions": {"Default": {
            "extended_paths": {"rate_limit": [{"path": "/search", "method": "GET", "rate": 2, "per": 60}]}}}}),
        keyless("open", "/open/", target, global_rate_limit={"rate": 5, "per": 60}),
        keyless("free", "/free/", target),
    ]


@pytest.fixture
def two_gateways(start_file_gateway, apis):
    return [start_file_gateway(apis=apis, name="gateway-a"), start_file_gateway(apis=apis, name="gateway-b")]


async def burst(urls: list[str], count: int, headers: dict | None = None, concurrency: int = 16) -> list:
    """``count`` GETs spread round-robin over ``urls``, ``concurrency`` at a time; the responses in order.

    (16: httpx's client itself slows down beyond that — 1,000 requests take 5 s at 64, under 2 s at 16.)
    """
    replies: list[httpx.Response | None] = [None] * count
    next_index = iter(range(count))

    async def worker(client: httpx.AsyncClient) -> None:
        for index in next_index:
            replies[index] = await client.get(urls[index % len(urls)], headers=headers)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return replies


def check_rate_headers(reply: httpx.Response, limit: int, per: float) -> None:
    headers = reply.headers
    assert headers["X-RateLimit-Limit"] == headers["RateLimit-Limit"] == str(limit)
    assert headers["X-RateLimit-Remaining"] == headers["RateLimit-Remaining"]
    assert headers["X-RateLimit-Reset"] == headers["RateLimit-Reset"]
    assert 0 <= int(headers["X-RateLimit-Reset"]) <= per
    if reply.status_code == 429:
        assert reply.json() == {"error": "Rate Limit Exceeded"}
        assert headers["X-RateLimit-Remaining"] == "0"
        assert 1 <= int(headers["Retry-After"]) <= per
    else:
        assert "Retry-After" not in headers


def test_two_gateways_admit_exactly_the_rate_in_total(two_gateways, redis_url):
    key_hash = store_key(redis_url, KEY, key_session(rate=100, per=60))
    urls = [f"{gateway.url}/orders/items" for gateway in two_gateways]

    started = time.perf_counter()
    replies = asyncio.run(burst(urls, 1000, {"Authorization": KEY}))
    elapsed = time.perf_counter() - started

    assert Counter(reply.status_code for reply in replies) == {200: 100, 429: 900}, f"in {elapsed:.2f}s"
    for reply in replies:
        check_rate_headers(reply, 100, 60)
    # Each admitted request saw its own place in the window: 99 left down to 0, each exactly once.
    remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in replies if r.status_code == 200)
    assert remaining == list(range(100))
    # Both gateways admitted some: the count is shared, not per process.
    admitted_by = Counter(str(r.url).split("/orders")[0] for r in replies if r.status_code == 200)
    assert len(admitted_by) == 2, admitted_by
    assert redis_lib.Redis.from_url(redis_url).zcard(f"rate-limit-{key_hash}") == 100


def test_window_slides_and_refused_requests_do_not_extend_the_block(two_gateways, redis_url):
    per = 3
    store_key(redis_url, KEY, key_session(rate=100, per=per))
    urls = [f"{gateway.url}/orders/items" for gateway in two_gateways]
    headers = {"Authorization": KEY}

    burst_started = time.monotonic()
    first = asyncio.run(burst(urls, 100, headers))
    admitted_by = time.monotonic()  # every admitted request was between these two
    assert Counter(r.status_code for r in first) == {200: 100}

    # Keep knocking while the admitted ones are surely in the window: all refused. Were they counted,
    # the last of them would block until ``per`` after it, long past the moment checked below.
    refused = []
    while time.monotonic() < burst_started + per - 0.5:
        refused += asyncio.run(burst(urls, 20, headers, concurrency=4))
    assert refused and {r.status_code for r in refused} == {429}
    for reply in refused:
        check_rate_headers(reply, 100, per)

    time.sleep(max(0.0, admitted_by + per + 0.3 - time.monotonic()))
    again = asyncio.run(burst(urls, 101, headers))
    assert Counter(r.status_code for r in again) == {200: 100, 429: 1}


def test_quota_runs_out_and_renews(two_gateways, redis_url):
    store_key(redis_url, KEY, key_session(quota_max=5, quota_renewal_rate=2))
    urls = [f"{gateway.url}/orders/items" for gateway in two_gateways]
    headers = {"Authorization": KEY}

    with httpx.Client() as client:
        used = [client.get(urls[i % 2], headers=headers) for i in range(6)]
        assert [r.status_code for r in used] == [200] * 5 + [403]
        assert used[-1].json() == {"error": "Quota exceeded"}
        assert [r.headers["X-Quota-Remaining"] for r in used] == ["4", "3", "2", "1", "0", "0"]
        assert {r.headers["X-Quota-Limit"] for r in used} == {"5"}
        assert all(1 <= int(r.headers["X-Quota-Reset"]) <= 2 for r in used)
        assert "X-RateLimit-Limit" not in used[0].headers  # no rate limit on this key: no rate headers

        time.sleep(float(used[0].headers["X-Quota-Reset"]) + 0.2)
        renewed = client.get(urls[1], headers=headers)
        assert renewed.status_code == 200
        assert renewed.headers["X-Quota-Remaining"] == "4"


def test_global_rate_limit_on_a_keyless_api(two_gateways):
    urls = [f"{gateway.url}/open/items" for gateway in two_gateways]
    replies = asyncio.run(burst(urls, 40, concurrency=8))
    assert Counter(r.status_code for r in replies) == {200: 5, 429: 35}
    for reply in replies:
        check_rate_headers(reply, 5, 60)
    # The keyless API without limits has no rate headers at all.
    assert "X-RateLimit-Limit" not in httpx.get(f"{two_gateways[0].url}/free/items").headers


@pytest.mark.parametrize(
    ("session", "path", "limit", "passed"),
    [
        # The key's own limit.
        (key_session(rate=4, per=60), "/orders/items", 4, 4),
        # A per-API limit in the key's access rights replaces it.
        ({"rate": 4, "per": 60, "access_rights": {ORDERS: {"api_id": ORDERS, "limit": {"rate": 3, "per": 60}}}},
         "/orders/items", 3, 3),
        # An endpoint limit replaces both for that endpoint.
        (key_session(rate=4, per=60), "/orders/search?q=1", 2, 2),
    ],
)
def test_limit_precedence(start_file_gateway, apis, redis_url, session, path, limit, passed):
    gateway = start_file_gateway(apis=apis)
    store_key(redis_url, KEY, session)
    with httpx.Client() as client:
        replies = [client.get(gateway.url + path, headers={"Authorization": KEY}) for _ in range(6)]
    assert [r.status_code for r in replies] == [200] * passed + [429] * (6 - passed)
    for reply in replies:
        check_rate_headers(reply, limit, 60)


def test_headers_on_upstream_errors_too(start_file_gateway, apis, redis_url):
    gateway = start_file_gateway(apis=apis)
    store_key(redis_url, KEY, key_session(rate=10, per=60, quota_max=50, quota_renewal_rate=3600))
    reply = httpx.get(f"{gateway.url}/orders/status/502", headers={"Authorization": KEY})
    assert reply.status_code == 502
    assert (reply.headers["X-RateLimit-Limit"], reply.headers["X-RateLimit-Remaining"]) == ("10", "9")
    assert (reply.headers["X-Quota-Limit"], reply.headers["X-Quota-Remaining"]) == ("50", "49")


def test_redis_down_keyed_503_naming_redis_keyless_still_served(start_file_gateway, apis, redis_url, redis_proc):
    gateway = start_file_gateway(apis=apis)
    store_key(redis_url, KEY, key_session(rate=10, per=60))
    assert httpx.get(f"{gateway.url}/orders/items", headers={"Authorization": KEY}).status_code == 200
    redis_proc.stop()
    try:
        keyed_reply = httpx.get(f"{gateway.url}/orders/items", headers={"Authorization": KEY})
        assert keyed_reply.status_code == 503
        assert "Redis is unreachable" in keyed_reply.json()["error"]
        # A keyless API with a rate limit cannot count either: 503 naming Redis, never a 401/403/429.
        limited = httpx.get(f"{gateway.url}/open/items")
        assert limited.status_code == 503
        assert limited.json()["error"].startswith("Redis is unreachable, so rate limits and quotas cannot be checked")
        assert httpx.get(f"{gateway.url}/free/items").status_code == 200
        hello = httpx.get(f"{gateway.url}/hello")
        assert hello.status_code == 503
        assert (hello.json()["status"], hello.json()["details"]["redis"]["status"]) == ("fail", "fail")
    finally:
        redis_proc.start()


def test_fail_open_lets_rate_limited_requests_through_while_redis_is_down(start_file_gateway, apis, redis_proc):
    gateway = start_file_gateway(apis=apis, rate_limit_fail_open=True)
    assert httpx.get(f"{gateway.url}/open/items").status_code == 200
    redis_proc.stop()
    try:
        replies = [httpx.get(f"{gateway.url}/open/items") for _ in range(10)]  # beyond the limit of 5
        assert {r.status_code for r in replies} == {200}
        assert all("X-RateLimit-Limit" not in r.headers for r in replies)  # nothing was counted
    finally:
        redis_proc.start()


def test_a_key_changed_between_requests_counts_exactly_and_takes_effect(start_file_gateway, apis, redis_url):
    # The gateway uses its last read of a key and has the limit script confirm it: a key changed in Redis
    # must still be seen at once, and a request decided on the old read must not be counted.
    gateway = start_file_gateway(apis=apis)
    url, headers = f"{gateway.url}/orders/items", {"Authorization": KEY}
    key_hash = store_key(redis_url, KEY, key_session(rate=5, per=60))
    with httpx.Client() as client:
        assert [client.get(url, headers=headers).status_code for _ in range(3)] == [200] * 3
        store_key(redis_url, KEY, key_session(rate=5, per=60, meta_data={"changed": "yes"}))
        after = [client.get(url, headers=headers) for _ in range(3)]
        assert [r.status_code for r in after] == [200, 200, 429]
        assert [r.headers["X-RateLimit-Remaining"] for r in after] == ["1", "0", "0"]
        store_key(redis_url, KEY, {"access_rights": {"another-api": {"api_id": "another-api"}}, "rate": 5,
                                   "per": 60})
        assert client.get(url, headers=headers).status_code == 403
        store_key(redis_url, KEY, key_session(rate=50, per=60))
        assert client.get(url, headers=headers).status_code == 200  # refused on the old read: decided again
        redis_lib.Redis.from_url(redis_url).delete(session_name(key_hash))
        assert client.get(url, headers=headers).status_code == 403
