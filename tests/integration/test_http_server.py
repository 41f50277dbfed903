"""The client-facing HTTP/1.1 server against raw sockets: framing, keep-alive, limits, timeouts."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from tests.upstream import GatewayThread, HttpClient
from tollhouse.gateway.http.server import ServerLimits

FAST_LIMITS = ServerLimits(max_header_bytes=4096, max_header_count=20, header_timeout=0.5, body_timeout=0.5,
                           keepalive_timeout=0.5)


async def echo_handler(request, response):
    """Answers with what it read; ``/chunked`` answers without a length, ``/noread`` skips the body."""
    if request.path == "/boom":
        raise RuntimeError("handler bug")
    if request.path == "/boom-late":
        await response.send_head(200, [], None)
        await response.send_body(b"partial")
        raise RuntimeError("handler bug after the head")
    if request.path.startswith("/sleep/"):
        await asyncio.sleep(float(request.path.rsplit("/", 1)[1]))
    size, digest = 0, hashlib.sha256()
    if request.path != "/noread":
        async for chunk in request.body:
            size += len(chunk)
            digest.update(chunk)
    text = f"{request.method} {request.path} {request.query} {size} {digest.hexdigest()[:16]}".encode()
    if request.path == "/chunked":
        await response.send_head(200, [("content-type", "text/plain")])
        await response.send_body(text[:5])
        await response.send_body(text[5:])
        await response.finish()
    else:
        await response.send_json(200, {"echo": text.decode()})


@pytest.fixture(scope="module")
def server():
    with GatewayThread(lambda: echo_handler) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def fast_server():
    with GatewayThread(lambda: echo_handler, FAST_LIMITS) as gateway:
        yield gateway


def test_keep_alive_serves_many_requests_on_one_connection(server):
    with HttpClient(server.port) as client:
        for i in range(20):
            reply = client.request("GET", f"/item/{i}?q={i}")
            assert reply.status == 200
            assert reply.json()["echo"].startswith(f"GET /item/{i} q={i} 0 ")
            assert reply.header("connection") is None


def test_pipelined_requests_are_answered_in_order(server):
    with HttpClient(server.port) as client:
        # The first is the slowest: its answer must still come first.
        client.send(b"GET /sleep/0.2 HTTP/1.1\r\nHost: a\r\n\r\n"
                    b"POST /second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                    b"GET /third HTTP/1.1\r\nHost: a\r\n\r\n")
        paths = [client.read_reply().json()["echo"].split()[1] for _ in range(3)]
        assert paths == ["/sleep/0.2", "/second", "/third"]


def test_chunked_request_and_response_bodies(server):
    body = b"x" * 100_000
    with HttpClient(server.port) as client:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7000]), body[i:i + 7000])
                          for i in range(0, len(body), 7000))
        client.send(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
                    + b"0\r\nX-Trailer: t\r\n\r\n")
        reply = client.read_reply()
        assert reply.header("transfer-encoding") == "chunked"
        assert reply.body.decode() == f"POST /chunked  100000 {hashlib.sha256(body).hexdigest()[:16]}"
        # The connection stays usable after a chunked exchange.
        assert client.request("GET", "/after").status == 200


def test_http10_without_length_is_close_delimited(server):
    with HttpClient(server.port) as client:
        client.send(b"GET /chunked HTTP/1.0\r\n\r\n")
        reply = client.read_reply()
        assert reply.header("transfer-encoding") is None and reply.header("connection") == "close"
        assert reply.body.startswith(b"GET /chunked")


def test_head_response_has_no_body(server):
    with HttpClient(server.port) as client:
        reply = client.request("HEAD", "/x")
        assert reply.status == 200 and int(reply.header("content-length")) > 0
        assert client.request("GET", "/next").status == 200  # no stray body bytes in between


def test_expect_100_continue_sent_when_the_handler_reads(server):
    with HttpClient(server.port) as client:
        client.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = client.read_reply()
        assert interim.status == 100
        client.send(b"hello")
        reply = client.read_reply()
        assert reply.status == 200 and " 5 " in reply.json()["echo"]
        assert client.request("GET", "/again").status == 200


def test_expect_100_continue_unread_body_closes_the_connection(server):
    with HttpClient(server.port) as client:
        client.send(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        reply = client.read_reply()
        assert reply.status == 200 and reply.header("connection") == "close"
        assert client.closed_by_peer()


@pytest.mark.parametrize("head", [
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET / HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n folded\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
], ids=["cl+te", "te+cl", "two-cl", "cl-list", "te-gzip", "te-not-last-chunked", "te-http10", "te-space",
        "two-hosts", "no-host", "bare-lf", "obs-fold", "garbage", "http2"])
def test_ambiguous_or_malformed_requests_get_400_and_close(server, head):
    with HttpClient(server.port) as client:
        client.send(head + b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        reply = client.read_reply()
        assert reply.status in (400, 505)
        assert "error" in reply.json()
        assert reply.header("connection") == "close"
        assert client.closed_by_peer()


def test_bad_chunk_mid_body_fails_the_request(server):
    with HttpClient(server.port) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
        reply = client.read_reply()
        assert reply.status == 400 and "error" in reply.json()
        assert client.closed_by_peer()


def test_oversized_header_gets_431_and_close(fast_server):
    with HttpClient(fast_server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        reply = client.read_reply()
        assert reply.status == 431 and "error" in reply.json()
        assert client.closed_by_peer()


def test_endless_header_line_gets_431_before_it_ends(fast_server):
    with HttpClient(fast_server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
        for _ in range(8):
            client.send(b"a" * 1024)
        reply = client.read_reply()
        assert reply.status == 431


def test_too_many_headers_get_431(fast_server):
    with HttpClient(fast_server.port) as client:
        extra = b"".join(b"X-%d: 1\r\n" % i for i in range(30))
        client.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + extra + b"\r\n")
        assert client.read_reply().status == 431


def test_handler_exception_before_head_is_500_json(server):
    with HttpClient(server.port) as client:
        reply = client.request("GET", "/boom")
        assert reply.status == 500 and reply.json() == {"error": "internal server error"}


def test_handler_exception_after_head_aborts_the_connection(server):
    with HttpClient(server.port) as client:
        client.send(b"GET /boom-late HTTP/1.1\r\nHost: a\r\n\r\n")
        with pytest.raises((ConnectionError, ValueError)):
            client.read_reply()  # the chunked body never ends: the connection is cut instead


def test_idle_keep_alive_connection_is_closed(fast_server):
    with HttpClient(fast_server.port) as client:
        assert client.request("GET", "/").status == 200
        started = time.monotonic()
        assert client.closed_by_peer(timeout=5)
        assert time.monotonic() - started < 2


def test_slow_header_is_timed_out(fast_server):
    with HttpClient(fast_server.port) as client:
        client.send(b"GET / HTTP/1.1\r\nHost: a\r\n")  # never finished
        started = time.monotonic()
        reply = client.read_reply()
        assert reply.status == 408
        assert client.closed_by_peer()
        assert time.monotonic() - started < 2


def test_stalled_body_is_timed_out(fast_server):
    with HttpClient(fast_server.port) as client:
        client.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly-part")
        started = time.monotonic()
        reply = client.read_reply()
        assert reply.status == 408 and "error" in reply.json()
        assert client.closed_by_peer()
        assert time.monotonic() - started < 2


def test_connection_close_request_closes_after_its_response(server):
    with HttpClient(server.port) as client:
        reply = client.request("GET", "/bye", [("connection", "close")])
        assert reply.status == 200 and reply.header("connection") == "close"
        assert client.closed_by_peer()


def test_http10_keep_alive(server):
    with HttpClient(server.port) as client:
        client.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reply = client.read_reply()
        assert reply.header("connection") == "keep-alive"
        client.send(b"GET /b HTTP/1.0\r\n\r\n")
        assert client.read_reply().header("connection") == "close"
        assert client.closed_by_peer()
