"""Per-area permissions on every /api route: the matrix area x mode x route, and a refused write changes nothing."""

from __future__ import annotations

import bson
import pytest
import redis
from fastapi.routing import APIRoute
from pymongo import MongoClient

from tests.integration.dashboard.conftest import definition, user_auth
from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.permissions import AREAS

VALID_PASSWORD = "another long password"

# (method, path, body, area, mode needed, status when allowed) — one row per /api route but login/logout.
ROUTES = [
    ("GET", "/api/apis", None, "apis", "read", 200),
    ("GET", "/api/apis/missing", None, "apis", "read", 404),
    ("POST", "/api/apis", {"api_definition": {}}, "apis", "write", 400),
    ("PUT", "/api/apis/missing", {"api_definition": definition()}, "apis", "write", 404),
    ("DELETE", "/api/apis/missing", None, "apis", "write", 404),
    ("DELETE", "/api/cache/missing", None, "apis", "write", 404),
    ("GET", "/api/keys", None, "keys", "read", 200),
    ("GET", "/api/keys/missing", None, "keys", "read", 404),
    ("POST", "/api/keys", {"apply_policies": ["missing"]}, "keys", "write", 400),
    ("POST", "/api/keys/custom-key", {"apply_policies": ["missing"]}, "keys", "write", 400),
    ("PUT", "/api/keys/missing", {}, "keys", "write", 404),
    ("DELETE", "/api/keys/missing", None, "keys", "write", 404),
    ("GET", "/api/portal/policies", None, "policies", "read", 200),
    ("GET", "/api/portal/policies/missing", None, "policies", "read", 404),
    ("POST", "/api/portal/policies", {"access_rights": {"missing": {}}}, "policies", "write", 400),
    ("PUT", "/api/portal/policies/missing", {}, "policies", "write", 404),
    ("DELETE", "/api/portal/policies/missing", None, "policies", "write", 404),
    ("GET", "/api/analytics/series", None, "analytics", "read", 200),
    ("GET", "/api/analytics/breakdown?by=status", None, "analytics", "read", 200),
    ("GET", "/api/analytics/logs", None, "analytics", "read", 200),
    ("GET", "/api/users", None, "users", "read", 200),
    ("GET", "/api/users/missing", None, "users", "read", 404),
    ("POST", "/api/users", {"email_address": "not an email", "password": VALID_PASSWORD}, "users", "write", 400),
    ("PUT", "/api/users/missing", {}, "users", "write", 404),
    ("POST", "/api/users/missing/actions/reset", {"new_password": VALID_PASSWORD}, "users", "write", 404),
    ("DELETE", "/api/users/missing", None, "users", "write", 404),
    ("GET", "/api/audit", None, "system", "read", 200),
]
UNGUARDED = {("POST", "/api/login"), ("POST", "/api/logout")}  # logout: any logged-in user


def test_every_api_route_is_in_the_matrix_and_declares_its_permission(settings):
    declared = set()
    for route in _api_routes(create_app(settings).routes):
        if not route.path.startswith("/api/"):  # the JSON API, not the web pages (/apis...)
            continue
        for method in route.methods:
            if (method, route.path) in UNGUARDED:
                continue
            needs = [(dep.call.area, dep.call.mode) for dep in route.dependant.dependencies
                     if hasattr(dep.call, "area")]
            expected_mode = "read" if method == "GET" else "write"
            assert len(needs) == 1 and needs[0][1] == expected_mode, (method, route.path, needs)
            declared.add((method, route.path, needs[0]))
    in_table = {(method, _template(path), (area, mode)) for method, path, _, area, mode, _ in ROUTES}
    assert declared == in_table


def _api_routes(routes) -> list[APIRoute]:
    # FastAPI 0.165 keeps an included router as one route object holding it (``original_router``).
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found.extend(_api_routes(route.original_router.routes))
    return found


def _template(path: str) -> str:
    replacements = {"/api/apis/missing": "/api/apis/{api_id}", "/api/keys/missing": "/api/keys/{key}",
                    "/api/cache/missing": "/api/cache/{api_id}",
                    "/api/keys/custom-key": "/api/keys/{key}",
                    "/api/portal/policies/missing": "/api/portal/policies/{policy_id}",
                    "/api/users/missing": "/api/users/{user_id}",
                    "/api/users/missing/actions/reset": "/api/users/{user_id}/actions/reset"}
    path = path.split("?")[0]
    return replacements.get(path, path)


