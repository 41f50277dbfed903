"""The rate-limit and quota script (gateway/ratelimit.py) against a real Redis.

Sliding is shown two ways: with members placed in the log at chosen ages (measured on Redis's own
clock, far from any boundary, so no test depends on how fast it runs), and once in real time with a
short window.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
import redis as redis_lib
from redis.asyncio import Redis

from tests.servers import free_port
from tollhouse.gateway.keystore import StorageUnavailable
from tollhouse.gateway.middleware.rate_limit import limit_headers
from tollhouse.gateway.ratelimit import Limiter, QuotaRule, RateRule


def run(redis_url: str, scenario, **client_options):
    async def main():
        redis = Redis.from_url(redis_url, **client_options)
        try:
            return await scenario(Limiter(redis), redis)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def admissions(redis_url: str, rules, quota=None, count: int = 1):
    """``count`` checks one after another; their decisions."""

    async def scenario(limiter, _redis):
        return [await limiter.check(rules, quota) for _ in range(count)]

    return run(redis_url, scenario)


def redis_now_us(client: redis_lib.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


def place(redis_url: str, bucket: str, ages: list[float]) -> None:
    """Put members in ``bucket`` as if admitted ``ages`` seconds ago (by Redis's clock)."""
    client = redis_lib.Redis.from_url(redis_url)
    now = redis_now_us(client)
    client.zadd(bucket, {f"placed-{index}": now - round(age * 1_000_000) for index, age in enumerate(ages)})


@pytest.mark.parametrize(
    ("rate", "per", "requests", "allowed", "remaining"),
    [
        (3, 60, 5, [True, True, True, False, False], [2, 1, 0, 0, 0]),
        (1, 60, 3, [True, False, False], [0, 0, 0]),
        # Not whole numbers: the limit is floor(rate) (at least 1), the window keeps the average rate.
        (2.5, 60, 4, [True, True, False, False], [1, 0, 0, 0]),
        (0.5, 60, 2, [True, False], [0, 0]),
    ],
)
def test_exact_admission(redis_url, rate, per, requests, allowed, remaining):
    decisions = admissions(redis_url, [RateRule("rate-limit-k", rate, per)], count=requests)
    assert [d.allowed for d in decisions] == allowed
    assert [d.binding.remaining for d in decisions] == remaining
    assert [d.rejected_by for d in decisions] == ["" if ok else "rate" for ok in allowed]
    assert redis_lib.Redis.from_url(redis_url).zcard("rate-limit-k") == sum(allowed)


@pytest.mark.parametrize(
    ("rate", "per", "ages", "allowed", "remaining_after"),
    [
        # Members older than the window have left it: they no longer count.
        (3, 60, [90, 80, 70], True, 2),
        (3, 60, [90, 30, 20], True, 0),
        (3, 60, [50, 30, 20], False, 0),
        (3, 60, [59, 58, 1, 0.5], False, 0),  # more than the limit (a lowered rate): still refused
        (2, 10, [11, 12, 13, 14], True, 1),
    ],
)
def test_the_window_slides(redis_url, rate, per, ages, allowed, remaining_after):
    place(redis_url, "rate-limit-k", ages)
    decision = admissions(redis_url, [RateRule("rate-limit-k", rate, per)])[0]
    assert (decision.allowed, decision.binding.remaining) == (allowed, remaining_after)
    in_window = sum(1 for age in ages if age < per) + allowed
    assert redis_lib.Redis.from_url(redis_url).zcard("rate-limit-k") == in_window


@pytest.mark.parametrize(
    ("ages", "reset", "wait"),
    [
        # Full: the next request fits when the oldest member leaves.
        ([50, 30, 20], 10, 10),
        # Over the limit by one (rate lowered): two members must leave, the second-oldest decides.
        ([55, 40, 30, 20], 5, 20),
    ],
)
def test_reset_and_retry_after_come_from_the_oldest_members(redis_url, ages, reset, wait):
    place(redis_url, "rate-limit-k", ages)
    decision = admissions(redis_url, [RateRule("rate-limit-k", 3, 60)])[0]
    status = decision.binding
    assert status.full and not decision.allowed
    # Placed ages are exact on Redis's clock; the check ran a little later, so the values are a little less.
    assert reset - 1 < status.reset <= reset
    assert wait - 1 < status.wait <= wait
    assert decision.retry_after == wait


def test_entries_leave_after_per_in_real_time(redis_url):
    rule = RateRule("rate-limit-k", 2, 0.5)

    async def scenario(limiter, _redis):
        first = [(await limiter.check([rule])).allowed for _ in range(3)]
        await asyncio.sleep(0.55)
        second = [(await limiter.check([rule])).allowed for _ in range(3)]
        return first, second

    assert run(redis_url, scenario) == ([True, True, False], [True, True, False])


def test_refused_requests_are_not_counted(redis_url):
    """A client hammering a full window gets in again as soon as the admitted requests leave it."""
    rule = RateRule("rate-limit-k", 2, 0.5)

    async def scenario(limiter, redis):
        loop = asyncio.get_running_loop()
        started = loop.time()
        admitted = [(await limiter.check([rule])).allowed for _ in range(2)]
        refused = []
        while loop.time() - started < 0.35:  # refused requests until well inside the window...
            refused.append((await limiter.check([rule])).allowed)
            await asyncio.sleep(0.01)
        size = await redis.zcard("rate-limit-k")
        await asyncio.sleep(started + 0.55 - loop.time())  # ...which would still block here if they counted
        return admitted, refused, size, (await limiter.check([rule])).allowed

    admitted, refused, size, later = run(redis_url, scenario)
    assert admitted == [True, True] and refused and not any(refused)
    assert size == 2
    assert later


@pytest.mark.parametrize(
    ("rates", "requests", "allowed_count", "binding_limit", "bucket_sizes"),
    [
        # The tighter rule decides; the other records only what was admitted.
        ([("rate-limit-api:orders", 5, 60), ("rate-limit-k", 2, 60)], 4, 2, 2, [2, 2]),
        ([("rate-limit-api:orders", 2, 60), ("rate-limit-k", 5, 60)], 4, 2, 2, [2, 2]),
        ([("a", 3, 60), ("b", 3, 60), ("c", 1, 60)], 3, 1, 1, [1, 1, 1]),
    ],
)
def test_several_rules_in_one_call(redis_url, rates, requests, allowed_count, binding_limit, bucket_sizes):
    rules = [RateRule(*rate) for rate in rates]
    decisions = admissions(redis_url, rules, count=requests)
    assert sum(d.allowed for d in decisions) == allowed_count
    assert decisions[-1].binding.rule.limit == binding_limit
    client = redis_lib.Redis.from_url(redis_url)
    assert [client.zcard(rule.bucket) for rule in rules] == bucket_sizes


def test_one_full_rule_leaves_the_others_untouched(redis_url):
    place(redis_url, "b", [1])
    decisions = admissions(redis_url, [RateRule("a", 10, 60), RateRule("b", 1, 60)], count=5)
    assert not any(d.allowed for d in decisions)
    assert redis_lib.Redis.from_url(redis_url).exists("a") == 0


def test_concurrent_checks_admit_exactly_the_rate(redis_url):
    rule = RateRule("rate-limit-k", 50, 60)

    async def scenario(limiter, _redis):
        return await asyncio.gather(*(limiter.check([rule]) for _ in range(400)))

    decisions = run(redis_url, scenario, max_connections=400)  # 400 connections at once, one check each
    assert sum(d.allowed for d in decisions) == 50
    assert redis_lib.Redis.from_url(redis_url).zcard("rate-limit-k") == 50


@pytest.mark.parametrize(
    ("quota_max", "requests", "allowed", "remaining"),
    [
        (3, 5, [True, True, True, False, False], [2, 1, 0, 0, 0]),
        (0, 2, [False, False], [0, 0]),
        (1, 2, [True, False], [0, 0]),
    ],
)
def test_quota_exhaustion(redis_url, quota_max, requests, allowed, remaining):
    decisions = admissions(redis_url, [], QuotaRule("quota-k", quota_max, 3600), count=requests)
    assert [d.allowed for d in decisions] == allowed
    assert [d.quota.remaining for d in decisions] == remaining
    assert [d.rejected_by for d in decisions] == ["" if ok else "quota" for ok in allowed]
    assert all(3599 < d.quota.reset <= 3600 for d in decisions)


@pytest.mark.parametrize(
    ("stored", "allowed", "remaining"),
    [
        # The period is over: the quota renews, whatever was used.
        ({"used": 3, "renews_in": -1}, True, 2),
        ({"used": 3, "renews_in": 60}, False, 0),
        ({"used": 1, "renews_in": 60}, True, 1),
        # A quota that never renews (renewal 0 when it started) stays used up.
        ({"used": 3, "renews_at": 0}, False, 0),
    ],
)
def test_quota_renewal(redis_url, stored, allowed, remaining):
    client = redis_lib.Redis.from_url(redis_url)
    renews = stored.get("renews_at", redis_now_us(client) + stored.get("renews_in", 0) * 1_000_000)
    client.hset("quota-k", mapping={"used": stored["used"], "renews": renews})
    renewal = 0 if renews == 0 else 3600
    decision = admissions(redis_url, [], QuotaRule("quota-k", 3, renewal))[0]
    assert (decision.allowed, decision.quota.remaining) == (allowed, remaining)


def test_quota_renews_in_real_time(redis_url):
    quota = QuotaRule("quota-k", 2, 0.5)

    async def scenario(limiter, _redis):
        first = [(await limiter.check([], quota)).allowed for _ in range(3)]
        await asyncio.sleep(0.55)
        second = [(await limiter.check([], quota)).allowed for _ in range(3)]
        return first, second

    assert run(redis_url, scenario) == ([True, True, False], [True, True, False])


def test_quota_and_rate_count_only_admitted_requests(redis_url):
    client = redis_lib.Redis.from_url(redis_url)
    rate, quota = RateRule("rate-limit-k", 2, 60), QuotaRule("quota-k", 3, 60)
    decisions = admissions(redis_url, [rate], quota, count=4)
    # Refused by the rate: not counted against the quota.
    assert [d.rejected_by for d in decisions] == ["", "", "rate", "rate"]
    assert [d.quota.remaining for d in decisions] == [2, 1, 1, 1]
    assert int(client.hget("quota-k", "used")) == 2
    # Refused by the quota: not recorded in the rate log.
    client.delete("rate-limit-k")
    decisions = admissions(redis_url, [rate], quota, count=2)
    assert [d.rejected_by for d in decisions] == ["", "quota"]
    assert client.zcard("rate-limit-k") == 1


def test_buckets_expire(redis_url):
    admissions(redis_url, [RateRule("rate-limit-k", 5, 60), RateRule("rate-limit-api:x", 5, 2)],
               QuotaRule("quota-k", 5, 600))
    client = redis_lib.Redis.from_url(redis_url)
    assert 59_000 < client.pttl("rate-limit-k") <= 60_000
    assert 1_000 < client.pttl("rate-limit-api:x") <= 2_000
    assert 599_000 < client.pttl("quota-k") <= 600_000
    admissions(redis_url, [], QuotaRule("quota-never", 5, 0))
    assert client.pttl("quota-never") == -1


@pytest.mark.parametrize(
    ("rules", "quota", "requests", "expected"),
    [
        ([("rate-limit-k", 3, 60)], None, 1,
         {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "60",
          "RateLimit-Limit": "3", "RateLimit-Remaining": "2", "RateLimit-Reset": "60"}),
        ([("rate-limit-k", 1, 30)], None, 2,
         {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30",
          "RateLimit-Limit": "1", "RateLimit-Remaining": "0", "RateLimit-Reset": "30"}),
        # The most restrictive rule is reported: fewest requests left.
        ([("rate-limit-api:x", 100, 1), ("rate-limit-k", 10, 60)], ("quota-k", 50, 3600), 1,
         {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "9", "X-RateLimit-Reset": "60",
          "RateLimit-Limit": "10", "RateLimit-Remaining": "9", "RateLimit-Reset": "60",
          "X-Quota-Limit": "50", "X-Quota-Remaining": "49", "X-Quota-Reset": "3600"}),
        # Quota only; one that never renews has no reset.
        ([], ("quota-k", 5, 0), 2, {"X-Quota-Limit": "5", "X-Quota-Remaining": "3"}),
    ],
)
def test_header_values(redis_url, rules, quota, requests, expected):
    decisions = admissions(redis_url, [RateRule(*rule) for rule in rules],
                           QuotaRule(*quota) if quota else None, count=requests)
    assert dict(limit_headers(decisions[-1])) == expected


def test_script_is_loaded_again_after_a_script_flush(redis_url):
    rule = RateRule("rate-limit-k", 5, 60)

    async def scenario(limiter, redis):
        await limiter.check([rule])
        await redis.script_flush()
        return await limiter.check([rule])

    assert run(redis_url, scenario).binding.remaining == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: RateRule("b", 0, 60), "rate and per must be > 0"),
        (lambda: RateRule("b", 5, 0), "rate and per must be > 0"),
        (lambda: RateRule("", 5, 1), "bucket"),
        (lambda: QuotaRule("q", -1, 60), "quota max and renewal must be >= 0"),
    ],
)
def test_bad_rules_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_bucket_used_twice_is_refused(redis_url):
    with pytest.raises(ValueError, match="bucket of its own"):
        admissions(redis_url, [RateRule("same", 5, 60)], QuotaRule("same", 5, 60))


