"""The whole appliance as real processes on loopback: dashboard, gateway(s) and pump."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import httpx

from tests.servers import ServerProcess, free_port, service

ADMIN_EMAIL = "admin@tollhouse.test"


@dataclass
class Stack:
    workdir: Path
    redis_url: str
    mongo_url: str
    database: str
    node_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    # The HMAC key of stored API keys: one value for the dashboard and every gateway.
    key_hash_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    gateway_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    processes: list[ServerProcess] = field(default_factory=list)
    dashboard_url: str = ""
    _token: str = ""

    def write_config(self, name: str, lines: dict) -> Path:
        path = self.workdir / f"{name}.toml"
        rendered = []
        for key, value in lines.items():
            if isinstance(value, bool):
                rendered.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, list):
                rendered.append(f"{key} = {json.dumps(value)}")  # a TOML array of strings reads as JSON
            elif isinstance(value, int | float):
                rendered.append(f"{key} = {value}")
            else:
                rendered.append(f'{key} = "{value}"')
        path.write_text("\n".join(rendered) + "\n")
        return path

    def start_dashboard(self, first_admin: bool = True) -> ServerProcess:
        """The dashboard; with ``first_admin=False`` its settings name no admin, so it offers /bootstrap."""
        port = free_port()
        lines = {
            "listen_address": "127.0.0.1", "listen_port": port, "mongo_url": self.mongo_url,
            "mongo_database": self.database, "redis_url": self.redis_url, "node_secret": self.node_secret,
            "key_hash_secret": self.key_hash_secret, "log_format": "text",
        }
        if first_admin:
            password_hash = bcrypt.hashpw(self.admin_password.encode(), bcrypt.gensalt(rounds=4)).decode()
            lines |= {"org_name": "Test Org", "admin_email": ADMIN_EMAIL, "admin_password_hash": password_hash}
        config = self.write_config("dashboard", lines)
        process = service("dashboard", config, port, self.workdir).start()
        self.processes.append(process)
        self.dashboard_url = f"http://127.0.0.1:{port}"
        return process

    def start_gateway(self, name: str = "gateway", **overrides) -> ServerProcess:
        port = free_port()
        config = self.write_config(name, {
            "listen_address": "127.0.0.1", "listen_port": port, "dashboard_url": self.dashboard_url,
            "node_secret": self.node_secret, "secret": self.gateway_secret, "key_hash_secret": self.key_hash_secret,
            "redis_url": self.redis_url,
            "analytics_flush_interval_seconds": 0.1, "reload_coalesce_seconds": 0.05, "log_format": "text",
            **overrides,
        })
        process = service("gateway", config, port, self.workdir)
        process.name = name
        process.log_path = self.workdir / f"{name}.log"
        process.start()
        self.processes.append(process)
        return process

    def start_pump(self) -> ServerProcess:
        port = free_port()
        config = self.write_config("pump", {
            "redis_url": self.redis_url, "mongo_url": self.mongo_url, "mongo_database": self.database,
            "purge_delay": 0.2, "health_address": "127.0.0.1", "health_port": port, "pump_id": "test-pump",
            "retry_max_seconds": 1, "log_format": "text",
            # Both sinks: the raw records feed the log browser, the aggregates the charts.
            "sinks": ["mongo", "mongo_aggregate"],
        })
        process = service("pump", config, port, self.workdir).start()
        self.processes.append(process)
        return process

    def bootstrap_code(self) -> str:
        """The one-time code the dashboard logged at its latest start."""
        dashboard = next(process for process in self.processes if process.name == "dashboard")
        codes = re.findall(r"one-time code (\S+)", dashboard.log())
        assert codes, f"the dashboard logged no bootstrap code:\n{dashboard.log()}"
        return codes[-1]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    # The dashboard API, as an API team scripts it.
    def login(self) -> str:
        reply = httpx.post(f"{self.dashboard_url}/api/login",
                           json={"username": ADMIN_EMAIL, "password": self.admin_password}, timeout=30)
        reply.raise_for_status()
        self._token = reply.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        if not self._token:
            self.login()
        return httpx.request(method, f"{self.dashboard_url}{path}", headers={"authorization": self._token},
                             timeout=30, **kwargs)

    def create_api(self, definition: dict) -> str:
        reply = self.api("POST", "/api/apis", json={"api_definition": definition})
        assert reply.status_code == 200, reply.text
        return reply.json()["Meta"]


def wait_until(condition, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s")
        time.sleep(interval)


def keyless(name: str, listen_path: str, target_url: str, **extra) -> dict:
    return {"name": name, "use_keyless": True,
            "proxy": {"listen_path": listen_path, "target_url": target_url, "strip_listen_path": True}, **extra}
