"""Transforms through a real gateway process to a real upstream (tests/upstream.py, ``/reflect`` shows what it got).

Endpoint rules and mock replies, header transforms, URL rewrites and method transforms, body transforms, request
size limits: each a table of requests and what the client and the upstream must see.
"""

from __future__ import annotations

import base64
import json
import socket

import httpx
import pytest
import redis

from tests.gateways import FileGateway, keyed, store_key
from tests.stack import wait_until
from tollhouse.core.analytics import ANALYTICS_LIST, decode

KEY = "transform-key-0001"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def template(path: str, method: str, source: str, **data) -> dict:
    return {"path": path, "method": method,
            "template_data": {"input_type": "json", "template_mode": "blob", "template_source": b64(source), **data}}


def keyless(api_id: str, target: str, version: dict) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": f"/{api_id}/", "target_url": target, "strip_listen_path": True},
            "version_data": {"not_versioned": True, "versions": {"Default": {"name": "Default", **version}}}}


def actions(*methods: str, **reply) -> dict:
    action = {"action": "reply", "code": 200, "data": "", "headers": {}, **reply} if reply else \
        {"action": "no_action", "code": 200, "data": "", "headers": {}}
    return {method: action for method in methods}


def apis(upstream_port: int) -> list[dict]:
    root = f"http://127.0.0.1:{upstream_port}/"
    reflect = root + "reflect"
    rules = keyed("rules", "/rules/", reflect, version_data={"not_versioned": True, "versions": {"Default": {
        "name": "Default", "use_extended_paths": True, "extended_paths": {
            "ignored": [
                {"path": "/public", "ignore_case": True, "method_actions": actions("GET")},
                {"path": "/health-mock", "method_actions": actions(
                    "GET", code=200, data='{"ok":true}', headers={"Content-Type": "application/json"})}],
            "black_list": [{"path": "/items/secret", "method_actions": actions("GET")}],
            "white_list": [
                {"path": "/items/{id}", "method_actions": actions("GET")},
                {"path": "/mocked", "method_actions": actions("GET", code=201, data="made up",
                                                              headers={"X-Mock": "1"})}],
        }}}})
    blocked = keyless("blocked", reflect, {"extended_paths": {
        "black_list": [{"path": "/admin", "method": "GET"}]}})
    headers = keyless("headers", reflect, {
        "global_headers": {"X-Global": "g", "X-Copied": "$tyk_context.headers_X_Client"},
        "global_headers_remove": ["X-Drop-Me"],
        "global_response_headers": {"X-Served-By": "tollhouse"},
        "extended_paths": {
            "transform_headers": [{"path": "/special", "method": "GET", "add_headers": {"X-Special": "yes"},
                                   "delete_headers": ["X-Global"]}],
            "transform_response_headers": [{"path": "/special", "method": "GET", "add_headers": {"X-Resp": "1"},
                                            "delete_headers": ["X-Upstream-Secret"]}]}})
    rewrite = keyless("rewrite", root, {"extended_paths": {
        "url_rewrites": [
            {"path": "/books/{id}", "method": "GET", "match_pattern": r"/books/(\w+)",
             "rewrite_to": "/reflect/library?id=$1", "triggers": [
                 {"on": "any", "options": {"header_matches": {"X-Beta": {"match_rx": "^(yes|sure)$"}}},
                  "rewrite_to": "/reflect/beta/$1?flag=$tyk_context.trigger-0-X-Beta-1"},
                 {"on": "all", "options": {"query_val_matches": {"v": {"match_rx": "^2$"}},
                                           "path_part_matches": {"part": {"match_rx": "^special$"}}},
                  "rewrite_to": "/reflect/v2"},
                 {"on": "all", "options": {"header_matches": {"X-Stable": {"match_rx": "x", "reverse": True}},
                                           "query_val_matches": {"stable": {"match_rx": "^1$"}}},
                  "rewrite_to": "/reflect/stable/$1"}]},
            {"path": "/search", "method": "POST", "match_pattern": ".*", "rewrite_to": "/reflect/search",
             "triggers": [{"on": "any", "options": {"payload_matches": {"match_rx": r'"kind":\s*"(\w+)"'}},
                           "rewrite_to": "/reflect/search/$tyk_context.trigger-0-payload-1"}]}],
        "method_transforms": [{"path": "/legacy", "method": "GET", "to_method": "POST"}]}})
    body = keyless("body", reflect, {"extended_paths": {
        "transform": [template("/order", "POST", '{"id": {{ body.order_id | tojson }}, "count": '
                               '{{ body["items"] | length }}, "via": "{{ headers["x-client"] }}"}')],
        "transform_response": [
            template("/order", "POST", '{"upstream_saw": {{ body.body | tojson }}, "status": {{ status }}}'),
            template("/broken", "GET", "{{ body.missing.deeper }}"),
            template("/endless", "GET", "{% for a in range(100000) %}{% for b in range(100000) %}"
                                        "{% endfor %}{% endfor %}")]}})
    download = keyless("download", root, {"extended_paths": {
        "transform_response": [template("/download", "GET", "{{ body }}")]}})
    limits = keyless("limits", root, {"global_size_limit": 1000, "extended_paths": {
        "size_limits": [{"path": "/small", "method": "POST", "size_limit": 10}]}})
    return [rules, blocked, headers, rewrite, body, download, limits]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, redis_proc, upstream):
    """One gateway for the module: the tests only read through it."""
    redis_url = f"redis://127.0.0.1:{redis_proc.port}/0"
    redis.Redis.from_url(redis_url).flushall()
    store_key(redis_url, KEY, {"access_rights": {"rules": {"api_id": "rules", "versions": ["Default"]}}})
    gateway = FileGateway(tmp_path_factory.mktemp("transforms"), redis_url)
    for definition in apis(upstream.port):
        gateway.write_api(definition)
    gateway.start()
    yield gateway
    gateway.stop()


