"""An API definition's TLS fields: mutual TLS with clients, and how its https upstream is verified.

- ``use_mutual_tls_auth`` + ``client_certificates`` (Tyk's names): the client must present a certificate
  whose SHA-256 fingerprint is listed. Tyk lists certificate ids (the org id followed by that fingerprint);
  Tollhouse takes a fingerprint in hex (colons allowed) or a Tyk id, and keeps the fingerprint. The gateway must
  terminate TLS and ask for client certificates (``tls_client_ca_file``), which must chain to those CAs.
- ``proxy.transport`` (Tyk's shape): ``ssl_insecure_skip_verify``, ``ssl_ciphers`` (Go's cipher suite names,
  for TLS 1.2), ``ssl_min_version`` / ``ssl_max_version`` (Tyk's numbers: 771 TLS 1.2, 772 TLS 1.3). Fields
  Tollhouse cannot honour (``proxy_url``, ``ssl_force_common_name_check``) are refused rather than ignored.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator

FINGERPRINT = re.compile(r"[0-9a-f]{64}$")
# Tyk's ssl_min_version / ssl_max_version numbers (Go's tls.VersionTLS12, VersionTLS13).
TLS_VERSIONS = {771: "1.2", 772: "1.3"}
# Go's TLS 1.2 cipher suite names (what Tyk's ssl_ciphers take) -> OpenSSL's.
CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}


def certificate_fingerprint(entry: str) -> str:
    """The SHA-256 fingerprint (lowercase hex) a ``client_certificates`` entry names."""
    text = entry.strip().lower().replace(":", "")
    match = FINGERPRINT.search(text)
    if match is None:
        raise ValueError("must be a certificate's SHA-256 fingerprint (64 hex digits, colons allowed) or a Tyk "
                         "certificate id ending in one")
    return match.group()


ClientCertificate = Annotated[str, AfterValidator(certificate_fingerprint)]


class ProxyTransport(BaseModel):
    """Tyk's ``proxy.transport``: TLS towards the API's https upstream."""

    model_config = ConfigDict(extra="allow")

    ssl_insecure_skip_verify: bool = False
    ssl_ciphers: list[str] = []
    ssl_min_version: int = 0
    ssl_max_version: int = 0
    ssl_force_common_name_check: bool = False
    proxy_url: str = ""

    @field_validator("ssl_ciphers")
    @classmethod
    def _ciphers(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in CIPHERS:
                raise ValueError(f"{name!r} is not a TLS 1.2 cipher suite name Tollhouse knows (Go's names, "
                                 "e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)")
        return value

    @field_validator("ssl_min_version", "ssl_max_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value and value not in TLS_VERSIONS:
            raise ValueError("must be 771 (TLS 1.2) or 772 (TLS 1.3); older versions are not supported")
        return value

    @field_validator("ssl_force_common_name_check")
    @classmethod
    def _common_name(cls, value: bool) -> bool:
        if value:
            raise ValueError("is not supported: upstream certificates are checked against their subjectAltName")
        return value

    @field_validator("proxy_url")
    @classmethod
    def _proxy_url(cls, value: str) -> str:
        if value:
            raise ValueError("is not supported: upstreams are reached directly, not through a forward proxy")
        return value

    @property
    def tls_options(self) -> tuple:
        """What the TLS context depends on (equal options share one context and its connections)."""
        return (self.ssl_insecure_skip_verify, tuple(self.ssl_ciphers), self.ssl_min_version, self.ssl_max_version)
