"""Latency at a fixed request rate (half a gateway's measured maximum), through the gateway and direct.

wrk has no constant-rate mode, so the rate comes from wrk_paced.lua's delay(): each connection waits a
random time (exponential, mean ``delay`` ms, so the connections do not fall into step) before each
request, so it sends one request per (delay + latency) ms on average, and ``connections`` of them send
connections * 1000 / (delay + latency) requests per second. The paced runs use as many connections as
the max-throughput runs (--connections), so the delay, not the latency, makes most of each cycle and a
latency that varies moves the rate little. Latency is still not zero and wrk's timers fire on
millisecond ticks, so the first run's achieved rate tells how far off the estimate was: when it is more
than TOLERANCE away, the delay is corrected by the difference between the cycle wanted and the cycle
measured, and the run is made again, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import report
import wrk
from harness import Bench

LATENCY_GUESS_MS = 0.3  # the first estimate of a request's latency at half load
MIN_DELAY_MS = 1.0  # a rate so high that the delay would be shorter gets more connections instead
TOLERANCE = 0.10  # the achieved rate may be this far from the target before the run is made again


@dataclass
class Pace:
    connections: int
    delay_ms: float  # mean of wrk_paced.lua's exponential waits (each rounded to whole ms at random)

    @classmethod
    def for_rate(cls, rate: float, connections: int) -> Pace:
        connections = max(connections, math.ceil(rate * (LATENCY_GUESS_MS + MIN_DELAY_MS) / 1000))
        return cls(connections, max(0.0, connections * 1000 / rate - LATENCY_GUESS_MS))

    def corrected(self, rate: float, achieved: float) -> Pace:
        """The pace that closes the gap between the cycle wanted and the cycle this pace gave."""
        wanted_ms, measured_ms = self.connections * 1000 / rate, self.connections * 1000 / achieved
        delay = self.delay_ms + wanted_ms - measured_ms
        if delay >= MIN_DELAY_MS:
            return Pace(self.connections, delay)
        # Too slow even with (almost) no delay: the latency takes the whole cycle, so more connections.
        latency_ms = max(measured_ms - self.delay_ms, 0.01)
        connections = max(self.connections, math.ceil(rate * (latency_ms + MIN_DELAY_MS) / 1000))
        return Pace(connections, max(0.0, connections * 1000 / rate - latency_ms))


def paced_run(bench: Bench, url: str, headers: dict[str, str], rate: float, label: str) -> dict:
    """A run of --duration at ``rate`` req/s (retuned once if off by more than TOLERANCE); its figures and pace."""
    pace = Pace.for_rate(rate, bench.args.connections)
    retuned = False
    while True:
        load = wrk.Load(url, headers, pace.connections, wrk.PACED_SCRIPT, (f"{pace.delay_ms:.3f}",))
        report.progress(f"{label}: {rate:,.0f} req/s wanted, -c{pace.connections}, delay {pace.delay_ms:.2f} ms")
        stats = wrk.run(bench, load, bench.args.duration)
        achieved = stats["requests_per_second"]
        if retuned or abs(achieved - rate) <= TOLERANCE * rate or achieved == 0:
            break
        pace, retuned = pace.corrected(rate, achieved), True
    return {
        "achieved_rps": achieved,
        "connections": pace.connections,
        "delay_ms": pace.delay_ms,
        "retuned": retuned,
        "on_target": abs(achieved - rate) <= TOLERANCE * rate,
        "latency_us": stats["latency_us"],
        "non_2xx_3xx": stats["non_2xx_3xx"],
        "socket_errors": stats["socket_errors"],
        "wrk_cpu_percent": stats["wrk_cpu_percent"],
    }


def gateway_side(bench: Bench, url: str, headers: dict[str, str], max_rps: float, name: str) -> dict:
    """The gateway at half its measured max rate (while it still runs); ``direct_side`` completes it."""
    rate = max_rps / 2
    return {"target_rps": rate, "gateway": paced_run(bench, url, headers, rate, f"{name} at half rate")}


def direct_side(bench: Bench, half_rate: dict, body_path: str) -> None:
    """The upstream alone at the same rate, placed as in the direct row; adds "+p99" over it."""
    bench.move_upstream(to_server_side=True)
    try:
        url = f"http://127.0.0.1:{bench.upstream.port}{body_path}"
        direct = paced_run(bench, url, {}, half_rate["target_rps"], "direct at the same rate")
    finally:
        bench.move_upstream(to_server_side=False)
    half_rate["direct"] = direct
    for percentile in ("p50", "p99"):
        added = half_rate["gateway"]["latency_us"][percentile] - direct["latency_us"][percentile]
        half_rate[f"added_{percentile}_us"] = added
