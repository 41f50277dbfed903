"""Analytics throughput: does the pump empty the Redis list faster than the gateway at full speed fills it?

A keyless gateway with analytics on (contenders/tollhouse_gateway.py, with its own Redis) fills the list;
`tollhouse-pump`, with its shipped batch settings, drains it into a MongoDB-wire database. Twice: into
SecantusDB (the lab's and the tests' server) and into bench/null_mongo.py, which stores nothing, so the
second figure is the pump's own. Per database:

- drain: the same N records (what the gateway wrote in a full-speed fill run) are put back in the list and
  the pump is started: records/s from its first claim until the list and its in-flight list are empty;
  the database must then hold exactly N. CPU seconds per record of the pump, the database and Redis.
- steady: wrk drives the gateway at full speed for --seconds (env BENCH_PUMP_SECONDS under run.py, default
  60) while the pump runs; the list length is sampled once a second (start, end, max, least-squares slope
  in records/s). Afterwards every record the gateway wrote is accounted for (in the database or still in
  Redis) against wrk's request count.

ratio = drain rate ÷ the gateway's max rate with analytics on: the fill run's (pump stopped, database not
started) or a faster analytics row of the same `make bench` run.

    .venv/bin/python bench/pump_drain.py [--seconds 60] [--fill-seconds 10] [run.py's --connections, --no-pin ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass

import redis
import wrk
from contenders.tollhouse_gateway import tollhouse_gateway
from harness import BENCH_DIR, VENV_BIN, WORK, Bench, Server, Unavailable
from procs import Processes, StartError, cpu_seconds, fetch, free_port
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tollhouse.core.analytics import ANALYTICS_LIST, DEAD_LETTER_LIST, processing_list

PUMP_ID = "bench-pump"
IN_FLIGHT = processing_list(PUMP_ID)
FILL_COPY = "bench-pump-drain-fill"  # the fill run's records, put back before each database's drain
MONGO_DATABASE = "tollhouse_bench"
RAW_COLLECTION = "tyk_analytics"  # the pump's default raw_collection
SECANTUS_DATA = WORK / "pump-secantus-data"
DRAIN_TIMEOUT_S = 600.0
READY_TIMEOUT_S = 60.0
POLL_S = 0.02  # drain-end polling: the error on a drain of a few seconds stays around 1 %
FLUSH_SETTLE_S = 0.5  # two of the gateway's analytics flush intervals (0.25 s): its last RPUSH has landed
PUMP_STOP_GRACE_S = 15.0  # more than the pump's shutdown_grace_seconds (10): it finishes its batch
# Rows of a `make bench` run whose gateway writes analytics (run.py's contender names).
ANALYTICS_ROWS = ("tollhouse-analytics", "tollhouse-keyed", "tollhouse-keyed-per-core")


@dataclass(frozen=True)
class DatabaseKind:
    name: str
    title: str


SECANTUS = DatabaseKind("secantus", "SecantusDB 0.7 (lab MongoDB-wire server)")
NULL = DatabaseKind("null", "null MongoDB-wire server (stores nothing: the pump alone)")


@dataclass
class Database:
    kind: DatabaseKind
    process: str  # its name in bench.procs
    client: MongoClient
    url: str

    @property
    def collection(self):
        return self.client[MONGO_DATABASE][RAW_COLLECTION]

    def stored(self) -> int:
        return self.collection.estimated_document_count()  # both servers answer with an exact count


def measure(bench: Bench) -> dict:
    seconds = int(getattr(bench.args, "pump_seconds", 0) or os.environ.get("BENCH_PUMP_SECONDS", 60))
    fill_seconds = int(getattr(bench.args, "pump_fill_seconds", 0) or os.environ.get("BENCH_PUMP_FILL_SECONDS", 10))
    before, queue = list(bench.procs.running), None
    try:
        gateway = tollhouse_gateway(analytics=True)(bench)
        redis_port = flag_value(bench.procs.running[gateway.helpers[0]].args, "--port")
        queue = redis.Redis(host="127.0.0.1", port=redis_port)
        progress(f"fill: the gateway at full speed for {fill_seconds}s, pump stopped")
        fill = fill_list(bench, gateway, queue, fill_seconds)
        max_rps, max_source = gateway_max_rate(bench.rows, fill)
        databases = {}
        for kind in (SECANTUS, NULL):
            databases[kind.name] = measure_database(bench, gateway, queue, kind, fill, seconds, max_rps)
    except (Unavailable, StartError) as exc:
        return {"status": str(exc).splitlines()[0], "detail": str(exc)}
    finally:
        if queue is not None:
            queue.close()
        for name in reversed([name for name in bench.procs.running if name not in before]):
            bench.procs.stop(name, grace=PUMP_STOP_GRACE_S)
    return summary(bench, fill, max_rps, max_source, databases)


# --- the fill: records written by the gateway itself ----------------------------------------------------


def fill_list(bench: Bench, gateway: Server, queue: redis.Redis, seconds: int) -> dict:
    load = wrk.Load(gateway.url("small"), gateway.headers)
    wrk.run(bench, load, bench.args.warmup)
    settle(gateway)
    queue.delete(ANALYTICS_LIST)  # the warm-up's records
    stats = wrk.run(bench, load, seconds)
    dropped = settle(gateway)
    records = queue.llen(ANALYTICS_LIST)
    queue.copy(ANALYTICS_LIST, FILL_COPY, replace=True)
    return {
        "seconds": seconds,
        "gateway_rps": stats["requests_per_second"],
        "wrk_requests": stats["requests"],
        "errors": stats["non_2xx_3xx"] + stats["socket_errors"],
        "records": records,
        "gateway_dropped": dropped,
    }


def settle(gateway: Server) -> int | None:
    """Wait until the gateway holds no unwritten analytics; how many it dropped (None if it does not say)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            _, body = fetch(f"http://127.0.0.1:{gateway.port}/hello", timeout=2)
            analytics = json.loads(body)["details"]["analytics"]
        except (OSError, ValueError, KeyError):
            break
        if analytics["pending"] == 0:
            time.sleep(FLUSH_SETTLE_S)  # "pending" is 0 while the last flush's RPUSH is still on its way
            return analytics["dropped"]
        time.sleep(0.05)
    time.sleep(4 * FLUSH_SETTLE_S)
    return None


