"""Every change is announced to the gateways with a signed message; Redis being away loses no change."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.dashboard.conftest import definition, login, received
from tests.servers import free_port
from tollhouse.core import notify
from tollhouse.dashboard.app import create_app


def test_create_update_delete_are_announced_and_signed(client, auth, subscriber):
    api_id = client.post("/api/apis", headers=auth, json={"api_definition": definition()}).json()["Meta"]
    client.put(f"/api/apis/{api_id}", headers=auth, json={"api_definition": definition(name="Renamed")})
    client.delete(f"/api/apis/{api_id}", headers=auth)
    assert received(subscriber, 3) == [
        notify.Notification(notify.API_ADDED, api_id),
        notify.Notification(notify.API_UPDATED, api_id),
        notify.Notification(notify.API_REMOVED, api_id),
    ]


def test_refused_change_is_not_announced(client, auth, subscriber):
    client.post("/api/apis", headers=auth, json={"api_definition": definition(proxy={"target_url": "bad"})})
    assert subscriber.get_message(timeout=0.3) is None


def test_message_is_signed_with_the_node_secret_only(client, auth, subscriber):
    client.post("/api/apis", headers=auth, json={"api_definition": definition()})
    message = subscriber.get_message(timeout=3)
    with pytest.raises(notify.BadNotification, match="bad signature"):
        notify.decode("some-other-secret-0123456789", message["data"])


def test_redis_down_still_stores_and_says_so(settings):
    without_redis = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    with TestClient(create_app(without_redis)) as client:
        auth = {"authorization": login(client)}
        reply = client.post("/api/apis", headers=auth, json={"api_definition": definition()})
        assert reply.status_code == 200
        message = reply.json()["Message"]
        assert message.startswith("API created; gateways were not notified (Redis unavailable)")
        api_id = reply.json()["Meta"]
        assert client.get(f"/api/apis/{api_id}", headers=auth).status_code == 200

        hello = client.get("/hello")
        assert hello.status_code == 200
        assert hello.json()["status"] == "warn"
        assert hello.json()["details"]["redis"]["status"] == "warn"
        assert hello.json()["details"]["mongodb"] == {"status": "pass"}
