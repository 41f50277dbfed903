"""Basic auth (Tyk's ``use_basic_auth``): ``Authorization: Basic base64(user:password)``.

The user is a key: its name is the key (stored like any key, by ``KeyStore.hash``) and its session's
``basic_auth_data.password`` is a bcrypt hash (the control API hashes plain passwords before storing them). A stored
value that is not a bcrypt hash never matches: nothing usable is kept in clear.

bcrypt costs tens to hundreds of milliseconds of CPU, so a successful check is remembered for ``CACHE_SECONDS``
in this process, keyed by (key hash, HMAC of the given password with a secret made at start, the stored hash):
no password is held in memory, and a changed password (a new stored hash) takes effect on the next request.
Failures are never remembered. bcrypt runs in a worker thread, never on the event loop.

Answers, as Tyk's: 401 ``Authorization field missing`` and 401 ``User not authorised`` (unknown user and wrong
password alike, with the same bcrypt cost, so users cannot be probed), both with
``WWW-Authenticate: Basic realm="<API name>"``; 400 for a header that is not Basic auth, naming what is wrong.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import time

import bcrypt

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.stored_key import stored_key

log = logging.getLogger("tollhouse.gateway.basic_auth")

MISSING = "Authorization field missing"
NOT_AUTHORISED = "User not authorised"
NOT_BASIC = "Attempted access with malformed header, header not in basic auth format."
NOT_BASE64 = "Attempted access with malformed header, auth data not encoded correctly"
NO_COLON = "Attempted access with malformed header, values not in basic auth format."
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")

CACHE_SECONDS = 60.0
CACHE_MAX = 10_000


class VerifiedCache:
    """Successful password checks, remembered briefly; one per process (see the module docstring)."""

    def __init__(self, ttl: float = CACHE_SECONDS, max_entries: int = CACHE_MAX):
        self.ttl = ttl
        self.max_entries = max_entries
        self._secret = secrets.token_bytes(32)
        self._entries: dict[tuple[str, bytes, str], float] = {}

    def _entry(self, key_hash: str, password: bytes, stored: str) -> tuple[str, bytes, str]:
        return key_hash, hmac.new(self._secret, password, hashlib.sha256).digest(), stored

    def known(self, key_hash: str, password: bytes, stored: str) -> bool:
        entry = self._entry(key_hash, password, stored)
        expires = self._entries.get(entry)
        if expires is None:
            return False
        if expires <= time.monotonic():
            del self._entries[entry]
            return False
        return True

    def remember(self, key_hash: str, password: bytes, stored: str) -> None:
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {entry: t for entry, t in self._entries.items() if t > now}
            while len(self._entries) >= self.max_entries:  # still full: drop the oldest
                del self._entries[next(iter(self._entries))]
        self._entries[self._entry(key_hash, password, stored)] = time.monotonic() + self.ttl


VERIFIED = VerifiedCache()
_dummy_hash: bytes | None = None


def _dummy() -> bytes:
    """A hash to check against when there is nothing to check, so unknown users cost what known ones do."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(10))
    return _dummy_hash


def _checkpw(password: bytes, stored: bytes | None) -> bool:
    """bcrypt's check (in a worker thread); ``stored`` None: against the dummy hash, always False."""
    if stored is None:
        _checkpw(password, _dummy())
        return False
    try:
        return bcrypt.checkpw(password, stored)
    except ValueError:  # longer than bcrypt's 72 bytes (bcrypt>=5 refuses it): no stored hash can match
        return False


class BasicAuth:
    def __init__(self, api: CompiledApi, keys: KeyStore, verified: VerifiedCache = VERIFIED):
        self.header = api.definition.auth_config("basic").auth_header_name.lower()
        self.strip = api.definition.strip_auth_data
        self.keys = keys
        self.verified = verified
        realm = api.definition.name.replace("\\", "\\\\").replace('"', '\\"')
        self.challenge = [("www-authenticate", f'Basic realm="{realm}"')]

    async def __call__(self, ctx: RequestContext) -> None:
        value = ctx.request.header(self.header)
        if not value or not value.strip():
            raise GatewayError(401, MISSING, self.challenge)
        scheme, _, encoded = value.strip().partition(" ")
        if scheme.lower() != "basic" or not encoded.strip():
            raise GatewayError(400, NOT_BASIC)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise GatewayError(400, NOT_BASE64) from None
        username, colon, password = decoded.partition(b":")
        if not colon:
            raise GatewayError(400, NO_COLON)
        try:
            user = username.decode("utf-8")
        except UnicodeDecodeError:
            raise GatewayError(400, NOT_BASE64) from None

        key_hash = self.keys.hash(user)
        session = await stored_key(self.keys, key_hash)
        stored = session.basic_auth_data.password if session is not None else ""
        if not user or not BCRYPT_HASH.match(stored):
            if session is not None and stored:
                log.warning("key %s... has a basic_auth_data.password that is not a bcrypt hash: refused",
                            key_hash[:8])
            await asyncio.to_thread(_checkpw, password, None)
            raise GatewayError(401, NOT_AUTHORISED, self.challenge)
        if not self.verified.known(key_hash, password, stored):
            if not await asyncio.to_thread(_checkpw, password, stored.encode()):
                raise GatewayError(401, NOT_AUTHORISED, self.challenge)
            self.verified.remember(key_hash, password, stored)
        ctx.api_key_hash = key_hash
        ctx.session = session
        if self.strip:
            ctx.request.headers = [(name, v) for name, v in ctx.request.headers if name != self.header]
