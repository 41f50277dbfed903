"""A dashboard app on the real Redis and MongoDB-wire servers, and a logged-in admin."""

from __future__ import annotations

import bcrypt
import pytest
import redis
from fastapi.testclient import TestClient
from pymongo import MongoClient

from tollhouse.core import notify
from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.settings import DashboardSettings

ADMIN_EMAIL = "admin@example.test"
ADMIN_PASSWORD = "correct horse battery staple"
NODE_SECRET = "node-secret-for-tests-0123456789"
KEY_HASH_SECRET = "key-hash-secret-for-tests-012345"


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
        key_hash_secret=KEY_HASH_SECRET,
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


@pytest.fixture
def subscriber(redis_url):
    """A subscriber to the gateways' notification channel."""
    pubsub = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(notify.CHANNEL)
    pubsub.get_message(timeout=1)  # the subscription confirmation
    yield pubsub
    pubsub.close()


def received(pubsub, count: int) -> list[notify.Notification]:
    notifications = []
    while len(notifications) < count:
        message = pubsub.get_message(timeout=3)
        assert message is not None, f"only {len(notifications)} of {count} notifications arrived"
        notifications.append(notify.decode(NODE_SECRET, message["data"]))
    return notifications


def definition(**overrides) -> dict:
    """A valid keyless definition carrying a field Tollhouse does not know (it must survive)."""
    proxy = {"listen_path": "/orders/", "target_url": "http://127.0.0.1:9/", "strip_listen_path": True,
             "x_vendor_extension": {"keep": [1, 2.5, None]}}
    proxy.update(overrides.pop("proxy", {}))
    return {"name": "Orders", "use_keyless": True, "proxy": proxy,
            "custom_field": {"nested": {"list": ["a", {"b": 1}]}}, **overrides}


USER_PASSWORD = "a long enough password"


def add_user(client: TestClient, auth: dict[str, str], email: str, permissions: dict[str, str] | None = None,
             is_admin: bool = False) -> str:
    """Create a user through /api/users (as ``auth``); its id."""
    reply = client.post("/api/users", headers=auth, json={"email_address": email, "password": USER_PASSWORD,
                                                          "user_permissions": permissions or {},
                                                          "is_admin": is_admin})
    assert reply.status_code == 200, reply.text
    return reply.json()["Meta"]


def user_auth(client: TestClient, auth: dict[str, str], email: str, permissions: dict[str, str] | None = None,
              is_admin: bool = False) -> dict[str, str]:
    """Headers of a new user with these permissions, logged in."""
    add_user(client, auth, email, permissions, is_admin)
    return {"authorization": login(client, email, USER_PASSWORD)}


def other_org_admin(client: TestClient, settings: DashboardSettings) -> dict[str, str]:
    """Headers of an admin of another organisation (written straight to MongoDB: the users API cannot)."""
    db = MongoClient(settings.mongo_url)[settings.mongo_database]
    db["users"].insert_one({"_id": "u2", "email": "other@example.test", "org_id": "other-org", "is_admin": True,
                            "password_hash": bcrypt.hashpw(b"other password", bcrypt.gensalt(4)).decode()})
    return {"authorization": login(client, "other@example.test", "other password")}
