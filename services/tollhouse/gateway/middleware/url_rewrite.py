"""URL rewrites (Tyk's ``url_rewrites``): a matching entry's ``match_pattern`` (a regex searched in the path
after the listen path) decides whether to rewrite; its triggers, tried in order, may pick another target.

A trigger (``on``: ``any`` or ``all`` of its options) matches on request headers (``header_matches``), query
values (``query_val_matches``), any one path segment (``path_part_matches``), the key's ``meta_data``
(``session_meta_matches``) or the request body (``payload_matches``; the body is then held, up to
``MAX_REQUEST_BODY``). Each option is ``{match_rx, reverse}``; ``reverse`` matches when the regex does not (or
when the value is absent).

In the target: ``$1``..``$9`` are ``match_pattern``'s groups; ``$tyk_context.trigger-<n>-<name>-<i>`` is the
winning trigger's capture for option ``name`` (``i`` 0: the whole match, 1..: its groups; payload captures are
named ``payload``), plus the variables in context_vars.py. The target is a path on the API's own upstream,
relative to the listen path as ``match_pattern`` saw it; with a ``?`` it replaces the query, without it the
client's query is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from tollhouse.core.apidef_transforms import RewriteTrigger, StringMatch, VersionTransforms
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.context_vars import expand
from tollhouse.gateway.middleware.per_version import Endpoint, PerVersionStep, endpoints, first_match
from tollhouse.gateway.request_body import hold_body

MAX_REQUEST_BODY = 1024 * 1024
GROUP = re.compile(r"\$(\d)")


@dataclass(frozen=True)
class Check:
    source: str  # header, query, path_part, meta, payload
    name: str
    pattern: re.Pattern
    reverse: bool

    def captures(self, value: str | None, prefix: str) -> dict[str, str] | None:
        """The captures when the check passes, else None."""
        found = self.pattern.search(value) if value is not None else None
        if self.reverse:
            return {} if found is None else None
        if found is None:
            return None
        groups = [found.group(0), *(group or "" for group in found.groups())]
        return {f"{prefix}-{self.name}-{index}": group for index, group in enumerate(groups)}


@dataclass(frozen=True)
class Trigger:
    every: bool  # on: all
    checks: tuple[Check, ...]
    rewrite_to: str


@dataclass(frozen=True)
class Rewrite:
    match: re.Pattern
    rewrite_to: str
    triggers: tuple[Trigger, ...]
    needs_payload: bool


def _checks(source: str, matches: dict[str, StringMatch]) -> list[Check]:
    return [Check(source, name, re.compile(match.match_rx), match.reverse) for name, match in matches.items()]


def _trigger(trigger: RewriteTrigger) -> Trigger:
    options = trigger.options
    checks = (_checks("header", options.header_matches) + _checks("query", options.query_val_matches)
              + _checks("path_part", options.path_part_matches) + _checks("meta", options.session_meta_matches))
    if options.payload_matches is not None:
        checks += _checks("payload", {"payload": options.payload_matches})
    return Trigger(trigger.on == "all", tuple(checks), trigger.rewrite_to)


def compile_rewrites(settings: VersionTransforms) -> tuple[Endpoint[Rewrite], ...] | None:
    compiled = []
    for endpoint in endpoints(settings.url_rewrites):
        entry = endpoint.entry
        triggers = tuple(_trigger(trigger) for trigger in entry.triggers)
        needs_payload = any(check.source == "payload" for trigger in triggers for check in trigger.checks)
        rewrite = Rewrite(re.compile(entry.match_pattern), entry.rewrite_to, triggers, needs_payload)
        compiled.append(Endpoint(endpoint.pattern, endpoint.methods, rewrite))
    return tuple(compiled) or None


class RewriteUrl(PerVersionStep):
    compile = staticmethod(compile_rewrites)

    async def __call__(self, ctx: RequestContext) -> None:
        compiled = self.versions.for_request(ctx)
        if compiled is None:
            return
        request = ctx.request
        path = self.api.relative_path(request.path)
        rewrite = first_match(compiled, path, request.method)
        if rewrite is None:
            return
        matched = rewrite.match.search(path)
        if matched is None:
            return
        target, captures = rewrite.rewrite_to, {}
        payload = await self._payload(ctx) if rewrite.needs_payload else None
        for index, trigger in enumerate(rewrite.triggers):
            found = self._trigger_captures(trigger, ctx, path, payload, f"trigger-{index}")
            if found is not None:
                target, captures = trigger.rewrite_to, found
                break
        groups = ["", *(group or "" for group in matched.groups())]
        target = GROUP.sub(lambda m: groups[int(m.group(1))] if int(m.group(1)) < len(groups) else "", target)
        target = expand(target, ctx, captures)
        new_path, question, query = target.partition("?")
        request.path = self.api.listen_path + new_path.lstrip("/")
        if question:
            request.query = query

    @staticmethod
    def _trigger_captures(trigger: Trigger, ctx: RequestContext, path: str, payload: str | None,
                          prefix: str) -> dict[str, str] | None:
        captures: dict[str, str] = {}
        passed = 0
        for check in trigger.checks:
            found = None
            for value in _values(check, ctx, path, payload):
                found = check.captures(value, prefix)
                if found is not None:
                    break
            if found is not None:
                passed += 1
                captures |= found
            elif trigger.every:
                return None
        return captures if passed and (not trigger.every or passed == len(trigger.checks)) else None

    @staticmethod
    async def _payload(ctx: RequestContext) -> str:
        """The request body as text, kept so that it is still sent upstream."""
        raw = await hold_body(ctx.request, MAX_REQUEST_BODY, "for a payload rewrite trigger")
        return raw.decode("utf-8", "replace")


def _values(check: Check, ctx: RequestContext, path: str, payload: str | None) -> list[str | None]:
    """The values a check looks at (it passes when one of them does)."""
    request = ctx.request
    if check.source == "header":
        return [request.header(check.name.lower())]
    if check.source == "query":
        return [value for name, value in parse_qsl(request.query, keep_blank_values=True) if name == check.name] \
            or [None]
    if check.source == "path_part":
        return [part for part in path.split("/") if part] or [None]
    if check.source == "meta":
        value = ctx.session.meta_data.get(check.name) if ctx.session is not None else None
        return [None if value is None else str(value)]
    return [payload]
