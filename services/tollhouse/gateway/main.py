"""``tollhouse-gateway --config PATH``: wire the data path, the reloader and the analytics writer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import redis.asyncio as aioredis
import uvloop

from tollhouse.core.cli import settings_from_args
from tollhouse.core.logs import setup_logging
from tollhouse.gateway.analytics import AnalyticsWriter
from tollhouse.gateway.app import GatewayApp
from tollhouse.gateway.health import HealthCheck
from tollhouse.gateway.http.server import ServerLimits, start_server
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.loader import DashboardSource, DefinitionSource, DirectorySource
from tollhouse.gateway.pipeline import PipelineDeps, build_pipeline
from tollhouse.gateway.reload import Reloader, listen_for_notifications
from tollhouse.gateway.settings import ENV_PREFIX, GatewaySettings

log = logging.getLogger("tollhouse.gateway")


def definition_source(settings: GatewaySettings) -> DefinitionSource:
    if settings.dashboard_url is not None:
        assert settings.node_secret is not None
        return DashboardSource(settings.dashboard_url, settings.node_secret, settings.dashboard_timeout_seconds)
    assert settings.app_path is not None
    return DirectorySource(settings.app_path)


async def serve(settings: GatewaySettings) -> None:
    redis = aioredis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2,
                                    health_check_interval=30)
    pool = UpstreamPool(settings.upstream_connect_timeout_seconds, settings.upstream_timeout_seconds,
                        settings.upstream_max_idle_per_host)
    analytics = None
    if settings.analytics_enabled:
        analytics = AnalyticsWriter(redis, batch_size=settings.analytics_batch_size,
                                    flush_interval=settings.analytics_flush_interval_seconds,
                                    buffer_max=settings.analytics_buffer_max)
    app = GatewayApp(analytics)
    deps = PipelineDeps(upstreams=pool, keys=KeyStore(redis, settings.key_hash_secret),
                        policies=lambda: app.policies)

    def prepare(api):
        api.chain = build_pipeline(api, deps)

    reloader = Reloader(definition_source(settings), prepare, app.swap_router, settings.reload_coalesce_seconds)
    app.health = HealthCheck(redis, reloader, analytics, lambda: len(app.router),
                             lambda: any(api.needs_redis for api in app.router.apis))

    limits = ServerLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        header_timeout=settings.client_header_timeout_seconds,
        body_timeout=settings.client_body_timeout_seconds,
        keepalive_timeout=settings.keepalive_timeout_seconds,
    )
    server = await start_server(app.handle, settings.listen_address, settings.listen_port, limits)
    log.info("gateway listening on %s:%d", settings.listen_address, settings.listen_port)

    background = [asyncio.create_task(reloader.run(), name="reloader")]
    if analytics is not None:
        background.append(asyncio.create_task(analytics.run(), name="analytics"))
    if settings.dashboard_url is not None:
        background.append(asyncio.create_task(
            listen_for_notifications(redis, settings.node_secret, reloader), name="notifications"))
    first_load = asyncio.create_task(reloader.load_until_success(), name="first-load")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reloader.request)
    await stop.wait()

    log.info("gateway stopping")
    server.close()
    for task in [first_load, *background]:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(first_load, *background, return_exceptions=True)
    if analytics is not None:
        await analytics.close()
    await pool.close()
    await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    settings = settings_from_args("tollhouse-gateway", GatewaySettings, ENV_PREFIX, argv)
    setup_logging(settings.log_level, settings.log_format)
    try:
        uvloop.run(serve(settings))
    except OSError as exc:
        print(f"tollhouse-gateway: cannot listen on {settings.listen_address}:{settings.listen_port}: {exc}",
              file=sys.stderr)
        raise SystemExit(1) from None