@pytest.mark.parametrize("area", AREAS)
def test_permission_matrix(client, auth, area):
    """A user with ``mode`` on ``area`` only: each route answers as allowed, or 403 naming area and mode."""
    users = {mode: user_auth(client, auth, f"{area}-{mode}@example.test", {area: mode})
             for mode in ("none", "read", "write")}
    rank = {"none": 0, "read": 1, "write": 2}
    for mode, headers in users.items():
        for method, path, body, route_area, needed, allowed_status in ROUTES:
            reply = client.request(method, path, headers=headers, json=body)
            allowed = route_area == area and rank[mode] >= rank[needed]
            if allowed:
                assert reply.status_code == allowed_status, (mode, method, path, reply.text)
            else:
                assert reply.status_code == 403, (mode, method, path, reply.text)
                assert reply.json() == {"Status": "Error",
                                        "Message": f"Forbidden: this needs {needed} access to {route_area}"}


def test_admin_may_use_every_route(client, auth):
    for method, path, body, _, _, allowed_status in ROUTES:
        reply = client.request(method, path, headers=auth, json=body)
        assert reply.status_code == allowed_status, (method, path, reply.text)


def test_permission_changes_count_from_the_next_request(client, auth):
    reader = user_auth(client, auth, "changing@example.test", {"apis": "read"})
    assert client.get("/api/apis", headers=reader).status_code == 200
    user_id = client.get("/api/users", headers=auth, params={"p": 0}).json()["users"][-1]["id"]
    assert client.put(f"/api/users/{user_id}", headers=auth, json={"user_permissions": {}}).status_code == 200
    assert client.get("/api/apis", headers=reader).status_code == 403


def _snapshot(settings, redis_url) -> tuple[dict, dict]:
    db = MongoClient(settings.mongo_url)[settings.mongo_database]
    mongo = {name: [bson.encode(document) for document in db[name].find({}).sort("_id")]
             for name in ("apis", "policies", "users", "organisations", "audit")}
    client = redis.Redis.from_url(redis_url)
    stored = {name: client.dump(name) for name in sorted(client.scan_iter("*"))}
    return mongo, stored


def test_a_read_only_users_writes_change_nothing(client, auth, settings, redis_url):
    assert client.post("/api/apis", headers=auth, json={"api_definition": definition(api_id="orders")}
                       ).status_code == 200
    policy_id = client.post("/api/portal/policies", headers=auth,
                            json={"name": "Gold", "access_rights": {"orders": {"versions": ["Default"]}}}
                            ).json()["Meta"]
    key = client.post("/api/keys", headers=auth, json={"apply_policies": [policy_id]}).json()["key_id"]
    reader = user_auth(client, auth, "reader@example.test", dict.fromkeys(AREAS, "read"))
    admin_id = client.get("/api/users", headers=auth, params={"p": 0}).json()["users"][0]["id"]
    before = _snapshot(settings, redis_url)

    writes = [
        ("POST", "/api/apis", {"api_definition": definition(api_id="other", proxy={"listen_path": "/other/"})}),
        ("PUT", "/api/apis/orders", {"api_definition": definition(api_id="orders", name="Changed")}),
        ("DELETE", "/api/apis/orders", None),
        ("POST", "/api/portal/policies", {"name": "Silver"}),
        ("PUT", f"/api/portal/policies/{policy_id}", {"name": "Changed"}),
        ("DELETE", f"/api/portal/policies/{policy_id}", None),
        ("POST", "/api/keys", {}),
        ("POST", "/api/keys/my-custom-key", {}),
        ("PUT", f"/api/keys/{key}", {"rate": 1}),
        ("DELETE", f"/api/keys/{key}", None),
        ("POST", "/api/users", {"email_address": "new@example.test", "password": VALID_PASSWORD}),
        ("PUT", f"/api/users/{admin_id}", {"is_admin": False}),
        ("POST", f"/api/users/{admin_id}/actions/reset", {"new_password": VALID_PASSWORD}),
        ("DELETE", f"/api/users/{admin_id}", None),
    ]
    for method, path, body in writes:
        reply = client.request(method, path, headers=reader, json=body)
        assert reply.status_code == 403, (method, path, reply.text)
    assert _snapshot(settings, redis_url) == before