def test_redis_away_raises_storage_unavailable():
    async def scenario():
        redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
        try:
            await Limiter(redis).check([RateRule("rate-limit-k", 5, 60)])
        finally:
            await redis.aclose()

    with pytest.raises(StorageUnavailable, match="Redis is unreachable, so rate limits and quotas cannot be checked"):
        asyncio.run(scenario())


@pytest.mark.parametrize(
    ("stored", "confirmed"),
    [
        (b'{"rate": 5}', True),  # as last read: checked and counted
        (b'{"rate": 6}', False),  # changed since: nothing checked, nothing counted
        (None, False),  # deleted since
    ],
)
def test_a_key_confirmed_in_the_same_call(redis_url, stored, confirmed):
    plain = redis_lib.Redis.from_url(redis_url)
    if stored is not None:
        plain.set("apikey-h", stored)
    digest = hashlib.sha1(b'{"rate": 5}').hexdigest()

    async def scenario(limiter, _redis):
        return await limiter.check([RateRule("rate-limit-h", 5, 60)], QuotaRule("quota-h", 10, 60),
                                   confirm=("apikey-h", digest))

    decision = run(redis_url, scenario)
    assert decision.key_changed is not confirmed
    assert decision.allowed is confirmed
    assert plain.zcard("rate-limit-h") == (1 if confirmed else 0)
    assert plain.hget("quota-h", "used") == (b"1" if confirmed else None)
