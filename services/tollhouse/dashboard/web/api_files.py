"""API definitions as files: the raw JSON editor, export, import of Tyk classic JSON, import of OpenAPI 3.

- ``/apis/{api_id}/json``: the stored definition pretty-printed in a textarea; saving replaces it through
  ``api.apis.update_definition``, the code path of ``PUT /api/apis/{id}`` (validation, route check, audit,
  notice to the gateways). A JSON syntax error is shown with its line and column; each validation error beside
  the line where its dotted path's key sits in the text (``json_lines``). The text typed is kept; nothing stored.
- ``/apis/{api_id}/export``: a download of ``{"api_definition": {...}}``, the envelope Tyk's dashboard API
  answers and takes (``POST /api/apis`` here and in Tyk); the import page takes it back.
- ``/apis/import``: one definition (bare, or in that envelope), a list of them, or Tyk's admin import shape
  ``{"apis": [...]}``; each is created through ``api.apis.create_definition`` and gets a row in the result
  table. An ``api_id`` already in use is refused (never silently overwritten): the row says so and links to
  the JSON editor of the existing API; removing ``api_id`` imports a copy under a new id.
- ``/apis/import/openapi``: an OpenAPI 3 document (JSON or YAML) -> a new definition (``core.openapi_import``).
  "Preview" shows the definition and the warnings (e.g. a security scheme made keyless); "Create API" creates
  it through ``create_definition`` and opens it in the JSON editor.

Documents can be far larger than a form field, so these POSTs let ``FormDep`` (the CSRF check of every form)
read up to a 2 MB document percent-encoded (``LARGE_FORM``). The pages need read access to be seen (a reader
is told that importing and saving need write access); every POST needs write access.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tollhouse.core.apidef import DefinitionError, new_api_id, parse_definition
from tollhouse.core.openapi_import import AUTH_CHOICES, MAX_DOCUMENT_BYTES, OpenApiError, load_document, to_definition
from tollhouse.dashboard.api.apis import create_definition, update_definition
from tollhouse.dashboard.deps import PublisherDep, StoreDep
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.permissions import allows
from tollhouse.dashboard.web.json_lines import excerpt, key_lines, line_of
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, WebSession, allow_large_form, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("apis", "read"))]
Writer = Annotated[WebSession, Depends(page("apis", "write"))]

# Percent-encoding turns a byte into at most three; the rest of the form is small.
MAX_DOCUMENT_FORM_BYTES = 3 * MAX_DOCUMENT_BYTES + 64 * 1024
TOO_LARGE = f"The text is larger than {MAX_DOCUMENT_BYTES // 1048576} MB, the most this page takes."
AUTH_LABELS = {"document": "From the document's security scheme", "keyless": "Keyless (open)",
               "token": "Auth token", "basic": "Basic auth", "jwt": "JWT"}
OPENAPI_FIELDS = {"name": "document", "proxy.listen_path": "listen_path", "proxy": "listen_path",
                  "proxy.target_url": "upstream"}
EMPTY_OPENAPI = {"document": "", "listen_path": "", "upstream": "", "auth": "document", "versioned": ""}


# Route dependency of the POSTs that carry a whole document: FormDep then reads up to this much.
LARGE_FORM = [Depends(allow_large_form(MAX_DOCUMENT_FORM_BYTES))]


# --- the raw JSON editor -------------------------------------------------------------------------------------

@router.get("/apis/{api_id}/json", response_class=HTMLResponse)
def json_page(request: Request, api_id: str, session: Reader, store: StoreDep, saved: str = "",
              created: str = "") -> Response:
    document = store.get_api(session.user.org_id, api_id)
    if document is None:
        return _not_found(request, session)
    notice = {"1": "Saved.", "0": "Saved; the gateways were not notified (Redis unavailable) and will pick the "
              "change up when they reconnect."}.get(saved) or ("API created." if created else "")
    return _json_form(request, session, api_id, document.get("name", ""),
                      json.dumps(document["definition"], indent=2, ensure_ascii=False), notice=notice)


@router.post("/apis/{api_id}/json", response_class=HTMLResponse, dependencies=LARGE_FORM)
def save_json(request: Request, api_id: str, session: Writer, form: FormDep, store: StoreDep,
              publisher: PublisherDep) -> Response:
    document = store.get_api(session.user.org_id, api_id)
    if document is None:
        return _not_found(request, session)
    name = document.get("name", "")
    text = form.get("definition", "")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        syntax = {"line": exc.lineno, "column": exc.colno, "message": exc.msg}
        return _json_form(request, session, api_id, name, text, syntax=syntax, status_code=400)
    if not isinstance(raw, dict):
        return _json_form(request, session, api_id, name, text, errors=[("(definition)", "must be a JSON object")],
                          status_code=400)
    try:
        notified = update_definition(store, publisher, session.user, api_id, raw)
    except BadRequest as exc:
        return _json_form(request, session, api_id, name, text, errors=exc.errors, status_code=400)
    except DashboardError as exc:  # deleted meanwhile
        return _json_form(request, session, api_id, name, text, general=[exc.message], status_code=exc.status_code)
    return RedirectResponse(f"/apis/{api_id}/json?saved={int(notified)}", status_code=303)


def _json_form(request: Request, session: WebSession, api_id: str, name: str, text: str, *, notice: str = "",
               syntax: dict | None = None, errors: list[tuple[str, str]] | None = None,
               general: list[str] | None = None, status_code: int = 200) -> Response:
    marks: dict[int, list[dict]] = {}
    if syntax is not None:
        marks[syntax["line"]] = [{"path": "", "message": f"line {syntax['line']}, column {syntax['column']}: "
                                                         f"{syntax['message']}"}]
    located = []
    if errors:
        lines = key_lines(text)
        for path, message in errors:
            error = {"path": path, "message": message, "line": line_of(lines, path)}
            located.append(error)
            marks.setdefault(error["line"], []).append(error)
    return render(request, "api_json.html", status_code, session=session, api_id=api_id, api_name=name, text=text,
                  notice=notice, syntax=syntax, errors=located, general=general or [],
                  rows=excerpt(text, marks) if marks else [],
                  can_write=allows(session.user, "apis", "write"))


# --- export --------------------------------------------------------------------------------------------------

@router.get("/apis/{api_id}/export")
def export(request: Request, api_id: str, session: Reader, store: StoreDep) -> Response:
    document = store.get_api(session.user.org_id, api_id)
    if document is None:
        return _not_found(request, session)
    body = json.dumps({"api_definition": document["definition"]}, indent=2, ensure_ascii=False) + "\n"
    filename = export_filename(document.get("name", ""), api_id)
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def export_filename(name: str, api_id: str) -> str:
    """A file name safe in any header and file system: the API's name reduced to ``[A-Za-z0-9._-]`` (accents
    dropped: ``é`` -> ``e``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-._")[:80] or re.sub(r"[^A-Za-z0-9._-]", "", api_id)
    return f"{stem or 'api'}.json"


