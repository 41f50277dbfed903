"""``/api/portal/policies``: create, list, read, replace and delete policies, the way Tyk's dashboard does.

A policy is stored as the very document the gateways read from ``/system/policies`` (see ``store``).
Every check runs before the single write, so a refused request leaves what is stored untouched. Each
change is announced with a signed ``PolicyChanged``; the gateways re-read the policies and every key
applying the policy works under its new version at once (no key is rewritten).

Decisions where Tyk leaves room:
- ``POST`` answers Tyk's ``Message: <id>`` (scripts read the new id there) and also ``Meta: <id>``, as
  ``/api/apis`` does.
- ``id`` and ``_id`` (Tyk's name) are both accepted and must agree; a missing id is generated (an
  ObjectId's hex, as Tyk's). Ids are unique across organisations: every gateway holds one table.
- ``access_rights`` must name APIs of the user's organisation (400 naming the api id); an entry without
  ``api_id`` gets its name.
- Deleting a policy that keys still apply is allowed, as in Tyk: the keys stay, and the gateways answer
  them 403 ("Key is not authorised: its policy <id> does not exist") until the keys are changed or a
  policy with that id is created again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidDocument
from fastapi import APIRouter, Body, Depends, Path, Query
from pymongo.errors import DuplicateKeyError

from tollhouse.core import notify
from tollhouse.core.session import DocumentError, Policy, parse_policy
from tollhouse.dashboard import audit
from tollhouse.dashboard.api.apis import NOT_NOTIFIED
from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.deps import PublisherDep, SettingsDep, StoreDep
from tollhouse.dashboard.documents import check_access_rights, storage_problems
from tollhouse.dashboard.errors import BadRequest, DashboardError
from tollhouse.dashboard.models import ERROR_RESPONSES, ErrorResponse, PolicyDict, PolicyList, StatusResponse
from tollhouse.dashboard.paging import page_count, page_window
from tollhouse.dashboard.permissions import require
from tollhouse.dashboard.publish import Publisher
from tollhouse.dashboard.store import Store

log = logging.getLogger("tollhouse.dashboard.policies")

NOT_FOUND = {404: {"model": ErrorResponse, "description": "No such policy in the user's organisation."}}
router = APIRouter(prefix="/api/portal/policies", tags=["policies"], responses={**ERROR_RESPONSES, **NOT_FOUND})

POLICY_NOT_FOUND = "Policy not found"

PolicyIdPath = Annotated[str, Path(description="The policy's id.")]
PolicyBody = Annotated[PolicyDict, Body(description="The policy document.")]
Reader = Annotated[CurrentUser, Depends(require("policies", "read"))]
Writer = Annotated[CurrentUser, Depends(require("policies", "write"))]


@router.get("", response_model=PolicyList, summary="List the organisation's policies, newest first")
def list_policies(user: Reader, store: StoreDep, settings: SettingsDep,
                  p: Annotated[int, Query(description="Page number from 1; 0 or lower returns every policy.")] = 1
                  ) -> dict:
    size = settings.page_size
    documents, total = store.list_policies(user.org_id, *page_window(p, size))
    return {"Data": documents, "Pages": page_count(total, size)}


@router.get("/{policy_id}", response_model=PolicyDict, summary="Read one policy")
def get_policy(policy_id: PolicyIdPath, user: Reader, store: StoreDep) -> dict:
    return _existing(store, user.org_id, policy_id)


@router.post("", response_model=StatusResponse, summary="Create a policy; Message and Meta are its id")
def create_policy(body: PolicyBody, user: Writer, store: StoreDep, publisher: PublisherDep) -> StatusResponse:
    policy_id, notified = create_policy_document(store, publisher, user, dict(body))
    return StatusResponse(Message=policy_id + ("" if notified else NOT_NOTIFIED), Meta=policy_id)


def create_policy_document(store: Store, publisher: Publisher, user: CurrentUser, raw: dict) -> tuple[str, bool]:
    """Validate, store, audit and announce a new policy of ``user``'s organisation; the JSON API and the web form
    both create policies here. Returns (its id, whether the gateways were notified); ``BadRequest`` names the
    fields at fault, and then nothing was stored."""
    policy_id = _given_id(raw) or str(ObjectId())
    policy = _validated(store, user.org_id, raw, policy_id)
    if store.policy_id_taken(policy.id):
        raise BadRequest([("id", f"a policy with id {policy.id} already exists")])
    now = _now()
    document = _document(raw, policy, date_created=now, last_updated=now)
    _write(lambda: store.insert_policy(document), policy.id)
    log.info("policy %s created by %s", policy.id, user.email)
    audit.record(store, user, "policies", "create", policy.id, after=document)
    return policy.id, publisher.publish(notify.POLICY_CHANGED, policy.id)


@router.put("/{policy_id}", response_model=StatusResponse, summary="Replace a policy")
def update_policy(policy_id: PolicyIdPath, body: PolicyBody, user: Writer, store: StoreDep,
                  publisher: PublisherDep) -> StatusResponse:
    notified = update_policy_document(store, publisher, user, policy_id, dict(body))
    return StatusResponse(Message="Data updated" + ("" if notified else NOT_NOTIFIED))


def update_policy_document(store: Store, publisher: Publisher, user: CurrentUser, policy_id: str, raw: dict) -> bool:
    """Validate, replace, audit and announce policy ``policy_id`` of ``user``'s organisation (JSON API and web form
    alike). Returns whether the gateways were notified; ``BadRequest`` names the fields at fault and
    ``DashboardError`` 404 a missing policy, and then nothing was stored."""
    existing = _existing(store, user.org_id, policy_id)
    given = _given_id(raw)
    if given is not None and given != policy_id:
        raise BadRequest([("id", f"must be {policy_id}, the policy being modified (ids cannot change)")])
    policy = _validated(store, user.org_id, raw, policy_id)
    document = _document(raw, policy, date_created=existing.get("date_created") or _now(), last_updated=_now())
    if not _write(lambda: store.replace_policy(user.org_id, document), policy_id):
        raise DashboardError(404, POLICY_NOT_FOUND)  # deleted by someone else since we read it
    log.info("policy %s modified by %s", policy_id, user.email)
    audit.record(store, user, "policies", "update", policy_id, before=existing, after=document)
    return publisher.publish(notify.POLICY_CHANGED, policy_id)


@router.delete("/{policy_id}", response_model=StatusResponse,
               summary="Delete a policy (keys applying it are refused by the gateways from then on)")
def delete_policy(policy_id: PolicyIdPath, user: Writer, store: StoreDep, publisher: PublisherDep) -> StatusResponse:
    notified = delete_policy_document(store, publisher, user, policy_id)
    return StatusResponse(Message="Data deleted" + ("" if notified else NOT_NOTIFIED))


def delete_policy_document(store: Store, publisher: Publisher, user: CurrentUser, policy_id: str) -> bool:
    """Delete, audit and announce policy ``policy_id`` of ``user``'s organisation (JSON API and web form alike).
    Returns whether the gateways were notified; ``DashboardError`` 404 when there is no such policy."""
    deleted = store.delete_policy(user.org_id, policy_id)
    if deleted is None:
        raise DashboardError(404, POLICY_NOT_FOUND)
    log.info("policy %s deleted by %s", policy_id, user.email)
    audit.record(store, user, "policies", "delete", policy_id, before=deleted)
    return publisher.publish(notify.POLICY_CHANGED, policy_id)


def _existing(store: Store, org_id: str, policy_id: str) -> dict:
    document = store.get_policy(org_id, policy_id)
    if document is None:
        raise DashboardError(404, POLICY_NOT_FOUND)
    return document


def _given_id(raw: dict) -> str | None:
    """The id the body names, as ``id`` or ``_id``; 400 if they are not strings or disagree."""
    given = {}
    for name in ("id", "_id"):
        value = raw.get(name)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise BadRequest([(name, "must be a string")])
        given[name] = value
    if len(set(given.values())) > 1:
        raise BadRequest([("_id", f"must be the same as id ({given['id']!r}) when both are given")])
    return next(iter(given.values()), None)


def _validated(store: Store, org_id: str, raw: dict, policy_id: str) -> Policy:
    """Check the whole document; ``raw`` gets the id, the user's org_id and each access right's api_id."""
    raw.pop("_id", None)
    raw["id"] = policy_id
    raw["org_id"] = org_id
    try:
        policy = parse_policy(raw)
    except DocumentError as exc:
        raise BadRequest(exc.errors) from None
    problems = storage_problems(raw, "")
    if problems:
        raise BadRequest(problems)
    check_access_rights(store, org_id, policy.access_rights)
    for name, access in (raw.get("access_rights") or {}).items():
        if isinstance(access, dict) and not access.get("api_id"):
            access["api_id"] = name
    return policy


def _document(raw: dict, policy: Policy, *, date_created: str, last_updated: str) -> dict[str, Any]:
    return {**raw, "_id": policy.id, "id": policy.id, "date_created": date_created, "last_updated": last_updated}


def _now() -> str:
    # Fixed width with microseconds: the strings sort in time order (listing is newest first).
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _write(operation, policy_id: str):
    """Run the one write; a race lost on the id or an unstorable document answers 400."""
    try:
        return operation()
    except DuplicateKeyError:
        raise BadRequest([("id", f"a policy with id {policy_id} already exists")]) from None
    except (InvalidDocument, OverflowError) as exc:
        raise BadRequest([("(policy)", f"cannot be stored: {exc}")]) from None
