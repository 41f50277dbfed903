"""The audit log: one document per change made through the API, and what ``GET /api/audit`` reads.

An entry is ``{_id, at, org_id, user_id, user_email, area, action, target, before, after}`` in the ``audit``
collection (index ``(org_id, at)``). ``before`` is null for a creation and ``after`` for a deletion. Secrets are
never written: a key is named by its hash (the key itself is not known after creation), a key's
``basic_auth_data.password`` (a bcrypt hash) is left out, and a user is recorded through ``user_view`` (id,
email, admin flag, permissions), never its password hash; a password reset is an entry with no password in it.

When the entry is written, and what happens if that fails: the entry is written by the route after its
change succeeded, in the same request. MongoDB offers no multi-document transaction without a replica set
(and keys live in Redis anyway), so the change and its entry are not atomic. If the audit write fails (the
database went away between the two writes, or a process died between them), the change stands, the client
still gets its success answer (the change did happen; an error would invite a retry that does it twice),
and the dashboard logs an ERROR ``audit entry lost`` naming the organisation, user, area, action and target,
so the gap can be found from the service's log. A refused request (400/403/404/409) writes no entry.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bson import ObjectId
from bson.errors import InvalidDocument
from pymongo import DESCENDING
from pymongo.errors import PyMongoError

from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.store import Store, utcnow

log = logging.getLogger("tollhouse.dashboard.audit")

NOT_RECORDED = "(not recorded)"


def record(store: Store, user: CurrentUser, area: str, action: str, target: str,
           before: Any = None, after: Any = None) -> bool:
    """Append one entry; False (and an ERROR log line) if it could not be written."""
    entry = {"_id": ObjectId(), "at": utcnow(), "org_id": user.org_id, "user_id": user.user_id,
             "user_email": user.email, "area": area, "action": action, "target": target,
             "before": before, "after": after}
    try:
        try:
            store.audit.insert_one(entry)
        except (InvalidDocument, OverflowError):
            # A document MongoDB cannot hold as is (e.g. a key's meta_data field name): keep it as JSON text.
            store.audit.insert_one({**entry, "before": _as_text(before), "after": _as_text(after)})
    except PyMongoError as exc:
        log.error("audit entry lost: %s %s %s by %s (org %s): %s", area, action, target, user.email,
                  user.org_id, exc)
        return False
    return True


def entries(store: Store, org_id: str, skip: int, limit: int, *, area: str | None = None,
            user: str | None = None, target: str | None = None) -> tuple[list[dict], int]:
    """One page of the organisation's entries, newest first, and the total count; ``user`` is an email or id."""
    query: dict[str, Any] = {"org_id": org_id}
    if area:
        query["area"] = area
    if user:
        query["$or"] = [{"user_email": user.strip().lower()}, {"user_id": user}]
    if target:
        query["target"] = target
    cursor = store.audit.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).skip(skip).limit(limit)
    return [_json_ready(entry) for entry in cursor], store.audit.count_documents(query)


def entry(store: Store, org_id: str, entry_id: str) -> dict | None:
    """One entry of the organisation by its id (as ``entries`` shows it), or None."""
    if not ObjectId.is_valid(entry_id):
        return None
    found = store.audit.find_one({"_id": ObjectId(entry_id), "org_id": org_id})
    return None if found is None else _json_ready(found)


def user_view(document: dict | None) -> dict | None:
    """What the audit log (and the users API) show of a user: never the password hash."""
    if document is None:
        return None
    return {"id": document["_id"], "email_address": document["email"], "org_id": document["org_id"],
            "is_admin": bool(document.get("is_admin")), "user_permissions": dict(document.get("permissions") or {})}


def key_view(session: dict | None) -> dict | None:
    """A key's session without the basic-auth password hash."""
    if session is None:
        return None
    view = dict(session)
    basic = view.get("basic_auth_data")
    if isinstance(basic, dict) and basic.get("password"):
        view["basic_auth_data"] = {**basic, "password": NOT_RECORDED}
    return view


def _as_text(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _json_ready(entry: dict) -> dict:
    entry["id"] = str(entry.pop("_id"))
    entry["at"] = entry["at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return entry
