"""``/tyk/policies``: the policies in force, and in file mode their documents in ``policy_path``.

Reads answer from the table in force. In file mode a write validates the document (400 naming the
field; nothing is written), writes ``<policy_path>/<id>.json`` atomically and reloads before it answers:
when the reply arrives every key that applies the policy already works under its new version (with several
workers: on the one that answered, the others following moments later; see reloads.py). In dashboard mode
policies come from the dashboard and writes answer 405 saying so.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tollhouse.core.session import DocumentError, Policy, parse_policy
from tollhouse.gateway.control.files import document_path, reloaded, remove_document, write_document
from tollhouse.gateway.control.router import ControlCall, ControlError, ControlRouter

POLICY_NOT_FOUND = "Policy not found"
READ_ONLY = ("policies are read-only on a gateway in dashboard mode: they come from the dashboard; "
             "change them there (/api/portal/policies)")


def register(router: ControlRouter) -> None:
    router.add("GET", "/tyk/policies", list_policies)
    router.add("POST", "/tyk/policies", create_policy)
    router.add("GET", "/tyk/policies/{id}", get_policy)
    router.add("PUT", "/tyk/policies/{id}", update_policy)
    router.add("DELETE", "/tyk/policies/{id}", delete_policy)


def policy_document(policy: Policy) -> dict:
    return policy.model_dump(mode="json", exclude_none=True)


def _directory(call: ControlCall) -> Path:
    settings = call.services.settings
    if settings.dashboard_url is not None:
        raise ControlError(405, READ_ONLY)
    if settings.policy_path is None:
        raise ControlError(400, "policy_path is not set: this gateway has no policy directory to write to")
    return settings.policy_path


def _validate(raw: dict) -> Policy:
    try:
        return parse_policy(raw)
    except DocumentError as exc:
        raise ControlError(400, str(exc)) from None


async def list_policies(call: ControlCall) -> tuple[int, list]:
    return 200, [policy_document(policy) for policy in call.services.policies().policies.values()]


async def get_policy(call: ControlCall) -> tuple[int, dict]:
    policy = call.services.policies().policies.get(call.params["id"])
    if policy is None:
        raise ControlError(404, POLICY_NOT_FOUND)
    return 200, policy_document(policy)


async def create_policy(call: ControlCall) -> tuple[int, dict]:
    directory = _directory(call)
    raw = dict(await call.json())
    if not raw.get("id") and not raw.get("_id"):
        raw["id"] = uuid.uuid4().hex  # as Tyk: a policy posted without an id gets one
    policy = _validate(raw)
    path = document_path(directory, policy.id)
    if not await write_document(path, {**raw, "id": policy.id}, replace=False):
        raise ControlError(409, f"Policy {policy.id} already exists; PUT /tyk/policies/{policy.id} changes it")
    return 200, await reloaded(call, {"key": policy.id, "status": "ok", "action": "added"})


async def update_policy(call: ControlCall) -> tuple[int, dict]:
    directory = _directory(call)
    policy_id = call.params["id"]
    path = document_path(directory, policy_id)
    raw = dict(await call.json())
    given = raw.get("id") or raw.get("_id")
    if given and given != policy_id:
        raise ControlError(400, f"id: {given!r} does not match the policy in the path ({policy_id!r})")
    raw["id"] = policy_id
    _validate(raw)
    if not path.exists():
        raise ControlError(404, POLICY_NOT_FOUND)
    await write_document(path, raw, replace=True)
    return 200, await reloaded(call, {"key": policy_id, "status": "ok", "action": "modified"})


async def delete_policy(call: ControlCall) -> tuple[int, dict]:
    directory = _directory(call)
    policy_id = call.params["id"]
    if not await remove_document(document_path(directory, policy_id)):
        raise ControlError(404, POLICY_NOT_FOUND)
    return 200, await reloaded(call, {"key": policy_id, "status": "ok", "action": "deleted"})
