"""Method transforms (Tyk's ``method_transforms``): the first matching entry sends the request upstream with
``to_method`` instead of the client's method. It runs before URL rewrites, so both match the path as sent."""

from __future__ import annotations

from tollhouse.core.apidef_transforms import MethodTransform, VersionTransforms
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.middleware.per_version import Endpoint, PerVersionStep, endpoints, first_match


def compile_methods(settings: VersionTransforms) -> tuple[Endpoint[MethodTransform], ...] | None:
    return endpoints(settings.method_transforms) or None


class TransformMethod(PerVersionStep):
    compile = staticmethod(compile_methods)

    async def __call__(self, ctx: RequestContext) -> None:
        compiled = self.versions.for_request(ctx)
        if compiled is None:
            return
        request = ctx.request
        entry = first_match(compiled, self.api.relative_path(request.path), request.method)
        if entry is not None:
            request.method = entry.to_method.upper()
