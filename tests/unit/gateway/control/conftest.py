"""A control API on a loopback thread: the real router, Reloader, KeyStore and a real Redis; no processes."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis as redis_lib
import redis.asyncio as aioredis

from tests.upstream import GatewayThread
from tollhouse.core.keys import hash_key
from tollhouse.gateway.app import GatewayApp
from tollhouse.gateway.control.router import ControlServices
from tollhouse.gateway.control.routes import build_control_router
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.loader import DirectorySource
from tollhouse.gateway.reload import Reloader
from tollhouse.gateway.settings import GatewaySettings

SECRET = secrets.token_hex(32)
KEY_HASH_SECRET = secrets.token_hex(32)


@dataclass
class Control:
    client: httpx.Client
    redis: redis_lib.Redis
    apps: Path
    policies: Path
    thread: GatewayThread
    app: GatewayApp

    def hash(self, key: str) -> str:
        return hash_key(KEY_HASH_SECRET, key)

    def write_policy(self, policy: dict) -> None:
        (self.policies / f"{policy['id']}.json").write_text(json.dumps(policy))

    def reload(self) -> None:
        assert self.client.get("/tyk/reload", params={"block": "true"}).status_code == 200

    def stored(self) -> dict[bytes, bytes]:
        """Everything in Redis, name -> its values in clear (a leaked dump, read)."""
        return {name: redis_values(self.redis, name) for name in self.redis.keys("*")}


def redis_values(client: redis_lib.Redis, name: bytes) -> bytes:
    kind = client.type(name)
    if kind == b"string":
        return client.get(name)
    if kind == b"hash":
        return b"\n".join(k + b"=" + v for k, v in sorted(client.hgetall(name).items()))
    if kind == b"list":
        return b"\n".join(client.lrange(name, 0, -1))
    if kind == b"set":
        return b"\n".join(sorted(client.smembers(name)))
    if kind == b"zset":
        return b"\n".join(client.zrange(name, 0, -1))
    return client.dump(name) or b""


def start_control(tmp_path: Path, redis_url: str, **settings) -> tuple[GatewayThread, GatewayApp]:
    apps, policies = tmp_path / "apps", tmp_path / "policies"
    apps.mkdir(exist_ok=True)
    policies.mkdir(exist_ok=True)
    config = GatewaySettings(**{"secret": SECRET, "key_hash_secret": KEY_HASH_SECRET, "app_path": apps,
                                "policy_path": policies, "redis_url": redis_url, **settings})
    app = GatewayApp(None)

    def factory():
        # Runs inside the thread's loop: the Redis client belongs to it.
        redis = aioredis.Redis.from_url(redis_url)
        reloader = Reloader(DirectorySource(apps), lambda api: None, app.swap_router, 0,
                            policy_source=DirectorySource(policies, "policy_path", "policy"),
                            swap_policies=app.swap_policies)
        app.control = build_control_router(ControlServices(config, redis, KeyStore(redis, KEY_HASH_SECRET),
                                                           reloader, lambda: app.policies))
        return app.handle

    return GatewayThread(factory), app


@pytest.fixture
def control(tmp_path, redis_url):
    thread, app = start_control(tmp_path, redis_url)
    with thread:
        client = httpx.Client(base_url=f"http://127.0.0.1:{thread.port}", headers={"x-tyk-authorization": SECRET})
        control = Control(client, redis_lib.Redis.from_url(redis_url), tmp_path / "apps", tmp_path / "policies",
                          thread, app)
        control.reload()
        yield control
        client.close()
