"""Every web page and form action declares its guard: a session, the area permission, and CSRF on POSTs.

A walk over the app's routes, so a screen added later without its checks fails here (the JSON API's walk is in
test_permissions.py). The behaviour behind each guard is tested per screen (test_web_*.py)."""

from __future__ import annotations

from tests.integration.dashboard.conftest import USER_PASSWORD, add_user
from tests.integration.dashboard.test_permissions import _api_routes
from tests.integration.dashboard.test_web import web_login
from tollhouse.dashboard.app import create_app
from tollhouse.dashboard.web.session import checked_form, required_session

# Pages shown before any session: they carry their own double-submit CSRF token (session.py, bootstrap.py).
PUBLIC = {("GET", "/login"), ("POST", "/login"), ("GET", "/bootstrap"), ("POST", "/bootstrap")}
# Any signed-in user's own pages: no area.
OWN = {("GET", "/"), ("POST", "/logout"), ("GET", "/account"), ("POST", "/account/password")}
NOT_WEB = ("/api/", "/system/", "/hello", "/docs", "/redoc", "/openapi.json", "/static")


def _calls(dependant) -> list:
    found = []
    for dependency in dependant.dependencies:
        found.append(dependency.call)
        found.extend(_calls(dependency))
    return found


def web_routes(settings) -> list[tuple[str, str, list]]:
    routes = []
    for route in _api_routes(create_app(settings).routes):
        if route.path.startswith(NOT_WEB):
            continue
        for method in route.methods - {"HEAD"}:
            routes.append((method, route.path, _calls(route.dependant)))
    return routes


def test_every_web_route_needs_a_session_and_its_area_permission(settings):
    routes = web_routes(settings)
    assert len(routes) > 20  # the walk found the screens
    for method, path, calls in routes:
        if (method, path) in PUBLIC:
            assert required_session not in calls, (method, path)
            continue
        assert required_session in calls, f"{method} {path} does not need a session"
        guards = {(call.area, call.mode) for call in calls if hasattr(call, "area")}
        if (method, path) in OWN:
            assert not guards, (method, path, guards)
            continue
        # A page reads (a form page that only writers may use needs write); an action always writes.
        expected = {"read", "write"} if method == "GET" else {"write"}
        assert len(guards) == 1 and next(iter(guards))[1] in expected, f"{method} {path} declares {guards}"


def test_every_web_post_checks_the_csrf_token(settings):
    for method, path, calls in web_routes(settings):
        if method == "POST" and (method, path) not in PUBLIC:
            assert checked_form in calls, f"POST {path} does not check the CSRF token"
        if method == "GET":
            assert checked_form not in calls, f"GET {path} should change nothing, so it needs no form"


def test_a_refused_page_says_which_access_it_needs_under_the_users_own_top_bar(client, auth):
    add_user(client, auth, "reader@example.test", {"analytics": "read"})
    assert web_login(client, "reader@example.test", USER_PASSWORD).status_code == 303
    reply = client.get("/users")
    assert reply.status_code == 403 and "This needs read access to users." in reply.text
    assert 'data-testid="signed-in-as">reader@example.test<' in reply.text
    assert 'href="/analytics"' in reply.text and 'href="/users"' not in reply.text
