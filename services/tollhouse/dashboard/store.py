"""All MongoDB access of the dashboard: collections, indexes and the queries the endpoints need.

An API is stored as ``{_id: api_id, api_id, org_id, name, active, domain, listen_path, created_at,
updated_at, definition}``: ``definition`` is the user's dict exactly as given (unknown fields kept),
the top-level fields are computed from the validated definition so that indexes and queries never
depend on what the user wrote (e.g. ``active: "false"`` or a missing ``domain``).
The unique ``route`` index on (domain, normalised listen_path) backs the friendlier check done in
code, so two simultaneous creations cannot both win.

A policy is stored as the document the gateways read from ``/system/policies``: the user's dict (unknown
fields kept) with ``_id`` and ``id`` both the policy id, ``org_id`` the owner's, and Tyk's ``date_created``
and ``last_updated`` (ISO 8601 strings with microseconds, so they sort in time order) set by the dashboard.
Policy ids are unique across organisations, as every gateway holds one table of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pymongo
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

API_ID_INDEX = "api_id_unique"
ROUTE_INDEX = "route_unique"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Store:
    def __init__(self, client: MongoClient, database: str):
        self.client = client
        db = client[database]
        self.apis: Collection = db["apis"]
        self.policies: Collection = db["policies"]
        self.organisations: Collection = db["organisations"]
        self.users: Collection = db["users"]
        self.sessions: Collection = db["sessions"]
        self.audit: Collection = db["audit"]
        self.login_failures: Collection = db["login_failures"]
        self.bootstrap_codes: Collection = db["bootstrap_codes"]

    @classmethod
    def connect(cls, url: str, database: str, timeout_seconds: float) -> Store:
        timeout_ms = int(timeout_seconds * 1000)
        client: MongoClient = MongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=timeout_ms * 2,
            appname="tollhouse-dashboard",
        )
        return cls(client, database)

    def close(self) -> None:
        self.client.close()

    def ping(self, timeout_seconds: float) -> None:
        """Raise a ``PyMongoError`` unless the server answers within the timeout."""
        with pymongo.timeout(timeout_seconds):
            self.client.admin.command("ping")

    def ensure_indexes(self) -> None:
        self.apis.create_index([("api_id", ASCENDING)], unique=True, name=API_ID_INDEX)
        self.apis.create_index([("domain", ASCENDING), ("listen_path", ASCENDING)], unique=True,
                               name=ROUTE_INDEX)
        self.apis.create_index([("org_id", ASCENDING), ("created_at", DESCENDING)], name="org_created")
        self.policies.create_index([("org_id", ASCENDING), ("date_created", DESCENDING)], name="org_created")
        self.users.create_index([("email", ASCENDING)], unique=True, name="email_unique")
        self.organisations.create_index([("owner_name", ASCENDING)], unique=True, name="owner_name_unique")
        # The server drops expired sessions by itself; lookups also check expiry (the sweep is ~60 s).
        self.sessions.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry_ttl")
        self.sessions.create_index([("user_id", ASCENDING)], name="user")
        self.users.create_index([("org_id", ASCENDING), ("created_at", ASCENDING)], name="org_created")
        self.audit.create_index([("org_id", ASCENDING), ("at", DESCENDING)], name="org_at")
        self.login_failures.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry_ttl")

    # --- users and sessions -------------------------------------------------------------------

    def find_user(self, email: str) -> dict | None:
        return self.users.find_one({"email": email})

    def get_user(self, org_id: str, user_id: str) -> dict | None:
        return self.users.find_one({"_id": user_id, "org_id": org_id})

    def list_users(self, org_id: str, skip: int, limit: int | None) -> tuple[list[dict], int]:
        """One page of an organisation's users, oldest first, and the total count."""
        query = {"org_id": org_id}
        cursor = self.users.find(query).sort([("created_at", ASCENDING), ("_id", ASCENDING)]).skip(skip)
        if limit is not None:
            cursor = cursor.limit(limit)
        return list(cursor), self.users.count_documents(query)

    def insert_user(self, document: dict) -> None:
        """Raise ``DuplicateKeyError`` if the email is taken (emails are stored lower-case)."""
        self.users.insert_one(document)

    def update_user(self, org_id: str, user_id: str, changes: dict) -> dict | None:
        """Set ``changes`` on the user; the document after, or None if it is gone."""
        return self.users.find_one_and_update({"_id": user_id, "org_id": org_id}, {"$set": changes},
                                              return_document=pymongo.ReturnDocument.AFTER)

    def delete_user(self, org_id: str, user_id: str) -> dict | None:
        """Delete the user and its sessions; the deleted document, or None if it was gone."""
        deleted = self.users.find_one_and_delete({"_id": user_id, "org_id": org_id})
        if deleted is not None:
            self.sessions.delete_many({"user_id": user_id})
        return deleted

    def admin_count(self, org_id: str) -> int:
        return self.users.count_documents({"org_id": org_id, "is_admin": True})

    def delete_sessions_of(self, user_id: str, keep_token_hash: str | None = None) -> None:
        self.sessions.delete_many({"user_id": user_id, "_id": {"$ne": keep_token_hash}})

    def create_session(self, token_hash: str, user: dict, expires_at: dt.datetime, **extra) -> None:
        self.sessions.insert_one({
            **extra,
            "_id": token_hash,
            "user_id": user["_id"],
            "email": user["email"],
            "org_id": user["org_id"],
            "created_at": utcnow(),
            "expires_at": expires_at,
        })

    def find_live_session(self, token_hash: str) -> dict | None:
        return self.sessions.find_one({"_id": token_hash, "expires_at": {"$gt": utcnow()}})

    def delete_session(self, token_hash: str) -> None:
        self.sessions.delete_one({"_id": token_hash})

    # --- APIs -----------------------------------------------------------------------------------

    def list_apis(self, org_id: str, skip: int, limit: int | None) -> tuple[list[dict], int]:
        """One page of an organisation's APIs, newest first (Tyk's order), and the total count."""
        query = {"org_id": org_id}
        cursor = self.apis.find(query).sort([("created_at", DESCENDING), ("api_id", ASCENDING)]).skip(skip)
        if limit is not None:
            cursor = cursor.limit(limit)
        return list(cursor), self.apis.count_documents(query)

    def get_api(self, org_id: str, api_id: str) -> dict | None:
        return self.apis.find_one({"_id": api_id, "org_id": org_id})

    def route_owner(self, domain: str, listen_path: str) -> str | None:
        """The api_id already using (domain, normalised listen_path), if any."""
        found = self.apis.find_one({"domain": domain, "listen_path": listen_path}, {"api_id": 1})
        return found["api_id"] if found else None

    def api_id_taken(self, api_id: str) -> bool:
        return self.apis.count_documents({"_id": api_id}, limit=1) > 0

    def insert_api(self, record: dict) -> None:
        """Raise ``DuplicateKeyError`` (see ``duplicate_index``) if the id or the route is taken."""
        now = utcnow()
        self.apis.insert_one({"_id": record["api_id"], **record, "created_at": now, "updated_at": now})

    def replace_api(self, org_id: str, record: dict, created_at: dt.datetime) -> bool:
        """Replace a whole stored API (the definition dict may hold any field names); False if gone."""
        document = {"_id": record["api_id"], **record, "created_at": created_at, "updated_at": utcnow()}
        result = self.apis.replace_one({"_id": record["api_id"], "org_id": org_id}, document)
        return result.matched_count == 1

    def delete_api(self, org_id: str, api_id: str) -> dict | None:
        """The deleted API, or None if there was none."""
        return self.apis.find_one_and_delete({"_id": api_id, "org_id": org_id})

    def active_definitions(self) -> list[dict]:
        """Every active API of every organisation, for the gateways."""
        cursor = self.apis.find({"active": True}, {"definition": 1}).sort("api_id", ASCENDING)
        return [document["definition"] for document in cursor]

    def existing_api_ids(self, org_id: str, api_ids: list[str]) -> set[str]:
        """Which of ``api_ids`` are APIs of the organisation."""
        if not api_ids:
            return set()
        cursor = self.apis.find({"_id": {"$in": api_ids}, "org_id": org_id}, {"_id": 1})
        return {document["_id"] for document in cursor}

    # --- policies -------------------------------------------------------------------------------

    def list_policies(self, org_id: str, skip: int, limit: int | None) -> tuple[list[dict], int]:
        """One page of an organisation's policies, newest first, and the total count."""
        query = {"org_id": org_id}
        cursor = self.policies.find(query).sort([("date_created", DESCENDING), ("_id", ASCENDING)]).skip(skip)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_json_ready(document) for document in cursor], self.policies.count_documents(query)

    def get_policy(self, org_id: str, policy_id: str) -> dict | None:
        document = self.policies.find_one({"_id": policy_id, "org_id": org_id})
        return None if document is None else _json_ready(document)

    def policy_id_taken(self, policy_id: str) -> bool:
        return self.policies.count_documents({"_id": policy_id}, limit=1) > 0

    def existing_policy_ids(self, org_id: str, policy_ids: list[str]) -> set[str]:
        """Which of ``policy_ids`` are policies of the organisation."""
        if not policy_ids:
            return set()
        cursor = self.policies.find({"_id": {"$in": policy_ids}, "org_id": org_id}, {"_id": 1})
        return {document["_id"] for document in cursor}

    def policy_lifetimes(self, org_id: str, policy_ids: list[str]) -> list[int]:
        """The ``key_expires_in`` of each of the organisation's policies named (validated when stored)."""
        if not policy_ids:
            return []
        cursor = self.policies.find({"_id": {"$in": policy_ids}, "org_id": org_id}, {"key_expires_in": 1})
        return [int(document.get("key_expires_in") or 0) for document in cursor]

    def insert_policy(self, document: dict) -> None:
        """Raise ``DuplicateKeyError`` if the id is taken (by any organisation)."""
        self.policies.insert_one(document)

    def replace_policy(self, org_id: str, document: dict) -> bool:
        """Replace a whole stored policy; False if it is gone."""
        return self.policies.replace_one({"_id": document["_id"], "org_id": org_id}, document).matched_count == 1

    def delete_policy(self, org_id: str, policy_id: str) -> dict | None:
        """The deleted policy, or None if there was none."""
        document = self.policies.find_one_and_delete({"_id": policy_id, "org_id": org_id})
        return None if document is None else _json_ready(document)

    def all_policies(self) -> list[dict[str, Any]]:
        """Every policy of every organisation, for the gateways."""
        return [_json_ready(document) for document in self.policies.find({}).sort("_id", ASCENDING)]


def duplicate_index(exc: DuplicateKeyError) -> str:
    """Which unique index refused a write, from the server's error details."""
    details = exc.details or {}
    pattern = details.get("keyPattern") or {}
    if "listen_path" in pattern or ROUTE_INDEX in str(details.get("errmsg", "")):
        return ROUTE_INDEX
    return API_ID_INDEX


def _json_ready(document: dict) -> dict:
    # Tyk shows a policy's "_id" as the ObjectId's hex string; an ObjectId itself is not JSON.
    if "_id" in document:
        document["_id"] = str(document["_id"])
    return document
