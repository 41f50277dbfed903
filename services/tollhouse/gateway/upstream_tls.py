"""TLS contexts for https upstreams: the gateway's own, and one per distinct ``proxy.transport`` of the APIs.

The gateway's context verifies upstream certificates against ``proxy_ssl_ca_file`` (else the system's CAs) unless
``proxy_ssl_insecure_skip_verify``. An API's transport options start from it; APIs with equal options share one
context, and so their kept-alive connections (the pool keys connections by context).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from tollhouse.core.apidef_tls import CIPHERS, TLS_VERSIONS, ProxyTransport

DEFAULT_OPTIONS = ProxyTransport().tls_options


class UpstreamTls:
    def __init__(self, ca_file: Path | None = None, insecure_skip_verify: bool = False):
        self._ca_file = ca_file
        self._skip_verify = insecure_skip_verify
        self.default = self._build(DEFAULT_OPTIONS)
        self._contexts: dict[tuple, ssl.SSLContext] = {}

    def for_transport(self, transport: ProxyTransport) -> ssl.SSLContext | None:
        """The context for an API's transport options; None when they are the gateway's."""
        options = transport.tls_options
        if options == DEFAULT_OPTIONS:
            return None
        context = self._contexts.get(options)
        if context is None:
            context = self._contexts[options] = self._build(options)
        return context

    def _build(self, options: tuple) -> ssl.SSLContext:
        skip_verify, ciphers, min_version, max_version = options
        context = ssl.create_default_context(cafile=self._ca_file)
        if skip_verify or self._skip_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if ciphers:
            context.set_ciphers(":".join(CIPHERS[name] for name in ciphers))
        if min_version:
            context.minimum_version = ssl.TLSVersion[f"TLSv1_{TLS_VERSIONS[min_version][-1]}"]
        if max_version:
            context.maximum_version = ssl.TLSVersion[f"TLSv1_{TLS_VERSIONS[max_version][-1]}"]
        return context
