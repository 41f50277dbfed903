"""What the drain loop has seen lately, for /health (failing stores, the last good write) and /metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from tollhouse.pump.metrics import PumpMetrics


@dataclass
class PumpStatus:
    # None while the store works, else the last error seen talking to it.
    redis_error: str | None = None
    sink_errors: dict[str, str] = field(default_factory=dict)
    last_write: datetime | None = None
    records_written: int = 0
    records_dead_lettered: int = 0
    metrics: PumpMetrics = field(default_factory=PumpMetrics)

    def wrote(self, count: int) -> None:
        self.last_write = datetime.now(UTC)
        self.records_written += count
