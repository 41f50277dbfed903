"""Streamed answers pass through unbuffered: each event reaches the client while the upstream waits for it.

The upstream (a socket server in a thread) sends one event, then waits until the test has received that
event before it sends the next. Had the gateway held anything back, the test would never see the event and
the upstream would never go on: the test fails on its read timeout.
"""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

EVENTS = 4
HEADS = {
    "sse-chunked": b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                   b"transfer-encoding: chunked\r\n\r\n",
    "sse-until-close": b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
    "chunked-octets": b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\n"
                      b"transfer-encoding: chunked\r\n\r\n",
}


def event(number: int) -> bytes:
    return b"id: %d\nevent: tick\ndata: {\"n\": %d}\n\n" % (number, number)


class SteppedUpstream:
    """Answers each request in the mode its path names, one event per ``received[n]`` the test sets."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received = [threading.Event() for _ in range(EVENTS)]
        self.errors: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            mode = head.split(b" ")[1].decode().rsplit("/", 1)[1]
            conn.sendall(HEADS[mode])
            for number in range(EVENTS):
                data = event(number)
                conn.sendall(b"%x\r\n%s\r\n" % (len(data), data) if "chunked" in mode else data)
                if not self.received[number].wait(15):
                    self.errors.append(f"event {number} did not reach the client")
                    return
            if "chunked" in mode:
                conn.sendall(b"0\r\n\r\n")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def stepped():
    upstream = SteppedUpstream()
    yield upstream
    upstream.close()


@pytest.mark.parametrize("mode", list(HEADS))
def test_each_event_reaches_the_client_before_the_next_is_sent(start_file_gateway, stepped, mode):
    gateway = start_file_gateway(apis=[{
        "api_id": "stream", "name": "stream", "use_keyless": True,
        "proxy": {"listen_path": "/stream/", "target_url": f"http://127.0.0.1:{stepped.port}",
                  "strip_listen_path": True}}])
    got = b""
    with httpx.stream("GET", f"{gateway.url}/stream/{mode}", timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == HEADS[mode].split(b"content-type: ")[1].split(b"\r\n")[0].decode()
        chunks = response.iter_raw()
        for number in range(EVENTS):
            while event(number) not in got:
                got += next(chunks)
            stepped.received[number].set()
        got += b"".join(chunks)
    assert got == b"".join(event(number) for number in range(EVENTS))
    assert stepped.errors == []
