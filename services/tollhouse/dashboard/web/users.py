"""The users screens (area ``users``): the list, the new-user form, and one user's page (access, password, delete).

Every change goes through the very functions of ``/api/users`` (``api.users.add_user``, ``change_access``,
``set_password``, ``remove_user``), so the rules are the API's: no granting beyond one's own access, only an
admin touches an admin, the last admin stays, emails are unique, new passwords follow ``models.Password``,
sessions die with a reset or a delete, and each change is audited. Form input is checked with the API's own
body models (``UserCreate``, ``PasswordReset``); a refusal re-renders the page with the reason and the values
given, and changes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from tollhouse.dashboard.api.users import add_user, change_access, existing_user, remove_user, set_password
from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.errors import DashboardError
from tollhouse.dashboard.models import PasswordReset, UserCreate
from tollhouse.dashboard.paging import page_count, page_number, page_window
from tollhouse.dashboard.permissions import AREAS, MODES, allows, effective
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import FormDep, WebSession, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("users", "read"))]
Writer = Annotated[WebSession, Depends(page("users", "write"))]

AREA_LABELS = {"apis": "APIs", "keys": "Keys", "policies": "Policies", "analytics": "Analytics", "users": "Users",
               "system": "System (audit log)"}
# What a page shows after a successful change (chosen by a fixed key, never by echoing the query string).
NOTICES = {"created": "User created.", "access": "Access saved.", "password": "Password set; the user's sessions "
           "were signed out."}
EMAIL_MESSAGE = "enter an email address such as name@example.com"


def permission_field(area: str) -> str:
    return f"perm_{area}"


@router.get("/users", response_class=HTMLResponse)
def list_page(request: Request, session: Reader, store: StoreDep, settings: SettingsDep, p: str = "1") -> Response:
    size = settings.page_size
    number = page_number(p)
    documents, total = store.list_users(session.user.org_id, *page_window(number, size))
    return render(request, "users.html", session=session, users=[_row(document) for document in documents],
                  areas=AREAS, area_labels=AREA_LABELS, page=number, pages=page_count(total, size),
                  can_write=allows(session.user, "users", "write"))


@router.get("/users/new", response_class=HTMLResponse)
def new_page(request: Request, session: Writer) -> Response:
    return _new_form(request, session, {"email": "", "is_admin": False, "permissions": dict.fromkeys(AREAS, "none")})


@router.post("/users/new", response_class=HTMLResponse)
def create(request: Request, session: Writer, form: FormDep, store: StoreDep, settings: SettingsDep) -> Response:
    values = {"email": form.get("email", "").strip(), "is_admin": bool(form.get("is_admin")),
              "permissions": _permissions_of(form)}
    errors = _mode_errors(values["permissions"])
    body = {"email_address": values["email"], "password": form.get("password", ""), "is_admin": values["is_admin"],
            "user_permissions": {area: mode for area, mode in values["permissions"].items() if mode in MODES}}
    try:
        checked = UserCreate.model_validate(body)
    except ValidationError as exc:
        errors.update(_field_errors(exc))
    if errors:
        return _new_form(request, session, values, errors, status_code=400)
    try:
        document = add_user(store, settings, session.user, checked.email_address, checked.password,
                            checked.is_admin, dict(checked.user_permissions))
    except DashboardError as exc:
        if exc.status_code == 409:  # the email is taken: say so next to it
            return _new_form(request, session, values, {"email": exc.message}, status_code=409)
        return _new_form(request, session, values, refused=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/users/{document['_id']}?done=created", status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: str, session: Reader, store: StoreDep, done: str = "") -> Response:
    target = _target_or_none(store, session, user_id)
    if target is None:
        return _not_found(request, session)
    values = {"is_admin": bool(target.get("is_admin")), "permissions": _stored_modes(target)}
    return _user_page(request, session, target, values, notice=NOTICES.get(done))


@router.post("/users/{user_id}", response_class=HTMLResponse)
def update(request: Request, user_id: str, session: Writer, form: FormDep, store: StoreDep) -> Response:
    target = _target_or_none(store, session, user_id)
    if target is None:
        return _not_found(request, session)
    values = {"is_admin": bool(form.get("is_admin")), "permissions": _permissions_of(form)}
    errors = _mode_errors(values["permissions"])
    if errors:
        return _user_page(request, session, target, values, errors, status_code=400)
    try:
        change_access(store, session.user, user_id, values["is_admin"], values["permissions"])
    except DashboardError as exc:
        return _user_page(request, session, target, values, refused=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/users/{user_id}?done=access", status_code=303)


@router.post("/users/{user_id}/reset", response_class=HTMLResponse)
def reset(request: Request, user_id: str, session: Writer, form: FormDep, store: StoreDep,
          settings: SettingsDep) -> Response:
    target = _target_or_none(store, session, user_id)
    if target is None:
        return _not_found(request, session)
    values = {"is_admin": bool(target.get("is_admin")), "permissions": _stored_modes(target)}
    try:
        checked = PasswordReset.model_validate({"new_password": form.get("new_password", "")})
        set_password(store, settings, session.user, user_id, checked.new_password)
    except ValidationError as exc:
        return _user_page(request, session, target, values, _field_errors(exc), status_code=400)
    except DashboardError as exc:
        return _user_page(request, session, target, values, refused=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"/users/{user_id}?done=password", status_code=303)


@router.post("/users/{user_id}/delete", response_class=HTMLResponse)
def delete(request: Request, user_id: str, session: Writer, form: FormDep, store: StoreDep) -> Response:
    target = _target_or_none(store, session, user_id)
    if target is None:
        return _not_found(request, session)
    try:
        remove_user(store, session.user, user_id)
    except DashboardError as exc:
        values = {"is_admin": bool(target.get("is_admin")), "permissions": _stored_modes(target)}
        return _user_page(request, session, target, values, refused=exc.message, status_code=exc.status_code)
    return RedirectResponse("/users", status_code=303)


def _target_or_none(store, session: WebSession, user_id: str) -> dict | None:
    try:
        return existing_user(store, session.user.org_id, user_id)
    except DashboardError:  # not in this organisation, or gone
        return None


def _permissions_of(form: dict[str, str]) -> dict[str, str]:
    return {area: form.get(permission_field(area), "none") for area in AREAS}


def _stored_modes(document: dict) -> dict[str, str]:
    stored = document.get("permissions") or {}
    return {area: stored.get(area, "none") for area in AREAS}


def _mode_errors(permissions: dict[str, str]) -> dict[str, str]:
    return {permission_field(area): "choose none, read or write" for area, mode in permissions.items()
            if mode not in MODES}


def _field_errors(exc: ValidationError) -> dict[str, str]:
    """The API model's complaints, keyed by the form field that caused each."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        location = error["loc"]
        if location[0] == "email_address":
            errors["email"] = EMAIL_MESSAGE
        elif location[0] == "user_permissions" and len(location) > 1:
            errors[permission_field(str(location[1]))] = "choose none, read or write"
        else:
            errors.setdefault(str(location[0]), error["msg"].removeprefix("Value error, "))
    return errors


