"""What the upstream's answer head says about keeping it (enable_upstream_cache_control), and what is never kept."""

from __future__ import annotations

import pytest

from tollhouse.gateway.cache_control import directives, never_cached, upstream_lifetime

DEFAULT = 60


@pytest.mark.parametrize("headers, ttl_header, expected", [
    ([], "", None),  # no word from the upstream: not kept (Tyk's rule)
    ([("content-type", "text/plain")], "", None),
    ([("cache-control", "max-age=30")], "", 30),
    ([("cache-control", "public, max-age=30, s-maxage=10")], "", 10),  # s-maxage is for shared caches
    ([("cache-control", 's-maxage="12"')], "", 12),
    ([("cache-control", "max-age=0")], "", None),
    ([("cache-control", "max-age=oops")], "", None),
    ([("cache-control", "public")], "", DEFAULT),
    ([("cache-control", "no-store, max-age=30")], "", None),
    ([("cache-control", "Private, max-age=30")], "", None),
    ([("cache-control", "no-cache")], "", None),
    ([("cache-control", "max-age=30"), ("cache-control", "no-store")], "", None),  # repeated header lines add up
    ([("x-tyk-cache-action-set", "1")], "", DEFAULT),
    ([("x-tyk-cache-action-set", "1"), ("x-tyk-cache-action-set-ttl", "15")], "", 15),
    ([("x-tyk-cache-action-set", "1"), ("x-tyk-cache-action-set-ttl", "0")], "", None),
    ([("x-tyk-cache-action-set-ttl", "15")], "", None),  # a TTL alone does not ask for caching
    ([("x-tyk-cache-action-set", "1"), ("x-ttl", "7")], "X-TTL", 7),  # cache_control_ttl_header
    ([("cache-control", "max-age=30"), ("x-tyk-cache-action-set-ttl", "5")], "", 5),
    ([("x-tyk-cache-action-set", "1"), ("cache-control", "no-store")], "", None),
])
def test_upstream_lifetime(headers, ttl_header, expected):
    assert upstream_lifetime(headers, DEFAULT, ttl_header) == expected


@pytest.mark.parametrize("headers, expected", [
    ([("content-type", "text/plain")], False),
    ([("set-cookie", "session=1")], True),
    ([("vary", "*")], True),
    ([("vary", "Accept-Encoding")], False),
    ([("content-type", "text/event-stream; charset=utf-8")], True),
])
def test_never_cached(headers, expected):
    assert never_cached(headers) is expected


def test_directives_are_lowercased_and_unquoted():
    assert directives('No-Store, MAX-AGE="5", , private') == {"no-store": "", "max-age": "5", "private": ""}
