"""Which rate rules and quota a request must fit (gateway/middleware/rate_limit.py): precedence and buckets.

The limits themselves run against Redis in tests/unit/gateway/test_ratelimit.py and through gateway
processes in tests/integration/test_rate_limits.py; here only the choice of rules is checked.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from redis.asyncio import Redis

from tests.servers import free_port
from tollhouse.core.apidef import parse_definition
from tollhouse.core.session import Limit, SessionState
from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.context import GatewayError
from tollhouse.gateway.middleware.rate_limit import EnforceLimits
from tollhouse.gateway.policies import Grant
from tollhouse.gateway.ratelimit import Limiter

HASH = "h" * 64
ENDPOINTS = [
    {"path": "/search", "method": "GET", "rate": 2, "per": 1},
    {"path": "/users/{id}/orders", "method": "ANY", "rate": 5, "per": 10},
    {"path": "/off", "method": "GET", "rate": 1, "per": 1, "disabled": True},
]


def api(keyless: bool = False, endpoints=(), **fields):
    raw = {"api_id": "orders", "name": "orders", "use_keyless": keyless,
           "proxy": {"listen_path": "/orders/", "target_url": "http://127.0.0.1:9/"},
           "version_data": {"not_versioned": True,
                            "versions": {"Default": {"extended_paths": {"rate_limit": list(endpoints)}}}},
           **fields}
    return compile_api(parse_definition(raw), raw)


def rules(compiled, grant: Grant | None, path: str = "/orders/items", method: str = "GET"):
    deps = SimpleNamespace(limiter=Limiter(Redis()), rate_limit_fail_open=False)
    ctx = SimpleNamespace(grant=grant, version="", request=SimpleNamespace(path=path, method=method))
    rate_rules, quota = EnforceLimits(compiled, deps).rules(ctx)
    return ([(rule.bucket, rule.rate, rule.per) for rule in rate_rules],
            None if quota is None else (quota.bucket, quota.max, quota.renewal_seconds))


def grant(scope: str = "", **limit) -> Grant:
    return Grant(key_hash=HASH, session=SessionState(), limit=Limit(**limit), scope=scope)


KEY = grant(rate=10, per=60, quota_max=100, quota_renewal_rate=3600)


@pytest.mark.parametrize(
    ("compiled", "the_grant", "path", "method", "expected_rates", "expected_quota"),
    [
        # The key's own limit: counters shared by every API the key uses.
        (api(), KEY, "/orders/items", "GET", [(f"rate-limit-{HASH}", 10, 60)], (f"quota-{HASH}", 100, 3600)),
        # A per-API limit (grant scope) has counters of its own.
        (api(), grant("orders", rate=5, per=1, quota_max=7, quota_renewal_rate=60), "/orders/x", "GET",
         [(f"rate-limit-orders-{HASH}", 5, 1)], (f"quota-orders-{HASH}", 7, 60)),
        # No rate, no quota on the key: nothing to check (the Redis call is skipped).
        (api(), grant(), "/orders/x", "GET", [], None),
        # The API-wide limit comes first and applies besides the key's.
        (api(global_rate_limit={"rate": 100, "per": 1}), KEY, "/orders/x", "GET",
         [("rate-limit-api:orders", 100, 1), (f"rate-limit-{HASH}", 10, 60)], (f"quota-{HASH}", 100, 3600)),
        # A matching endpoint limit replaces the key's rate (per key, per endpoint); the quota stays.
        (api(endpoints=ENDPOINTS), KEY, "/orders/search", "GET",
         [(f"rate-limit-endpoint:orders:Default:GET:/search:{HASH}", 2, 1)], (f"quota-{HASH}", 100, 3600)),
        (api(endpoints=ENDPOINTS), KEY, "/orders/search/deep?x", "GET",
         [(f"rate-limit-endpoint:orders:Default:GET:/search:{HASH}", 2, 1)], (f"quota-{HASH}", 100, 3600)),
        (api(endpoints=ENDPOINTS), KEY, "/orders/users/42/orders", "DELETE",
         [(f"rate-limit-endpoint:orders:Default:ANY:/users/{{id}}/orders:{HASH}", 5, 10)],
         (f"quota-{HASH}", 100, 3600)),
        # Another method, a path that only contains the endpoint, a disabled entry: the key's rate.
        (api(endpoints=ENDPOINTS), KEY, "/orders/search", "POST", [(f"rate-limit-{HASH}", 10, 60)],
         (f"quota-{HASH}", 100, 3600)),
        (api(endpoints=ENDPOINTS), KEY, "/orders/v2/search", "GET", [(f"rate-limit-{HASH}", 10, 60)],
         (f"quota-{HASH}", 100, 3600)),
        (api(endpoints=ENDPOINTS), KEY, "/orders/off", "GET", [(f"rate-limit-{HASH}", 10, 60)],
         (f"quota-{HASH}", 100, 3600)),
        # disable_rate_limit turns off every rate limit (the API-wide one too, as Tyk); disable_quota the quota.
        (api(global_rate_limit={"rate": 100, "per": 1}, endpoints=ENDPOINTS, disable_rate_limit=True), KEY,
         "/orders/search", "GET", [], (f"quota-{HASH}", 100, 3600)),
        (api(disable_quota=True), KEY, "/orders/x", "GET", [(f"rate-limit-{HASH}", 10, 60)], None),
        # Keyless: the API-wide limit, and endpoint limits shared by every caller.
        (api(keyless=True, global_rate_limit={"rate": 3, "per": 1}), None, "/orders/x", "GET",
         [("rate-limit-api:orders", 3, 1)], None),
        (api(keyless=True, endpoints=ENDPOINTS), None, "/orders/search", "GET",
         [("rate-limit-endpoint:orders:Default:GET:/search", 2, 1)], None),
        (api(keyless=True, endpoints=ENDPOINTS), None, "/orders/other", "GET", [], None),
    ],
)
def test_rules_of_a_request(compiled, the_grant, path, method, expected_rates, expected_quota):
    assert rules(compiled, the_grant, path, method) == (expected_rates, expected_quota)


@pytest.mark.parametrize(
    ("compiled", "applies"),
    [
        (api(), True),
        (api(disable_rate_limit=True), True),  # the quota still applies
        (api(disable_rate_limit=True, disable_quota=True), False),
        (api(keyless=True), False),
        (api(keyless=True, global_rate_limit={"rate": 3, "per": 1}), True),
        (api(keyless=True, global_rate_limit={"rate": 3, "per": 0}), False),
        (api(keyless=True, endpoints=ENDPOINTS), True),
        (api(keyless=True, endpoints=[ENDPOINTS[2]]), False),  # only a disabled entry
        (api(keyless=True, endpoints=ENDPOINTS, disable_rate_limit=True), False),
    ],
)
def test_limits_apply(compiled, applies):
    assert compiled.definition.limits_apply is applies
    assert compiled.needs_redis is (applies or not compiled.definition.use_keyless)


def test_versioned_api_uses_the_limits_of_the_version_asked_for():
    raw = {"api_id": "v", "name": "v", "proxy": {"listen_path": "/v/", "target_url": "http://127.0.0.1:9/"},
           "version_data": {"not_versioned": False, "versions": {
               "v1": {"extended_paths": {"rate_limit": [{"path": "/a", "method": "GET", "rate": 1, "per": 1}]}},
               "v2": {}}}}
    compiled = compile_api(parse_definition(raw), raw)
    middleware = EnforceLimits(compiled, SimpleNamespace(limiter=Limiter(Redis()), rate_limit_fail_open=False))
    for version, expected in [("v1", f"rate-limit-endpoint:v:v1:GET:/a:{HASH}"), ("v2", f"rate-limit-{HASH}")]:
        ctx = SimpleNamespace(grant=KEY, version=version, request=SimpleNamespace(path="/v/a", method="GET"))
        assert middleware.rules(ctx)[0][0].bucket == expected


@pytest.mark.parametrize(
    ("fail_open", "the_grant", "key_digest", "outcome"),
    [
        (False, grant(rate=10, per=60), "", 503),
        (True, grant(rate=10, per=60), "", None),  # only a rate limit: let through
        (True, grant(rate=10, per=60, quota_max=5), "", 503),  # a quota never fails open
        (True, grant(quota_max=5), "", 503),
        # A key used as last read, still to be confirmed: never let through unconfirmed.
        (True, grant(rate=10, per=60), "a" * 40, 503),
    ],
)
def test_redis_away(fail_open, the_grant, key_digest, outcome):
    async def call():
        redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
        deps = SimpleNamespace(limiter=Limiter(redis), rate_limit_fail_open=fail_open)
        ctx = SimpleNamespace(grant=the_grant, version="", response_headers=[], api_key_hash="h" * 64,
                              key_digest=key_digest, request=SimpleNamespace(path="/orders/x", method="GET"))
        try:
            await EnforceLimits(api(), deps)(ctx)
        except GatewayError as exc:
            return exc.status, exc.message
        finally:
            await redis.aclose()
        return None

    result = asyncio.run(call())
    if outcome is None:
        assert result is None
    else:
        assert result[0] == outcome
        assert result[1].startswith("Redis is unreachable, so rate limits and quotas cannot be checked")
