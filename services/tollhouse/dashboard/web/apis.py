"""The APIs screens: the organisation's list (``GET /apis``), the API designer for a new API (``/apis/new``) and
for an existing one (``/apis/{api_id}``), and deleting one (``/apis/{api_id}/delete``, after a confirmation page).

The designer (``api_designer.ApiForm``) writes its fields over the stored definition; the result goes through the
very functions of the JSON API (``create_definition``, ``update_definition``, ``delete_definition`` in
``api.apis``: validation by ``parse_definition``, route conflict check, audit record, notice to the gateways). A
refused definition re-renders the form with the user's values and each error next to the field its dotted path
names; nothing is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from redis import RedisError

from tollhouse.core.apidef import HMAC_ALGORITHMS, DefinitionError, parse_definition
from tollhouse.dashboard.api.apis import create_definition, delete_definition, update_definition
from tollhouse.dashboard.api.cache import CachesDep, clear_api_cache
from tollhouse.dashboard.deps import PublisherDep, StoreDep
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.permissions import allows
from tollhouse.dashboard.web.api_designer import (
    AUTH_KINDS,
    METHODS,
    RULE_KINDS,
    VERSION_LOCATIONS,
    ApiForm,
)
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, WebSession, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("apis", "read"))]
Writer = Annotated[WebSession, Depends(page("apis", "write"))]

AUTH_LABELS = {"keyless": "Keyless", "token": "Auth token", "basic": "Basic auth", "jwt": "JWT",
               "signature": "HMAC signature"}


@router.get("/apis", response_class=HTMLResponse)
def list_page(request: Request, session: Reader, store: StoreDep) -> Response:
    documents, _ = store.list_apis(session.user.org_id, 0, None)
    return render(request, "apis.html", session=session, apis=[_row(document) for document in documents],
                  can_write=allows(session.user, "apis", "write"))


@router.get("/apis/new", response_class=HTMLResponse)
def new_page(request: Request, session: Writer) -> Response:
    return _form(request, session, ApiForm.new())


@router.post("/apis/new", response_class=HTMLResponse)
def create(request: Request, session: Writer, form: FormDep, store: StoreDep, publisher: PublisherDep) -> Response:
    designer = ApiForm.posted(form)
    try:
        create_definition(store, publisher, session.user, designer.apply({}))
    except BadRequest as exc:
        return _form(request, session, designer, exc.errors, status_code=400)
    return RedirectResponse("/apis", status_code=303)


@router.get("/apis/{api_id}", response_class=HTMLResponse)
def edit_page(api_id: str, request: Request, session: Reader, store: StoreDep) -> Response:
    document = store.get_api(session.user.org_id, api_id)
    if document is None:
        return _not_found(request, session)
    return _form(request, session, ApiForm.of_definition(document["definition"]), api=document)


@router.post("/apis/{api_id}", response_class=HTMLResponse)
def update(api_id: str, request: Request, session: Writer, form: FormDep, store: StoreDep,
           publisher: PublisherDep) -> Response:
    document = store.get_api(session.user.org_id, api_id)
    if document is None:
        return _not_found(request, session)
    designer = ApiForm.posted(form)
    try:
        notified = update_definition(store, publisher, session.user, api_id, designer.apply(document["definition"]))
    except BadRequest as exc:
        return _form(request, session, designer, exc.errors, status_code=400, api=document)
    except DashboardError as exc:  # deleted by someone else meanwhile
        if exc.status_code != 404:
            raise
        return _not_found(request, session)
    return RedirectResponse(f"/apis/{api_id}?saved={'1' if notified else 'unannounced'}", status_code=303)


@router.get("/apis/{api_id}/delete", response_class=HTMLResponse)
def delete_page(api_id: str, request: Request, session: Writer, store: StoreDep) -> Response:
    document = store.get_api(session.user.org_id, api_id)
    if document is None:
        return _not_found(request, session)
    return render(request, "api_delete.html", session=session, api=_row(document))


@router.post("/apis/{api_id}/delete", response_class=HTMLResponse)
def delete(api_id: str, request: Request, session: Writer, form: FormDep, store: StoreDep,
           publisher: PublisherDep) -> Response:
    try:
        delete_definition(store, publisher, session.user, api_id)
    except DashboardError as exc:
        if exc.status_code != 404:
            raise
        return _not_found(request, session)
    return RedirectResponse("/apis", status_code=303)


@router.post("/apis/{api_id}/cache/clear", response_class=HTMLResponse)
def clear_cache(api_id: str, request: Request, session: Writer, form: FormDep, store: StoreDep,
                caches: CachesDep) -> Response:
    """The edit page's "Clear cache" button (``api.cache.clear_api_cache``: checked, audited)."""
    try:
        clear_api_cache(store, caches, session.user, api_id)
    except DashboardError as exc:
        if exc.status_code != 404:
            raise
        return _not_found(request, session)
    except RedisError:
        return RedirectResponse(f"/apis/{api_id}?cache=failed", status_code=303)
    return RedirectResponse(f"/apis/{api_id}?cache=cleared", status_code=303)


def _form(request: Request, session: WebSession, designer: ApiForm, errors: list[tuple[str, str]] | None = None,
          status_code: int = 200, api: dict | None = None) -> Response:
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for path, message in errors or []:
        field = designer.field_of(path)
        if field is None:
            general.append(f"{path}: {message}")
        else:
            by_field.setdefault(field, []).append(message)
    versions, rules = designer.rows()
    return render(request, "api_form.html", status_code, session=session, values=designer.values, errors=by_field,
                  general=general, api=api, versions=versions, rules=rules, auth_kinds=AUTH_KINDS,
                  hmac_algorithms=HMAC_ALGORITHMS, version_locations=VERSION_LOCATIONS, rule_kinds=RULE_KINDS,
                  methods=METHODS, saved=None if errors else request.query_params.get("saved"),
                  can_write=allows(session.user, "apis", "write"))


def _not_found(request: Request, session: WebSession) -> Response:
    return render(request, "error.html", 404, session=session, title="Not found",
                  message="There is no such API in your organisation.")


def _row(document: dict) -> dict:
    raw = document.get("definition") or {}
    try:
        auth = AUTH_LABELS.get(parse_definition(raw).auth_kind, "?")
    except DefinitionError:
        auth = "?"
    return {"api_id": document["api_id"], "name": document.get("name", ""),
            "listen_path": (raw.get("proxy") or {}).get("listen_path", document.get("listen_path", "")),
            "domain": document.get("domain", ""), "target_url": (raw.get("proxy") or {}).get("target_url", ""),
            "auth": auth, "active": document.get("active", True)}
