"""The first organisation and admin come from the settings once; later starts change nothing."""

from __future__ import annotations

import bcrypt
from fastapi.testclient import TestClient
from pymongo import MongoClient

from tests.integration.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, login
from tollhouse.dashboard.app import create_app


def start_and_stop(settings) -> None:
    with TestClient(create_app(settings)):
        pass


def test_first_start_creates_org_admin_and_indexes(settings):
    start_and_stop(settings)
    db = MongoClient(settings.mongo_url)[settings.mongo_database]
    [org] = db["organisations"].find({})
    [user] = db["users"].find({})
    assert org["owner_name"] == "Example Org"
    assert user["email"] == ADMIN_EMAIL and user["org_id"] == org["_id"]
    assert user["password_hash"] == settings.admin_password_hash
    apis_indexes = db["apis"].index_information()
    assert apis_indexes["api_id_unique"]["unique"]
    assert apis_indexes["route_unique"]["unique"]
    assert db["users"].index_information()["email_unique"]["unique"]
    assert db["sessions"].index_information()["expiry_ttl"]["expireAfterSeconds"] == 0


def test_later_starts_keep_a_changed_password(settings):
    start_and_stop(settings)
    users = MongoClient(settings.mongo_url)[settings.mongo_database]["users"]
    new_hash = bcrypt.hashpw(b"a new password", bcrypt.gensalt(4)).decode()
    users.update_one({"email": ADMIN_EMAIL}, {"$set": {"password_hash": new_hash}})

    start_and_stop(settings)
    start_and_stop(settings)

    assert users.count_documents({}) == 1
    assert users.find_one({})["password_hash"] == new_hash
    assert MongoClient(settings.mongo_url)[settings.mongo_database]["organisations"].count_documents({}) == 1
    with TestClient(create_app(settings)) as client:
        assert client.post("/api/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
                           ).status_code == 401
        login(client, password="a new password")
