"""The login flow (OAuth2 for API consumers) end to end, with the requests curl would make, against a real
gateway process in file mode, a real upstream and Redis."""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.gateways import CONTROL_SECRET, KEY_HASH_SECRET
from tests.stack import wait_until
from tollhouse.core.keys import hash_key, session_name

USER, PASSWORD = "ada@example.com", "correct horse battery"
GOLD = {"id": "gold", "name": "Gold", "rate": 1000, "per": 60,
        "access_rights": {"shop": {"api_id": "shop", "versions": ["Default"]}}}
ELSEWHERE = {"id": "elsewhere", "access_rights": {"other": {"api_id": "other"}}}
CONTROL = {"x-tyk-authorization": CONTROL_SECRET}


def oauth_api(api_id: str, listen_path: str, target: str, **fields) -> dict:
    return {"api_id": api_id, "name": api_id, "use_oauth2": True, "strip_auth_data": True,
            "proxy": {"listen_path": listen_path, "target_url": target, "strip_listen_path": True}, **fields}


@pytest.fixture
def start(start_file_gateway, tmp_path, upstream):
    """``start(**settings)``: a gateway serving the OAuth API ``shop`` and the token-auth API ``plain``."""

    def start_gateway(name="gateway", **settings):
        target = f"http://127.0.0.1:{upstream.port}/"
        plain = {"api_id": "plain", "name": "plain", "use_standard_auth": True,
                 "proxy": {"listen_path": "/plain/", "target_url": target, "strip_listen_path": True}}
        gateway = start_file_gateway(apis=[oauth_api("shop", "/shop/", target), plain], policies=[GOLD, ELSEWHERE],
                                     name=name, policy_path=str(tmp_path / f"{name}-policies"), **settings)
        wait_until(lambda: httpx.get(f"{gateway.url}/shop/x").status_code == 401, 10, message="API loaded")
        return gateway

    return start_gateway


def control(gateway, method: str, path: str, **kwargs) -> httpx.Response:
    return httpx.request(method, gateway.url + path, headers=CONTROL, timeout=10, **kwargs)


def new_client(gateway, **fields) -> tuple[str, str]:
    reply = control(gateway, "POST", "/tyk/oauth/clients/create",
                    json={"api_id": "shop", "policy_id": "gold", "redirect_uri": "https://app.example/cb", **fields})
    assert reply.status_code == 200, reply.text
    return reply.json()["client_id"], reply.json()["secret"]


def token(gateway, client: tuple[str, str] | None, **form) -> httpx.Response:
    """``curl -u client_id:secret -d grant_type=... <gateway>/shop/oauth/token``"""
    return httpx.post(f"{gateway.url}/shop/oauth/token", data=form, auth=client, timeout=10)


def revoke(gateway, client: tuple[str, str], **form) -> httpx.Response:
    return httpx.post(f"{gateway.url}/shop/oauth/revoke", data=form, auth=client, timeout=10)


