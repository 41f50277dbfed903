"""Auth token (Tyk's "standard auth"): the key is the credential, looked up by its hash in Redis.

On an API whose requests go through the limit check (``confirmed_later``), a key this process has read
before is not read again here: its last read is used, and the limit check's one Redis script confirms in
the same call that the stored key is byte for byte what was read (else nothing is counted and the request
runs again with a fresh read — ``KeyChanged``; a request refused before that confirmation is decided again
on a fresh read too, in ``GatewayApp.handle``). One Redis round trip per keyed request instead of two.
"""

from __future__ import annotations

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.credentials import find_credential, strip_credential
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.stored_key import stored_key

MISSING = "Authorization field missing"
UNKNOWN = "Access to this API has been disallowed"


class TokenAuth:
    def __init__(self, api: CompiledApi, keys: KeyStore, *, confirmed_later: bool = False):
        self.config = api.definition.auth_config("authToken")
        self.strip = api.definition.strip_auth_data
        self.keys = keys
        self.confirmed_later = confirmed_later

    async def __call__(self, ctx: RequestContext) -> None:
        credential = ctx.credential or find_credential(ctx.request, self.config)
        if credential is None or not credential.value:
            raise GatewayError(401, MISSING)
        key_hash = self.keys.hash(credential.value)
        last = self.keys.last_read(key_hash) if self.confirmed_later and not ctx.reread_key else None
        if last is not None:
            ctx.key_digest, session = last
        else:
            session = await stored_key(self.keys, key_hash)
        if session is None:
            raise GatewayError(403, UNKNOWN)
        ctx.api_key_hash = key_hash
        ctx.session = session
        ctx.credential = credential
        if self.strip:
            strip_credential(ctx.request, credential)
