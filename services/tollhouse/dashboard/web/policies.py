"""The policies screens: the organisation's list (``GET /policies``), a new policy (``/policies/new``), one policy's
form (``/policies/{id}``) and deleting one (``/policies/{id}/delete``, after a confirmation page).

The form writes its fields (name, active, rate limit, quota, key lifetime, access rights, tags) over the stored
document, so what it does not show (partitions, per-API limits, allowed URLs, meta data) survives an edit. The
result goes through the JSON API's own functions (``create_policy_document``, ``update_policy_document``,
``delete_policy_document`` in ``api.policies``): the same validation, organisation scoping, audit record and
notice to the gateways. A refused policy re-renders the form with the user's values and each error next to its
field; nothing is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tollhouse.dashboard.api.policies import create_policy_document, delete_policy_document, update_policy_document
from tollhouse.dashboard.deps import PublisherDep, SettingsDep, StoreDep
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.paging import page_count, page_number, page_window
from tollhouse.dashboard.permissions import allows
from tollhouse.dashboard.web.access_form import (
    ApiChoice,
    access_rights_of,
    api_choices,
    duration,
    limit_values,
    limits_of,
    number,
    place_errors,
    plain,
    ticked_apis,
    ticked_of,
    words,
)
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, WebSession, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("policies", "read"))]
Writer = Annotated[WebSession, Depends(page("policies", "write"))]

FIELDS = {"id", "name", "active", "rate", "per", "quota_max", "quota_renewal_rate", "key_expires_in",
          "access_rights", "tags"}


@router.get("/policies", response_class=HTMLResponse)
def list_page(request: Request, session: Reader, store: StoreDep, settings: SettingsDep, p: str = "1") -> Response:
    page = page_number(p)
    documents, total = store.list_policies(session.user.org_id, *page_window(page, settings.page_size))
    names = _api_names(store, session.user.org_id)
    return render(request, "policies.html", session=session, policies=[_row(doc, names) for doc in documents],
                  page=page, pages=page_count(total, settings.page_size),
                  can_write=allows(session.user, "policies", "write"))


@router.get("/policies/new", response_class=HTMLResponse)
def new_page(request: Request, session: Writer, store: StoreDep) -> Response:
    values = {"id": "", "name": "", "active": True, **limit_values({}), "key_expires_in": "", "tags": "", "ticked": {}}
    return _form(request, session, values, _choices(store, session, {}))


@router.post("/policies/new", response_class=HTMLResponse)
def create(request: Request, session: Writer, form: FormDep, store: StoreDep, publisher: PublisherDep) -> Response:
    choices = _choices(store, session, {})
    raw, values, errors = _posted(form, choices, {})
    if form.get("id", "").strip():
        raw["id"] = values["id"] = form["id"].strip()
    general: list[str] = []
    if not errors:
        try:
            create_policy_document(store, publisher, session.user, raw)
        except BadRequest as exc:
            general = place_errors(exc.errors, FIELDS, errors)
    if errors or general:
        return _form(request, session, values, choices, errors, general, status_code=400)
    return RedirectResponse("/policies", status_code=303)


@router.get("/policies/{policy_id}", response_class=HTMLResponse)
def edit_page(policy_id: str, request: Request, session: Reader, store: StoreDep) -> Response:
    document = store.get_policy(session.user.org_id, policy_id)
    if document is None:
        return _not_found(request, session)
    rights = document.get("access_rights") or {}
    lifetime = document.get("key_expires_in") or 0
    values = {"id": policy_id, "name": document.get("name", ""), "active": document.get("active", True) is not False,
              **limit_values(document), "key_expires_in": plain(lifetime) if lifetime else "",
              "tags": ", ".join(document.get("tags") or []), "ticked": ticked_of(rights)}
    return _form(request, session, values, _choices(store, session, rights), policy=document,
                 saved=request.query_params.get("saved"))


@router.post("/policies/{policy_id}", response_class=HTMLResponse)
def update(policy_id: str, request: Request, session: Writer, form: FormDep, store: StoreDep,
           publisher: PublisherDep) -> Response:
    document = store.get_policy(session.user.org_id, policy_id)
    if document is None:
        return _not_found(request, session)
    choices = _choices(store, session, document.get("access_rights") or {})
    raw, values, errors = _posted(form, choices, document)
    values["id"] = policy_id
    general: list[str] = []
    if not errors:
        try:
            notified = update_policy_document(store, publisher, session.user, policy_id, raw)
        except BadRequest as exc:
            general = place_errors(exc.errors, FIELDS - {"id"}, errors)
        except DashboardError as exc:  # deleted by someone else meanwhile
            if exc.status_code != 404:
                raise
            return _not_found(request, session)
    if errors or general:
        return _form(request, session, values, choices, errors, general, status_code=400, policy=document)
    return RedirectResponse(f"/policies/{policy_id}?saved={'1' if notified else 'unannounced'}", status_code=303)


@router.get("/policies/{policy_id}/delete", response_class=HTMLResponse)
def delete_page(policy_id: str, request: Request, session: Writer, store: StoreDep) -> Response:
    document = store.get_policy(session.user.org_id, policy_id)
    if document is None:
        return _not_found(request, session)
    return render(request, "policies_delete.html", session=session, policy=_row(document, {}))


@router.post("/policies/{policy_id}/delete", response_class=HTMLResponse)
def delete(policy_id: str, request: Request, session: Writer, form: FormDep, store: StoreDep,
           publisher: PublisherDep) -> Response:
    try:
        delete_policy_document(store, publisher, session.user, policy_id)
    except DashboardError as exc:
        if exc.status_code != 404:
            raise
        return _not_found(request, session)
    return RedirectResponse("/policies", status_code=303)


def _posted(form: dict[str, str], choices: list[ApiChoice], stored: dict) -> tuple[dict, dict, dict[str, list[str]]]:
    """The policy document the form makes (written over ``stored``), the values to show again, and the fields
    that are not even numbers."""
    errors: dict[str, list[str]] = {}
    ticked = ticked_apis(form, choices)
    raw = {**stored, **limits_of(form, errors), "name": form.get("name", "").strip(), "active": "active" in form,
           "key_expires_in": number(form, "key_expires_in", errors, whole=True, empty=0),
           "tags": words(form.get("tags", "")),
           "access_rights": access_rights_of(ticked, choices, stored.get("access_rights") or {})}
    values = {name: form.get(name, "") for name in FIELDS - {"active", "access_rights"}}
    values |= {"active": "active" in form, "ticked": ticked}
    return raw, values, errors


def _form(request: Request, session: WebSession, values: dict, choices: list[ApiChoice],
          errors: dict[str, list[str]] | None = None, general: list[str] | None = None, status_code: int = 200,
          policy: dict | None = None, saved: str | None = None) -> Response:
    return render(request, "policies_form.html", status_code, session=session, values=values, errors=errors or {},
                  general=general or [], apis=choices, policy=policy, saved=saved,
                  can_write=allows(session.user, "policies", "write"))


def _choices(store, session: WebSession, granted: dict) -> list[ApiChoice]:
    documents, _ = store.list_apis(session.user.org_id, 0, None)
    return api_choices(documents, granted)


def _api_names(store, org_id: str) -> dict[str, str]:
    documents, _ = store.list_apis(org_id, 0, None)
    return {document["api_id"]: document.get("name") or document["api_id"] for document in documents}


def _not_found(request: Request, session: WebSession) -> Response:
    return render(request, "error.html", 404, session=session, title="Not found",
                  message="There is no such policy in your organisation.")


def _row(document: dict, api_names: dict[str, str]) -> dict:
    values = limit_values(document)
    return {"id": document["_id"], "name": document.get("name") or "", "active": document.get("active", True)
            is not False and not document.get("is_inactive"),
            "rate": f"{values['rate']} per {values['per']} s" if values["rate"] else "no rate limit",
            "quota": quota_text(values), "key_expires_in": duration(document.get("key_expires_in") or 0),
            "apis": [api_names.get(api_id, api_id) for api_id in document.get("access_rights") or {}],
            "tags": document.get("tags") or []}


def quota_text(values: dict[str, str]) -> str:
    if not values["quota_max"]:
        return "no quota"
    renewal = values["quota_renewal_rate"]
    return f"{values['quota_max']} per {duration(int(renewal))}" if renewal else f"{values['quota_max']}, never renews"
