"""``/api/keys``: create, list, read, update and delete keys, the way Tyk's dashboard does.

Keys live in Redis only, as ``apikey-<HMAC-SHA256(key_hash_secret, key)>`` holding the session, exactly
as the gateways read them (``core/keys.py``; the dashboard and the gateways share ``key_hash_secret``).
The key itself is answered once, when it is created, and never stored. ``?hashed=true`` addresses a key
by its hash. Redis unavailable: 503 naming it (``errors.py``); MongoDB is only read, for the checks.

A key belongs to the organisation in its session's ``org_id``, set to the user's; keys of other
organisations answer 404 as if they did not exist. Every check runs before the single write, so a
refused request leaves the stored key untouched. No notification is sent: gateways read keys from
Redis on every request, so a change counts from the next request.

Decisions, as on the gateway's ``/tyk/keys`` (``gateway/control/keys.py``):
- ``POST /api/keys/{key}`` (a custom key, e.g. a basic-auth user name) refuses a key that exists (409).
  ``PUT`` replaces the whole session (404 for an unknown key) and resets the key's quota unless
  ``?suppress_reset=1``; a body without ``basic_auth_data.password`` keeps the stored password hash.
- A plain ``basic_auth_data.password`` is bcrypt-hashed before it is stored; a bcrypt hash is kept as is.
- ``apply_policies`` must name the organisation's policies and ``access_rights`` its APIs (400 naming
  the field and the id). A new key without ``expires`` gets the longest ``key_expires_in`` of its policies.
- Deleting a key also deletes its rate-limit and quota counters.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query

from tollhouse.core.keys import encode_session, generate_key, looks_like_hash, secure_basic_auth
from tollhouse.core.session import DocumentError, SessionState, parse_session
from tollhouse.dashboard import audit
from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.deps import KeyStoreDep, SettingsDep, StoreDep
from tollhouse.dashboard.documents import check_access_rights
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.keystore import KeyStore
from tollhouse.dashboard.models import ERROR_RESPONSES, ErrorResponse, KeyData, KeyList, SessionDict, StatusResponse
from tollhouse.dashboard.paging import page_count, page_window
from tollhouse.dashboard.permissions import require
from tollhouse.dashboard.store import Store

log = logging.getLogger("tollhouse.dashboard.keys")

NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such key in the user's organisation."}}
REDIS_DOWN = {503: {"model": ErrorResponse, "description": "Redis (where keys are stored) or MongoDB is unavailable."}}
router = APIRouter(prefix="/api/keys", tags=["keys"], responses={**ERROR_RESPONSES, **NOT_FOUND, **REDIS_DOWN})

KEY_NOT_FOUND = "Key not found"
# A custom key travels in headers, query strings and cookies: visible ASCII, no spaces.
CUSTOM_KEY = re.compile(r"^[\x21-\x7e]{1,256}$")
TRUE = ("", "true", "1", "yes")

KeyPath = Annotated[str, Path(description="The key, or with hashed=true its hash.")]
HashedQuery = Annotated[str | None, Query(description="true (or 1, yes, empty): the path carries the key's hash.")]
SessionBody = Annotated[SessionDict, Body(description="The key's session.")]
Reader = Annotated[CurrentUser, Depends(require("keys", "read"))]
Writer = Annotated[CurrentUser, Depends(require("keys", "write"))]


@router.get("", response_model=KeyList, summary="List the hashes of the organisation's keys")
def list_keys(user: Reader, keys: KeyStoreDep, settings: SettingsDep,
              p: Annotated[int, Query(description="Page number from 1; 0 or lower returns every key.")] = 1) -> dict:
    size = settings.page_size
    hashes = keys.org_hashes(user.org_id)
    skip, limit = page_window(p, size)
    page = hashes[skip:] if limit is None else hashes[skip:skip + limit]
    return {"data": {"keys": page}, "pages": page_count(len(hashes), size)}


@router.post("", response_model=KeyData, summary="Create a key; key_id is the generated key, shown only now")
def create_key(body: SessionBody, user: Writer, store: StoreDep, keys: KeyStoreDep) -> dict:
    return _key_data(*create_generated_key(store, keys, user, dict(body)))


def create_generated_key(store: Store, keys: KeyStore, user: CurrentUser, raw: dict) -> tuple[str, str, SessionState]:
    """Validate ``raw`` as a session of ``user``'s organisation, store it under a new generated key and audit it;
    the JSON API and the web form both create keys here. Returns (key, its hash, the stored session); the key is
    not kept anywhere. ``BadRequest`` names the fields at fault, and then nothing was stored."""
    session = _prepared(store, user.org_id, raw, None)
    key = generate_key(user.org_id)
    key_hash = keys.hash(key)
    if not keys.put(key_hash, session, only_if="absent"):
        raise DashboardError(500, "a generated key collided with a stored one; try again")
    log.info("key %s created by %s", key_hash, user.email)
    audit.record(store, user, "keys", "create", key_hash, after=_audited(session))
    return key, key_hash, session


@router.post("/{key}", response_model=KeyData, responses={409: {"model": ErrorResponse,
                                                                 "description": "The key exists."}},
             summary="Create a key of your choosing (e.g. a basic-auth user name)")
def create_custom_key(key: Annotated[str, Path(description="The key to create.")], body: SessionBody,
                      user: Writer, store: StoreDep, keys: KeyStoreDep, hashed: HashedQuery = None) -> dict:
    if _flag(hashed):
        raise BadRequest([("key", "a key is created from the key itself, not its hash (drop hashed=true)")])
    if not CUSTOM_KEY.match(key):
        raise BadRequest([("key", "must be 1-256 visible ASCII characters without spaces")])
    session = _prepared(store, user.org_id, dict(body), None)
    key_hash = keys.hash(key)
    if not keys.put(key_hash, session, only_if="absent"):
        raise DashboardError(409, f"Key already exists; PUT /api/keys/{key} changes it")
    log.info("key %s created by %s", key_hash, user.email)
    audit.record(store, user, "keys", "create", key_hash, after=_audited(session))
    return _key_data(key, key_hash, session)


@router.get("/{key}", response_model=KeyData, summary="Read a key's session")
def get_key(key: KeyPath, user: Reader, keys: KeyStoreDep, hashed: HashedQuery = None) -> dict:
    key_hash = _address(keys, key, hashed)
    return _key_data(key, key_hash, existing_key(keys, user.org_id, key_hash))


@router.put("/{key}", response_model=KeyData, summary="Replace a key's session")
def update_key(key: KeyPath, body: SessionBody, user: Writer, store: StoreDep, keys: KeyStoreDep,
               hashed: HashedQuery = None,
               suppress_reset: Annotated[str | None, Query(description="1: keep the key's quota counter.")] = None
               ) -> dict:
    key_hash = _address(keys, key, hashed)
    existing = existing_key(keys, user.org_id, key_hash)
    session = _prepared(store, user.org_id, dict(body), existing)
    if not keys.put(key_hash, session, only_if="present"):
        raise DashboardError(404, KEY_NOT_FOUND)  # deleted meanwhile: not brought back
    if not _flag(suppress_reset):
        keys.drop_counters(key_hash, rate=False)
    log.info("key %s modified by %s", key_hash, user.email)
    audit.record(store, user, "keys", "update", key_hash, before=_audited(existing), after=_audited(session))
    return _key_data(key, key_hash, session)


@router.delete("/{key}", response_model=StatusResponse, summary="Delete a key and its counters")
def delete_key(key: KeyPath, user: Writer, store: StoreDep, keys: KeyStoreDep,
               hashed: HashedQuery = None) -> StatusResponse:
    delete_stored_key(store, keys, user, _address(keys, key, hashed))
    return StatusResponse(Message="Key deleted successfully.")


def delete_stored_key(store: Store, keys: KeyStore, user: CurrentUser, key_hash: str) -> None:
    """Delete the key ``key_hash`` of ``user``'s organisation and its counters, and audit it (JSON API and web
    form alike); ``DashboardError`` 404 when the organisation has no such key."""
    existing = existing_key(keys, user.org_id, key_hash)
    if not keys.delete(key_hash):
        raise DashboardError(404, KEY_NOT_FOUND)
    keys.drop_counters(key_hash)
    log.info("key %s deleted by %s", key_hash, user.email)
    audit.record(store, user, "keys", "delete", key_hash, before=_audited(existing))


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in TRUE


def _address(keys: KeyStore, key: str, hashed: str | None) -> str:
    """The hash of the key named in the path (with ``hashed=true`` the path is the hash)."""
    if not _flag(hashed):
        return keys.hash(key)
    if not looks_like_hash(key):
        raise BadRequest([("key", "with hashed=true the path must carry the key's hash (64 hex digits)")])
    return key


def existing_key(keys: KeyStore, org_id: str, key_hash: str) -> SessionState:
    """The session of key ``key_hash`` when it belongs to organisation ``org_id``; else ``DashboardError`` 404."""
    try:
        session = keys.get(key_hash)
    except ValueError:  # not a session document: nothing this API can show or change
        log.error("key %s holds data that is not a session", key_hash)
        raise DashboardError(500, "the stored key cannot be read") from None
    if session is None or session.org_id != org_id:
        raise DashboardError(404, KEY_NOT_FOUND)
    return session


def _prepared(store: Store, org_id: str, raw: dict, existing: SessionState | None) -> SessionState:
    """Validate a session body and make it ready to store; 400 naming the field otherwise."""
    raw["org_id"] = org_id
    try:
        session = parse_session(raw)
    except DocumentError as exc:
        raise BadRequest(exc.errors) from None
    policy_ids = session.policy_ids()
    known = store.existing_policy_ids(org_id, policy_ids)
    missing = [("apply_policies" if policy_id in session.apply_policies else "apply_policy_id",
                f"policy {policy_id} does not exist in this organisation")
               for policy_id in policy_ids if policy_id not in known]
    if missing:
        raise BadRequest(missing)
    check_access_rights(store, org_id, session.access_rights)
    for name, access in session.access_rights.items():
        access.api_id = access.api_id or name
    try:
        secure_basic_auth(session, existing)
    except DocumentError as exc:
        raise BadRequest(exc.errors) from None
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    session.last_updated = now
    if existing is None:
        session.date_created = now
        if session.expires == 0:
            lifetimes = store.policy_lifetimes(org_id, policy_ids)
            if any(lifetimes):
                session.expires = int(time.time()) + max(lifetimes)
    else:
        session.date_created = existing.date_created or session.date_created
    return session


def _audited(session: SessionState) -> dict | None:
    # Named by its hash in the entry's target; the session without its basic-auth password hash.
    return audit.key_view(json.loads(encode_session(session)))


def _key_data(key_id: str, key_hash: str, session: SessionState) -> dict:
    return {"api_model": {}, "key_id": key_id, "data": json.loads(encode_session(session)), "key_hash": key_hash}
