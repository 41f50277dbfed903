"""The keys screens: the organisation's keys by hash (``GET /keys``), a new key (``/keys/new``), one key's limits,
access and usage (``/keys/{hash}``), and revoking one (``/keys/{hash}/revoke``, after a confirmation page).

Keys are created and revoked through the JSON API's own functions (``create_generated_key``, ``delete_stored_key``
in ``api.keys``): the same validation, organisation scoping and audit record; no gateway notice is needed, the
gateways read keys from Redis. The new key is shown once, on the page the POST answers (never in a URL, never
cached: ``Cache-Control: no-store``); only its hash is stored, and pages name keys by hash.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tollhouse.core.keys import looks_like_hash
from tollhouse.core.session import SessionState
from tollhouse.dashboard.api.keys import create_generated_key, delete_stored_key, existing_key
from tollhouse.dashboard.deps import KeyStoreDep, SettingsDep, StoreDep
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.paging import page_count, page_number, page_window
from tollhouse.dashboard.permissions import allows
from tollhouse.dashboard.store import Store
from tollhouse.dashboard.web import key_form
from tollhouse.dashboard.web.access_form import ApiChoice, api_choices, place_errors
from tollhouse.dashboard.web.key_form import EXPIRY, SOURCES, PolicyChoice
from tollhouse.dashboard.web.key_usage import key_usage, moment, org_policies, quota_text, rate_text
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, WebSession, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("keys", "read"))]
Writer = Annotated[WebSession, Depends(page("keys", "write"))]

NEVER_STORED = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.get("/keys", response_class=HTMLResponse)
def list_page(request: Request, session: Reader, store: StoreDep, keys: KeyStoreDep, settings: SettingsDep,
              p: str = "1") -> Response:
    page = page_number(p)
    hashes = keys.org_hashes(session.user.org_id)
    skip, limit = page_window(page, settings.page_size)
    names = _policy_names(store, session.user.org_id)
    rows = [_row(key_hash, _read(keys, key_hash), names) for key_hash in hashes[skip:skip + limit]]
    return render(request, "keys.html", session=session, keys=rows, page=page,
                  pages=page_count(len(hashes), settings.page_size), total=len(hashes),
                  can_write=allows(session.user, "keys", "write"))


@router.get("/keys/new", response_class=HTMLResponse)
def new_page(request: Request, session: Writer, store: StoreDep) -> Response:
    return _form(request, session, store, key_form.blank_values())


@router.post("/keys/new", response_class=HTMLResponse)
def create(request: Request, session: Writer, form: FormDep, store: StoreDep, keys: KeyStoreDep) -> Response:
    policies, apis = _policy_choices(store, session.user.org_id), _api_choices(store, session.user.org_id)
    raw, values, errors = key_form.posted(form, policies, apis, dt.datetime.now(dt.UTC))
    general: list[str] = []
    if not errors:
        try:
            key, key_hash, stored = create_generated_key(store, keys, session.user, raw)
        except BadRequest as exc:
            general = place_errors(exc.errors, key_form.FIELDS, errors)
    if errors or general:
        return _form(request, session, store, values, errors, general, status_code=400)
    # The key's only showing: this answer, kept out of every cache and history entry it can be kept out of.
    return render(request, "keys_created.html", 200, NEVER_STORED, session=session, key=key, key_hash=key_hash,
                  expires=moment(stored.expires) if stored.expires else "never")


@router.get("/keys/{key_hash}", response_class=HTMLResponse)
def view_page(key_hash: str, request: Request, session: Reader, store: StoreDep, keys: KeyStoreDep) -> Response:
    stored = _existing(keys, session, key_hash)
    if stored is None:
        return _not_found(request, session)
    org_id = session.user.org_id
    policy_documents, _ = store.list_policies(org_id, 0, None)
    policies = org_policies(policy_documents)
    api_names = _api_names(store, org_id)
    usage = key_usage(keys, key_hash, stored, policies, api_names, time.time())
    applied = [{"id": policy_id, "name": policies[policy_id].name or policy_id if policy_id in policies else None}
               for policy_id in stored.policy_ids()]
    return render(request, "keys_view.html", session=session, key_hash=key_hash, key=stored, usage=usage,
                  policies=applied, expires=moment(stored.expires) if stored.expires else "never",
                  own_rate=rate_text(stored.own_limit()), own_quota=quota_text(stored.own_limit()),
                  can_write=allows(session.user, "keys", "write"))


@router.get("/keys/{key_hash}/revoke", response_class=HTMLResponse)
def revoke_page(key_hash: str, request: Request, session: Writer, keys: KeyStoreDep) -> Response:
    stored = _existing(keys, session, key_hash)
    if stored is None:
        return _not_found(request, session)
    return render(request, "keys_revoke.html", session=session, key_hash=key_hash, alias=stored.alias)


@router.post("/keys/{key_hash}/revoke", response_class=HTMLResponse)
def revoke(key_hash: str, request: Request, session: Writer, form: FormDep, store: StoreDep,
           keys: KeyStoreDep) -> Response:
    if not looks_like_hash(key_hash):
        return _not_found(request, session)
    try:
        delete_stored_key(store, keys, session.user, key_hash)
    except DashboardError as exc:
        if exc.status_code != 404:
            raise
        return _not_found(request, session)
    return RedirectResponse("/keys", status_code=303)


def _form(request: Request, session: WebSession, store: Store, values: dict,
          errors: dict[str, list[str]] | None = None, general: list[str] | None = None,
          status_code: int = 200) -> Response:
    org_id = session.user.org_id
    return render(request, "keys_new.html", status_code, session=session, values=values, errors=errors or {},
                  general=general or [], policies=_policy_choices(store, org_id), apis=_api_choices(store, org_id),
                  sources=SOURCES, expiry_choices=EXPIRY)


def _existing(keys, session: WebSession, key_hash: str) -> SessionState | None:
    """The organisation's key of that hash, or None (also for what is not a hash: no such key either)."""
    if not looks_like_hash(key_hash):
        return None
    try:
        return existing_key(keys, session.user.org_id, key_hash)
    except DashboardError as exc:
        if exc.status_code != 404:
            raise
        return None


