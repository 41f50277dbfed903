"""The dashboard's settings: one flat TOML file, ``TOLLHOUSE_DASHBOARD_*`` overrides."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from tollhouse.core.aggregates import HOUR_COLLECTION, MINUTE_COLLECTION, RAW_COLLECTION
from tollhouse.core.settings import ServiceSettings, check_secret

ENV_PREFIX = "TOLLHOUSE_DASHBOARD_"
FIRST_ADMIN_KEYS = ("org_name", "admin_email", "admin_password_hash")


class DashboardSettings(ServiceSettings):
    listen_address: str = "0.0.0.0"
    listen_port: int = Field(3000, ge=1, le=65535)
    mongo_url: str
    mongo_database: str = Field("tollhouse", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Shared with the gateways: authorises /system/* and signs change notifications.
    node_secret: str
    # Keys are stored as HMAC-SHA256(key_hash_secret, key): the same as the gateways'.
    key_hash_secret: str
    # The first organisation and admin, created at first start (the deploy sets all three). Only a bcrypt hash
    # is accepted. Left out (all three), a dashboard with no admin yet offers /bootstrap with a one-time code.
    org_name: str = ""
    admin_email: str = Field("", pattern=r"^$|^[^@\s]+@[^@\s]+$")
    admin_password_hash: str = ""
    token_ttl_seconds: int = Field(12 * 3600, ge=60, le=30 * 86400)
    # Login throttling (per email and per client address, shared through MongoDB): this many failures
    # within the window lock the email (or address) out for the lockout period, right password or not.
    login_max_failures: int = Field(5, ge=1, le=1000)
    login_max_failures_per_ip: int = Field(50, ge=1, le=100000)
    login_failure_window_seconds: int = Field(15 * 60, ge=1, le=86400)
    login_lockout_seconds: int = Field(15 * 60, ge=1, le=86400)
    # The web app (dashboard/web/): how long a browser session lasts, and whether to mark its cookies Secure
    # even when a request arrives over plain HTTP (a TLS proxy in front that does not send X-Forwarded-Proto).
    web_session_ttl_seconds: int = Field(8 * 3600, ge=60, le=30 * 86400)
    web_behind_tls: bool = False
    mongo_timeout_seconds: float = Field(5, gt=0, le=120)
    # Items per page of list answers (Tyk's key and default).
    page_size: int = Field(10, ge=1, le=1000)
    # Analytics (/api/analytics/*): the pump's collections, by the same names as in its settings
    # (raw_collection, aggregate_minute_collection, aggregate_hour_collection), and log browser page size.
    analytics_raw_collection: str = Field(RAW_COLLECTION, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    analytics_minute_collection: str = Field(MINUTE_COLLECTION, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    analytics_hour_collection: str = Field(HOUR_COLLECTION, pattern=r"^[A-Za-z0-9_.-]{1,120}$")
    analytics_log_page_size: int = Field(50, ge=1, le=1000)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("node_secret")
    @classmethod
    def _node_secret_strong(cls, value: str) -> str:
        return check_secret(value, "node_secret")

    @field_validator("key_hash_secret")
    @classmethod
    def _key_hash_secret_strong(cls, value: str) -> str:
        return check_secret(value, "key_hash_secret")

    @field_validator("admin_password_hash")
    @classmethod
    def _is_bcrypt_hash(cls, value: str) -> str:
        if value and not (value.startswith(("$2b$", "$2a$", "$2y$")) and len(value) == 60):
            raise ValueError("must be a bcrypt hash ($2b$...), never a plain password; "
                             "make one with `tollhouse-dashboard hash-password`")
        return value

    @field_validator("mongo_url")
    @classmethod
    def _mongo_url(cls, value: str) -> str:
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must be a mongodb:// URL")
        return value

    @model_validator(mode="after")
    def _first_admin_whole_or_absent(self) -> DashboardSettings:
        given = {name: bool(getattr(self, name)) for name in FIRST_ADMIN_KEYS}
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, present in given.items() if not present)
            raise ValueError(f"{missing}: the first admin needs org_name, admin_email and admin_password_hash "
                             "together (or none of them, to create it at /bootstrap)")
        return self

    @property
    def names_first_admin(self) -> bool:
        return bool(self.admin_email)
