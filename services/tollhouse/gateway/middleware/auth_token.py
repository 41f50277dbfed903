"""Auth token (Tyk's "standard auth"): the key is the credential, looked up by its hash in Redis."""

from __future__ import annotations

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.credentials import find_credential, strip_credential
from tollhouse.gateway.keystore import KeyStore, StorageUnavailable

MISSING = "Authorization field missing"
UNKNOWN = "Access to this API has been disallowed"


class TokenAuth:
    def __init__(self, api: CompiledApi, keys: KeyStore):
        self.config = api.definition.auth_config("authToken")
        self.strip = api.definition.strip_auth_data
        self.keys = keys

    async def __call__(self, ctx: RequestContext) -> None:
        credential = find_credential(ctx.request, self.config)
        if credential is None or not credential.value:
            raise GatewayError(401, MISSING)
        key_hash = self.keys.hash(credential.value)
        try:
            session = await self.keys.get(key_hash)
        except StorageUnavailable as exc:
            raise GatewayError(503, str(exc)) from None
        if session is None:
            raise GatewayError(403, UNKNOWN)
        ctx.api_key_hash = key_hash
        ctx.session = session
        if self.strip:
            strip_credential(ctx.request, credential)
