"""OAuth2 for API consumers on ``use_oauth2`` APIs: clients, consumer accounts and tokens in Redis.

The token endpoint (RFC 6749: ``password``, ``client_credentials`` and ``refresh_token`` grants) and the
revocation endpoint (RFC 7009) are answered by ``middleware/oauth_endpoints.py`` with ``token_request`` and
``revoke_request`` below; clients and consumer accounts are managed through the control API
(``control/oauth.py``).

An access token IS a key: made by ``core.keys.generate_key`` and stored as ``apikey-<hash>`` with a session
that applies the client's policy. So ``Authorization: Bearer <token>`` is authenticated by the token middleware
like any key, a policy change reaches every token at once, and the dashboard's key list shows the tokens.

Redis layout (nothing usable is stored in clear; secrets and passwords are bcrypt hashes, tokens HMAC hashes):

    oauth-clients-<api_id>             hash: client_id -> client JSON (policy_id, bcrypt hash of the secret)
    oauth-users-<api_id>               hash: username -> consumer account JSON (bcrypt hash of the password)
    apikey-<hash>                      an access token's session; Redis drops it ``expired_retain`` s after expiry
    oauth-refresh-<hash>               a refresh token, for ``refresh_ttl`` s; deleted when used (rotation)
    oauth-tokens-<api_id>:c:<client>   sorted sets of the Redis names of the tokens issued to a client and for
    oauth-tokens-<api_id>:u:<user>     an account, scored by when they go: deleting either revokes its tokens

The gateway caches none of it: a deleted client, account or token is refused on the very next request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import bcrypt
from redis.asyncio import Redis
from redis.exceptions import RedisError

from tollhouse.core.apidef import ApiDefinition
from tollhouse.core.keys import decode_session, encode_session, generate_key, hash_key, session_name
from tollhouse.core.session import AccessDefinition, DocumentError, SessionState
from tollhouse.gateway.keystore import StorageUnavailable

if TYPE_CHECKING:
    from tollhouse.gateway.settings import GatewaySettings

GRANT_TYPES = ("password", "client_credentials", "refresh_token")
TOKEN_TYPE_HINTS = ("access_token", "refresh_token")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MIN_SECRET_LENGTH = 16
MIN_PASSWORD_LENGTH = 8
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt>=5: refuses) anything longer
MAX_USERNAME_LENGTH = 128
BCRYPT_ROUNDS = 10
REFRESH_PREFIX = "oauth-refresh-"


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: answered ``{"error": error, "error_description": description}`` with ``status``."""

    def __init__(self, status: int, error: str, description: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description
        self.headers = headers or []

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


class ClientExists(Exception):
    """``create_client`` with a ``client_id`` that this API already has."""


def _invalid_client(description: str) -> OAuthError:
    # RFC 6749 §5.2: 401 with a WWW-Authenticate challenge for the scheme the client may use.
    return OAuthError(401, "invalid_client", description, [("www-authenticate", 'Basic realm="oauth"')])


@dataclass
class OAuthClient:
    client_id: str
    api_id: str
    policy_id: str
    redirect_uri: str = ""
    description: str = ""
    meta_data: dict[str, Any] = field(default_factory=dict)
    date_created: str = ""
    secret_hash: str = ""

    def public(self) -> dict:
        """What the control API shows: everything but the secret's hash (the secret is shown once, at creation)."""
        view = asdict(self)
        del view["secret_hash"]
        return view


@dataclass
class ConsumerAccount:
    username: str
    password_hash: str = ""
    date_created: str = ""

    def public(self) -> dict:
        return {"username": self.username, "date_created": self.date_created}


@dataclass
class RefreshRecord:
    api_id: str
    client_id: str
    username: str  # "" never happens today (client_credentials gets no refresh token), kept for clarity
    access_name: str  # the access token issued with it: revoking the refresh token revokes that too


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    expires_in: int
    refresh_token: str | None

    def body(self) -> dict:
        body: dict[str, Any] = {"access_token": self.access_token, "token_type": "bearer",
                                "expires_in": self.expires_in}
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _storage(action: str, exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"Redis is unreachable, so {action} ({exc})")


class OAuthStore:
    """Clients, consumer accounts and tokens of every OAuth API, in Redis; one instance per gateway process."""

    def __init__(self, redis: Redis, key_hash_secret: str, *, access_ttl: int = 3600, refresh_ttl: int = 14 * 86400,
                 expired_retain: int = 86400, bcrypt_rounds: int = BCRYPT_ROUNDS):
        self._redis = redis
        self._secret = key_hash_secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.expired_retain = expired_retain
        self._rounds = bcrypt_rounds
        self._dummy_hash: bytes | None = None
        # An index outlives every token it lists.
        self._index_ttl = max(access_ttl + expired_retain, refresh_ttl)

    @classmethod
    def from_settings(cls, redis: Redis, settings: GatewaySettings) -> OAuthStore:
        return cls(redis, settings.key_hash_secret, access_ttl=settings.oauth_access_token_ttl_seconds,
                   refresh_ttl=settings.oauth_refresh_token_ttl_seconds,
                   expired_retain=settings.oauth_expired_token_retain_seconds)

    # -- hashing (bcrypt costs milliseconds of CPU: it runs off the event loop) --------------------

    async def _hash_secret(self, secret: str) -> str:
        hashed = await asyncio.to_thread(bcrypt.hashpw, secret.encode(), bcrypt.gensalt(self._rounds))
        return hashed.decode()

    async def _check_secret(self, given: str, stored: str | None) -> bool:
        """bcrypt check; with nothing stored, a check against a dummy hash so timing tells nothing."""
        data = given.encode()
        if stored is None or len(data) > BCRYPT_MAX_BYTES:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(bcrypt.hashpw, b"-", bcrypt.gensalt(self._rounds))
            await asyncio.to_thread(bcrypt.checkpw, b"-", self._dummy_hash)
            return False
        try:
            return await asyncio.to_thread(bcrypt.checkpw, data, stored.encode())
        except ValueError:  # a stored value that is not a bcrypt hash
            return False

    # -- clients -----------------------------------------------------------------------------------

    async def create_client(self, api_id: str, policy_id: str, *, client_id: str = "", secret: str = "",
                            redirect_uri: str = "", description: str = "",
                            meta_data: dict[str, Any] | None = None) -> tuple[OAuthClient, str]:
        """Store a new client; returns it and its secret (given, or generated), which is never shown again.

        Raises ``DocumentError`` naming a bad field and ``ClientExists`` for a ``client_id`` already in use.
        """
        errors = []
        if client_id and not CLIENT_ID_PATTERN.match(client_id):
            errors.append(("client_id", "must be 1-128 characters of letters, digits, '.', '_' or '-'"))
        if secret and not (len(secret) >= MIN_SECRET_LENGTH and len(secret.encode()) <= BCRYPT_MAX_BYTES):
            errors.append(("secret", f"must be {MIN_SECRET_LENGTH} to {BCRYPT_MAX_BYTES} bytes long"))
        if errors:
            raise DocumentError(errors)
        client = OAuthClient(client_id=client_id or uuid.uuid4().hex, api_id=api_id, policy_id=policy_id,
                             redirect_uri=redirect_uri, description=description, meta_data=meta_data or {},
                             date_created=_now_iso())
        secret = secret or secrets.token_urlsafe(32)
        client.secret_hash = await self._hash_secret(secret)
        try:
            added = await self._redis.hsetnx(_clients_name(api_id), client.client_id, json.dumps(asdict(client)))
        except (RedisError, OSError) as exc:
            raise _storage("the client cannot be stored", exc) from None
        if not added:
            raise ClientExists(f"client {client.client_id} already exists for API {api_id}")
        return client, secret

    async def get_client(self, api_id: str, client_id: str) -> OAuthClient | None:
        try:
            data = await self._redis.hget(_clients_name(api_id), client_id)
        except (RedisError, OSError) as exc:
            raise _storage("the OAuth client cannot be checked", exc) from None
        return None if data is None else OAuthClient(**json.loads(data))

    async def list_clients(self, api_id: str) -> list[OAuthClient]:
        try:
            stored = await self._redis.hgetall(_clients_name(api_id))
        except (RedisError, OSError) as exc:
            raise _storage("OAuth clients cannot be listed", exc) from None
        return sorted((OAuthClient(**json.loads(data)) for data in stored.values()), key=lambda c: c.client_id)

    async def delete_client(self, api_id: str, client_id: str) -> bool:
        """Delete the client and every token issued to it."""
        try:
            deleted = await self._redis.hdel(_clients_name(api_id), client_id)
            await self._revoke_index(_index_name(api_id, "c", client_id))
        except (RedisError, OSError) as exc:
            raise _storage("the OAuth client cannot be deleted", exc) from None
        return bool(deleted)

    async def revoke_client_tokens(self, api_id: str, client_id: str) -> None:
        try:
            await self._revoke_index(_index_name(api_id, "c", client_id))
        except (RedisError, OSError) as exc:
            raise _storage("the client's tokens cannot be revoked", exc) from None

    async def authenticate_client(self, api_id: str, client_id: str, secret: str) -> OAuthClient:
        client = await self.get_client(api_id, client_id) if client_id else None
        if not await self._check_secret(secret, client.secret_hash if client else None) or client is None:
            raise _invalid_client("client authentication failed: unknown client or wrong secret")
        return client

    # -- consumer accounts -------------------------------------------------------------------------

    async def put_user(self, api_id: str, username: str, password: str) -> bool:
        """Create an account or set its password (which revokes its tokens); True when it is new."""
        errors = []
        if not username or len(username) > MAX_USERNAME_LENGTH or not username.isprintable():
            errors.append(("username", f"must be 1-{MAX_USERNAME_LENGTH} printable characters"))
        if not (len(password) >= MIN_PASSWORD_LENGTH and len(password.encode()) <= BCRYPT_MAX_BYTES):
            errors.append(("password", f"must be {MIN_PASSWORD_LENGTH} to {BCRYPT_MAX_BYTES} bytes long"))
        if errors:
            raise DocumentError(errors)
        account = ConsumerAccount(username, await self._hash_secret(password), _now_iso())
        try:
            added = await self._redis.hset(_users_name(api_id), username, json.dumps(asdict(account)))
            if not added:
                await self._revoke_index(_index_name(api_id, "u", username))
        except (RedisError, OSError) as exc:
            raise _storage("the account cannot be stored", exc) from None
        return bool(added)

    async def get_user(self, api_id: str, username: str) -> ConsumerAccount | None:
        try:
            data = await self._redis.hget(_users_name(api_id), username)
        except (RedisError, OSError) as exc:
            raise _storage("the account cannot be checked", exc) from None
        return None if data is None else ConsumerAccount(**json.loads(data))

    async def list_users(self, api_id: str) -> list[ConsumerAccount]:
        try:
            stored = await self._redis.hgetall(_users_name(api_id))
        except (RedisError, OSError) as exc:
            raise _storage("accounts cannot be listed", exc) from None
        return sorted((ConsumerAccount(**json.loads(data)) for data in stored.values()), key=lambda a: a.username)

    async def delete_user(self, api_id: str, username: str) -> bool:
        """Delete the account and every token issued for it."""
        try:
            deleted = await self._redis.hdel(_users_name(api_id), username)
            await self._revoke_index(_index_name(api_id, "u", username))
        except (RedisError, OSError) as exc:
            raise _storage("the account cannot be deleted", exc) from None
        return bool(deleted)

    async def authenticate_user(self, api_id: str, username: str, password: str) -> ConsumerAccount | None:
        account = await self.get_user(api_id, username)
        if not await self._check_secret(password, account.password_hash if account else None):
            return None
        return account

    # -- tokens ------------------------------------------------------------------------------------

    async def issue(self, api: ApiDefinition, client: OAuthClient, grant_type: str, username: str = "", *,
                    with_refresh: bool) -> IssuedTokens:
        """A new access token (a key applying the client's policy) and, if asked, a refresh token; one transaction."""
        # Rounded up: the token never dies before ``expires_in`` has run out.
        now = math.ceil(time.time())
        access_token = generate_key(api.org_id)
        access_name = session_name(hash_key(self._secret, access_token))
        session = SessionState(
            apply_policies=[client.policy_id],
            # The token's own rights name this API, so a policy partitioned without ``acl`` still lets it in;
            # a policy that sets access rights replaces them (policies.py).
            access_rights={api.api_id: AccessDefinition(api_id=api.api_id, api_name=api.name)},
            expires=now + self.access_ttl,
            org_id=api.org_id,
            alias=username or client.client_id,
            oauth_client_id=client.client_id,
            meta_data={"oauth_api_id": api.api_id, "oauth_grant_type": grant_type, "oauth_username": username},
            date_created=_now_iso(),
        )
        gone = {access_name: now + self.access_ttl + self.expired_retain}
        refresh_token = None
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.set(access_name, encode_session(session), ex=self.access_ttl + self.expired_retain)
                if with_refresh:
                    refresh_token = secrets.token_urlsafe(32)
                    refresh_name = REFRESH_PREFIX + hash_key(self._secret, refresh_token)
                    record = RefreshRecord(api.api_id, client.client_id, username, access_name)
                    pipe.set(refresh_name, json.dumps(asdict(record)), ex=self.refresh_ttl)
                    gone[refresh_name] = now + self.refresh_ttl
                indexes = [_index_name(api.api_id, "c", client.client_id)]
                if username:
                    indexes.append(_index_name(api.api_id, "u", username))
                for index in indexes:
                    pipe.zremrangebyscore(index, "-inf", now)
                    pipe.zadd(index, gone)
                    pipe.expire(index, self._index_ttl)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            raise _storage("the token cannot be stored", exc) from None
        return IssuedTokens(access_token, self.access_ttl, refresh_token)

    async def refresh_record(self, refresh_token: str) -> tuple[str, RefreshRecord] | None:
        name = REFRESH_PREFIX + hash_key(self._secret, refresh_token)
        try:
            data = await self._redis.get(name)
        except (RedisError, OSError) as exc:
            raise _storage("the refresh token cannot be checked", exc) from None
        return None if data is None else (name, RefreshRecord(**json.loads(data)))

    async def use_refresh(self, api_id: str, client_id: str, refresh_token: str) -> RefreshRecord | None:
        """The refresh token's record, consumed (one use only); None if unknown, used, or another client's."""
        found = await self.refresh_record(refresh_token)
        if found is None:
            return None
        name, record = found
        # Only the client it was issued to may use (and so use up) a refresh token.
        if record.api_id != api_id or record.client_id != client_id:
            return None
        try:
            consumed = await self._redis.delete(name)
        except (RedisError, OSError) as exc:
            raise _storage("the refresh token cannot be used", exc) from None
        return record if consumed else None  # 0: a concurrent request used it first

    async def access_session(self, access_token: str) -> tuple[str, SessionState] | None:
        name = session_name(hash_key(self._secret, access_token))
        try:
            data = await self._redis.get(name)
        except (RedisError, OSError) as exc:
            raise _storage("the token cannot be checked", exc) from None
        return None if data is None else (name, decode_session(data))

    async def delete_names(self, *names: str) -> None:
        try:
            await self._redis.delete(*names)
        except (RedisError, OSError) as exc:
            raise _storage("the token cannot be revoked", exc) from None

    async def _revoke_index(self, index: str) -> None:
        names = [name.decode() for name in await self._redis.zrange(index, 0, -1)]
        await self._redis.delete(*names, index)


def _clients_name(api_id: str) -> str:
    return f"oauth-clients-{api_id}"


def _users_name(api_id: str) -> str:
    return f"oauth-users-{api_id}"


def _index_name(api_id: str, kind: str, owner: str) -> str:
    # API ids never contain ':', so the name cannot be read two ways.
    return f"oauth-tokens-{api_id}:{kind}:{owner}"


# -- the endpoints' logic (RFC 6749 §4.3, §4.4, §6; RFC 7009) ---------------------------------------

def allowed_grant_types(api: ApiDefinition) -> tuple[str, ...]:
    """Tyk's ``oauth_meta.allowed_access_types`` restricts the grants; absent or empty: all three."""
    meta = (api.model_extra or {}).get("oauth_meta")
    listed = meta.get("allowed_access_types") if isinstance(meta, dict) else None
    if not isinstance(listed, list) or not listed:
        return GRANT_TYPES
    return tuple(grant for grant in GRANT_TYPES if grant in listed)


def client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
    """(client_id, secret) from HTTP Basic (RFC 6749 §2.3.1: each part form-encoded) or the form; one of them."""
    basic = None
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _invalid_client("the Authorization header is not valid HTTP Basic credentials") from None
        client_id, colon, secret = decoded.partition(":")
        if not colon:
            raise _invalid_client("the Authorization header is not valid HTTP Basic credentials")
        basic = unquote_plus(client_id), unquote_plus(secret)
    if basic is not None:
        if "client_secret" in form:
            raise OAuthError(400, "invalid_request",
                             "use one client authentication method: HTTP Basic or client_secret in the body")
        if form.get("client_id", basic[0]) != basic[0]:
            raise OAuthError(400, "invalid_request", "client_id in the body differs from the HTTP Basic one")
        return basic
    if not form.get("client_id"):
        raise _invalid_client("client authentication is required: HTTP Basic, or client_id and client_secret")
    if not form.get("client_secret"):
        raise _invalid_client("client_secret is required")
    return form["client_id"], form["client_secret"]


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise OAuthError(400, "invalid_request", f"{name} is required")
    return value


async def token_request(store: OAuthStore, api: ApiDefinition, form: Mapping[str, str],
                        authorization: str | None) -> IssuedTokens:
    """``POST <listen_path>oauth/token``: the tokens to answer, or ``OAuthError``."""
    grant_type = _required(form, "grant_type")
    if grant_type not in GRANT_TYPES:
        raise OAuthError(400, "unsupported_grant_type",
                         f"grant_type {grant_type!r} is not supported: use {', '.join(GRANT_TYPES)}")
    allowed = allowed_grant_types(api)
    if grant_type not in allowed:
        raise OAuthError(400, "unsupported_grant_type",
                         f"grant_type {grant_type!r} is not enabled for this API (oauth_meta.allowed_access_types)")
    client = await store.authenticate_client(api.api_id, *client_credentials(form, authorization))
    with_refresh = "refresh_token" in allowed

    if grant_type == "client_credentials":
        # RFC 6749 §4.4.3: no refresh token; the client can always ask again.
        return await store.issue(api, client, grant_type, with_refresh=False)

    if grant_type == "password":
        username, password = _required(form, "username"), _required(form, "password")
        if await store.authenticate_user(api.api_id, username, password) is None:
            raise OAuthError(400, "invalid_grant", "the username or password is wrong")
        return await store.issue(api, client, grant_type, username, with_refresh=with_refresh)

    record = await store.use_refresh(api.api_id, client.client_id, _required(form, "refresh_token"))
    if record is None:
        raise OAuthError(400, "invalid_grant",
                         "the refresh token is unknown, expired, already used, revoked or another client's")
    if record.username and await store.get_user(api.api_id, record.username) is None:
        raise OAuthError(400, "invalid_grant", f"the account {record.username!r} no longer exists")
    return await store.issue(api, client, "password", record.username, with_refresh=True)


async def revoke_request(store: OAuthStore, api: ApiDefinition, form: Mapping[str, str],
                         authorization: str | None) -> None:
    """``POST <listen_path>oauth/revoke`` (RFC 7009): an unknown token is not an error, another client's is."""
    client = await store.authenticate_client(api.api_id, *client_credentials(form, authorization))
    token = _required(form, "token")
    hint = form.get("token_type_hint", "")
    if hint and hint not in TOKEN_TYPE_HINTS:
        raise OAuthError(400, "unsupported_token_type",
                         f"token_type_hint {hint!r} is not one of {', '.join(TOKEN_TYPE_HINTS)}")
    # The hint says where to look first; the token is looked for as both kinds.
    kinds = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in kinds:
        if kind == "access_token":
            found = await store.access_session(token)
            if found is None:
                continue
            name, session = found
            if session.oauth_client_id != client.client_id or session.meta_data.get("oauth_api_id") != api.api_id:
                raise _not_yours()
            await store.delete_names(name)
            return
        found_refresh = await store.refresh_record(token)
        if found_refresh is None:
            continue
        name, record = found_refresh
        if record.client_id != client.client_id or record.api_id != api.api_id:
            raise _not_yours()
        # RFC 7009 §2.1: revoking a refresh token also revokes the access token issued with it.
        await store.delete_names(name, record.access_name)
        return


def _not_yours() -> OAuthError:
    return OAuthError(400, "unauthorized_client", "the token was not issued to this client")
