"""The pump's settings: one flat TOML file, ``TOLLHOUSE_PUMP_*`` overrides."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, field_validator

from tollhouse.core.settings import ServiceSettings

ENV_PREFIX = "TOLLHOUSE_PUMP_"


class PumpSettings(ServiceSettings):
    redis_url: str = "redis://127.0.0.1:6379/0"
    mongo_url: str
    mongo_database: str = Field("tollhouse", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    # Seconds between drains of the analytics list, and the most records taken per batch.
    purge_delay: float = Field(2, gt=0, le=3600)
    purge_chunk: int = Field(5000, ge=1, le=100_000)
    raw_collection: str = Field("tyk_analytics", pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    # The raw collection is capped so analytics cannot fill the disk.
    raw_collection_max_bytes: int = Field(1 << 30, ge=1 << 20)
    # Identifies this pump's in-flight list in Redis; must be unique per pump process.
    pump_id: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    retry_max_seconds: float = Field(30, gt=0, le=600)
    sink_timeout_seconds: float = Field(30, gt=0, le=600)
    health_address: str = "0.0.0.0"
    health_port: int = Field(8083, ge=1, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("mongo_url")
    @classmethod
    def _mongo_url(cls, value: str) -> str:
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be a mongodb:// URL")
        return value
