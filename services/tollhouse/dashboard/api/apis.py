"""``/api/apis``: create, list, read, replace and delete API definitions, the way Tyk's dashboard does.

Every check runs before the single write, so a refused request leaves what is stored untouched.
Each successful change is announced to the gateways (see ``publish``); if that fails the change
still stands and the answer's ``Message`` says the gateways were not told.
"""

from __future__ import annotations

import logging
from typing import Annotated

from bson.errors import InvalidDocument
from fastapi import APIRouter, Depends, Path, Query
from pymongo.errors import DuplicateKeyError

from tollhouse.core import notify
from tollhouse.core.apidef import ApiDefinition, DefinitionError, new_api_id, parse_definition
from tollhouse.dashboard import audit
from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.deps import PublisherDep, SettingsDep, StoreDep
from tollhouse.dashboard.documents import storage_problems
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.models import ERROR_RESPONSES, ApiEnvelope, ApiList, ErrorResponse, StatusResponse
from tollhouse.dashboard.paging import page_count, page_window
from tollhouse.dashboard.permissions import require
from tollhouse.dashboard.publish import Publisher
from tollhouse.dashboard.store import ROUTE_INDEX, Store, duplicate_index

log = logging.getLogger("tollhouse.dashboard.apis")

NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such API in the user's organisation."}}
router = APIRouter(prefix="/api/apis", tags=["apis"], responses={**ERROR_RESPONSES, **NOT_FOUND})

NOT_NOTIFIED = ("; gateways were not notified (Redis unavailable) and will pick the change up "
                "when they reconnect")

ApiIdPath = Annotated[str, Path(description="The API's api_id.")]
Reader = Annotated[CurrentUser, Depends(require("apis", "read"))]
Writer = Annotated[CurrentUser, Depends(require("apis", "write"))]


@router.get("", response_model=ApiList, summary="List the organisation's APIs, newest first")
def list_apis(user: Reader, store: StoreDep, settings: SettingsDep,
              p: Annotated[int, Query(description="Page number from 1; 0 or lower returns every API.")] = 1
              ) -> dict:
    size = settings.page_size
    documents, total = store.list_apis(user.org_id, *page_window(p, size))
    return {
        "apis": [{"api_definition": document["definition"]} for document in documents],
        "pages": page_count(total, size),
    }


@router.get("/{api_id}", response_model=ApiEnvelope, summary="Read one API definition")
def get_api(api_id: ApiIdPath, user: Reader, store: StoreDep) -> dict:
    return {"api_definition": _existing(store, user.org_id, api_id)["definition"]}


@router.post("", response_model=StatusResponse, summary="Create an API; Meta is its api_id")
def create_api(body: ApiEnvelope, user: Writer, store: StoreDep, publisher: PublisherDep) -> StatusResponse:
    api_id, notified = create_definition(store, publisher, user, body.api_definition)
    return StatusResponse(Message="API created" + ("" if notified else NOT_NOTIFIED), Meta=api_id)


def create_definition(store: Store, publisher: Publisher, user: CurrentUser, raw: dict) -> tuple[str, bool]:
    """Validate, store, audit and announce a new API in ``user``'s organisation; the JSON API and the web form
    both create through here. Returns (api_id, whether the gateways were notified); ``BadRequest`` names the
    fields at fault, and then nothing was stored."""
    if raw.get("api_id") in (None, ""):
        raw["api_id"] = new_api_id()
    raw["org_id"] = user.org_id
    definition = _validated(raw)
    if store.api_id_taken(definition.api_id):
        raise BadRequest([("api_id", f"an API with id {definition.api_id} already exists")])
    _check_route_free(store, definition)
    _write(lambda: store.insert_api(_record(definition, raw)), definition)
    log.info("API %s created by %s", definition.api_id, user.email)
    audit.record(store, user, "apis", "create", definition.api_id, after=raw)
    return definition.api_id, publisher.publish(notify.API_ADDED, definition.api_id)


@router.put("/{api_id}", response_model=StatusResponse, summary="Replace an API definition")
def update_api(api_id: ApiIdPath, body: ApiEnvelope, user: Writer, store: StoreDep,
               publisher: PublisherDep) -> StatusResponse:
    notified = update_definition(store, publisher, user, api_id, body.api_definition)
    return StatusResponse(Message="API modified" + ("" if notified else NOT_NOTIFIED))


