"""A version's ``white_list`` / ``black_list`` / ``ignored`` paths, and the mock replies their methods may carry.

As in Tyk, the lists are looked at in the order ignored, black list, white list, and the first entry whose path
and method match decides: ``black_list`` answers 403; ``ignored`` lets the request skip authentication and the
key's checks (``ctx.auth_skipped``, read by the steps ``skip_when_ignored`` wraps); ``white_list`` lets it on.
A request that matches nothing is refused when the version has a white list, else it goes on.
A matched method whose ``method_actions`` action is ``reply`` is answered by ``MockReply`` with the entry's code,
data and headers instead of the upstream, after the checks a white-listed request still goes through.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tollhouse.core.apidef_transforms import ListEntry, MethodAction, VersionTransforms
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import Answered, GatewayError, RequestContext
from tollhouse.gateway.middleware.per_version import Endpoint, PerVersionStep, endpoints

if TYPE_CHECKING:
    from tollhouse.gateway.pipeline import Middleware

FORBIDDEN = "Requested endpoint is forbidden"
IGNORED, BLACK_LIST, WHITE_LIST = "ignored", "black_list", "white_list"


@dataclass(frozen=True)
class VersionRules:
    # (kind, endpoint) in the order they are tried.
    rules: tuple[tuple[str, Endpoint[ListEntry]], ...]
    white_listing: bool


def compile_rules(settings: VersionTransforms) -> VersionRules | None:
    if not settings.endpoint_rules:
        return None
    rules = tuple((kind, endpoint) for kind in (IGNORED, BLACK_LIST, WHITE_LIST)
                  for endpoint in endpoints(getattr(settings, kind)))
    return VersionRules(rules, white_listing=any(kind == WHITE_LIST for kind, _ in rules))


class EndpointRules(PerVersionStep):
    compile = staticmethod(compile_rules)

    def __init__(self, api: CompiledApi):
        super().__init__(api)
        self.ignores = any(kind == IGNORED for rules in self.versions.by_version.values() if rules is not None
                           for kind, _ in rules.rules)
        self.mocks = any(action.action == "reply" for rules in self.versions.by_version.values()
                         if rules is not None for _, endpoint in rules.rules
                         for action in endpoint.entry.method_actions.values())

    async def __call__(self, ctx: RequestContext) -> None:
        rules = self.versions.for_request(ctx)
        if rules is None:
            return
        request = ctx.request
        path, method = self.api.relative_path(request.path), request.method
        for kind, endpoint in rules.rules:
            if endpoint.matches(path, method):
                if kind == BLACK_LIST:
                    raise GatewayError(403, FORBIDDEN)
                if kind == IGNORED:
                    ctx.auth_skipped = True
                action = endpoint.entry.action(method)
                if action is not None and action.action == "reply":
                    ctx.mock = action
                return
        if rules.white_listing:
            raise GatewayError(403, FORBIDDEN)


class SkipWhenIgnored:
    """Runs ``step`` unless the request's path is on the ``ignored`` list."""

    def __init__(self, step: Middleware):
        self.step = step

    async def __call__(self, ctx: RequestContext) -> None:
        if not ctx.auth_skipped:
            await self.step(ctx)


def skip_when_ignored(rules: EndpointRules | None, steps: Iterable[Middleware]) -> list[Middleware]:
    """``steps`` as they are, or each wrapped in ``SkipWhenIgnored`` when the API ignores some paths."""
    if rules is None or not rules.ignores:
        return list(steps)
    return [SkipWhenIgnored(step) for step in steps]


class MockReply:
    """Answers a ``reply`` method action in place of the upstream (Tyk's mock responses)."""

    async def __call__(self, ctx: RequestContext) -> None:
        action = ctx.mock
        if not isinstance(action, MethodAction):
            return
        data = action.data.encode()
        headers = [(name.lower(), value) for name, value in action.headers.items()]
        if not any(name == "content-type" for name, _ in headers):
            headers.append(("content-type", "text/plain; charset=utf-8"))
        headers = [(name, value) for name, value in headers if name not in ("content-length", "transfer-encoding")]
        response = ctx.response
        await response.send_head(action.code, headers + ctx.response_headers, len(data), flush=False)
        await response.send_body(data)
        await response.finish()
        ctx.status = action.code
        raise Answered(action.code, "answered by a mock reply")
