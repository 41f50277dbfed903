"""The gateway's settings: one flat TOML file, ``TOLLHOUSE_GATEWAY_*`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tollhouse.core.settings import ServiceSettings, check_secret
from tollhouse.gateway.client_address import parse_network

ENV_PREFIX = "TOLLHOUSE_GATEWAY_"


class TlsCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cert_file: Path
    key_file: Path


class GatewaySettings(ServiceSettings):
    listen_address: str = "0.0.0.0"
    listen_port: int = Field(8080, ge=1, le=65535)
    # Gateway processes sharing listen_port (SO_REUSEPORT) under one supervisor; 0: one per CPU this process may
    # run on. 1 is a single process, no supervisor (see workers.py).
    workers: int = Field(1, ge=0, le=256)
    # Where API definitions come from: the dashboard (dashboard_url + node_secret) or a directory.
    dashboard_url: str | None = None
    node_secret: str | None = None
    app_path: Path | None = None
    # Control API secret (X-Tyk-Authorization).
    secret: str
    # Serve the control API (/tyk/...) only on this port; unset: on listen_port beside the APIs.
    control_port: int | None = Field(None, ge=1, le=65535)
    # Prometheus GET /metrics on a port of its own, without the secret (gateway/metrics_server.py); 0: off.
    # metrics_address unset: listen_address.
    metrics_port: int = Field(0, ge=0, le=65535)
    metrics_address: str | None = None
    # File mode: the directory of policies (<id>.json) the control API writes; dashboard mode ignores it.
    policy_path: Path | None = None
    # Keys are stored as HMAC-SHA256(key_hash_secret, key): the same on every gateway and the dashboard.
    key_hash_secret: str
    # OAuth2 on use_oauth2 APIs (Tyk's oauth_token_expire, oauth_refresh_token_expire): token lifetimes, and how
    # long an expired access token stays in Redis so its holder hears "Key has expired, please renew" (0: dropped
    # at expiry, then it is an unknown key).
    oauth_access_token_ttl_seconds: int = Field(3600, ge=1)
    oauth_refresh_token_ttl_seconds: int = Field(14 * 86400, ge=1)
    oauth_expired_token_retain_seconds: int = Field(86400, ge=0)
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Connections to Redis per gateway process; a request waits up to redis_pool_timeout_seconds for one.
    redis_max_connections: int = Field(128, ge=4, le=10_000)
    redis_pool_timeout_seconds: float = Field(2, gt=0, le=60)
    # Redis away: requests that have only rate limits to check (no quota) pass unlimited instead of 503.
    rate_limit_fail_open: bool = False
    # JWT APIs whose jwt_source is a JWKS URL: its keys are kept jwks_cache_seconds, fetched again at most once per
    # jwks_refetch_seconds when a token names an unknown kid (key rotation); the last good set serves while the
    # endpoint is down.
    jwks_cache_seconds: float = Field(300, gt=0)
    jwks_refetch_seconds: float = Field(10, ge=0)
    jwks_timeout_seconds: float = Field(5, gt=0, le=60)
    # How long a burst of change notifications is gathered into one reload.
    reload_coalesce_seconds: float = Field(0.2, ge=0, le=10)
    dashboard_timeout_seconds: float = Field(10, gt=0, le=300)

    analytics_enabled: bool = True
    analytics_flush_interval_seconds: float = Field(0.25, gt=0, le=60)
    # Records per RPUSH, written as soon as that many wait: small batches keep each write's stall short.
    analytics_batch_size: int = Field(250, ge=1, le=100_000)
    # Records kept in memory while Redis is away; the oldest are dropped (and counted) beyond it.
    analytics_buffer_max: int = Field(100_000, ge=1)

    # Client side of the data path.
    # Proxies (addresses or CIDR blocks) whose X-Forwarded-For is believed: the client address is then the
    # rightmost untrusted hop of it (client_address.py); empty: the TCP peer, the header is never read.
    # The IP allow/block lists and analytics use that address.
    trusted_proxies: list[str] = []
    max_header_bytes: int = Field(16384, ge=1024, le=1_048_576)
    max_header_count: int = Field(100, ge=8, le=1000)
    client_header_timeout_seconds: float = Field(10, gt=0)
    client_body_timeout_seconds: float = Field(30, gt=0)
    keepalive_timeout_seconds: float = Field(60, gt=0)
    # Proxy WebSocket handshakes and then the connection both ways (Tyk's http_server_options.enable_websockets).
    enable_websockets: bool = True
    # HTTPS on listen_port (Tyk's http_server_options.use_ssl), with tls_certificates: one {cert_file, key_file}
    # (PEM) per domain, chosen by the name the client asks for (SNI), the first one for any other name.
    use_ssl: bool = False
    tls_certificates: list[TlsCertificate] = []
    tls_min_version: Literal["1.2", "1.3"] = "1.2"
    tls_ciphers: str = ""  # an OpenSSL cipher list for TLS 1.2 (1.3 suites are OpenSSL's); "": its defaults
    # CAs (PEM; self-signed client certificates count as their own CA) that client certificates must chain to.
    # Set: the listener asks every client for a certificate (optional), for APIs with use_mutual_tls_auth.
    tls_client_ca_file: Path | None = None
    # https upstreams: verify their certificates against proxy_ssl_ca_file (PEM) instead of the system's CAs,
    # or not at all (Tyk's proxy_ssl_insecure_skip_verify; an API's proxy.transport can also skip).
    proxy_ssl_ca_file: Path | None = None
    proxy_ssl_insecure_skip_verify: bool = False

    # Response cache (APIs with cache_options.enable_cache): answers larger than this are streamed but not kept;
    # a Redis that does not answer the cache within the timeout is a miss (the request goes upstream).
    cache_max_body_bytes: int = Field(1_048_576, ge=0, le=512 * 1_048_576)
    cache_redis_timeout_seconds: float = Field(0.5, gt=0, le=60)

    # Upstream side of the data path.
    upstream_connect_timeout_seconds: float = Field(5, gt=0)
    upstream_timeout_seconds: float = Field(30, gt=0)
    upstream_max_idle_per_host: int = Field(64, ge=0, le=10_000)
    # Passive health: connection failures or timeouts in a row that take a load-balanced API's host out of
    # rotation (0: never), and for how long (see upstream_hosts.py).
    upstream_passive_failures: int = Field(3, ge=0, le=1000)
    upstream_passive_down_seconds: float = Field(10, gt=0, le=3600)
    # Active health: the APIs' uptime_tests (Tyk's uptime_tests section of tyk.conf; see uptime.py). A host is
    # down after uptime_failure_trigger_sample_size failed checks in a row; checks of a host run every
    # uptime_time_wait_seconds (an API's uptime_tests.config.recheck_wait overrides), at most
    # uptime_checker_pool_size at once, each given uptime_check_timeout_seconds (a check's own timeout overrides).
    uptime_tests_disable: bool = False
    uptime_failure_trigger_sample_size: int = Field(3, ge=1, le=100)
    uptime_time_wait_seconds: float = Field(10, gt=0, le=3600)
    uptime_check_timeout_seconds: float = Field(5, gt=0, le=300)
    uptime_checker_pool_size: int = Field(50, ge=1, le=1000)

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

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: list[str]) -> list[str]:
        for index, entry in enumerate(value):
            try:
                parse_network(entry)
            except ValueError as exc:
                raise ValueError(f"entry {index} ({entry!r}): {exc}") from None
        return value

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
        if self.control_port is not None and self.control_port == self.listen_port:
            raise ValueError("control_port must differ from listen_port (unset it to serve /tyk/ on listen_port)")
        if self.metrics_port and self.metrics_port in (self.listen_port, self.control_port):
            raise ValueError("metrics_port must differ from listen_port and control_port")
        if self.use_ssl and not self.tls_certificates:
            raise ValueError("use_ssl needs at least one entry in tls_certificates")
        if self.tls_client_ca_file is not None and not self.use_ssl:
            raise ValueError("tls_client_ca_file needs use_ssl (client certificates come with TLS)")
        return self
