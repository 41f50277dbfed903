"""TLS pieces without a network: certificate names for SNI, settings checks, upstream contexts, the mTLS check.

End to end (SNI, client certificates, https upstreams): tests/integration/test_tls.py.
"""

import asyncio
import hashlib
import ssl

import pytest

from tests.gateways import toml_value
from tests.tls_certs import TestCa
from tollhouse.core.apidef import parse_definition
from tollhouse.core.apidef_tls import ProxyTransport
from tollhouse.core.settings import SettingsError, load_settings
from tollhouse.gateway.compiled import compile_api
from tollhouse.gateway.context import GatewayError
from tollhouse.gateway.middleware.mutual_tls import MutualTls
from tollhouse.gateway.settings import GatewaySettings
from tollhouse.gateway.tls import TlsSetupError, certificate_names, server_context
from tollhouse.gateway.upstream_tls import UpstreamTls

BASE = {"app_path": "/tmp/apps", "secret": "s" * 32, "key_hash_secret": "k" * 32}


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    return TestCa(tmp_path_factory.mktemp("pki"))


def test_certificate_names(ca):
    issued = ca.issue("many", dns=["API.example.com", "*.apps.example.com"], ips=["127.0.0.1"])
    assert certificate_names(issued.cert_file, "x") == ["api.example.com", "*.apps.example.com"]
    # No subjectAltName: the common name stands for the host.
    assert certificate_names(ca.issue("cn-only.example.com").cert_file, "x") == ["cn-only.example.com"]


def settings(**values) -> GatewaySettings:
    return GatewaySettings(**BASE, **values)


@pytest.mark.parametrize(("values", "words"), [
    ({"use_ssl": True}, "use_ssl needs at least one entry in tls_certificates"),
    ({"tls_client_ca_file": "/ca.pem"}, "tls_client_ca_file needs use_ssl"),
    ({"tls_min_version": "1.1"}, "tls_min_version"),
    ({"use_ssl": True, "tls_certificates": [{"cert_file": "/c.pem"}]}, "key_file"),
])
def test_settings_refused(tmp_path, values, words):
    config = tmp_path / "gateway.toml"
    config.write_text("".join(f"{key} = {toml_value(value)}\n" for key, value in {**BASE, **values}.items()))
    with pytest.raises(SettingsError, match=words):
        load_settings(GatewaySettings, config, "TOLLHOUSE_GATEWAY_", {})


def test_unusable_certificate_files_name_the_setting(ca, tmp_path):
    good = ca.issue("good", dns=["good.test"])
    missing = {"cert_file": str(tmp_path / "missing.pem"), "key_file": str(good.key_file)}
    with pytest.raises(TlsSetupError, match=r"tls_certificates\.1\.cert_file"):
        server_context(settings(use_ssl=True, tls_certificates=[
            {"cert_file": str(good.cert_file), "key_file": str(good.key_file)}, missing]))
    other = ca.issue("other", dns=["other.test"])
    mismatched = {"cert_file": str(good.cert_file), "key_file": str(other.key_file)}
    with pytest.raises(TlsSetupError, match=r"tls_certificates\.0: cannot load"):
        server_context(settings(use_ssl=True, tls_certificates=[mismatched]))


def test_client_certificates_asked_for_only_with_a_client_ca(ca):
    good = ca.issue("server", dns=["server.test"])
    entry = [{"cert_file": str(good.cert_file), "key_file": str(good.key_file)}]
    assert server_context(settings(use_ssl=True, tls_certificates=entry)).verify_mode == ssl.CERT_NONE
    asking = server_context(settings(use_ssl=True, tls_certificates=entry, tls_client_ca_file=str(ca.cert_file)))
    assert asking.verify_mode == ssl.CERT_OPTIONAL


def test_upstream_contexts():
    tls = UpstreamTls()
    assert tls.default.verify_mode == ssl.CERT_REQUIRED and tls.default.check_hostname
    assert tls.for_transport(ProxyTransport()) is None  # the gateway's context, the pool's own connections
    skip = tls.for_transport(ProxyTransport(ssl_insecure_skip_verify=True))
    assert skip.verify_mode == ssl.CERT_NONE and not skip.check_hostname
    assert tls.for_transport(ProxyTransport(ssl_insecure_skip_verify=True)) is skip  # equal options: shared
    strict = tls.for_transport(ProxyTransport(ssl_min_version=772))
    assert strict.minimum_version == ssl.TLSVersion.TLSv1_3 and strict.verify_mode == ssl.CERT_REQUIRED
    assert UpstreamTls(insecure_skip_verify=True).default.verify_mode == ssl.CERT_NONE


class _Request:
    def __init__(self, peer_cert):
        self.peer_cert = peer_cert


class _Ctx:
    def __init__(self, peer_cert):
        self.request = _Request(peer_cert)


def mutual_tls(allowed: list[str], requested: bool = True) -> MutualTls:
    raw = {"api_id": "a", "name": "a", "use_keyless": True, "use_mutual_tls_auth": True,
           "client_certificates": allowed, "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9/"}}
    return MutualTls(compile_api(parse_definition(raw), raw), requested)


def test_mutual_tls_check():
    allowed_der, other_der = b"allowed certificate", b"other certificate"
    check = mutual_tls([hashlib.sha256(allowed_der).hexdigest()])
    asyncio.run(check(_Ctx(allowed_der)))
    with pytest.raises(GatewayError) as refused:
        asyncio.run(check(_Ctx(None)))
    assert (refused.value.status, refused.value.message) == (403, "Client TLS certificate is required")
    with pytest.raises(GatewayError) as refused:
        asyncio.run(check(_Ctx(other_der)))
    assert refused.value.message == f"Certificate with SHA256 hash {hashlib.sha256(other_der).hexdigest()} not allowed"


def test_mutual_tls_needs_a_listener_that_asks_for_certificates():
    with pytest.raises(ValueError, match="tls_client_ca_file"):
        mutual_tls(["ab" * 32], requested=False)


def test_check_config_loads_the_tls_files_the_settings_name(ca, tmp_path, capsys):
    """``tollhouse-gateway --check-config`` (the role's handler, run as the service's user) fails on files serving
    would fail on, naming the setting, and passes on good ones."""
    from tollhouse.gateway.main import main

    good, other = ca.issue("good", dns=["good.test"]), ca.issue("other", dns=["other.test"])

    def check(**values) -> tuple[int, str]:
        config = tmp_path / "gateway.toml"
        config.write_text("".join(f"{key} = {toml_value(value)}\n" for key, value in {**BASE, **values}.items()))
        with pytest.raises(SystemExit) as exit_info:
            main(["--config", str(config), "--check-config"])
        return exit_info.value.code, capsys.readouterr().err

    pair = {"cert_file": str(good.cert_file), "key_file": str(good.key_file)}
    assert check(use_ssl=True, tls_certificates=[pair])[0] == 0
    code, error = check(use_ssl=True, tls_certificates=[{**pair, "key_file": str(other.key_file)}])
    assert code == 2 and "tls_certificates.0: cannot load" in error
    code, error = check(proxy_ssl_ca_file=str(tmp_path / "no-such-ca.pem"))
    assert code == 2 and "proxy_ssl_ca_file: cannot load" in error
