"""``/api/users``: the organisation's users and their per-area permissions (area ``users``), as Tyk's paths.

``GET``/``POST /api/users``, ``GET``/``PUT``/``DELETE /api/users/{id}`` and ``POST
/api/users/{id}/actions/reset`` (``{"new_password": ...}``). Everything is scoped to the caller's organisation:
another organisation's user answers 404. Answers never carry the password hash.

Rules, checked before the single write so a refused request changes nothing:
- Emails are unique across the dashboard whatever their case (stored lower-case, unique index): 409.
- Passwords: at least 12 characters, at most 72 bytes (bcrypt); hashed at the cost of the deploy's admin hash.
- Only an admin may make an admin, or change, reset or delete one; a non-admin with ``users`` write may grant
  no more than it has itself (403), so ``users`` write never escalates.
- Nobody deletes themselves, and the organisation's last admin is neither deleted nor demoted (409). Without
  transactions two admins demoting each other at the same instant could both pass the check; the deploy's
  admin is re-created at the next start if it no longer exists (``bootstrap.py``), which is the way back.
- Changing a user's permissions counts from its next request; deleting a user or resetting its password
  revokes its access tokens (a reset of your own keeps the token in use).
"""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pymongo.errors import DuplicateKeyError

from tollhouse.dashboard import audit
from tollhouse.dashboard.auth import DEFAULT_BCRYPT_ROUNDS, CurrentUser, hash_password
from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.models import (
    ERROR_RESPONSES,
    ErrorResponse,
    PasswordReset,
    StatusResponse,
    UserCreate,
    UserList,
    UserUpdate,
    UserView,
)
from tollhouse.dashboard.paging import page_count, page_window
from tollhouse.dashboard.permissions import effective, exceeds, require
from tollhouse.dashboard.settings import DashboardSettings
from tollhouse.dashboard.store import Store, utcnow

log = logging.getLogger("tollhouse.dashboard.users")

RESPONSES = {
    403: {"model": ErrorResponse, "description": "Lacking users access, or granting more than the caller has."},
    404: {"model": ErrorResponse, "description": "No such user in the caller's organisation."},
    409: {"model": ErrorResponse, "description": "Email taken, deleting yourself, or removing the last admin."},
}
router = APIRouter(prefix="/api/users", tags=["users"], responses={**ERROR_RESPONSES, **RESPONSES})

USER_NOT_FOUND = "User not found"
Reader = Annotated[CurrentUser, Depends(require("users", "read"))]
Writer = Annotated[CurrentUser, Depends(require("users", "write"))]
UserIdPath = Annotated[str, Path(description="The user's id.")]


@router.get("", response_model=UserList, summary="List the organisation's users, oldest first")
def list_users(user: Reader, store: StoreDep, settings: SettingsDep,
               p: Annotated[int, Query(description="Page number from 1; 0 or lower returns every user.")] = 1
               ) -> dict:
    size = settings.page_size
    documents, total = store.list_users(user.org_id, *page_window(p, size))
    return {"users": [_view(document) for document in documents], "pages": page_count(total, size)}


@router.get("/{user_id}", response_model=UserView, summary="Read one user")
def get_user(user_id: UserIdPath, user: Reader, store: StoreDep) -> dict:
    return _view(existing_user(store, user.org_id, user_id))


# Plain ``def``: bcrypt must run in the threadpool, not on the event loop.
@router.post("", response_model=StatusResponse, summary="Create a user; Meta is its id")
def create_user(body: UserCreate, user: Writer, store: StoreDep, settings: SettingsDep) -> StatusResponse:
    document = add_user(store, settings, user, body.email_address, body.password, body.is_admin,
                        dict(body.user_permissions))
    return StatusResponse(Message="User created", Meta=document["_id"])


@router.put("/{user_id}", response_model=StatusResponse, summary="Change a user's permissions or admin flag")
def update_user(user_id: UserIdPath, body: UserUpdate, user: Writer, store: StoreDep) -> StatusResponse:
    change_access(store, user, user_id, body.is_admin,
                  None if body.user_permissions is None else dict(body.user_permissions))
    return StatusResponse(Message="User updated")


@router.post("/{user_id}/actions/reset", response_model=StatusResponse, summary="Set a user's password")
def reset_password(user_id: UserIdPath, body: PasswordReset, user: Writer, store: StoreDep,
                   settings: SettingsDep) -> StatusResponse:
    set_password(store, settings, user, user_id, body.new_password)
    return StatusResponse(Message="User password updated")


@router.delete("/{user_id}", response_model=StatusResponse, summary="Delete a user and revoke its tokens")
def delete_user(user_id: UserIdPath, user: Writer, store: StoreDep) -> StatusResponse:
    remove_user(store, user, user_id)
    return StatusResponse(Message="User deleted")


# The rules themselves, shared by the JSON API above and the web screens (``web/users.py``): each checks
# everything first, then writes once and audits; a refusal is a ``DashboardError`` and changes nothing.
# ``password`` must already satisfy ``models.Password`` (the API's body model or the web form checks it).

