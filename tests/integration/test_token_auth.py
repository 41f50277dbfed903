"""Auth token keys through a real gateway process: every refusal with its exact status and body."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.gateways import keyed, store_key

VALID = "valid-key-0001"
RIGHTS = {"api_id": "orders", "versions": ["Default"]}


@pytest.fixture(scope="module")
def keys():
    """key -> session; stored into each test's (flushed) Redis by the ``gateway`` fixture."""
    return {
        VALID: {"access_rights": {"orders": RIGHTS}},
        "expired-key": {"expires": int(time.time()) - 10, "access_rights": {"orders": RIGHTS}},
        "inactive-key": {"is_inactive": True, "access_rights": {"orders": RIGHTS}},
        "other-api-key": {"access_rights": {"billing": {"api_id": "billing"}}},
        "read-only-key": {"access_rights": {"orders": {
            "api_id": "orders", "allowed_urls": [{"url": "/items", "methods": ["GET"]}]}}},
        "v1-key": {"access_rights": {"versioned": {"api_id": "versioned", "versions": ["v1"]}}},
        "v2-key": {"access_rights": {"versioned": {"api_id": "versioned", "versions": ["v2"]}}},
    }


@pytest.fixture
def gateway(start_file_gateway, upstream, redis_url, keys):
    target = f"http://127.0.0.1:{upstream.port}/"
    apis = [
        keyed("orders", "/orders/", target),
        keyed("stripped", "/stripped/", target, strip_auth_data=True,
              auth_configs={"authToken": {"auth_header_name": "X-Api-Key", "use_param": True, "param_name": "key",
                                          "use_cookie": True, "cookie_name": "session"}}),
        keyed("versioned", "/versioned/", target, definition={"location": "header", "key": "x-api-version"},
              version_data={"not_versioned": False, "versions": {"v1": {}, "v2": {}}}),
    ]
    for key, session in keys.items():
        store_key(redis_url, key, session)
    store_key(redis_url, "stripped-key", {"access_rights": {"stripped": {"api_id": "stripped"}}})
    return start_file_gateway(apis=apis)


@pytest.mark.parametrize(
    ("path", "headers", "status", "error"),
    [
        ("/orders/items", {}, 401, "Authorization field missing"),
        ("/orders/items", {"Authorization": ""}, 401, "Authorization field missing"),
        ("/orders/items", {"Authorization": "no-such-key"}, 403, "Access to this API has been disallowed"),
        ("/orders/items", {"Authorization": "expired-key"}, 401, "Key has expired, please renew"),
        ("/orders/items", {"Authorization": "inactive-key"}, 403, "Key is inactive, please renew"),
        ("/orders/items", {"Authorization": "other-api-key"}, 403, "Access to this API has been disallowed"),
        ("/orders/admin", {"Authorization": "read-only-key"}, 403, "Access to this resource has been disallowed"),
        ("/versioned/x", {"Authorization": "v1-key"}, 403, "Version information not found"),
        ("/versioned/x", {"Authorization": "v1-key", "x-api-version": "v9"}, 403,
         "This API version does not seem to exist"),
        ("/versioned/x", {"Authorization": "v1-key", "x-api-version": "v2"}, 403,
         "Access to this API version has been disallowed"),
    ],
)
def test_refused(gateway, path, headers, status, error):
    reply = httpx.get(gateway.url + path, headers=headers)
    assert (reply.status_code, reply.json()) == (status, {"error": error})


def test_method_not_in_allowed_urls_is_refused(gateway):
    reply = httpx.post(f"{gateway.url}/orders/items", headers={"Authorization": "read-only-key"})
    assert (reply.status_code, reply.json()) == (403, {"error": "Access to this resource has been disallowed"})


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/orders/items", {"Authorization": VALID}),
        ("/orders/items", {"Authorization": f"Bearer {VALID}"}),
        ("/orders/items", {"Authorization": f"bearer  {VALID}"}),
        ("/versioned/x", {"Authorization": "v2-key", "x-api-version": "v2"}),
    ],
)
def test_accepted(gateway, path, headers):
    reply = httpx.get(gateway.url + path, headers=headers)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize(
    ("where", "request_kwargs"),
    [
        ("header", {"headers": {"X-Api-Key": "stripped-key"}}),
        ("param", {"params": {"key": "stripped-key", "keep": "1"}}),
        ("cookie", {"headers": {"Cookie": "theme=dark; session=stripped-key"}}),
    ],
)
def test_credential_found_and_stripped_before_the_upstream(gateway, where, request_kwargs):
    reply = httpx.get(f"{gateway.url}/stripped/echo", **request_kwargs)
    assert reply.status_code == 200, reply.text
    seen = reply.json()
    headers = {name.lower(): value for name, value in seen["headers"]}
    assert "x-api-key" not in headers
    assert "stripped-key" not in seen.get("query", "") and "stripped-key" not in headers.get("cookie", "")
    if where == "param":
        assert seen["query"] == "keep=1"
    if where == "cookie":
        assert headers["cookie"] == "theme=dark"


def test_redis_down_answers_503_for_keyed_apis(gateway, redis_proc):
    redis_proc.stop()
    try:
        reply = httpx.get(f"{gateway.url}/orders/items", headers={"Authorization": VALID})
        assert reply.status_code == 503
        assert "Redis is unreachable" in reply.json()["error"]
    finally:
        redis_proc.start()
