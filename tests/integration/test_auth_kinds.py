"""Basic auth, JWT (keys from a JWKS) and HMAC signatures through a real gateway process (file mode), a real
upstream, a real Redis and a real JWKS endpoint on loopback: per kind, every answer with its exact status and body.

One gateway serves the whole table (starting one per case would cost most of the run). Each API is versioned
(v1 by default, v2 exists) and every credential allows v1 ``GET /items`` only, so the same credential shows
"no access to this version / path / method".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from email.utils import formatdate

import bcrypt
import httpx
import pytest
import redis

from tests.gateways import FileGateway, store_key
from tests.jwks import JwksServer, jwk, rsa_key, token, unsigned
from tests.stack import wait_until

PASSWORD = "correct horse battery"
HMAC_SECRET = "the shared HMAC secret of hk-ada"
RSA_1, RSA_2, STRANGER = rsa_key(), rsa_key(), rsa_key()
VERSIONED = {"definition": {"location": "header", "key": "x-api-version"},
             "version_data": {"not_versioned": False, "default_version": "v1", "versions": {"v1": {}, "v2": {}}}}


def rights(api_id: str) -> dict:
    return {api_id: {"api_id": api_id, "versions": ["v1"], "allowed_urls": [{"url": "^/items", "methods": ["GET"]}]}}


def definition(api_id: str, target: str, **fields) -> dict:
    return {"api_id": api_id, "name": api_id.title(), "org_id": "org1",
            "proxy": {"listen_path": f"/{api_id}/", "target_url": target, "strip_listen_path": True},
            **VERSIONED, **fields}


def jwt_api(api_id: str, target: str, jwks_url: str) -> dict:
    return definition(api_id, target, enable_jwt=True, jwt_signing_method="rsa", jwt_source=jwks_url,
                      jwt_policy_field_name="pol")


POLICIES = [
    {"id": "jwt-gold", "access_rights": rights("jwt")},
    {"id": "jwt-frozen", "access_rights": rights("jwt"), "is_inactive": True},
    {"id": "jwt-elsewhere", "access_rights": rights("basic")},
]


def start_gateway(workdir, redis_url, apis, **settings) -> FileGateway:
    gateway = FileGateway(workdir, redis_url, {"jwks_refetch_seconds": 0.2, **settings})
    for api in apis:
        gateway.write_api(api)
    for policy in POLICIES:
        gateway.write_policy(policy)
    return gateway.start()


@pytest.fixture(scope="module")
def jwks_server():
    server = JwksServer().up()
    server.keys = [jwk(RSA_1, "k1")]
    yield server
    server.down()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, redis_proc, upstream, jwks_server):
    if redis_proc.process is None or redis_proc.process.poll() is not None:
        redis_proc.start()
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/0"
    redis.Redis.from_url(redis_url).flushall()
    password = {"basic_auth_data": {"password": bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
                                    "hash_type": "bcrypt"}}
    for user, extra in [("ada", {}), ("old", {"expires": int(time.time()) - 10}), ("off", {"is_inactive": True})]:
        store_key(redis_url, user, {**password, "access_rights": rights("basic"), **extra})
    store_key(redis_url, "elsewhere", {**password, "access_rights": rights("hmac")})
    enabled = {"hmac_enabled": True, "hmac_string": HMAC_SECRET}
    for key, extra in [("hk-ada", {}), ("hk-old", {"expires": int(time.time()) - 10}),
                       ("hk-off", {"is_inactive": True})]:
        store_key(redis_url, key, {**enabled, "access_rights": rights("hmac"), **extra})
    store_key(redis_url, "hk-elsewhere", {**enabled, "access_rights": rights("basic")})

    target = f"http://127.0.0.1:{upstream.port}/"
    apis = [definition("basic", target, use_basic_auth=True),
            jwt_api("jwt", target, jwks_server.url),
            definition("hmac", target, enable_signature_checking=True, hmac_allowed_clock_skew=300_000)]
    gateway = start_gateway(tmp_path_factory.mktemp("auth-kinds"), redis_url, apis)
    yield gateway
    gateway.stop()


# -- credentials, as clients make them ------------------------------------------------------------------------------

def basic(user: str, password: str = PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def signature(key: str = "hk-ada", secret: str = HMAC_SECRET, age: float = 0, method: str = "GET",
              path: str = "/hmac/items") -> dict:
    date = formatdate(time.time() - age, usegmt=True)
    signing_string = f"(request-target): {method.lower()} {path}\ndate: {date}"
    signed = base64.b64encode(hmac.new(secret.encode(), signing_string.encode(), hashlib.sha256).digest()).decode()
    return {"Date": date, "Authorization": f'Signature keyId="{key}",algorithm="hmac-sha256",'
                                           f'headers="(request-target) date",signature="{signed}"'}


V2 = {"x-api-version": "v2"}
CHALLENGE = 'Basic realm="Basic"'

CASES = {
    # kind: [(case, method, path, headers, status, error)]; error None: the upstream answered.
    "basic": [
        ("valid", "GET", "/basic/items", lambda: basic("ada"), 200, None),
        ("missing", "GET", "/basic/items", dict, 401, "Authorization field missing"),
        ("malformed", "GET", "/basic/items", lambda: {"Authorization": "Basic !!!"}, 400,
         "Attempted access with malformed header, auth data not encoded correctly"),
        ("wrong password", "GET", "/basic/items", lambda: basic("ada", "guess"), 401, "User not authorised"),
        ("unknown user", "GET", "/basic/items", lambda: basic("mallory"), 401, "User not authorised"),
        ("expired", "GET", "/basic/items", lambda: basic("old"), 401, "Key has expired, please renew"),
        ("inactive", "GET", "/basic/items", lambda: basic("off"), 403, "Key is inactive, please renew"),
        ("no access to this API", "GET", "/basic/items", lambda: basic("elsewhere"), 403,
         "Access to this API has been disallowed"),
        ("no access to this version", "GET", "/basic/items", lambda: {**basic("ada"), **V2}, 403,
         "Access to this API version has been disallowed"),
        ("no access to this path", "GET", "/basic/admin", lambda: basic("ada"), 403,
         "Access to this resource has been disallowed"),
        ("no access with this method", "POST", "/basic/items", lambda: basic("ada"), 403,
         "Access to this resource has been disallowed"),
    ],
    "jwt": [
        ("valid", "GET", "/jwt/items", lambda: bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1", exp=60)),
         200, None),
        ("missing", "GET", "/jwt/items", dict, 401, "Authorization field missing"),
        ("malformed", "GET", "/jwt/items", lambda: bearer("a.b"), 401, "Key not authorized: token is malformed"),
        ("wrong signature", "GET", "/jwt/items", lambda: bearer(token(STRANGER, {"pol": "jwt-gold"}, "RS256", "k1")),
         401, "Key not authorized: signature is invalid"),
        ("alg none", "GET", "/jwt/items", lambda: bearer(unsigned({"pol": "jwt-gold"})), 401,
         "Key not authorized: algorithm 'none' is not allowed, this API accepts RS256, RS384, RS512"),
        ("unknown kid", "GET", "/jwt/items", lambda: bearer(token(STRANGER, {"pol": "jwt-gold"}, "RS256", "k0")),
         401, "Key not authorized: unknown kid 'k0'"),
        ("expired", "GET", "/jwt/items", lambda: bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1", exp=-10)),
         401, "Key not authorized: token has expired"),
        ("not valid yet", "GET", "/jwt/items",
         lambda: bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1", nbf=600)),
         401, "Key not authorized: token is not valid yet"),
        ("no policy", "GET", "/jwt/items", lambda: bearer(token(RSA_1, {"pol": None}, "RS256", "k1")), 403,
         "Key not authorized: no matching policy found"),
        ("inactive", "GET", "/jwt/items", lambda: bearer(token(RSA_1, {"pol": "jwt-frozen"}, "RS256", "k1")), 403,
         "Key is inactive, please renew"),
        ("no access to this API", "GET", "/jwt/items",
         lambda: bearer(token(RSA_1, {"pol": "jwt-elsewhere"}, "RS256", "k1")), 403,
         "Access to this API has been disallowed"),
        ("no access to this version", "GET", "/jwt/items",
         lambda: {**bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1")), **V2}, 403,
         "Access to this API version has been disallowed"),
        ("no access to this path", "GET", "/jwt/admin",
         lambda: bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1")), 403,
         "Access to this resource has been disallowed"),
        ("no access with this method", "DELETE", "/jwt/items",
         lambda: bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1")), 403,
         "Access to this resource has been disallowed"),
    ],
    "hmac": [
        ("valid", "GET", "/hmac/items", signature, 200, None),
        ("missing", "GET", "/hmac/items", lambda: {"Date": formatdate(usegmt=True)}, 401,
         "Authorization field missing"),
        ("malformed", "GET", "/hmac/items", lambda: {"Authorization": "Signature hk-ada"}, 400,
         'Authorization field malformed: expected Signature keyId="...",algorithm="...",headers="...",'
         'signature="..."'),
        ("wrong signature", "GET", "/hmac/items", lambda: signature(secret="a guess"), 401,
         "Request signature is invalid"),
        ("unknown key", "GET", "/hmac/items", lambda: signature(key="hk-nobody"), 401, "Request signature is invalid"),
        ("replayed later", "GET", "/hmac/items", lambda: signature(age=3600), 400, "Date is out of allowed range."),
        ("expired", "GET", "/hmac/items", lambda: signature(key="hk-old"), 401, "Key has expired, please renew"),
        ("inactive", "GET", "/hmac/items", lambda: signature(key="hk-off"), 403, "Key is inactive, please renew"),
        ("no access to this API", "GET", "/hmac/items", lambda: signature(key="hk-elsewhere"), 403,
         "Access to this API has been disallowed"),
        ("no access to this version", "GET", "/hmac/items", lambda: {**signature(), **V2}, 403,
         "Access to this API version has been disallowed"),
        ("no access to this path", "GET", "/hmac/admin", lambda: signature(path="/hmac/admin"), 403,
         "Access to this resource has been disallowed"),
        ("no access with this method", "PUT", "/hmac/items", lambda: signature(method="PUT"), 403,
         "Access to this resource has been disallowed"),
    ],
}


@pytest.mark.parametrize(
    ("kind", "case", "method", "path", "make_headers", "status", "error"),
    [(kind, *row) for kind, rows in CASES.items() for row in rows],
    ids=[f"{kind}-{row[0]}" for kind, rows in CASES.items() for row in rows],
)
def test_answer(gateway, kind, case, method, path, make_headers, status, error):
    reply = httpx.request(method, gateway.url + path, headers=make_headers())
    assert reply.status_code == status, reply.text
    if error is None:
        seen = reply.json()  # the upstream's echo: the request went through
        assert (seen["method"], seen["path"]) == (method, "/" + path.split("/", 2)[2])  # listen path stripped
        return
    assert reply.json() == {"error": error}
    # Basic auth asks for credentials when they are missing or refused (not for an expired key, as Tyk).
    challenged = kind == "basic" and error in ("Authorization field missing", "User not authorised")
    assert reply.headers.get("www-authenticate") == (CHALLENGE if challenged else None)


def test_jwt_key_rotation_through_the_jwks(gateway, jwks_server):
    """The issuer publishes a new key: tokens with its kid pass as soon as the gateway refetches (rate-limited)."""
    new_token = token(RSA_2, {"pol": "jwt-gold"}, "RS256", "k2")
    before = httpx.get(f"{gateway.url}/jwt/items", headers=bearer(new_token))
    assert (before.status_code, before.json()) == (401, {"error": "Key not authorized: unknown kid 'k2'"})
    jwks_server.keys = [jwk(RSA_1, "k1"), jwk(RSA_2, "k2")]
    try:
        wait_until(lambda: httpx.get(f"{gateway.url}/jwt/items", headers=bearer(new_token)).status_code == 200, 5,
                   message="the new kid accepted")
        old = httpx.get(f"{gateway.url}/jwt/items", headers=bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1")))
        assert old.status_code == 200
    finally:
        jwks_server.keys = [jwk(RSA_1, "k1")]


def test_jwks_down_serves_the_cached_set_and_503_before_any(gateway, tmp_path, upstream):
    """A gateway of its own with a short cache TTL and a JWKS endpoint of its own, which goes away."""
    issuer, never = JwksServer().up(), JwksServer()  # ``never`` is not started: nothing listens on its port
    issuer.keys = [jwk(RSA_1, "k1")]
    target = f"http://127.0.0.1:{upstream.port}/"
    own = start_gateway(tmp_path, gateway.redis_url, [jwt_api("jwt", target, issuer.url),
                                                      jwt_api("dark", target, never.url)], jwks_cache_seconds=0.3)
    try:
        valid = bearer(token(RSA_1, {"pol": "jwt-gold"}, "RS256", "k1"))
        assert httpx.get(f"{own.url}/jwt/items", headers=valid).status_code == 200
        issuer.down()
        time.sleep(0.5)  # past the TTL: the gateway tries the endpoint again, fails, keeps the cached set
        assert httpx.get(f"{own.url}/jwt/items", headers=valid).status_code == 200
        assert f"JWKS fetch from {issuer.url} failed" in own.process.log()

        reply = httpx.get(f"{own.url}/dark/items", headers=valid)
        assert reply.status_code == 503
        assert reply.json()["error"].startswith(f"the JWKS endpoint {never.url} gave no usable key set, so the token "
                                                "cannot be checked (ConnectError")
    finally:
        own.stop()
        issuer.down()
