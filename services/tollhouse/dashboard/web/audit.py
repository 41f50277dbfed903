"""The audit log screens (area ``system`` read, as ``GET /api/audit``): the log and one entry's before/after.

``GET /audit`` pages the organisation's entries newest first through ``audit.entries`` (the API's query), with
its filters: who made the change (email or id), the area (object type) and the object (api_id, key hash,
policy id or user id). ``GET /audit/{id}`` shows the entry's ``before`` and ``after`` side by side as pretty
JSON, marking each line whose field differs between the two. Entries never hold secrets (``audit.py`` strips
them when writing), so the page shows the documents as stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from tollhouse.dashboard import audit
from tollhouse.dashboard.deps import SettingsDep, StoreDep
from tollhouse.dashboard.paging import page_count, page_number
from tollhouse.dashboard.permissions import AREAS
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import WebSession, page
from tollhouse.dashboard.web.users import AREA_LABELS

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("system", "read"))]

FieldPath = tuple[str, ...]
_ABSENT = object()  # a field one side does not have (unlike a field that is null)


@dataclass(frozen=True)
class Line:
    text: str
    changed: bool


@router.get("/audit", response_class=HTMLResponse)
def log_page(request: Request, session: Reader, store: StoreDep, settings: SettingsDep, p: str = "1",
             user: str = "", area: str = "", target: str = "") -> Response:
    filters = {"user": user.strip(), "area": area, "target": target.strip()}
    errors = {} if area in ("", *AREAS) else {"area": "choose one of the areas listed"}
    number, size = page_number(p), settings.page_size
    entries, total = ([], 0) if errors else audit.entries(
        store, session.user.org_id, (number - 1) * size, size, area=filters["area"] or None,
        user=filters["user"] or None, target=filters["target"] or None)
    query = {name: value for name, value in filters.items() if value}
    return render(request, "audit.html", 400 if errors else 200, session=session,
                  entries=[_summary(entry) for entry in entries], filters=filters, errors=errors, areas=AREAS,
                  area_labels=AREA_LABELS, page=number, pages=page_count(total, size),
                  page_link=lambda n: "/audit?" + urlencode({**query, "p": n}))


@router.get("/audit/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, entry_id: str, session: Reader, store: StoreDep) -> Response:
    entry = audit.entry(store, session.user.org_id, entry_id)
    if entry is None:
        return render(request, "error.html", 404, session=session, title="Not found",
                      message="There is no such entry in your organisation's audit log.")
    before, after = _document(entry["before"]), _document(entry["after"])
    changed = changed_paths(before, after)
    return render(request, "audit_entry.html", session=session, entry=_summary(entry),
                  before=json_lines(before, changed), after=json_lines(after, changed),
                  changed=[".".join(path) for path in sorted(changed) if path])


def changed_paths(before: Any, after: Any) -> set[FieldPath]:
    """The paths (keys from the top, through nested objects) of the values that differ between the two."""
    old, new = _leaves(before), _leaves(after)
    return {path for path in old.keys() | new.keys() if old.get(path, _ABSENT) != new.get(path, _ABSENT)}


def json_lines(value: Any, changed: set[FieldPath], path: FieldPath = (), depth: int = 0, label: str = "",
               trailer: str = "") -> list[Line]:
    """``value`` as indented JSON (keys sorted, so both sides line up), each line marked if its path changed."""
    indent = "  " * depth
    marked = path in changed
    if isinstance(value, dict) and value:
        items = sorted(value.items())
        inner: list[Line] = []
        for index, (key, item) in enumerate(items):
            inner += json_lines(item, changed, (*path, str(key)), depth + 1, json.dumps(str(key)) + ": ",
                                "," if index < len(items) - 1 else "")
        marked = marked or all(line.changed for line in inner)  # an object wholly new or gone: its braces too
        return [Line(f"{indent}{label}{{", marked), *inner, Line(f"{indent}}}{trailer}", marked)]
    text = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False).splitlines()
    text[0] = label + text[0]
    text[-1] += trailer  # the same line as the first when the value fits on one
    return [Line(indent + part, marked) for part in text]


def _leaves(value: Any, path: FieldPath = ()) -> dict[FieldPath, Any]:
    if isinstance(value, dict) and value:
        leaves: dict[FieldPath, Any] = {}
        for key, item in value.items():
            leaves.update(_leaves(item, (*path, str(key))))
        return leaves
    return {path: value}


def _document(value: Any) -> Any:
    """Before/after as a document: ``audit.record`` keeps what MongoDB cannot hold as JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _summary(entry: dict) -> dict:
    subject = entry["after"] if isinstance(entry["after"], dict) else entry["before"]
    name = ""
    if isinstance(subject, dict):
        name = str(subject.get("name") or subject.get("email_address") or "")
    return {"id": entry["id"], "at": entry["at"].replace("T", " ").replace("Z", " UTC"),
            "who": entry["user_email"], "action": entry["action"].replace("_", " "), "area": entry["area"],
            "target": entry["target"], "name": name}
