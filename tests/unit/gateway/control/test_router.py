"""The control dispatcher on a real loopback server: the secret, routing, JSON bodies and errors."""

from __future__ import annotations

import secrets

import httpx
import pytest

from tests.upstream import GatewayThread
from tollhouse.gateway.control.router import BAD_SECRET, MAX_BODY_BYTES, ControlError, ControlRouter, ControlServices
from tollhouse.gateway.keystore import StorageUnavailable
from tollhouse.gateway.settings import GatewaySettings

SECRET = secrets.token_hex(32)


def settings() -> GatewaySettings:
    return GatewaySettings(secret=SECRET, key_hash_secret=secrets.token_hex(32), app_path="/nonexistent")


def build() -> ControlRouter:
    router = ControlRouter(ControlServices(settings(), None, None, None, lambda: None))

    async def echo(call):
        return 200, {"route": "param", "params": call.params, "query": call.query, "hashed": call.flag("hashed")}

    async def create(call):
        return 200, {"route": "create"}

    async def body(call):
        return 201, {"body": await call.json()}

    async def refuse(call):
        raise ControlError(409, "already exists")

    async def storage(call):
        raise StorageUnavailable("Redis is unreachable (test)")

    async def bug(call):
        raise RuntimeError("handler bug")

    async def listing(call):
        return 200, ["a", "b"]

    router.add("GET", "/tyk/things/{thing}", echo)
    router.add("POST", "/tyk/things/{thing}", body)
    router.add("POST", "/tyk/things/create", create)
    router.add("DELETE", "/tyk/things/{thing}", refuse)
    router.add("GET", "/tyk/storage", storage)
    router.add("GET", "/tyk/bug", bug)
    router.add("GET", "/tyk/things", listing)
    return router


@pytest.fixture(scope="module")
def control():
    with GatewayThread(lambda: build().handle) as server:
        yield httpx.Client(base_url=f"http://127.0.0.1:{server.port}", headers={"x-tyk-authorization": SECRET})


@pytest.mark.parametrize("secret", [None, "", SECRET[:-1], SECRET + "x", SECRET.upper(), "é".encode("latin-1")])
@pytest.mark.parametrize("path", ["/tyk/things/a", "/tyk/no-such-path"])
def test_missing_or_wrong_secret_is_403_before_routing(control, secret, path):
    headers = {} if secret is None else {"x-tyk-authorization": secret}
    reply = httpx.get(f"{control.base_url}{path}", headers=headers)
    assert (reply.status_code, reply.json()) == (403, {"status": "error", "message": BAD_SECRET})


def test_params_are_decoded_and_query_takes_first_values(control):
    reply = control.get("/tyk/things/a%20b", params=[("hashed", ""), ("x", "1"), ("x", "2")])
    assert reply.json() == {"route": "param", "params": {"thing": "a b"}, "query": {"hashed": "", "x": "1"},
                            "hashed": True}


def test_literal_segment_wins_over_a_parameter(control):
    assert control.post("/tyk/things/create").json() == {"route": "create"}
    assert control.post("/tyk/things/other", json={"a": 1}).json() == {"body": {"a": 1}}


def test_lists_are_answered_as_json(control):
    assert control.get("/tyk/things").json() == ["a", "b"]


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("GET", "/tyk/nothing", 404, "no control API endpoint at /tyk/nothing"),
        ("GET", "/tyk/things/a/b", 404, "no control API endpoint at /tyk/things/a/b"),
        ("PUT", "/tyk/things/a", 405, "PUT is not allowed on /tyk/things/a; use DELETE, GET, POST"),
        ("DELETE", "/tyk/things/a", 409, "already exists"),
        ("GET", "/tyk/storage", 503, "Redis is unreachable (test)"),
        ("GET", "/tyk/bug", 500, "internal error; see the gateway log"),
    ],
)
def test_errors_are_tyk_shaped(control, method, path, status, message):
    reply = control.request(method, path)
    assert (reply.status_code, reply.json()) == (status, {"status": "error", "message": message})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "request body is empty: a JSON object is expected"),
        (b"{nope", "request body is not valid JSON: Expecting property name enclosed in double quotes: "
                   "line 1 column 2 (char 1)"),
        (b"[1, 2]", "request body must be a JSON object, not list"),
        (b"\xff\xfe", "request body is not valid JSON"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", f"request body is larger than {MAX_BODY_BYTES} bytes"),
    ],
)
def test_bad_bodies_are_400_saying_why(control, content, message):
    reply = control.post("/tyk/things/x", content=content)
    assert reply.status_code == 400
    assert reply.json()["status"] == "error"
    assert reply.json()["message"].startswith(message)


def test_a_control_only_listener_serves_nothing_else(control):
    reply = control.get("/orders/items")
    assert reply.status_code == 404
    assert reply.json() == {"status": "error", "message": "only the control API is served here"}


def test_patterns_must_be_under_tyk_and_unique():
    router = build()
    with pytest.raises(ValueError, match="must start with /tyk/"):
        router.add("GET", "/other", None)
    with pytest.raises(ValueError, match="already routed"):
        router.add("GET", "/tyk/things/{other}", None)
