"""``forward`` end to end: raw client -> gateway (in a thread) -> the real upstream (uvicorn)."""

from __future__ import annotations

import hashlib
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from tests.servers import free_port, rss_kib
from tests.upstream import BLOCK, GatewayThread, HttpClient, gateway_server, pattern, tls_upstream_server
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.proxy import UpstreamTarget, forward


def proxy(port: int, pools: list, scheme: str = "http", host: str = "127.0.0.1", **pool_options):
    """A handler factory forwarding everything to host:port; the pool made is kept in ``pools``."""
    target = UpstreamTarget(scheme, host, port, f"{host}:{port}")

    def factory():
        pool = UpstreamPool(**pool_options)
        pools.append(pool)

        async def handler(request, response):
            await forward(request, response, pool, target, request.target)

        return handler

    return factory


@pytest.fixture(scope="module")
def gateway(upstream):
    pools = []
    with GatewayThread(proxy(upstream.port, pools, read_timeout=1.0)) as thread:
        thread.pool = pools[0]
        yield thread


def test_method_path_query_and_headers_reach_the_upstream(gateway, upstream):
    with HttpClient(gateway.port) as client:
        reply = client.request("PATCH", "/echo/a%2Fb/c?x=1&y=%20z", [
            ("x-forwarded-for", "10.0.0.1"), ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "drop"), ("keep-alive", "300"), ("proxy-authorization", "Basic eA=="),
            ("te", "trailers"), ("upgrade", "h2c"), ("x-custom", "kept")], body=b"abc")
    assert reply.status == 200
    seen = reply.json()
    assert seen["method"] == "PATCH"
    assert seen["raw_path"] == "/echo/a%2Fb/c" and seen["query"] == "x=1&y=%20z"
    headers = dict(seen["headers"])
    assert headers["host"] == f"127.0.0.1:{upstream.port}"
    assert headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-host"] == "test"
    assert headers["x-custom"] == "kept"
    for hop in ("x-secret-hop", "keep-alive", "proxy-authorization", "te", "upgrade"):
        assert hop not in headers
    assert seen["body_length"] == 3


def test_preserve_host(upstream):
    target = UpstreamTarget("http", "127.0.0.1", upstream.port, "ignored")

    def factory():
        pool = UpstreamPool()

        async def handler(request, response):
            await forward(request, response, pool, target, request.target, preserve_host=True)

        return handler

    with GatewayThread(factory) as thread, HttpClient(thread.port) as client:
        assert dict(client.request("GET", "/echo").json()["headers"])["host"] == "test"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_upstream(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server = tls_upstream_server(tmp_path, cert, key).start()
    try:
        pools = []
        tls = ssl.create_default_context(cafile=str(cert))
        with GatewayThread(proxy(server.port, pools, "https", "localhost", ssl_context=tls)) as thread:
            with HttpClient(thread.port) as client:
                for _ in range(3):
                    reply = client.request("POST", "/echo/tls", body=b"secret")
                    assert reply.status == 200 and reply.json()["body_length"] == 6
            thread.call(pools[0].close)  # a clean TLS goodbye lets the upstream stop at once
    finally:
        server.stop()


def test_response_hop_by_hop_headers_are_removed(gateway):
    with HttpClient(gateway.port) as client:
        reply = client.request("GET", "/hop-headers")
    names = {name for name, _ in reply.headers}
    assert reply.header("x-kept") == "yes" and reply.body == b"ok"
    assert not names & {"keep-alive", "x-listed", "proxy-authenticate", "trailer", "upgrade"}


def test_chunked_upload_is_streamed_to_the_upstream(gateway):
    body = pattern(300_000)
    framed = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50_000]), body[i:i + 50_000])
                      for i in range(0, len(body), 50_000)) + b"0\r\n\r\n"
    with HttpClient(gateway.port) as client:
        client.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + framed)
        seen = client.read_reply().json()
    assert seen["body_length"] == len(body)
    assert seen["body_sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("mode", ["chunked", "length"])
def test_download_arrives_intact(gateway, mode):
    with HttpClient(gateway.port) as client:
        reply = client.request("GET", f"/download?size=1000000&mode={mode}")
        assert reply.status == 200 and reply.body == pattern(1_000_000)
        assert (reply.header("transfer-encoding") == "chunked") == (mode == "chunked")
        assert client.request("HEAD", "/download?size=5").header("content-length") == "5"
        assert client.request("GET", "/status/204").status == 204
        assert client.request("GET", "/echo").status == 200  # still in step after all that


def test_upstream_status_codes_pass_through(gateway):
    with HttpClient(gateway.port) as client:
        for status in (201, 404, 418, 500, 503):
            reply = client.request("GET", f"/status/{status}")
            assert reply.status == status and reply.json() == {"status": status}


def test_pipelined_requests_through_the_proxy(gateway):
    with HttpClient(gateway.port) as client:
        client.send(b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(10)))
        assert [client.read_reply().json()["path"] for _ in range(10)] == [f"/echo/{i}" for i in range(10)]


