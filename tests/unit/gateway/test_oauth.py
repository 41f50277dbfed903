"""OAuth2 clients, consumer accounts and the grants (gateway/oauth.py), against a real Redis."""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import quote_plus

import pytest
import redis as redis_lib
from redis.asyncio import Redis

from tests.servers import free_port
from tollhouse.core.apidef import parse_definition
from tollhouse.core.keys import decode_session, hash_key, session_name
from tollhouse.core.session import DocumentError
from tollhouse.gateway.keystore import StorageUnavailable
from tollhouse.gateway.oauth import ClientExists, OAuthError, OAuthStore, revoke_request, token_request

SECRET = "k" * 32
API = parse_definition({"api_id": "shop", "name": "Shop", "org_id": "org1", "use_oauth2": True,
                        "proxy": {"listen_path": "/shop/", "target_url": "http://127.0.0.1:9/"}})
CLIENT_ID, CLIENT_SECRET = "web-app", "s3cret:with+odd/chars=="
USER, PASSWORD = "ada@example.com", "correct horse"


def run(redis_url: str, scenario, **store_options):
    """Run ``scenario(store)`` on a fresh store (bcrypt at its cheapest: these tests are about logic)."""

    async def main():
        redis = Redis.from_url(redis_url)
        try:
            store = OAuthStore(redis, SECRET, bcrypt_rounds=4, **store_options)
            return await scenario(store)
        finally:
            await redis.aclose()

    return asyncio.run(main())


async def seeded(store: OAuthStore, api=API) -> None:
    await store.create_client(api.api_id, "gold", client_id=CLIENT_ID, secret=CLIENT_SECRET)
    await store.put_user(api.api_id, USER, PASSWORD)


def form_auth(**form) -> tuple[dict, None]:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **form}, None


def basic(client_id: str = CLIENT_ID, secret: str = CLIENT_SECRET) -> str:
    # RFC 6749 §2.3.1: each part form-encoded, then Basic.
    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def stored_session(redis_url: str, token: str):
    return decode_session(redis_lib.Redis.from_url(redis_url).get(session_name(hash_key(SECRET, token))))


def redis_dump(redis_url: str) -> bytes:
    client = redis_lib.Redis.from_url(redis_url)
    parts = []
    for name in client.scan_iter():
        parts.append(name)
        kind = client.type(name)
        if kind == b"string":
            parts.append(client.get(name))
        elif kind == b"hash":
            parts.extend(b"".join(pair) for pair in client.hgetall(name).items())
        elif kind == b"zset":
            parts.extend(client.zrange(name, 0, -1))
    return b"\n".join(parts)


def test_client_is_stored_with_its_secret_hashed_and_shown_once(redis_url):
    async def scenario(store):
        client, secret = await store.create_client("shop", "gold", redirect_uri="https://app.example/cb")
        listed = await store.list_clients("shop")
        with pytest.raises(ClientExists):
            await store.create_client("shop", "gold", client_id=client.client_id)
        return client, secret, listed

    client, secret, listed = run(redis_url, scenario)
    assert len(client.client_id) == 32 and len(secret) >= 32
    assert [c.public() for c in listed] == [client.public()]
    assert "secret_hash" not in client.public() and "secret" not in client.public()
    dump = redis_dump(redis_url)
    assert secret.encode() not in dump and b"$2b$" in dump


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.create_client("shop", "gold", client_id="no spaces"), "client_id"),
        (lambda s: s.create_client("shop", "gold", secret="short"), "secret"),
        (lambda s: s.create_client("shop", "gold", secret="x" * 73), "secret"),
        (lambda s: s.put_user("shop", "", PASSWORD), "username"),
        (lambda s: s.put_user("shop", "bad\nname", PASSWORD), "username"),
        (lambda s: s.put_user("shop", USER, "short"), "password"),
        (lambda s: s.put_user("shop", USER, "é" * 40), "password"),  # 80 bytes: past bcrypt's 72
    ],
)
def test_bad_input_names_the_field(redis_url, call, field):
    async def scenario(store):
        with pytest.raises(DocumentError) as caught:
            await call(store)
        return caught.value

    assert run(redis_url, scenario).errors[0][0] == field
    assert redis_dump(redis_url) == b""  # nothing stored


