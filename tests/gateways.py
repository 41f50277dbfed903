"""Gateways in file mode as real processes, and keys written straight into Redis, for keyed-API tests."""

from __future__ import annotations

import json
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

from tests.servers import ServerProcess, free_port, service
from tests.stack import wait_until
from tollhouse.core.keys import encode_session, hash_key, session_name
from tollhouse.core.session import parse_session

KEY_HASH_SECRET = secrets.token_hex(32)
CONTROL_SECRET = secrets.token_hex(32)


def keyed(api_id: str, listen_path: str, target_url: str, **fields) -> dict:
    """A Tyk classic definition with auth token (standard auth) and the given extra fields."""
    return {"api_id": api_id, "name": api_id, "use_keyless": False, "use_standard_auth": True,
            "proxy": {"listen_path": listen_path, "target_url": target_url, "strip_listen_path": True}, **fields}


def store_key(redis_url: str, key: str, session: dict) -> str:
    """Write a key's session as the control API would; return its hash."""
    key_hash = hash_key(KEY_HASH_SECRET, key)
    redis.Redis.from_url(redis_url).set(session_name(key_hash), encode_session(parse_session(session)))
    return key_hash


def toml_value(value) -> str:
    """``value`` in TOML: JSON's scalars and arrays are TOML too; tables become inline tables."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(key)} = {toml_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(value)


@dataclass
class FileGateway:
    workdir: Path
    redis_url: str
    settings: dict = field(default_factory=dict)
    name: str = "gateway"
    process: ServerProcess | None = None

    @property
    def apps(self) -> Path:
        return self.workdir / f"{self.name}-apps"

    @property
    def policies(self) -> Path:
        return self.workdir / f"{self.name}-policies"

    @property
    def url(self) -> str:
        scheme = "https" if self.settings.get("use_ssl") else "http"
        return f"{scheme}://127.0.0.1:{self.process.port}"

    def write_api(self, definition: dict) -> None:
        self.apps.mkdir(exist_ok=True)
        (self.apps / f"{definition['api_id']}.json").write_text(json.dumps(definition))

    def write_policy(self, policy: dict) -> None:
        self.policies.mkdir(exist_ok=True)
        (self.policies / f"{policy['id']}.json").write_text(json.dumps(policy))

    def start(self) -> FileGateway:
        self.apps.mkdir(exist_ok=True)
        self.policies.mkdir(exist_ok=True)
        port = free_port()
        config = {
            "listen_address": "127.0.0.1", "listen_port": port, "app_path": str(self.apps),
            "policy_path": str(self.policies),
            "secret": CONTROL_SECRET, "key_hash_secret": KEY_HASH_SECRET, "redis_url": self.redis_url,
            "log_format": "text", "reload_coalesce_seconds": 0.05, "analytics_flush_interval_seconds": 0.1,
            **self.settings,
        }
        path = self.workdir / f"{self.name}.toml"
        path.write_text("".join(f"{key} = {toml_value(value)}\n" for key, value in config.items()))
        self.process = service("gateway", path, port, self.workdir)
        self.process.log_path = self.workdir / f"{self.name}.log"
        self.process.start()
        # Whether it is up, not whose certificate it serves (the TLS tests check that themselves).
        wait_until(lambda: httpx.get(f"{self.url}/hello", verify=False).status_code in (200, 503), 10,
                   message="gateway up")
        return self

    def reload(self, ready) -> None:
        """SIGHUP, then wait until ``ready()`` is true (e.g. a new API answers)."""
        os.kill(self.process.pid, signal.SIGHUP)
        wait_until(ready, 10, message="reloaded")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
