"""The pump's settings: one flat TOML file, ``TOLLHOUSE_PUMP_*`` overrides."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tollhouse.core.aggregates import HOUR_COLLECTION, MINUTE_COLLECTION, RAW_COLLECTION
from tollhouse.core.settings import ServiceSettings

ENV_PREFIX = "TOLLHOUSE_PUMP_"


class PumpSettings(ServiceSettings):
    redis_url: str = "redis://127.0.0.1:6379/0"
    mongo_url: str
    mongo_database: str = Field("tollhouse", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    # Seconds between drains of the analytics list, and the most records taken per batch.
    purge_delay: float = Field(2, gt=0, le=3600)
    purge_chunk: int = Field(5000, ge=1, le=100_000)
    raw_collection: str = Field(RAW_COLLECTION, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    # The raw collection is capped so analytics cannot fill the disk.
    raw_collection_max_bytes: int = Field(1 << 30, ge=1 << 20)
    # Identifies this pump's in-flight list in Redis; must be unique per pump process.
    pump_id: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    retry_max_seconds: float = Field(30, gt=0, le=600)
    sink_timeout_seconds: float = Field(30, gt=0, le=600)
    # Sink type names (see tollhouse.pump.sinks); every record goes to each of them. "mongo_aggregate"
    # adds the per-minute and per-hour counts the dashboard's analytics charts read.
    sinks: list[str] = Field(default_factory=lambda: ["mongo"], min_length=1)
    # mongo_aggregate: its two collections, how long their documents are kept (a TTL index on the
    # bucket's start), and the most key and endpoint entries one document holds (the rest count as
    # "(other)"; see pump/sinks/aggregate.py).
    aggregate_minute_collection: str = Field(MINUTE_COLLECTION, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    aggregate_hour_collection: str = Field(HOUR_COLLECTION, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    aggregate_minute_retention_days: int = Field(7, ge=1, le=3660)
    aggregate_hour_retention_days: int = Field(400, ge=1, le=3660)
    aggregate_max_keys: int = Field(500, ge=1, le=10_000)
    aggregate_max_endpoints: int = Field(100, ge=1, le=10_000)
    # On SIGTERM, how long the batch in flight may take to finish before it is abandoned
    # (it stays in the processing list and is re-delivered on the next start).
    shutdown_grace_seconds: float = Field(10, ge=0, le=600)
    # /health reports "warn" once this many records wait in Redis.
    health_backlog_warn: int = Field(100_000, ge=1)
    health_address: str = "0.0.0.0"
    health_port: int = Field(8083, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("sinks")
    @classmethod
    def _sinks(cls, value: list[str]) -> list[str]:
        # Imported here, not at the top: the sink modules import these settings.
        from tollhouse.pump.sinks import known_sink_types

        known = known_sink_types()
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown sink type {unknown[0]!r} (known: {', '.join(sorted(known))})")
        if len(set(value)) != len(value):
            raise ValueError("a sink type is listed twice")
        return value

    @model_validator(mode="after")
    def _collections_differ(self) -> PumpSettings:
        names = [self.raw_collection, self.aggregate_minute_collection, self.aggregate_hour_collection]
        if len(set(names)) != len(names):
            raise ValueError("raw_collection, aggregate_minute_collection and aggregate_hour_collection "
                             "must be three different collections")
        return self

    @field_validator("mongo_url")
    @classmethod
    def _mongo_url(cls, value: str) -> str:
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be a mongodb:// URL")
        return value
