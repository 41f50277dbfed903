"""JSON Web Key Sets fetched from the URL in a JWT API's ``jwt_source``, cached per process.

- A set is kept ``ttl`` seconds after a good fetch, then fetched again on the next token that needs it.
- A token whose ``kid`` is not in the set makes one fetch (the issuer rotated its keys), at most once per
  ``refetch_interval`` seconds per URL whatever the traffic, so made-up kids cannot hammer the issuer.
- The endpoint down or answering nonsense: the last good set keeps serving (stale); with no good set yet,
  ``JwksUnavailable`` (the gateway answers 503 naming the endpoint, never a misleading 401), and that
  endpoint is not tried again for ``refetch_interval`` seconds.
- Concurrent requests that need a fetch share one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import httpx
from jwt import PyJWK, PyJWTError

log = logging.getLogger("tollhouse.gateway.jwks")

MAX_JWKS_BYTES = 1024 * 1024


class JwksUnavailable(Exception):
    """No key set could be had from the endpoint (and none is cached)."""


@dataclass(frozen=True)
class Jwk:
    kid: str | None
    kty: str  # RSA, EC, oct...
    alg: str | None  # the one algorithm the key is for, when the set says so
    key: object  # what pyjwt verifies with (a cryptography public key, or bytes for oct)


@dataclass
class _Entry:
    keys: list[Jwk] | None = None  # None: never fetched successfully
    fetched: float = 0.0  # monotonic time of the last good fetch
    attempted: float = float("-inf")  # monotonic time of the last attempt, good or not
    error: str = ""
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    def __init__(self, ttl: float = 300.0, refetch_interval: float = 10.0, timeout: float = 5.0):
        self.ttl = ttl
        self.refetch_interval = refetch_interval
        self.timeout = timeout
        self._entries: dict[str, _Entry] = {}
        self.fetches = 0  # attempts made, for tests and debugging

    async def keys(self, url: str, kid: str | None) -> list[Jwk]:
        """The keys of the set at ``url`` that may have signed a token with ``kid`` (all of them for no kid)."""
        entry = self._entries.setdefault(url, _Entry())
        now = time.monotonic()
        wanted = entry.keys is None or now - entry.fetched >= self.ttl or not _matching(entry.keys, kid)
        if wanted and now - entry.attempted >= self.refetch_interval:
            await self._refresh(url, entry, now)
        if entry.keys is None:
            raise JwksUnavailable(f"the JWKS endpoint {url} gave no usable key set, so the token cannot be checked "
                                  f"({entry.error})")
        return _matching(entry.keys, kid)

    async def _refresh(self, url: str, entry: _Entry, asked: float) -> None:
        async with entry.lock:
            if entry.attempted >= asked or time.monotonic() - entry.attempted < self.refetch_interval:
                return  # another request fetched while this one waited
            entry.attempted = time.monotonic()
            self.fetches += 1
            try:
                keys = await self._fetch(url)
            except JwksUnavailable as exc:
                entry.error = str(exc)
                stale = "; serving the cached set" if entry.keys is not None else ""
                log.warning("JWKS fetch from %s failed: %s%s", url, exc, stale)
                return
            entry.keys, entry.fetched, entry.error = keys, time.monotonic(), ""

    async def _fetch(self, url: str) -> list[Jwk]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client, \
                    client.stream("GET", url, headers={"accept": "application/json"}) as reply:
                if reply.status_code != 200:
                    raise JwksUnavailable(f"it answered HTTP {reply.status_code}")
                body = bytearray()
                async for chunk in reply.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise JwksUnavailable(f"its answer is larger than {MAX_JWKS_BYTES} bytes")
        except httpx.HTTPError as exc:
            raise JwksUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
        return parse_jwks(bytes(body))


def parse_jwks(data: bytes) -> list[Jwk]:
    """The usable signing keys of a JWKS document; keys this gateway cannot use are skipped, as RFC 7517 says."""
    try:
        document = json.loads(data)
    except ValueError:
        raise JwksUnavailable("its answer is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksUnavailable('its answer is not a key set (no "keys" list)')
    keys = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        try:
            key = PyJWK(jwk).key
        except PyJWTError as exc:
            log.debug("skipping JWK %s: %s", jwk.get("kid"), exc)
            continue
        keys.append(Jwk(_text(jwk.get("kid")), str(jwk.get("kty")), _text(jwk.get("alg")), key))
    return keys


def _matching(keys: list[Jwk], kid: str | None) -> list[Jwk]:
    return list(keys) if kid is None else [key for key in keys if key.kid == kid]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
