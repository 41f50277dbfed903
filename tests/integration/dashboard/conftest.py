"""A dashboard app on the real Redis and MongoDB-wire servers, and a logged-in admin."""

from __future__ import annotations

import bcrypt
import pytest
from fastapi.testclient import TestClient

from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.settings import DashboardSettings

ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "correct horse battery staple"
NODE_SECRET = "node-secret-for-tests-0123456789"


@pytest.fixture(scope="session")
def admin_password_hash() -> str:
    # Cost 4 keeps the tests quick; production hashes come from `hash-password` (cost 12).
    return bcrypt.hashpw(ADMIN_PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def settings(mongo_url, mongo_db_name, redis_url, admin_password_hash) -> DashboardSettings:
    return DashboardSettings(
        mongo_url=mongo_url,
        mongo_database=mongo_db_name,
        redis_url=redis_url,
        node_secret=NODE_SECRET,
        org_name="Example Org",
        admin_email=ADMIN_EMAIL,
        admin_password_hash=admin_password_hash,
        mongo_timeout_seconds=3,
        page_size=3,
    )


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def login(client: TestClient, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
    reply = client.post("/api/login", json={"username": email, "password": password})
    assert reply.status_code == 200, reply.text
    return reply.json()["access_token"]


@pytest.fixture
def auth(client) -> dict[str, str]:
    return {"authorization": login(client)}


def definition(**overrides) -> dict:
    """A valid keyless definition carrying a field Tollhouse does not know (it must survive)."""
    proxy = {"listen_path": "/orders/", "target_url": "http://127.0.0.1:9/", "strip_listen_path": True,
             "x_vendor_extension": {"keep": [1, 2.5, None]}}
    proxy.update(overrides.pop("proxy", {}))
    return {"name": "Orders", "use_keyless": True, "proxy": proxy,
            "custom_field": {"nested": {"list": ["a", {"b": 1}]}}, **overrides}
