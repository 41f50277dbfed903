"""The first organisation and admin user, created from the settings at first start.

Both writes are ``$setOnInsert`` upserts keyed by unique fields: a later start (or two dashboards
starting together) never creates a second copy and never overwrites a password changed since.
"""

from __future__ import annotations

import logging
import uuid

from pymongo import ReturnDocument

from tollhouse.dashboard.store import Store, utcnow

log = logging.getLogger("tollhouse.dashboard.bootstrap")


def ensure_first_admin(store: Store, org_name: str, admin_email: str, admin_password_hash: str) -> None:
    org = store.organisations.find_one_and_update(
        {"owner_name": org_name},
        {"$setOnInsert": {"_id": uuid.uuid4().hex, "created_at": utcnow()}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    email = admin_email.strip().lower()
    result = store.users.update_one(
        {"email": email},
        {"$setOnInsert": {
            "_id": uuid.uuid4().hex,
            "password_hash": admin_password_hash,
            "org_id": org["_id"],
            "is_admin": True,
            "created_at": utcnow(),
        }},
        upsert=True,
    )
    if result.upserted_id is not None:
        log.info("created the first admin user %s in organisation %r", email, org_name)
