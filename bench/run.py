"""`make bench`: the gateway's data path against nginx (and ASGI proxies), one after another in ONE run.

Every contender forwards to the same upstream (nginx `return 200` with a small JSON body, or a 64 KiB
file) and is loaded with the same wrk settings: a warm-up run, then the measured run at full speed.
The 1-worker Tollhouse rows are also run at half their max rate (and the upstream alone at that rate),
the keyed rows are reloaded under load, and the pump drain rate is measured (bench/pump_drain.py);
then every issue-5 target is judged from the rows. Results go to bench/results.json and markdown
tables on stdout; scratch files to bench/.work/.
Absolute numbers drift between runs and machines: compare rows of one run, as ratios.

    .venv/bin/python bench/run.py [--duration 10s] [--connections 64] [--threads 1] [--body small|64k|both]
                                  [--only direct,nginx-1w,...,pump-drain] [--no-pin]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pacing
import reload
import report
import targets
import wrk
from contenders.tollhouse_gateway import tollhouse_gateway
from harness import BENCH_DIR, BODIES, SMALL_BODY, VENV_BIN, WORK, Bench, Server, Unavailable
from procs import (
    Processes,
    StartError,
    cpu_seconds,
    fetch,
    free_port,
    rss_kib,
    server_pids,
    wait_http,
)

# --- contenders: each starts its server and returns it, or raises Unavailable -------------------------


def start_direct(bench: Bench) -> Server:
    # The upstream is the server under test here: move it from the load side to the server's CPUs.
    bench.move_upstream(to_server_side=True)
    return bench.upstream


def nginx_proxy(workers: Callable[[], int]) -> Callable[[Bench], Server]:
    def start(bench: Bench) -> Server:
        count, port = workers(), free_port()
        name = f"nginx-proxy-{count}w"
        conf = bench.render(
            "proxy.conf.j2",
            f"{name}.conf",
            name=name,
            workers=count,
            port=port,
            upstream_port=bench.upstream.port,
            pool=bench.args.connections,
        )
        # One worker per core only means something if the workers may use every core (wrk's too).
        cpus = bench.server_cpus if count == 1 else None
        server = bench.start_nginx(name, conf, port, cpus)
        if count > 1 and bench.load_cpus:
            server.note = f"workers on all {count} CPUs, sharing wrk's"
        return server

    return start


def asgi_proxy(client: str) -> Callable[[Bench], Server]:
    def start(bench: Bench) -> Server:
        missing = [module for module in ("httpx", "aiohttp") if importlib.util.find_spec(module) is None]
        if missing:
            raise Unavailable(f"not available: {', '.join(missing)} not installed (pip install -e '.[dev]')")
        port, name = free_port(), f"asgi-{client}"
        options = "--loop uvloop --http httptools --workers 1 --lifespan on --no-access-log --log-level warning"
        argv = [str(VENV_BIN / "python"), "-m", "uvicorn", f"asgi_proxy:{client}_app", *options.split()]
        argv += [
            "--backlog",
            "4096",
            "--timeout-keep-alive",
            "300",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        argv += ["--app-dir", str(BENCH_DIR / "contenders")]
        env = {
            "BENCH_UPSTREAM": f"http://127.0.0.1:{bench.upstream.port}",
            "BENCH_POOL": str(bench.args.connections),
        }
        proc = bench.procs.start(name, argv, cpus=bench.server_cpus, env=env)
        wait_http(f"http://127.0.0.1:{port}/small", proc, name, bench.procs)
        return Server(name, proc, port, bench.server_cpus, note=f"pool {bench.args.connections}")

    return start


@dataclass(frozen=True)
class Contender:
    name: str  # for --only
    title: str  # in the table
    start: Callable[[Bench], Server]
    kind: str = "proxy"  # "direct" | "nginx" | "proxy": which rows the derived columns compare with
    default: bool = True  # in the run without --only
    half_rate: bool = False  # also measured at half its max rate, beside the upstream alone at that rate
    reload: bool = False  # also reloaded under load (its control is a GatewayControl)


KEYED = "Tollhouse gateway, keyed (auth token + rate limit + quota + analytics), 1,000 APIs"
CONTENDERS = [
    Contender("direct", "direct upstream (nginx `return 200`, 1 worker)", start_direct, "direct"),
    Contender("nginx-1w", "nginx reverse proxy, 1 worker, keepalive pool", nginx_proxy(lambda: 1), "nginx"),
    Contender("nginx-per-core", "nginx reverse proxy, 1 worker per core", nginx_proxy(os.cpu_count), "nginx"),
    Contender(
        "asgi-httpx",
        "raw ASGI + uvicorn (uvloop, httptools) + httpx.AsyncClient",
        asgi_proxy("httpx"),
        default=False,
    ),
    Contender(
        "asgi-aiohttp",
        "raw ASGI + uvicorn (uvloop, httptools) + aiohttp.ClientSession",
        asgi_proxy("aiohttp"),
        default=False,
    ),
    Contender(
        "tollhouse",
        "Tollhouse gateway, keyless, analytics off, 1 worker",
        tollhouse_gateway(),
        half_rate=True,
    ),
    Contender(
        "tollhouse-per-core",
        "Tollhouse gateway, keyless, analytics off, 1 worker per core",
        tollhouse_gateway(per_core=True),
    ),
    Contender(
        "tollhouse-analytics",
        "Tollhouse gateway, keyless, analytics on (Redis), 1 worker",
        tollhouse_gateway(analytics=True),
    ),
    Contender("tollhouse-keyed", f"{KEYED}, 1 worker", tollhouse_gateway(keyed=True), half_rate=True, reload=True),
    Contender(
        "tollhouse-keyed-per-core",
        f"{KEYED}, 1 worker per core",
        tollhouse_gateway(keyed=True, per_core=True),
        reload=True,
    ),
]
PUMP_DRAIN = "pump-drain"  # not a contender: bench/pump_drain.py's measurement, after the contenders


# --- measuring ----------------------------------------------------------------------------------------


def measure(bench: Bench, contender: Contender, body: str, expected: bytes) -> dict:
    """Start the contender, load it (and its extra runs), stop it; its row, or a row saying why not."""
    row = {"contender": contender.name, "title": contender.title, "kind": contender.kind, "body": body}
    report.progress(f"[{body}] {contender.name}: starting")
    before = set(bench.procs.running)
    try:
        server = contender.start(bench)
    except (Unavailable, StartError) as exc:
        for name in set(bench.procs.running) - before:  # whatever it started before failing
            bench.procs.stop(name)
        report.progress(f"[{body}] {contender.name}: {exc}")
        return {**row, "status": str(exc).splitlines()[0], "detail": str(exc)}
    half_rate = None
    try:
        row.update(server.facts)
        row.update(load(bench, server, server.url(body), expected))
        url = server.url(body)
        if contender.half_rate:
            half_rate = noted(row, "half-rate run", lambda: pacing.gateway_side(
                bench, url, server.headers, row["requests_per_second"], contender.name))
        if contender.reload and body == bench.args.bodies[0]:  # the control plane: one body is enough
            row["reload"] = noted(row, "reload run", lambda: reload.under_load(bench, server, url))
    except (StartError, RuntimeError, OSError) as exc:
        report.progress(f"[{body}] {contender.name}: {exc}")
        return {**row, "status": f"failed: {str(exc).splitlines()[0]}", "detail": str(exc)}
    finally:
        stop(bench, server)
    if half_rate:  # the upstream alone at the same rate, once the gateway is gone
        row["half_rate"] = half_rate
        noted(row, "direct run at half rate", lambda: pacing.direct_side(bench, half_rate, BODIES[body]))
    return row


def noted(row: dict, what: str, run: Callable[[], dict | None]) -> dict | None:
    """An extra measurement; if it fails the row keeps its other figures and says what failed."""
    try:
        return run()
    except (RuntimeError, OSError) as exc:
        report.progress(f"{row['contender']}: {what} failed: {exc}")
        row["notes"].append(f"{what} failed: {str(exc).splitlines()[0]}")
        return None


def load(bench: Bench, server: Server, url: str, expected: bytes) -> dict:
    """Check one request, warm up, then the measured run; read the server's CPU time and RSS around it."""
    notes = [server.note] if server.note else []
    status, content = fetch(url, server.headers)
    if status != 200:
        notes.append(f"check request got HTTP {status}")
    elif content != expected:
        notes.append("body differs from upstream's")
    load = wrk.Load(url, server.headers)
    report.progress(f"{server.name}: warm-up {bench.args.warmup}s")
    wrk.run(bench, load, bench.args.warmup)
    pids, workers = server_pids(server.proc)
    cpu_before = cpu_seconds(pids)
    report.progress(f"{server.name}: measuring {bench.args.duration}s")
    stats = wrk.run(bench, load, bench.args.duration)
    pids, workers = server_pids(server.proc)
    cpu_used = cpu_seconds(pids) - cpu_before
    if stats["wrk_cpu_percent"] >= 90:
        notes.append("wrk used its whole core: the load side may have set the pace")
    if server.after_run:
        notes.append(server.after_run())
    return {
        "status": "ok",
        **stats,
        "check_ok": status == 200 and content == expected,
        "workers": len(workers),
        "rss_kib_total": sum(rss_kib(pid) for pid in pids),
        "rss_kib_per_worker": [rss_kib(pid) for pid in workers],
        "cpu_percent": 100 * cpu_used / (stats["duration_us"] / 1e6),
        "cpus": server.cpus or "all",
        "notes": notes,
    }