def add_user(store: Store, settings: DashboardSettings, caller: CurrentUser, email: str, password: str,
             is_admin: bool, permissions: dict[str, str]) -> dict:
    """Create a user in ``caller``'s organisation; the stored document. 403 beyond the caller's rights, 409 taken."""
    _check_grant(caller, is_admin, permissions)
    email = email.strip().lower()
    if store.find_user(email) is not None:
        raise DashboardError(409, f"A user with the email {email} already exists")
    document = {"_id": uuid.uuid4().hex, "email": email, "org_id": caller.org_id,
                "password_hash": hash_password(password, password_cost(settings)),
                "is_admin": is_admin, "permissions": permissions, "created_at": utcnow()}
    try:
        store.insert_user(document)
    except DuplicateKeyError:  # created meanwhile by someone else
        raise DashboardError(409, f"A user with the email {email} already exists") from None
    log.info("user %s created by %s", email, caller.email)
    audit.record(store, caller, "users", "create", document["_id"], after=audit.user_view(document))
    return document


def change_access(store: Store, caller: CurrentUser, user_id: str, is_admin: bool | None,
                  permissions: dict[str, str] | None) -> dict:
    """Set a user's admin flag and/or permissions (None: unchanged); the document after."""
    existing = existing_user(store, caller.org_id, user_id)
    _check_may_manage(caller, existing)
    is_admin = bool(existing.get("is_admin")) if is_admin is None else is_admin
    permissions = dict(existing.get("permissions") or {}) if permissions is None else permissions
    _check_grant(caller, is_admin, permissions)
    if existing.get("is_admin") and not is_admin and store.admin_count(caller.org_id) <= 1:
        raise DashboardError(409, "The organisation's last admin cannot lose the admin flag")
    updated = store.update_user(caller.org_id, user_id, {"is_admin": is_admin, "permissions": permissions})
    if updated is None:
        raise DashboardError(404, USER_NOT_FOUND)
    log.info("user %s modified by %s", existing["email"], caller.email)
    audit.record(store, caller, "users", "update", user_id, before=audit.user_view(existing),
                 after=audit.user_view(updated))
    return updated


def set_password(store: Store, settings: DashboardSettings, caller: CurrentUser, user_id: str, password: str,
                 action: str = "reset_password") -> None:
    """Set a user's password and revoke its other sessions (the caller's own session in use is kept)."""
    existing = existing_user(store, caller.org_id, user_id)
    _check_may_manage(caller, existing)
    password_hash = hash_password(password, password_cost(settings))
    if store.update_user(caller.org_id, user_id, {"password_hash": password_hash}) is None:
        raise DashboardError(404, USER_NOT_FOUND)
    store.delete_sessions_of(user_id, keep_token_hash=caller.token_hash)
    log.info("password of user %s set by %s (%s)", existing["email"], caller.email, action)
    view = audit.user_view(existing)
    audit.record(store, caller, "users", action, user_id, before=view, after=view)


def remove_user(store: Store, caller: CurrentUser, user_id: str) -> None:
    """Delete a user of ``caller``'s organisation and its sessions; never oneself nor the last admin (409)."""
    existing = existing_user(store, caller.org_id, user_id)
    if user_id == caller.user_id:
        raise DashboardError(409, "You cannot delete yourself")
    _check_may_manage(caller, existing)
    if existing.get("is_admin") and store.admin_count(caller.org_id) <= 1:
        raise DashboardError(409, "The organisation's last admin cannot be deleted")
    deleted = store.delete_user(caller.org_id, user_id)
    if deleted is None:
        raise DashboardError(404, USER_NOT_FOUND)
    log.info("user %s deleted by %s", existing["email"], caller.email)
    audit.record(store, caller, "users", "delete", user_id, before=audit.user_view(deleted))


def existing_user(store: Store, org_id: str, user_id: str) -> dict:
    document = store.get_user(org_id, user_id)
    if document is None:
        raise DashboardError(404, USER_NOT_FOUND)
    return document


def _check_grant(caller: CurrentUser, is_admin: bool, permissions: dict[str, str]) -> None:
    if is_admin and not caller.is_admin:
        raise DashboardError(403, "Forbidden: only an admin may grant admin")
    beyond = exceeds(permissions, caller)
    if beyond:
        details = "; ".join(f"{permissions[area]} on {area}: you have {caller.permissions.get(area, 'none')}"
                            for area in sorted(beyond))
        raise DashboardError(403, f"Forbidden: you cannot grant {details}")


def _check_may_manage(caller: CurrentUser, target: dict) -> None:
    if target.get("is_admin") and not caller.is_admin:
        raise DashboardError(403, "Forbidden: only an admin may change an admin")


def _view(document: dict) -> dict:
    view = audit.user_view(document) or {}
    return {**view, "user_permissions": effective(view["is_admin"], view["user_permissions"])}


def password_cost(settings: DashboardSettings) -> int:
    """bcrypt cost of new passwords: that of the deploy's admin hash."""
    try:
        return int(settings.admin_password_hash.split("$")[2])
    except (IndexError, ValueError):
        return DEFAULT_BCRYPT_ROUNDS
