"""WebSocket proxying end to end: a websockets client -> a gateway process -> a real WebSocket echo upstream."""

from __future__ import annotations

import json
import threading

import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect
from websockets.sync.server import serve

from tests.gateways import keyed, store_key


def _upstream_handler(ws) -> None:
    """/echo: every message back; /greet: a greeting first (bytes right behind the 101); /bye: one message, then
    the upstream closes; /who: the handshake's headers as the upstream saw them."""
    path = ws.request.path.partition("?")[0]
    if path.endswith("/greet"):
        ws.send("hello from upstream")
    elif path.endswith("/bye"):
        ws.send("bye")
        ws.close()
        return
    elif path.endswith("/who"):
        headers = {name.lower(): value for name, value in ws.request.headers.raw_items()}
        ws.send(json.dumps({"target": ws.request.path, "headers": headers}))
    for message in ws:
        ws.send(message)


@pytest.fixture(scope="module")
def ws_upstream():
    server = serve(_upstream_handler, "127.0.0.1", 0, max_size=None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.socket.getsockname()[1]}"
    server.shutdown()
    thread.join(5)


def keyless(api_id: str, listen_path: str, target_url: str) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": listen_path, "target_url": target_url, "strip_listen_path": True}}


@pytest.fixture
def gateway(start_file_gateway, ws_upstream, redis_url):
    gateway = start_file_gateway(apis=[keyless("open", "/open/", ws_upstream),
                                       keyed("keyed", "/keyed/", ws_upstream)])
    store_key(redis_url, "ws-key", {"org_id": "", "allowance": 1000, "rate": 1000, "per": 1, "quota_max": -1,
                                    "access_rights": {"keyed": {"api_id": "keyed", "api_name": "keyed",
                                                                "versions": ["Default"]}}})
    return gateway


def ws_url(gateway, path: str) -> str:
    return gateway.url.replace("http", "ws", 1) + path


@pytest.mark.parametrize("message", ["text", b"\x00binary\xff", "x" * 300_000, bytes(range(256)) * 8192],
                         ids=["text", "binary", "300k-text", "2M-binary"])
def test_messages_echo_both_ways(gateway, message):
    with connect(ws_url(gateway, "/open/echo"), max_size=None) as ws:
        for _ in range(3):
            ws.send(message)
            assert ws.recv(timeout=10) == message


def test_upstream_bytes_right_behind_its_101_arrive(gateway):
    with connect(ws_url(gateway, "/open/greet")) as ws:
        assert ws.recv(timeout=10) == "hello from upstream"
        ws.send("and back")
        assert ws.recv(timeout=10) == "and back"


def test_upstream_closing_closes_the_client(gateway):
    with connect(ws_url(gateway, "/open/bye")) as ws:
        assert ws.recv(timeout=10) == "bye"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=10)


def test_handshake_reaches_the_upstream_with_forwarding_headers(gateway):
    with connect(ws_url(gateway, "/open/who?x=1")) as ws:
        seen = json.loads(ws.recv(timeout=10))
    assert seen["target"] == "/who?x=1"
    seen = seen["headers"]
    assert seen["upgrade"].lower() == "websocket"
    assert "upgrade" in seen["connection"].lower()
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert "sec-websocket-key" in seen


@pytest.mark.parametrize(("headers", "status"), [({}, 401), ({"Authorization": "wrong"}, 403),
                                                 ({"Authorization": "ws-key"}, 101)],
                         ids=["no-key", "unknown-key", "key"])
def test_the_apis_chain_applies_to_the_handshake(gateway, headers, status):
    if status != 101:
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(gateway, "/keyed/echo"), additional_headers=headers)
        assert refused.value.response.status_code == status
        return
    with connect(ws_url(gateway, "/keyed/echo"), additional_headers=headers) as ws:
        ws.send("through auth")
        assert ws.recv(timeout=10) == "through auth"


def test_websockets_disabled_the_handshake_goes_up_as_a_plain_request(start_file_gateway, ws_upstream):
    gateway = start_file_gateway(apis=[keyless("open", "/open/", ws_upstream)], enable_websockets=False)
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(gateway, "/open/echo"))
    # The upstream saw no Upgrade header (hop-by-hop, dropped) and said so.
    assert refused.value.response.status_code == 426
