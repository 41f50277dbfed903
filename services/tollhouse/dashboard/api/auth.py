"""Log in (trade an email and password for an access token) and log out (revoke it)."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from tollhouse.dashboard.auth import UserDep, issue_session, password_matches, spend_password_check_time
from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.models import ERROR_RESPONSES, LoginRequest, LoginResponse, StatusResponse

log = logging.getLogger("tollhouse.dashboard.login")

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)

# One message for unknown user and wrong password: the answer must not reveal which emails exist.
LOGIN_FAILED = "Invalid username or password"


# Plain ``def``: bcrypt takes ~0.2 s of CPU and must run in the threadpool, not on the event loop.
@router.post("/api/login", response_model=LoginResponse, summary="Get an access token")
def login(body: LoginRequest, store: StoreDep, settings: SettingsDep) -> LoginResponse:
    email = body.login_name
    user = store.find_user(email)
    if user is None:
        spend_password_check_time(settings.admin_password_hash)
        log.warning("failed login for %s", email, extra={"fields": {"reason": "unknown user"}})
        raise DashboardError(401, LOGIN_FAILED)
    if not password_matches(body.password, user["password_hash"]):
        log.warning("failed login for %s", email, extra={"fields": {"reason": "wrong password"}})
        raise DashboardError(401, LOGIN_FAILED)
    token, expires_at = issue_session(store, user, settings.token_ttl_seconds)
    log.info("login by %s", email)
    return LoginResponse(access_token=token, expires_at=int(expires_at.timestamp()))


@router.post("/api/logout", response_model=StatusResponse, summary="Revoke the access token in use")
def logout(user: UserDep, store: StoreDep) -> StatusResponse:
    store.delete_session(user.token_hash)
    log.info("logout by %s", user.email)
    return StatusResponse(Message="Logged out")
