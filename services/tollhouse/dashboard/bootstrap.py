"""The first organisation and admin user: from the settings at first start, or at /bootstrap with a one-time code.

Both writes are ``$setOnInsert`` upserts keyed by unique fields: a later start (or two dashboards
starting together) never creates a second copy and never overwrites a password changed since.

Without the admin settings, a dashboard that finds no admin user issues a one-time bootstrap code at start
and writes it to its log (the journal: only someone on the host reads it). ``/bootstrap`` creates the
organisation and admin only with that code, so whoever reaches a fresh dashboard first over the network
cannot take it over (Tyk's bootstrap page trusts the first visitor). Only the code's SHA-256 is stored,
in one document; each start replaces it (the newest log line holds the valid code) and a successful
bootstrap deletes it atomically, so a code works once even with two submissions racing. 64 random bits:
guessing is hopeless without any throttle.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid

from pymongo import ReturnDocument

from tollhouse.dashboard.store import Store, utcnow

log = logging.getLogger("tollhouse.dashboard.bootstrap")


CODE_ID = "first-admin"


def ensure_first_admin(store: Store, org_name: str, admin_email: str, admin_password_hash: str) -> dict:
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
    return store.users.find_one({"email": email})


def has_admin(store: Store) -> bool:
    return store.users.find_one({"is_admin": True}, {"_id": 1}) is not None


def issue_code(store: Store) -> str:
    """A new one-time bootstrap code (replacing any earlier one)."""
    code = "-".join(secrets.token_hex(2) for _ in range(4))
    store.bootstrap_codes.replace_one({"_id": CODE_ID}, {"_id": CODE_ID, "code_hash": _code_hash(code),
                                                         "issued_at": utcnow()}, upsert=True)
    return code


def claim_code(store: Store, code: str) -> bool:
    """Use the code up: True for exactly one caller with the right code, False for anyone else."""
    claimed = store.bootstrap_codes.find_one_and_delete({"_id": CODE_ID, "code_hash": _code_hash(code)})
    return claimed is not None


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()
