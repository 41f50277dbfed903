"""JWT authentication (gateway/middleware/jwt_auth.py, gateway/jwks.py): real Requests, a real Redis, and a real
JWKS endpoint on loopback. Each refusal is checked with its exact status and message."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis as redis_lib

from tests.jwks import HMAC_SECRET, JwksServer, b64, ec_key, jwk, public_pem, rsa_key, token, unsigned
from tests.unit.gateway.authrun import KEY_HASH_SECRET, api, authenticate, policies, request, run, store_key
from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.core.keys import hash_key
from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.jwks import JwksCache
from tollhouse.gateway.middleware.jwt_auth import JwtAuth
from tollhouse.gateway.pipeline import PipelineDeps

SHOP = {"shop": {"api_id": "shop"}}
TABLE = policies(
    {"id": "gold", "access_rights": SHOP},
    {"id": "silver", "access_rights": SHOP, "rate": 5, "per": 60},
    {"id": "readonly", "access_rights": {"shop": {"api_id": "shop", "allowed_urls": [
        {"url": "^/items", "methods": ["GET"]}]}}},
    {"id": "elsewhere", "access_rights": {"billing": {"api_id": "billing"}}},
    {"id": "frozen", "access_rights": SHOP, "is_inactive": True},
)
RSA, OTHER_RSA, EC = rsa_key(), rsa_key(), ec_key()
OTHER_SECRET = b"another HMAC secret, also long enough for HS256 use"


def hmac_api(**fields):
    return api(enable_jwt=True, jwt_signing_method="hmac", jwt_source=b64(HMAC_SECRET), jwt_policy_field_name="pol",
               **fields)


def check(redis_url, compiled, headers, path="/shop/items", method="GET", jwks=None):
    async def scenario(keys):
        deps = PipelineDeps(upstreams=None, keys=keys, policies=lambda: TABLE, jwks=jwks or JwksCache())
        return await authenticate(JwtAuth(compiled, deps), compiled, TABLE, request(headers, path, method))

    return run(redis_url, scenario)


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


NOT_ALLOWED_HS = "Key not authorized: algorithm {} is not allowed, this API accepts HS256, HS384, HS512"


@pytest.mark.parametrize(
    ("case", "make_headers", "path", "method", "answer"),
    [
        ("valid", lambda: bearer(token(HMAC_SECRET, exp=60)), "/shop/items", "GET", (200, "")),
        ("valid, no Bearer prefix", lambda: {"Authorization": token(HMAC_SECRET)}, "/shop/items", "GET", (200, "")),
        ("HS512 is in the family", lambda: bearer(token(HMAC_SECRET, algorithm="HS512")), "/shop/x", "GET",
         (200, "")),
        ("policy list", lambda: bearer(token(HMAC_SECRET, {"pol": ["elsewhere", "gold"]})), "/shop/x", "GET",
         (200, "")),
        ("missing", lambda: {}, "/shop/items", "GET", (401, "Authorization field missing")),
        ("empty", lambda: {"Authorization": ""}, "/shop/items", "GET", (401, "Authorization field missing")),
        ("malformed", lambda: bearer("not-a-jwt"), "/shop/items", "GET",
         (401, "Key not authorized: token is malformed")),
        ("malformed payload", lambda: bearer(token(HMAC_SECRET).split(".")[0] + ".%%%.abc"), "/shop/items", "GET",
         (401, "Key not authorized: token is malformed")),
        ("wrong signature", lambda: bearer(token(OTHER_SECRET)), "/shop/items", "GET",
         (401, "Key not authorized: signature is invalid")),
        ("tampered payload", lambda: bearer(_tampered(token(HMAC_SECRET, {"pol": "readonly"}))), "/shop/items",
         "GET", (401, "Key not authorized: signature is invalid")),
        ("alg none", lambda: bearer(unsigned()), "/shop/items", "GET", (401, NOT_ALLOWED_HS.format("'none'"))),
        ("alg from another family", lambda: bearer(token(RSA, algorithm="RS256")), "/shop/items", "GET",
         (401, NOT_ALLOWED_HS.format("'RS256'"))),
        ("expired", lambda: bearer(token(HMAC_SECRET, exp=-5)), "/shop/items", "GET",
         (401, "Key not authorized: token has expired")),
        ("not valid yet", lambda: bearer(token(HMAC_SECRET, nbf=120)), "/shop/items", "GET",
         (401, "Key not authorized: token is not valid yet")),
        ("issued in the future", lambda: bearer(token(HMAC_SECRET, iat=120)), "/shop/items", "GET",
         (401, "Key not authorized: token is not valid yet: it was issued in the future")),
        ("exp not a number", lambda: bearer(token(HMAC_SECRET, {"exp": "tomorrow"})), "/shop/items", "GET",
         (401, "Key not authorized: token is malformed: claim exp is not a number")),
        ("no identity", lambda: bearer(token(HMAC_SECRET, {"sub": None})), "/shop/items", "GET",
         (403, "Key not authorized: the token has no 'sub' claim naming the caller")),
        ("no policy", lambda: bearer(token(HMAC_SECRET, {"pol": None})), "/shop/items", "GET",
         (403, "Key not authorized: no matching policy found")),
        ("policy claim of the wrong type", lambda: bearer(token(HMAC_SECRET, {"pol": {"id": "gold"}})), "/shop/x",
         "GET", (403, "Key not authorized: claim 'pol' must be a policy id or a list of them")),
        ("unknown policy", lambda: bearer(token(HMAC_SECRET, {"pol": "nope"})), "/shop/items", "GET",
         (403, "Key is not authorised: its policy nope does not exist")),
        ("inactive (its policy)", lambda: bearer(token(HMAC_SECRET, {"pol": "frozen"})), "/shop/items", "GET",
         (403, "Key is inactive, please renew")),
        ("no access to this API", lambda: bearer(token(HMAC_SECRET, {"pol": "elsewhere"})), "/shop/items", "GET",
         (403, "Access to this API has been disallowed")),
        ("no access to this path", lambda: bearer(token(HMAC_SECRET, {"pol": "readonly"})), "/shop/admin", "GET",
         (403, "Access to this resource has been disallowed")),
        ("no access with this method", lambda: bearer(token(HMAC_SECRET, {"pol": "readonly"})), "/shop/items",
         "DELETE", (403, "Access to this resource has been disallowed")),
    ],
)
def test_shared_hmac_secret(redis_url, case, make_headers, path, method, answer):
    assert check(redis_url, hmac_api(), make_headers(), path, method).answer == answer


def _tampered(value: str) -> str:
    header, _, signature = value.split(".")
    return f"{header}.{unsigned({'pol': 'gold'}).split('.')[1]}.{signature}"


def test_derived_session_counts_per_identity_and_is_never_stored(redis_url):
    outcome = check(redis_url, hmac_api(), bearer(token(HMAC_SECRET, {"pol": "silver"})))
    assert outcome.status == 200
    ctx = outcome.ctx
    assert ctx.api_key_hash == hash_key(KEY_HASH_SECRET, "jwt:org1alice")
    assert ctx.session.apply_policies == ["silver"] and ctx.session.alias == "alice"
    assert (ctx.grant.limit.rate, ctx.grant.limit.per) == (5, 60)  # the policy's limit, counted per identity
    assert redis_lib.Redis.from_url(redis_url).keys("*") == []  # nothing written


@pytest.mark.parametrize(
    ("fields", "claims", "identity"),
    [
        ({"jwt_identity_base_field": "email"}, {"email": "a@example.com"}, "a@example.com"),
        ({"jwt_identity_base_field": "email"}, {}, "alice"),  # absent from the token: sub, as Tyk
        ({"jwt_default_policies": ["gold"]}, {"pol": None}, "alice"),
        ({"jwt_default_policies": ["elsewhere"]}, {"pol": "gold"}, "alice"),  # the claim wins over the defaults
    ],
)
def test_identity_and_policy_fields(redis_url, fields, claims, identity):
    outcome = check(redis_url, hmac_api(**fields), bearer(token(HMAC_SECRET, claims)))
    assert outcome.answer == (200, "")
    assert outcome.ctx.api_key_hash == hash_key(KEY_HASH_SECRET, f"jwt:org1{identity}")


@pytest.mark.parametrize(
    ("fields", "times", "answer"),
    [
        ({"jwt_expires_at_validation_skew": 60}, {"exp": -30}, (200, "")),
        ({"jwt_expires_at_validation_skew": 60}, {"exp": -90}, (401, "Key not authorized: token has expired")),
        ({"jwt_not_before_validation_skew": 60}, {"nbf": 30}, (200, "")),
        ({"jwt_not_before_validation_skew": 60}, {"nbf": 90}, (401, "Key not authorized: token is not valid yet")),
        ({"jwt_issued_at_validation_skew": 60}, {"iat": 30}, (200, "")),
    ],
)
def test_clock_skew(redis_url, fields, times, answer):
    assert check(redis_url, hmac_api(**fields), bearer(token(HMAC_SECRET, **times))).answer == answer


def test_token_from_a_parameter_or_cookie_and_stripped(redis_url):
    compiled = hmac_api(strip_auth_data=True, auth_configs={"jwt": {"use_param": True, "param_name": "jwt",
                                                                    "use_cookie": True, "cookie_name": "jwt"}})
    value = token(HMAC_SECRET)

    async def scenario(keys):
        deps = PipelineDeps(upstreams=None, keys=keys, policies=lambda: TABLE)
        middleware = JwtAuth(compiled, deps)
        by_param = request(path=f"/shop/items?jwt={value}&keep=1")
        by_cookie = request({"Cookie": f"jwt={value}; theme=dark"})
        return [await authenticate(middleware, compiled, TABLE, req) for req in (by_param, by_cookie)]

    by_param, by_cookie = run(redis_url, scenario)
    assert by_param.status == 200 and by_param.ctx.request.query == "keep=1"
    assert by_cookie.status == 200 and by_cookie.ctx.request.headers == [("cookie", "theme=dark")]


@pytest.mark.parametrize(
    ("family", "signer", "algorithm", "answer"),
    [
        ("rsa", RSA, "RS256", (200, "")),
        ("rsa", RSA, "RS512", (200, "")),
        ("rsa", OTHER_RSA, "RS256", (401, "Key not authorized: signature is invalid")),
        # Algorithm confusion: an HMAC whose secret is the API's public key.
        ("rsa", public_pem(RSA), "HS256",
         (401, "Key not authorized: algorithm 'HS256' is not allowed, this API accepts RS256, RS384, RS512")),
        ("ecdsa", EC, "ES256", (200, "")),
        ("ecdsa", RSA, "RS256",
         (401, "Key not authorized: algorithm 'RS256' is not allowed, this API accepts ES256, ES384, ES512")),
    ],
)
def test_public_key_source(redis_url, family, signer, algorithm, answer):
    pem = public_pem(RSA if family == "rsa" else EC)
    compiled = api(enable_jwt=True, jwt_signing_method=family, jwt_source=b64(pem), jwt_default_policies=["gold"])
    # pyjwt refuses to HMAC with a PEM (an attacker's library would not): that token is made by hand.
    signed = _hs256(signer) if isinstance(signer, bytes) else token(signer, algorithm=algorithm)
    assert check(redis_url, compiled, bearer(signed)).answer == answer


def _hs256(secret: bytes) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def part(data) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")

    signing_input = part({"alg": "HS256", "typ": "JWT"}) + b"." + part({"sub": "alice", "pol": "gold"})
    signature = base64.urlsafe_b64encode(hmac.new(secret, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


# -- per key: the kid names a stored key whose jwt_data.secret verifies, and whose session is the caller's --------

PER_KEY_REFUSED = (401, "Key not authorized: unknown kid or invalid signature")


@pytest.mark.parametrize(
    ("case", "make_token", "answer"),
    [
        ("valid", lambda: token(HMAC_SECRET, kid="ada-key"), (200, "")),
        ("no kid", lambda: token(HMAC_SECRET), (401, "Key not authorized: the token has no kid header naming its key")),
        ("unknown kid", lambda: token(HMAC_SECRET, kid="nobody"), PER_KEY_REFUSED),
        ("wrong signature", lambda: token(OTHER_SECRET, kid="ada-key"), PER_KEY_REFUSED),
        ("key without a JWT secret", lambda: token(HMAC_SECRET, kid="plain-key"), PER_KEY_REFUSED),
        ("expired token", lambda: token(HMAC_SECRET, kid="ada-key", exp=-5),
         (401, "Key not authorized: token has expired")),
        ("expired key", lambda: token(HMAC_SECRET, kid="old-key"), (401, "Key has expired, please renew")),
        ("inactive key", lambda: token(HMAC_SECRET, kid="off-key"), (403, "Key is inactive, please renew")),
        ("no access to this API", lambda: token(HMAC_SECRET, kid="billing-key"),
         (403, "Access to this API has been disallowed")),
    ],
)
def test_per_key_secret(redis_url, case, make_token, answer):
    secret = {"jwt_data": {"secret": HMAC_SECRET.decode()}}
    ada = store_key(redis_url, "ada-key", {**secret, "access_rights": SHOP})
    store_key(redis_url, "plain-key", {"access_rights": SHOP})
    store_key(redis_url, "old-key", {**secret, "access_rights": SHOP, "expires": 1000})
    store_key(redis_url, "off-key", {**secret, "access_rights": SHOP, "is_inactive": True})
    store_key(redis_url, "billing-key", {**secret, "access_rights": {"billing": {"api_id": "billing"}}})
    outcome = check(redis_url, api(enable_jwt=True, jwt_signing_method="hmac"), bearer(make_token()))
    assert outcome.answer == answer
    if answer[0] == 200:
        assert outcome.ctx.api_key_hash == ada  # the stored key's session, not a derived one


def test_per_key_public_key(redis_url):
    store_key(redis_url, "rsa-key", {"jwt_data": {"secret": public_pem(RSA).decode()}, "access_rights": SHOP})
    compiled = api(enable_jwt=True, jwt_signing_method="rsa")
    assert check(redis_url, compiled, bearer(token(RSA, algorithm="RS256", kid="rsa-key"))).answer == (200, "")
    assert check(redis_url, compiled, bearer(token(OTHER_RSA, algorithm="RS256", kid="rsa-key"))).answer == \
        PER_KEY_REFUSED


def test_redis_down_is_503_not_a_refusal():
    compiled = api(enable_jwt=True, jwt_signing_method="hmac")
    outcome = check("redis://127.0.0.1:1/0", compiled, bearer(token(HMAC_SECRET, kid="ada-key")))
    assert outcome.status == 503 and "Redis is unreachable" in outcome.error


# -- JWKS -----------------------------------------------------------------------------------------------------------

@pytest.fixture
def jwks_server():
    server = JwksServer().up()
    server.keys = [jwk(RSA, "k1")]
    yield server
    server.down()


def jwks_api(server: JwksServer, **fields):
    return api(enable_jwt=True, jwt_signing_method="rsa", jwt_source=server.url, jwt_default_policies=["gold"],
               **fields)


def checks(redis_url, compiled, cache, *tokens, between=None):
    """Each token in turn through one middleware (one cache); ``between(i)`` runs before token i."""

    async def scenario(keys):
        deps = PipelineDeps(upstreams=None, keys=keys, policies=lambda: TABLE, jwks=cache)
        middleware = JwtAuth(compiled, deps)
        answers = []
        for index, value in enumerate(tokens):
            if between is not None:
                await asyncio.to_thread(between, index)
            outcome = await authenticate(middleware, compiled, TABLE, request(bearer(value)))
            answers.append(outcome.answer)
        return answers

    return run(redis_url, scenario)


def test_jwks_valid_unknown_kid_and_wrong_key(redis_url, jwks_server):
    cache = JwksCache(ttl=300, refetch_interval=60)
    answers = checks(redis_url, jwks_api(jwks_server), cache,
                     token(RSA, algorithm="RS256", kid="k1"),
                     token(RSA, algorithm="RS256", kid="k9"),
                     token(OTHER_RSA, algorithm="RS256", kid="k1"),
                     token(RSA, algorithm="RS256"))  # no kid: every key of the set is tried
    assert answers == [(200, ""), (401, "Key not authorized: unknown kid 'k9'"),
                       (401, "Key not authorized: signature is invalid"), (200, "")]
    # One fetch at the start; the unknown kid came within refetch_interval, so it made none.
    assert jwks_server.requests == 1


def test_jwks_rotation_is_picked_up_by_kid(redis_url, jwks_server):
    cache = JwksCache(ttl=300, refetch_interval=0)

    def rotate(index):
        if index == 1:
            jwks_server.keys = [jwk(OTHER_RSA, "k2")]  # the issuer rotates: k1 is gone, k2 is new

    answers = checks(redis_url, jwks_api(jwks_server), cache,
                     token(RSA, algorithm="RS256", kid="k1"),
                     token(OTHER_RSA, algorithm="RS256", kid="k2"),
                     token(RSA, algorithm="RS256", kid="k1"),
                     between=rotate)
    # k2 (unknown) caused a refetch; that set no longer holds k1, which is refused after one more look.
    assert answers == [(200, ""), (200, ""), (401, "Key not authorized: unknown kid 'k1'")]
    assert jwks_server.requests == 3  # start, k2 (new), k1 (gone after the refetch: looked for once more)


def test_jwks_refetch_is_rate_limited(redis_url, jwks_server):
    cache = JwksCache(ttl=300, refetch_interval=60)
    made_up = [token(RSA, algorithm="RS256", kid=f"made-up-{i}") for i in range(20)]
    answers = checks(redis_url, jwks_api(jwks_server), cache, token(RSA, algorithm="RS256", kid="k1"), *made_up)
    assert answers[0] == (200, "") and all(answer[0] == 401 for answer in answers[1:])
    assert jwks_server.requests == 1


def test_jwks_stale_set_serves_while_the_endpoint_is_down(redis_url, jwks_server):
    cache = JwksCache(ttl=0.05, refetch_interval=0)

    def outage(index):
        if index == 1:
            jwks_server.down()
            time.sleep(0.1)  # past the TTL: the next token wants a fresh set and cannot get one

    answers = checks(redis_url, jwks_api(jwks_server), cache,
                     token(RSA, algorithm="RS256", kid="k1"), token(RSA, algorithm="RS256", kid="k1"),
                     between=outage)
    assert answers == [(200, ""), (200, "")]
    assert cache.fetches == 2


def test_jwks_never_fetched_and_down_is_503(redis_url, jwks_server):
    jwks_server.down()
    outcome = check(redis_url, jwks_api(jwks_server), bearer(token(RSA, algorithm="RS256", kid="k1")),
                    jwks=JwksCache(refetch_interval=60))
    assert outcome.status == 503
    assert outcome.error.startswith(f"the JWKS endpoint {jwks_server.url} gave no usable key set, so the token "
                                    f"cannot be checked (ConnectError")


def test_jwks_key_of_another_type_or_algorithm_is_not_used(redis_url, jwks_server):
    jwks_server.keys = [jwk(EC, "ec"), jwk(RSA, "rs384", alg="RS384")]
    answers = checks(redis_url, jwks_api(jwks_server), JwksCache(),
                     token(EC, algorithm="ES256", kid="ec"), token(RSA, algorithm="RS256", kid="rs384"),
                     token(RSA, algorithm="RS384", kid="rs384"))
    assert answers == [
        (401, "Key not authorized: algorithm 'ES256' is not allowed, this API accepts RS256, RS384, RS512"),
        (401, "Key not authorized: the JWKS key 'rs384' is not for RS256"),
        (200, ""),
    ]


# -- the definition fields -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"jwt_signing_method": "rsa-pss"}, "jwt_signing_method", "'rsa-pss' is not one of hmac, rsa, ecdsa"),
        ({"jwt_source": "not base64!"}, "jwt_source",
         "must be an http(s) JWKS URL, or base64 of the HMAC secret or of a PEM public key"),
        ({"jwt_signing_method": "rsa", "jwt_source": b64("not a pem")}, "jwt_source",
         "decoded, is not a PEM public key or certificate"),
        ({"jwt_signing_method": "ecdsa", "jwt_source": b64(public_pem(RSA))}, "jwt_source",
         "decoded, holds no EC public key, which ecdsa needs"),
        ({"jwt_signing_method": "hmac", "jwt_source": b64(public_pem(RSA))}, "jwt_source",
         "holds a PEM key, but jwt_signing_method is hmac: set rsa or ecdsa"),
        ({"jwt_source": "https:///jwks"}, "jwt_source", "the JWKS URL has no host"),
        ({"jwt_expires_at_validation_skew": -1}, "jwt_expires_at_validation_skew",
         "Input should be greater than or equal to 0"),
    ],
)
def test_definition_errors_name_the_field(fields, field, message):
    raw = {"api_id": "shop", "name": "Shop", "enable_jwt": True,
           "proxy": {"listen_path": "/shop/", "target_url": "http://127.0.0.1:9/"}, **fields}
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw)
    assert caught.value.errors == [(field, message)]


def test_tyk_export_nulls_and_base64_url_are_accepted():
    raw = {"api_id": "shop", "name": "Shop", "enable_jwt": True, "jwt_signing_method": "",
           "jwt_source": b64("https://issuer.example/.well-known/jwks.json"), "jwt_default_policies": None,
           "hmac_allowed_algorithms": None, "hmac_allowed_clock_skew": -1,
           "proxy": {"listen_path": "/shop/", "target_url": "http://127.0.0.1:9/"}}
    definition = parse_definition(raw)
    middleware = JwtAuth(compile_for(raw), PipelineDeps(upstreams=None, keys=None, policies=lambda: TABLE))
    assert definition.auth_kind == "jwt"
    assert middleware.jwks_url == "https://issuer.example/.well-known/jwks.json"
    assert middleware.algorithms == ("HS256", "HS384", "HS512")


def compile_for(raw):
    return compile_api(parse_definition(raw), raw)