def update_definition(store: Store, publisher: Publisher, user: CurrentUser, api_id: str, raw: dict) -> bool:
    """Validate and replace, audit and announce the definition of API ``api_id`` in ``user``'s organisation; the
    JSON API and the web form both edit through here. Returns whether the gateways were notified; ``BadRequest``
    names the fields at fault and ``DashboardError`` 404 a missing API, and then nothing was stored."""
    existing = _existing(store, user.org_id, api_id)
    if raw.get("api_id") in (None, ""):
        raw["api_id"] = api_id
    elif raw["api_id"] != api_id:
        raise BadRequest([("api_id", f"must be {api_id}, the API being modified (ids cannot change)")])
    raw["org_id"] = user.org_id
    definition = _validated(raw)
    _check_route_free(store, definition)
    record = _record(definition, raw)
    replaced = _write(lambda: store.replace_api(user.org_id, record, existing["created_at"]), definition)
    if not replaced:  # deleted by someone else since we read it
        raise DashboardError(404, "API not found")
    log.info("API %s modified by %s", api_id, user.email)
    audit.record(store, user, "apis", "update", api_id, before=existing["definition"], after=raw)
    return publisher.publish(notify.API_UPDATED, api_id)


@router.delete("/{api_id}", response_model=StatusResponse, summary="Delete an API")
def delete_api(api_id: ApiIdPath, user: Writer, store: StoreDep, publisher: PublisherDep) -> StatusResponse:
    notified = delete_definition(store, publisher, user, api_id)
    return StatusResponse(Message="API deleted" + ("" if notified else NOT_NOTIFIED))


def delete_definition(store: Store, publisher: Publisher, user: CurrentUser, api_id: str) -> bool:
    """Delete, audit and announce API ``api_id`` of ``user``'s organisation (JSON API and web form alike).
    Returns whether the gateways were notified; ``DashboardError`` 404 when there is no such API."""
    deleted = store.delete_api(user.org_id, api_id)
    if deleted is None:
        raise DashboardError(404, "API not found")
    log.info("API %s deleted by %s", api_id, user.email)
    audit.record(store, user, "apis", "delete", api_id, before=deleted["definition"])
    return publisher.publish(notify.API_REMOVED, api_id)


def _existing(store: Store, org_id: str, api_id: str) -> dict:
    document = store.get_api(org_id, api_id)
    if document is None:
        raise DashboardError(404, "API not found")
    return document


def _validated(raw: dict) -> ApiDefinition:
    try:
        definition = parse_definition(raw)
    except DefinitionError as exc:
        raise BadRequest(exc.errors) from None
    problems = storage_problems(raw, "")
    if problems:
        raise BadRequest(problems)
    return definition


def _check_route_free(store: Store, definition: ApiDefinition) -> None:
    domain, listen_path = definition.route_key
    owner = store.route_owner(domain, listen_path)
    if owner is not None and owner != definition.api_id:
        raise BadRequest([("proxy.listen_path", _route_taken(definition, owner))])


def _route_taken(definition: ApiDefinition, owner: str | None) -> str:
    domain, listen_path = definition.route_key
    where = f"{listen_path} on domain {domain}" if domain else listen_path
    return f"{where} is already used by API {owner}" if owner else f"{where} is already used by another API"


def _record(definition: ApiDefinition, raw: dict) -> dict:
    domain, listen_path = definition.route_key
    return {
        "api_id": definition.api_id,
        "org_id": definition.org_id,
        "name": definition.name,
        "active": definition.active,
        "domain": domain,
        "listen_path": listen_path,
        "definition": raw,
    }


def _write(operation, definition: ApiDefinition):
    """Run the one write; a race lost on a unique index or an unstorable document answers 400."""
    try:
        return operation()
    except DuplicateKeyError as exc:
        if duplicate_index(exc) == ROUTE_INDEX:
            raise BadRequest([("proxy.listen_path", _route_taken(definition, None))]) from None
        raise BadRequest([("api_id", f"an API with id {definition.api_id} already exists")]) from None
    except (InvalidDocument, OverflowError) as exc:
        raise BadRequest([("(definition)", f"cannot be stored: {exc}")]) from None
