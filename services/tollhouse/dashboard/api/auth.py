"""Log in (trade an email and password for an access token) and log out (revoke it).

Failed logins are throttled per email and per client address (``throttle.py``): a locked email or address
gets 429 with ``Retry-After``, whatever the password. Unknown emails and wrong passwords get the same 401
(and the same bcrypt work), and are counted and locked the same way, so no answer tells whether an email exists.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from tollhouse.dashboard.auth import UserDep, authenticate, issue_session
from tollhouse.dashboard.deps import SettingsDep, StoreDep, ThrottleDep
from tollhouse.dashboard.models import ERROR_RESPONSES, ErrorResponse, LoginRequest, LoginResponse, StatusResponse

log = logging.getLogger("tollhouse.dashboard.login")

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)

LOCKED = {429: {"model": ErrorResponse, "description": "Too many failed logins for this email or address; "
                                                        "Retry-After says when to try again."}}


# Plain ``def``: bcrypt takes ~0.2 s of CPU and must run in the threadpool, not on the event loop.
@router.post("/api/login", response_model=LoginResponse, responses=LOCKED, summary="Get an access token")
def login(body: LoginRequest, request: Request, store: StoreDep, settings: SettingsDep,
          throttle: ThrottleDep) -> LoginResponse:
    email = body.login_name
    address = request.client.host if request.client else None
    user = authenticate(store, throttle, settings.admin_password_hash, email, body.password, address)
    token, expires_at = issue_session(store, user, settings.token_ttl_seconds)
    log.info("login by %s", email)
    return LoginResponse(access_token=token, expires_at=int(expires_at.timestamp()))


@router.post("/api/logout", response_model=StatusResponse, summary="Revoke the access token in use")
def logout(user: UserDep, store: StoreDep) -> StatusResponse:
    store.delete_session(user.token_hash)
    log.info("logout by %s", user.email)
    return StatusResponse(Message="Logged out")