def test_password_grant_issues_a_key_from_the_clients_policy(redis_url):
    async def scenario(store):
        await seeded(store)
        before = int(time.time())
        issued = await token_request(store, API, *form_auth(grant_type="password", username=USER, password=PASSWORD))
        return before, int(time.time()) + 1, issued

    before, after, issued = run(redis_url, scenario, access_ttl=600, expired_retain=60)
    body = issued.body()
    assert body["token_type"] == "bearer" and body["expires_in"] == 600 and body["refresh_token"]
    assert body["access_token"].startswith("org1")  # an ordinary key: the org id, then random hex
    raw = redis_lib.Redis.from_url(redis_url)
    name = session_name(hash_key(SECRET, body["access_token"]))
    session = decode_session(raw.get(name))
    assert session.apply_policies == ["gold"] and session.oauth_client_id == CLIENT_ID and session.alias == USER
    assert before + 600 <= session.expires <= after + 600
    assert list(session.access_rights) == ["shop"] and session.org_id == "org1"
    assert session.meta_data == {"oauth_api_id": "shop", "oauth_grant_type": "password", "oauth_username": USER}
    assert 600 < raw.ttl(name) <= 660  # kept past expiry for the retain period, then dropped by Redis
    # A leaked dump holds neither token, the client secret nor the password.
    dump = redis_dump(redis_url)
    for secret in (body["access_token"], body["refresh_token"], CLIENT_SECRET, PASSWORD):
        assert secret.encode() not in dump


def test_client_credentials_grant_has_no_refresh_token_and_basic_auth_works(redis_url):
    async def scenario(store):
        await seeded(store)
        return await token_request(store, API, {"grant_type": "client_credentials"}, basic())

    body = run(redis_url, scenario).body()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    session = stored_session(redis_url, body["access_token"])
    assert session.alias == CLIENT_ID and session.meta_data["oauth_grant_type"] == "client_credentials"


@pytest.mark.parametrize(
    ("form", "authorization", "status", "error"),
    [
        ({}, None, 400, "invalid_request"),
        ({"grant_type": "authorization_code"}, None, 400, "unsupported_grant_type"),
        ({"grant_type": "implicit"}, basic(), 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID}, None, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "wrong-secret-123"}, None,
         401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": CLIENT_SECRET}, None,
         401, "invalid_client"),
        ({"grant_type": "client_credentials"}, basic(secret="wrong-secret-123"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "Basic !!!not-base64", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "Basic " + base64.b64encode(b"no-colon").decode(), 401,
         "invalid_client"),
        ({"grant_type": "client_credentials", "client_secret": CLIENT_SECRET}, basic(), 400, "invalid_request"),
        ({"grant_type": "client_credentials", "client_id": "other"}, basic(), 400, "invalid_request"),
        ({"grant_type": "password", "password": PASSWORD}, basic(), 400, "invalid_request"),
        ({"grant_type": "password", "username": USER}, basic(), 400, "invalid_request"),
        ({"grant_type": "password", "username": USER, "password": "wrong password"}, basic(), 400, "invalid_grant"),
        ({"grant_type": "password", "username": "nobody", "password": PASSWORD}, basic(), 400, "invalid_grant"),
        ({"grant_type": "password", "username": USER, "password": "p" * 100}, basic(), 400, "invalid_grant"),
        ({"grant_type": "refresh_token"}, basic(), 400, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "made-up"}, basic(), 400, "invalid_grant"),
    ],
)
def test_token_errors(redis_url, form, authorization, status, error):
    async def scenario(store):
        await seeded(store)
        with pytest.raises(OAuthError) as caught:
            await token_request(store, API, form, authorization)
        return caught.value

    failure = run(redis_url, scenario)
    assert (failure.status, failure.error) == (status, error), failure.description
    assert failure.body() == {"error": error, "error_description": failure.description}
    if status == 401:
        assert ("www-authenticate", 'Basic realm="oauth"') in failure.headers