def stop(bench: Bench, server: Server) -> None:
    if server is bench.upstream:  # back to the load side for the next contender
        bench.move_upstream(to_server_side=False)
    elif server.owned:
        bench.procs.stop(server.name)
    for helper in server.helpers:
        bench.procs.stop(helper)


def measure_pump_drain(bench: Bench) -> dict:
    """bench/pump_drain.py's ``measure(bench)``, written separately; a row saying why when it cannot run."""
    if importlib.util.find_spec("pump_drain") is None:
        return {"status": "not available: bench/pump_drain.py is not there"}
    import pump_drain

    report.progress("pump drain: measuring")
    try:
        return {"status": "ok", **pump_drain.measure(bench)}
    except Exception as exc:  # its failure must not lose the contenders' results
        report.progress(f"pump drain: {exc!r}")
        return {"status": f"failed: {exc!r}"}


def add_comparisons(rows: list[dict]) -> None:
    """Latency added over the direct row, and req/s relative to nginx proxy at the same worker count."""
    ok = [row for row in rows if row["status"] == "ok"]
    for body in {row["body"] for row in ok}:
        same_body = [row for row in ok if row["body"] == body]
        direct = next((row for row in same_body if row["kind"] == "direct"), None)
        nginx = {row["workers"]: row for row in same_body if row["kind"] == "nginx"}
        for row in same_body:
            if direct and row["kind"] != "direct":
                row["added_p50_us"] = row["latency_us"]["p50"] - direct["latency_us"]["p50"]
                row["added_p99_us"] = row["latency_us"]["p99"] - direct["latency_us"]["p99"]
            if row["kind"] != "direct" and row["workers"] in nginx:
                row["vs_nginx"] = row["requests_per_second"] / nginx[row["workers"]]["requests_per_second"]


