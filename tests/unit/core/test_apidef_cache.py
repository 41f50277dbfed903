"""cache_options and the per-path cache entries: defaults, and every refusal naming its dotted field."""

from __future__ import annotations

import pytest

from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.core.apidef_cache import SAFE_METHODS, CacheRule, cache_rules


def definition(cache: dict | None = None, extended: dict | None = None) -> dict:
    raw = {"api_id": "a", "name": "a", "use_keyless": True,
           "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9/"},
           "cache_options": {"enable_cache": True, **(cache or {})}}
    if extended is not None:
        raw["version_data"] = {"not_versioned": True, "versions": {"Default": {"extended_paths": extended}}}
    return raw


def test_defaults():
    options = parse_definition(definition({"cache_timeout": 0})).cache_options
    assert (options.timeout, options.codes, options.cache_all_safe_requests) == (60, frozenset({200}), False)
    assert parse_definition(definition({"cache_timeout": 5, "cache_response_codes": [200, 301]})).cache_options \
        .codes == frozenset({200, 301})


def test_rules_advanced_first_with_their_overrides():
    parsed = parse_definition(definition(extended={
        "cache": ["/listed"],
        "advance_cache_config": [{"method": "head", "path": "/adv", "cache_response_codes": [201], "timeout": 9}]}))
    assert cache_rules(parsed, "Default") == [CacheRule("/adv", frozenset({"HEAD"}), frozenset({201}), 9),
                                              CacheRule("/listed", SAFE_METHODS)]


@pytest.mark.parametrize("cache, extended, field", [
    ({"cache_timeout": -1}, None, "cache_options.cache_timeout"),
    ({"cache_response_codes": [99]}, None, "cache_options.cache_response_codes"),
    ({"cache_response_codes": ["x"]}, None, "cache_options.cache_response_codes.0"),
    ({"cache_by_headers": ["bad header"]}, None, "cache_options.cache_by_headers"),
    ({"cache_control_ttl_header": "a:b"}, None, "cache_options.cache_control_ttl_header"),
    ({}, {"cache": "/x"}, "version_data.versions.Default.extended_paths.cache"),
    ({}, {"cache": ["/ok", ""]}, "version_data.versions.Default.extended_paths.cache.1"),
    ({}, {"cache": ["/ok", "/bad("]}, "version_data.versions.Default.extended_paths.cache.1"),
    ({}, {"advance_cache_config": [{"method": "POST", "path": "/x"}]},
     "version_data.versions.Default.extended_paths.advance_cache_config.0.method"),
    ({}, {"advance_cache_config": [{"path": "/x", "cache_key_regex": "id=\\d+"}]},
     "version_data.versions.Default.extended_paths.advance_cache_config.0.cache_key_regex"),
    ({}, {"advance_cache_config": [{"path": "/x("}]},
     "version_data.versions.Default.extended_paths.advance_cache_config.0.path"),
    ({}, {"advance_cache_config": [{"method": "GET"}]},
     "version_data.versions.Default.extended_paths.advance_cache_config.0.path"),
])
def test_refused_fields_are_named(cache, extended, field):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition(cache, extended))
    assert caught.value.field == field


def test_entries_of_a_disabled_cache_are_kept_as_given_unchecked():
    raw = definition({"enable_cache": False}, {"advance_cache_config": [{"method": "POST", "path": "/x"}]})
    assert parse_definition(raw).cache_options.enable_cache is False
