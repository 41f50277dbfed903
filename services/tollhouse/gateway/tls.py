"""TLS on the gateway's listener: one certificate per domain from settings, picked by the name asked for (SNI).

Each certificate gets its own context with the same settings; the first is the default, served to clients that
name no host or a host no certificate covers. A certificate covers the DNS names in its subjectAltName (or its
common name when it has none), ``*.example.com`` covering one label below example.com.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from tollhouse.gateway.settings import GatewaySettings, TlsCertificate
from tollhouse.gateway.upstream_tls import UpstreamTls

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


class TlsSetupError(ValueError):
    """A certificate, key or CA file in the settings cannot be used; the message names the setting."""


def load_tls_files(settings: GatewaySettings) -> None:
    """Load every certificate, key and CA file the settings name, as serving would (``--check-config``)."""
    if settings.use_ssl:
        server_context(settings)
    try:
        UpstreamTls(settings.proxy_ssl_ca_file, settings.proxy_ssl_insecure_skip_verify)
    except (OSError, ValueError) as exc:
        raise TlsSetupError(f"proxy_ssl_ca_file: cannot load {settings.proxy_ssl_ca_file}: {exc}") from None


def server_context(settings: GatewaySettings) -> ssl.SSLContext:
    """The listener's context: the first certificate's, switching to another by SNI."""
    contexts: list[tuple[list[str], ssl.SSLContext]] = []
    for index, entry in enumerate(settings.tls_certificates):
        contexts.append((certificate_names(entry.cert_file, f"tls_certificates.{index}"),
                         _context(entry, settings, f"tls_certificates.{index}")))
    default = contexts[0][1]
    exact: dict[str, ssl.SSLContext] = {}
    wildcards: dict[str, ssl.SSLContext] = {}
    for names, context in contexts:
        for name in names:
            table = wildcards if name.startswith("*.") else exact
            table.setdefault(name.removeprefix("*."), context)  # the first certificate naming a host wins

    def pick(tls: ssl.SSLObject, server_name: str | None, _: ssl.SSLContext) -> None:
        if not server_name:
            return
        name = server_name.lower().rstrip(".")
        context = exact.get(name) or wildcards.get(name.partition(".")[2])
        if context is not None and context is not default:
            tls.context = context

    if len(contexts) > 1:
        default.sni_callback = pick
    return default


def _context(entry: TlsCertificate, settings: GatewaySettings, where: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[settings.tls_min_version]
    context.set_alpn_protocols(["http/1.1"])
    try:
        if settings.tls_ciphers:
            context.set_ciphers(settings.tls_ciphers)
    except ssl.SSLError as exc:
        raise TlsSetupError(f"tls_ciphers: no usable cipher in {settings.tls_ciphers!r} ({exc})") from None
    try:
        context.load_cert_chain(entry.cert_file, entry.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"{where}: cannot load {entry.cert_file} with {entry.key_file}: {exc}") from None
    if settings.tls_client_ca_file is not None:
        # Optional, so APIs without use_mutual_tls_auth still serve clients that have no certificate; a
        # certificate sent must chain to these CAs, and the API's allow list decides (middleware/mutual_tls.py).
        context.verify_mode = ssl.CERT_OPTIONAL
        try:
            context.load_verify_locations(cafile=settings.tls_client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(f"tls_client_ca_file: cannot load {settings.tls_client_ca_file}: {exc}") from None
    return context


def certificate_names(path: Path, where: str) -> list[str]:
    """The DNS names a PEM certificate is for, lowercased."""
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise TlsSetupError(f"{where}.cert_file: cannot read a PEM certificate from {path}: {exc}") from None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        found = [attribute.value for attribute in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    return [str(name).lower() for name in found]