def call(gateway, method: str, path: str, headers: dict | None = None, content: bytes | None = None):
    return httpx.request(method, gateway.url + path, headers=headers or {}, content=content, timeout=10)


@pytest.mark.parametrize(
    ("method", "path", "with_key", "status", "expect"),
    [
        ("GET", "/rules/public", False, 200, {"upstream_path": "/reflect/public"}),
        ("GET", "/rules/PUBLIC/x", False, 200, {"upstream_path": "/reflect/PUBLIC/x"}),  # ignore_case
        ("GET", "/rules/health-mock", False, 200, {"json": {"ok": True}, "content-type": "application/json"}),
        ("GET", "/rules/items/7", False, 401, {"error": "Authorization field missing"}),
        ("GET", "/rules/items/7", True, 200, {"upstream_path": "/reflect/items/7"}),
        ("POST", "/rules/items/7", True, 403, {"error": "Requested endpoint is forbidden"}),
        ("GET", "/rules/items/secret", True, 403, {"error": "Requested endpoint is forbidden"}),
        ("GET", "/rules/other", True, 403, {"error": "Requested endpoint is forbidden"}),
        ("GET", "/rules/mocked", True, 201, {"text": "made up", "x-mock": "1"}),
        ("GET", "/rules/mocked", False, 401, {"error": "Authorization field missing"}),
        ("GET", "/blocked/admin", False, 403, {"error": "Requested endpoint is forbidden"}),
        ("GET", "/blocked/admin/users", False, 403, {"error": "Requested endpoint is forbidden"}),
        ("DELETE", "/blocked/admin", False, 200, {"upstream_path": "/reflect/admin"}),
        ("GET", "/blocked/other", False, 200, {"upstream_path": "/reflect/other"}),
    ],
)
def test_white_black_and_ignored_lists(gateway, method, path, with_key, status, expect):
    reply = call(gateway, method, path, {"Authorization": KEY} if with_key else {})
    assert reply.status_code == status, reply.text
    for name, value in expect.items():
        if name == "upstream_path":
            assert reply.json()["path"] == value
        elif name == "error":
            assert reply.json() == {"error": value}
        elif name == "json":
            assert reply.json() == value
        elif name == "text":
            assert reply.text == value
        else:
            assert reply.headers[name] == value


@pytest.mark.parametrize(
    ("path", "sent", "upstream_has", "upstream_lacks", "client_has", "client_lacks"),
    [
        ("/headers/plain", {"X-Drop-Me": "1", "X-Client": "abc"}, {"x-global": "g", "x-copied": "abc"},
         ["x-drop-me", "x-special"], {"x-served-by": "tollhouse", "x-upstream-secret": "s3cret"}, ["x-resp"]),
        ("/headers/special", {"X-Client": "abc"}, {"x-special": "yes", "x-copied": "abc"}, ["x-global"],
         {"x-served-by": "tollhouse", "x-resp": "1", "x-upstream": "yes"}, ["x-upstream-secret"]),
        ("/headers/plain", {}, {"x-global": "g", "x-copied": ""}, [], {}, []),
    ],
)
def test_header_transforms(gateway, path, sent, upstream_has, upstream_lacks, client_has, client_lacks):
    reply = call(gateway, "GET", path, sent)
    assert reply.status_code == 200, reply.text
    seen = reply.json()["headers"]
    for name, value in upstream_has.items():
        assert seen[name] == value
    for name in upstream_lacks:
        assert name not in seen
    for name, value in client_has.items():
        assert reply.headers[name] == value
    for name in client_lacks:
        assert name not in reply.headers


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "upstream_method", "upstream_path", "upstream_query"),
    [
        ("GET", "/rewrite/books/42", {}, None, "GET", "/reflect/library", "id=42"),
        ("GET", "/rewrite/books/42", {"X-Beta": "sure"}, None, "GET", "/reflect/beta/42", "flag=sure"),
        ("GET", "/rewrite/books/42", {"X-Beta": "no"}, None, "GET", "/reflect/library", "id=42"),
        ("GET", "/rewrite/books/special?v=2", {}, None, "GET", "/reflect/v2", "v=2"),
        ("GET", "/rewrite/books/other?v=2", {}, None, "GET", "/reflect/library", "id=other"),
        # a reversed match holds when the header is absent, and fails when it matches
        ("GET", "/rewrite/books/9?stable=1", {}, None, "GET", "/reflect/stable/9", "stable=1"),
        ("GET", "/rewrite/books/9?stable=1", {"X-Stable": "x"}, None, "GET", "/reflect/library", "id=9"),
        ("POST", "/rewrite/search", {}, b'{"kind": "news"}', "POST", "/reflect/search/news", ""),
        ("POST", "/rewrite/search", {}, b"{}", "POST", "/reflect/search", ""),
        ("GET", "/rewrite/legacy", {}, None, "POST", "/legacy", ""),
    ],
)
def test_url_rewrites_and_method_transforms(gateway, method, path, headers, body, upstream_method, upstream_path,
                                            upstream_query):
    reply = call(gateway, method, path, headers, body)
    assert reply.status_code == 200, reply.text
    seen = reply.json()
    assert (seen["method"], seen["path"], seen["query"]) == (upstream_method, upstream_path, upstream_query)
    if body is not None and upstream_path.startswith("/reflect"):
        assert seen["body"] == body.decode()  # a payload trigger holds the body, and still sends it


