"""The analytics chart's geometry: scales, bars, latency lines broken by empty buckets, time labels."""

from datetime import UTC, datetime, timedelta

from tollhouse.core.aggregates import iso
from tollhouse.dashboard.web import analytics_chart
from tollhouse.dashboard.web.analytics_chart import build, nice_step

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def point(minute: int, requests: int, errors: int = 0, p50: float | None = None, p95: float | None = None) -> dict:
    return {"t": iso(START + timedelta(minutes=minute)), "requests": requests, "errors": errors,
            "latency_p50_ms": p50, "latency_p95_ms": p95}


def test_steps_are_one_two_or_five_times_a_power_of_ten():
    assert [nice_step(raw, whole=True) for raw in (0, 0.3, 1, 1.2, 3, 7, 12, 480)] == [1, 1, 1, 2, 5, 10, 20, 500]
    assert nice_step(0.3, whole=False) == 0.5


def test_bars_scale_to_the_count_axis_and_errors_sit_inside_requests():
    chart = build([point(0, 8, 2, 10, 30), point(1, 4), point(2, 0)], "minute")
    assert [tick.label for tick in chart.count_ticks] == ["0", "2", "4", "6", "8"]
    full, half, empty = chart.bands
    plot = chart.bottom - chart.top
    assert full.requests_height == plot and half.requests_height == plot / 2 and empty.requests_height == 0
    assert full.errors_height == plot / 4 and full.errors_y == chart.bottom - plot / 4
    assert (chart.total_requests, chart.total_errors) == (12, 2)
    assert half.x > full.x and half.width == full.width


def test_a_bucket_without_requests_breaks_the_latency_lines():
    chart = build([point(0, 1, p50=2, p95=4), point(1, 1, p50=4, p95=8), point(2, 0), point(3, 1, p50=1, p95=2)],
                  "minute")
    assert len(chart.p50_lines) == 2 and len(chart.p50_lines[0].split()) == 2 and len(chart.p50_lines[1].split()) == 1
    assert [tick.label for tick in chart.latency_ticks] == ["0", "2", "4", "6", "8"]
    p95_top = min(float(xy.split(",")[1]) for xy in chart.p95_lines[0].split())
    assert p95_top == chart.top  # 8 ms, the top of the latency axis


def test_without_latency_there_is_no_latency_axis():
    chart = build([point(0, 3)], "minute", latency_kept=False)
    assert chart.latency_ticks == [] and chart.p50_lines == [] and not chart.latency_kept


def test_time_labels_fall_on_round_times():
    hour = build([point(minute, 1) for minute in range(60)], "minute")
    assert [tick.label for tick in hour.time_ticks] == ["10:00", "10:10", "10:20", "10:30", "10:40", "10:50"]
    days = [{**point(0, 1), "t": iso(START + timedelta(hours=n))} for n in range(72)]
    labels = [tick.label for tick in build(days, "hour").time_ticks]
    assert len(labels) <= analytics_chart.MAX_TIME_LABELS and labels[0] == "2026-11-26 12:00"
