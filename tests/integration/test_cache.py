"""The response cache through a real gateway process, a real Redis and a real upstream that counts its calls.

Each case sends its requests in order to a path of its own (``/counted/<case>``, so the upstream's count is the
case's own) and checks, per request, the gateway's ``X-Tollhouse-Cache`` header (None: the cache did not take
part), then how often the upstream was really asked.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import pytest
import redis as redis_lib

from tests.gateways import CONTROL_SECRET, keyed, store_key
from tests.servers import free_port
from tests.upstream import pattern
from tollhouse.core.cache_names import api_pattern

CAP = 100_000  # the gateway's cache_max_body_bytes in these tests


def keyless(api_id: str, listen_path: str, target: str, cache: dict, **fields) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True, "cache_options": {"enable_cache": True, **cache},
            "proxy": {"listen_path": listen_path, "target_url": target, "strip_listen_path": True}, **fields}


def per_path(paths: list[str], advanced: list[dict]) -> dict:
    return {"version_data": {"not_versioned": True, "versions": {"Default": {
        "extended_paths": {"cache": paths, "advance_cache_config": advanced}}}}}


@pytest.fixture
def gateway(start_file_gateway, upstream):
    target = f"http://127.0.0.1:{upstream.port}/"
    apis = [
        keyless("all", "/all/", target, {"cache_all_safe_requests": True, "cache_response_codes": [200, 404]}),
        keyless("paths", "/paths/", target, {"cache_timeout": 30},
                **per_path(["/counted/[^/]+/listed"],
                           [{"method": "GET", "path": "/counted/[^/]+/adv", "cache_response_codes": [201],
                             "timeout": 5}])),
        keyless("tenant", "/tenant/", target, {"cache_all_safe_requests": True, "cache_by_headers": ["X-Tenant"]}),
        keyless("upstream", "/upstream/", target, {"cache_all_safe_requests": True,
                                                   "enable_upstream_cache_control": True}),
        {**keyed("keyed", "/keyed/", target, cache_options={"enable_cache": True, "cache_all_safe_requests": True}),
         "disable_rate_limit": True, "disable_quota": True},
        keyless("plain", "/plain/", target, {"enable_cache": False}),
    ]
    return start_file_gateway(apis=apis, cache_max_body_bytes=CAP)


@dataclass
class Step:
    query: str = ""
    method: str = "GET"
    headers: dict = field(default_factory=dict)
    cache: str | None = "MISS"  # the X-Tollhouse-Cache header expected
    status: int = 200
    suffix: str = ""  # after /counted/<case>


@dataclass
class Case:
    name: str
    api: str
    steps: list[Step]
    upstream_calls: int
    ttl: int | None = None  # when set: the one entry stored expires within this many seconds


A = {"authorization": "key-a"}
B = {"authorization": "key-b"}
CASES = [
    Case("a GET is kept, the second served from the cache", "all", [Step(), Step(cache="HIT")], 1, ttl=60),
    Case("HEAD and GET are kept apart", "all",
         [Step(), Step(method="HEAD"), Step(method="HEAD", cache="HIT"), Step(cache="HIT")], 2),
    Case("POST is never cached", "all", [Step(method="POST", cache=None), Step(method="POST", cache=None)], 2),
    Case("a status not in cache_response_codes is not kept", "all",
         [Step("status=500", status=500), Step("status=500", status=500)], 2),
    Case("a listed status is kept", "all", [Step("status=404", status=404), Step("status=404", status=404,
                                                                                 cache="HIT")], 1),
    Case("the query is part of the key", "all", [Step("a=1"), Step("a=2"), Step("a=1", cache="HIT")], 2),
    Case("Set-Cookie answers are never kept", "all", [Step("header=set-cookie:s=1"), Step("header=set-cookie:s=1")],
         2),
    Case("an answer over cache_max_body_bytes streams but is not kept", "all",
         [Step(f"size={CAP + 1}"), Step(f"size={CAP + 1}")], 2),
    Case("a chunked answer under the cap is kept whole", "all",
         [Step(f"size={CAP - 1}&chunked=1"), Step(f"size={CAP - 1}&chunked=1", cache="HIT")], 1),
    Case("cache_all_safe_requests off: unlisted paths are not cached", "paths", [Step(cache=None), Step(cache=None)],
         2),
    Case("a path listed in cache is", "paths", [Step(suffix="/listed"), Step(suffix="/listed", cache="HIT")], 1,
         ttl=30),
    Case("advance_cache_config: its status codes and timeout", "paths",
         [Step("status=201", suffix="/adv", status=201), Step("status=201", suffix="/adv", status=201, cache="HIT")],
         1, ttl=5),
    Case("advance_cache_config: other statuses are not kept", "paths",
         [Step(suffix="/adv"), Step(suffix="/adv")], 2),
    Case("advance_cache_config: only its method", "paths",
         [Step(method="HEAD", suffix="/adv", cache=None), Step(method="HEAD", suffix="/adv", cache=None)], 2),
    Case("cache_by_headers key by the header's value", "tenant",
         [Step(headers={"x-tenant": "a"}), Step(headers={"x-tenant": "b"}),
          Step(headers={"x-tenant": "a"}, cache="HIT"), Step(headers={"x-tenant": "b"}, cache="HIT")], 2),
    Case("upstream control: no word from the upstream, not kept", "upstream", [Step(), Step()], 2),
    Case("upstream control: max-age", "upstream",
         [Step("header=cache-control:max-age=40"), Step("header=cache-control:max-age=40", cache="HIT")], 1, ttl=40),
    Case("upstream control: s-maxage before max-age", "upstream",
         [Step("header=cache-control:max-age=40,s-maxage=20"),
          Step("header=cache-control:max-age=40,s-maxage=20", cache="HIT")], 1, ttl=20),
    Case("upstream control: no-store", "upstream",
         [Step("header=cache-control:no-store,max-age=40"), Step("header=cache-control:no-store,max-age=40")], 2),
    Case("upstream control: private", "upstream",
         [Step("header=cache-control:private,max-age=40"), Step("header=cache-control:private,max-age=40")], 2),
    Case("upstream control: max-age=0", "upstream",
         [Step("header=cache-control:max-age=0"), Step("header=cache-control:max-age=0")], 2),
    Case("upstream control: Tyk's x-tyk-cache-action-set with its TTL header", "upstream",
         [Step("header=x-tyk-cache-action-set:1&header=x-tyk-cache-action-set-ttl:15"),
          Step("header=x-tyk-cache-action-set:1&header=x-tyk-cache-action-set-ttl:15", cache="HIT")], 1, ttl=15),
    Case("keyed: each key has its own answers", "keyed",
         [Step(headers=A), Step(headers=A, cache="HIT"), Step(headers=B), Step(headers=B, cache="HIT")], 2),
    Case("keyed: a refused key never reaches the cache", "keyed",
         [Step(headers={"authorization": "unknown"}, cache=None, status=403)], 0),
    Case("enable_cache false: no cache at all", "plain", [Step(cache=None), Step(cache=None)], 2),
]


def test_cache_table(gateway, upstream, redis_url):
    session = {"access_rights": {"keyed": {"api_id": "keyed", "versions": ["Default"]}}}
    store_key(redis_url, "key-a", session)
    store_key(redis_url, "key-b", session)
    client = httpx.Client(timeout=10)
    redis = redis_lib.Redis.from_url(redis_url)
    for case in CASES:
        name = uuid.uuid4().hex
        bodies = []
        before = set(redis.scan_iter(match=api_pattern(case.api)))
        for index, step in enumerate(case.steps):
            url = f"{gateway.url}/{case.api}/counted/{name}{step.suffix}" + (f"?{step.query}" if step.query else "")
            reply = client.request(step.method, url, headers=step.headers)
            where = f"{case.name}, request {index + 1}"
            assert reply.status_code == step.status, where
            assert reply.headers.get("x-tollhouse-cache") == step.cache, where
            assert (reply.headers.get("x-tyk-cached-response") == "1") == (step.cache == "HIT"), where
            bodies.append((step.method, step.query, sorted(step.headers.items()), reply.content))
        counted = httpx.get(f"http://127.0.0.1:{upstream.port}/hits/{name}{case.steps[0].suffix}").json()["hits"]
        assert counted == case.upstream_calls, case.name
        # A hit carries exactly what the first answer to the same request carried.
        for index, step in enumerate(case.steps):
            if step.cache == "HIT":
                first = next(body for body in bodies if body[:3] == bodies[index][:3])
                assert bodies[index][3] == first[3], f"{case.name}, request {index + 1}"
        if case.ttl is not None:
            (stored,) = set(redis.scan_iter(match=api_pattern(case.api))) - before
            assert 0 < redis.ttl(stored) <= case.ttl, case.name


def test_hit_keeps_the_upstream_headers_and_answers_if_none_match(gateway, upstream):
    url = f"{gateway.url}/all/counted/{uuid.uuid4().hex}?header=etag:%22v1%22&header=x-from:upstream"
    first = httpx.get(url)
    hit = httpx.get(url)
    assert (first.headers["x-tollhouse-cache"], hit.headers["x-tollhouse-cache"]) == ("MISS", "HIT")
    assert hit.headers["etag"] == '"v1"' and hit.headers["x-from"] == "upstream"
    assert hit.headers["content-type"] == "application/json" and hit.json() == first.json()
    not_modified = httpx.get(url, headers={"if-none-match": 'W/"v0", "v1"'})
    assert (not_modified.status_code, not_modified.content) == (304, b"")
    assert httpx.get(url, headers={"if-none-match": '"v2"'}).status_code == 200


def test_large_cached_answer_is_served_whole(gateway):
    url = f"{gateway.url}/all/counted/{uuid.uuid4().hex}?size={CAP}"
    assert httpx.get(url).content == pattern(CAP)
    hit = httpx.get(url)
    assert hit.headers["x-tollhouse-cache"] == "HIT" and hit.content == pattern(CAP)
    assert hit.headers["content-length"] == str(CAP)


def test_invalidation_on_the_control_api_clears_one_api_only(gateway):
    urls = [f"{gateway.url}/{api}/counted/{uuid.uuid4().hex}" for api in ("all", "tenant")]
    for url in urls:
        httpx.get(url)
        assert httpx.get(url).headers["x-tollhouse-cache"] == "HIT"
    reply = httpx.delete(f"{gateway.url}/tyk/cache/all", headers={"x-tyk-authorization": CONTROL_SECRET})
    assert (reply.status_code, reply.json()) == (200, {"status": "ok", "action": "cache invalidated"})
    assert httpx.get(urls[0]).headers["x-tollhouse-cache"] == "MISS"
    assert httpx.get(urls[1]).headers["x-tollhouse-cache"] == "HIT"
    refused = httpx.delete(f"{gateway.url}/tyk/cache/all")
    assert refused.status_code == 403


def test_redis_away_serves_from_the_upstream(start_file_gateway, upstream):
    target = f"http://127.0.0.1:{upstream.port}/"
    gateway = start_file_gateway(apis=[keyless("all", "/all/", target, {"cache_all_safe_requests": True})],
                                 redis_url=f"redis://127.0.0.1:{free_port()}/0", analytics_enabled=False)
    name = uuid.uuid4().hex
    for expected_hits in (1, 2):
        reply = httpx.get(f"{gateway.url}/all/counted/{name}", timeout=10)
        assert reply.status_code == 200 and reply.json()["hits"] == expected_hits
        assert "x-tollhouse-cache" not in reply.headers
