"""CORS through a real gateway process (file mode), a real upstream and Redis: preflights answered before
authentication (or passed to the upstream with ``options_passthrough``), the CORS headers on every other answer,
errors included, and the Fetch standard's credentials rules.
"""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.gateways import FileGateway, keyed, store_key

KEY = "cors-test-key"
APP = "https://app.example.com"
PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
CORS_HEADERS = ("access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                "access-control-allow-credentials", "access-control-max-age", "access-control-expose-headers")

STRICT = {"enable": True, "allowed_origins": [APP, "https://*.example.org"], "allowed_methods": ["GET", "PUT"],
          "allowed_headers": ["Authorization", "Content-Type"], "exposed_headers": ["X-Request-Id"],
          "allow_credentials": True, "max_age": 600}


def keyless(api_id: str, target: str, **fields) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": target, "strip_listen_path": True}, **fields}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, redis_proc, upstream):
    if redis_proc.process is None or redis_proc.process.poll() is not None:
        redis_proc.start()
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/0"
    redis.Redis.from_url(redis_url).flushall()
    target = f"http://127.0.0.1:{upstream.port}/"
    definitions = [
        keyed("strict", "/strict/", target, CORS=STRICT),
        keyless("open", target, CORS={"enable": True}),
        keyless("any-credentials", target, CORS={"enable": True, "allowed_origins": ["*"], "allow_credentials": True}),
        # The upstream handles CORS: the gateway passes preflights to it, past authentication (as in Tyk).
        keyed("passthrough", "/passthrough/", target, CORS={"options_passthrough": True}),
        keyed("passthrough-enabled", "/passthrough-enabled/", target,
              CORS={**STRICT, "options_passthrough": True}),
        keyed("no-cors", "/no-cors/", target),
    ]
    rights = {d["api_id"]: {"api_id": d["api_id"], "versions": ["Default"]} for d in definitions}
    store_key(redis_url, KEY, {"access_rights": rights})
    started = FileGateway(tmp_path_factory.mktemp("cors"), redis_url)
    for definition in definitions:
        started.write_api(definition)
    yield started.start()
    started.stop()


def preflight(origin: str, method: str, headers: str | None = None) -> dict:
    asked = {"origin": origin, "access-control-request-method": method}
    return asked | ({"access-control-request-headers": headers} if headers else {})


AUTH = {"authorization": KEY}


@pytest.mark.parametrize(
    ("case", "method", "path", "headers", "status", "expected", "reached_upstream"),
    [
        ("preflight answered before authentication", "OPTIONS", "/strict/items",
         preflight(APP, "PUT", "Authorization, content-type"), 204,
         {"vary": PREFLIGHT_VARY, "access-control-allow-origin": APP, "access-control-allow-methods": "PUT",
          "access-control-allow-headers": "authorization, content-type",
          "access-control-allow-credentials": "true", "access-control-max-age": "600"}, False),
        ("preflight from a wildcard origin", "OPTIONS", "/strict/items", preflight("https://eu.example.org", "GET"),
         204, {"vary": PREFLIGHT_VARY, "access-control-allow-origin": "https://eu.example.org",
               "access-control-allow-methods": "GET", "access-control-allow-credentials": "true",
               "access-control-max-age": "600"}, False),
        ("preflight from an unknown origin: no CORS headers", "OPTIONS", "/strict/items",
         preflight("https://evil.test", "GET"), 204, {"vary": PREFLIGHT_VARY}, False),
        ("preflight for a method not allowed", "OPTIONS", "/strict/items", preflight(APP, "DELETE"), 204,
         {"vary": PREFLIGHT_VARY}, False),
        ("preflight for a header not allowed", "OPTIONS", "/strict/items", preflight(APP, "GET", "x-secret"), 204,
         {"vary": PREFLIGHT_VARY}, False),
        # (OPTIONS is not among the allowed methods: no CORS headers on its answer.)
        ("an OPTIONS that is no preflight is authenticated", "OPTIONS", "/strict/items", {"origin": APP}, 401,
         {"vary": "Origin"}, False),
        ("the error answer carries the CORS headers", "GET", "/strict/items", {"origin": APP}, 401,
         {"vary": "Origin", "access-control-allow-origin": APP, "access-control-allow-credentials": "true",
          "access-control-expose-headers": "X-Request-Id"}, False),
        ("the upstream's answer carries them", "GET", "/strict/items", {"origin": APP, **AUTH}, 200,
         {"vary": "Origin", "access-control-allow-origin": APP, "access-control-allow-credentials": "true",
          "access-control-expose-headers": "X-Request-Id"}, True),
        ("an unknown origin gets none", "GET", "/strict/items", {"origin": "https://evil.test", **AUTH}, 200,
         {"vary": "Origin"}, True),
        ("no Origin: not a CORS request", "GET", "/strict/items", AUTH, 200, {"vary": "Origin"}, True),
        ("any origin without credentials: *", "GET", "/open/items", {"origin": "https://x.test"}, 200,
         {"vary": "Origin", "access-control-allow-origin": "*"}, True),
        ("any origin with credentials: echoed, never *", "GET", "/any-credentials/items",
         {"origin": "https://x.test"}, 200,
         {"vary": "Origin", "access-control-allow-origin": "https://x.test",
          "access-control-allow-credentials": "true"}, True),
        ("the null origin is not echoed by *", "GET", "/any-credentials/items", {"origin": "null"}, 200,
         {"vary": "Origin"}, True),
        ("default preflight", "OPTIONS", "/open/items", preflight("https://x.test", "POST", "X-Requested-With"),
         204, {"vary": PREFLIGHT_VARY, "access-control-allow-origin": "*", "access-control-allow-methods": "POST",
               "access-control-allow-headers": "x-requested-with"}, False),
        ("options_passthrough: the upstream answers the preflight, no key asked", "OPTIONS",
         "/passthrough/items", preflight(APP, "PUT"), 200, {}, True),
        ("options_passthrough alone adds no headers elsewhere", "GET", "/passthrough/items", {"origin": APP}, 401,
         {}, False),
        ("options_passthrough with CORS enabled: the upstream's preflight, the gateway's headers after", "OPTIONS",
         "/passthrough-enabled/items", preflight(APP, "PUT"), 200, {}, True),
        ("options_passthrough with CORS enabled: the gateway's headers on other requests", "GET",
         "/passthrough-enabled/items", {"origin": APP}, 401,
         {"vary": "Origin", "access-control-allow-origin": APP, "access-control-allow-credentials": "true",
          "access-control-expose-headers": "X-Request-Id"}, False),
        ("CORS not enabled: a preflight is an unauthenticated request", "OPTIONS", "/no-cors/items",
         preflight(APP, "GET"), 401, {}, False),
    ],
)
def test_cors(gateway, case, method, path, headers, status, expected, reached_upstream):
    reply = httpx.request(method, gateway.url + path, headers=headers)
    assert reply.status_code == status, reply.text
    for name in (*CORS_HEADERS, "vary"):
        assert reply.headers.get(name) == expected.get(name), name
    if reached_upstream:
        assert reply.json()["method"] == method  # the upstream's echo
        assert "origin" in dict(reply.json()["headers"]) or "origin" not in headers
    elif status == 204:
        assert reply.content == b""
    else:
        assert "error" in reply.json()
