"""Reading a key's session for an authentication middleware: Redis away is a 503 naming it, never a 401/403."""

from __future__ import annotations

from tollhouse.core.session import SessionState
from tollhouse.gateway.context import GatewayError
from tollhouse.gateway.keystore import KeyStore, StorageUnavailable


async def stored_key(keys: KeyStore, key_hash: str) -> SessionState | None:
    try:
        return await keys.get(key_hash)
    except StorageUnavailable as exc:
        raise GatewayError(503, str(exc)) from None
