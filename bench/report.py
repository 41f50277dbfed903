"""What `make bench` prints: a header that says where and how it ran, one markdown table per body, then the
half-rate latency, reload, pump drain and targets tables."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

TABLE_HEAD = (
    "| contender | workers | req/s | p50 ms | p99 ms | max ms | +p50 ms | +p99 ms | RSS MiB total "
    "| RSS MiB/worker | CPU % | wrk CPU % | non-2xx | socket errors | vs nginx | notes |"
)
COLUMNS = TABLE_HEAD.count("|") - 1


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _tool_version(argv: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    match = re.search(pattern, out.stdout + out.stderr)
    return match[1] if match else "?"


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def describe(args, load_cpus: str | None, server_cpus: str | None, small_bytes: int) -> dict:
    """Everything about the run that a reader needs to judge its numbers (also stored in results.json)."""
    cores = os.cpu_count() or 1
    if load_cpus is None:
        placement = "not pinned: wrk, the upstream and the server under test share all CPUs"
    else:
        placement = (
            f"the load side (wrk, the upstream nginx, Redis) pinned to CPU {load_cpus} and the server under "
            f"test to CPU {server_cpus} with taskset (the direct row moves the upstream there for its run); "
            "the per-core rows (nginx, Tollhouse) let their workers use every CPU, so they share CPU with wrk"
        )
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": {
            "nproc": cores,
            "cpu_model": _cpu_model(),
            "kernel": platform.release(),
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
        },
        "software": {
            "python": platform.python_version(),
            "uvicorn": _package("uvicorn"),
            "uvloop": _package("uvloop"),
            "httptools": _package("httptools"),
            "httpx": _package("httpx"),
            "aiohttp": _package("aiohttp"),
            "tollhouse": _package("tollhouse"),
            "nginx": _tool_version(["nginx", "-v"], r"nginx/(\S+)"),
            "wrk": _tool_version(["wrk", "-v"], r"wrk (\S+)"),
            "redis": _tool_version(["redis-server", "--version"], r"v=(\S+)"),
        },
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "bodies": args.bodies,
            "only": args.only,
            "small_body_bytes": small_bytes,
            "large_body_bytes": 64 * 1024,
        },
        "placement": placement,
    }


COLUMN_NOTES = (
    "+p50/+p99 = latency added over the direct row; vs nginx = req/s relative to the nginx proxy with the "
    "same worker count; RSS after the measured run; CPU % = CPU time / wall time of the server under test "
    "and of wrk (100 = one core; wrk near 100 means the load side, not the server, set the pace). "
    "Compare rows of one run, as ratios: absolute numbers drift between runs and machines."
)


def header(meta: dict) -> str:
    m, s, sw = meta["machine"], meta["settings"], meta["software"]
    machine = f"{m['nproc']} CPUs ({m['cpu_model']}), Linux {m['kernel']}"
    software = (
        f"Python {sw['python']}, uvicorn {sw['uvicorn']} (uvloop {sw['uvloop']}, "
        f"httptools {sw['httptools']}), httpx {sw['httpx']}, aiohttp {sw['aiohttp']}, nginx {sw['nginx']}, "
        f"wrk {sw['wrk']}, redis {sw['redis']}, tollhouse {sw['tollhouse']}"
    )
    load = (
        f"wrk -t{s['threads']} -c{s['connections']}, keep-alive GETs over 127.0.0.1; per contender a "
        f"{s['warmup_s']}s warm-up run, then a {s['duration_s']}s measured run"
    )
    bodies = f"{', '.join(s['bodies'])} (small = {s['small_body_bytes']} bytes of JSON, 64k = 65536 bytes)"
    return "\n".join(
        [
            f"## Tollhouse data-path benchmark, {meta['date']}",
            "",
            f"- machine: {machine}; load average at start {' '.join(m['loadavg_at_start'])}",
            f"- software: {software}",
            f"- load: {load}; body: {bodies}",
            f"- CPU placement: {meta['placement']}. wrk needs a core too: on a 2-CPU machine it otherwise "
            "takes CPU from the server it measures, so each server under test gets one core of its own.",
            f"- columns: {COLUMN_NOTES}",
        ]
    )


def _ms(microseconds: float | None) -> str:
    return "" if microseconds is None else f"{microseconds / 1000:.2f}"


def _row(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [row["title"], "", row["status"], *[""] * (COLUMNS - 3)]
    latency = row["latency_us"]
    faulty = row["non_2xx_3xx"] or row["socket_errors"] or not row.get("check_ok", True)
    return [
        ("⚠ " if faulty else "") + row["title"],
        str(row["workers"]),
        f"{row['requests_per_second']:,.0f}",
        _ms(latency["p50"]),
        _ms(latency["p99"]),
        _ms(latency["max"]),
        _ms(row.get("added_p50_us")),
        _ms(row.get("added_p99_us")),
        f"{row['rss_kib_total'] / 1024:.1f}",
        " / ".join(f"{kib / 1024:.1f}" for kib in row["rss_kib_per_worker"]),
        f"{row['cpu_percent']:.0f}",
        f"{row['wrk_cpu_percent']:.0f}",
        f"{row['non_2xx_3xx']:,}",
        f"{row['socket_errors']:,}",
        f"{row['vs_nginx']:.2f}x" if "vs_nginx" in row else "",
        "; ".join(row["notes"]),
    ]


def tables(rows: list[dict], bodies: list[str]) -> str:
    out = []
    for body in bodies:
        out += ["", f"### body: {body}", "", TABLE_HEAD, "|" + "---|" * COLUMNS]
        out += ["| " + " | ".join(_row(row)) + " |" for row in rows if row["body"] == body]
    return "\n".join(out)


def _ms_or_blank(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _pace(who: str, run: dict) -> str:
    return f"{who} -c{run['connections']} delay {run['delay_ms']:.2f} ms" + (" (retuned)" if run["retuned"] else "")


def half_rate_table(rows: list[dict]) -> list[str]:
    """Latency at a fixed rate, half the row's max: through the gateway, and the upstream alone."""
    paced = [row for row in rows if "half_rate" in row]
    if not paced:
        return []
    out = [
        "",
        "### latency at half the max rate (paced wrk: the gateway, then the upstream alone at the same rate)",
        "",
        "| contender | body | wanted req/s | gateway req/s | p50 ms | p99 ms | max ms | direct req/s | direct p50 ms "
        "| direct p99 ms | direct max ms | +p50 ms | +p99 ms | non-2xx | socket errors | pace |",
        "|" + "---|" * 16,
    ]
    for row in paced:
        half, gateway = row["half_rate"], row["half_rate"]["gateway"]
        direct = half.get("direct")
        cells = [
            row["title"],
            row["body"],
            f"{half['target_rps']:,.0f}",
            f"{gateway['achieved_rps']:,.0f}" + ("" if gateway["on_target"] else " (off >10%)"),
            *[_ms(gateway["latency_us"][key]) for key in ("p50", "p99", "max")],
        ]
        if direct:
            cells += [f"{direct['achieved_rps']:,.0f}" + ("" if direct["on_target"] else " (off >10%)")]
            cells += [_ms(direct["latency_us"][key]) for key in ("p50", "p99", "max")]
            cells += [_ms(half["added_p50_us"]), _ms(half["added_p99_us"])]
        else:
            cells += ["failed", "", "", "", "", ""]
        errors = [gateway, direct] if direct else [gateway]
        cells += [
            " / ".join(f"{run['non_2xx_3xx']:,}" for run in errors),
            " / ".join(f"{run['socket_errors']:,}" for run in errors),
            "; ".join(_pace(who, run) for who, run in (("gateway", gateway), ("direct", direct)) if run),
        ]
        out.append("| " + " | ".join(cells) + " |")
    return out


