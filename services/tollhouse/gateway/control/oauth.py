"""``/tyk/oauth/...``: OAuth2 clients and consumer accounts of ``use_oauth2`` APIs (gateway/oauth.py).

    POST   /tyk/oauth/clients/create                      {api_id, policy_id, client_id?, secret?, redirect_uri?,
                                                           description?, meta_data?} -> the client and its secret
    GET    /tyk/oauth/clients/{api_id}                    the API's clients (never their secrets)
    GET    /tyk/oauth/clients/{api_id}/{client_id}
    DELETE /tyk/oauth/clients/{api_id}/{client_id}        the client and every token issued to it
    DELETE /tyk/oauth/clients/{api_id}/{client_id}/tokens every token issued to the client; the client stays
    POST   /tyk/oauth/users/{api_id}                      {username, password}: a consumer account, or a new password
                                                           for one (which ends the sessions made with the old one)
    GET    /tyk/oauth/users/{api_id}                      the API's accounts (never their passwords)
    DELETE /tyk/oauth/users/{api_id}/{username}           the account and every token issued for it

The client's secret is shown once, in the answer to its creation: only its bcrypt hash is stored.
"""

from __future__ import annotations

from tollhouse.core.session import DocumentError
from tollhouse.gateway.control.router import ControlCall, ControlError, ControlRouter
from tollhouse.gateway.oauth import ClientExists, OAuthStore


def register(router: ControlRouter) -> None:
    router.add("POST", "/tyk/oauth/clients/create", create_client)
    router.add("GET", "/tyk/oauth/clients/{api_id}", list_clients)
    router.add("GET", "/tyk/oauth/clients/{api_id}/{client_id}", get_client)
    router.add("DELETE", "/tyk/oauth/clients/{api_id}/{client_id}", delete_client)
    router.add("DELETE", "/tyk/oauth/clients/{api_id}/{client_id}/tokens", revoke_client_tokens)
    router.add("POST", "/tyk/oauth/users/{api_id}", put_user)
    router.add("GET", "/tyk/oauth/users/{api_id}", list_users)
    router.add("DELETE", "/tyk/oauth/users/{api_id}/{username}", delete_user)


def _store(call: ControlCall) -> OAuthStore:
    services = call.services
    store = services.extra.get("oauth")
    if store is None:
        store = services.extra["oauth"] = OAuthStore.from_settings(services.redis, services.settings)
    return store


def _text(body: dict, name: str, *, required: bool = False) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ControlError(400, f"{name}: must be a string")
    if required and not value:
        raise ControlError(400, f"{name}: is required")
    return value


def _check_api(call: ControlCall, api_id: str) -> None:
    api = call.services.reloader.api(api_id)
    if api is None:
        raise ControlError(400, f"api_id: API {api_id} is not loaded on this gateway")
    if not api.definition.use_oauth2:
        raise ControlError(400, f"api_id: API {api_id} does not have use_oauth2 set")


def _check_policy(call: ControlCall, policy_id: str, api_id: str) -> None:
    policy = call.services.policies().policies.get(policy_id)
    if policy is None:
        raise ControlError(400, f"policy_id: policy {policy_id} does not exist")
    sets_rights = not policy.partitions.any or policy.partitions.acl
    if sets_rights and api_id not in policy.access_rights:
        raise ControlError(400, f"policy_id: policy {policy_id} does not grant access to API {api_id}")


async def create_client(call: ControlCall) -> tuple[int, dict]:
    body = await call.json()
    api_id = _text(body, "api_id", required=True)
    policy_id = _text(body, "policy_id", required=True)
    meta_data = body.get("meta_data")
    meta_data = {} if meta_data is None else meta_data
    if not isinstance(meta_data, dict):
        raise ControlError(400, "meta_data: must be an object")
    _check_api(call, api_id)
    _check_policy(call, policy_id, api_id)
    try:
        client, secret = await _store(call).create_client(
            api_id, policy_id, client_id=_text(body, "client_id"), secret=_text(body, "secret"),
            redirect_uri=_text(body, "redirect_uri"), description=_text(body, "description"), meta_data=meta_data)
    except DocumentError as exc:
        raise ControlError(400, str(exc)) from None
    except ClientExists as exc:
        raise ControlError(409, str(exc)) from None
    return 200, {**client.public(), "secret": secret}


async def list_clients(call: ControlCall) -> tuple[int, list]:
    return 200, [client.public() for client in await _store(call).list_clients(call.params["api_id"])]


async def get_client(call: ControlCall) -> tuple[int, dict]:
    client = await _store(call).get_client(call.params["api_id"], call.params["client_id"])
    if client is None:
        raise ControlError(404, "OAuth Client ID not found")
    return 200, client.public()


async def delete_client(call: ControlCall) -> tuple[int, dict]:
    client_id = call.params["client_id"]
    if not await _store(call).delete_client(call.params["api_id"], client_id):
        raise ControlError(404, "OAuth Client ID not found")
    return 200, {"key": client_id, "status": "ok", "action": "deleted"}


async def revoke_client_tokens(call: ControlCall) -> tuple[int, dict]:
    api_id, client_id = call.params["api_id"], call.params["client_id"]
    store = _store(call)
    if await store.get_client(api_id, client_id) is None:
        raise ControlError(404, "OAuth Client ID not found")
    await store.revoke_client_tokens(api_id, client_id)
    return 200, {"key": client_id, "status": "ok", "action": "tokens revoked"}


async def put_user(call: ControlCall) -> tuple[int, dict]:
    api_id = call.params["api_id"]
    body = await call.json()
    username = _text(body, "username", required=True)
    password = _text(body, "password", required=True)
    _check_api(call, api_id)
    try:
        added = await _store(call).put_user(api_id, username, password)
    except DocumentError as exc:
        raise ControlError(400, str(exc)) from None
    return 200, {"key": username, "status": "ok", "action": "added" if added else "modified"}


async def list_users(call: ControlCall) -> tuple[int, list]:
    return 200, [account.public() for account in await _store(call).list_users(call.params["api_id"])]


async def delete_user(call: ControlCall) -> tuple[int, dict]:
    username = call.params["username"]
    if not await _store(call).delete_user(call.params["api_id"], username):
        raise ControlError(404, "OAuth user not found")
    return 200, {"key": username, "status": "ok", "action": "deleted"}
