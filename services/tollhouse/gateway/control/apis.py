"""``/tyk/apis``: the APIs in force, and in file mode their definitions in ``app_path``.

Reads answer from the APIs in force (as they were given). In file mode a write validates the definition
first (400 naming the field, a listen path another API serves included; nothing is written), writes
``<app_path>/<api_id>.json`` atomically and reloads before it answers, so the reply means the change is
live (``/tyk/reload`` still works for scripts written for Tyk, which needs it); with several workers, live on
the one that answered, the others following moments later (see reloads.py). In dashboard mode APIs come from
the dashboard and writes answer 405 saying so.
"""

from __future__ import annotations

from pathlib import Path

from tollhouse.core.apidef import ApiDefinition, DefinitionError, new_api_id, parse_definition
from tollhouse.gateway.control.files import document_path, reloaded, remove_document, write_document
from tollhouse.gateway.control.router import ControlCall, ControlError, ControlRouter

API_NOT_FOUND = "API not found"
READ_ONLY = ("APIs are read-only on a gateway in dashboard mode: they come from the dashboard; "
             "change them there (/api/apis)")


def register(router: ControlRouter) -> None:
    router.add("GET", "/tyk/apis", list_apis)
    router.add("POST", "/tyk/apis", create_api)
    router.add("GET", "/tyk/apis/{id}", get_api)
    router.add("PUT", "/tyk/apis/{id}", update_api)
    router.add("DELETE", "/tyk/apis/{id}", delete_api)


def _directory(call: ControlCall) -> Path:
    settings = call.services.settings
    if settings.dashboard_url is not None or settings.app_path is None:
        raise ControlError(405, READ_ONLY)
    return settings.app_path


def _validate(call: ControlCall, raw: dict) -> ApiDefinition:
    try:
        definition = parse_definition(raw)
    except DefinitionError as exc:
        raise ControlError(400, str(exc)) from None
    if definition.active:
        for api in call.services.reloader.apis:
            if api.api_id != definition.api_id and api.definition.route_key == definition.route_key:
                domain, listen_path = definition.route_key
                where = f"{domain}{listen_path}" if domain else listen_path
                raise ControlError(400, f"proxy.listen_path: {where} is already served by API {api.api_id}")
    return definition


async def list_apis(call: ControlCall) -> tuple[int, list]:
    return 200, [api.raw for api in call.services.reloader.apis]


async def get_api(call: ControlCall) -> tuple[int, dict]:
    api = call.services.reloader.api(call.params["id"])
    if api is None:
        raise ControlError(404, API_NOT_FOUND)
    return 200, api.raw


async def create_api(call: ControlCall) -> tuple[int, dict]:
    directory = _directory(call)
    raw = dict(await call.json())
    if not raw.get("api_id"):
        raw["api_id"] = new_api_id()  # as Tyk: a definition posted without an id gets one
    definition = _validate(call, raw)
    path = document_path(directory, definition.api_id, "api_id")
    if not await write_document(path, raw, replace=False):
        raise ControlError(409, f"API {definition.api_id} already exists; PUT /tyk/apis/{definition.api_id} "
                                "changes it")
    return 200, await reloaded(call, {"key": definition.api_id, "status": "ok", "action": "added"})


async def update_api(call: ControlCall) -> tuple[int, dict]:
    directory = _directory(call)
    api_id = call.params["id"]
    path = document_path(directory, api_id, "api_id")
    raw = dict(await call.json())
    if raw.get("api_id") and raw["api_id"] != api_id:
        raise ControlError(400, f"api_id: {raw['api_id']!r} does not match the API in the path ({api_id!r})")
    raw["api_id"] = api_id
    _validate(call, raw)
    if not path.exists():
        raise ControlError(404, API_NOT_FOUND)
    await write_document(path, raw, replace=True)
    return 200, await reloaded(call, {"key": api_id, "status": "ok", "action": "modified"})


async def delete_api(call: ControlCall) -> tuple[int, dict]:
    directory = _directory(call)
    api_id = call.params["id"]
    if not await remove_document(document_path(directory, api_id, "api_id")):
        raise ControlError(404, API_NOT_FOUND)
    return 200, await reloaded(call, {"key": api_id, "status": "ok", "action": "deleted"})
