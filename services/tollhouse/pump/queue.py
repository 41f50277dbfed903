"""The Redis side of the pump: claim a batch into this pump's processing list, acknowledge it.

A batch moves from the shared analytics list into ``processing_list(pump_id)`` in one Lua script,
so a record is always in exactly one of the two lists. It leaves the processing list only when
``acknowledge`` runs after every sink accepted it; whatever a crash leaves there is claimed
again first on the next start (at-least-once; the sinks make re-delivery harmless).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as redis_async

from tollhouse.core.analytics import ANALYTICS_LIST, DEAD_LETTER_LIST, processing_list

# Returns {redelivery_flag, records}. Unfinished records come first, all of them, so the processing
# list only ever holds the one batch in flight. RPUSH is given at most 1000 values at a time
# because Lua's unpack() fails beyond ~8000.
CLAIM_SCRIPT = """
local limit = tonumber(ARGV[1])
local pending = redis.call('LRANGE', KEYS[2], 0, -1)
if #pending > 0 then
  return {1, pending}
end
local records = redis.call('LRANGE', KEYS[1], 0, limit - 1)
for first = 1, #records, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(records, first, math.min(first + 999, #records)))
end
if #records > 0 then
  redis.call('LTRIM', KEYS[1], #records, -1)
end
return {0, records}
"""

CONNECT_TIMEOUT_SECONDS = 2
# Claiming 100k records is one script call; give it room before calling Redis unreachable.
COMMAND_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class ClaimedBatch:
    raws: list[bytes]
    # True when these are leftovers of an earlier run; they may number more than purge_chunk.
    redelivered: bool

    def __len__(self) -> int:
        return len(self.raws)


@dataclass(frozen=True)
class DeadLetter:
    raw: bytes
    reason: str

    def encode(self) -> str:
        return json.dumps({
            "reason": self.reason,
            # The original list entry; bytes that are not UTF-8 are shown as U+FFFD.
            "record": self.raw.decode("utf-8", errors="replace"),
            "at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        })


class AnalyticsQueue:
    def __init__(self, redis_url: str, pump_id: str):
        self.redis = redis_async.Redis.from_url(
            redis_url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=COMMAND_TIMEOUT_SECONDS
        )
        self.processing_key = processing_list(pump_id)
        self._claim = self.redis.register_script(CLAIM_SCRIPT)

    async def claim_batch(self, limit: int) -> ClaimedBatch:
        redelivered, raws = await self._claim(keys=[ANALYTICS_LIST, self.processing_key], args=[limit])
        return ClaimedBatch(raws=list(raws), redelivered=bool(redelivered))

    async def acknowledge(self, dead_letters: list[DeadLetter]) -> None:
        """Drop the batch in flight from the processing list and file its dead letters, all or nothing."""
        async with self.redis.pipeline(transaction=True) as pipe:
            if dead_letters:
                pipe.rpush(DEAD_LETTER_LIST, *[letter.encode() for letter in dead_letters])
            # The processing list holds exactly this batch (see CLAIM_SCRIPT). DEL, unlike trimming
            # a count, is harmless if repeated after a reply lost on the way back.
            pipe.delete(self.processing_key)
            await pipe.execute()

    async def lengths(self) -> dict[str, int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(ANALYTICS_LIST)
            pipe.llen(self.processing_key)
            pipe.llen(DEAD_LETTER_LIST)
            backlog, processing, dead_letter = await pipe.execute()
        return {"backlog": backlog, "processing": processing, "dead_letter": dead_letter}

    async def close(self) -> None:
        await self.redis.aclose()