# --- import of Tyk classic definitions -----------------------------------------------------------------------

@router.get("/apis/import", response_class=HTMLResponse)
def import_page(request: Request, session: Reader) -> Response:
    return _import_form(request, session, "")


@router.post("/apis/import", response_class=HTMLResponse, dependencies=LARGE_FORM)
def import_definitions(request: Request, session: Writer, form: FormDep, store: StoreDep,
                       publisher: PublisherDep) -> Response:
    text = form.get("definitions", "")
    try:
        items = definitions_in(text)
    except ValueError as exc:
        return _import_form(request, session, text, error=str(exc), status_code=400)
    results = [_import_one(store, publisher, session, item) for item in items]
    return _import_form(request, session, text, results=results,
                        status_code=200 if any(result["created"] for result in results) else 400)


def _import_form(request: Request, session: WebSession, text: str, *, error: str | None = None,
                 results: list[dict] | None = None, status_code: int = 200) -> Response:
    return render(request, "api_import.html", status_code, session=session, text=text, error=error,
                  results=results, can_write=allows(session.user, "apis", "write"))


def definitions_in(text: str) -> list:
    """The definitions a pasted file holds: one (bare, or Tyk's ``{"api_definition": ...}``), a list of them,
    or ``{"apis": [...]}``; ``ValueError`` says why there are none."""
    if len(text.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise ValueError(TOO_LARGE)
    if not text.strip():
        raise ValueError("Paste a definition or choose a file.")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
    if isinstance(value, dict) and isinstance(value.get("apis"), list):
        value = value["apis"]
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("The list holds no definitions.")
    return [item["api_definition"] if isinstance(item, dict) and isinstance(item.get("api_definition"), dict)
            else item for item in items]


def _import_one(store, publisher, session: WebSession, item) -> dict:
    if not isinstance(item, dict):
        return {"created": False, "name": "", "api_id": "", "existing": False,
                "errors": [("(definition)", "must be a JSON object")]}
    name, api_id = str(item.get("name", "")), str(item.get("api_id") or "")
    existing = bool(api_id) and store.get_api(session.user.org_id, api_id) is not None
    if existing:
        return {"created": False, "name": name, "api_id": api_id, "existing": True,
                "errors": [("api_id", "this organisation already has an API with this id: change it in the JSON "
                                      "editor, or remove api_id from the definition to import it as a new API")]}
    try:
        api_id, notified = create_definition(store, publisher, session.user, item)
    except BadRequest as exc:
        return {"created": False, "name": name, "api_id": api_id, "existing": False, "errors": exc.errors}
    return {"created": True, "name": name, "api_id": api_id, "existing": False, "notified": notified, "errors": []}


# --- import of an OpenAPI 3 document -------------------------------------------------------------------------

@router.get("/apis/import/openapi", response_class=HTMLResponse)
def openapi_page(request: Request, session: Reader) -> Response:
    return _openapi_form(request, session, dict(EMPTY_OPENAPI))


@router.post("/apis/import/openapi", response_class=HTMLResponse, dependencies=LARGE_FORM)
def import_openapi(request: Request, session: Writer, form: FormDep, store: StoreDep,
                   publisher: PublisherDep) -> Response:
    values = {name: form.get(name, "") for name in EMPTY_OPENAPI}
    values["listen_path"], values["upstream"] = values["listen_path"].strip(), values["upstream"].strip()
    values["versioned"] = "on" if values["versioned"] else ""
    errors: list[tuple[str, str]] = []
    if not values["listen_path"]:
        errors.append(("listen_path", "give the path the gateway serves the API at, e.g. /petstore/"))
    if values["auth"] not in AUTH_CHOICES:
        errors.append(("auth", "choose one of the authentication kinds"))
    imported = None
    try:
        document = load_document(values["document"])
        if not errors:
            imported = to_definition(document, values["listen_path"], values["upstream"], values["auth"],
                                     versioned=bool(values["versioned"]))
    except OpenApiError as exc:
        errors.append(("upstream" if "upstream URL" in str(exc) and not values["upstream"] else "document", str(exc)))
    if errors or imported is None:
        return _openapi_form(request, session, values, errors, status_code=400)
    if form.get("action") != "create":
        try:
            parse_definition({**imported.definition, "api_id": new_api_id(), "org_id": session.user.org_id})
        except DefinitionError as exc:
            return _openapi_form(request, session, values, exc.errors, imported=imported, status_code=400)
        return _openapi_form(request, session, values, imported=imported, preview=True)
    try:
        api_id, _ = create_definition(store, publisher, session.user, imported.definition)
    except BadRequest as exc:
        return _openapi_form(request, session, values, exc.errors, imported=imported, status_code=400)
    return RedirectResponse(f"/apis/{api_id}/json?created=openapi", status_code=303)


def _openapi_form(request: Request, session: WebSession, values: dict[str, str],
                  errors: list[tuple[str, str]] | None = None, *, imported=None, preview: bool = False,
                  status_code: int = 200) -> Response:
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    for path, message in errors or []:
        field = path if path in EMPTY_OPENAPI else OPENAPI_FIELDS.get(path)
        if field is None:
            general.append(f"{path}: {message}")
        else:
            by_field.setdefault(field, []).append(message)
    return render(request, "api_openapi.html", status_code, session=session, values=values, errors=by_field,
                  general=general, auth_labels=AUTH_LABELS, preview=preview,
                  can_write=allows(session.user, "apis", "write"),
                  warnings=imported.warnings if imported else [],
                  definition=json.dumps(imported.definition, indent=2, ensure_ascii=False) if imported else "")


def _not_found(request: Request, session: WebSession) -> Response:
    return render(request, "error.html", 404, session=session, title="Not found",
                  message="There is no such API in your organisation.")
