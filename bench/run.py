"""`make bench`: the gateway's data path against nginx and two ASGI proxies, one after another in ONE run.

Every contender forwards to the same upstream (nginx `return 200` with a small JSON body, or a 64 KiB
file) and is loaded with the same wrk settings: a warm-up run, then the measured run. Results go to
bench/results.json and a markdown table on stdout; scratch files to bench/.work/.
Absolute numbers drift between runs and machines: compare rows of one run, as ratios.

    .venv/bin/python bench/run.py [--duration 10s] [--connections 64] [--threads 1] [--body small|64k|both]
                                  [--only direct,nginx-1w,...] [--no-pin]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import report
from procs import (
    Processes,
    StartError,
    cpu_seconds,
    die_with_parent,
    fetch,
    free_port,
    rss_kib,
    server_pids,
    set_affinity,
    wait_http,
)

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
VENV_BIN = Path(sys.executable).parent
SMALL_BODY = '{"ok":true,"service":"bench-upstream"}'
SOCKET_ERRORS = ("connect_errors", "read_errors", "write_errors", "timeouts")
BODIES = {"small": "/small", "64k": "/64k.json"}  # body name -> upstream path


class Unavailable(Exception):
    """A contender that cannot run on this machine (yet); it gets a "not available" row."""


@dataclass
class Server:
    """A server under test: its main process, its port and the helpers to stop with it."""

    name: str
    proc: subprocess.Popen
    port: int
    cpus: str | None
    owned: bool = True  # False for the shared upstream, which outlives each contender
    helpers: list[str] = field(default_factory=list)
    note: str = ""
    after_run: Callable[[], str] | None = None  # extra facts for the notes, read after the measured run


@dataclass
class Bench:
    """What the contenders share: settings, scratch dir, processes, the upstream and the CPU placement."""

    args: argparse.Namespace
    procs: Processes
    upstream: Server | None = None
    # CPU placement (taskset lists; None = not pinned): the load side (wrk, the upstream, Redis) and the
    # server under test each get their own CPUs.
    load_cpus: str | None = None
    server_cpus: str | None = None

    def render(self, template: str, target: str, **values) -> Path:
        loader = jinja2.FileSystemLoader(BENCH_DIR / "nginx")
        env = jinja2.Environment(loader=loader, keep_trailing_newline=True)
        path = WORK / target
        path.write_text(env.get_template(template).render(work=WORK, as_root=os.geteuid() == 0, **values))
        return path

    def start_nginx(self, name: str, conf: Path, port: int, cpus: str | None) -> Server:
        proc = self.procs.start(
            name,
            ["nginx", "-p", str(WORK), "-e", str(WORK / f"{name}-error.log"), "-c", str(conf)],
            cpus=cpus,
        )
        wait_http(f"http://127.0.0.1:{port}/small", proc, name, self.procs)
        return Server(name, proc, port, cpus)


# --- contenders: each starts its server and returns it, or raises Unavailable -------------------------


def start_direct(bench: Bench) -> Server:
    # The upstream is the server under test here: move it from the load side to the server's CPUs.
    set_affinity(server_pids(bench.upstream.proc)[0], bench.server_cpus)
    bench.upstream.cpus = bench.server_cpus
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


def gateway_binary() -> str:
    binary = shutil.which("tollhouse-gateway", path=str(VENV_BIN)) or shutil.which("tollhouse-gateway")
    if binary is None:
        raise Unavailable("not available: tollhouse-gateway is not installed")
    try:
        check = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise Unavailable("not available: `tollhouse-gateway --help` hung") from None
    if check.returncode != 0:
        last = (check.stderr.strip().splitlines() or ["?"])[-1]
        raise Unavailable(f"not available: `tollhouse-gateway --help` failed ({last})")
    return binary


def tollhouse_gateway(analytics: bool) -> Callable[[Bench], Server]:
    def start(bench: Bench) -> Server:
        binary = gateway_binary()
        name = "tollhouse-analytics" if analytics else "tollhouse"
        helpers, redis_port = [], free_port()
        if analytics:
            if shutil.which("redis-server") is None:
                raise Unavailable("not available: redis-server is not installed")
            options = f"--bind 127.0.0.1 --port {redis_port} --appendonly no --dir {WORK}".split()
            bench.procs.start(f"{name}-redis", ["redis-server", *options, "--save", ""], cpus=bench.load_cpus)
            helpers.append(f"{name}-redis")
        apps = WORK / f"{name}-apps"
        apps.mkdir(exist_ok=True)
        definition = {
            "api_id": "bench",
            "name": "bench",
            "use_keyless": True,
            "proxy": {
                "listen_path": "/",
                "target_url": f"http://127.0.0.1:{bench.upstream.port}",
                "strip_listen_path": False,
            },
        }
        (apps / "bench.json").write_text(json.dumps(definition, indent=2))
        port, config = free_port(), WORK / f"{name}.toml"
        config.write_text(
            f'listen_address = "127.0.0.1"\nlisten_port = {port}\napp_path = "{apps}"\n'
            f'secret = "{secrets.token_hex(24)}"\nkey_hash_secret = "{secrets.token_hex(32)}"\n'
            f'redis_url = "redis://127.0.0.1:{redis_port}/0"\n'
            f'analytics_enabled = {str(analytics).lower()}\nlog_level = "warning"\n'
        )
        proc = bench.procs.start(name, [binary, "--config", str(config)], cpus=bench.server_cpus)
        server = Server(name, proc, port, bench.server_cpus, helpers=helpers)
        wait_http(f"http://127.0.0.1:{port}/hello", proc, name, bench.procs)
        if analytics:
            redis_pid = bench.procs.running[helpers[0]].pid
            server.after_run = lambda: f"redis RSS {rss_kib(redis_pid) / 1024:.0f} MiB"
        return server

    return start


@dataclass(frozen=True)
class Contender:
    name: str  # for --only
    title: str  # in the table
    start: Callable[[Bench], Server]
    kind: str = "proxy"  # "direct" | "nginx" | "proxy": which rows the derived columns compare with


CONTENDERS = [
    Contender("direct", "direct upstream (nginx `return 200`, 1 worker)", start_direct, "direct"),
    Contender("nginx-1w", "nginx reverse proxy, 1 worker, keepalive pool", nginx_proxy(lambda: 1), "nginx"),
    Contender("nginx-per-core", "nginx reverse proxy, 1 worker per core", nginx_proxy(os.cpu_count), "nginx"),
    Contender("asgi-httpx", "raw ASGI + uvicorn (uvloop, httptools) + httpx.AsyncClient", asgi_proxy("httpx")),
    Contender(
        "asgi-aiohttp",
        "raw ASGI + uvicorn (uvloop, httptools) + aiohttp.ClientSession",
        asgi_proxy("aiohttp"),
    ),
    Contender("tollhouse", "Tollhouse gateway, keyless, analytics off", tollhouse_gateway(analytics=False)),
    Contender(
        "tollhouse-analytics",
        "Tollhouse gateway, keyless, analytics on (Redis)",
        tollhouse_gateway(analytics=True),
    ),
]


# --- measuring ----------------------------------------------------------------------------------------


def run_wrk(bench: Bench, url: str, seconds: int) -> dict:
    args = bench.args
    argv = f"wrk -t{args.threads} -c{args.connections} -d{seconds}s --timeout 5s".split()
    argv += ["-s", str(BENCH_DIR / "wrk_report.lua"), url]
    if bench.load_cpus is not None:
        argv = ["taskset", "-c", bench.load_cpus, *argv]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, start_new_session=True, preexec_fn=die_with_parent
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            stats = json.loads(line.removeprefix("BENCH_RESULT "))
            wrk_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
            return {**stats, "wrk_cpu_percent": 100 * wrk_cpu / (stats["duration_us"] / 1e6)}
    detail = out.stderr.strip() or out.stdout[-500:]
    raise RuntimeError(f"wrk gave no result (status {out.returncode}): {detail}")


def measure(bench: Bench, contender: Contender, body: str, expected: bytes) -> dict:
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
    try:
        return {**row, **load(bench, server, f"http://127.0.0.1:{server.port}{BODIES[body]}", expected)}
    except (StartError, RuntimeError, OSError) as exc:
        report.progress(f"[{body}] {contender.name}: {exc}")
        return {**row, "status": f"failed: {str(exc).splitlines()[0]}", "detail": str(exc)}
    finally:
        stop(bench, server)


def load(bench: Bench, server: Server, url: str, expected: bytes) -> dict:
    """Check one request, warm up, then the measured run; read the server's CPU time and RSS around it."""
    notes = [server.note] if server.note else []
    status, content = fetch(url)
    if status != 200:
        notes.append(f"check request got HTTP {status}")
    elif content != expected:
        notes.append("body differs from upstream's")
    report.progress(f"{server.name}: warm-up {bench.args.warmup}s")
    run_wrk(bench, url, bench.args.warmup)
    pids, workers = server_pids(server.proc)
    cpu_before = cpu_seconds(pids)
    report.progress(f"{server.name}: measuring {bench.args.duration}s")
    stats = run_wrk(bench, url, bench.args.duration)
    pids, workers = server_pids(server.proc)
    cpu_used = cpu_seconds(pids) - cpu_before
    if stats["wrk_cpu_percent"] >= 90:
        notes.append("wrk used its whole core: the load side may have set the pace")
    if server.after_run:
        notes.append(server.after_run())
    seconds = stats["duration_us"] / 1e6
    return {
        "status": "ok",
        **stats,
        "requests_per_second": stats["requests"] / seconds,
        "socket_errors": sum(stats[key] for key in SOCKET_ERRORS),
        "workers": len(workers),
        "rss_kib_total": sum(rss_kib(pid) for pid in pids),
        "rss_kib_per_worker": [rss_kib(pid) for pid in workers],
        "cpu_percent": 100 * cpu_used / seconds,
        "cpus": server.cpus or "all",
        "notes": notes,
    }


def stop(bench: Bench, server: Server) -> None:
    if server is bench.upstream:  # back to the load side for the next contender
        set_affinity(server_pids(server.proc)[0], bench.load_cpus)
        server.cpus = bench.load_cpus
    elif server.owned:
        bench.procs.stop(server.name)
    for helper in server.helpers:
        bench.procs.stop(helper)


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
    names = [c.name for c in CONTENDERS]
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
        help=f"comma-separated contenders (env BENCH_ONLY): {', '.join(names)}",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        default=env("BENCH_PIN", "1") == "0",
        help="do not pin wrk and the servers to separate CPUs (env BENCH_PIN=0)",
    )
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()] or names
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
    rows: list[dict] = []
    try:
        bench.upstream = start_upstream(bench)
        for body in args.bodies:
            expected = (WORK / "64k.json").read_bytes() if body == "64k" else SMALL_BODY.encode()
            for contender in CONTENDERS:
                if contender.name in args.only:
                    rows.append(measure(bench, contender, body, expected))
    finally:
        bench.procs.stop_all()
    add_comparisons(rows)
    args.output.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    print(report.tables(rows, args.bodies))
    print(f"\nraw results: {args.output}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