def gateway_max_rate(rows: list[dict], fill: dict) -> tuple[float, str]:
    """The fastest the gateway wrote analytics in this run: the fill, or a faster analytics row."""
    best, source = fill["gateway_rps"], "fill run (1 worker, keyless, pump stopped)"
    for row in rows:
        if row.get("contender") in ANALYTICS_ROWS and row.get("status") == "ok" and row["requests_per_second"] > best:
            best, source = row["requests_per_second"], f"row {row['contender']} ({row.get('workers', '?')} workers)"
    return best, source


# --- one database: drain the fill, then the steady run -------------------------------------------------


def measure_database(bench: Bench, gateway: Server, queue: redis.Redis, kind: DatabaseKind, fill: dict,
                     seconds: int, max_rps: float) -> dict:
    before, database = list(bench.procs.running), None
    try:
        database = start_database(bench, kind)
        queue.delete(ANALYTICS_LIST, IN_FLIGHT, DEAD_LETTER_LIST)
        queue.copy(FILL_COPY, ANALYTICS_LIST)
        pump_name = start_pump(bench, queue, database)
        progress(f"{kind.name}: draining {fill['records']:,} records")
        drain = time_drain(bench, pump_name, queue, database, fill["records"], gateway)
        progress(f"{kind.name}: steady run, the gateway at full speed for {seconds}s with the pump running")
        steady = steady_run(bench, gateway, queue, database, pump_name, seconds)
    except Unavailable as exc:
        return {"title": kind.title, "status": str(exc)}
    except StartError as exc:
        progress(f"{kind.name}: {exc}")
        return {"title": kind.title, "status": f"failed: {str(exc).splitlines()[0]}", "detail": str(exc)}
    finally:
        if database is not None:
            database.client.close()
        for name in reversed([name for name in bench.procs.running if name not in before]):
            bench.procs.stop(name, grace=PUMP_STOP_GRACE_S)
        shutil.rmtree(SECANTUS_DATA, ignore_errors=True)
    ratio = drain["records_per_second"] / max_rps if drain.get("records_per_second") else None
    return {"title": kind.title, "status": "ok", "ratio": ratio, "drain": drain, "steady": steady}


