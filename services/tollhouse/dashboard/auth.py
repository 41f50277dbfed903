"""Passwords, access tokens and the ``authorization`` header check that guards every ``/api`` route.

Passwords are bcrypt hashes. Access tokens are random; only their SHA-256 is stored, so a copy of
the database does not let anyone log in. A failed check never says which part was wrong.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from typing import Annotated

import bcrypt
from fastapi import Depends, Security
from fastapi.security import APIKeyHeader

from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.store import Store, utcnow
from tollhouse.dashboard.throttle import LoginThrottle

log = logging.getLogger("tollhouse.dashboard.login")

BCRYPT_MAX_BYTES = 72  # bcrypt ignores (or, from bcrypt 5, refuses) anything longer
DEFAULT_BCRYPT_ROUNDS = 12

user_token_header = APIKeyHeader(name="authorization", scheme_name="access_token", auto_error=False,
                                 description="The access_token from POST /api/login.")
node_secret_header = APIKeyHeader(name="authorization", scheme_name="node_secret", auto_error=False,
                                  description="The node secret shared by the dashboard and its gateways.")


def hash_password(password: str, rounds: int = DEFAULT_BCRYPT_ROUNDS) -> str:
    encoded = password.encode()
    if not encoded:
        raise ValueError("the password is empty")
    if len(encoded) > BCRYPT_MAX_BYTES:
        raise ValueError(f"the password is longer than {BCRYPT_MAX_BYTES} bytes, which bcrypt cannot use")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds)).decode()


def password_matches(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # too long, or a hash bcrypt cannot read
        return False


@functools.cache
def _decoy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"decoy", bcrypt.gensalt(rounds)).decode()


def spend_password_check_time(password_hash_like: str) -> None:
    """Check against a decoy of the same cost, so an unknown user answers as slowly as a wrong password."""
    try:
        rounds = int(password_hash_like.split("$")[2])
    except (IndexError, ValueError):
        rounds = DEFAULT_BCRYPT_ROUNDS
    password_matches("not the password", _decoy_hash(rounds))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bare_token(header_value: str) -> str:
    # Tyk sends the token bare; tools built for OAuth-style APIs add "Bearer ".
    scheme, _, rest = header_value.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" and rest else header_value.strip()


@dataclass(frozen=True)
class CurrentUser:
    user_id: str
    email: str
    org_id: str
    token_hash: str
    is_admin: bool = False
    permissions: dict = field(default_factory=dict)


def issue_session(store: Store, user: dict, ttl_seconds: int, **extra) -> tuple[str, dt.datetime]:
    """A new session token (only its SHA-256 is stored); ``extra`` fields are stored with the session."""
    token = new_token()
    expires_at = (utcnow() + dt.timedelta(seconds=ttl_seconds)).replace(microsecond=0)
    store.create_session(token_hash(token), user, expires_at, **extra)
    return token, expires_at


def session_user(store: Store, hashed: str) -> tuple[CurrentUser, dict] | None:
    """The user of a live session (by token hash) and the session, or None; permissions read fresh from the user."""
    session = store.find_live_session(hashed)
    user = None if session is None else store.get_user(session["org_id"], session["user_id"])
    if user is None:  # no session, or its user was deleted
        return None
    return CurrentUser(user["_id"], user["email"], user["org_id"], hashed, bool(user.get("is_admin")),
                       dict(user.get("permissions") or {})), session


def authorization(store: StoreDep, header: Annotated[str | None, Security(user_token_header)] = None
                  ) -> CurrentUser:
    """The logged-in user behind the ``authorization`` header, or 401."""
    if not header or not bare_token(header):
        raise DashboardError(401, "Authorization header missing")
    found = session_user(store, token_hash(bare_token(header)))
    if found is None:
        raise DashboardError(401, "Invalid, expired or revoked access token")
    return found[0]


def node_authorization(settings: SettingsDep,
                       header: Annotated[str | None, Security(node_secret_header)] = None) -> None:
    """Gateways only: the header must be the node secret (compared in constant time), else 403."""
    if not header or not hmac.compare_digest(header.encode(), settings.node_secret.encode()):
        raise DashboardError(403, "Attempted administrative access with invalid or missing key!")


UserDep = Annotated[CurrentUser, Depends(authorization)]

# One message for unknown user and wrong password: the answer must not reveal which emails exist.
LOGIN_FAILED = "Invalid username or password"
LOCKED_OUT = "Too many failed logins; try again later"


def authenticate(store: Store, throttle: LoginThrottle, decoy_hash: str, email: str, password: str,
                 address: str | None) -> dict:
    """The user whose email and password these are, or ``DashboardError`` 429 (locked out) or 401 (anything else).

    The one password check of POST /api/login and the web login form: same throttle, same messages. Unknown
    emails and wrong passwords cost the same bcrypt work (``decoy_hash`` gives the cost) and are counted alike.
    """
    retry_after = throttle.retry_after(email, address)
    if retry_after is not None:
        log.warning("login refused for %s from %s: locked out", email, address)
        raise DashboardError(429, LOCKED_OUT, headers={"Retry-After": str(retry_after)})
    user = store.find_user(email)
    if user is None:
        spend_password_check_time(decoy_hash)
        log.warning("failed login for %s", email, extra={"fields": {"reason": "unknown user"}})
        throttle.failed(email, address)
        raise DashboardError(401, LOGIN_FAILED)
    if not password_matches(password, user["password_hash"]):
        log.warning("failed login for %s", email, extra={"fields": {"reason": "wrong password"}})
        throttle.failed(email, address)
        raise DashboardError(401, LOGIN_FAILED)
    throttle.succeeded(email)
    return user
