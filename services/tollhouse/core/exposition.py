"""The Prometheus text exposition format (version 0.0.4), written by hand for the gateway and the pump.

The format is small (``# HELP``/``# TYPE`` once per family, then ``name{labels} value`` lines) and the
services only need counters, gauges and fixed-bucket histograms, so no client library is needed.
Label values are escaped here; keeping their number bounded is the caller's job.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = Sequence[tuple[str, str]]


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{escape_label_value(value)}"' for name, value in labels) + "}"


class Exposition:
    """Lines of one scrape. Call ``family`` once per metric name, then add that family's samples."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        escaped = help_text.replace("\\", "\\\\").replace("\n", "\\n")
        self._lines.append(f"# HELP {name} {escaped}")
        self._lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: Labels, value: float) -> None:
        self._lines.append(f"{name}{_labels(labels)} {format_value(value)}")

    def histogram(self, name: str, labels: Labels, bounds: Sequence[float], counts: Sequence[int],
                  total: float) -> None:
        """One labelled histogram from per-bucket (not cumulative) ``counts``: one more than ``bounds``,
        the last being everything above the largest bound."""
        running = 0
        for bound, count in zip((*bounds, math.inf), counts, strict=True):
            running += count
            self.sample(f"{name}_bucket", (*labels, ("le", format_value(float(bound)))), running)
        self.sample(f"{name}_sum", labels, total)
        self.sample(f"{name}_count", labels, running)

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"
