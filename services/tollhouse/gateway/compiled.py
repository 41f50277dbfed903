"""An API definition compiled for serving: everything the request path needs, computed once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tollhouse.core.apidef import ApiDefinition, normalise_listen_path
from tollhouse.gateway.proxy import UpstreamTarget
from tollhouse.gateway.upstream_hosts import target_from_url

if TYPE_CHECKING:
    from tollhouse.gateway.metrics import ApiMetrics
    from tollhouse.gateway.pipeline import Middleware


@dataclass(eq=False)
class CompiledApi:
    definition: ApiDefinition
    raw: dict
    domain: str
    listen_path: str
    target: UpstreamTarget
    target_base_path: str
    strip_listen_path: bool
    preserve_host: bool
    track_analytics: bool
    # Filled by pipeline.build_pipeline once the API is compiled.
    chain: tuple[Middleware, ...] = field(default=())
    # Where this API's requests are counted (gateway/metrics.py); None while metrics are off.
    metrics: ApiMetrics | None = None

    @property
    def api_id(self) -> str:
        return self.definition.api_id

    @property
    def needs_redis(self) -> bool:
        """Keyless APIs serve without Redis (unless they have rate limits); keyed ones cannot."""
        return not self.definition.use_keyless or self.definition.limits_apply

    @property
    def versioned(self) -> bool:
        return not self.definition.version_data.not_versioned

    def relative_path(self, path: str) -> str:
        """The request path after the listen path, always starting with '/' (what access rules match)."""
        rest = path[len(self.listen_path) - 1 :] if path.startswith(self.listen_path) else "/"
        return rest or "/"

    def upstream_target(self, path: str, query: str, base_path: str | None = None) -> str:
        """The path and query to send upstream for a request path that matched this API.

        ``base_path``: the path of the load-balanced target chosen, instead of target_url's.
        """
        if base_path is None:
            base_path = self.target_base_path
        if self.strip_listen_path:
            rest = path[len(self.listen_path) :] if len(path) >= len(self.listen_path) else ""
            upstream_path = base_path + "/" + rest
        else:
            upstream_path = base_path + path
        return f"{upstream_path}?{query}" if query else upstream_path


def compile_api(definition: ApiDefinition, raw: dict) -> CompiledApi:
    target, base_path = target_from_url(definition.proxy.target_url)
    return CompiledApi(
        definition=definition,
        raw=raw,
        domain=definition.domain,
        listen_path=normalise_listen_path(definition.proxy.listen_path),
        target=target,
        target_base_path=base_path,
        strip_listen_path=definition.proxy.strip_listen_path,
        preserve_host=definition.proxy.preserve_host_header,
        track_analytics=not definition.do_not_track,
    )