# --- the run ------------------------------------------------------------------------------------------


def seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m)?", text.strip())
    if not match or int(match[1]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole seconds, e.g. 10s or 1m")
    return int(match[1]) * (60 if match[2] == "m" else 1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    names = [c.name for c in CONTENDERS] + [PUMP_DRAIN]
    default = [c.name for c in CONTENDERS if c.default] + [PUMP_DRAIN]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=seconds,
        default=env("BENCH_DURATION", "10s"),
        help="measured run per contender (env BENCH_DURATION, default 10s)",
    )
    parser.add_argument(
        "--warmup",
        type=seconds,
        default=env("BENCH_WARMUP", "3s"),
        help="warm-up run before each measured run (env BENCH_WARMUP, default 3s)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=int(env("BENCH_CONNECTIONS", "64")),
        help="wrk -c (env BENCH_CONNECTIONS, default 64)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=int(env("BENCH_THREADS", "1")),
        help="wrk -t (env BENCH_THREADS, default 1)",
    )
    parser.add_argument(
        "--body",
        choices=[*BODIES, "both"],
        default=env("BENCH_BODY", "small"),
        help="upstream response body (env BENCH_BODY, default small)",
    )
    parser.add_argument(
        "--only",
        default=env("BENCH_ONLY", ""),
        help=f"comma-separated contenders (env BENCH_ONLY): {', '.join(names)}; default: all but the ASGI proxies",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        default=env("BENCH_PIN", "1") == "0",
        help="do not pin wrk and the servers to separate CPUs (env BENCH_PIN=0)",
    )
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()] or default
    unknown = sorted(set(args.only) - set(names))
    if unknown:
        parser.error(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads (each wrk thread needs a connection)")
    args.bodies = list(BODIES) if args.body == "both" else [args.body]
    return args


def start_upstream(bench: Bench) -> Server:
    large = '{"data":"' + "x" * (64 * 1024 - 11) + '"}'  # 64 KiB exactly
    (WORK / "64k.json").write_text(large)
    port = free_port()
    conf = bench.render("upstream.conf.j2", "upstream.conf", port=port, small_body=SMALL_BODY)
    server = bench.start_nginx("upstream", conf, port, bench.load_cpus)
    server.owned = False
    return server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} not found; `make bench` installs nginx-light and wrk with apt-get")
    WORK.mkdir(parents=True, exist_ok=True)
    # SIGTERM/SIGHUP unwind like Ctrl-C, so the finally below stops every process.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    bench = Bench(args, Processes(WORK))
    cores = os.cpu_count() or 1
    if not args.no_pin and cores >= 2:
        bench.load_cpus, bench.server_cpus = "0", ("1" if cores == 2 else f"1-{cores - 1}")
    meta = report.describe(args, bench.load_cpus, bench.server_cpus, len(SMALL_BODY))
    print(report.header(meta), flush=True)
    rows, pump = bench.rows, None
    try:
        bench.upstream = start_upstream(bench)
        for body in args.bodies:
            expected = (WORK / "64k.json").read_bytes() if body == "64k" else SMALL_BODY.encode()
            for contender in CONTENDERS:
                if contender.name in args.only:
                    rows.append(measure(bench, contender, body, expected))
        if PUMP_DRAIN in args.only:
            pump = measure_pump_drain(bench)
    finally:
        bench.procs.stop_all()
    add_comparisons(rows)
    goals = targets.evaluate(rows, args.bodies[0], pump)
    results = {"meta": meta, "results": rows, "pump_drain": pump, "targets": goals}
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(report.tables(rows, args.bodies))
    print(report.extra_tables(rows, pump, goals, args.bodies[0]))
    print(f"\nraw results: {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
