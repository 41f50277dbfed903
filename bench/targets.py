"""Issue 5's targets, each judged from this run's rows: the figure, what it must be, what was measured, met or not.

A figure whose contender did not run (or failed) is "not measured"; one whose row had failed requests
or a failed check request is MISSED whatever its number, since the number is not of the real path.
"""

from __future__ import annotations

from collections.abc import Callable

MET, MISSED, NOT_MEASURED = "met", "MISSED", "not measured"
MB = 1_000_000  # the "100 MB": decimal megabytes


def target(figure: str, wanted: str, measured: str = "", verdict: str = NOT_MEASURED, note: str = "") -> dict:
    return {"figure": figure, "target": wanted, "measured": measured, "verdict": verdict, "note": note}


def problem(row: dict | None) -> str:
    """Why a row cannot stand for its contender ("" when it can)."""
    if row is None:
        return "not in this run (--only)"
    if row["status"] != "ok":
        return row["status"]
    if not row.get("check_ok", True):
        return "check request failed: " + "; ".join(row["notes"])
    if row["non_2xx_3xx"] or row["socket_errors"]:
        return f"{row['non_2xx_3xx']} non-2xx, {row['socket_errors']} socket errors in the measured run"
    return ""


def judged(figure: str, wanted: str, row: dict | None, measure: Callable[[dict], tuple[str, bool, str]]) -> dict:
    """``measure(row)`` -> (measured text, met?, note); it is asked only for a usable row."""
    why = problem(row)
    if why:
        verdict = NOT_MEASURED if row is None or row["status"] != "ok" else MISSED
        return target(figure, wanted, verdict=verdict, note=why)
    try:
        measured, met, note = measure(row)
    except LookupError as exc:  # the part of the row this figure needs is missing
        return target(figure, wanted, note=str(exc.args[0]))
    return target(figure, wanted, measured, MET if met else MISSED, note)


def workers(row: dict) -> str:
    return f"{row['workers']} worker" + ("" if row["workers"] == 1 else "s")


def need(row: dict, key: str, why: str):
    if row.get(key) is None:
        raise LookupError(why)
    return row[key]


def vs_nginx(minimum: float) -> Callable[[dict], tuple[str, bool, str]]:
    def measure(row: dict) -> tuple[str, bool, str]:
        ratio = need(row, "vs_nginx", f"no nginx proxy row with {row['workers']} workers in this run")
        return f"{ratio:.2f}x", ratio >= minimum, f"{row['requests_per_second']:,.0f} req/s, {workers(row)}"

    return measure


def added_p99_at_half_rate(row: dict) -> tuple[str, bool, str]:
    half = need(row, "half_rate", "no half-rate run")
    if "direct" not in half:
        raise LookupError("the direct run at half rate failed")
    gateway, direct = half["gateway"], half["direct"]
    notes = [f"at {gateway['achieved_rps']:,.0f} req/s (direct {direct['achieved_rps']:,.0f}) of "
             f"{half['target_rps']:,.0f} wanted"]
    met = half["added_p99_us"] <= 1000
    if gateway["non_2xx_3xx"] or gateway["socket_errors"]:
        notes.append("errors in the paced run")
        met = False
    if met and not (gateway["on_target"] and direct["on_target"]):
        # A figure within the target but not at the rate asked for shows nothing about that rate.
        raise LookupError(f"{half['added_p99_us'] / 1000:+.2f} ms, but {notes[0]}: a rate more than 10% off")
    return f"{half['added_p99_us'] / 1000:+.2f} ms", met, "; ".join(notes)


def rss_per_worker(row: dict) -> tuple[str, bool, str]:
    largest = max(row["rss_kib_per_worker"]) * 1024
    return f"{largest / MB:.1f} MB", largest <= 100 * MB, f"the largest of {workers(row)}"


def reload_under_load(row: dict) -> tuple[str, bool, str]:
    result = need(row, "reload", "no reload run")
    failed = result["non_2xx_3xx"] + result["socket_errors"] + result["failed_calls"]
    measured = f"max {result['max_ms'] / 1000:.2f} s, {failed} failed"
    notes = [f"{result['reloads']} reloads, median {result['median_ms'] / 1000:.2f} s (seen by the client)"]
    reached = result["worker_loads_logged"] >= result["worker_loads_expected"]
    if not reached:
        notes.append(f"only {result['worker_loads_logged']} of {result['worker_loads_expected']} worker reloads "
                     "in the gateway's log: some workers kept the old definitions")
    if result["all_workers_done_ms"]:
        notes.append(f"last worker done after max {max(result['all_workers_done_ms']) / 1000:.2f} s (its log)")
    return measured, result["max_ms"] <= 1000 and failed == 0 and reached, "; ".join(notes)


def pump_drain(result: dict | None) -> dict:
    figure, wanted = "pump drain rate ÷ gateway max rate", "> 1"
    if result is None:
        return target(figure, wanted, note="not in this run (--only)")
    if result.get("status", "ok") != "ok" or not isinstance(result.get("ratio"), int | float):
        return target(figure, wanted, note=str(result.get("status", "no ratio in bench/pump_drain.py's result")))
    ratio = result["ratio"]
    return target(figure, wanted, f"{ratio:.2f}x", MET if ratio > 1 else MISSED, str(result.get("note", "")))


def evaluate(rows: list[dict], body: str, pump: dict | None) -> list[dict]:
    """Every target from the rows of ``body`` (the first body of the run) and the pump drain result."""
    by_name = {row["contender"]: row for row in rows if row["body"] == body}
    keyed = [name for name in ("tollhouse-keyed", "tollhouse-keyed-per-core") if name in by_name]
    nginx_ratio = "keyless gateway req/s ÷ nginx proxy req/s"
    keyed_ratio = "keyed (auth + rate limit + quota + analytics, 1,000 APIs) ÷ nginx proxy"
    added_p99 = "p99 added over direct at half the max rate"
    rss, reload = "RSS per worker with 1,000 APIs", "reload of 1,000 APIs under load"
    return [
        judged(f"{nginx_ratio}, 1 worker", "≥ 0.40", by_name.get("tollhouse"), vs_nginx(0.40)),
        judged(f"{nginx_ratio}, 1 per core", "≥ 0.40", by_name.get("tollhouse-per-core"), vs_nginx(0.40)),
        judged(f"{keyed_ratio}, 1 worker", "≥ 0.25", by_name.get("tollhouse-keyed"), vs_nginx(0.25)),
        judged(f"{keyed_ratio}, 1 per core", "≥ 0.25", by_name.get("tollhouse-keyed-per-core"), vs_nginx(0.25)),
        judged(f"{added_p99}, keyless", "≤ 1 ms", by_name.get("tollhouse"), added_p99_at_half_rate),
        judged(f"{added_p99}, keyed", "≤ 1 ms", by_name.get("tollhouse-keyed"), added_p99_at_half_rate),
        *([judged(f"{rss} ({name})", "≤ 100 MB", by_name[name], rss_per_worker) for name in keyed]
          or [target(rss, "≤ 100 MB", note="no keyed row in this run")]),
        *([judged(f"{reload} ({name})", "≤ 1 s, 0 failed", by_name[name], reload_under_load) for name in keyed]
          or [target(reload, "≤ 1 s, 0 failed", note="no keyed row in this run")]),
        pump_drain(pump),
    ]
