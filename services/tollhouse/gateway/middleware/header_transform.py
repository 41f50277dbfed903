"""Header transforms (Tyk's shapes): the version's ``global_headers`` / ``global_headers_remove`` and per path
``transform_headers`` on the request; ``global_response_headers`` / ``global_response_headers_remove`` and per
path ``transform_response_headers`` on the upstream's answer (and on mock replies).

Removals come first, then additions (an added header replaces any of the same name); the version's global edits
come before the first matching path entry's. Values may hold ``$tyk_context`` / ``$tyk_meta`` variables
(context_vars.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.core.apidef_transforms import HeaderTransform, VersionTransforms
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.context_vars import expand, has_variables
from tollhouse.gateway.middleware.per_version import Endpoint, PerVersionStep, endpoints, first_match
from tollhouse.gateway.response_wrappers import HeaderEditingResponse

Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class HeaderEdit:
    remove: frozenset[str]
    add: tuple[tuple[str, str, bool], ...]  # (lower-case name, value, value has variables)

    @classmethod
    def of(cls, remove, add: dict[str, str]) -> HeaderEdit:
        return cls(frozenset(name.lower() for name in remove),
                   tuple((name.lower(), value, has_variables(value)) for name, value in add.items()))

    def apply(self, headers: Headers, ctx: RequestContext) -> Headers:
        names = self.remove | {name for name, _, _ in self.add}
        kept = [(name, value) for name, value in headers if name.lower() not in names]
        kept.extend((name, expand(value, ctx) if variables else value) for name, value, variables in self.add)
        return kept


@dataclass(frozen=True)
class VersionHeaderEdits:
    global_edit: HeaderEdit | None
    paths: tuple[Endpoint[HeaderEdit], ...]

    def edits(self, path: str, method: str) -> list[HeaderEdit]:
        edits = [self.global_edit] if self.global_edit is not None else []
        entry = first_match(self.paths, path, method)
        return [*edits, entry] if entry is not None else edits


def _compile(global_remove, global_add, entries: list[HeaderTransform]) -> VersionHeaderEdits | None:
    if not (global_remove or global_add or entries):
        return None
    global_edit = HeaderEdit.of(global_remove, global_add) if global_remove or global_add else None
    paths = tuple(Endpoint(endpoint.pattern, endpoint.methods,
                           HeaderEdit.of(endpoint.entry.delete_headers, endpoint.entry.add_headers))
                  for endpoint in endpoints(entries))
    return VersionHeaderEdits(global_edit, paths)


def compile_request(settings: VersionTransforms) -> VersionHeaderEdits | None:
    return _compile(settings.global_headers_remove, settings.global_headers, settings.transform_headers)


def compile_response(settings: VersionTransforms) -> VersionHeaderEdits | None:
    return _compile(settings.global_response_headers_remove, settings.global_response_headers,
                    settings.transform_response_headers)


class TransformRequestHeaders(PerVersionStep):
    compile = staticmethod(compile_request)

    async def __call__(self, ctx: RequestContext) -> None:
        compiled = self.versions.for_request(ctx)
        if compiled is None:
            return
        request = ctx.request
        for edit in compiled.edits(self.api.relative_path(request.path), request.method):
            request.headers = edit.apply(request.headers, ctx)


class TransformResponseHeaders(PerVersionStep):
    """Puts a response in front of the client's that edits the head the upstream (or a mock) sends."""

    compile = staticmethod(compile_response)

    async def __call__(self, ctx: RequestContext) -> None:
        compiled = self.versions.for_request(ctx)
        if compiled is None:
            return
        request = ctx.request
        edits = compiled.edits(self.api.relative_path(request.path), request.method)
        if edits:
            def edit(headers: Headers) -> Headers:
                for one in edits:
                    headers = one.apply(headers, ctx)
                return headers

            ctx.response = HeaderEditingResponse(ctx.response, edit)
