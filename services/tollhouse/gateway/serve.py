"""One gateway process: wire the data path, the reloader and the analytics writer, serve until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import redis.asyncio as aioredis

from tollhouse.gateway.analytics import AnalyticsWriter
from tollhouse.gateway.app import GatewayApp
from tollhouse.gateway.client_address import ClientAddress
from tollhouse.gateway.control.router import ControlServices
from tollhouse.gateway.control.routes import build_control_router
from tollhouse.gateway.health import HealthCheck
from tollhouse.gateway.http.server import ServerLimits, start_server
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.jwks import JwksCache
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.loader import DashboardSource, DefinitionSource, DirectorySource
from tollhouse.gateway.metrics import GatewayMetrics, process_facts
from tollhouse.gateway.metrics_workers import ProcessMetrics
from tollhouse.gateway.oauth import OAuthStore
from tollhouse.gateway.pipeline import PipelineDeps, build_pipeline
from tollhouse.gateway.pipelined_redis import PipelinedRedis
from tollhouse.gateway.ratelimit import Limiter
from tollhouse.gateway.reload import Reloader, listen_for_notifications
from tollhouse.gateway.response_cache import ResponseCache
from tollhouse.gateway.settings import GatewaySettings
from tollhouse.gateway.tls import server_context
from tollhouse.gateway.upstream_tls import UpstreamTls
from tollhouse.gateway.uptime import host_states, start_uptime_checks
from tollhouse.gateway.workers import SupervisorLink

log = logging.getLogger("tollhouse.gateway")


def definition_source(settings: GatewaySettings) -> DefinitionSource:
    if settings.dashboard_url is not None:
        assert settings.node_secret is not None
        return DashboardSource(settings.dashboard_url, settings.node_secret, settings.dashboard_timeout_seconds)
    assert settings.app_path is not None
    return DirectorySource(settings.app_path)


def policy_source(settings: GatewaySettings) -> DefinitionSource | None:
    """Policies come from where the APIs come from; file mode without ``policy_path`` has none."""
    if settings.dashboard_url is not None:
        assert settings.node_secret is not None
        return DashboardSource(settings.dashboard_url, settings.node_secret, settings.dashboard_timeout_seconds,
                               "/system/policies")
    if settings.policy_path is None:
        return None
    return DirectorySource(settings.policy_path, "policy_path", "policy")


async def serve(settings: GatewaySettings, supervisor: SupervisorLink | None = None) -> None:
    """Run one gateway process until SIGTERM; ``supervisor`` when it is one of several workers."""
    # A blocking pool: under a burst, requests wait briefly for a connection instead of failing with
    # "Too many connections" (which would surface as a false 503).
    redis = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=settings.redis_max_connections, timeout=settings.redis_pool_timeout_seconds,
        socket_timeout=5, socket_connect_timeout=2, health_check_interval=30))
    # The request path's own connection: key lookups and limit checks, pipelined (see its module).
    data_redis = PipelinedRedis(settings.redis_url, timeout=5)
    pool = UpstreamPool(settings.upstream_connect_timeout_seconds, settings.upstream_timeout_seconds,
                        settings.upstream_max_idle_per_host,
                        tls=UpstreamTls(settings.proxy_ssl_ca_file, settings.proxy_ssl_insecure_skip_verify))
    # HTTPS on the listener(s); certificates are loaded now so a bad file stops the start, not the first client.
    tls = server_context(settings) if settings.use_ssl else None
    analytics = None
    if settings.analytics_enabled:
        # A connection of its own: a batch of records never queues ahead of a key lookup or limit check.
        analytics_redis = PipelinedRedis(settings.redis_url, timeout=5)
        analytics = AnalyticsWriter(analytics_redis, batch_size=settings.analytics_batch_size,
                                    flush_interval=settings.analytics_flush_interval_seconds,
                                    buffer_max=settings.analytics_buffer_max)
    app = GatewayApp(analytics)
    app.client_address = ClientAddress(settings.trusted_proxies)  # analytics and the IP lists: the same client
    deps = PipelineDeps(upstreams=pool, client_address=app.client_address,
                        client_certificates=settings.tls_client_ca_file is not None,
                        keys=KeyStore(data_redis, settings.key_hash_secret),
                        policies=lambda: app.policies, oauth=OAuthStore.from_settings(redis, settings),
                        limiter=Limiter(data_redis), rate_limit_fail_open=settings.rate_limit_fail_open,
                        jwks=JwksCache(settings.jwks_cache_seconds, settings.jwks_refetch_seconds,
                                       settings.jwks_timeout_seconds),
                        hosts=host_states(settings),
                        # Connects at the first cached API's first request: APIs without a cache cost nothing.
                        response_cache=ResponseCache(PipelinedRedis(settings.redis_url,
                                                                    timeout=settings.cache_redis_timeout_seconds),
                                                     settings.cache_max_body_bytes))

    metrics = GatewayMetrics() if settings.metrics_port else None

    def prepare(api):
        api.chain = build_pipeline(api, deps)
        if metrics is not None:
            api.metrics = metrics.for_api(api.api_id)

    reloader = Reloader(definition_source(settings), prepare, app.swap_router, settings.reload_coalesce_seconds,
                        policy_source=policy_source(settings), swap_policies=app.swap_policies)
    app.health = HealthCheck(redis, reloader, analytics, lambda: len(app.router),
                             lambda: any(api.needs_redis for api in app.router.apis))

    limits = ServerLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        header_timeout=settings.client_header_timeout_seconds,
        body_timeout=settings.client_body_timeout_seconds,
        keepalive_timeout=settings.keepalive_timeout_seconds,
        websockets=settings.enable_websockets,
    )
    process_metrics = None
    # Its own port, or as a worker the supervisor's (metrics_workers.py); opened first, so that a taken port
    # fails the start before the API port answers.
    if metrics is not None:
        process_metrics = ProcessMetrics(settings.metrics_address or settings.listen_address, settings.metrics_port,
                                         metrics, lambda: process_facts(len(app.router), reloader.reloads, analytics))
        await process_metrics.start()
    reuse_port = supervisor is not None  # the workers share the ports
    server = await start_server(app.handle, settings.listen_address, settings.listen_port, limits,
                                reuse_port=reuse_port, tls=tls)
    log.info("gateway listening on %s:%d", settings.listen_address, settings.listen_port)
    control_keys = KeyStore(redis, settings.key_hash_secret)  # lists and writes keys: the pooled client
    control = build_control_router(ControlServices(settings, redis, control_keys, reloader, lambda: app.policies))
    if supervisor is not None:
        control.services.reload_peers = supervisor.reload_peers
    servers = [server]
    if settings.control_port is None:
        app.control = control
    else:
        servers.append(await start_server(control.handle, settings.listen_address, settings.control_port, limits,
                                          reuse_port=reuse_port, tls=tls))
        log.info("control API listening on %s:%d", settings.listen_address, settings.control_port)

    background = [asyncio.create_task(reloader.run(), name="reloader")]
    background += start_uptime_checks(settings, deps.hosts, lambda: app.router.apis)
    if analytics is not None:
        background.append(asyncio.create_task(analytics.run(), name="analytics"))
    if settings.node_secret is not None:  # dashboard mode, or file-mode gateways joined for /tyk/reload/group
        background.append(asyncio.create_task(
            listen_for_notifications(redis, settings.node_secret, reloader), name="notifications"))
    first_load = asyncio.create_task(reloader.load_until_success(), name="first-load")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reloader.request)
    if supervisor is not None:
        supervisor.listening()
    await stop.wait()

    log.info("gateway stopping")
    for listener in servers:
        listener.close()
    for task in [first_load, *background]:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(first_load, *background, return_exceptions=True)
    if analytics is not None:
        await analytics.close()
        await analytics_redis.aclose()
    if process_metrics is not None:
        await process_metrics.close()
    await pool.close()
    await data_redis.aclose()
    await deps.response_cache.close()
    await redis.aclose()