def test_upstream_connections_are_reused(gateway):
    with HttpClient(gateway.port) as client:
        for _ in range(5):
            client.request("GET", "/echo")
    idle = sum(len(conns) for conns in gateway.pool._idle.values())
    assert idle == 1


def test_refused_upstream_is_502():
    closed_port = free_port()
    with GatewayThread(proxy(closed_port, [])) as thread, HttpClient(thread.port) as client:
        reply = client.request("GET", "/")
        assert reply.status == 502 and "cannot connect" in reply.json()["error"]
        assert client.request("GET", "/").status == 502  # the client connection stays usable


def test_slow_upstream_is_504(gateway):
    with HttpClient(gateway.port) as client:
        started = time.monotonic()
        reply = client.request("GET", "/slow?delay=3")
        assert reply.status == 504 and "timed out" in reply.json()["error"]
        assert time.monotonic() - started < 2.5
        assert client.request("GET", "/echo").status == 200


class RawUpstream:
    """A socket server answering by script: ``answer(request_number_on_connection, data)`` -> bytes or None
    (None closes the connection without answering)."""

    def __init__(self, answer, close_after_answer: bool = False):
        self.answer = answer
        self.close_after_answer = close_after_answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            for number in range(1, 100):
                data = conn.recv(65536)
                if not data:
                    return
                reply = self.answer(number, data)
                if reply is None:
                    return
                conn.sendall(reply)
                if self.close_after_answer:
                    return

    def close(self):
        self.sock.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_stale_pooled_connection_is_retried_once_for_idempotent_requests():
    # Every connection answers one request, then closes on the next without a word: exactly what a
    # kept-alive connection that the upstream timed out looks like when it is reused.
    raw = RawUpstream(lambda number, data: OK if number == 1 else None)
    try:
        with GatewayThread(proxy(raw.port, [])) as thread, HttpClient(thread.port) as client:
            assert client.request("GET", "/").status == 200
            time.sleep(0.05)
            assert client.request("GET", "/").status == 200  # stale, retried on a new connection
            assert raw.connections == 2
            time.sleep(0.05)
            reply = client.request("POST", "/", body=b"data")  # not idempotent: not replayed
            assert reply.status == 502 and "before responding" in reply.json()["error"]
    finally:
        raw.close()


def test_upstream_dying_mid_body_aborts_the_client_connection():
    raw = RawUpstream(lambda number, data: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly ten b",
                      close_after_answer=True)
    try:
        with GatewayThread(proxy(raw.port, [])) as thread, HttpClient(thread.port) as client:
            client.send(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            with pytest.raises(ConnectionError):
                client.read_reply()
    finally:
        raw.close()


def test_invalid_upstream_response_is_502():
    raw = RawUpstream(lambda number, data: b"NOT HTTP AT ALL\r\n\r\n")
    try:
        with GatewayThread(proxy(raw.port, [])) as thread, HttpClient(thread.port) as client:
            reply = client.request("GET", "/")
            assert reply.status == 502 and "invalid response" in reply.json()["error"]
    finally:
        raw.close()


# -- streaming: bodies far larger than the memory the gateway may use -----------------------------

STREAM_SIZE = 128 * 1024 * 1024
MAX_GROWTH_KIB = 40 * 1024  # generous for buffers and allocator slack; buffering a body needs 128 MiB+


def peak_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def test_large_upload_and_download_are_streamed(upstream, tmp_path):
    gateway = gateway_server(tmp_path, upstream.port).start()
    try:
        with HttpClient(gateway.port, timeout=60) as client:
            assert client.request("GET", "/echo").status == 200  # warm up: imports, pools, buffers
            baseline = peak_kib(gateway.pid)

            client.send(b"PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % STREAM_SIZE)
            for _ in range(STREAM_SIZE // len(BLOCK)):
                client.send(BLOCK)
            seen = client.read_reply().json()
            assert seen["body_length"] == STREAM_SIZE
            upload_peak = peak_kib(gateway.pid)

            digest, size = hashlib.sha256(), 0

            def sink(chunk):
                nonlocal size
                size += len(chunk)
                digest.update(chunk)

            client.send(b"GET /download?size=%d&mode=chunked HTTP/1.1\r\nHost: t\r\n\r\n" % STREAM_SIZE)
            assert client.read_reply(sink=sink).status == 200
            assert size == STREAM_SIZE
            download_peak = peak_kib(gateway.pid)
        expected = hashlib.sha256()
        for _ in range(STREAM_SIZE // len(BLOCK)):
            expected.update(BLOCK)
        assert digest.hexdigest() == expected.hexdigest()
        assert seen["body_sha256"] == expected.hexdigest()
        print(f"gateway peak RSS: baseline {baseline} KiB, after upload {upload_peak} KiB, "
              f"after download {download_peak} KiB, now {rss_kib(gateway.pid)} KiB")
        assert upload_peak - baseline < MAX_GROWTH_KIB
        assert download_peak - baseline < MAX_GROWTH_KIB
    finally:
        gateway.stop()