def start_database(bench: Bench, kind: DatabaseKind) -> Database:
    port = free_port()
    if kind is SECANTUS:
        binary = shutil.which("secantusd-py", path=str(VENV_BIN))
        if binary is None:
            raise Unavailable("not available: secantusd-py is not installed (pip install -e '.[labdb]')")
        # A data directory under bench/.work rather than ":memory:" (a temp dir elsewhere): the same storage
        # code either way, and nothing is left outside bench/.work if the run is killed.
        shutil.rmtree(SECANTUS_DATA, ignore_errors=True)
        argv = [binary, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(SECANTUS_DATA),
                "--standalone", "--log-level", "WARNING"]
    else:
        argv = [sys.executable, str(BENCH_DIR / "null_mongo.py"), "--port", str(port)]
    name = f"pump-db-{kind.name}"
    proc = bench.procs.start(name, argv, cpus=bench.server_cpus)
    url = f"mongodb://127.0.0.1:{port}/"
    client = MongoClient(url, serverSelectionTimeoutMS=2000, tz_aware=True)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise StartError(f"{name} exited with status {proc.returncode}:\n{bench.procs.log_tail(name)}")
        try:
            client.admin.command("ping")
            break
        except PyMongoError:
            if time.monotonic() > deadline:
                raise StartError(f"{name} did not answer within {READY_TIMEOUT_S:.0f}s") from None
    client.drop_database(MONGO_DATABASE)
    if kind is SECANTUS:
        # Not capped, unlike the pump's own: SecantusDB enforces a cap by reading the whole collection on
        # every insert of 1,000 documents (its Storage._enforce_capped_bounds_locked), so a capped drain slows
        # down as the collection fills (5.4k/s at 5k documents, 1.2k/s at 60k here). MongoDB's caps do not.
        client[MONGO_DATABASE].create_collection(RAW_COLLECTION)
    return Database(kind, name, client, url)


def start_pump(bench: Bench, queue: redis.Redis, database: Database) -> str:
    binary = shutil.which("tollhouse-pump", path=str(VENV_BIN))
    if binary is None:
        raise Unavailable("not available: tollhouse-pump is not installed")
    redis_url = "redis://{host}:{port}/0".format(**queue.connection_pool.connection_kwargs)
    settings = {  # purge_delay and purge_chunk stay at their shipped defaults
        "redis_url": redis_url,
        "mongo_url": database.url,
        "mongo_database": MONGO_DATABASE,
        "pump_id": PUMP_ID,
        "health_address": "127.0.0.1",
        "health_port": free_port(),
        "log_level": "warning",
        "log_format": "text",
    }
    config = WORK / f"pump-{database.kind.name}.toml"
    config.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
    name = f"pump-{database.kind.name}"
    bench.procs.start(name, [binary, "--config", str(config)], cpus=bench.load_cpus)
    return name


