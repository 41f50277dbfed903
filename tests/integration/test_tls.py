"""TLS on the gateway: certificates by SNI, mutual TLS per API, and verification of https upstreams.

Every certificate is made at test time (tests/tls_certs.py): a test CA signs the gateway's certificates for two
names, the clients' certificates and an https upstream's.
"""

from __future__ import annotations

import socket
import ssl
import threading

import httpx
import pytest
from websockets.sync.client import connect
from websockets.sync.server import serve

from tests.tls_certs import TestCa, self_signed
from tests.upstream import tls_upstream_server


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = TestCa(directory)
    return {
        "ca": ca,
        "alpha": ca.issue("alpha", dns=["alpha.test"], ips=["127.0.0.1"]),
        "beta": ca.issue("beta", dns=["beta.test", "*.beta.test"]),
        "allowed": ca.issue("allowed-client", client=True),
        "other": ca.issue("other-client", client=True),
        "stranger": self_signed(directory, "stranger"),
        "upstream": ca.issue("upstream", dns=["localhost"], ips=["127.0.0.1"]),
    }


def keyless(api_id: str, target_url: str, **fields) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": target_url, "strip_listen_path": True}, **fields}


@pytest.fixture
def tls_gateway(start_file_gateway, upstream, pki):
    target = f"http://127.0.0.1:{upstream.port}"
    return start_file_gateway(
        apis=[keyless("open", target),
              keyless("mtls", target, use_mutual_tls_auth=True,
                      # A Tyk certificate id: the org id, then the fingerprint.
                      client_certificates=["org1" + pki["allowed"].fingerprint])],
        use_ssl=True, tls_min_version="1.2", tls_client_ca_file=str(pki["ca"].cert_file),
        tls_certificates=[{"cert_file": str(pki[name].cert_file), "key_file": str(pki[name].key_file)}
                          for name in ("alpha", "beta")])


def client_context(pki, certificate: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"].cert_file))
    if certificate is not None:
        context.load_cert_chain(*pki[certificate].pair)
    return context


@pytest.mark.parametrize(("server_name", "served"), [
    ("alpha.test", "alpha"), ("beta.test", "beta"), ("api.beta.test", "beta"), ("BETA.test", "beta"),
    ("unknown.test", "alpha"), (None, "alpha"),
])
def test_sni_picks_the_certificate_for_the_name(tls_gateway, pki, server_name, served):
    context = client_context(pki)
    context.check_hostname = False  # which certificate came is the question, not whether it matches
    with socket.create_connection(("127.0.0.1", tls_gateway.process.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der == ssl.PEM_cert_to_DER_cert(pki[served].cert_file.read_text())


@pytest.mark.parametrize(("path", "certificate", "status", "error"), [
    ("/open/echo", None, 200, None),
    ("/open/echo", "other", 200, None),
    ("/mtls/echo", None, 403, "Client TLS certificate is required"),
    ("/mtls/echo", "other", 403, "Certificate with SHA256 hash {other} not allowed"),
    ("/mtls/echo", "allowed", 200, None),
])
def test_mutual_tls_per_api(tls_gateway, pki, path, certificate, status, error):
    with httpx.Client(verify=client_context(pki, certificate), timeout=10) as client:
        response = client.get(f"{tls_gateway.url}{path}")
    assert response.status_code == status
    if error is not None:
        assert response.json() == {"error": error.format(other=pki["other"].fingerprint)}
    else:
        seen = dict(response.json()["headers"])
        assert seen["x-forwarded-proto"] == "https"


def test_a_client_certificate_from_another_ca_fails_the_handshake(tls_gateway, pki):
    with httpx.Client(verify=client_context(pki, "stranger"), timeout=10) as client, \
            pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(f"{tls_gateway.url}/open/echo")


def test_plain_http_to_the_tls_port_gets_no_answer(tls_gateway):
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{tls_gateway.process.port}/open/echo", timeout=5)


def test_websocket_over_tls(start_file_gateway, pki):
    def echo(ws):
        for message in ws:
            ws.send(message)

    server = serve(echo, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway = start_file_gateway(
            apis=[keyless("ws", f"http://127.0.0.1:{server.socket.getsockname()[1]}")], use_ssl=True,
            tls_certificates=[{"cert_file": str(pki["alpha"].cert_file), "key_file": str(pki["alpha"].key_file)}])
        with connect(f"wss://127.0.0.1:{gateway.process.port}/ws/echo", ssl=client_context(pki)) as ws:
            for message in ("over tls", b"\x01" * 200_000):
                ws.send(message)
                assert ws.recv(timeout=10) == message
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def https_upstream(tmp_path_factory, pki):
    server = tls_upstream_server(tmp_path_factory.mktemp("https-upstream"), *pki["upstream"].pair).start()
    yield server
    server.stop()


@pytest.mark.parametrize(("settings", "transport", "status"), [
    ({}, {}, 502),
    ({}, {"ssl_insecure_skip_verify": True}, 200),
    ({"proxy_ssl_insecure_skip_verify": True}, {}, 200),
    ({"proxy_ssl_ca_file": "CA"}, {}, 200),
    ({"proxy_ssl_ca_file": "CA"}, {"ssl_min_version": 772, "ssl_ciphers": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]},
     200),
], ids=["unknown-ca-refused", "api-skips-verify", "gateway-skips-verify", "ca-file", "ca-file-tls13"])
def test_https_upstream_verification(start_file_gateway, https_upstream, pki, settings, transport, status):
    settings = {key: str(pki["ca"].cert_file) if value == "CA" else value for key, value in settings.items()}
    api = keyless("up", f"https://127.0.0.1:{https_upstream.port}")
    api["proxy"]["transport"] = transport
    gateway = start_file_gateway(apis=[api], **settings)
    response = httpx.post(f"{gateway.url}/up/echo", content=b"over tls", timeout=10)
    assert response.status_code == status
    if status == 200:
        assert response.json()["body_length"] == 8
    else:
        assert "certificate verify failed" in response.json()["error"]
