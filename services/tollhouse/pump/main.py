"""``tollhouse-pump --config PATH``: move analytics records from Redis to the sinks.

Exit codes: 0 after SIGTERM/SIGINT (the batch in flight is finished or left for re-delivery),
2 for unusable settings (the message names the key), 1 if the health port cannot be bound or the
drain loop dies of a bug. ``--check-config`` validates the settings and exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from tollhouse.core.cli import settings_from_args
from tollhouse.core.logs import setup_logging
from tollhouse.pump.drain import Drainer
from tollhouse.pump.health import HealthReport, HealthServer
from tollhouse.pump.queue import AnalyticsQueue
from tollhouse.pump.settings import ENV_PREFIX, PumpSettings
from tollhouse.pump.sinks import Sink, build_sinks
from tollhouse.pump.status import PumpStatus

log = logging.getLogger("tollhouse.pump")


def main(argv: list[str] | None = None) -> None:
    settings = settings_from_args("tollhouse-pump", PumpSettings, ENV_PREFIX, argv)
    sinks = build_sinks(settings)
    setup_logging(settings.log_level, settings.log_format)
    try:
        sys.exit(asyncio.run(run(settings, sinks)))
    except OSError as exc:  # e.g. the health port is taken
        log.error("cannot start: %s", exc)
        sys.exit(1)


async def run(settings: PumpSettings, sinks: list[Sink]) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    queue, status = AnalyticsQueue(settings.redis_url, settings.pump_id), PumpStatus()
    report = HealthReport(settings, queue, sinks, status)
    health = HealthServer(report, settings.health_address, settings.health_port)
    await health.start()
    log.info("pump %s started: sinks %s, every %ss up to %d records",
             settings.pump_id, ",".join(settings.sinks), settings.purge_delay, settings.purge_chunk)
    drain = asyncio.create_task(Drainer(settings, queue, sinks, status, stopping).run())
    try:
        await asyncio.wait([drain, asyncio.create_task(stopping.wait())], return_when=asyncio.FIRST_COMPLETED)
        return await finish(drain, settings.shutdown_grace_seconds)
    finally:
        await health.close()
        await asyncio.gather(*(sink.shutdown() for sink in sinks), return_exceptions=True)
        await queue.close()


async def finish(drain: asyncio.Task, grace_seconds: float) -> int:
    """Let the batch in flight finish within the grace period, else abandon it to the processing list."""
    try:
        await asyncio.wait_for(drain, grace_seconds)
    except TimeoutError:
        log.warning("batch in flight abandoned at shutdown; it stays in redis and is re-delivered on start")
    except Exception:
        log.exception("drain loop failed")
        return 1
    log.info("pump stopped")
    return 0
