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
import secrets

from tollhouse.core.session import SessionState

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


def encode_session(session: SessionState) -> str:
    return session.model_dump_json(exclude_none=True)


def decode_session(data: bytes | str) -> SessionState:
    return SessionState.model_validate(json.loads(data))
