"""/system/* answers gateways holding the node secret, and nobody else."""

from __future__ import annotations

import pytest

from tests.integration.dashboard.conftest import NODE_SECRET, definition

REFUSED = {"Status": "Error", "Message": "Attempted administrative access with invalid or missing key!"}


def test_system_apis_lists_every_active_definition(client, auth):
    client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="live")})
    client.post("/api/apis", headers=auth, json={"api_definition": definition(
        api_id="off", active=False, proxy={"listen_path": "/off/"})})
    reply = client.get("/system/apis", headers={"authorization": NODE_SECRET})
    assert reply.status_code == 200
    body = reply.json()
    assert body["Status"] == "OK" and body["Nonce"] == ""
    assert [api["api_id"] for api in body["Message"]] == ["live"]
    assert body["Message"][0]["custom_field"] == definition()["custom_field"]


def test_system_policies_is_empty_for_now(client):
    reply = client.get("/system/policies", headers={"authorization": NODE_SECRET})
    assert reply.json() == {"Status": "OK", "Message": [], "Nonce": ""}


BAD_HEADERS = {"missing": {}, "wrong": {"authorization": "wrong-secret"},
               "longer": {"authorization": NODE_SECRET + "x"}}


@pytest.mark.parametrize("path", ["/system/apis", "/system/policies"])
@pytest.mark.parametrize("headers", BAD_HEADERS.values(), ids=BAD_HEADERS.keys())
def test_system_refuses_without_the_node_secret(client, path, headers):
    reply = client.get(path, headers=headers)
    assert reply.status_code == 403
    assert reply.json() == REFUSED


def test_a_user_token_is_not_a_node_secret(client, auth):
    assert client.get("/system/apis", headers=auth).status_code == 403
