"""Basic auth (gateway/middleware/basic_auth.py): real Requests against a real Redis, every answer exact."""

from __future__ import annotations

import base64
import time

import bcrypt
import pytest

from tests.unit.gateway.authrun import api, authenticate, policies, request, run, store_key
from tollhouse.gateway.middleware.basic_auth import BasicAuth, VerifiedCache

SHOP = {"shop": {"api_id": "shop"}}
TABLE = policies()
PASSWORD = "correct horse battery"
CHALLENGE = [("www-authenticate", 'Basic realm="Shop"')]
NOT_AUTHORISED = (401, "User not authorised")


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()  # cheapest cost: these tests are logic


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def users(redis_url):
    password = {"basic_auth_data": {"password": hashed(PASSWORD), "hash_type": "bcrypt"}}
    return {
        "ada": store_key(redis_url, "ada", {**password, "access_rights": SHOP}),
        "old": store_key(redis_url, "old", {**password, "access_rights": SHOP, "expires": 1000}),
        "off": store_key(redis_url, "off", {**password, "access_rights": SHOP, "is_inactive": True}),
        "billing": store_key(redis_url, "billing", {**password, "access_rights": {"billing": {"api_id": "billing"}}}),
        "reader": store_key(redis_url, "reader", {**password, "access_rights": {"shop": {
            "api_id": "shop", "allowed_urls": [{"url": "^/items", "methods": ["GET"]}]}}}),
        "token-only": store_key(redis_url, "token-only", {"access_rights": SHOP}),
        "plain": store_key(redis_url, "plain", {"basic_auth_data": {"password": PASSWORD}, "access_rights": SHOP}),
    }


def check(redis_url, headers, path="/shop/items", method="GET", compiled=None, cache=None):
    compiled = compiled or api(use_basic_auth=True)

    async def scenario(keys):
        middleware = BasicAuth(compiled, keys, cache or VerifiedCache())
        return await authenticate(middleware, compiled, TABLE, request(headers, path, method))

    return run(redis_url, scenario)


@pytest.mark.parametrize(
    ("case", "headers", "path", "method", "answer", "challenged"),
    [
        ("valid", basic("ada", PASSWORD), "/shop/items", "GET", (200, ""), False),
        ("password is all after the first colon", basic("ada", PASSWORD + ":x"), "/shop/items", "GET",
         NOT_AUTHORISED, True),
        ("missing", {}, "/shop/items", "GET", (401, "Authorization field missing"), True),
        ("blank", {"Authorization": "  "}, "/shop/items", "GET", (401, "Authorization field missing"), True),
        ("not basic", {"Authorization": "Bearer abc"}, "/shop/items", "GET",
         (400, "Attempted access with malformed header, header not in basic auth format."), False),
        ("no credentials", {"Authorization": "Basic"}, "/shop/items", "GET",
         (400, "Attempted access with malformed header, header not in basic auth format."), False),
        ("not base64", {"Authorization": "Basic !!!"}, "/shop/items", "GET",
         (400, "Attempted access with malformed header, auth data not encoded correctly"), False),
        ("no colon", {"Authorization": "Basic " + base64.b64encode(b"ada").decode()}, "/shop/items", "GET",
         (400, "Attempted access with malformed header, values not in basic auth format."), False),
        ("wrong password", basic("ada", "wrong"), "/shop/items", "GET", NOT_AUTHORISED, True),
        ("unknown user", basic("nobody", PASSWORD), "/shop/items", "GET", NOT_AUTHORISED, True),
        ("empty user", basic("", PASSWORD), "/shop/items", "GET", NOT_AUTHORISED, True),
        ("key without a password", basic("token-only", ""), "/shop/items", "GET", NOT_AUTHORISED, True),
        ("password stored in clear", basic("plain", PASSWORD), "/shop/items", "GET", NOT_AUTHORISED, True),
        ("password past bcrypt's 72 bytes", basic("ada", PASSWORD * 4), "/shop/items", "GET", NOT_AUTHORISED, True),
        ("expired", basic("old", PASSWORD), "/shop/items", "GET", (401, "Key has expired, please renew"), False),
        ("inactive", basic("off", PASSWORD), "/shop/items", "GET", (403, "Key is inactive, please renew"), False),
        ("no access to this API", basic("billing", PASSWORD), "/shop/items", "GET",
         (403, "Access to this API has been disallowed"), False),
        ("no access to this path", basic("reader", PASSWORD), "/shop/admin", "GET",
         (403, "Access to this resource has been disallowed"), False),
        ("no access with this method", basic("reader", PASSWORD), "/shop/items", "POST",
         (403, "Access to this resource has been disallowed"), False),
    ],
)
def test_answers(redis_url, users, case, headers, path, method, answer, challenged):
    outcome = check(redis_url, headers, path, method)
    assert outcome.answer == answer
    assert outcome.headers == (CHALLENGE if challenged else [])
    if answer[0] == 200:
        assert outcome.ctx.api_key_hash == users["ada"]
        assert outcome.ctx.request.header("authorization") is not None  # kept: strip_auth_data is off


def test_strip_auth_data_and_the_realm(redis_url, users):
    compiled = api(use_basic_auth=True, strip_auth_data=True, name='The "Shop"')
    assert check(redis_url, basic("ada", PASSWORD), compiled=compiled).ctx.request.headers == []
    assert check(redis_url, {}, compiled=compiled).headers == [("www-authenticate", 'Basic realm="The \\"Shop\\""')]


def test_success_is_cached_failure_is_not_and_a_new_password_counts_at_once(redis_url, users):
    cache = VerifiedCache(ttl=60)
    assert check(redis_url, basic("ada", "wrong"), cache=cache).answer == NOT_AUTHORISED
    assert len(cache._entries) == 0  # failures are never remembered
    assert check(redis_url, basic("ada", PASSWORD), cache=cache).status == 200
    assert len(cache._entries) == 1
    (entry,) = cache._entries
    assert PASSWORD.encode() not in repr(entry).encode()  # an HMAC of it, not the password

    store_key(redis_url, "ada", {"basic_auth_data": {"password": hashed("a new password")}, "access_rights": SHOP})
    assert check(redis_url, basic("ada", PASSWORD), cache=cache).answer == NOT_AUTHORISED
    assert check(redis_url, basic("ada", "a new password"), cache=cache).status == 200


def test_cached_success_expires(redis_url, users):
    cache = VerifiedCache(ttl=0.05)
    assert check(redis_url, basic("ada", PASSWORD), cache=cache).status == 200
    (key_hash, _, stored), = cache._entries
    assert cache.known(key_hash, PASSWORD.encode(), stored)
    time.sleep(0.1)
    assert not cache.known(key_hash, PASSWORD.encode(), stored)
    assert cache._entries == {}


def test_cache_is_bounded():
    cache = VerifiedCache(ttl=60, max_entries=3)
    for index in range(5):
        cache.remember(f"hash-{index}", b"pw", "$2b$...")
    assert len(cache._entries) == 3
    assert not cache.known("hash-0", b"pw", "$2b$...") and cache.known("hash-4", b"pw", "$2b$...")


def test_redis_down_is_503_not_a_refusal():
    outcome = check("redis://127.0.0.1:1/0", basic("ada", PASSWORD))
    assert outcome.status == 503 and "Redis is unreachable" in outcome.error
