"""The dashboard's web app for people: server-rendered pages over the same store, permissions and login checks.

``install(app)`` adds the pages (``routes.py``: login, home, logout; then one module per screen), the static
files (``/static``: vanilla CSS and JS, no CDN), the answers of the web-only exceptions (``session.py``: redirect
to login, 403 pages) and the security headers every page carries. The JSON API under ``/api`` is unchanged and
never reads the session cookie.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from tollhouse.dashboard.web import account, analytics, api_files, apis, audit, bootstrap, keys, policies, routes, users
from tollhouse.dashboard.web.session import CsrfRejected, LoginRequired, PageForbidden

# Pages load only this site's own files; no page may be framed (clickjacking); never cached (they show the
# signed-in user's data).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def install(app: FastAPI) -> None:
    # One module per screen; each holds its pages and form actions.
    # api_files before apis: its fixed paths (/apis/import) must win over /apis/{api_id}.
    for module in (routes, bootstrap, account, api_files, apis, keys, policies, users, analytics, audit):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=routes.HERE / "static"), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageForbidden, _forbidden)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)

    @app.middleware("http")
    async def page_headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        if response.headers.get("content-type", "").startswith("text/html"):
            for name, value in PAGE_HEADERS.items():
                response.headers.setdefault(name, value)
        return response


async def _login_required(request: Request, exc: LoginRequired) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":  # a form posted after the session ended: start over from the home page
        target = "/"
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)


async def _forbidden(request: Request, exc: PageForbidden) -> Response:
    title = "Forbidden" if exc.status_code == 403 else "Refused"
    return routes.render(request, "error.html", exc.status_code, title=title, message=exc.message,
                         session=exc.session)


async def _csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
    return routes.render(request, "error.html", 403, title="Forbidden",
                         message="The form expired or did not come from this site; nothing was changed.")