def reload_table(rows: list[dict]) -> list[str]:
    """Loading 1,000 APIs at start, and reloading them while wrk drives the keyed API at full speed."""
    loaded = [row for row in rows if "api_load" in row or "reload" in row]
    if not loaded:
        return []
    out = [
        "",
        "### loading and reloading 1,000 APIs (keyed rows; reloads under full wrk load)",
        "",
        "| contender | APIs | start: load ms (log) | start: ready s | reloads | reload s median / max (client) "
        "| worker reloads logged | load ms max (log) | last worker done s max | req/s during | p99 / max ms during "
        "| non-2xx | socket errors | failed reload calls |",
        "|" + "---|" * 14,
    ]
    for row in loaded:
        start, result = row.get("api_load", {}), row.get("reload")
        cells = [
            row["title"],
            str(start.get("apis", "")),
            " / ".join(f"{ms:,.0f}" for ms in start.get("log_ms", [])),
            _ms_or_blank(start.get("ready_s"), 1),
        ]
        if result:
            done = result["all_workers_done_ms"]
            cells += [
                str(result["reloads"]),
                f"{result['median_ms'] / 1000:.2f} / {result['max_ms'] / 1000:.2f}",
                f"{result['worker_loads_logged']} / {result['worker_loads_expected']}",
                _ms_or_blank(result["logged_max_ms"]),
                f"{max(done) / 1000:.2f}" if done else "",
                f"{result['requests_per_second']:,.0f}",
                f"{_ms(result['latency_us']['p99'])} / {_ms(result['latency_us']['max'])}",
                f"{result['non_2xx_3xx']:,}",
                f"{result['socket_errors']:,}",
                str(result["failed_calls"]),
            ]
        else:
            cells += ["not run", *[""] * 9]
        out.append("| " + " | ".join(cells) + " |")
    return out


def pump_table(pump: dict | None) -> list[str]:
    """bench/pump_drain.py's figures as it gives them (its scalar values)."""
    if pump is None:
        return []
    out = ["", "### pump drain (bench/pump_drain.py)", "", "| figure | value |", "|---|---|"]
    for key, value in pump.items():
        if isinstance(value, float):
            value = f"{value:,.2f}"
        if isinstance(value, str | int | float | bool):
            out.append(f"| {key} | {value} |")
    return out


def targets_table(goals: list[dict], body: str) -> list[str]:
    out = [
        "",
        f"### issue 5 targets (body: {body}; judged from the rows above)",
        "",
        "| figure | target | measured | verdict | notes |",
        "|---|---|---|---|---|",
    ]
    for goal in goals:
        cells = [goal["figure"], goal["target"], goal["measured"], goal["verdict"], goal["note"]]
        out.append("| " + " | ".join(cells) + " |")
    return out


def extra_tables(rows: list[dict], pump: dict | None, goals: list[dict], body: str) -> str:
    return "\n".join(half_rate_table(rows) + reload_table(rows) + pump_table(pump) + targets_table(goals, body))
