"""``/tyk/reload`` and ``/tyk/reload/group``."""

from __future__ import annotations

import json

import httpx
import pytest
import redis as redis_lib

from tests.stack import wait_until
from tests.unit.gateway.control.conftest import SECRET, start_control
from tollhouse.core import notify

NODE_SECRET = "node-" + SECRET


def write_api(control, api_id: str) -> None:
    (control.apps / f"{api_id}.json").write_text(json.dumps({
        "api_id": api_id, "name": api_id, "use_keyless": True,
        "proxy": {"listen_path": f"/{api_id}/", "target_url": "http://127.0.0.1:9/"}}))


ORDERS = {"api_id": "orders", "name": "orders", "use_keyless": True,
          "proxy": {"listen_path": "/orders/", "target_url": "http://127.0.0.1:9/"}}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "peers_asked"),
    [
        ("GET", "/tyk/reload", None, 200, 1),
        ("GET", "/tyk/reload?block=true", None, 200, 1),
        ("POST", "/tyk/apis", ORDERS, 200, 1),
        ("POST", "/tyk/policies", {"id": "gold", "name": "Gold"}, 200, 1),
        ("GET", "/tyk/apis", None, 200, 0),
        ("POST", "/tyk/apis", {"api_id": "bad", "name": "bad"}, 400, 0),  # refused: nothing written, no reload
    ],
)
def test_reloads_through_the_control_api_ask_the_other_workers_too(control, method, path, body, status,
                                                                   peers_asked):
    """A gateway with several workers answers on one; the others reload when asked (workers.py)."""
    asked = []
    control.app.control.services.reload_peers = lambda: asked.append(path)
    reply = control.client.request(method, path, json=body)
    assert reply.status_code == status, reply.text
    assert len(asked) == peers_asked


def test_blocking_reload_answers_once_the_change_is_served(control):
    write_api(control, "orders")
    reply = control.client.get("/tyk/reload", params={"block": "true"})
    assert reply.json() == {"status": "ok", "message": ""}
    assert [api.api_id for api in control.app.router.apis] == ["orders"]


def test_reload_without_block_answers_at_once_and_reloads_soon(control):
    write_api(control, "orders")
    assert control.client.get("/tyk/reload").json() == {"status": "ok", "message": ""}
    # The thread runs no reloader loop; the request is recorded for it (it would coalesce and reload).
    assert control.app.control.services.reloader._wanted.is_set()


def test_blocking_reload_that_fails_says_why(control):
    for file in control.apps.iterdir():
        file.unlink()
    control.apps.rmdir()
    reply = control.client.get("/tyk/reload", params={"block": "1"})
    assert reply.status_code == 503
    assert reply.json() == {"status": "error", "message": "reload failed; the previous configuration keeps "
                                                          f"serving: app_path {control.apps} is not a directory"}


def test_group_reload_without_node_secret_is_refused(control):
    reply = control.client.get("/tyk/reload/group")
    assert reply.status_code == 400
    assert reply.json()["message"].startswith("a group reload needs node_secret")


def test_group_reload_publishes_a_signed_notification(tmp_path, redis_url):
    listener = redis_lib.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(notify.CHANNEL)
    thread, _ = start_control(tmp_path, redis_url, node_secret=NODE_SECRET)
    with thread:
        reply = httpx.get(f"http://127.0.0.1:{thread.port}/tyk/reload/group", headers={"x-tyk-authorization": SECRET})
    assert reply.json() == {"status": "ok", "message": ""}
    message = wait_until(lambda: listener.get_message(timeout=0.1), 5, message="notification")
    assert notify.decode(NODE_SECRET, message["data"]) == notify.Notification(notify.GROUP_RELOAD, "")
    listener.close()