def _read(keys, key_hash: str) -> SessionState | None:
    try:
        return keys.get(key_hash)
    except ValueError:  # not a session document: listed, but nothing to show
        return None


def _row(key_hash: str, stored: SessionState | None, policy_names: dict[str, str]) -> dict:
    if stored is None:
        return {"hash": key_hash, "readable": False}
    by_policy = bool(stored.policy_ids())
    return {"hash": key_hash, "readable": True, "alias": stored.alias,
            "policies": [(policy_id, policy_names.get(policy_id)) for policy_id in stored.policy_ids()],
            "expires": moment(stored.expires) if stored.expires else "never", "expired": stored.expired(),
            "rate": "by policy" if by_policy else rate_text(stored.own_limit()),
            "quota": "by policy" if by_policy else quota_text(stored.own_limit()),
            "created": stored.date_created}


def _policy_names(store: Store, org_id: str) -> dict[str, str]:
    documents, _ = store.list_policies(org_id, 0, None)
    return {document["_id"]: document.get("name") or document["_id"] for document in documents}


def _policy_choices(store: Store, org_id: str) -> list[PolicyChoice]:
    documents, _ = store.list_policies(org_id, 0, None)
    return [PolicyChoice(document["_id"], document.get("name") or document["_id"],
                         document.get("active", True) is not False) for document in documents]


def _api_choices(store: Store, org_id: str) -> list[ApiChoice]:
    documents, _ = store.list_apis(org_id, 0, None)
    return api_choices(documents, {})


def _api_names(store: Store, org_id: str) -> dict[str, str]:
    documents, _ = store.list_apis(org_id, 0, None)
    return {document["api_id"]: document.get("name") or document["api_id"] for document in documents}


def _not_found(request: Request, session: WebSession) -> Response:
    return render(request, "error.html", 404, session=session, title="Not found",
                  message="There is no such key in your organisation.")
