"""The proxy step of an API with upstream rules: load balancing, host checks, hard timeouts, circuit breakers.

An API with none of them gets the plain ``ProxyToUpstream``: nothing here runs for it. As in Tyk, these
rules live in the proxy step, around the one call upstream, in this order:
1. the path's circuit breaker (circuit_breaker.py): open -> 503 ``Service temporarily unavailable.``;
2. the host: ``target_list`` in turn with ``enable_load_balancing`` (else ``target_url``), passing over hosts
   marked down (upstream_hosts.py); none left -> 503 ``all hosts are down`` (Tyk's words). Unlike Tyk, which
   consults uptime tests only when load balancing, ``check_host_against_uptime_tests`` also guards a lone
   ``target_url``: a host known down answers 503 at once instead of after a connect timeout;
3. the path's hard timeout, if any, instead of the gateway's upstream_timeout_seconds for the response head:
   504 ``Upstream service reached hard timeout.``;
4. the outcome goes back to the breaker and to the host's health (connection failures and timeouts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollhouse.core.apidef_upstreams import CircuitBreaker as BreakerEntry
from tollhouse.core.apidef_upstreams import HardTimeout, path_entries, upstream_rules_apply
from tollhouse.gateway.circuit_breaker import SERVICE_UNAVAILABLE, CircuitBreaker
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.middleware.proxy import ProxyToUpstream
from tollhouse.gateway.path_table import PathTable
from tollhouse.gateway.proxy import forward
from tollhouse.gateway.upstream_hosts import HostList

if TYPE_CHECKING:
    from tollhouse.gateway.compiled import CompiledApi
    from tollhouse.gateway.pipeline import Middleware, PipelineDeps

ALL_HOSTS_DOWN = "all hosts are down"


def proxy_step(api: CompiledApi, deps: PipelineDeps) -> Middleware:
    """The last step of the chain: the plain proxy unless the API has upstream rules."""
    if upstream_rules_apply(api.definition):
        return ProxyWithUpstreamRules(api, deps)
    return ProxyToUpstream(api, deps.upstreams)


class ProxyWithUpstreamRules:
    def __init__(self, api: CompiledApi, deps: PipelineDeps):
        self.api = api
        self.pool = deps.upstreams
        self.tls = self.pool.context_for(api.definition.proxy.transport)  # proxy.transport (upstream_tls.py)
        self.states = deps.hosts
        proxy = api.definition.proxy
        urls = proxy.target_list if proxy.enable_load_balancing else [proxy.target_url]
        # Traffic takes a host out of rotation only when there is another host to send it to.
        self.passive = proxy.enable_load_balancing and len(urls) > 1
        self.hosts = HostList(urls, deps.hosts, skip_checked_down=proxy.check_host_against_uptime_tests,
                              skip_resting=self.passive)
        data = api.definition.version_data
        timeouts = PathTable(api, lambda version: path_entries(data, version, "hard_timeouts", HardTimeout),
                             lambda version, entry: entry.timeout)
        self.timeouts = timeouts or None

        def breaker(version: str, entry: BreakerEntry) -> CircuitBreaker:
            key = (api.api_id, version, entry.method.upper(), entry.path, entry.threshold_percent, entry.samples,
                   entry.return_to_service_after, entry.disable_half_open_state)
            name = f"{api.api_id} {version} {entry.method.upper() or 'ANY'} {entry.path}"
            return deps.breakers.get(key, lambda: CircuitBreaker(
                name, entry.threshold_percent, entry.samples, entry.return_to_service_after,
                half_open=not entry.disable_half_open_state))

        breakers = PathTable(api, lambda version: path_entries(data, version, "circuit_breakers", BreakerEntry),
                             breaker)
        self.breakers = breakers or None

    async def __call__(self, ctx: RequestContext) -> None:
        breaker = self.breakers.find(ctx) if self.breakers is not None else None
        ticket = None
        if breaker is not None:
            ticket = breaker.admit()
            if ticket is None:
                raise GatewayError(503, SERVICE_UNAVAILABLE)
        upstream = ctx.upstream_override or self.hosts.pick()  # a version's override_target wins, as in Tyk
        if upstream is None:
            if breaker is not None:
                breaker.abandon(ticket)
            raise GatewayError(503, ALL_HOSTS_DOWN)
        request = ctx.request
        try:
            result = await forward(
                request,
                ctx.response,
                self.pool,
                upstream.target,
                self.api.upstream_target(request.path, request.query, upstream.base_path),
                preserve_host=self.api.preserve_host,
                extra_response_headers=ctx.response_headers,
                head_timeout=self.timeouts.find(ctx) if self.timeouts is not None else None,
                tls=self.tls,
            )
        except BaseException:
            if breaker is not None:
                breaker.abandon(ticket)
            raise
        ctx.status = result.status
        ctx.upstream_ms = result.upstream_ms
        # The gateway's own 502/504 (no answer from the host), not an upstream's 5xx answer.
        unreachable = result.error is not None and result.status >= 502
        if self.passive and ctx.upstream_override is None:
            if unreachable:
                self.states.request_failed(upstream.key, result.error)
            else:
                self.states.request_answered(upstream.key)
        if breaker is not None:
            if result.status == 499:  # the client left: no verdict on the upstream
                breaker.abandon(ticket)
            else:
                breaker.record(ticket, result.status >= 500)