def test_request_and_response_body_transforms(gateway):
    sent = json.dumps({"order_id": "A-1", "items": [1, 2, 3]}).encode()
    reply = call(gateway, "POST", "/body/order", {"X-Client": "web", "content-type": "application/json"}, sent)
    assert reply.status_code == 200, reply.text
    # The upstream got the request template's output; the client gets the response template's.
    assert json.loads(reply.json()["upstream_saw"]) == {"id": "A-1", "count": 3, "via": "web"}
    assert reply.json()["status"] == 200
    assert int(reply.headers["content-length"]) == len(reply.content)


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error_start"),
    [
        ("POST", "/body/order", b"not json", 400, "the request body is not valid JSON"),
        ("POST", "/body/order", b"[" * (1024 * 1024 + 1), 413, "Request is too large to transform"),
        ("GET", "/body/broken", None, 500, "the response body transform failed: UndefinedError"),
        ("GET", "/body/endless", None, 500, "the response body transform failed: rendering took longer"),
        ("GET", "/download/download?size=100", None, 502, "the upstream's response body is not valid JSON"),
        ("GET", "/download/download?size=5000000&mode=chunked", None, 502, "the upstream's response is larger"),
        ("GET", "/download/download?size=5000000", None, 502, "the upstream's response is larger"),
    ],
)
def test_body_transform_failures_are_clear_errors(gateway, method, path, body, status, error_start):
    reply = call(gateway, method, path, {}, body)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"].startswith(error_start), reply.json()
    # The gateway is still serving.
    assert call(gateway, "GET", "/blocked/other").status_code == 200


@pytest.mark.parametrize(
    ("path", "size", "status"),
    [
        ("/limits/echo", 1000, 200),
        ("/limits/echo", 1001, 413),
        ("/limits/small", 10, 200),
        ("/limits/small", 11, 413),
        ("/limits/small/sub", 11, 413),
    ],
)
def test_size_limits_by_content_length(gateway, path, size, status):
    reply = call(gateway, "POST", path, {}, b"x" * size)
    assert reply.status_code == status, reply.text
    if status == 413:
        assert reply.json() == {"error": "Request is too large"}
    else:
        assert reply.json()["body_length"] == size


@pytest.mark.parametrize(("size", "status"), [(900, 200), (5000, 413)])
def test_size_limits_on_chunked_bodies(gateway, size, status):
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /limits/echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
        for offset in range(0, size, 100):
            piece = b"y" * min(100, size - offset)
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        sock.sendall(b"0\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 %d" % status), data[:200]
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    if status == 413:
        assert body == {"error": "Request is too large"}
    else:
        assert body["body_length"] == size


def _length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode().lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def test_analytics_record_what_the_client_asked_not_the_rewrite(gateway, redis_proc):
    assert call(gateway, "GET", "/rewrite/legacy?mark=analytics").json()["method"] == "POST"
    assert call(gateway, "GET", "/rewrite/books/77?mark=analytics").json()["path"] == "/reflect/library"
    store = redis.Redis(port=redis_proc.port)

    def recorded():
        records = [decode(raw) for raw in store.lrange(ANALYTICS_LIST, 0, -1)]
        found = sorted((record["method"], record["path"]) for record in records if "mark=analytics" in
                       record["raw_path"])
        return found if len(found) == 2 else None

    assert wait_until(recorded, 10, message="analytics records") == [("GET", "/rewrite/books/77"),
                                                                     ("GET", "/rewrite/legacy")]