def time_drain(bench: Bench, pump: str, queue: redis.Redis, database: Database, records: int,
               gateway: Server) -> dict:
    """From the pump's first claim until both lists are empty; then the database must hold every record."""
    procs = bench.procs
    pids = {"pump": procs.running[pump].pid, "database": procs.running[database.process].pid,
            "redis": procs.running[gateway.helpers[0]].pid}
    started = time.monotonic()
    first_claim = cpu_at_first_claim = None
    finished = False
    while time.monotonic() - started < DRAIN_TIMEOUT_S:
        if procs.running[pump].poll() is not None:
            raise StartError(f"{pump} exited with status {procs.running[pump].returncode}:\n{procs.log_tail(pump)}")
        waiting = queue.llen(ANALYTICS_LIST)
        if first_claim is None and waiting < records:
            first_claim = time.monotonic()
            cpu_at_first_claim = {role: cpu_seconds([pid]) for role, pid in pids.items()}
        if waiting == 0 and queue.llen(IN_FLIGHT) == 0:
            finished = True
            break
        time.sleep(POLL_S)
    ended = time.monotonic()
    if first_claim is None:
        return {"records": records, "finished": False, "note": f"no record claimed in {DRAIN_TIMEOUT_S:.0f}s"}
    drained = records - queue.llen(ANALYTICS_LIST) - queue.llen(IN_FLIGHT)
    seconds = ended - first_claim
    cpu = {role: cpu_seconds([pid]) - cpu_at_first_claim[role] for role, pid in pids.items()}
    stored = database.stored()
    return {
        "records": records,
        "finished": finished,
        "startup_s": first_claim - started,
        "seconds": seconds,
        "records_per_second": drained / seconds,
        "stored": stored,
        "lost": records - stored if finished else None,
        "dead_lettered": queue.llen(DEAD_LETTER_LIST),
        "cpu_us_per_record": {role: 1e6 * used / max(drained, 1) for role, used in cpu.items()},
        "cpu_percent": {role: 100 * used / seconds for role, used in cpu.items()},
    }


def steady_run(bench: Bench, gateway: Server, queue: redis.Redis, database: Database, pump: str,
               seconds: int) -> dict:
    """The gateway at full speed with the pump running; the list length once a second."""
    procs = bench.procs
    pids = {"pump": procs.running[pump].pid, "database": procs.running[database.process].pid,
            "gateway": gateway.proc.pid}
    accounted_before = database.stored() + in_redis(queue)
    cpu_before = {role: cpu_seconds([pid]) for role, pid in pids.items()}
    background = wrk.Background(bench, wrk.Load(gateway.url("small"), gateway.headers))
    started, samples = time.monotonic(), []
    for tick in range(seconds + 1):
        time.sleep(max(0.0, started + tick - time.monotonic()))
        samples.append((round(time.monotonic() - started, 2), queue.llen(ANALYTICS_LIST)))
    stats = background.stop()
    cpu = {role: cpu_seconds([pid]) - cpu_before[role] for role, pid in pids.items()}
    dropped = settle(gateway)
    procs.stop(pump, grace=PUMP_STOP_GRACE_S)  # finishes its batch: nothing is both stored and in Redis
    written = database.stored() + in_redis(queue) - accounted_before
    lengths = [length for _, length in samples]
    run_seconds = stats["duration_us"] / 1e6
    return {
        "seconds": run_seconds,
        "gateway_rps": stats["requests_per_second"],
        "errors": stats["non_2xx_3xx"] + stats["socket_errors"],
        "list_start": lengths[0],
        "list_end": lengths[-1],
        "list_max": max(lengths),
        "list_slope_per_second": slope(samples),
        "samples": samples,
        "wrk_requests": stats["requests"],
        # Every record the gateway wrote is in the database or still in Redis. wrk does not count the
        # requests it had in flight when stopped, so this may exceed wrk's count by up to --connections.
        "records_written": written,
        "records_minus_wrk_requests": written - stats["requests"],
        "gateway_dropped": dropped,
        "cpu_percent": {role: 100 * used / run_seconds for role, used in cpu.items()},
    }


def in_redis(queue: redis.Redis) -> int:
    return queue.llen(ANALYTICS_LIST) + queue.llen(IN_FLIGHT) + queue.llen(DEAD_LETTER_LIST)


def slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the list in records per second."""
    count = len(samples)
    mean_t = sum(t for t, _ in samples) / count
    mean_n = sum(n for _, n in samples) / count
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (n - mean_n) for t, n in samples) / spread if spread else 0.0


# --- the result -------------------------------------------------------------------------------------------


def summary(bench: Bench, fill: dict, max_rps: float, max_source: str, databases: dict) -> dict:
    """The scalar figures first (run.py prints those in its table), then the details."""
    lab, alone = databases[SECANTUS.name], databases[NULL.name]
    result = {"status": "ok", "gateway_max_rps": max_rps, "gateway_max_source": max_source,
              "records_drained": fill["records"]}
    for prefix, database in (("", lab), ("pump_alone_", alone)):
        if database["status"] != "ok":
            result[f"{prefix or 'secantus_'}status"] = database["status"]
            continue
        drain, steady = database["drain"], database["steady"]
        result.update({
            f"{prefix}drain_rps": drain.get("records_per_second"),
            f"{prefix}ratio": database["ratio"],
            f"{prefix}lost": drain.get("lost"),
            f"{prefix}steady_gateway_rps": steady["gateway_rps"],
            f"{prefix}list_slope_per_s": steady["list_slope_per_second"],
            f"{prefix}list_start": steady["list_start"],
            f"{prefix}list_end": steady["list_end"],
            f"{prefix}list_max": steady["list_max"],
        })
    result["note"] = verdict_note(lab, alone)
    result["notes"] = placement_notes(bench)
    result["fill"] = fill
    result["databases"] = databases
    return result


def verdict_note(lab: dict, alone: dict) -> str:
    parts = []
    if lab["status"] == "ok" and lab["drain"].get("cpu_us_per_record"):
        per_record = lab["drain"]["cpu_us_per_record"]
        parts.append(f"into SecantusDB: {per_record['database']:.0f} µs CPU per record in the database, "
                     f"{per_record['pump']:.0f} µs in the pump")
    if alone["status"] == "ok" and alone["ratio"] is not None:
        parts.append(f"the pump alone (null database): {alone['ratio']:.2f}x the gateway's max rate")
    return "; ".join(parts)


def placement_notes(bench: Bench) -> list[str]:
    if bench.load_cpus is None:
        return ["not pinned: the gateway, wrk, Redis, the pump and the database share every CPU"]
    return [
        f"the pump runs on the load side's CPU {bench.load_cpus} (with wrk, the upstream and Redis), the database "
        f"on the server side's CPU {bench.server_cpus} (with the gateway)",
        "drain runs: the gateway and wrk are idle, so the pump and the database each have a CPU; steady runs: "
        f"with {os.cpu_count()} CPUs everything competes, the database with the gateway and the pump with wrk",
        "SecantusDB's collection is created uncapped (the pump warns): its capped inserts slow down as the "
        "collection fills, which MongoDB's do not",
    ]


def flag_value(argv: list[str], flag: str) -> int:
    return int(argv[argv.index(flag) + 1])


def progress(message: str) -> None:
    print(f"bench: pump drain: {message}", file=sys.stderr, flush=True)


# --- alone: python bench/pump_drain.py ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="each steady run (default 60)")
    parser.add_argument("--fill-seconds", type=int, default=10, help="the full-speed run that fills the list")
    own, rest = parser.parse_known_args(argv)
    import run  # only when run alone: run.py imports this module when it measures the pump

    args = run.parse_args(rest)
    args.pump_seconds, args.pump_fill_seconds = own.seconds, own.fill_seconds
    WORK.mkdir(parents=True, exist_ok=True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)
    bench = Bench(args, Processes(WORK))
    cores = os.cpu_count() or 1
    if not args.no_pin and cores >= 2:  # as run.py places them
        bench.load_cpus, bench.server_cpus = "0", ("1" if cores == 2 else f"1-{cores - 1}")
    try:
        bench.upstream = run.start_upstream(bench)
        result = measure(bench)
    finally:
        bench.procs.stop_all()
    print(json.dumps(result, indent=2))
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("bench: interrupted; every process it started has been stopped")
