"""``/tyk/policies`` in file mode: CRUD on ``policy_path``, validation first, the table swapped before the reply."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.unit.gateway.control.conftest import SECRET, start_control

GOLD = {"id": "gold", "name": "Gold", "rate": 100, "per": 60, "access_rights": {"orders": {"api_id": "orders"}}}


def error(message: str) -> dict:
    return {"status": "error", "message": message}


def test_create_read_update_delete(control):
    reply = control.client.post("/tyk/policies", json=GOLD)
    assert reply.json() == {"key": "gold", "status": "ok", "action": "added"}
    assert json.loads((control.policies / "gold.json").read_text()) == GOLD
    # In force when the reply arrives: no reload needed.
    assert control.app.policies.policies["gold"].rate == 100
    assert control.client.get("/tyk/policies/gold").json()["name"] == "Gold"
    assert [p["id"] for p in control.client.get("/tyk/policies").json()] == ["gold"]

    reply = control.client.put("/tyk/policies/gold", json={**GOLD, "rate": 5})
    assert reply.json() == {"key": "gold", "status": "ok", "action": "modified"}
    assert control.app.policies.policies["gold"].rate == 5

    reply = control.client.delete("/tyk/policies/gold")
    assert reply.json() == {"key": "gold", "status": "ok", "action": "deleted"}
    assert not (control.policies / "gold.json").exists()
    assert "gold" not in control.app.policies.policies
    assert control.client.get("/tyk/policies/gold").status_code == 404


def test_create_without_an_id_gets_one_and_dashboard_ids_are_accepted(control):
    generated = control.client.post("/tyk/policies", json={"name": "anon"}).json()["key"]
    assert len(generated) == 32 and (control.policies / f"{generated}.json").exists()
    assert control.client.post("/tyk/policies", json={"_id": "from-dashboard"}).json()["key"] == "from-dashboard"
    assert control.client.get("/tyk/policies/from-dashboard").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/tyk/policies", {**GOLD, "rate": -1}, 400, "rate: Input should be greater than or equal to 0"),
        ("POST", "/tyk/policies", {**GOLD, "id": "a b"}, 400, "id: String should match pattern '^[A-Za-z0-9._-]+$'"),
        ("POST", "/tyk/policies", {**GOLD, "id": ".hidden"}, 400,
         "id: must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.'"),
        ("POST", "/tyk/policies", {**GOLD, "access_rights": {"orders": {"allowed_urls": [{"url": "["}]}}}, 400,
         "access_rights.orders.allowed_urls.0.url: is not a valid regular expression: unterminated character set "
         "at position 0"),
        ("POST", "/tyk/policies", GOLD, 409, "Policy gold already exists; PUT /tyk/policies/gold changes it"),
        ("PUT", "/tyk/policies/gold", {**GOLD, "partitions": {"quota": "often"}}, 400,
         "partitions.quota: Input should be a valid boolean, unable to interpret input"),
        ("PUT", "/tyk/policies/gold", {**GOLD, "id": "silver"}, 400,
         "id: 'silver' does not match the policy in the path ('gold')"),
        ("PUT", "/tyk/policies/silver", {"name": "x"}, 404, "Policy not found"),
        ("PUT", "/tyk/policies/..%2F..%2Fetc", {"name": "x"}, 400,
         "id: must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.'"),
        ("DELETE", "/tyk/policies/silver", None, 404, "Policy not found"),
        ("DELETE", "/tyk/policies/..%2Fapps%2Fx", None, 400,
         "id: must be 1-128 characters of letters, digits, '.', '_' or '-', not starting with '.'"),
    ],
)
def test_refusals_name_the_field_and_write_nothing(control, method, path, body, status, message):
    control.client.post("/tyk/policies", json=GOLD)
    before = sorted((p.name, p.read_bytes()) for p in control.policies.iterdir())
    reply = control.client.request(method, path, json=body)
    assert (reply.status_code, reply.json()) == (status, error(message))
    assert sorted((p.name, p.read_bytes()) for p in control.policies.iterdir()) == before
    assert control.app.policies.policies["gold"].rate == 100


def test_without_policy_path_writes_are_refused(tmp_path, redis_url):
    thread, _ = start_control(tmp_path, redis_url, policy_path=None)
    with thread:
        reply = httpx.post(f"http://127.0.0.1:{thread.port}/tyk/policies", json=GOLD,
                           headers={"x-tyk-authorization": SECRET})
    assert (reply.status_code, reply.json()) == (
        400, error("policy_path is not set: this gateway has no policy directory to write to"))


def test_dashboard_mode_is_read_only(tmp_path, redis_url):
    thread, _ = start_control(tmp_path, redis_url, app_path=None, dashboard_url="http://127.0.0.1:9",
                              node_secret="n" * 8 + SECRET)
    with thread:
        base, headers = f"http://127.0.0.1:{thread.port}", {"x-tyk-authorization": SECRET}
        assert httpx.get(f"{base}/tyk/policies", headers=headers).json() == []
        for method, path in [("POST", "/tyk/policies"), ("PUT", "/tyk/policies/gold"),
                             ("DELETE", "/tyk/policies/gold")]:
            reply = httpx.request(method, base + path, json=GOLD, headers=headers)
            assert reply.status_code == 405
            assert reply.json()["message"].startswith("policies are read-only on a gateway in dashboard mode")
