"""The first-run page: with no admin user yet, ``/bootstrap`` creates the organisation and its admin.

It asks for the one-time code the dashboard wrote to its log at start (``dashboard/bootstrap.py`` says why),
the organisation's name, the admin's email and a password typed twice (the same rules as any user's). The
form has no session yet, so it carries the login form's double-submit CSRF cookie. Once an admin exists the
page sends everyone to /login, and /login sends to /bootstrap while none does. Success signs the new admin in.
"""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from tollhouse.dashboard import audit
from tollhouse.dashboard.auth import CurrentUser, hash_password, issue_session
from tollhouse.dashboard.bootstrap import claim_code, ensure_first_admin, has_admin
from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.models import Password
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    new_csrf_token,
    read_form,
    set_login_csrf_cookie,
    set_session_cookie,
    tokens_match,
)

log = logging.getLogger("tollhouse.dashboard.web")

router = APIRouter(include_in_schema=False)

PATH = "/bootstrap"
FIELDS = ("code", "org_name", "email", "password", "password_again")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
WRONG_CODE = ("The code is wrong or was already used. The valid one is in the newest \"no administrator yet\" "
              "line of the dashboard's log.")


@router.get(PATH, response_class=HTMLResponse)
def bootstrap_page(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    if has_admin(store):
        return RedirectResponse("/login", status_code=303)
    return _form(request, settings, {})


@router.post(PATH, response_class=HTMLResponse)
async def bootstrap(request: Request, store: StoreDep, settings: SettingsDep) -> Response:
    form = await read_form(request)
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), form.get(CSRF_FIELD)):
        return render(request, "error.html", 403, title="Forbidden",
                      message="The form expired or did not come from this site. Reload the page and try again.")
    if has_admin(store):
        return RedirectResponse("/login", status_code=303)
    values = {name: form.get(name, "").strip() for name in ("code", "org_name", "email")}
    values["email"] = values["email"].lower()
    password = form.get("password", "")
    errors = _check(store, values, password, form.get("password_again", ""))
    if not errors and not claim_code(store, values["code"]):
        errors["code"] = WRONG_CODE
    if errors:
        log.warning("bootstrap refused: %s", ", ".join(sorted(errors)))
        return _form(request, settings, values, errors, status_code=400)
    # bcrypt takes ~0.2 s of CPU: off the event loop.
    password_hash = await run_in_threadpool(hash_password, password)
    user = ensure_first_admin(store, values["org_name"], values["email"], password_hash)
    admin = CurrentUser(user["_id"], user["email"], user["org_id"], token_hash="", is_admin=True)
    audit.record(store, admin, "users", "bootstrap", user["_id"], after=audit.user_view(user))
    log.info("bootstrap: created organisation %r and admin %s", values["org_name"], values["email"])
    token, _ = issue_session(store, user, settings.web_session_ttl_seconds, kind="web", csrf_token=new_csrf_token())
    response = RedirectResponse("/", status_code=303)
    set_session_cookie(response, request, settings, token)
    return response


def _check(store, values: dict[str, str], password: str, password_again: str) -> dict[str, str]:
    errors = {}
    if not values["code"]:
        errors["code"] = "Enter the one-time code from the dashboard's log."
    if not 1 <= len(values["org_name"]) <= 100:
        errors["org_name"] = "Enter the organisation's name (at most 100 characters)."
    if len(values["email"]) > 254 or re.fullmatch(EMAIL_PATTERN, values["email"]) is None:
        errors["email"] = "Enter an email address."
    elif store.find_user(values["email"]) is not None:
        errors["email"] = "A user with this email exists already."
    try:
        TypeAdapter(Password).validate_python(password)
    except ValidationError as exc:
        errors["password"] = "The password " + exc.errors()[0]["msg"].removeprefix("Value error, ") + "."
    if password != password_again:
        errors["password_again"] = "The two passwords differ."
    return errors


def _form(request: Request, settings, values: dict[str, str], errors: dict[str, str] | None = None,
          status_code: int = 200) -> Response:
    token = new_csrf_token()
    response = render(request, "bootstrap.html", status_code, csrf_token=token, values=values, errors=errors or {})
    set_login_csrf_cookie(response, request, settings, token, path=PATH)
    return response
