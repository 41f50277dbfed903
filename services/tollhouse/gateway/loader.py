"""Where API definitions come from (the dashboard or a directory) and how a set of them compiles.

A definition that fails validation is rejected with its reason logged; if an earlier version of
the same API was serving, that version keeps serving. A source that fails as a whole (dashboard
away, answer not understood) changes nothing: the gateway keeps its last good table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx

from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.gateway.compiled import CompiledApi, compile_api

log = logging.getLogger("tollhouse.gateway.loader")


class SourceError(Exception):
    """The whole set of definitions could not be read; nothing should change."""


class DefinitionSource(Protocol):
    description: str

    async def fetch(self) -> list[dict]: ...


class DashboardSource:
    """Pulls ``/system/apis`` (or ``endpoint``, e.g. ``/system/policies``) from the dashboard with the node secret."""

    def __init__(self, dashboard_url: str, node_secret: str, timeout: float, endpoint: str = "/system/apis"):
        self.description = f"dashboard {dashboard_url}"
        self._url = f"{dashboard_url}{endpoint}"
        self._headers = {"authorization": node_secret}
        self._timeout = timeout

    async def fetch(self) -> list[dict]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                reply = await client.get(self._url, headers=self._headers)
        except httpx.HTTPError as exc:
            raise SourceError(f"cannot reach {self._url}: {exc!r}") from None
        if reply.status_code != 200:
            raise SourceError(f"{self._url} answered {reply.status_code}: {reply.text[:200]}")
        try:
            body = reply.json()
        except ValueError:
            raise SourceError(f"{self._url} did not answer JSON") from None
        definitions = body.get("Message") if isinstance(body, dict) else None
        if not isinstance(definitions, list):
            raise SourceError(f"{self._url} answered without a list of documents in 'Message'")
        return definitions


class DirectorySource:
    """Reads every ``*.json`` file in a directory; a file that is not JSON is skipped and logged.

    ``setting`` (``app_path``, ``policy_path``) and ``what`` name the directory and its files in messages.
    """

    def __init__(self, path: Path, setting: str = "app_path", what: str = "API definition"):
        self.description = f"directory {path}"
        self._path = path
        self._setting = setting
        self._what = what

    async def fetch(self) -> list[dict]:
        if not self._path.is_dir():
            raise SourceError(f"{self._setting} {self._path} is not a directory")
        documents = []
        for file in sorted(self._path.glob("*.json")):
            if file.name.startswith("."):
                continue  # the control API's temporary files, editors' backups
            try:
                documents.append(json.loads(file.read_text()))
            except (OSError, ValueError) as exc:
                log.error("skipping %s file %s: %s", self._what, file, exc)
        return documents


@dataclass
class CompileReport:
    apis: list[CompiledApi] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)  # api_id or position -> reason
    kept_previous: list[str] = field(default_factory=list)


def compile_definitions(raws: list, previous: dict[str, CompiledApi]) -> CompileReport:
    """Compile what validates; for what does not, keep the previous version if there was one."""
    report = CompileReport()
    routes: dict[tuple[str, str], str] = {}
    for position, raw in enumerate(raws):
        api_id = raw.get("api_id") if isinstance(raw, dict) else None
        label = api_id if isinstance(api_id, str) and api_id else f"definition #{position}"
        try:
            definition = parse_definition(raw)
        except DefinitionError as exc:
            report.rejected[label] = str(exc)
            if label in previous:
                report.apis.append(previous[label])
                report.kept_previous.append(label)
            continue
        if not definition.active:
            continue
        owner = routes.get(definition.route_key)
        if owner is not None:
            report.rejected[label] = f"proxy.listen_path: {definition.route_key} is already served by API {owner}"
            continue
        routes[definition.route_key] = definition.api_id
        report.apis.append(compile_api(definition, raw))
    for label, reason in report.rejected.items():
        kept = " (its previous version keeps serving)" if label in report.kept_previous else ""
        log.error("rejected API definition %s: %s%s", label, reason, kept)
    return report