def call(gateway, access_token: str, path: str = "/shop/items") -> httpx.Response:
    return httpx.get(gateway.url + path, headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def test_login_flow(start, redis_url):
    gateway = start()
    client = new_client(gateway)
    listed = control(gateway, "GET", "/tyk/oauth/clients/shop").json()
    assert [(c["client_id"], c["policy_id"]) for c in listed] == [(client[0], "gold")]
    assert "secret" not in listed[0] and "secret_hash" not in listed[0]  # shown once, at creation
    added = control(gateway, "POST", "/tyk/oauth/users/shop", json={"username": USER, "password": PASSWORD})
    assert added.json() == {"key": USER, "status": "ok", "action": "added"}

    # Password grant: a key in Redis (where the dashboard's key list finds it) and a refresh token.
    login = token(gateway, client, grant_type="password", username=USER, password=PASSWORD)
    assert login.status_code == 200, login.text
    assert login.headers["cache-control"] == "no-store" and login.headers["content-type"] == "application/json"
    first = login.json()
    assert set(first) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (first["token_type"], first["expires_in"]) == ("bearer", 3600)
    stored = redis.Redis.from_url(redis_url).get(session_name(hash_key(KEY_HASH_SECRET, first["access_token"])))
    assert stored is not None and b'"apply_policies":["gold"]' in stored

    # The token is a key: the API lets it in, and the upstream never sees it (strip_auth_data).
    reply = call(gateway, first["access_token"])
    assert reply.status_code == 200, reply.text
    assert "authorization" not in dict(reply.json()["headers"])
    # Its policy grants this API only.
    assert call(gateway, first["access_token"], "/plain/items").json() == {
        "error": "Access to this API has been disallowed"}

    # Refresh: a new pair; the old refresh token is used up, the new access token works.
    renewed = token(gateway, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != first["refresh_token"]
    reused = token(gateway, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert call(gateway, second["access_token"]).status_code == 200

    # Revoke (RFC 7009): 200 with nothing to say, and the token is refused from then on.
    revoked = revoke(gateway, client, token=second["access_token"], token_type_hint="access_token")
    assert (revoked.status_code, revoked.content) == (200, b"")
    after = call(gateway, second["access_token"])
    assert (after.status_code, after.json()) == (403, {"error": "Access to this API has been disallowed"})
    # Revoking the refresh token ends the refreshing, and revoking an unknown token is no error.
    assert revoke(gateway, client, token=second["refresh_token"], token_type_hint="refresh_token").status_code == 200
    ended = token(gateway, client, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert ended.json()["error"] == "invalid_grant"
    assert revoke(gateway, client, token="never-issued").status_code == 200

    # The first access token is still good until an admin deletes the account: then it is refused too.
    assert call(gateway, first["access_token"]).status_code == 200
    assert control(gateway, "DELETE", f"/tyk/oauth/users/shop/{USER}").json()["action"] == "deleted"
    assert call(gateway, first["access_token"]).status_code == 403


def test_client_credentials_and_deleting_the_client(start):
    gateway = start()
    client = new_client(gateway, client_id="billing-batch", secret="a-custom-secret-of-32-characters")
    assert client == ("billing-batch", "a-custom-secret-of-32-characters")
    # The form is as good as HTTP Basic for client authentication.
    reply = httpx.post(f"{gateway.url}/shop/oauth/token", timeout=10,
                       data={"grant_type": "client_credentials", "client_id": client[0], "client_secret": client[1]})
    assert reply.status_code == 200, reply.text
    issued = reply.json()
    assert set(issued) == {"access_token", "token_type", "expires_in"}  # RFC 6749 §4.4.3: no refresh token
    assert call(gateway, issued["access_token"]).status_code == 200

    assert control(gateway, "DELETE", "/tyk/oauth/clients/shop/billing-batch").json() == {
        "key": "billing-batch", "status": "ok", "action": "deleted"}
    assert call(gateway, issued["access_token"]).status_code == 403
    refused = token(gateway, client, grant_type="client_credentials")
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"


def test_refusals(start):
    gateway = start()
    client = new_client(gateway)
    control(gateway, "POST", "/tyk/oauth/users/shop", json={"username": USER, "password": PASSWORD})
    url = f"{gateway.url}/shop/oauth/token"
    wrong_secret = (client[0], "not-the-secret")
    cases = [
        # (what, request, status, error)
        ("wrong client secret", lambda: token(gateway, wrong_secret, grant_type="client_credentials"),
         401, "invalid_client"),
        ("unknown client", lambda: token(gateway, ("nobody", client[1]), grant_type="client_credentials"),
         401, "invalid_client"),
        ("no client authentication", lambda: token(gateway, None, grant_type="client_credentials"),
         401, "invalid_client"),
        ("wrong password", lambda: token(gateway, client, grant_type="password", username=USER, password="nope"),
         400, "invalid_grant"),
        ("unknown user", lambda: token(gateway, client, grant_type="password", username="bob", password=PASSWORD),
         400, "invalid_grant"),
        ("unsupported grant type", lambda: token(gateway, client, grant_type="authorization_code", code="x"),
         400, "unsupported_grant_type"),
        ("no grant type", lambda: token(gateway, client), 400, "invalid_request"),
        ("made-up refresh token", lambda: token(gateway, client, grant_type="refresh_token", refresh_token="x"),
         400, "invalid_grant"),
        ("JSON instead of a form", lambda: httpx.post(url, json={"grant_type": "client_credentials"}, auth=client),
         400, "invalid_request"),
        ("a parameter twice", lambda: httpx.post(url, content="grant_type=password&grant_type=password",
                                                 auth=client,
                                                 headers={"content-type": "application/x-www-form-urlencoded"}),
         400, "invalid_request"),
        ("GET", lambda: httpx.get(url), 405, "invalid_request"),
        ("revoke with an unknown hint", lambda: revoke(gateway, client, token="x", token_type_hint="id_token"),
         400, "unsupported_token_type"),
    ]
    for what, request, status, error in cases:
        reply = request()
        assert (reply.status_code, reply.json().get("error")) == (status, error), f"{what}: {reply.text}"
        assert reply.json()["error_description"], what
        if status == 401:
            assert reply.headers["www-authenticate"] == 'Basic realm="oauth"', what
    # The API itself still speaks the gateway's errors.
    missing = httpx.get(f"{gateway.url}/shop/items")
    assert (missing.status_code, missing.json()) == (401, {"error": "Authorization field missing"})
    assert call(gateway, "made-up").json() == {"error": "Access to this API has been disallowed"}
    # The token endpoint exists only on OAuth APIs; elsewhere the path is the API's own.
    assert httpx.post(f"{gateway.url}/plain/oauth/token", data={"grant_type": "password"}).json() == {
        "error": "Authorization field missing"}


def test_expired_access_token(start):
    gateway = start(oauth_access_token_ttl_seconds=1)
    client = new_client(gateway)
    issued = token(gateway, client, grant_type="client_credentials").json()
    assert issued["expires_in"] == 1
    expired = wait_until(lambda: (reply := call(gateway, issued["access_token"])).status_code != 200 and reply,
                         10, message="token expired")
    assert (expired.status_code, expired.json()) == (401, {"error": "Key has expired, please renew"})


CLIENT_REFUSALS = [
    ({"policy_id": "gold"}, "api_id: is required"),
    ({"api_id": "shop"}, "policy_id: is required"),
    ({"api_id": "shop", "policy_id": 7}, "policy_id: must be a string"),
    ({"api_id": "shop", "policy_id": "nope"}, "policy_id: policy nope does not exist"),
    ({"api_id": "shop", "policy_id": "elsewhere"}, "policy_id: policy elsewhere does not grant access to API shop"),
    ({"api_id": "plain", "policy_id": "gold"}, "api_id: API plain does not have use_oauth2 set"),
    ({"api_id": "ghost", "policy_id": "gold"}, "api_id: API ghost is not loaded on this gateway"),
    ({"api_id": "shop", "policy_id": "gold", "client_id": "has space"}, "client_id: must be 1-128"),
    ({"api_id": "shop", "policy_id": "gold", "secret": "short"}, "secret: must be 16 to 72 bytes long"),
    ({"api_id": "shop", "policy_id": "gold", "meta_data": []}, "meta_data: must be an object"),
]


def test_control_api_validation(start):
    gateway = start()
    for body, message in CLIENT_REFUSALS:
        reply = control(gateway, "POST", "/tyk/oauth/clients/create", json=body)
        assert (reply.status_code, reply.json().get("status")) == (400, "error"), (body, reply.text)
        assert reply.json()["message"].startswith(message), reply.json()
    assert control(gateway, "GET", "/tyk/oauth/clients/shop").json() == []

    new_client(gateway, client_id="app-1")
    duplicate = control(gateway, "POST", "/tyk/oauth/clients/create",
                        json={"api_id": "shop", "policy_id": "gold", "client_id": "app-1"})
    assert duplicate.status_code == 409
    assert control(gateway, "GET", "/tyk/oauth/clients/shop/app-1").json()["policy_id"] == "gold"
    for method in ("GET", "DELETE"):
        missing = control(gateway, method, "/tyk/oauth/clients/shop/app-2")
        assert (missing.status_code, missing.json()["message"]) == (404, "OAuth Client ID not found")

    for body, message in [({"password": PASSWORD}, "username: is required"),
                          ({"username": USER}, "password: is required"),
                          ({"username": USER, "password": "short"}, "password: must be 8 to 72 bytes long")]:
        reply = control(gateway, "POST", "/tyk/oauth/users/shop", json=body)
        assert (reply.status_code, reply.json()["message"]) == (400, message)
    assert control(gateway, "GET", "/tyk/oauth/users/shop").json() == []
    assert control(gateway, "DELETE", f"/tyk/oauth/users/shop/{USER}").status_code == 404
    # Without the control secret, nothing.
    assert httpx.get(f"{gateway.url}/tyk/oauth/clients/shop").status_code == 403
