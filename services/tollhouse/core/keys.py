"""API keys at rest: how a key is hashed, and the Redis names of everything stored per key.

A key is stored only as HMAC-SHA256(key_hash_secret, key), hex. Why this and not Tyk's murmur64 or a
plain SHA-256: custom keys may be short or guessable, and with a plain hash a leaked Redis dump lets
anyone test guesses offline. The HMAC's secret lives in the gateways' and the dashboard's config files,
never in Redis, so a dump alone reveals nothing usable. Why not bcrypt/argon2: every request looks its key
up by hash, so the hash must cost microseconds; keys the gateway generates carry 192 random bits, which no
search can reach anyway. Changing ``key_hash_secret`` invalidates every key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets

import bcrypt

from tollhouse.core.session import DocumentError, SessionState

SESSION_PREFIX = "apikey-"
RATE_PREFIX = "rate-limit-"
QUOTA_PREFIX = "quota-"
KEY_HASH_LENGTH = 64


def generate_key(org_id: str = "") -> str:
    """A new key: the organisation's id (as Tyk prefixes it) and 192 random bits."""
    return f"{org_id}{secrets.token_hex(24)}"


def hash_key(secret: str, key: str) -> str:
    return hmac.new(secret.encode(), key.encode(), hashlib.sha256).hexdigest()


def looks_like_hash(value: str) -> bool:
    return len(value) == KEY_HASH_LENGTH and all(ch in "0123456789abcdef" for ch in value)


def session_name(key_hash: str) -> str:
    return SESSION_PREFIX + key_hash


def counter_search(key_hash: str) -> str:
    """The SCAN pattern of a key's counters: every name carries its hash, in front of or after the API's id
    (``rate-limit-<hash>``, ``quota-<api_id>-<hash>``, ``rate-limit-endpoint:...<hash>``; gateway rate_limit.py)."""
    return f"*{key_hash}*"


def is_counter(name: bytes | str, *, rate: bool = True, quota: bool = True) -> bool:
    """Whether a name ``counter_search`` found is a rate-limit (``rate``) or quota (``quota``) counter."""
    text = name.decode() if isinstance(name, bytes) else name
    return (rate and text.startswith(RATE_PREFIX)) or (quota and text.startswith(QUOTA_PREFIX))


def encode_session(session: SessionState) -> str:
    return session.model_dump_json(exclude_none=True)


def decode_session(data: bytes | str) -> SessionState:
    return SessionState.model_validate(json.loads(data))


BCRYPT_ROUNDS = 10  # one check per basic-auth request (cached on success) must stay affordable
BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt>=5: refuses) anything longer
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


def secure_basic_auth(session: SessionState, existing: SessionState | None) -> None:
    """Store a basic-auth password only as a bcrypt hash; a change without a password keeps the old hash.

    A value that already is a bcrypt hash (imported from Tyk) is kept. Blocking (bcrypt): async callers
    run it in a thread. Raises ``DocumentError`` naming the field.
    """
    data = session.basic_auth_data
    if not data.password:
        if existing is not None and existing.basic_auth_data.password:
            session.basic_auth_data = existing.basic_auth_data
        return
    if not BCRYPT_HASH.match(data.password):
        if len(data.password.encode()) > BCRYPT_MAX_BYTES:
            raise DocumentError([("basic_auth_data.password",
                                  f"is longer than {BCRYPT_MAX_BYTES} bytes, which bcrypt cannot use")])
        data.password = bcrypt.hashpw(data.password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()
    data.hash_type = "bcrypt"