def _new_form(request: Request, session: WebSession, values: dict, errors: dict[str, str] | None = None,
              refused: str | None = None, status_code: int = 200) -> Response:
    return render(request, "users_new.html", status_code, session=session, values=values, errors=errors or {},
                  refused=refused, areas=AREAS, area_labels=AREA_LABELS, modes=MODES)


def _user_page(request: Request, session: WebSession, target: dict, values: dict,
               errors: dict[str, str] | None = None, refused: str | None = None, notice: str | None = None,
               status_code: int = 200) -> Response:
    return render(request, "users_edit.html", status_code, session=session, target=_row(target), values=values,
                  errors=errors or {}, refused=refused, notice=notice, areas=AREAS, area_labels=AREA_LABELS,
                  modes=MODES, can_write=allows(session.user, "users", "write"),
                  is_self=target["_id"] == session.user.user_id)


def _not_found(request: Request, session: WebSession) -> Response:
    return render(request, "error.html", 404, session=session, title="Not found",
                  message="There is no such user in your organisation.")


def _row(document: dict) -> dict:
    created = document.get("created_at")
    return {"id": document["_id"], "email": document["email"], "is_admin": bool(document.get("is_admin")),
            "permissions": effective(bool(document.get("is_admin")), document.get("permissions") or {}),
            "created": created.strftime("%Y-%m-%d %H:%M UTC") if created else ""}