def test_refresh_rotates_and_is_one_use_only(redis_url):
    async def scenario(store):
        await seeded(store)
        await store.create_client("shop", "gold", client_id="other-app", secret=CLIENT_SECRET)
        first = await token_request(store, API, *form_auth(grant_type="password", username=USER, password=PASSWORD))
        refresh = {"grant_type": "refresh_token", "refresh_token": first.refresh_token}
        # Another client can neither use nor use up the refresh token.
        with pytest.raises(OAuthError) as stolen:
            await token_request(store, API, refresh, basic("other-app"))
        second = await token_request(store, API, refresh, basic())
        with pytest.raises(OAuthError) as reused:
            await token_request(store, API, refresh, basic())
        third = await token_request(store, API, {**refresh, "refresh_token": second.refresh_token}, basic())
        return first, stolen.value, second, reused.value, third

    first, stolen, second, reused, third = run(redis_url, scenario)
    assert stolen.error == "invalid_grant" and reused.error == "invalid_grant"
    assert len({first.access_token, second.access_token, third.access_token}) == 3
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3
    session = stored_session(redis_url, third.access_token)
    assert session.alias == USER and session.apply_policies == ["gold"]


def test_grants_follow_oauth_meta_allowed_access_types(redis_url):
    api = parse_definition({**API.model_dump(), "oauth_meta": {"allowed_access_types": ["password"]}})

    async def scenario(store):
        await seeded(store, api)
        issued = await token_request(store, api, *form_auth(grant_type="password", username=USER, password=PASSWORD))
        with pytest.raises(OAuthError) as refused:
            await token_request(store, api, *form_auth(grant_type="client_credentials"))
        return issued, refused.value

    issued, refused = run(redis_url, scenario)
    assert issued.refresh_token is None  # refresh_token is not an allowed type, so none is issued
    assert refused.error == "unsupported_grant_type" and "allowed_access_types" in refused.description


def test_revoke(redis_url):
    raw = redis_lib.Redis.from_url(redis_url)

    def stored(token: str) -> bool:
        return raw.exists(session_name(hash_key(SECRET, token))) == 1

    async def scenario(store):
        await seeded(store)
        await store.create_client("shop", "gold", client_id="other-app", secret=CLIENT_SECRET)
        login = form_auth(grant_type="password", username=USER, password=PASSWORD)
        a = await token_request(store, API, *login)
        b = await token_request(store, API, *login)
        outcomes = {}
        # Another client's token is refused (RFC 7009 §2.1), and stays.
        with pytest.raises(OAuthError) as not_yours:
            await revoke_request(store, API, {"token": a.access_token}, basic("other-app"))
        outcomes["not_yours"] = not_yours.value.error, stored(a.access_token)
        with pytest.raises(OAuthError) as bad_hint:
            await revoke_request(store, API, {"token": a.access_token, "token_type_hint": "id_token"}, basic())
        outcomes["bad_hint"] = bad_hint.value.error
        # An access token: gone; its refresh token still works.
        await revoke_request(store, API, {"token": a.access_token, "token_type_hint": "access_token"}, basic())
        outcomes["access"] = stored(a.access_token)
        renewed = await token_request(store, API, {"grant_type": "refresh_token", "refresh_token": a.refresh_token},
                                      basic())
        # A refresh token (a wrong hint is only a hint): gone, and the access token issued with it too.
        await revoke_request(store, API, {"token": b.refresh_token, "token_type_hint": "access_token"}, basic())
        with pytest.raises(OAuthError) as after_revoke:
            await token_request(store, API, {"grant_type": "refresh_token", "refresh_token": b.refresh_token},
                                basic())
        outcomes["refresh"] = after_revoke.value.error, stored(b.access_token), stored(renewed.access_token)
        # Unknown tokens are not an error (RFC 7009 §2.2).
        await revoke_request(store, API, {"token": "never-issued"}, basic())
        with pytest.raises(OAuthError) as no_client:
            await revoke_request(store, API, {"token": renewed.access_token}, None)
        outcomes["no_client"] = no_client.value.status, no_client.value.error
        return outcomes

    outcomes = run(redis_url, scenario)
    assert outcomes == {
        "not_yours": ("unauthorized_client", True),
        "bad_hint": "unsupported_token_type",
        "access": False,
        "refresh": ("invalid_grant", False, True),
        "no_client": (401, "invalid_client"),
    }


