"""``/tyk/keys``: create, read, update, delete and list keys (Tyk sessions) in Redis.

Keys are stored only as ``apikey-<HMAC-SHA256(key_hash_secret, key)>`` (``core/keys.py``); the key itself
is answered once, when it is created, and never again. ``?hashed=true`` addresses a key by its hash.

Decisions where Tyk leaves room:
- ``POST /tyk/keys/{key}`` (a custom key) refuses a key that exists (409): overwriting would silently
  replace another client's session. ``PUT`` changes an existing key, and 404s for an unknown one.
- ``PUT`` replaces the whole session, as Tyk does, and resets the key's quota unless ``?suppress_reset=1``
  (Tyk's parameter). A body without ``basic_auth_data.password`` keeps the stored password hash, so a
  read-modify-write round trip never loses it.
- Basic-auth passwords: a plain ``basic_auth_data.password`` is bcrypt-hashed before it is stored
  (``hash_type`` "bcrypt"); a value that already is a bcrypt hash (imported from Tyk) is kept as is.
- Every policy a key applies must exist (400 naming it); a policy's ``key_expires_in`` sets ``expires``
  when the key is created without one (the longest, when several policies set it).
- ``access_rights`` entries get their ``api_id`` from their name; a different ``api_id`` is refused.
- Deleting a key also deletes its rate-limit and quota counters (every Redis name starting with
  ``rate-limit-`` or ``quota-`` that carries the key's hash).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from datetime import UTC, datetime

from redis.exceptions import RedisError

from tollhouse.core.keys import (
    counter_search,
    encode_session,
    generate_key,
    is_counter,
    looks_like_hash,
    secure_basic_auth,
)
from tollhouse.core.session import DocumentError, SessionState, parse_session
from tollhouse.gateway.control.router import ControlCall, ControlError, ControlRouter
from tollhouse.gateway.keystore import StorageUnavailable

# A custom key travels in headers, query strings and cookies: visible ASCII, no spaces.
CUSTOM_KEY = re.compile(r"^[\x21-\x7e]{1,256}$")
KEY_NOT_FOUND = "Key not found"


def register(router: ControlRouter) -> None:
    router.add("GET", "/tyk/keys", list_keys)
    router.add("POST", "/tyk/keys", create_key)
    router.add("POST", "/tyk/keys/create", create_key)
    router.add("POST", "/tyk/keys/{key}", add_custom_key)
    router.add("GET", "/tyk/keys/{key}", get_key)
    router.add("PUT", "/tyk/keys/{key}", update_key)
    router.add("DELETE", "/tyk/keys/{key}", delete_key)


def _reply(key: str, key_hash: str, action: str) -> dict:
    return {"key": key, "status": "ok", "action": action, "key_hash": key_hash}


def _address(call: ControlCall) -> tuple[str, str]:
    """(what the caller named, its hash): the key from the path, or with ``?hashed=true`` its hash."""
    given = call.params["key"]
    if call.flag("hashed"):
        if not looks_like_hash(given):
            raise ControlError(400, "key: with hashed=true the path must carry the key's hash (64 hex digits)")
        return given, given
    return given, call.services.keys.hash(given)


def session_document(session: SessionState) -> dict:
    return json.loads(encode_session(session))


async def list_keys(call: ControlCall) -> tuple[int, dict]:
    return 200, {"keys": await call.services.keys.hashes()}


async def get_key(call: ControlCall) -> tuple[int, dict]:
    _, key_hash = _address(call)
    session = await call.services.keys.get(key_hash)
    if session is None:
        raise ControlError(404, KEY_NOT_FOUND)
    return 200, session_document(session)


async def create_key(call: ControlCall) -> tuple[int, dict]:
    session = await _prepare(call, await call.json(), None)
    key = generate_key(session.org_id)
    key_hash = call.services.keys.hash(key)
    if not await call.services.keys.put(key_hash, session, only_if="absent"):
        raise ControlError(500, "a generated key collided with a stored one; try again")
    return 200, _reply(key, key_hash, "added")


async def add_custom_key(call: ControlCall) -> tuple[int, dict]:
    if call.flag("hashed"):
        raise ControlError(400, "key: a key is created from the key itself, not its hash (drop hashed=true)")
    key = call.params["key"]
    if not CUSTOM_KEY.match(key):
        raise ControlError(400, "key: must be 1-256 visible ASCII characters without spaces")
    session = await _prepare(call, await call.json(), None)
    key_hash = call.services.keys.hash(key)
    if not await call.services.keys.put(key_hash, session, only_if="absent"):
        raise ControlError(409, f"Key already exists; PUT /tyk/keys/{key} changes it")
    return 200, _reply(key, key_hash, "added")


async def update_key(call: ControlCall) -> tuple[int, dict]:
    named, key_hash = _address(call)
    raw = await call.json()
    existing = await call.services.keys.get(key_hash)
    if existing is None:
        raise ControlError(404, KEY_NOT_FOUND)
    session = await _prepare(call, raw, existing)
    if not await call.services.keys.put(key_hash, session, only_if="present"):
        raise ControlError(404, KEY_NOT_FOUND)  # deleted meanwhile: not brought back
    if not call.flag("suppress_reset"):
        await drop_counters(call, key_hash, rate=False)
    return 200, _reply(named, key_hash, "modified")


async def delete_key(call: ControlCall) -> tuple[int, dict]:
    named, key_hash = _address(call)
    existed = await call.services.keys.delete(key_hash)
    await drop_counters(call, key_hash)
    if not existed:
        raise ControlError(404, KEY_NOT_FOUND)
    return 200, _reply(named, key_hash, "deleted")


async def drop_counters(call: ControlCall, key_hash: str, *, rate: bool = True, quota: bool = True) -> None:
    """Delete the key's rate-limit (``rate``) and quota (``quota``) counters: key-wide, per API, per endpoint.

    Their names carry the key's hash (``rate-limit-<hash>``, ``rate-limit-<api_id>-<hash>``,
    ``rate-limit-endpoint:...:<hash>``, ``quota-...``; see middleware/rate_limit.py), so one SCAN finds them
    all. It walks the whole keyspace: an admin operation's cost, never a request's.
    """
    redis = call.services.redis
    try:
        names = [name async for name in redis.scan_iter(match=counter_search(key_hash), count=1000)
                 if is_counter(name, rate=rate, quota=quota)]
        if names:
            await redis.delete(*names)
    except (RedisError, OSError) as exc:
        raise StorageUnavailable(f"Redis is unreachable, so the key's counters cannot be deleted ({exc})") from None


async def _prepare(call: ControlCall, raw: dict, existing: SessionState | None) -> SessionState:
    """Validate a session body and make it ready to store; ``ControlError(400)`` naming the field."""
    try:
        session = parse_session(raw)
    except DocumentError as exc:
        raise ControlError(400, str(exc)) from None
    policies = call.services.policies().policies
    for policy_id in session.policy_ids():
        if policy_id not in policies:
            field = "apply_policies" if policy_id in session.apply_policies else "apply_policy_id"
            raise ControlError(400, f"{field}: policy {policy_id} does not exist")
    for name, access in session.access_rights.items():
        if not access.api_id:
            access.api_id = name
        elif access.api_id != name:
            raise ControlError(400, f"access_rights.{name}.api_id: {access.api_id!r} does not match its entry's "
                                    f"name {name!r}")
    try:
        await asyncio.to_thread(secure_basic_auth, session, existing)
    except DocumentError as exc:
        raise ControlError(400, str(exc)) from None
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    session.last_updated = now
    if existing is None:
        session.date_created = now
        if session.expires == 0:
            lifetimes = [policies[policy_id].key_expires_in for policy_id in session.policy_ids()]
            if any(lifetimes):
                session.expires = int(time.time()) + max(lifetimes)
    else:
        session.date_created = existing.date_created or session.date_created
    return session


