"""The gateway's settings: one flat TOML file, ``TOLLHOUSE_GATEWAY_*`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from tollhouse.core.settings import ServiceSettings, check_secret

ENV_PREFIX = "TOLLHOUSE_GATEWAY_"


class GatewaySettings(ServiceSettings):
    listen_address: str = "0.0.0.0"
    listen_port: int = Field(8080, ge=1, le=65535)
    # Where API definitions come from: the dashboard (dashboard_url + node_secret) or a directory.
    dashboard_url: str | None = None
    node_secret: str | None = None
    app_path: Path | None = None
    # Control API secret (X-Tyk-Authorization).
    secret: str
    # Keys are stored as HMAC-SHA256(key_hash_secret, key): the same on every gateway and the dashboard.
    key_hash_secret: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    # How long a burst of change notifications is gathered into one reload.
    reload_coalesce_seconds: float = Field(0.2, ge=0, le=10)
    dashboard_timeout_seconds: float = Field(10, gt=0, le=300)

    analytics_enabled: bool = True
    analytics_flush_interval_seconds: float = Field(0.25, gt=0, le=60)
    analytics_batch_size: int = Field(1000, ge=1, le=100_000)
    # Records kept in memory while Redis is away; the oldest are dropped (and counted) beyond it.
    analytics_buffer_max: int = Field(100_000, ge=1)

    # Client side of the data path.
    max_header_bytes: int = Field(16384, ge=1024, le=1_048_576)
    max_header_count: int = Field(100, ge=8, le=1000)
    client_header_timeout_seconds: float = Field(10, gt=0)
    client_body_timeout_seconds: float = Field(30, gt=0)
    keepalive_timeout_seconds: float = Field(60, gt=0)

    # Upstream side of the data path.
    upstream_connect_timeout_seconds: float = Field(5, gt=0)
    upstream_timeout_seconds: float = Field(30, gt=0)
    upstream_max_idle_per_host: int = Field(64, ge=0, le=10_000)

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("secret")
    @classmethod
    def _secret_strong(cls, value: str) -> str:
        return check_secret(value, "secret")

    @field_validator("key_hash_secret")
    @classmethod
    def _key_hash_secret_strong(cls, value: str) -> str:
        return check_secret(value, "key_hash_secret")

    @field_validator("node_secret")
    @classmethod
    def _node_secret_strong(cls, value: str | None) -> str | None:
        return None if value is None else check_secret(value, "node_secret")

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _one_source_of_apis(self) -> GatewaySettings:
        if (self.dashboard_url is None) == (self.app_path is None):
            raise ValueError("set exactly one of dashboard_url (dashboard mode) or app_path (file mode)")
        if self.dashboard_url is not None and self.node_secret is None:
            raise ValueError("node_secret is required with dashboard_url")
        return self
