"""``/tyk/apis`` in file mode: CRUD on ``app_path``, validation first, live when the reply arrives."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.unit.gateway.control.conftest import SECRET, start_control


def definition(api_id: str, listen_path: str, **extra) -> dict:
    return {"api_id": api_id, "name": api_id, "use_keyless": True,
            "proxy": {"listen_path": listen_path, "target_url": "http://127.0.0.1:9/"}, **extra}


def error(message: str) -> dict:
    return {"status": "error", "message": message}


def served(control) -> dict[str, str]:
    return {api.api_id: api.listen_path for api in control.app.router.apis}


def test_create_read_update_delete(control):
    orders = definition("orders", "/orders/")
    assert control.client.post("/tyk/apis", json=orders).json() == {"key": "orders", "status": "ok",
                                                                     "action": "added"}
    assert json.loads((control.apps / "orders.json").read_text()) == orders
    assert served(control) == {"orders": "/orders/"}
    assert control.client.get("/tyk/apis/orders").json() == orders
    assert control.client.get("/tyk/apis").json() == [orders]

    moved = definition("orders", "/shop/")
    assert control.client.put("/tyk/apis/orders", json=moved).json()["action"] == "modified"
    assert served(control) == {"orders": "/shop/"}

    assert control.client.delete("/tyk/apis/orders").json()["action"] == "deleted"
    assert served(control) == {}
    assert not (control.apps / "orders.json").exists()
    assert control.client.get("/tyk/apis/orders").status_code == 404


def test_create_without_an_api_id_gets_one(control):
    body = definition("x", "/x/")
    del body["api_id"]
    api_id = control.client.post("/tyk/apis", json=body).json()["key"]
    assert served(control) == {api_id: "/x/"}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/tyk/apis", definition("new", "no-slash"), 400, "proxy.listen_path: must start with '/'"),
        ("POST", "/tyk/apis", {"api_id": "new", "name": "new"}, 400, "proxy: is required"),
        ("POST", "/tyk/apis", definition("new", "/orders"), 400,
         "proxy.listen_path: /orders/ is already served by API orders"),
        ("POST", "/tyk/apis", definition("orders", "/other/"), 409,
         "API orders already exists; PUT /tyk/apis/orders changes it"),
        ("POST", "/tyk/apis", definition("a/b", "/ab/"), 400,
         "api_id: must be 1-128 characters of letters, digits, '.', '_' or '-'"),
        ("PUT", "/tyk/apis/orders", definition("orders", "/orders/", use_basic_auth=True), 400,
         "use_basic_auth: cannot be combined with use_keyless: choose one authentication kind"),
        ("PUT", "/tyk/apis/orders", definition("billing", "/orders/"), 400,
         "api_id: 'billing' does not match the API in the path ('orders')"),
        ("PUT", "/tyk/apis/billing", definition("billing", "/billing/"), 404, "API not found"),
        ("PUT", "/tyk/apis/%2E%2E", definition("..", "/dots/"), 400,
         "api_id: must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.'"),
        ("DELETE", "/tyk/apis/billing", None, 404, "API not found"),
    ],
)
def test_refusals_name_the_field_and_write_nothing(control, method, path, body, status, message):
    control.client.post("/tyk/apis", json=definition("orders", "/orders/"))
    before = sorted((p.name, p.read_bytes()) for p in control.apps.iterdir())
    reply = control.client.request(method, path, json=body)
    assert (reply.status_code, reply.json()) == (status, error(message))
    assert sorted((p.name, p.read_bytes()) for p in control.apps.iterdir()) == before
    assert served(control) == {"orders": "/orders/"}


def test_dashboard_mode_is_read_only(tmp_path, redis_url):
    thread, _ = start_control(tmp_path, redis_url, app_path=None, dashboard_url="http://127.0.0.1:9",
                              node_secret="n" * 8 + SECRET)
    with thread:
        base, headers = f"http://127.0.0.1:{thread.port}", {"x-tyk-authorization": SECRET}
        assert httpx.get(f"{base}/tyk/apis", headers=headers).json() == []
        reply = httpx.post(f"{base}/tyk/apis", json=definition("a", "/a/"), headers=headers)
    assert reply.status_code == 405
    assert reply.json()["message"].startswith("APIs are read-only on a gateway in dashboard mode")
