"""HMAC request signatures (gateway/middleware/hmac_signature.py): real Requests against a real Redis."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from email.utils import formatdate
from urllib.parse import quote

import pytest

from tests.unit.gateway.authrun import api, authenticate, policies, request, run, store_key
from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.gateway.middleware.hmac_signature import SignatureAuth, parse_date

SHOP = {"shop": {"api_id": "shop"}}
TABLE = policies()
SECRET = "the shared HMAC secret of key hk-1"
DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
           "hmac-sha512": hashlib.sha512}
SHAPE = 'expected Signature keyId="...",algorithm="...",headers="...",signature="..."'
INVALID = (401, "Request signature is invalid")
SKEW_MS = 300_000  # five minutes


def http_date(offset: float = 0) -> str:
    return formatdate(time.time() + offset, usegmt=True)


def signed(key="hk-1", algorithm="hmac-sha256", headers="date", secret=SECRET, path="/shop/items", method="GET",
           extra=None, date_header="Date", date=None, encode=False, sign_as=None) -> dict:
    """Headers for a request signed as a client would sign it (``sign_as``: (method, path) signed instead)."""
    sent = {date_header: date if date is not None else http_date(), **(extra or {})}
    lower = {name.lower(): value for name, value in sent.items()}
    signed_method, signed_path = sign_as or (method, path)
    lines = []
    for name in headers.split():
        if name == "(request-target)":
            lines.append(f"(request-target): {signed_method.lower()} {signed_path}")
        elif name == "date" and "date" not in lower:
            lines.append(f"x-aux-date: {lower['x-aux-date']}")
        else:
            lines.append(f"{name}: {lower.get(name, '')}")
    digest = hmac.new(secret.encode(), "\n".join(lines).encode(), DIGESTS.get(algorithm, hashlib.md5)).digest()
    signature = base64.b64encode(digest).decode()
    if encode:
        signature = quote(signature, safe="")
    sent["Authorization"] = (f'Signature keyId="{key}",algorithm="{algorithm}",headers="{headers}",'
                             f'signature="{signature}"')
    return sent


@pytest.fixture
def hmac_keys(redis_url):
    enabled = {"hmac_enabled": True, "hmac_string": SECRET}
    return {
        "hk-1": store_key(redis_url, "hk-1", {**enabled, "access_rights": SHOP}),
        "no-hmac": store_key(redis_url, "no-hmac", {"hmac_string": SECRET, "access_rights": SHOP}),
        "old": store_key(redis_url, "old", {**enabled, "access_rights": SHOP, "expires": 1000}),
        "off": store_key(redis_url, "off", {**enabled, "access_rights": SHOP, "is_inactive": True}),
        "billing": store_key(redis_url, "billing", {**enabled, "access_rights": {"billing": {"api_id": "billing"}}}),
        "reader": store_key(redis_url, "reader", {**enabled, "access_rights": {"shop": {
            "api_id": "shop", "allowed_urls": [{"url": "^/items", "methods": ["GET"]}]}}}),
    }


def check(redis_url, headers, path="/shop/items", method="GET", **fields):
    compiled = api(enable_signature_checking=True, hmac_allowed_clock_skew=SKEW_MS, **fields)

    async def scenario(keys):
        return await authenticate(SignatureAuth(compiled, keys), compiled, TABLE, request(headers, path, method))

    return run(redis_url, scenario)


Q = "/shop/items?page=2&sort=asc"


@pytest.mark.parametrize(
    ("case", "make_headers", "path", "method", "answer"),
    [
        ("valid", lambda: signed(), "/shop/items", "GET", (200, "")),
        ("valid, hmac-sha1", lambda: signed(algorithm="hmac-sha1"), "/shop/items", "GET", (200, "")),
        ("valid, hmac-sha512", lambda: signed(algorithm="hmac-sha512"), "/shop/items", "GET", (200, "")),
        ("valid, (request-target) with the query", lambda: signed(headers="(request-target) date x-req", path=Q,
                                                                   extra={"X-Req": "7"}), Q, "GET", (200, "")),
        ("valid, signature URL-encoded", lambda: signed(encode=True), "/shop/items", "GET", (200, "")),
        ("valid, X-Aux-Date", lambda: signed(date_header="X-Aux-Date"), "/shop/items", "GET", (200, "")),
        ("missing", lambda: {"Date": http_date()}, "/shop/items", "GET", (401, "Authorization field missing")),
        ("malformed", lambda: {"Authorization": "Signature keyId=hk-1"}, "/shop/items", "GET",
         (400, "Authorization field malformed: " + SHAPE)),
        ("no signature", lambda: {"Authorization": 'Signature keyId="hk-1",algorithm="hmac-sha256"'}, "/shop/items",
         "GET", (400, f"Authorization field malformed: signature is missing ({SHAPE})")),
        ("a parameter twice", lambda: {"Authorization": 'Signature keyId="a",keyId="b"'}, "/shop/items", "GET",
         (400, "Authorization field malformed: keyId is given twice")),
        ("algorithm not supported", lambda: signed(algorithm="hmac-md5"), "/shop/items", "GET",
         (400, "Signature algorithm 'hmac-md5' is not allowed, this API accepts hmac-sha1, hmac-sha256, "
               "hmac-sha384, hmac-sha512")),
        ("signed header missing", lambda: signed(headers="date x-custom"), "/shop/items", "GET",
         (400, "Signed header 'x-custom' is missing from the request")),
        ("wrong signature", lambda: signed(secret="not the secret"), "/shop/items", "GET", INVALID),
        ("signed for another method", lambda: signed(headers="(request-target) date", sign_as=("GET", "/shop/items")),
         "/shop/items", "DELETE", INVALID),
        ("signed for another path", lambda: signed(headers="(request-target) date", sign_as=("GET", "/shop/other")),
         "/shop/items", "GET", INVALID),
        ("unknown key", lambda: signed(key="nobody"), "/shop/items", "GET", INVALID),
        ("key without HMAC", lambda: signed(key="no-hmac"), "/shop/items", "GET", INVALID),
        ("date too old", lambda: signed(date=http_date(-600)), "/shop/items", "GET",
         (400, "Date is out of allowed range.")),
        ("date too new", lambda: signed(date=http_date(600)), "/shop/items", "GET",
         (400, "Date is out of allowed range.")),
        ("date not a date", lambda: signed(date="yesterday"), "/shop/items", "GET",
         (400, "Date header is not an HTTP date (e.g. Tue, 15 Nov 1994 08:12:31 GMT)")),
        ("no date", lambda: {"Authorization": signed()["Authorization"]}, "/shop/items", "GET",
         (400, "Date header missing: this API checks when requests were signed")),
        ("expired", lambda: signed(key="old"), "/shop/items", "GET", (401, "Key has expired, please renew")),
        ("inactive", lambda: signed(key="off"), "/shop/items", "GET", (403, "Key is inactive, please renew")),
        ("no access to this API", lambda: signed(key="billing"), "/shop/items", "GET",
         (403, "Access to this API has been disallowed")),
        ("no access to this path", lambda: signed(key="reader", path="/shop/admin"), "/shop/admin", "GET",
         (403, "Access to this resource has been disallowed")),
        ("no access with this method", lambda: signed(key="reader", method="PUT"), "/shop/items", "PUT",
         (403, "Access to this resource has been disallowed")),
    ],
)
def test_answers(redis_url, hmac_keys, case, make_headers, path, method, answer):
    outcome = check(redis_url, make_headers(), path, method)
    assert outcome.answer == answer
    if answer[0] == 200:
        assert outcome.ctx.api_key_hash == hmac_keys["hk-1"]


def test_allowed_algorithms_and_no_clock_check(redis_url, hmac_keys):
    only_sha512 = {"hmac_allowed_algorithms": ["hmac-sha512"]}
    assert check(redis_url, signed(), **only_sha512).answer == (
        400, "Signature algorithm 'hmac-sha256' is not allowed, this API accepts hmac-sha512")
    assert check(redis_url, signed(algorithm="hmac-sha512"), **only_sha512).answer == (200, "")

    compiled = api(enable_signature_checking=True, hmac_allowed_clock_skew=-1)  # Tyk's "not checked"

    async def scenario(keys):
        old = request(signed(date=http_date(-86400)))
        return await authenticate(SignatureAuth(compiled, keys), compiled, TABLE, old)

    assert run(redis_url, scenario).answer == (200, "")


def test_strip_auth_data(redis_url, hmac_keys):
    outcome = check(redis_url, signed(), strip_auth_data=True)
    assert outcome.status == 200
    assert [name for name, _ in outcome.ctx.request.headers] == ["date"]


def test_redis_down_is_503_not_a_refusal():
    outcome = check("redis://127.0.0.1:1/0", signed())
    assert outcome.status == 503 and "Redis is unreachable" in outcome.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 15 Nov 1994 08:12:31 GMT", 784887151.0),
        ("Tue Nov 15 1994 09:12:31 GMT+0100 (Central European Standard Time)", 784887151.0),  # JavaScript's
        ("Tue, 15 Nov 1994 08:12:31", None),  # no zone
        ("soon", None),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_unknown_algorithm_in_the_definition_names_the_field():
    raw = {"api_id": "shop", "name": "Shop", "enable_signature_checking": True,
           "hmac_allowed_algorithms": ["hmac-sha256", "hmac-md5"],
           "proxy": {"listen_path": "/shop/", "target_url": "http://127.0.0.1:9/"}}
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw)
    assert caught.value.errors == [("hmac_allowed_algorithms", "'hmac-md5' is not one of hmac-sha1, hmac-sha256, "
                                                               "hmac-sha384, hmac-sha512")]
