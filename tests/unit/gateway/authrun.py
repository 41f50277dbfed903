"""Running an authentication middleware, then the access check, on a real Request against a real Redis."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis as redis_lib
from redis.asyncio import Redis

from tollhouse.core.apidef import parse_definition
from tollhouse.core.keys import encode_session, hash_key, session_name
from tollhouse.core.session import parse_policy, parse_session
from tollhouse.gateway.compiled import CompiledApi, compile_api
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.http.messages import Request
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.access import CheckAccess
from tollhouse.gateway.policies import PolicyTable

KEY_HASH_SECRET = "unit-test-key-hash-secret-0123456789"


def api(**fields) -> CompiledApi:
    raw = {"api_id": "shop", "name": "Shop", "org_id": "org1",
           "proxy": {"listen_path": "/shop/", "target_url": "http://127.0.0.1:9/"}, **fields}
    return compile_api(parse_definition(raw), raw)


def request(headers: dict | None = None, path: str = "/shop/items", method: str = "GET") -> Request:
    return Request(method, path, "1.1", [(name.lower(), value) for name, value in (headers or {}).items()])


def store_key(redis_url: str, key: str, session: dict) -> str:
    key_hash = hash_key(KEY_HASH_SECRET, key)
    redis_lib.Redis.from_url(redis_url).set(session_name(key_hash), encode_session(parse_session(session)))
    return key_hash


def policies(*documents: dict) -> PolicyTable:
    return PolicyTable({policy.id: policy for policy in map(parse_policy, documents)})


@dataclass
class Outcome:
    status: int  # 200: authenticated and allowed
    error: str = ""
    headers: list = field(default_factory=list)
    ctx: RequestContext | None = None

    @property
    def answer(self) -> tuple[int, str]:
        return self.status, self.error


async def authenticate(middleware, compiled: CompiledApi, table: PolicyTable, req: Request) -> Outcome:
    ctx = RequestContext(req, None, compiled)  # no response: authentication never writes one
    try:
        await middleware(ctx)
        await CheckAccess(compiled, lambda: table)(ctx)
    except GatewayError as exc:
        return Outcome(exc.status, exc.message, exc.headers, ctx)
    return Outcome(200, "", [], ctx)


def run(redis_url: str, scenario):
    """``await scenario(keys)`` with a KeyStore on a fresh client, in a new event loop."""

    async def main():
        redis = Redis.from_url(redis_url)
        try:
            return await scenario(KeyStore(redis, KEY_HASH_SECRET))
        finally:
            await redis.aclose()

    return asyncio.run(main())
