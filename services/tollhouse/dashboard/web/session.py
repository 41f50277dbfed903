"""Browser sessions and CSRF for the web app: the session cookie, the form token, and the page dependencies.

Session: the cookie ``tollhouse_session`` holds a random token; MongoDB keeps only its SHA-256, in the same
``sessions`` collection (and TTL index) as the API's access tokens, marked ``kind: "web"`` and with its own
lifetime (``web_session_ttl_seconds``). Logging out deletes the document, so a copied cookie is dead at once.
The cookie is HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site POSTs), Path=/, and Secure
when the request came over https (uvicorn reads ``X-Forwarded-Proto`` from trusted proxies, by default only
127.0.0.1: its ``--forwarded-allow-ips``) or when ``web_behind_tls`` says a TLS proxy is in front anyway.
The ``/api`` routes never read this cookie, only the ``authorization`` header, so they need no CSRF defence.

CSRF: a synchronizer token. Each web session gets a random ``csrf_token`` stored with it; every form that
changes something carries it in a hidden field, and a POST whose field is missing or differs (constant-time
compare) is answered 403 before the route does anything. Chosen over a signed double-submit cookie because
the session is already looked up in MongoDB on every request, so the token costs no extra round trip and no
extra secret, and it dies with the session. SameSite=Lax is a second layer, not the defence.

The login form has no session yet: it uses a double-submit cookie, ``tollhouse_login_csrf`` (random,
HttpOnly, SameSite=Strict, Path=/login), which the POST must echo in its form. A cross-site page can neither
read that cookie nor set one on this origin, so it cannot forge a login (which would sign the victim in to
the attacker's account). Both tokens are compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from starlette.responses import Response

from tollhouse.dashboard.auth import CurrentUser, session_user, token_hash
from tollhouse.dashboard.deps import StoreDep
from tollhouse.dashboard.permissions import allows
from tollhouse.dashboard.settings import DashboardSettings

SESSION_COOKIE = "tollhouse_session"
LOGIN_CSRF_COOKIE = "tollhouse_login_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 64 * 1024


class LoginRequired(Exception):
    """No live web session: answered with a redirect to the login page."""


class PageForbidden(Exception):
    """Signed in, but the page or action is refused: answered 403 (or ``status_code``) with a page saying why,
    under the top bar of ``session``."""

    def __init__(self, message: str, session: WebSession | None = None, status_code: int = 403):
        super().__init__(message)
        self.message, self.session, self.status_code = message, session, status_code


class CsrfRejected(Exception):
    """A state-changing POST without the right CSRF token: answered 403, nothing done."""


@dataclass(frozen=True)
class WebSession:
    user: CurrentUser
    csrf_token: str


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(expected.encode(), given.encode())


def is_secure(request: Request, settings: DashboardSettings) -> bool:
    return request.url.scheme == "https" or settings.web_behind_tls


def set_session_cookie(response: Response, request: Request, settings: DashboardSettings, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.web_session_ttl_seconds, path="/",
                        httponly=True, samesite="lax", secure=is_secure(request, settings))


def clear_session_cookie(response: Response, request: Request, settings: DashboardSettings) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=is_secure(request, settings))


def set_login_csrf_cookie(response: Response, request: Request, settings: DashboardSettings, token: str,
                          path: str = "/login") -> None:
    """The double-submit CSRF cookie of a form shown before any session: login, and bootstrap at its own path."""
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, path=path, httponly=True, samesite="strict",
                        secure=is_secure(request, settings))


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send); the last value of each field.
    A body over ``limit`` bytes reads as empty (so fails the CSRF check)."""
    body = await request.body()
    if len(body) > limit:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def optional_session(request: Request, store: StoreDep) -> WebSession | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = session_user(store, token_hash(token))
    if found is None or found[1].get("kind") != "web":  # an API access token is not a browser session
        return None
    user, session = found
    return WebSession(user, session.get("csrf_token", ""))


def required_session(session: Annotated[WebSession | None, Depends(optional_session)]) -> WebSession:
    if session is None:
        raise LoginRequired()
    return session


SessionDep = Annotated[WebSession, Depends(required_session)]
OptionalSessionDep = Annotated[WebSession | None, Depends(optional_session)]


async def checked_form(request: Request, session: SessionDep) -> dict[str, str]:
    """The POSTed form of a signed-in user, once its CSRF token matched the session's; else 403. At most
    ``MAX_FORM_BYTES``, or what the route allowed with ``allow_large_form`` (else 403 saying so)."""
    limit = getattr(request.state, "form_limit", MAX_FORM_BYTES)
    if len(await request.body()) > limit:
        raise PageForbidden(f"The form is larger than {limit // 1024} KB, the most this page takes; nothing was "
                            "changed.", session, status_code=413)
    form = await read_form(request, limit)
    if not tokens_match(session.csrf_token, form.get(CSRF_FIELD)):
        raise CsrfRejected()
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]


def allow_large_form(limit: int):
    """A route dependency for forms that carry whole documents (``dependencies=[Depends(allow_large_form(n))]``:
    route dependencies run before the form is read): ``checked_form`` then takes up to ``limit`` bytes."""

    def dependency(request: Request) -> None:
        request.state.form_limit = limit

    return dependency


def page(area: str, mode: str):
    """The dependency of a page (``read``) or form action (``write``) in ``area``: the session, or 403."""

    def dependency(session: SessionDep) -> WebSession:
        if not allows(session.user, area, mode):
            raise PageForbidden(f"This needs {mode} access to {area}.", session)
        return session

    dependency.area, dependency.mode = area, mode  # type: ignore[attr-defined]
    return dependency

