"""The gateway's key store against a real Redis: lookups and the memo of decoded sessions."""

from __future__ import annotations

import asyncio

import redis as redis_lib

from tests.gateways import KEY_HASH_SECRET
from tollhouse.core.keys import encode_session, session_name
from tollhouse.core.session import parse_session
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.pipelined_redis import PipelinedRedis


def test_an_unchanged_key_is_decoded_once_and_a_changed_one_again(redis_url):
    plain = redis_lib.Redis.from_url(redis_url)
    key_hash = "a" * 64
    plain.set(session_name(key_hash), encode_session(parse_session({"rate": 10, "per": 1})))

    async def scenario():
        client = PipelinedRedis(redis_url)
        keys = KeyStore(client, KEY_HASH_SECRET)
        try:
            first, again = await keys.get(key_hash), await keys.get(key_hash)
            plain.set(session_name(key_hash), encode_session(parse_session({"rate": 99, "per": 1})))
            changed = await keys.get(key_hash)
            plain.delete(session_name(key_hash))
            gone = await keys.get(key_hash)
        finally:
            await client.aclose()
        return first, again, changed, gone

    first, again, changed, gone = asyncio.run(scenario())
    assert again is first
    assert (first.rate, changed.rate) == (10, 99)
    assert gone is None
