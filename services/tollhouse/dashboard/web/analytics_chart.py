"""The analytics chart's geometry: the series of ``AnalyticsReader.series`` as numbers an SVG template draws.

Server-side so the page needs no script (and the CSP allows none inline): one band per bucket holding a
requests bar with its errors bar over it (errors are a part of the requests), counts on the left axis,
p50/p95 latency as lines on the right axis, and time labels on whole minutes or hours. Every value here is
a number or a label the template escapes; no markup is built in Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WIDTH, HEIGHT = 960, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 64, 36, 44
TICKS = 4
MAX_TIME_LABELS = 7
# Label spacings to choose from, in minutes: the first that keeps at most MAX_TIME_LABELS labels.
LABEL_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
# Below this band width (px) bars fill the band and latency points get no dot: they would merge.
THIN_BAND = 4.0


@dataclass(frozen=True)
class Tick:
    position: float  # px along the axis
    label: str


@dataclass(frozen=True)
class Band:
    point: dict  # the series point, as the JSON API answers it
    x: float
    width: float
    requests_y: float
    requests_height: float
    errors_y: float
    errors_height: float
    label: str  # the bucket's start, for the tooltip and the table


@dataclass
class Chart:
    bands: list[Band]
    count_ticks: list[Tick]
    latency_ticks: list[Tick]
    time_ticks: list[Tick]
    p50_lines: list[str] = field(default_factory=list)  # SVG polyline "x,y x,y ..." strings
    p95_lines: list[str] = field(default_factory=list)
    p50_dots: list[tuple[float, float]] = field(default_factory=list)
    p95_dots: list[tuple[float, float]] = field(default_factory=list)
    latency_kept: bool = True
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM

    @property
    def total_requests(self) -> int:
        return sum(band.point["requests"] for band in self.bands)

    @property
    def total_errors(self) -> int:
        return sum(band.point["errors"] for band in self.bands)


def build(points: list[dict], granularity: str, latency_kept: bool = True) -> Chart:
    """The chart of ``points`` (one per bucket, oldest first); without ``latency_kept`` no latency axis."""
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_height
    count_step = nice_step(max((point["requests"] for point in points), default=0) / TICKS, whole=True)
    latencies = [point[name] for point in points for name in ("latency_p50_ms", "latency_p95_ms")
                 if point.get(name) is not None]
    latency_step = nice_step(max(latencies, default=0) / TICKS, whole=False)
    band = plot_width / max(len(points), 1)
    bar = band if band < THIN_BAND else band * 0.8

    def count_y(value: float) -> float:
        return bottom - value / (count_step * TICKS) * plot_height

    def latency_y(value: float) -> float:
        return bottom - value / (latency_step * TICKS) * plot_height

    bands = []
    starts = [_parse(point["t"]) for point in points]
    for index, (point, start) in enumerate(zip(points, starts, strict=True)):
        x = LEFT + index * band + (band - bar) / 2
        requests_y, errors_y = count_y(point["requests"]), count_y(point["errors"])
        bands.append(Band(point, round(x, 2), round(bar, 2), round(requests_y, 2), round(bottom - requests_y, 2),
                          round(errors_y, 2), round(bottom - errors_y, 2), _label(start, full=True)))
    chart = Chart(
        bands=bands,
        count_ticks=[Tick(round(count_y(count_step * n), 2), _number(count_step * n)) for n in range(TICKS + 1)],
        latency_ticks=([Tick(round(latency_y(latency_step * n), 2), _number(latency_step * n))
                        for n in range(TICKS + 1)] if latency_kept else []),
        time_ticks=_time_ticks(starts, granularity, band),
        latency_kept=latency_kept,
    )
    if latency_kept:
        for name, lines, dots in (("latency_p50_ms", chart.p50_lines, chart.p50_dots),
                                  ("latency_p95_ms", chart.p95_lines, chart.p95_dots)):
            centres = [(LEFT + (index + 0.5) * band, point.get(name)) for index, point in enumerate(points)]
            for run in _runs(centres):
                xy = [(round(x, 2), round(latency_y(value), 2)) for x, value in run]
                lines.append(" ".join(f"{x},{y}" for x, y in xy))
                if band >= THIN_BAND or len(run) == 1:  # a lone point has no line to show it
                    dots.extend(xy)
    return chart


def nice_step(raw: float, whole: bool) -> float:
    """The smallest 1, 2 or 5 times a power of ten at least ``raw`` (at least 1 for counts)."""
    if raw <= 0:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        step = multiple * power
        if step >= raw:
            return max(1, math.ceil(step)) if whole else step
    raise AssertionError("unreachable: 10 * power >= raw")


def _runs(centres: list[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """The stretches of buckets with a latency: a bucket without requests breaks the line."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, value in centres:
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, value))
    return [run for run in runs if run]


def _time_ticks(starts: list[datetime], granularity: str, band: float) -> list[Tick]:
    if not starts:
        return []
    width = timedelta(minutes=1) if granularity == "minute" else timedelta(hours=1)
    span_minutes = len(starts) * width / timedelta(minutes=1)
    unit = width / timedelta(minutes=1)
    step = next((step for step in LABEL_STEPS if step >= unit and span_minutes / step <= MAX_TIME_LABELS),
                LABEL_STEPS[-1])
    return [Tick(round(LEFT + index * band, 2), _label(start, full=span_minutes > 1440))
            for index, start in enumerate(starts)
            if int(start.timestamp() // 60) % step == 0]


def _label(start: datetime, full: bool) -> str:
    return start.strftime("%Y-%m-%d %H:%M" if full else "%H:%M")


def _number(value: float) -> str:
    return f"{value:g}" if value < 1e6 else f"{value:.3g}"


def _parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00")).astimezone(UTC)
