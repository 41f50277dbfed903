"""Exact rate limits and quotas: every rule of a request decided in ONE Redis script call.

Every gateway process and host shares one Redis, so they share one count; the script runs atomically
and reads the time with Redis's own ``TIME``, so they also share one clock (no drift between hosts).

A rate rule (``RateRule``) is a sliding log: a sorted set per bucket holding one member per admitted
request, scored with its time in microseconds. A request is admitted when, in every rule's bucket, fewer
than ``limit`` requests were admitted in the last ``window`` — and the quota (``QuotaRule``, a hash per
bucket: ``used`` and ``renews``, the renewal time) has some left. Only then is the request recorded in
every bucket and counted against the quota. A refused request is recorded nowhere: it never uses up
capacity and never extends a block, however often a client retries.

The script, step by step (``now`` = Redis ``TIME`` in microseconds):
  1. per rule: drop members with score <= now - window; count what is left; the rule is *full* when
     count >= limit.
  2. quota: a period that has passed its ``renews`` time (or never started) counts as ``used = 0`` with
     a new period ending at now + renewal; the quota is *exhausted* when used >= max.
  3. admitted = no rule full and quota not exhausted. If admitted: ZADD ``<now>-<random>`` to every
     bucket and PEXPIRE it by its window (the key vanishes once its newest member has left); HSET the
     quota's ``used`` + 1 and ``renews``; when a period starts, PEXPIRE it to its renewal time.
  4. reply per rule: full?, remaining (after this request), reset (µs until the oldest member leaves),
     wait (µs until enough members have left for one more request); and the quota's remaining and reset.

Rates that are not whole numbers keep their average: ``rate`` 2.5 per 1 s admits 2 per 0.8 s, 0.5 per
1 s admits 1 per 2 s (limit = max(1, floor(rate)), window = per * limit / rate).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tollhouse.gateway.keystore import StorageUnavailable
from tollhouse.gateway.pipelined_redis import PipelinedRedis

MICROS = 1_000_000

# KEYS: the rule buckets, then the quota bucket when there is one, then the key's session when it is confirmed.
# ARGV: rule count, "1" when a quota follows, a token unique to the request, then limit and window (µs) per rule,
#       then the quota's max and renewal (µs; 0: never renews), then the session's SHA-1 ('' when not confirmed).
SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end  -- Redis < 5: allow writes after TIME
local n = tonumber(ARGV[1])
local has_quota = ARGV[2] == '1'
local token = ARGV[3]
-- 0. The key as the gateway last read it (the last KEY, SHA-1 as the last ARGV; '' when not asked):
--    changed or gone, and nothing is counted — the gateway reads it again and runs the request again.
local digest = ARGV[#ARGV]
if digest ~= '' then
  local stored = redis.call('GET', KEYS[#KEYS])
  if not stored or redis.sha1hex(stored) ~= digest then return {-1} end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function int(x) return string.format('%.0f', x) end

local admitted = true
local counts, full, oldest, nth = {}, {}, {}, {}
for i = 1, n do
  local key = KEYS[i]
  local limit = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - window))
  local count = redis.call('ZCARD', key)
  counts[i] = count
  full[i] = count >= limit
  if count > 0 then
    oldest[i] = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
  end
  if full[i] then
    admitted = false
    -- one more request fits once the (count - limit + 1) oldest members have left
    nth[i] = tonumber(redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')[2])
  end
end

local qkey, qmax, qused, qrenews, qstored = nil, 0, 0, 0, nil
if has_quota then
  qkey = KEYS[n + 1]
  qmax = tonumber(ARGV[4 + 2 * n])
  local renewal = tonumber(ARGV[5 + 2 * n])
  local stored = redis.call('HMGET', qkey, 'used', 'renews')
  local renews = tonumber(stored[2])
  qstored = stored[1] and renews
  if stored[1] and renews and (renews == 0 or renews > now) then
    qused, qrenews = tonumber(stored[1]), renews
    -- a quota that never renewed and now has a renewal rate starts renewing from now
    if renews == 0 and renewal > 0 then qrenews = now + renewal end
  elseif renewal > 0 then
    qrenews = now + renewal
  end
  if qused >= qmax then admitted = false end
end

if admitted then
  local member = t[1] .. '.' .. t[2] .. '-' .. token
  for i = 1, n do
    local window = tonumber(ARGV[3 + 2 * i])
    redis.call('ZADD', KEYS[i], int(now), member)
    redis.call('PEXPIRE', KEYS[i], int(math.ceil(window / 1000)))
  end
  if has_quota then
    redis.call('HSET', qkey, 'used', qused + 1, 'renews', int(qrenews))
    -- the expiry only changes when a period starts (HSET keeps it otherwise): one call less per request
    if qrenews ~= qstored then
      if qrenews > 0 then
        redis.call('PEXPIRE', qkey, int(math.ceil((qrenews - now) / 1000)))
      else
        redis.call('PERSIST', qkey)
      end
    end
    qused = qused + 1
  end
end

local reply = {admitted and 1 or 0}
for i = 1, n do
  local limit = tonumber(ARGV[2 + 2 * i])
  local window = tonumber(ARGV[3 + 2 * i])
  local count = counts[i] + (admitted and 1 or 0)
  local reset = 0
  if oldest[i] then reset = oldest[i] + window - now elseif admitted then reset = window end
  local wait = 0
  if full[i] then wait = nth[i] + window - now end
  table.insert(reply, full[i] and 1 or 0)
  table.insert(reply, math.max(0, limit - count))
  table.insert(reply, int(reset))
  table.insert(reply, int(wait))
end
if has_quota then
  table.insert(reply, qused >= qmax and not admitted and 1 or 0)
  table.insert(reply, math.max(0, qmax - qused))
  table.insert(reply, qrenews > 0 and int(qrenews - now) or -1)
end
return reply
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


@dataclass(frozen=True)
class RateRule:
    """At most ``rate`` requests per ``per`` seconds, counted in the Redis sorted set ``bucket``."""

    bucket: str
    rate: float
    per: float

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("a rate rule needs a bucket name")
        if not (self.rate > 0 and self.per > 0):
            raise ValueError(f"rate and per must be > 0 (rate={self.rate}, per={self.per})")

    @property
    def limit(self) -> int:
        """Requests admitted per window (what the headers call the limit)."""
        return max(1, math.floor(self.rate))

    @property
    def window_us(self) -> int:
        return max(1, round(self.per * self.limit / self.rate * MICROS))


@dataclass(frozen=True)
class QuotaRule:
    """At most ``max`` requests per period; a period starts with its first request and lasts
    ``renewal_seconds`` (0: the quota never renews). Counted in the Redis hash ``bucket``."""

    bucket: str
    max: int
    renewal_seconds: float

    def __post_init__(self) -> None:
        if not self.bucket:
            raise ValueError("a quota rule needs a bucket name")
        if self.max < 0 or self.renewal_seconds < 0:
            raise ValueError(f"quota max and renewal must be >= 0 (max={self.max}, renewal={self.renewal_seconds})")


@dataclass(frozen=True)
class RateStatus:
    """One rate rule after the check; ``reset``/``wait`` in seconds (fractions kept)."""

    rule: RateRule
    full: bool
    remaining: int
    reset: float  # until the oldest request in the window leaves it (0: the window is empty)
    wait: float  # until one more request fits (0 unless full)


@dataclass(frozen=True)
class QuotaStatus:
    rule: QuotaRule
    exhausted: bool
    remaining: int
    reset: float | None  # seconds until the period renews; None: never renews


@dataclass(frozen=True)
class LimitDecision:
    allowed: bool
    rates: tuple[RateStatus, ...]
    quota: QuotaStatus | None
    # The key to confirm had changed (or was gone): nothing was checked or counted.
    key_changed: bool = False

    @property
    def rejected_by(self) -> str:
        """"rate" (429), "quota" (403) or "" when allowed; a full rate rule is reported before the quota."""
        if self.allowed:
            return ""
        return "rate" if any(status.full for status in self.rates) else "quota"

    @property
    def binding(self) -> RateStatus | None:
        """The rate rule the headers report: when refused, the full rule that frees up last; otherwise the
        rule with the fewest requests left (on a tie, the one whose window frees up last)."""
        if not self.rates:
            return None
        full = [status for status in self.rates if status.full]
        if full:
            return max(full, key=lambda status: status.wait)
        return min(self.rates, key=lambda status: (status.remaining, -status.reset))

    @property
    def retry_after(self) -> int:
        """Whole seconds until every full rule has room again (0 when no rule is full)."""
        waits = [status.wait for status in self.rates if status.full]
        return max(1, math.ceil(max(waits))) if waits else 0


class Limiter:
    """Checks and records a request against rate rules and a quota in one ``EVALSHA``.

    The script is sent once (``SCRIPT LOAD`` on the first ``NOSCRIPT``, e.g. after Redis restarted)
    and then called by its SHA. Redis errors raise ``StorageUnavailable`` naming the cause.
    """

    def __init__(self, redis: Redis | PipelinedRedis):
        self._redis = redis
        # Each admitted request's member in a sliding log must be unique: this process's random prefix
        # and a counter (fresh random bytes per request cost more than the rest of the check).
        self._token_prefix = secrets.token_hex(6) + "-"
        self._tokens = itertools.count()

    async def check(self, rules: Sequence[RateRule], quota: QuotaRule | None = None, *,
                    confirm: tuple[str, str] | None = None) -> LimitDecision:
        """``confirm``: (the session's Redis name, SHA-1 of its bytes as last read) to check first, atomically."""
        buckets = [rule.bucket for rule in rules] + ([quota.bucket] if quota is not None else [])
        if len(set(buckets)) != len(buckets):
            raise ValueError(f"each rule needs a bucket of its own: {buckets}")
        args: list = [len(rules), "1" if quota is not None else "0", f"{self._token_prefix}{next(self._tokens)}"]
        for rule in rules:
            args += [rule.limit, rule.window_us]
        if quota is not None:
            args += [quota.max, round(quota.renewal_seconds * MICROS)]
        args.append(confirm[1] if confirm is not None else "")
        reply = await self._run(buckets + ([confirm[0]] if confirm is not None else []), args)
        if int(reply[0]) == -1:
            return LimitDecision(False, (), None, key_changed=True)
        rates = []
        for index, rule in enumerate(rules):
            full, remaining, reset, wait = (int(value) for value in reply[1 + 4 * index: 5 + 4 * index])
            rates.append(RateStatus(rule, bool(full), remaining, reset / MICROS, wait / MICROS))
        quota_status = None
        if quota is not None:
            exhausted, remaining, reset = (int(value) for value in reply[1 + 4 * len(rules):])
            quota_status = QuotaStatus(quota, bool(exhausted), remaining, None if reset < 0 else reset / MICROS)
        return LimitDecision(bool(int(reply[0])), tuple(rates), quota_status)

    async def _run(self, keys: list[str], args: list):
        try:
            try:
                return await self._redis.evalsha(SCRIPT_SHA, len(keys), *keys, *args)
            except NoScriptError:
                await self._redis.script_load(SCRIPT)
                return await self._redis.evalsha(SCRIPT_SHA, len(keys), *keys, *args)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise StorageUnavailable(f"Redis is unreachable, so rate limits and quotas cannot be checked ({exc})") \
                from None
        except RedisError as exc:
            raise StorageUnavailable(f"Redis refused the rate limit and quota check ({exc})") from None
