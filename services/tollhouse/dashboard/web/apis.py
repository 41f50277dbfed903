"""The APIs screens: the organisation's list (``GET /apis``) and the new-API form (``GET/POST /apis/new``).

The form is the designer's first cut: name, listen path, upstream, authentication (keyless or auth token), an
optional global rate limit and strip-listen-path. It builds a Tyk definition and creates it through
``api.apis.create_definition``, the very code path of ``POST /api/apis`` (validation by ``parse_definition``,
route conflict check, audit record, notice to the gateways). A refused definition re-renders the form with the
user's values and each error next to the field its dotted path names; nothing is stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.dashboard.api.apis import create_definition
from tollhouse.dashboard.deps import PublisherDep, StoreDep
from tollhouse.dashboard.errors import BadRequest
from tollhouse.dashboard.permissions import allows
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, WebSession, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("apis", "read"))]
Writer = Annotated[WebSession, Depends(page("apis", "write"))]

AUTH_KINDS = {"keyless": "Keyless (open)", "token": "Auth token"}
AUTH_LABELS = {"keyless": "Keyless", "token": "Auth token", "basic": "Basic auth", "jwt": "JWT",
               "signature": "HMAC signature"}
# A definition's dotted field path -> the form field that sets it (errors are shown next to that field).
FORM_FIELD = {
    "name": "name",
    "proxy": "listen_path",
    "proxy.listen_path": "listen_path",
    "proxy.target_url": "target_url",
    "proxy.strip_listen_path": "strip_listen_path",
    "use_keyless": "auth",
    "use_standard_auth": "auth",
    "global_rate_limit": "rate",
    "global_rate_limit.rate": "rate",
    "global_rate_limit.per": "per",
}
EMPTY_FORM = {"name": "", "listen_path": "", "target_url": "", "auth": "keyless", "rate": "", "per": "",
              "strip_listen_path": "on"}


@router.get("/apis", response_class=HTMLResponse)
def list_page(request: Request, session: Reader, store: StoreDep) -> Response:
    documents, _ = store.list_apis(session.user.org_id, 0, None)
    return render(request, "apis.html", session=session, apis=[_row(document) for document in documents],
                  can_write=allows(session.user, "apis", "write"))


@router.get("/apis/new", response_class=HTMLResponse)
def new_page(request: Request, session: Writer) -> Response:
    return _form(request, session, dict(EMPTY_FORM))


@router.post("/apis/new", response_class=HTMLResponse)
def create(request: Request, session: Writer, form: FormDep, store: StoreDep, publisher: PublisherDep) -> Response:
    values = {name: form.get(name, "").strip() for name in EMPTY_FORM if name != "strip_listen_path"}
    values["strip_listen_path"] = "on" if form.get("strip_listen_path") else ""
    try:
        raw = definition_of(values)
        create_definition(store, publisher, session.user, raw)
    except BadRequest as exc:
        return _form(request, session, values, exc.errors, status_code=400)
    return RedirectResponse("/apis", status_code=303)


def definition_of(values: dict[str, str]) -> dict:
    """The Tyk definition the form describes; ``BadRequest`` for what only the form can get wrong."""
    errors: list[tuple[str, str]] = []
    auth = values["auth"]
    if auth not in AUTH_KINDS:
        errors.append(("use_keyless", "choose keyless or auth token"))
    raw: dict = {
        "name": values["name"],
        "active": True,
        "use_keyless": auth == "keyless",
        "use_standard_auth": auth == "token",
        "proxy": {"listen_path": values["listen_path"], "target_url": values["target_url"],
                  "strip_listen_path": bool(values["strip_listen_path"])},
    }
    rate, per = values["rate"], values["per"]
    if rate or per:
        limit = {}
        for field, text in (("rate", rate), ("per", per)):
            number = _number(text)
            if number is None or number <= 0:
                errors.append((f"global_rate_limit.{field}", "must be a number greater than 0"
                               + (" (a rate limit needs both rate and per)" if not text else "")))
            else:
                limit[field] = number
        raw["global_rate_limit"] = limit
    if errors:
        raise BadRequest(errors)
    return raw


def _number(text: str) -> int | float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if number != number or number in (float("inf"), float("-inf")):
        return None
    return int(number) if number.is_integer() else number


def _form(request: Request, session: WebSession, values: dict[str, str],
          errors: list[tuple[str, str]] | None = None, status_code: int = 200) -> Response:
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for path, message in errors or []:
        field = FORM_FIELD.get(path)
        if field is None:
            general.append(f"{path}: {message}")
        else:
            by_field.setdefault(field, []).append(message)
    return render(request, "apis_new.html", status_code, session=session, values=values, errors=by_field,
                  general=general, auth_kinds=AUTH_KINDS)


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
