"""Analytics queries over 1,000,000 raw records: how long a 24-hour chart, a breakdown and a log page take.

Loads N records (default 1,000,000) spread evenly over the 24 hours before the start of the run, for 4 APIs,
20 keys (and keyless traffic), 5 endpoints per API (ids in the paths), a status mix with ~6% errors and
log-normal latencies, into a fresh SecantusDB (the lab's and the tests' MongoDB-wire server). The records go
through the pump's real sinks, ``MongoRawSink.write`` and ``MongoAggregateSink.write``, in batches of the
pump's default ``purge_chunk`` (5,000), both sinks on each batch at once as the drain loop runs them; only
Redis is left out (the drain is measured by pump_drain.py). The raw collection is created uncapped first, as
in pump_drain.py: SecantusDB enforces a cap by re-reading the whole collection every 1,000 inserts.

Then times the dashboard's query functions (``tollhouse.dashboard.analytics.AnalyticsReader``, what the
``/api/analytics/*`` endpoints call, without HTTP): the first call and the median of 5 more, per query. The
totals are checked: the 24-hour series must count every record.

    .venv/bin/python bench/analytics_query.py [--records 1000000] [--reuse]

``--reuse`` keeps the database of the previous run (bench/.work/analytics-secantus-data) if it holds the
same number of records, to time the queries again without loading. Results: bench/.work/analytics-query.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from harness import VENV_BIN, WORK
from procs import Processes, free_port
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tollhouse.core.analytics import new_record
from tollhouse.dashboard.analytics import AnalyticsReader, LogFilter
from tollhouse.dashboard.time_window import Window, chart_window
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks.aggregate import MongoAggregateSink
from tollhouse.pump.sinks.mongo import MongoRawSink

DATA_DIR = WORK / "analytics-secantus-data"
RESULTS = WORK / "analytics-query.json"
DATABASE = "tollhouse_bench_analytics"
ORG_ID = "bench-org"
BATCH = 5000  # the pump's default purge_chunk
REPEATS = 5
APIS = [(f"api-{n}", name) for n, name in enumerate(("Orders", "Users", "Search", "Payments"))]
KEYS = [f"{n:02d}" + "ab" * 31 for n in range(20)]  # 64 hex digits, like HMAC-SHA256 key hashes
ENDPOINTS = [("GET", "/items"), ("GET", "/items/{n}"), ("POST", "/items"), ("PUT", "/items/{n}"),
             ("GET", "/health")]
STATUSES = [(200, 90), (201, 3), (304, 1), (404, 3), (429, 1), (500, 1.5), (503, 0.5)]


def records(count: int, end: datetime, seed: int = 1):
    """Batches of records in time order, evenly over the 24 hours before ``end``."""
    generator = random.Random(seed)
    codes, weights = zip(*STATUSES, strict=True)
    step = 86_400 / count
    start = end.timestamp() - 86_400
    batch = []
    for n in range(count):
        api_id, api_name = APIS[n % len(APIS)]
        method, path = ENDPOINTS[generator.randrange(len(ENDPOINTS))]
        path = f"/{api_name.lower()}{path.format(n=generator.randrange(10_000))}"
        latency = generator.lognormvariate(math.log(20), 0.9)
        batch.append(new_record(
            method=method, host="api.bench", path=path, raw_path=path, content_length=0, user_agent="bench",
            response_code=generator.choices(codes, weights)[0], api_id=api_id, api_name=api_name, org_id=ORG_ID,
            api_key="" if generator.random() < 0.2 else KEYS[generator.randrange(len(KEYS))],
            ip_address="10.0.0.1", latency_total_ms=latency, latency_upstream_ms=latency * 0.9, tags=[],
            started_at=start + n * step + generator.uniform(0, step)))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def load(url: str, count: int, end: datetime) -> dict:
    settings = PumpSettings(mongo_url=url, mongo_database=DATABASE, sinks=["mongo", "mongo_aggregate"],
                            pump_id="bench-pump", sink_timeout_seconds=120)
    raw, aggregate = MongoRawSink(settings), MongoAggregateSink(settings)
    spent = {"raw": 0.0, "aggregate": 0.0, "generate": 0.0}

    async def timed(name, sink, batch):
        began = time.perf_counter()
        rejections = await sink.write(batch)
        spent[name] += time.perf_counter() - began
        assert not rejections, rejections[:3]

    await raw.init()
    await aggregate.init()
    began = time.perf_counter()
    generated, loaded = time.perf_counter(), 0
    for batch in records(count, end):
        spent["generate"] += time.perf_counter() - generated
        await asyncio.gather(timed("raw", raw, batch), timed("aggregate", aggregate, batch))
        loaded += len(batch)
        if loaded % 100_000 == 0:
            progress(f"loaded {loaded:,} records ({time.perf_counter() - began:.0f} s)")
        generated = time.perf_counter()
    await raw.shutdown()
    await aggregate.shutdown()
    return {"seconds": time.perf_counter() - began, "sink_seconds": spent}


def timings(call) -> dict:
    began = time.perf_counter()
    result = call()
    first = time.perf_counter() - began
    runs = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        call()
        runs.append(time.perf_counter() - began)
    return {"first_ms": first * 1000, "median_ms": statistics.median(runs) * 1000, "result": result}


def measure_queries(reader: AnalyticsReader, end: datetime, count: int) -> list[dict]:
    day = Window(end - timedelta(hours=24), end)
    hours, _ = chart_window(day, "hour")
    minutes, _ = chart_window(day, "minute")
    api, key = APIS[0][0], KEYS[0]
    queries = [
        ("series 24 h, per hour (the default for 24 h)", lambda: reader.series(ORG_ID, hours, "hour")),
        ("series 24 h, per minute", lambda: reader.series(ORG_ID, minutes, "minute")),
        ("series 24 h, per hour, one API", lambda: reader.series(ORG_ID, hours, "hour", api_id=api)),
        ("series 24 h, per minute, one API", lambda: reader.series(ORG_ID, minutes, "minute", api_id=api)),
        ("series 24 h, per hour, one key", lambda: reader.series(ORG_ID, hours, "hour", key_hash=key)),
        *[(f"breakdown 24 h by {by}", lambda by=by: reader.breakdown(ORG_ID, hours, "hour", by))
          for by in ("api", "key", "endpoint", "status")],
        ("logs, first page (50)", lambda: reader.logs(ORG_ID, day, LogFilter(), 0, 51)),
        ("logs, one API, page 20", lambda: reader.logs(ORG_ID, day, LogFilter(api_id=api), 19 * 50, 51)),
        ("logs, one key", lambda: reader.logs(ORG_ID, day, LogFilter(key_hash=key), 0, 51)),
        ("logs, errors only", lambda: reader.logs(ORG_ID, day, LogFilter(errors_only=True), 0, 51)),
        ("logs, status 503", lambda: reader.logs(ORG_ID, day, LogFilter(status=503), 0, 51)),
    ]
    rows = []
    for name, call in queries:
        measured = timings(call)
        rows.append({"query": name, "first_ms": round(measured["first_ms"], 1),
                     "median_ms": round(measured["median_ms"], 1), "rows": len(measured["result"])})
        progress(f"{name}: first {measured['first_ms']:.0f} ms, median {measured['median_ms']:.0f} ms")
        if name.startswith("series 24 h, per hour (the default"):
            counted = sum(point["requests"] for point in measured["result"])
            assert counted == count, f"the 24-hour series counts {counted:,} of {count:,} records"
    return rows


def start_secantus(procs: Processes, fresh: bool) -> str:
    if fresh:
        shutil.rmtree(DATA_DIR, ignore_errors=True)
    port = free_port()
    argv = [str(VENV_BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", str(DATA_DIR), "--standalone", "--log-level", "WARNING"]
    proc = procs.start("analytics-secantus", argv)
    url = f"mongodb://127.0.0.1:{port}/"
    client = MongoClient(url, serverSelectionTimeoutMS=1000)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"secantusd-py exited:\n{procs.log_tail('analytics-secantus')}")
        try:
            client.admin.command("ping")
            return url
        except PyMongoError:
            if time.monotonic() > deadline:
                raise SystemExit("secantusd-py did not answer within 60 s") from None


def progress(message: str) -> None:
    print(f"[analytics-query] {message}", file=sys.stderr, flush=True)


def print_table(summary: dict) -> None:
    print(f"\nAnalytics queries over {summary['records']:,} raw records "
          f"({summary['aggregate_documents']['minute']:,} minute and {summary['aggregate_documents']['hour']:,} "
          f"hour aggregate documents), SecantusDB, {REPEATS} runs after the first")
    if summary.get("load"):
        load = summary["load"]
        sinks = load["sink_seconds"]
        print(f"load: {load['seconds']:.0f} s ({summary['records'] / load['seconds']:,.0f} records/s; "
              f"raw sink {sinks['raw']:.0f} s, aggregate sink {sinks['aggregate']:.0f} s, concurrently)")
    print(f"\n| {'query':<46} | first ms | median ms | rows |")
    print(f"|{'-' * 48}|---------:|----------:|-----:|")
    for row in summary["queries"]:
        print(f"| {row['query']:<46} | {row['first_ms']:8.1f} | {row['median_ms']:9.1f} | {row['rows']:4d} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep the previous run's database if it fits")
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    reuse = args.reuse and DATA_DIR.exists() and previous.get("records") == args.records
    procs = Processes(WORK)
    try:
        url = start_secantus(procs, fresh=not reuse)
        client = MongoClient(url, tz_aware=True)
        if reuse:
            end = datetime.fromisoformat(previous["end"])
            load_result = previous.get("load")
        else:
            end = datetime.now(UTC).replace(second=0, microsecond=0)
            client.drop_database(DATABASE)
            client[DATABASE].create_collection("tyk_analytics")  # uncapped: see the docstring
            load_result = asyncio.run(load(url, args.records, end))
        db = client[DATABASE]
        assert db["tyk_analytics"].estimated_document_count() == args.records
        reader = AnalyticsReader(db, "tyk_analytics", "tollhouse_analytics_minute", "tollhouse_analytics_hour")
        summary = {
            "records": args.records, "end": end.isoformat(), "load": load_result,
            "aggregate_documents": {granularity: db[f"tollhouse_analytics_{granularity}"].estimated_document_count()
                                    for granularity in ("minute", "hour")},
            "queries": measure_queries(reader, end, args.records),
        }
        client.close()
    finally:
        procs.stop_all()
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
