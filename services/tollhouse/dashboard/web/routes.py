"""The web app's pages: login, logout and the home page. Server-rendered (Jinja2, autoescaped), no JSON.

Login runs the very check of POST /api/login (``auth.authenticate``: same throttle, lockout and message), then
starts a web session (``session.py``). Every other page needs that session (else a redirect to /login) and, for
the screens of an area, the same per-area permission the matching ``/api`` routes need (``session.page``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool

from tollhouse.dashboard.auth import authenticate, issue_session
from tollhouse.dashboard.bootstrap import has_admin
from tollhouse.dashboard.deps import SettingsDep, StoreDep, ThrottleDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.permissions import AREAS, allows
from tollhouse.dashboard.web.session import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    FormDep,
    OptionalSessionDep,
    SessionDep,
    clear_session_cookie,
    is_secure,
    new_csrf_token,
    read_form,
    set_login_csrf_cookie,
    set_session_cookie,
    tokens_match,
)

log = logging.getLogger("tollhouse.dashboard.web")

HERE = Path(__file__).parent
# autoescape=True everywhere (not only *.html): every {{ value }} is HTML-escaped unless marked safe.
templates = Jinja2Templates(env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True))

# The screens, by the area whose read access shows them (home page and top bar).
SCREENS = [("apis", "APIs", "/apis"), ("keys", "Keys", "/keys"), ("policies", "Policies", "/policies"),
           ("analytics", "Analytics", "/analytics"), ("users", "Users", "/users"), ("system", "Audit log", "/audit")]
assert {area for area, _, _ in SCREENS} == set(AREAS)

router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, status_code: int = 200, headers: dict | None = None, **context) -> Response:
    session = context.get("session")
    if session is not None:  # the top bar links to the screens this user may read
        context.setdefault("nav", screens_of(session.user))
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)


def screens_of(user) -> list[tuple[str, str]]:
    return [(label, path) for area, label, path in SCREENS if allows(user, area, "read")]


def safe_next(value: str | None) -> str:
    """Where to go after login: a path on this site only (never ``//host`` or a full URL)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and not value.startswith("/login"):
        return value
    return "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep, store: StoreDep, session: OptionalSessionDep,
               next: str = "/") -> Response:
    if session is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    if not has_admin(store):  # a fresh dashboard without the deploy's admin: nobody can log in yet
        return RedirectResponse("/bootstrap", status_code=303)
    return _login_form(request, settings, next)


def _login_form(request: Request, settings, next_path: str, *, email: str = "", error: str | None = None,
                status_code: int = 200, headers: dict | None = None) -> Response:
    token = new_csrf_token()
    response = render(request, "login.html", status_code, headers, csrf_token=token, email=email, error=error,
                      next=safe_next(next_path))
    set_login_csrf_cookie(response, request, settings, token)
    return response


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, store: StoreDep, settings: SettingsDep, throttle: ThrottleDep) -> Response:
    form = await read_form(request)
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), form.get(CSRF_FIELD)):
        return render(request, "error.html", 403, title="Forbidden",
                      message="The form expired or did not come from this site. Reload the login page and try again.")
    email, password = form.get("email", "").strip(), form.get("password", "")
    next_path = form.get("next", "/")
    if not email or not password:
        return _login_form(request, settings, next_path, email=email, error="Enter your email and password.",
                           status_code=400)
    address = request.client.host if request.client else None
    try:
        # bcrypt takes ~0.2 s of CPU: off the event loop.
        user = await run_in_threadpool(authenticate, store, throttle, settings.admin_password_hash, email, password,
                                       address)
    except DashboardError as exc:
        return _login_form(request, settings, next_path, email=email, error=exc.message,
                           status_code=exc.status_code, headers=exc.headers)
    token, _ = issue_session(store, user, settings.web_session_ttl_seconds, kind="web",
                             csrf_token=new_csrf_token())
    log.info("web login by %s", user["email"])
    response = RedirectResponse(safe_next(next_path), status_code=303)
    set_session_cookie(response, request, settings, token)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login", httponly=True, samesite="strict",
                           secure=is_secure(request, settings))
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, form: FormDep, store: StoreDep, settings: SettingsDep) -> Response:
    store.delete_session(session.user.token_hash)
    log.info("web logout by %s", session.user.email)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request, settings)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep, store: StoreDep) -> Response:
    organisation = store.organisations.find_one({"_id": session.user.org_id}, {"owner_name": 1}) or {}
    return render(request, "home.html", session=session, organisation=organisation.get("owner_name", ""),
                  screens=screens_of(session.user))
