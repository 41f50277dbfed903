"""Latency histograms with fixed, log-spaced buckets: summed by the pump, read back as p50/p95 by the dashboard.

Percentiles cannot be added up, counts can: each aggregate document keeps how many requests fell in each
bucket, and a percentile over any set of documents comes from their summed counts. The buckets are the R10
preferred numbers (ten per decade, each about 25% wider than the one before) from 0.1 ms to 80 s, plus one
open-ended bucket above; a bucket is named by its upper bound in microseconds (``"1250"`` holds
(1, 1.25] ms, ``"inf"`` everything above 80 s), so stored documents say what they mean and the table can
grow without rewriting them. An estimate is interpolated inside the bucket holding the percentile, so it
is never further from the true value than that bucket's width (about 20% of the value).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

# One decade of R10 (ISO 3), as multiples of 100 µs.
_R10 = (1.0, 1.25, 1.6, 2.0, 2.5, 3.15, 4.0, 5.0, 6.3, 8.0)
DECADES = 6  # 0.1 ms .. 100 s
# Upper bounds in microseconds: 100, 125, 160, ... 63000000, 80000000.
UPPER_BOUNDS_US: tuple[int, ...] = tuple(round(step * 100 * 10**decade) for decade in range(DECADES) for step in _R10)
OVERFLOW = "inf"
_NAMES = [str(bound) for bound in UPPER_BOUNDS_US]


def bucket_name(latency_ms: float) -> str:
    """The bucket a latency falls in (upper bounds are inclusive; negatives count as 0)."""
    index = bisect.bisect_left(UPPER_BOUNDS_US, max(latency_ms, 0.0) * 1000)
    return _NAMES[index] if index < len(_NAMES) else OVERFLOW


def bucket_range_ms(name: str, max_ms: float) -> tuple[float, float]:
    """(lower, upper) of a bucket in ms; the open-ended bucket ends at the largest latency seen."""
    if name == OVERFLOW:
        lower = UPPER_BOUNDS_US[-1] / 1000
        return lower, max(lower, max_ms)
    upper_us = int(name)
    index = bisect.bisect_left(UPPER_BOUNDS_US, upper_us)
    lower_us = UPPER_BOUNDS_US[index - 1] if index > 0 else 0
    return lower_us / 1000, upper_us / 1000


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for histogram in histograms:
        for name, count in histogram.items():
            merged[name] = merged.get(name, 0) + count
    return merged


def percentile(histogram: Mapping[str, int], fraction: float, max_ms: float) -> float | None:
    """The ``fraction`` (0..1) percentile in ms, interpolated within its bucket; None without data.

    ``max_ms`` is the largest latency counted: no estimate exceeds it, and it closes the open-ended bucket.
    """
    buckets = sorted(((_sort_key(name), name, count) for name, count in histogram.items() if count > 0))
    total = sum(count for _, _, count in buckets)
    if total == 0:
        return None
    rank = fraction * total
    below = 0
    for _, name, count in buckets:
        if below + count >= rank:
            lower, upper = bucket_range_ms(name, max_ms)
            estimate = lower + (upper - lower) * max(rank - below, 0) / count
            return round(min(estimate, max_ms), 3)
        below += count
    return round(max_ms, 3)  # fraction > 1 or rounding: the largest latency


def _sort_key(name: str) -> float:
    return float("inf") if name == OVERFLOW else int(name)