def test_deleting_a_client_or_account_or_changing_a_password_revokes_their_tokens(redis_url):
    raw = redis_lib.Redis.from_url(redis_url)

    def stored(token: str) -> bool:
        return raw.exists(session_name(hash_key(SECRET, token))) == 1

    async def scenario(store):
        await seeded(store)
        await store.create_client("shop", "gold", client_id="kept-app", secret=CLIENT_SECRET)
        await store.put_user("shop", "bob", PASSWORD)
        login = {"grant_type": "password", "username": USER, "password": PASSWORD}
        ada = await token_request(store, API, login, basic())
        bob = await token_request(store, API, {**login, "username": "bob"}, basic("kept-app"))
        machine = await token_request(store, API, {"grant_type": "client_credentials"}, basic())
        kept = await token_request(store, API, {"grant_type": "client_credentials"}, basic("kept-app"))
        # A new password ends the sessions made with the old one.
        assert await store.put_user("shop", "bob", "a new password") is False
        after_password = stored(bob.access_token)
        with pytest.raises(OAuthError):
            await token_request(store, API, {"grant_type": "refresh_token", "refresh_token": bob.refresh_token},
                                basic("kept-app"))
        assert await store.delete_client("shop", CLIENT_ID) is True
        after_client = stored(ada.access_token), stored(machine.access_token), stored(kept.access_token)
        assert await store.delete_client("shop", CLIENT_ID) is False
        ada2 = await token_request(store, API, login, basic("kept-app"))
        assert await store.delete_user("shop", USER) is True
        after_user = stored(ada2.access_token), stored(kept.access_token)
        with pytest.raises(OAuthError) as refused:
            await token_request(store, API, {"grant_type": "refresh_token", "refresh_token": ada2.refresh_token},
                                basic("kept-app"))
        return after_password, after_client, after_user, refused.value.error

    assert run(redis_url, scenario) == (False, (False, False, True), (False, True), "invalid_grant")
    # Only the token index of the client that still exists is left.
    assert {name.decode() for name in raw.scan_iter("oauth-tokens-*")} == {"oauth-tokens-shop:c:kept-app"}


def test_refresh_of_a_deleted_account_is_refused(redis_url):
    async def scenario(store):
        await seeded(store)
        issued = await token_request(store, API, *form_auth(grant_type="password", username=USER, password=PASSWORD))
        # The account goes without its tokens being touched (as if deleted by hand): the refresh still checks it.
        await store._redis.hdel("oauth-users-shop", USER)
        with pytest.raises(OAuthError) as refused:
            await token_request(store, API, *form_auth(grant_type="refresh_token",
                                                       refresh_token=issued.refresh_token))
        return refused.value

    refused = run(redis_url, scenario)
    assert refused.error == "invalid_grant" and "no longer exists" in refused.description


def test_redis_away_is_storage_unavailable_not_an_oauth_error():
    async def scenario(store):
        with pytest.raises(StorageUnavailable) as caught:
            await token_request(store, API, *form_auth(grant_type="client_credentials"))
        return str(caught.value)

    message = run(f"redis://127.0.0.1:{free_port()}/0", scenario)
    assert message.startswith("Redis is unreachable")
