"""``use_mutual_tls_auth``: the client's TLS certificate must be one the API lists (Tyk's certificate check).

The listener asks for a certificate (``tls_client_ca_file``) and the TLS handshake has already checked that it
chains to those CAs; here the API decides whether this certificate, by SHA-256 fingerprint, is allowed.
"""

from __future__ import annotations

import hashlib

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext

# Tyk's answers (mw_certificate_check / crypto.ValidateRequestCerts).
CERTIFICATE_REQUIRED = "Client TLS certificate is required"


class MutualTls:
    def __init__(self, api: CompiledApi, client_certificates_requested: bool):
        if not client_certificates_requested:
            raise ValueError("use_mutual_tls_auth needs a gateway that asks for client certificates "
                             "(use_ssl with tls_client_ca_file)")
        self.allowed = frozenset(api.definition.client_certificates)

    async def __call__(self, ctx: RequestContext) -> None:
        certificate = ctx.request.peer_cert
        if certificate is None:
            raise GatewayError(403, CERTIFICATE_REQUIRED)
        fingerprint = hashlib.sha256(certificate).hexdigest()
        if fingerprint not in self.allowed:
            raise GatewayError(403, f"Certificate with SHA256 hash {fingerprint} not allowed")
