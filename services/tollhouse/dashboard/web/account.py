"""The account screen of any signed-in user: who they are, their access, and changing their own password.

Changing the password asks for the current one, checked by ``auth.authenticate`` exactly as a login is: the
same bcrypt check, the same throttle, so a wrong current password counts as a failed login towards the
lockout (a stolen session cannot be used to guess the password), and a locked account is refused with 429.
The new password, typed twice, follows the rule of user creation (``models.Password``). It is then set by
``api.users.set_password``, which signs out every other session of the user, keeps the one in use, and
writes an audit entry (``users``/``change_password``) that holds no password.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from tollhouse.dashboard.api.users import set_password
from tollhouse.dashboard.auth import authenticate
from tollhouse.dashboard.deps import SettingsDep, StoreDep, ThrottleDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.models import PasswordReset
from tollhouse.dashboard.permissions import AREAS, effective
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, SessionDep, WebSession
from tollhouse.dashboard.web.users import AREA_LABELS

log = logging.getLogger("tollhouse.dashboard.web")

router = APIRouter(include_in_schema=False)

WRONG_CURRENT = "This is not your current password."


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, session: SessionDep, store: StoreDep, changed: str = "") -> Response:
    return _page(request, session, store, notice="Your password was changed; your other sessions were signed out."
                 if changed else None)


# Plain ``def``: bcrypt (twice) must run in the threadpool, not on the event loop.
@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, session: SessionDep, form: FormDep, store: StoreDep, settings: SettingsDep,
                    throttle: ThrottleDep) -> Response:
    current, new, again = (form.get(name, "") for name in ("current_password", "new_password", "new_password_again"))
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password."
    try:
        PasswordReset.model_validate({"new_password": new})
    except ValidationError as exc:
        errors["new_password"] = exc.errors()[0]["msg"].removeprefix("Value error, ")
    if new != again:
        errors["new_password_again"] = "The two new passwords differ."
    if errors:  # nothing was checked against the stored password yet: no failed login counted
        return _page(request, session, store, errors, status_code=400)
    address = request.client.host if request.client else None
    try:
        authenticate(store, throttle, settings.admin_password_hash, session.user.email, current, address)
    except DashboardError as exc:
        locked = exc.status_code == 429
        return _page(request, session, store, {"current_password": exc.message if locked else WRONG_CURRENT},
                     status_code=429 if locked else 400, headers=exc.headers)
    try:
        set_password(store, settings, session.user, session.user.user_id, new, action="change_password")
    except DashboardError as exc:  # the user was deleted meanwhile
        return _page(request, session, store, refused=exc.message, status_code=exc.status_code)
    log.info("%s changed their own password", session.user.email)
    return RedirectResponse("/account?changed=1", status_code=303)


def _page(request: Request, session: WebSession, store, errors: dict[str, str] | None = None,
          refused: str | None = None, notice: str | None = None, status_code: int = 200,
          headers: dict | None = None) -> Response:
    user = session.user
    organisation = store.organisations.find_one({"_id": user.org_id}, {"owner_name": 1}) or {}
    return render(request, "account.html", status_code, headers, session=session,
                  organisation=organisation.get("owner_name", ""), errors=errors or {}, refused=refused,
                  notice=notice, permissions=effective(user.is_admin, user.permissions), areas=AREAS,
                  area_labels=AREA_LABELS)
